"""The storefront page in a real browser: a checkout placed through the page, then watched
live on both paths; declines, stock and field errors where they belong; one order for a
double click; the page without JavaScript, at phone width, by keyboard, and under axe."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Page, Request, expect

from junction_devtools.platform import Platform, Proc
from tests.browser.conftest import Shop

pytestmark = pytest.mark.browser

SERVICES = {"storefront", "orders", "inventory", "payments", "notifications"}


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context()
    yield ctx
    await ctx.close()


@pytest.fixture
async def no_js(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(java_script_enabled=False)
    yield ctx
    await ctx.close()


async def add_to_cart(page: Page, shop: Shop, sku: str, quantity: int) -> None:
    if "/orders/" in page.url or not page.url.startswith(shop.base):
        await page.goto(shop.base + "/")
    row = page.locator(f"tr[data-sku='{sku}']")
    await row.locator("input[name=qty]").fill(str(quantity))
    await row.get_by_role("button").click()
    await expect(page.locator(f".lines li[data-sku='{sku}']")).to_contain_text(f"{quantity} \u00d7")


async def place_order(page: Page, email: str, token: str) -> None:
    await page.fill("#email", email)
    await page.check(f"input[name=payment_token][value={token}]")
    await page.click("#place-order")


def order_id_of(page: Page) -> str:
    match = re.search(r"/orders/([0-9a-f]{32})$", page.url)
    assert match, page.url
    return match.group(1)


@pytest.fixture
def notifications_held(platform: Platform) -> Iterator[Proc]:
    """Notifications stopped until the test starts it again (and after it, in any case):
    no emails until the order page is open, since a fast platform can otherwise finish the
    order before the page is rendered, and a finished order's page has nothing live."""
    notifications = platform.procs["notifications"]
    notifications.stop()
    yield notifications
    if not notifications.running:
        notifications.start()
        platform.wait_ready("notifications")


async def test_an_approved_checkout_shows_both_paths_live(
    context: BrowserContext, shop: Shop, platform: Platform, notifications_held: Proc
) -> None:
    sku = shop.new_product(stock=5)
    page = await context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    await page.goto(shop.base + "/")
    await page.screenshot(path=shop.screenshot_path("catalogue.png"), full_page=True)
    await add_to_cart(page, shop, sku, 2)
    await place_order(page, "ada@example.com", "tok_visa")
    await page.wait_for_url(re.compile(r"/orders/[0-9a-f]{32}$"))
    order_id = order_id_of(page)
    await page.evaluate("window.__sameDocument = true")
    since = max(i for i, u in enumerate(requests) if u.endswith(f"/orders/{order_id}"))

    # Live: PAID (or later) at once, then CONFIRMED and the receipt, without a reload.
    await expect(page.locator("[data-status]")).to_have_text(re.compile("PAID|CONFIRMED"))
    notifications_held.start()
    await asyncio.to_thread(platform.wait_ready, "notifications")
    await expect(page.locator("[data-status]")).to_have_text("CONFIRMED", timeout=15_000)
    await expect(page.locator("li[data-event='email_sent:receipt']")).to_have_count(
        1, timeout=15_000
    )
    await expect(page.locator("body")).to_have_attribute("data-live", "done", timeout=20_000)
    assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    after = requests[since:]
    assert len([u for u in after if u.endswith("/live")]) == 1, after  # one stream
    assert [u for u in after if "/api/" in u or u.endswith(order_id)] == [after[0]], after

    # Both lanes, from the trace: steps of all five services between them.
    lanes = page.locator("#order-lanes")
    await expect(lanes.locator(".source")).to_contain_text("From the checkout's trace")
    sync_text = await page.locator("#lane-sync").inner_text()
    async_text = await page.locator("#lane-async").inner_text()
    assert {"storefront", "orders", "inventory", "payments"} <= {
        s for s in SERVICES if s in sync_text
    }, sync_text
    assert {s for s in SERVICES if s in sync_text + async_text} == SERVICES
    assert "You waited" in sync_text and "after the answer" in async_text

    # The waterfall holds the spans the trace API returns for the checkout's trace.
    trace_id = await page.evaluate("document.querySelector('[data-span-id]') && ''")
    api_ids: set[str] = set()
    unchanged = 0
    # Spans reach the store in each service's export batches (every 2 s): the trace is
    # taken as whole once it has not changed for longer than that.
    for _ in range(80):
        order = await (await page.request.get(f"{shop.base}/api/orders/{order_id}")).json()
        trace_id = order["trace_id"]
        document = await (await page.request.get(f"{shop.base}/api/traces/{trace_id}")).json()
        ids = {s["spanId"] for rs in document["result"]["resourceSpans"]
               for ss in rs["scopeSpans"] for s in ss["spans"]}  # fmt: skip
        unchanged = unchanged + 1 if ids and ids == api_ids else 0
        if unchanged >= 6:  # 3 s
            break
        api_ids = ids
        await asyncio.sleep(0.5)
    await page.reload()
    shown = set(
        await page.locator("[data-span-id]").evaluate_all("rows => rows.map(r => r.dataset.spanId)")
    )
    # 17 at least: 7 of the synchronous path (storefront's server span, its two client
    # spans and their servers, orders' call to inventory and its server), and 10 after it
    # (four publishes, four consumers, two SMTP sends).
    assert shown == api_ids and len(shown) >= 17
    await page.screenshot(path=shop.screenshot_path("order-confirmed.png"), full_page=True)
    assert csp_errors == []


