"""Orders: the status machine and the timeline. Pure rules, no I/O."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from junction.events import Event, EventType, now
from junction.store import Aggregate

SOURCE = "orders"


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "PENDING_PAYMENT"
    PAID = "PAID"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


TERMINAL = frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED})


class OrderLine(BaseModel):
    sku: str
    quantity: int
    price_cents: int


class TimelineEntry(BaseModel):
    at: datetime
    service: str
    event: str


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
        order.record(
            Event(type="OrderCreated", source=SOURCE, order_id=order_id, data=order.summary())
        )
        return order

    def summary(self) -> dict[str, object]:
        return {
            "customer_email": self.customer_email,
            "total_cents": self.total_cents,
            "items": [i.model_dump() for i in self.items],
        }

    def note(self, service: str, event: str, at: datetime | None = None) -> None:
        self.timeline.append(TimelineEntry(at=at or now(), service=service, event=event))

    def apply(self, event: Event) -> bool:
        """Apply an event from another service; False when it changes nothing."""
        if self.has_processed(event.id):
            return False
        self.mark_processed(event.id)
        at = event.occurred_at
        match event.type:
            case "PaymentSucceeded":
                self.note("payments", "payment_approved", at)
                if self.status is OrderStatus.PENDING_PAYMENT:
                    self.status = OrderStatus.PAID
            case "PaymentFailed":
                self.note("payments", "payment_declined", at)
            case "PaymentRefunded":
                self.note("payments", "payment_refunded", at)
            case "StockCommitted":
                self.note("inventory", "stock_committed", at)
                if self.status not in TERMINAL:
                    self._finish(OrderStatus.CONFIRMED, "OrderConfirmed", {})
            case "ReservationExpired":
                self.note("inventory", "reservation_expired", at)
            case "StockReleased":
                self.note("inventory", "stock_released", at)
                if self.status not in TERMINAL:
                    reason = str(event.data.get("reason", "stock_released"))
                    self._finish(OrderStatus.CANCELLED, "OrderCancelled", {"reason": reason})
            case "NotificationSent":
                self.note("notifications", f"email_sent:{event.data.get('kind', 'unknown')}", at)
            case _:
                return False
        return True

    def _finish(self, status: OrderStatus, event_type: EventType, extra: dict[str, object]) -> None:
        self.status = status
        self.note(
            "orders", "order_confirmed" if status is OrderStatus.CONFIRMED else "order_cancelled"
        )
        self.record(
            Event(
                type=event_type,
                source=SOURCE,
                order_id=self.order_id,
                data={**self.summary(), **extra},
            )
        )
