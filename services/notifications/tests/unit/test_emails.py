import pytest

from junction.contracts.common import OrderLine
from junction.contracts.events import (
    NotificationSent,
    OrderCancellation,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderSummary,
)
from junction.store.aggregates import AggregateStore
from junction_devtools.fakes import FakeKV, RecordingMailer
from notifications import handlers
from notifications.domain import OrderEmailEvent, SentEmail, body_text

pytestmark = pytest.mark.unit

DATA = OrderSummary(
    customer_email="c@example.com",
    total_cents=300,
    items=[OrderLine(sku="A", quantity=2, price_cents=150)],
)


def emails() -> handlers.Emails:
    return AggregateStore(FakeKV(), SentEmail, prefix="email")


async def send(store: handlers.Emails, mailer: RecordingMailer, event: OrderEmailEvent) -> None:
    await handlers.send_order_email(
        store, mailer, event, sender="shop@junction.local", domain="junction.local"
    )


async def test_one_receipt_per_order_even_when_the_event_repeats() -> None:
    store, mailer = emails(), RecordingMailer()
    confirmed = OrderConfirmed(order_id="o1", data=DATA)
    await send(store, mailer, confirmed)
    await send(store, mailer, confirmed.model_copy(update={"id": "another-id"}))
    assert len(mailer.sent) == 1
    msg = mailer.sent[0]
    assert msg["Message-ID"] == "<o1.receipt@junction.local>"
    assert msg["To"] == "c@example.com" and "3.00" in body_text(msg)
    record = await store.get("o1.receipt")
    assert record is not None
    assert [e.data.kind for e in record.value.outbox if isinstance(e, NotificationSent)] == [
        "receipt"
    ]


async def test_smtp_failure_raises_for_redelivery_and_records_nothing() -> None:
    store, mailer = emails(), RecordingMailer(fail_times=1)
    created = OrderCreated(order_id="o1", data=DATA)
    with pytest.raises(ConnectionError):
        await send(store, mailer, created)
    assert await store.get("o1.order_received") is None
    await send(store, mailer, created)
    assert [m["Message-ID"] for m in mailer.sent] == ["<o1.order_received@junction.local>"]


async def test_each_kind_has_its_own_email() -> None:
    store, mailer = emails(), RecordingMailer()
    cancellation = OrderCancellation(**DATA.model_dump(), reason="payment_declined")
    for event in (
        OrderCreated(order_id="o1", data=DATA),
        OrderCancelled(order_id="o1", data=cancellation),
    ):
        await send(store, mailer, event)
    assert [m["X-Junction-Email-Kind"] for m in mailer.sent] == ["order_received", "cancellation"]
    assert "payment_declined" in body_text(mailer.sent[1])