async def test_a_declined_checkout_shows_the_decline_then_cancelled_and_the_stock_back(
    context: BrowserContext, shop: Shop
) -> None:
    sku = shop.new_product(stock=4)
    page = await context.new_page()
    await add_to_cart(page, shop, sku, 3)
    await place_order(page, "bob@example.com", "tok_declined")
    await page.wait_for_url(re.compile(r"/orders/[0-9a-f]{32}$"))
    await expect(page.locator("#order-status [role=alert]")).to_contain_text(
        "declined", timeout=10_000
    )
    await expect(page.locator("[data-status]")).to_have_text("CANCELLED", timeout=15_000)
    await page.goto(shop.base + "/")
    await expect(page.locator(f"tr[data-sku='{sku}'] .stock")).to_have_text("4")


async def test_out_of_stock_names_the_item_and_what_is_left(
    context: BrowserContext, shop: Shop
) -> None:
    sku = shop.new_product(stock=1, name="Last lamp")
    page = await context.new_page()
    await add_to_cart(page, shop, sku, 3)
    await place_order(page, "cy@example.com", "tok_visa")
    short = page.locator(f"#short-{sku}")
    await expect(short).to_have_text("Not enough in stock: only 1 left of Last lamp.")
    assert shop.ledger(sku)["reserved"] == 0


async def test_invalid_input_names_the_field(context: BrowserContext, shop: Shop) -> None:
    sku = shop.new_product(stock=3)
    page = await context.new_page()
    await add_to_cart(page, shop, sku, 1)
    await place_order(page, "dee@localhost", "tok_visa")  # valid to the browser, not to us
    await expect(page.locator("#email-error")).to_contain_text("Email:")
    await expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    await page.goto(shop.base + "/")
    await place_order(page, "dee@example.com", "tok_visa")  # an empty cart
    await expect(page.locator("#cart-error")).to_contain_text("cart is empty")


@pytest.mark.parametrize("javascript", [True, False])
async def test_a_double_click_places_one_order(
    browser: Browser, shop: Shop, javascript: bool
) -> None:
    ctx = await browser.new_context(java_script_enabled=javascript)
    try:
        sku = shop.new_product(stock=10)
        page = await ctx.new_page()
        await add_to_cart(page, shop, sku, 2)
        await page.fill("#email", "eve@example.com")
        await page.dblclick("#place-order")
        await page.wait_for_url(re.compile(r"/orders/[0-9a-f]{32}$"))
        for _ in range(60):
            ledger = shop.ledger(sku)
            if ledger["committed_units"] and not ledger["reserved"]:
                break
            await asyncio.sleep(0.25)
        assert (ledger["committed_units"], ledger["on_hand"]) == (2, 8)  # one order of two
    finally:
        await ctx.close()


async def test_without_javascript_the_form_and_the_order_page_work(
    no_js: BrowserContext, shop: Shop
) -> None:
    sku = shop.new_product(stock=3)
    page = await no_js.new_page()
    await add_to_cart(page, shop, sku, 1)
    await place_order(page, "fay@example.com", "tok_visa")
    await page.wait_for_url(re.compile(r"/orders/[0-9a-f]{32}$"))
    for _ in range(40):  # reload to update: no script runs
        if await page.locator("[data-status]").inner_text() == "CONFIRMED":
            break
        await asyncio.sleep(0.25)
        await page.reload()
    await expect(page.locator("[data-status]")).to_have_text("CONFIRMED")


