"""The storefront's public API through its ASGI app, with fake downstream services."""

from datetime import UTC, datetime

import pytest
from fastapi import FastAPI

from junction.clock import now
from junction.contracts.common import OrderLine
from junction.contracts.inventory import Catalogue, Product
from junction.contracts.orders import OrderStatus, OrderView
from junction.contracts.payments import PaymentStatus, PaymentView
from junction_devtools.fakes import FakeKV, FakeService
from junction_devtools.testing import http_client, service_app
from storefront import api, asyncapi
from storefront.domain import IdempotentRequest, fingerprint, key_id
from storefront.main import build_deps
from storefront.settings import StorefrontSettings

pytestmark = pytest.mark.unit

CHECKOUT = {
    "customer_email": "c@example.com",
    "items": [{"sku": "A", "quantity": 1}],
    "payment_token": "tok_visa",
}


def order(status: OrderStatus = OrderStatus.PENDING_PAYMENT) -> OrderView:
    return OrderView(
        order_id="x",
        status=status,
        items=[OrderLine(sku="A", quantity=1, price_cents=300)],
        total_cents=300,
        customer_email="c@example.com",
        created_at=datetime(2026, 11, 30, 9, tzinfo=UTC),
        timeline=[],
        trace_id=None,
    )


def platform() -> tuple[FakeService, FakeService, FakeService]:
    orders, inventory, payments = FakeService(), FakeService(), FakeService()
    orders.answer("POST", "/orders", order())
    orders.answer("GET", "/orders/x", order(OrderStatus.CONFIRMED))
    inventory.answer(
        "GET", "/products", Catalogue([Product(sku="A", name="a", price_cents=300, available=4)])
    )
    payments.answer(
        "POST",
        "/payments",
        PaymentView(
            order_id="x", status=PaymentStatus.APPROVED, amount_cents=300, decline_reason=None
        ),
    )
    return orders, inventory, payments


def app(orders: FakeService, inventory: FakeService, payments: FakeService) -> FastAPI:
    settings = StorefrontSettings(log_json=False)
    deps = build_deps(settings, FakeKV(), orders=orders, inventory=inventory, payments=payments)
    return service_app(api.router, asyncapi.router, deps=deps, settings=settings)


async def test_a_checkout_answers_201_and_a_repeat_with_its_key_the_same() -> None:
    orders, inventory, payments = platform()
    async with http_client(app(orders, inventory, payments)) as http:
        first = await http.post("/api/checkout", json=CHECKOUT, headers={"Idempotency-Key": "k"})
        again = await http.post("/api/checkout", json=CHECKOUT, headers={"Idempotency-Key": "k"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert first.json()["status"] == "PAID" and first.json()["total_cents"] == 300
    assert len(payments.sent) == 1


async def test_out_of_stock_names_the_skus_and_bad_input_names_the_field() -> None:
    orders, inventory, payments = platform()
    refusal = {"error": "out_of_stock", "skus": ["A"], "message": "not enough stock for A"}
    orders.answer("POST", "/orders", (409, refusal))
    async with http_client(app(orders, inventory, payments)) as http:
        short = await http.post("/api/checkout", json=CHECKOUT)
        invalid = await http.post("/api/checkout", json={**CHECKOUT, "items": []})
    assert short.status_code == 409 and short.json()["skus"] == ["A"]
    assert invalid.status_code == 422 and invalid.json()["fields"][0]["field"] == "items"


async def test_products_orders_and_the_event_catalogue_are_served() -> None:
    orders, inventory, payments = platform()
    async with http_client(app(orders, inventory, payments)) as http:
        products = await http.get("/api/products")
        found = await http.get("/api/orders/x")
        missing = await http.get("/api/orders/none")
        catalogue = await http.get("/asyncapi.json")
    assert products.json() == [{"sku": "A", "name": "a", "price_cents": 300, "available": 4}]
    assert found.json()["status"] == "CONFIRMED" and "customer_email" not in found.json()
    assert missing.status_code == 404
    assert catalogue.json()["asyncapi"] == "3.0.0"


async def test_a_repeat_while_the_first_is_in_flight_gets_409_with_retry_after() -> None:
    orders, inventory, payments = platform()
    kv = FakeKV()
    settings = StorefrontSettings(log_json=False)
    deps = build_deps(settings, kv, orders=orders, inventory=inventory, payments=payments)
    request_body = api.CheckoutBody.model_validate(CHECKOUT).model_dump(mode="json")
    in_flight = IdempotentRequest(fingerprint=fingerprint(request_body), started_at=now())
    await kv.create(f"idem.{key_id('k')}", in_flight.model_dump_json().encode())
    application = service_app(api.router, asyncapi.router, deps=deps, settings=settings)
    async with http_client(application) as http:
        reply = await http.post("/api/checkout", json=CHECKOUT, headers={"Idempotency-Key": "k"})
    assert reply.status_code == 409
    assert reply.json()["error"] == "request_in_progress"
    assert reply.headers["retry-after"] == "1"
    assert orders.sent == [] and payments.sent == []  # nothing called for the repeat
