import pytest

from junction.contracts.payments import PaymentStatus
from junction.store.aggregates import AggregateStore
from junction.store.outbox import OutboxRelay
from junction_devtools.fakes import FakeKV, RecordingPublisher
from junction_devtools.samples import order_cancelled
from payments import handlers
from payments.domain import Payment

pytestmark = pytest.mark.unit


@pytest.fixture
def published() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def payments(published: RecordingPublisher) -> handlers.Payments:
    return AggregateStore(FakeKV(), Payment, prefix="payment", relay=OutboxRelay(published))


@pytest.mark.parametrize(
    ("token", "status", "event"),
    [
        ("tok_visa", PaymentStatus.APPROVED, "PaymentSucceeded"),
        ("tok_declined", PaymentStatus.DECLINED, "PaymentFailed"),
    ],
)
def test_tokens_decide_the_outcome(token: str, status: PaymentStatus, event: str) -> None:
    payment = Payment.charge("o1", 500, token, "c@example.com")
    assert payment.status is status
    assert [e.type for e in payment.outbox] == [event]


async def test_charging_twice_returns_the_first_result(payments: handlers.Payments) -> None:
    first, created = await handlers.charge(
        payments, order_id="o1", amount_cents=500, token="tok_visa", customer_email="c@example.com"
    )
    again, created_again = await handlers.charge(
        payments,
        order_id="o1",
        amount_cents=500,
        token="tok_declined",
        customer_email="c@example.com",
    )
    assert created and not created_again
    assert again.status is PaymentStatus.APPROVED and again.charged_at == first.charged_at


async def test_a_cancelled_order_refunds_an_approved_charge_once(
    payments: handlers.Payments, published: RecordingPublisher
) -> None:
    await handlers.charge(
        payments, order_id="o1", amount_cents=500, token="tok_visa", customer_email="c@example.com"
    )
    cancelled = order_cancelled("o1")
    await handlers.refund_if_cancelled(payments, cancelled)
    await handlers.refund_if_cancelled(payments, cancelled)
    found = await payments.get("o1")
    assert found is not None and found.value.status is PaymentStatus.REFUNDED
    # Published by the handler before OrderCancelled is acked; the repeat sends it again
    # (same id), in case the first delivery was cut off before it went out.
    assert [e.type for e in found.value.notices] == ["PaymentRefunded"]
    refunds = [e for e in published.events if e.type == "PaymentRefunded"]
    assert [e.id for e in refunds] == [found.value.notices[0].id] * 2


async def test_a_charge_after_cancellation_is_refused(payments: handlers.Payments) -> None:
    await handlers.refund_if_cancelled(payments, order_cancelled("o1"))
    payment, created = await handlers.charge(
        payments, order_id="o1", amount_cents=500, token="tok_visa", customer_email="c@example.com"
    )
    assert not created and payment.status is PaymentStatus.VOID
