import asyncio
import json

import pytest

from junction.clock import now
from junction.contracts.common import OrderLine
from junction.contracts.events import (
    EmailSent,
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
from notifications.domain import EmailKind, OrderEmailEvent, SentEmail, body_text

pytestmark = pytest.mark.unit

DATA = OrderSummary(
    customer_email="c@example.com",
    total_cents=300,
    items=[OrderLine(sku="A", quantity=2, price_cents=150)],
)


class Sent:
    """A store on a fake bucket, a recording mailer, and the relay the service gives the
    store (its flushes are the events a record of an earlier version carried in its
    outbox: the handler itself publishes nothing)."""

    def __init__(self, mail_failures: int = 0) -> None:
        self.kv = FakeKV()
        self.relayed = RecordingPublisher()
        self.relay = OutboxRelay(self.relayed)
        self.store: handlers.Emails = AggregateStore(
            self.kv, SentEmail, prefix="email", relay=self.relay
        )
        self.mailer = RecordingMailer(fail_times=mail_failures)

    async def send(self, event: OrderEmailEvent) -> None:
        await handlers.send_order_email(
            self.store,
            self.mailer,
            event,
            sender="shop@junction.local",
            domain="junction.local",
        )


def old_record(order_id: str, kind: EmailKind) -> SentEmail:
    return SentEmail(
        order_id=order_id,
        kind=kind,
        to="c@example.com",
        message_id=f"<{order_id}.{kind.value}@junction.local>",
        sent_at=now(),
    )


def retired_event(record: SentEmail) -> NotificationSent:
    return NotificationSent(
        order_id=record.order_id,
        data=EmailSent(kind=record.kind.value, message_id=record.message_id, to=record.to),
    )


async def test_one_receipt_per_order_even_when_the_event_repeats() -> None:
    sent = Sent()
    confirmed = OrderConfirmed(order_id="o1", data=DATA)
    await sent.send(confirmed)
    await sent.send(confirmed.model_copy(update={"id": "another-id"}))
    assert len(sent.mailer.sent) == 1
    msg = sent.mailer.sent[0]
    assert msg["Message-ID"] == "<o1.receipt@junction.local>"
    assert msg["To"] == "c@example.com" and "3.00" in body_text(msg)
    assert sent.kv.writes == 1


async def test_an_email_costs_one_write_and_publishes_nothing() -> None:
    sent = Sent()
    await sent.send(OrderConfirmed(order_id="o1", data=DATA))
    await asyncio.sleep(0)  # whatever the relay was scheduled to do
    record = await sent.store.get("o1.receipt")
    assert record is not None
    assert (record.value.outbox, record.value.notices) == ([], [])
    assert sent.kv.writes == 1 and sent.relayed.events == []
    # The write is what wakes the order's live pages: its key names the order and kind,
    # and its JSON carries the order id where the storefront's feed looks for it.
    stored = json.loads(sent.kv.data["email.o1.receipt"][0])
    assert (stored["order_id"], stored["kind"]) == ("o1", "receipt")


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


async def test_a_record_the_write_finds_after_all_is_left_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Were the consumer wrong, the email goes out again under its Message-ID (as after a
    crash between the send and the record), and the stored record stays the only one."""
    sent = Sent()
    confirmed = OrderConfirmed(order_id="o1", data=DATA)
    await sent.send(confirmed)
    first = await sent.store.get("o1.receipt")
    monkeypatch.setattr(handlers, "first_delivery", lambda event: True)
    await sent.send(confirmed.model_copy(update={"id": "another-id"}))
    assert [m["Message-ID"] for m in sent.mailer.sent] == ["<o1.receipt@junction.local>"] * 2
    assert sent.kv.writes == 1 and await sent.store.get("o1.receipt") == first


async def test_records_of_earlier_versions_load_and_stop_a_resend() -> None:
    sent = Sent()
    # Two versions ago: the retired NotificationSent waited in the record's outbox.
    in_outbox = old_record("o1", EmailKind.RECEIPT)
    in_outbox.record(retired_event(in_outbox))
    await sent.kv.create("email.o1.receipt", in_outbox.model_dump_json().encode())
    # The version before: it was kept with the record as `notice`, a field now gone.
    kept = old_record("o2", EmailKind.RECEIPT)
    doc = {**json.loads(kept.model_dump_json()), "notice": retired_event(kept).model_dump()}
    await sent.kv.create("email.o2.receipt", json.dumps(doc, default=str).encode())
    for order_id in ("o1", "o2"):
        await sent.send(OrderConfirmed(order_id=order_id, data=DATA))
        assert await sent.store.get(f"{order_id}.receipt") is not None
    assert sent.mailer.sent == []
    assert await sent.relay.sweep() == 1  # the start-up sweep still drains the old outbox
    assert [e.type for e in sent.relayed.events] == ["NotificationSent"]


async def test_smtp_failure_raises_for_redelivery_and_records_nothing() -> None:
    sent = Sent(mail_failures=1)
    created = OrderCreated(order_id="o1", data=DATA)
    with pytest.raises(ConnectionError):
        await sent.send(created)
    assert await sent.store.get("o1.order_received") is None
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
    assert set(await sent.store.ids()) == {"o1.order_received", "o1.cancellation"}
