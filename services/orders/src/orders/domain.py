"""Orders: the status machine and the timeline. Pure rules, no I/O."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from junction.clock import now
from junction.contracts.common import OrderLine
from junction.contracts.events import (
    OrderCancellation,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderSummary,
    PaymentFailed,
    PaymentRefunded,
    ReservationExpired,
    StockCommitted,
    StockReleased,
)
from junction.contracts.orders import TERMINAL, OrderStatus, TimelineEntry
from junction.store.aggregates import Aggregate

# The events of other services that move an order or extend its timeline. Not the emails
# sent about it: notifications keeps those, and storefront shows them beside the timeline
# (docs/decisions/0011-announced-events.md). Not PaymentSucceeded: StockCommitted, which
# inventory publishes for it, says when the payment was approved (decision 0016).
FollowUp = PaymentFailed | PaymentRefunded | StockCommitted | StockReleased | ReservationExpired
FOLLOW_UPS: tuple[type[FollowUp], ...] = (
    PaymentFailed,
    PaymentRefunded,
    StockCommitted,
    StockReleased,
    ReservationExpired,
)


class Order(Aggregate):
    order_id: str
    customer_email: str
    items: list[OrderLine]
    total_cents: int
    status: OrderStatus = OrderStatus.PENDING_PAYMENT
    created_at: datetime = Field(default_factory=now)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    trace_id: str | None = None  # the checkout's trace, so a person can open it

    @classmethod
    def place(
        cls,
        order_id: str,
        customer_email: str,
        items: list[OrderLine],
        trace_id: str | None = None,
    ) -> Order:
        """A new order whose stock is already reserved; it now waits for payment."""
        order = cls(
            order_id=order_id,
            customer_email=customer_email,
            items=items,
            total_cents=sum(i.price_cents * i.quantity for i in items),
            trace_id=trace_id,
        )
        order.note("orders", "order_created", order.created_at)
        order.note("inventory", "stock_reserved", order.created_at)
        order.record(OrderCreated(order_id=order_id, data=order.summary()))
        return order

    def summary(self) -> OrderSummary:
        return OrderSummary(
            customer_email=self.customer_email, total_cents=self.total_cents, items=self.items
        )

    def note(self, service: str, event: str, at: datetime | None = None) -> None:
        self.timeline.append(TimelineEntry(at=at or now(), service=service, event=event))

    def apply(self, event: FollowUp) -> bool:
        """Apply an event from another service; False when it changes nothing."""
        if self.has_processed(event.id):
            return False
        self.mark_processed(event.id)
        at = event.occurred_at
        match event:
            case PaymentFailed():
                self.note("payments", "payment_declined", at)
            case PaymentRefunded():
                if event.data.charged_at is not None:  # approved after its stock was let go
                    self._paid(event.data.charged_at)
                self.note("payments", "payment_refunded", at)
            case StockCommitted():
                self._paid(event.data.paid_at or at)
                self.note("inventory", "stock_committed", at)
                if self.status not in TERMINAL:
                    self._confirm()
            case ReservationExpired():
                self.note("inventory", "reservation_expired", at)
            case StockReleased():
                self.note("inventory", "stock_released", at)
                if self.status not in TERMINAL:
                    self._cancel(event.data.reason)
        return True

    def _paid(self, at: datetime) -> None:
        """Note the approved payment, once (an order stored by an earlier version may have
        noted it from PaymentSucceeded)."""
        if not any(e.event == "payment_approved" for e in self.timeline):
            self.note("payments", "payment_approved", at)

    def _confirm(self) -> None:
        self.status = OrderStatus.CONFIRMED
        self.note("orders", "order_confirmed")
        self.announce(OrderConfirmed(order_id=self.order_id, data=self.summary()))

    def _cancel(self, reason: str) -> None:
        self.status = OrderStatus.CANCELLED
        self.note("orders", "order_cancelled")
        cancellation = OrderCancellation(**self.summary().model_dump(), reason=reason)
        self.announce(OrderCancelled(order_id=self.order_id, data=cancellation))
