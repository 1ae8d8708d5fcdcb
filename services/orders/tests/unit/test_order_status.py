"""The order's status machine and timeline, driven by the typed events of other services."""

import pytest

from junction.contracts.catalogue import CONSUMERS
from junction.contracts.common import OrderLine
from junction.contracts.events import (
    NoData,
    OrderCancelled,
    ReservationExpired,
)
from junction.contracts.orders import OrderStatus
from junction_devtools.samples import (
    payment_failed,
    payment_succeeded,
    stock_committed,
    stock_released,
)
from orders.domain import FOLLOW_UPS, Order

pytestmark = pytest.mark.unit


def placed() -> Order:
    return Order.place("o1", "c@example.com", [OrderLine(sku="A", quantity=2, price_cents=150)])


def test_a_placed_order_waits_for_payment_and_announces_itself() -> None:
    order = placed()
    assert order.status is OrderStatus.PENDING_PAYMENT and order.total_cents == 300
    assert [e.event for e in order.timeline] == ["order_created", "stock_reserved"]
    assert [e.type for e in order.outbox] == ["OrderCreated"]
    assert order.outbox[0].data == order.summary()


def test_happy_path_reaches_confirmed_with_a_full_timeline() -> None:
    order = placed()
    order.apply(payment_succeeded("o1"))
    paid = order.status
    order.apply(stock_committed("o1"))
    assert (paid, order.status) == (OrderStatus.PAID, OrderStatus.CONFIRMED)
    assert [e.event for e in order.timeline][2:] == [
        "payment_approved",
        "stock_committed",
        "order_confirmed",
    ]
    assert [e.type for e in order.outbox] == ["OrderCreated"]
    assert [e.type for e in order.notices] == ["OrderConfirmed"]  # sent by the handler


def test_a_redelivered_event_changes_nothing_twice() -> None:
    order = placed()
    committed = stock_committed("o1")
    assert order.apply(committed)
    assert not order.apply(committed)
    assert [e.type for e in order.notices].count("OrderConfirmed") == 1


def test_release_cancels_and_terminal_states_stick() -> None:
    order = placed()
    order.apply(payment_failed("o1"))
    order.apply(stock_released("o1", reason="payment_declined"))
    assert order.status is OrderStatus.CANCELLED
    order.apply(stock_committed("o1"))
    assert order.status is OrderStatus.CANCELLED
    cancelled = [e for e in order.notices if isinstance(e, OrderCancelled)]
    assert len(cancelled) == 1 and cancelled[0].data.reason == "payment_declined"
    assert cancelled[0].data.items == order.items


def test_expiry_is_on_the_timeline() -> None:
    order = placed()
    order.apply(ReservationExpired(order_id="o1", data=NoData()))
    order.apply(stock_released("o1", reason="expired"))
    assert order.status is OrderStatus.CANCELLED
    assert "reservation_expired" in [e.event for e in order.timeline]


def test_orders_do_not_follow_the_emails_sent_about_them() -> None:
    # Notifications keeps the emails; storefront shows them beside the timeline.
    assert "NotificationSent" not in {e.model_fields["type"].default for e in FOLLOW_UPS}
    assert "NotificationSent" not in CONSUMERS  # retired: no longer published at all
