"""Orders' routes through its ASGI app, with an in-memory store and a fake inventory."""

from datetime import timedelta

import pytest
from fastapi import FastAPI

from junction.clock import now
from junction.contracts.common import OrderLine
from junction.contracts.inventory import ReservationStatus, ReservationView
from junction_devtools.fakes import FakeKV, FakeService
from junction_devtools.testing import http_client, service_app
from orders import api
from orders.main import build_deps
from orders.settings import OrdersSettings

pytestmark = pytest.mark.unit

BODY = {"order_id": "o1", "customer_email": "c@example.com", "items": [{"sku": "A", "quantity": 2}]}


def reservation(status: ReservationStatus = ReservationStatus.HELD) -> ReservationView:
    return ReservationView(
        order_id="o1",
        status=status,
        lines=[OrderLine(sku="A", quantity=2, price_cents=150)],
        total_cents=300,
        expires_at=now() + timedelta(minutes=15),
        short_skus=[],
        release_reason=None,
    )


def app_with(inventory: FakeService) -> FastAPI:
    settings = OrdersSettings(log_json=False)
    deps = build_deps(settings, FakeKV(), inventory)
    return service_app(api.router, deps=deps, settings=settings)


async def test_an_order_is_placed_once_and_repeats_answer_200() -> None:
    inventory = FakeService()
    inventory.answer("POST", "/reservations", reservation())
    async with http_client(app_with(inventory)) as http:
        first = await http.post("/orders", json=BODY)
        again = await http.post("/orders", json=BODY)
        fetched = await http.get("/orders/o1")
    assert (first.status_code, again.status_code, fetched.status_code) == (201, 200, 200)
    assert first.json()["status"] == "PENDING_PAYMENT" and first.json()["total_cents"] == 300
    assert [e["event"] for e in fetched.json()["timeline"]] == ["order_created", "stock_reserved"]
    # No read before placing (a new order is the common case): a repeat asks inventory
    # again, which answers with the same reservation (idempotent by order id).
    assert len(inventory.sent) == 2


async def test_a_repeat_after_the_reservation_moved_on_answers_with_the_order() -> None:
    inventory = FakeService()
    inventory.answer("POST", "/reservations", reservation())
    async with http_client(app_with(inventory)) as http:
        first = await http.post("/orders", json=BODY)
        inventory.answer("POST", "/reservations", reservation(ReservationStatus.COMMITTED))
        again = await http.post("/orders", json=BODY)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["order_id"] == "o1"


async def test_inventorys_refusal_is_passed_on_as_given_and_nothing_is_stored() -> None:
    inventory = FakeService()
    refusal = {"error": "out_of_stock", "skus": ["A"], "message": "not enough stock for A"}
    inventory.answer("POST", "/reservations", (409, refusal))
    async with http_client(app_with(inventory)) as http:
        placed = await http.post("/orders", json=BODY)
        fetched = await http.get("/orders/o1")
    assert (placed.status_code, placed.json()) == (409, refusal)
    assert fetched.status_code == 404


async def test_a_reservation_that_closed_is_a_conflict() -> None:
    inventory = FakeService()
    inventory.answer("POST", "/reservations", reservation(ReservationStatus.RELEASED))
    async with http_client(app_with(inventory)) as http:
        placed = await http.post("/orders", json=BODY)
    assert placed.status_code == 409 and placed.json()["error"] == "reservation_closed"


async def test_bad_input_names_the_field_and_an_unknown_order_is_404() -> None:
    async with http_client(app_with(FakeService())) as http:
        invalid = await http.post("/orders", json={**BODY, "customer_email": "nope"})
        missing = await http.get("/orders/none")
    assert invalid.status_code == 422 and invalid.json()["fields"][0]["field"] == "customer_email"
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "message": "no order none"}
