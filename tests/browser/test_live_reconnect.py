"""A live order page outlives the storefront replica serving its stream: a rolling update
stops it, its stream ends with `reconnect`, and the page opens the stream again (here, on the
replica started in its place) and goes on updating without a reload."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Browser, expect

from junction_devtools.platform import Platform
from tests.browser.conftest import Shop
from tests.browser.test_storefront_page import add_to_cart, place_order

pytestmark = pytest.mark.browser

# Every value the page's `data-live` takes, in order (the attribute is set by order.js).
RECORD_LIVE = """() => {
  window.__live = [document.body.dataset.live];
  new MutationObserver(() => window.__live.push(document.body.dataset.live))
    .observe(document.body, {attributes: true, attributeFilter: ["data-live"]});
}"""


async def test_the_live_page_reconnects_when_its_replica_stops(
    browser: Browser, platform: Platform, shop: Shop
) -> None:
    sku = shop.new_product(stock=3)
    notifications = platform.procs["notifications"]
    notifications.stop()  # no emails yet: the order cannot finish before the restart
    context = await browser.new_context()
    try:
        page = await context.new_page()
        streams: list[str] = []
        page.on("request", lambda r: streams.append(r.url) if r.url.endswith("/live") else None)
        await add_to_cart(page, shop, sku, 1)
        await place_order(page, "grace@example.com", "tok_visa")
        await page.wait_for_url(re.compile(r"/orders/[0-9a-f]{32}$"))
        await expect(page.locator("[data-status]")).to_have_text("CONFIRMED", timeout=15_000)
        await page.evaluate("window.__sameDocument = true")
        await page.evaluate(RECORD_LIVE)

        await asyncio.to_thread(platform.restart, "storefront")  # SIGTERM, then a new one
        await expect(page.locator("body")).to_have_attribute("data-live", "open", timeout=15_000)
        notifications.start()
        await asyncio.to_thread(platform.wait_ready, "notifications")

        # The receipt reaches the page through the new stream, which then finishes.
        await expect(page.locator("li[data-event='email_sent:receipt']")).to_have_count(
            1, timeout=20_000
        )
        await expect(page.locator("body")).to_have_attribute("data-live", "done", timeout=20_000)
        assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        live = await page.evaluate("window.__live")
        assert live[0] == "open" and live[1] == "reconnecting" and live[-1] == "done", live
        assert "lost" not in live, live
        assert len(streams) >= 2, streams  # the stream was opened again
    finally:
        await context.close()
        if not notifications.running:
            notifications.start()
