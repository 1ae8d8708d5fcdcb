"""The checkout use case with fake downstream services and an in-memory store."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from junction.contracts.common import LineItem, OrderLine
from junction.contracts.orders import OrderStatus, OrderView
from junction.contracts.payments import PaymentStatus, PaymentView
from junction.store.aggregates import AggregateStore
from junction_devtools.fakes import FakeKV, FakeService
from storefront import handlers
from storefront.domain import IdempotencyKeyReused, IdempotentRequest, order_id_for

pytestmark = pytest.mark.unit

CMD = handlers.Checkout(
    customer_email="c@example.com", items=[LineItem(sku="A", quantity=1)], payment_token="tok_visa"
)
BODY = {
    "customer_email": "c@example.com",
    "items": [{"sku": "A", "quantity": 1}],
    "payment_token": "tok_visa",
}


def order(order_id: str = "x") -> OrderView:
    return OrderView(
        order_id=order_id,
        status=OrderStatus.PENDING_PAYMENT,
        items=[OrderLine(sku="A", quantity=1, price_cents=300)],
        total_cents=300,
        customer_email="c@example.com",
        created_at=datetime(2026, 11, 30, 9, tzinfo=UTC),
        timeline=[],
        trace_id=None,
    )


def services(payment: PaymentStatus = PaymentStatus.APPROVED) -> tuple[FakeService, FakeService]:
    orders, payments = FakeService(), FakeService()
    orders.answer("POST", "/orders", order())
    paid = PaymentView(order_id="x", status=payment, amount_cents=300, decline_reason=None)
    payments.answer("POST", "/payments", paid)
    return orders, payments


async def run(
    key: str | None,
    body: dict[str, Any],
    store: handlers.Requests,
    orders: FakeService,
    payments: FakeService,
) -> handlers.Answer:
    return await handlers.idempotent_checkout(
        CMD, body, key, requests=store, orders=orders, payments=payments, lease_seconds=30
    )


def store() -> handlers.Requests:
    return AggregateStore(FakeKV(), IdempotentRequest, prefix="idem")


async def test_approved_payment_answers_201() -> None:
    orders, payments = services()
    answer = await run(None, BODY, store(), orders, payments)
    assert answer.status == 201 and answer.body["payment_status"] == "approved"
    assert list(answer.body) == ["order_id", "status", "payment_status", "total_cents", "trace_id"]


async def test_declined_payment_answers_402_with_the_order() -> None:
    orders, payments = services(PaymentStatus.DECLINED)
    answer = await run("k", BODY, store(), orders, payments)
    assert answer.status == 402 and answer.body["order_id"] == order_id_for("k")
    assert answer.body["error"] == "payment_declined"


async def test_out_of_stock_is_passed_through_and_nothing_is_charged() -> None:
    orders, payments = FakeService(), FakeService()
    refusal = {"error": "out_of_stock", "skus": ["A"], "message": "not enough stock for A"}
    orders.answer("POST", "/orders", (409, refusal))
    answer = await run("k", BODY, store(), orders, payments)
    assert answer.status == 409
    assert answer.body == {**refusal, "trace_id": None}  # as inventory said it
    assert payments.sent == []


async def test_a_repeated_key_returns_the_first_answer_and_calls_nothing() -> None:
    requests = store()
    orders, payments = services()
    first = await run("k", BODY, requests, orders, payments)
    again = await run("k", BODY, requests, orders, payments)
    assert again == first
    assert len(orders.sent) == 1 and len(payments.sent) == 1


async def test_a_key_reused_with_another_body_is_refused() -> None:
    requests = store()
    orders, payments = services()
    await run("k", BODY, requests, orders, payments)
    with pytest.raises(IdempotencyKeyReused) as refused:
        await run("k", {**BODY, "payment_token": "tok_declined"}, requests, orders, payments)
    assert refused.value.details == {"field": "Idempotency-Key"}


def test_the_same_key_always_names_the_same_order() -> None:
    assert order_id_for("k") == order_id_for("k") != order_id_for("other")


async def test_two_replicas_given_one_key_at_once_check_out_once() -> None:
    # Two storefront processes share the bucket, not their memory: the lease is a
    # compare-and-set create, so the second attempt sees it and is told to retry.
    kv = FakeKV()
    first, second = (AggregateStore(kv, IdempotentRequest, prefix="idem") for _ in range(2))
    orders, payments = services()
    orders.latency = 0.05  # the first checkout is still under way when the second comes
    results = await asyncio.gather(
        run("k", BODY, first, orders, payments),
        run("k", BODY, second, orders, payments),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["Answer", "RequestInProgress"]
    assert len(orders.sent) == 1 and len(payments.sent) == 1
    again = await run("k", BODY, second, orders, payments)  # the other replica, afterwards
    assert again == next(r for r in results if isinstance(r, handlers.Answer))