async def violations(page: Page) -> list[dict[str, Any]]:
    results = await Axe().run(page)
    found: list[dict[str, Any]] = results.response["violations"]
    return [v for v in found if v.get("impact") in ("serious", "critical")]


async def test_no_serious_accessibility_violation_on_either_page(
    context: BrowserContext, shop: Shop
) -> None:
    sku = shop.new_product(stock=3)
    page = await context.new_page()
    await add_to_cart(page, shop, sku, 1)
    assert await violations(page) == []
    await place_order(page, "gus@example.com", "tok_visa")
    await page.wait_for_url(re.compile(r"/orders/[0-9a-f]{32}$"))
    await expect(page.locator("body")).to_have_attribute("data-live", "done", timeout=20_000)
    assert await violations(page) == []


async def test_phone_width_needs_no_sideways_scrolling(browser: Browser, shop: Shop) -> None:
    ctx = await browser.new_context(viewport={"width": 375, "height": 740})
    try:
        sku = shop.new_product(stock=3, name="A product with a rather long name for a phone")
        page = await ctx.new_page()
        await add_to_cart(page, shop, sku, 1)
        overflow = "document.documentElement.scrollWidth - window.innerWidth"
        assert await page.evaluate(overflow) <= 0
        await place_order(page, "hal@example.com", "tok_visa")
        await page.wait_for_url(re.compile(r"/orders/[0-9a-f]{32}$"))
        await expect(page.locator("body")).to_have_attribute("data-live", "done", timeout=20_000)
        assert await page.evaluate(overflow) <= 0
    finally:
        await ctx.close()


async def test_a_checkout_by_keyboard_alone(context: BrowserContext, shop: Shop) -> None:
    sku = shop.new_product(stock=3)
    page = await context.new_page()
    await page.goto(shop.base + "/")
    target = f"tr[data-sku='{sku}'] button"
    for _ in range(200):  # Tab until the product's Add button has the focus
        await page.keyboard.press("Tab")
        if await page.evaluate(f'document.activeElement === document.querySelector("{target}")'):
            break
    await page.keyboard.press("Enter")
    await expect(page.locator(f".lines li[data-sku='{sku}']")).to_contain_text("1 \u00d7")
    await page.focus("#email")
    await page.keyboard.type("ida@example.com")
    await page.keyboard.press("Enter")  # submits the form
    await page.wait_for_url(re.compile(r"/orders/[0-9a-f]{32}$"))


async def test_what_came_from_input_is_escaped_and_headers_protect_every_page(
    context: BrowserContext, shop: Shop
) -> None:
    sku = shop.new_product(stock=2, name="<b>bold</b> & <script>x()</script>")
    page = await context.new_page()
    response = await page.goto(shop.base + "/")
    assert response is not None
    headers = response.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"]
    row = page.locator(f"tr[data-sku='{sku}'] th")
    await expect(row).to_contain_text("<b>bold</b> & <script>x()</script>")
    assert await row.locator("b, script").count() == 0


async def test_the_order_page_is_small(context: BrowserContext, shop: Shop) -> None:
    sku = shop.new_product(stock=2)
    page = await context.new_page()
    sizes: dict[str, int] = {}

    async def measure(request: Request) -> None:
        response = await request.response()
        if (
            response is not None
            and response.status == 200
            and request.resource_type
            in (
                "document",
                "stylesheet",
                "script",
            )
        ):
            sizes[request.url] = len(await response.body())

    page.on("requestfinished", measure)
    await add_to_cart(page, shop, sku, 1)
    await place_order(page, "jo@example.com", "tok_visa")
    await page.wait_for_url(re.compile(r"/orders/[0-9a-f]{32}$"))
    await expect(page.locator("body")).to_have_attribute("data-live", "done", timeout=20_000)
    order_page = {
        u: n for u, n in sizes.items() if "/orders/" in u or u.endswith(("app.css", "order.js"))
    }
    total = sum(order_page.values())
    print(f"\norder page: {total} bytes: HTML, app.css and order.js")  # noqa: T201
    assert total < 64 * 1024, order_page
