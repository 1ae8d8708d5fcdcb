"""Orders' subscribers, driven message by message through a real consumer's ack policy,
with an in-memory store."""

from datetime import timedelta

import pytest

from junction.clock import now
from junction.contracts.events import PaymentSucceeded, StockCommitted
from junction.messaging.consumer import durable_consumer
from junction.store.aggregates import AggregateStore
from junction.store.outbox import OutboxRelay
from junction_devtools.fakes import (
    FakeKV,
    FakeMsg,
    FakeService,
    RecordingDeadLetters,
    RecordingPublisher,
    Subscriptions,
)
from junction_devtools.samples import LINE, stock_committed
from orders import subscribers
from orders.deps import OrdersDeps
from orders.domain import FOLLOW_UPS, Order
from orders.settings import OrdersSettings

pytestmark = pytest.mark.unit


async def test_follow_up_events_move_the_order_to_confirmed() -> None:
    settings = OrdersSettings(log_json=False)
    published = RecordingPublisher()
    orders = AggregateStore(FakeKV(), Order, prefix="order", relay=OutboxRelay(published))
    await orders.put_new("o1", Order.place("o1", "c@example.com", [LINE]))
    subscriptions = Subscriptions()
    subscribers.register(
        subscriptions, OrdersDeps(settings=settings, orders=orders, inventory=FakeService())
    )
    assert set(subscriptions.handlers) == set(FOLLOW_UPS)

    assert PaymentSucceeded not in subscriptions.handlers  # StockCommitted says it (0016)

    dead_letters = RecordingDeadLetters()
    committed = durable_consumer(
        settings, StockCommitted, subscriptions.handlers[StockCommitted], dead_letters
    )
    paid_at = now() - timedelta(milliseconds=40)
    delivered = [FakeMsg(stock_committed("o1", paid_at=paid_at))]
    await committed.handle(delivered[0])
    # A malformed message is dead-lettered without reaching the handler.
    poison = FakeMsg(b"{not json", subject="inventory.StockCommitted")
    await committed.handle(poison)

    assert [m.settled for m in delivered] == [["ack"]]
    assert poison.settled == ["term"]
    assert dead_letters.sent == [
        ("inventory.StockCommitted", "orders-StockCommitted", "malformed event: invalid body")
    ]
    found = await orders.get("o1")
    assert found is not None
    assert [e.event for e in found.value.timeline][-3:] == [
        "payment_approved",
        "stock_committed",
        "order_confirmed",
    ]
    assert found.value.timeline[-3].at == paid_at  # the payment's time, as inventory saw it
    assert found.value.status.value == "CONFIRMED"
    # OrderConfirmed went out before StockCommitted was acked, and stays out of the outbox.
    assert [e.type for e in published.events] == ["OrderConfirmed"]
    assert [e.type for e in found.value.notices] == ["OrderConfirmed"]
    assert "OrderConfirmed" not in [e.type for e in found.value.outbox]
