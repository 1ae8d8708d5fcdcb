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
def kv() -> FakeKV:
    return FakeKV()


@pytest.fixture
def payments(kv: FakeKV, published: RecordingPublisher) -> handlers.Payments:
    return AggregateStore(kv, Payment, prefix="payment", relay=OutboxRelay(published))


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
    assert [e.type for e in payment.notices] == [event] and payment.outbox == []


async def test_a_charge_is_one_write_and_its_event_is_published_before_the_answer(
    kv: FakeKV, payments: handlers.Payments, published: RecordingPublisher
) -> None:
    payment, created = await handlers.charge(
        payments, order_id="o1", amount_cents=500, token="tok_visa", customer_email="c@example.com"
    )
    assert created and kv.writes == 1
    assert [e.type for e in published.events] == ["PaymentSucceeded"]
    assert published.events[0].id == payment.notices[0].id
    found = await payments.get("o1")
    assert found is not None and found.value.outbox == []  # nothing left for a clear


async def test_a_charge_whose_publish_failed_is_published_by_the_retry() -> None:
    kv, publisher = FakeKV(), RecordingPublisher(fail_times=1)
    payments = AggregateStore(kv, Payment, prefix="payment", relay=OutboxRelay(publisher))

    async def charge() -> tuple[Payment, bool]:
        return await handlers.charge(
            payments, order_id="o1", amount_cents=500, token="tok_declined", customer_email="c@x.io"
        )

    with pytest.raises(ConnectionError):  # the request fails: the caller retries it
        await charge()
    assert publisher.events == [] and kv.writes == 1  # stored, not yet announced
    payment, created = await charge()
    assert not created and payment.status is PaymentStatus.DECLINED
    assert [(e.type, e.id) for e in publisher.events] == [("PaymentFailed", payment.notices[0].id)]
    assert kv.writes == 1


async def test_charging_twice_returns_the_first_result(
    payments: handlers.Payments, published: RecordingPublisher
) -> None:
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
    # The repeat publishes the first outcome again (same id: the server drops it as a
    # duplicate), in case the first attempt was cut off before it went out.
    assert [e.id for e in published.events] == [first.notices[0].id] * 2


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
    # (same id), in case the first delivery was cut off before it went out, and only it:
    # the charge's own event, kept beside it, is the charge's to repeat.
    assert [e.type for e in found.value.notices] == ["PaymentSucceeded", "PaymentRefunded"]
    refund = found.value.notices[1].id
    assert [e.id for e in published.events] == [found.value.notices[0].id, refund, refund]


async def test_a_charge_after_cancellation_is_refused(payments: handlers.Payments) -> None:
    await handlers.refund_if_cancelled(payments, order_cancelled("o1"))
    payment, created = await handlers.charge(
        payments, order_id="o1", amount_cents=500, token="tok_visa", customer_email="c@example.com"
    )
    assert not created and payment.status is PaymentStatus.VOID
