from typing import Any

import pytest

from junction.http import Response
from junction.store import AggregateStore
from junction_devtools.fakes import FakeKV
from storefront import handlers
from storefront.domain import IdempotentRequest, order_id_for

pytestmark = pytest.mark.unit


class FakeService:
    """Answers like orders/payments would; records every call."""

    def __init__(self, answers: dict[str, Response]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, Any]] = []

    async def post(self, path: str, body: Any, *, idempotent: bool) -> Response:
        self.calls.append((path, body))
        return self.answers[path]


ORDER = {"order_id": "x", "status": "PENDING_PAYMENT", "total_cents": 300}
CMD = handlers.Checkout(
    customer_email="c@example.com", items=[{"sku": "A", "quantity": 1}], payment_token="tok_visa"
)
BODY = {
    "customer_email": "c@example.com",
    "items": [{"sku": "A", "quantity": 1}],
    "payment_token": "tok_visa",
}


def services(payment: str = "approved") -> tuple[FakeService, FakeService]:
    return (
        FakeService({"/orders": Response(201, ORDER)}),
        FakeService({"/payments": Response(201, {"status": payment})}),
    )


async def run(
    key: str | None,
    body: dict[str, Any],
    store: handlers.Requests,
    orders: FakeService,
    payments: FakeService,
) -> handlers.Answer:
    return await handlers.idempotent_checkout(
        CMD,
        body,
        key,
        requests=store,
        orders=orders,
        payments=payments,  # type: ignore[arg-type]
        lease_seconds=30,
    )


def store() -> handlers.Requests:
    return AggregateStore(FakeKV(), IdempotentRequest, prefix="idem")


async def test_approved_payment_answers_201() -> None:
    orders, payments = services()
    answer = await run(None, BODY, store(), orders, payments)
    assert answer.status == 201 and answer.body["payment_status"] == "approved"


async def test_declined_payment_answers_402_with_the_order() -> None:
    orders, payments = services("declined")
    answer = await run("k", BODY, store(), orders, payments)
    assert answer.status == 402 and answer.body["order_id"] == order_id_for("k")


async def test_out_of_stock_is_passed_through_and_nothing_is_charged() -> None:
    orders = FakeService({"/orders": Response(409, {"error": "out_of_stock", "skus": ["A"]})})
    payments = FakeService({})
    answer = await run("k", BODY, store(), orders, payments)
    assert answer.status == 409 and answer.body["skus"] == ["A"]
    assert payments.calls == []


async def test_a_repeated_key_returns_the_first_answer_and_calls_nothing() -> None:
    requests = store()
    orders, payments = services()
    first = await run("k", BODY, requests, orders, payments)
    again = await run("k", BODY, requests, orders, payments)
    assert again == first
    assert len(orders.calls) == 1 and len(payments.calls) == 1


async def test_a_key_reused_with_another_body_is_refused() -> None:
    requests = store()
    orders, payments = services()
    await run("k", BODY, requests, orders, payments)
    answer = await run("k", {**BODY, "payment_token": "tok_declined"}, requests, orders, payments)
    assert answer.status == 422 and answer.body["field"] == "Idempotency-Key"


def test_the_same_key_always_names_the_same_order() -> None:
    assert order_id_for("k") == order_id_for("k") != order_id_for("other")
