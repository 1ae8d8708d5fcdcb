"""Orders' subscribers on FastStream's in-memory broker, with an in-memory store."""

import pytest
from faststream.nats import TestNatsBroker

from junction.events import Event
from junction.runtime import ServiceRuntime
from junction.store import AggregateStore
from junction_devtools.fakes import FakeKV
from orders import subscribers
from orders.deps import OrdersDeps
from orders.domain import Order, OrderLine, OrderStatus
from orders.settings import OrdersSettings

pytestmark = pytest.mark.unit


async def test_follow_up_events_move_the_order_to_confirmed() -> None:
    settings = OrdersSettings(log_json=False)
    runtime = ServiceRuntime(settings)
    orders = AggregateStore(FakeKV(), Order, prefix="order")
    await orders.put_new(
        "o1", Order.place("o1", "c@example.com", [OrderLine(sku="A", quantity=1, price_cents=5)])
    )
    deps = OrdersDeps(settings=settings, orders=orders, inventory=None)  # type: ignore[arg-type]
    subscribers.register(runtime, deps)

    async with TestNatsBroker(runtime.broker) as broker:
        for kind, source in (("PaymentSucceeded", "payments"), ("StockCommitted", "inventory")):
            event = Event(type=kind, source=source, order_id="o1")  # type: ignore[arg-type]
            await broker.publish(event.model_dump_json(), event.subject)
        # A malformed message is refused without reaching the handler.
        await broker.publish(b"{not json", "inventory.StockCommitted")

    found = await orders.get("o1")
    assert found is not None and found.value.status is OrderStatus.CONFIRMED
    assert [e.event for e in found.value.timeline][-3:] == [
        "payment_approved",
        "stock_committed",
        "order_confirmed",
    ]
