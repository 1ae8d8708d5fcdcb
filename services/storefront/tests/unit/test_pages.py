"""The storefront's pages through its ASGI app, with fake downstream services: the form
validates as the API does, errors land where they belong, the trace proxy is read-only."""

import re
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI

from junction.contracts.common import OrderLine
from junction.contracts.inventory import Catalogue, Product
from junction.contracts.orders import OrderStatus, OrderView, TimelineEntry
from junction.contracts.payments import PaymentStatus, PaymentView
from junction_devtools.fakes import FakeKV, FakeService
from junction_devtools.testing import http_client, service_app
from storefront import api, pages
from storefront.main import build_deps
from storefront.settings import StorefrontSettings

pytestmark = pytest.mark.unit

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def order(status: OrderStatus = OrderStatus.PENDING_PAYMENT) -> OrderView:
    at = datetime(2026, 11, 30, 9, tzinfo=UTC)
    return OrderView(
        order_id="0" * 32,
        status=status,
        items=[OrderLine(sku="MUG", quantity=2, price_cents=1200)],
        total_cents=2400,
        customer_email="c@example.com",
        created_at=at,
        timeline=[TimelineEntry(at=at, service="orders", event="order_created")],
        trace_id=None,
    )


def shop() -> tuple[FakeService, FakeService, FakeService]:
    orders, inventory, payments = FakeService(), FakeService(), FakeService()
    inventory.answer(
        "GET",
        "/products",
        Catalogue([Product(sku="MUG", name="Mug", price_cents=1200, available=1)]),
    )
    orders.answer("POST", "/orders", order())
    paid = PaymentView(
        order_id="0" * 32, status=PaymentStatus.APPROVED, amount_cents=2400, decline_reason=None
    )
    payments.answer("POST", "/payments", paid)
    return orders, inventory, payments


def app(orders: FakeService, inventory: FakeService, payments: FakeService) -> FastAPI:
    settings = StorefrontSettings(log_json=False)
    deps = build_deps(
        settings,
        FakeKV(),
        orders=orders,
        inventory=inventory,
        payments=payments,
        notifications=FakeService(),  # no emails: the order page shows the order without them
    )
    return service_app(
        api.router, pages.router, deps=deps, settings=settings, form_paths=pages.FORM_PATHS
    )


async def test_the_catalogue_keeps_the_cart_in_the_page_and_offers_a_fresh_key() -> None:
    async with http_client(app(*shop())) as http:
        first = await http.get("/", params={"add": "MUG", "qty": "2"})
        second = await http.get("/", params={"add": "MUG", "qty": "2"})
    assert first.status_code == 200 and "2 \u00d7 Mug" in first.text
    keys = [re.search(r'name="idempotency_key" value="(\w+)"', r.text) for r in (first, second)]
    assert keys[0] and keys[1] and keys[0].group(1) != keys[1].group(1)
    assert "script-src 'self'" in first.headers["content-security-policy"]


async def test_a_placed_order_redirects_to_its_page() -> None:
    async with http_client(app(*shop())) as http:
        placed = await http.post(
            "/checkout",
            content="cart=MUG:2&idempotency_key=k1&customer_email=c%40example.com&payment_token=tok_visa",
            headers=FORM,
        )
    assert placed.status_code == 303 and re.fullmatch(
        r"/orders/[0-9a-f]{32}", placed.headers["location"]
    )


async def test_bad_fields_are_named_next_to_the_field() -> None:
    async with http_client(app(*shop())) as http:
        bad = await http.post(
            "/checkout",
            content="cart=MUG:1&customer_email=nope&payment_token=tok_visa",
            headers=FORM,
        )
        empty = await http.post(
            "/checkout",
            content="cart=&customer_email=c%40example.com&payment_token=tok_visa",
            headers=FORM,
        )
    assert bad.status_code == 422 and 'id="email-error"' in bad.text
    assert empty.status_code == 422 and "cart is empty" in empty.text


async def test_out_of_stock_says_which_item_and_how_many_are_left() -> None:
    orders, inventory, payments = shop()
    refusal = {"error": "out_of_stock", "skus": ["MUG"], "message": "not enough stock for MUG"}
    orders.answer("POST", "/orders", (409, refusal))
    async with http_client(app(orders, inventory, payments)) as http:
        short = await http.post(
            "/checkout",
            content="cart=MUG:3&customer_email=c%40example.com&payment_token=tok_visa",
            headers=FORM,
        )
    assert short.status_code == 409 and "only 1 left of Mug" in short.text


async def test_a_busy_platform_keeps_the_cart_and_says_what_to_do() -> None:
    orders, inventory, payments = shop()
    orders.answer("POST", "/orders", (404, {"error": "not_found", "message": "gone"}))
    async with http_client(app(orders, inventory, payments)) as http:
        answer = await http.post(
            "/checkout",
            content="cart=MUG:1&customer_email=c%40example.com&payment_token=tok_visa",
            headers=FORM,
        )
    assert answer.status_code == 404 and "MUG:1" in answer.text


async def test_the_order_page_and_a_missing_order() -> None:
    orders, inventory, payments = shop()
    orders.answer("GET", f"/orders/{'0' * 32}", order(OrderStatus.PAID))
    async with http_client(app(orders, inventory, payments)) as http:
        found = await http.get(f"/orders/{'0' * 32}")
        missing = await http.get(f"/orders/{'1' * 32}")
    assert found.status_code == 200 and ">PAID<" in found.text
    assert 'data-live-url="/orders/' in found.text
    assert "From the order's timeline alone" in found.text
    assert missing.status_code == 404 and "Not found" in missing.text


async def test_the_trace_proxy_relays_one_path_for_valid_ids_only() -> None:
    async with http_client(app(*shop())) as http:
        invalid = await http.get("/api/traces/..%2F..%2Fadmin")
        unconfigured = await http.get(f"/api/traces/{'a' * 32}")
    assert invalid.status_code in (404, 422)
    assert unconfigured.status_code == 404
