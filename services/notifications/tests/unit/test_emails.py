import asyncio

import pytest

from junction.clock import now
from junction.contracts.common import OrderLine
from junction.contracts.events import (
    EventEnvelope,
    NotificationSent,
    OrderCancellation,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderSummary,
)
from junction.store.aggregates import AggregateStore
from junction.store.outbox import OutboxRelay
from junction_devtools.fakes import FakeKV, RecordingMailer, RecordingPublisher
from notifications import handlers
from notifications.domain import EmailKind, OrderEmailEvent, SentEmail, body_text, sent_event

pytestmark = pytest.mark.unit

DATA = OrderSummary(
    customer_email="c@example.com",
    total_cents=300,
    items=[OrderLine(sku="A", quantity=2, price_cents=150)],
)


class Sent:
    """A store on a fake bucket, a recording mailer and publisher, and the relay the
    service gives the store (its flushes are the events a record carried in its outbox)."""

    def __init__(self, mail_failures: int = 0) -> None:
        self.kv = FakeKV()
        self.relayed = RecordingPublisher()
        self.relay = OutboxRelay(self.relayed)
        self.store: handlers.Emails = AggregateStore(
            self.kv, SentEmail, prefix="email", relay=self.relay
        )
        self.mailer = RecordingMailer(fail_times=mail_failures)
        self.publisher = RecordingPublisher()

    async def send(self, event: OrderEmailEvent) -> None:
        await handlers.send_order_email(
            self.store,
            self.mailer,
            self.publisher,
            event,
            sender="shop@junction.local",
            domain="junction.local",
        )

    def notices(self) -> list[tuple[str, str]]:
        return [
            (e.id, e.data.kind) for e in self.publisher.events if isinstance(e, NotificationSent)
        ]


async def test_one_receipt_per_order_even_when_the_event_repeats() -> None:
    sent = Sent()
    confirmed = OrderConfirmed(order_id="o1", data=DATA)
    await sent.send(confirmed)
    await sent.send(confirmed.model_copy(update={"id": "another-id"}))
    assert len(sent.mailer.sent) == 1
    msg = sent.mailer.sent[0]
    assert msg["Message-ID"] == "<o1.receipt@junction.local>"
    assert msg["To"] == "c@example.com" and "3.00" in body_text(msg)
    # The repeat publishes the same NotificationSent again (same id: deduplicated).
    (first_id, kind), again = sent.notices()
    assert kind == "receipt" and again == (first_id, "receipt")


async def test_an_email_costs_one_write_and_leaves_nothing_to_clear() -> None:
    sent = Sent()
    await sent.send(OrderConfirmed(order_id="o1", data=DATA))
    await asyncio.sleep(0)  # whatever the relay was scheduled to do
    record = await sent.store.get("o1.receipt")
    assert record is not None and record.value.outbox == []
    assert record.value.notice is not None and record.value.notice.data.kind == "receipt"
    assert sent.kv.writes == 1 and sent.relayed.events == []


async def test_a_first_delivery_does_not_look_for_an_earlier_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the consumer is certain the event was never given to it before
    (`first_delivery`), no read; otherwise the record is looked for first."""
    sent = Sent()
    monkeypatch.setattr(handlers, "first_delivery", lambda event: True)
    await sent.send(OrderConfirmed(order_id="o1", data=DATA))
    assert (sent.kv.reads, sent.kv.writes) == (0, 1)
    monkeypatch.setattr(handlers, "first_delivery", lambda event: False)
    await sent.send(OrderCreated(order_id="o1", data=DATA))
    assert (sent.kv.reads, sent.kv.writes) == (1, 2)


async def test_a_record_the_write_finds_after_all_is_the_one_announced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Were the consumer wrong, the email goes out again under its Message-ID (as after a
    crash between the send and the record), and the stored record's event is published,
    not a second one."""
    sent = Sent()
    confirmed = OrderConfirmed(order_id="o1", data=DATA)
    await sent.send(confirmed)
    monkeypatch.setattr(handlers, "first_delivery", lambda event: True)
    await sent.send(confirmed.model_copy(update={"id": "another-id"}))
    assert [m["Message-ID"] for m in sent.mailer.sent] == ["<o1.receipt@junction.local>"] * 2
    first, again = sent.notices()
    assert again == first
    assert sent.kv.writes == 1


async def test_a_crash_between_the_record_and_the_publish_is_repaired_by_the_redelivery() -> None:
    sent = Sent()

    class DownOnce(RecordingPublisher):
        def __init__(self) -> None:
            super().__init__()
            self.down = True

        async def publish(self, event: EventEnvelope) -> None:
            if self.down:
                self.down = False
                raise ConnectionError("nats down")
            await super().publish(event)

    sent.publisher = DownOnce()
    created = OrderCreated(order_id="o1", data=DATA)
    with pytest.raises(ConnectionError):
        await sent.send(created)  # recorded, not published: the event is not acked
    assert await sent.store.get("o1.order_received") is not None
    await sent.send(created)  # its redelivery
    assert len(sent.mailer.sent) == 1
    assert [kind for _, kind in sent.notices()] == ["order_received"]


async def test_a_record_of_an_earlier_version_leaves_its_event_to_the_relay() -> None:
    sent = Sent()
    old = SentEmail(
        order_id="o1",
        kind=EmailKind.RECEIPT,
        to="c@example.com",
        message_id="<o1.receipt@junction.local>",
        sent_at=now(),
    )
    old.record(sent_event(old))  # as records were written before `notice`
    await sent.kv.create("email.o1.receipt", old.model_dump_json().encode())
    await sent.send(OrderConfirmed(order_id="o1", data=DATA))
    assert sent.mailer.sent == [] and sent.publisher.events == []
    assert await sent.relay.sweep() == 1  # the start-up sweep still publishes it
    assert [e.type for e in sent.relayed.events] == ["NotificationSent"]


async def test_smtp_failure_raises_for_redelivery_and_records_nothing() -> None:
    sent = Sent(mail_failures=1)
    created = OrderCreated(order_id="o1", data=DATA)
    with pytest.raises(ConnectionError):
        await sent.send(created)
    assert await sent.store.get("o1.order_received") is None and sent.publisher.events == []
    await sent.send(created)
    assert [m["Message-ID"] for m in sent.mailer.sent] == ["<o1.order_received@junction.local>"]


async def test_each_kind_has_its_own_email() -> None:
    sent = Sent()
    cancellation = OrderCancellation(**DATA.model_dump(), reason="payment_declined")
    for event in (
        OrderCreated(order_id="o1", data=DATA),
        OrderCancelled(order_id="o1", data=cancellation),
    ):
        await sent.send(event)
    kinds = [m["X-Junction-Email-Kind"] for m in sent.mailer.sent]
    assert kinds == ["order_received", "cancellation"]
    assert "payment_declined" in body_text(sent.mailer.sent[1])
    assert [kind for _, kind in sent.notices()] == ["order_received", "cancellation"]
