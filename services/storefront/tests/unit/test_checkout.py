"""The checkout use case with fake downstream services and an in-memory store."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from junction.contracts.common import LineItem, OrderLine
from junction.contracts.orders import OrderStatus, OrderView
from junction.contracts.payments import PaymentStatus, PaymentView
from junction.errors import DependencyUnavailable
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


class FlakyKV(FakeKV):
    """A bucket whose next `down` deletes fail, as while NATS cannot be reached."""

    def __init__(self) -> None:
        super().__init__()
        self.down = 0

    async def delete(self, key: str, *, last: int | None = None) -> None:
        if self.down:
            self.down -= 1
            raise ConnectionError("nats: no servers available")
        await super().delete(key, last=last)


class Unreachable:
    """A downstream that cannot be reached: the checkout fails with an exception."""

    async def get(self, path: str, answer: type[Any]) -> Any:
        raise DependencyUnavailable("payments", "connection refused")

    async def post(self, path: str, body: Any, answer: type[Any], *, idempotent: bool) -> Any:
        raise DependencyUnavailable("payments", "connection refused")


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers, "RELEASE_RETRY_SECONDS", (0.01, 0.02))


@pytest.mark.usefixtures("quick_retries")
async def test_a_lease_whose_release_failed_is_released_once_nats_answers() -> None:
    kv = FlakyKV()
    requests = AggregateStore(kv, IdempotentRequest, prefix="idem")
    orders, _ = services()
    kv.down = 2  # the release after the failure, and its first retry, find NATS away
    with pytest.raises(DependencyUnavailable):
        await run("k", BODY, requests, orders, Unreachable())  # type: ignore[arg-type]
    assert kv.data, "the lease is still held"
    await asyncio.wait_for(asyncio.gather(*handlers.releasing), 5)
    assert not kv.data, "released once NATS answered"
    again = await run("k", BODY, requests, *services())  # the customer's retry, served
    assert again.status == 201


@pytest.mark.usefixtures("quick_retries")
async def test_a_late_release_leaves_the_lease_of_the_attempt_that_took_over() -> None:
    kv = FlakyKV()
    requests = AggregateStore(kv, IdempotentRequest, prefix="idem")
    orders, _ = services()
    kv.down = 1_000
    with pytest.raises(DependencyUnavailable):
        await run("k", BODY, requests, orders, Unreachable())  # type: ignore[arg-type]
    (key,) = kv.data
    # The lease expired meanwhile and another replica took it over (a new revision).
    _, revision = kv.data[key]
    await kv.update(key, b'{"fingerprint": "taken over"}', last=revision)
    kv.down = 0
    await asyncio.wait_for(asyncio.gather(*handlers.releasing), 5)
    assert kv.data[key][0] == b'{"fingerprint": "taken over"}', "the other attempt's lease stays"
