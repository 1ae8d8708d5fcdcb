import pytest

from junction.events import Event
from orders.domain import Order, OrderLine, OrderStatus

pytestmark = pytest.mark.unit


def placed() -> Order:
    return Order.place("o1", "c@example.com", [OrderLine(sku="A", quantity=2, price_cents=150)])


def event(type_: str, source: str, **data: object) -> Event:
    return Event(type=type_, source=source, order_id="o1", data=data)  # type: ignore[arg-type]


def test_a_placed_order_waits_for_payment_and_announces_itself() -> None:
    order = placed()
    assert order.status is OrderStatus.PENDING_PAYMENT and order.total_cents == 300
    assert [e.event for e in order.timeline] == ["order_created", "stock_reserved"]
    assert [e.type for e in order.outbox] == ["OrderCreated"]


def test_happy_path_reaches_confirmed_with_a_full_timeline() -> None:
    order = placed()
    order.apply(event("PaymentSucceeded", "payments"))
    assert order.status is OrderStatus.PAID
    order.apply(event("StockCommitted", "inventory"))
    order.apply(event("NotificationSent", "notifications", kind="receipt"))
    assert order.status is OrderStatus.CONFIRMED
    assert [e.event for e in order.timeline][2:] == [
        "payment_approved",
        "stock_committed",
        "order_confirmed",
        "email_sent:receipt",
    ]
    assert [e.type for e in order.outbox] == ["OrderCreated", "OrderConfirmed"]


def test_a_redelivered_event_changes_nothing_twice() -> None:
    order = placed()
    committed = event("StockCommitted", "inventory")
    assert order.apply(committed)
    assert not order.apply(committed)
    assert [e.type for e in order.outbox].count("OrderConfirmed") == 1


def test_release_cancels_and_terminal_states_stick() -> None:
    order = placed()
    order.apply(event("PaymentFailed", "payments"))
    order.apply(event("StockReleased", "inventory", reason="payment_declined"))
    assert order.status is OrderStatus.CANCELLED
    order.apply(event("StockCommitted", "inventory"))
    assert order.status is OrderStatus.CANCELLED
    cancelled = [e for e in order.outbox if e.type == "OrderCancelled"]
    assert len(cancelled) == 1 and cancelled[0].data["reason"] == "payment_declined"


def test_expiry_is_on_the_timeline() -> None:
    order = placed()
    order.apply(event("ReservationExpired", "inventory"))
    order.apply(event("StockReleased", "inventory", reason="expired"))
    assert order.status is OrderStatus.CANCELLED
    assert "reservation_expired" in [e.event for e in order.timeline]
