"""The browser tier: Debian's Chromium, driven by Playwright, against the platform started
as `make run` starts it."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from junction_devtools.browser import LAUNCH_ARGS, ensure_chromium
from junction_devtools.platform import Platform, free_ports

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".run" / "screenshots"


@pytest.fixture(scope="session")
def chromium() -> Path:
    found = ensure_chromium()
    if found is None:
        pytest.skip("no /usr/bin/chromium and not root to install it: apt-get install chromium")
    return found


@pytest.fixture(scope="module")  # stopped before the next suite's platform starts
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(state_dir=tmp_path_factory.mktemp("browser"), ports=free_ports(), telemetry=True)
    try:
        p.start()
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=str(chromium), args=LAUNCH_ARGS)
        yield launched
        await launched.close()


class Shop:
    """What the tests set up through the platform's own APIs."""

    def __init__(self, platform: Platform) -> None:
        self.base = platform.urls["storefront"]
        self.inventory = platform.urls["inventory"]

    def new_product(self, stock: int, name: str | None = None, price_cents: int = 1250) -> str:
        sku = f"BRW-{uuid.uuid4().hex[:8].upper()}"
        body = {
            "name": name or f"Browser test {sku[-4:]}",
            "price_cents": price_cents,
            "stock": stock,
        }
        request = urllib.request.Request(
            f"{self.inventory}/products/{sku}",
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert reply.status == 201
        return sku

    def ledger(self, sku: str) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.inventory}/products/{sku}", timeout=5) as reply:
            ledger: dict[str, int] = json.loads(reply.read())
            return ledger

    def screenshot_path(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS / name


@pytest.fixture(scope="module")
def shop(platform: Platform) -> Shop:
    return Shop(platform)
