"""`make screenshots`: the storefront page as a person sees it, for the README. Starts the
platform as `make run` does, places an order through the page in Debian's Chromium, waits
until the order page has finished updating, and saves docs/images/storefront-*.png."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright, expect

from junction_devtools.browser import LAUNCH_ARGS, ensure_chromium
from junction_devtools.platform import Platform, free_ports

ROOT = Path(__file__).resolve().parents[4]
OUT = ROOT / "docs" / "images"


async def shoot(base: str, chromium: Path) -> list[Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    saved = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=LAUNCH_ARGS)
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        await page.goto(f"{base}/?cart=JNC-MUG:2,JNC-TEE:1")
        saved.append(OUT / "storefront-catalogue.png")
        await page.screenshot(path=saved[-1], full_page=True)
        await page.fill("#email", "ada@example.com")
        await page.click("#place-order")
        await page.wait_for_url("**/orders/*")
        await expect(page.locator("body")).to_have_attribute("data-live", "done", timeout=30_000)
        saved.append(OUT / "storefront-order.png")
        await page.screenshot(path=saved[-1], full_page=True)
        await browser.close()
    return saved


def main() -> None:
    chromium = ensure_chromium()
    if chromium is None:
        raise SystemExit("needs /usr/bin/chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="junction-shots-") as tmp:
        platform = Platform(state_dir=Path(tmp), ports=free_ports(), telemetry=True)
        platform.start()
        try:
            for path in asyncio.run(shoot(platform.urls["storefront"], chromium)):
                print(f"saved {path.relative_to(ROOT)}")  # noqa: T201
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
