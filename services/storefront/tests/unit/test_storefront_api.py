"""The storefront's public API through its ASGI app, with fake downstream services."""

from datetime import UTC, datetime

import pytest
from fastapi import FastAPI

from junction.clock import now
from junction.contracts.common import OrderLine
from junction.contracts.inventory import Catalogue, Product
from junction.contracts.notifications import EmailView, OrderEmails
from junction.contracts.orders import OrderStatus, OrderView, TimelineEntry
from junction.contracts.payments import PaymentStatus, PaymentView
from junction_devtools.fakes import FakeKV, FakeService
from junction_devtools.testing import http_client, service_app
from storefront import api, asyncapi
from storefront.domain import IdempotentRequest, fingerprint, key_id
from storefront.main import build_deps
from storefront.order_view import read_order_and_emails
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


def at(seconds: int) -> datetime:
    return datetime(2026, 11, 30, 9, 0, seconds, tzinfo=UTC)


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


def app(
    orders: FakeService,
    inventory: FakeService,
    payments: FakeService,
    notifications: FakeService | None = None,
) -> FastAPI:
    settings = StorefrontSettings(log_json=False)
    deps = build_deps(
        settings,
        FakeKV(),
        orders=orders,
        inventory=inventory,
        payments=payments,
        notifications=notifications or FakeService(),
    )
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
    deps = build_deps(
        settings,
        kv,
        orders=orders,
        inventory=inventory,
        payments=payments,
        notifications=FakeService(),
    )
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


async def test_an_order_shows_the_emails_notifications_sent_in_its_timeline() -> None:
    orders, inventory, payments = platform()
    placed = order(OrderStatus.CONFIRMED).model_copy(
        update={
            "timeline": [
                TimelineEntry(at=at(0), service="orders", event="order_created"),
                TimelineEntry(at=at(3), service="orders", event="order_confirmed"),
            ]
        }
    )
    orders.answer("GET", "/orders/x", placed)
    notifications = FakeService()
    emails = [
        EmailView(kind="order_received", sent_at=at(1), message_id="<x.order_received@j>"),
        EmailView(kind="receipt", sent_at=at(4), message_id="<x.receipt@j>"),
    ]
    notifications.answer("GET", "/orders/x/emails", OrderEmails(order_id="x", emails=emails))
    async with http_client(app(orders, inventory, payments, notifications)) as http:
        found = await http.get("/api/orders/x")
    assert [e["event"] for e in found.json()["timeline"]] == [
        "order_created",
        "email_sent:order_received",
        "order_confirmed",
        "email_sent:receipt",
    ]


async def test_an_order_is_shown_without_its_emails_when_notifications_cannot_answer() -> None:
    orders, inventory, payments = platform()
    down = FakeService()
    down.answer("GET", "/orders/x/emails", (503, {"error": "unavailable", "message": "down"}))
    async with http_client(app(orders, inventory, payments, down)) as http:
        found = await http.get("/api/orders/x")
        missing = await http.get("/api/orders/none")
    assert found.status_code == 200 and found.json()["status"] == "CONFIRMED"
    assert missing.status_code == 404  # orders decides whether the order exists
    # A live page learns that the emails are still unknown, and reads again soon.
    shown, emails_read = await read_order_and_emails(
        "x", orders=orders, payments=payments, notifications=down
    )
    assert shown.status is OrderStatus.CONFIRMED and not emails_read


@pytest.mark.parametrize(
    ("charge", "shown"),
    [
        (PaymentStatus.APPROVED, OrderStatus.PAID),  # paid; its stock not yet committed
        (PaymentStatus.DECLINED, OrderStatus.PENDING_PAYMENT),  # its release is on its way
        (None, OrderStatus.PENDING_PAYMENT),  # not charged yet: payments answers 404
    ],
)
async def test_an_order_waiting_for_payment_is_shown_paid_once_payments_approved_it(
    charge: PaymentStatus | None, shown: OrderStatus
) -> None:
    # Orders learns of the payment from StockCommitted (decision 0016), so between the
    # charge and the commit it still says PENDING_PAYMENT: payments is asked.
    orders, inventory, payments = platform()
    orders.answer("GET", "/orders/w", order().model_copy(update={"order_id": "w"}))
    if charge is not None:
        view = PaymentView(order_id="w", status=charge, amount_cents=300, decline_reason=None)
        payments.answer("GET", "/payments/w", view)
    async with http_client(app(orders, inventory, payments)) as http:
        found = await http.get("/api/orders/w")
        confirmed = await http.get("/api/orders/x")
    assert found.status_code == 200 and found.json()["status"] == shown.value
    assert confirmed.json()["status"] == "CONFIRMED"
    # Only the order waiting for payment costs a read of payments.
    assert [path for method, path, _ in payments.sent if method == "GET"] == ["/payments/w"]
