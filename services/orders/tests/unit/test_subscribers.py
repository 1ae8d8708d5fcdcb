"""Orders' subscribers, driven message by message through their consumers' ack policy,
with an in-memory store."""

from typing import Any

import pytest

from junction.events import Event
from junction.runtime import ServiceRuntime
from junction.store import AggregateStore
from junction_devtools.fakes import FakeKV, FakeMsg, RecordingDeadLetters
from orders import subscribers
from orders.deps import OrdersDeps
from orders.domain import Order, OrderLine, OrderStatus
from orders.settings import OrdersSettings

pytestmark = pytest.mark.unit


async def test_follow_up_events_move_the_order_to_confirmed() -> None:
    settings = OrdersSettings(log_json=False)
    runtime = ServiceRuntime(settings)
    dead_letters = RecordingDeadLetters()
    runtime.dead_letters = dead_letters  # type: ignore[assignment]
    orders = AggregateStore(FakeKV(), Order, prefix="order")
    await orders.put_new(
        "o1", Order.place("o1", "c@example.com", [OrderLine(sku="A", quantity=1, price_cents=5)])
    )
    deps = OrdersDeps(settings=settings, orders=orders, inventory=None)  # type: ignore[arg-type]
    subscribers.register(runtime, deps)

    consumers = {c.event_type: c for c in runtime.consumers}
    delivered: list[Any] = []
    for kind, source in (("PaymentSucceeded", "payments"), ("StockCommitted", "inventory")):
        msg = FakeMsg(Event(type=kind, source=source, order_id="o1"))  # type: ignore[arg-type]
        await consumers[kind].handle(msg)  # type: ignore[arg-type]
        delivered.append(msg)
    # A malformed message is dead-lettered without reaching the handler.
    poison = FakeMsg(b"{not json", subject="inventory.StockCommitted")
    await consumers["StockCommitted"].handle(poison)  # type: ignore[arg-type]

    assert [m.settled for m in delivered] == [["ack"], ["ack"]]
    assert poison.settled == ["term"]
    assert dead_letters.sent == [
        ("inventory.StockCommitted", "orders-StockCommitted", "malformed event: invalid body")
    ]

    found = await orders.get("o1")
    assert found is not None and found.value.status is OrderStatus.CONFIRMED
    assert [e.event for e in found.value.timeline][-3:] == [
        "payment_approved",
        "stock_committed",
        "order_confirmed",
    ]
