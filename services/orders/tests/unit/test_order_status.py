"""The order's status machine and timeline, driven by the typed events of other services."""

from datetime import timedelta

import pytest

from junction.clock import now
from junction.contracts.catalogue import CONSUMERS
from junction.contracts.common import OrderLine
from junction.contracts.events import (
    NoData,
    OrderCancelled,
    PaymentAmount,
    PaymentRefunded,
    ReservationExpired,
)
from junction.contracts.orders import OrderStatus
from junction_devtools.samples import (
    payment_failed,
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
    paid_at = now() - timedelta(milliseconds=30)
    order.apply(stock_committed("o1", paid_at=paid_at))  # the payment, as inventory saw it
    assert order.status is OrderStatus.CONFIRMED
    assert [(e.service, e.event) for e in order.timeline][2:] == [
        ("payments", "payment_approved"),
        ("inventory", "stock_committed"),
        ("orders", "order_confirmed"),
    ]
    assert order.timeline[2].at == paid_at
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


def test_stock_committed_by_an_earlier_version_still_notes_the_payment_once() -> None:
    order = placed()
    order.apply(stock_committed("o1"))  # no paid_at: the commit's own time stands in
    order.apply(stock_committed("o1"))  # (another copy, another id)
    assert [e.event for e in order.timeline].count("payment_approved") == 1


def test_a_charge_approved_after_its_stock_was_let_go_is_on_the_timeline_with_its_refund() -> None:
    order = placed()
    order.apply(ReservationExpired(order_id="o1", data=NoData()))
    order.apply(stock_released("o1", reason="expired"))
    charged_at = now() - timedelta(seconds=1)
    refund = PaymentAmount(amount_cents=300, charged_at=charged_at)
    order.apply(PaymentRefunded(order_id="o1", data=refund))
    assert order.status is OrderStatus.CANCELLED
    assert [e.event for e in order.timeline][-2:] == ["payment_approved", "payment_refunded"]
    assert order.timeline[-2].at == charged_at


def test_orders_learn_of_payments_from_stock_committed() -> None:
    assert "PaymentSucceeded" not in {e.model_fields["type"].default for e in FOLLOW_UPS}
    assert CONSUMERS["PaymentSucceeded"] == ("inventory",)


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
