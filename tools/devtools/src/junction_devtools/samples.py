"""Events as the services publish them, with plausible data, for tests and benchmarks."""

from __future__ import annotations

from datetime import datetime

from junction.clock import now
from junction.contracts.common import OrderLine
from junction.contracts.events import (
    OrderCancellation,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderSummary,
    PaymentFailed,
    PaymentOutcome,
    PaymentSucceeded,
    ReservationOpened,
    ReservationTimer,
    StockCommit,
    StockCommitted,
    StockRelease,
    StockReleased,
)

LINE = OrderLine(sku="JNC-MUG", quantity=2, price_cents=1200)


def summary(email: str = "ada@example.com", lines: list[OrderLine] | None = None) -> OrderSummary:
    items = lines if lines is not None else [LINE]
    total = sum(i.price_cents * i.quantity for i in items)
    return OrderSummary(customer_email=email, total_cents=total, items=items)


def order_created(order_id: str, email: str = "ada@example.com") -> OrderCreated:
    return OrderCreated(order_id=order_id, data=summary(email))


def order_confirmed(order_id: str, email: str = "ada@example.com") -> OrderConfirmed:
    return OrderConfirmed(order_id=order_id, data=summary(email))


def order_cancelled(order_id: str, reason: str = "payment_declined") -> OrderCancelled:
    data = OrderCancellation(**summary().model_dump(), reason=reason)
    return OrderCancelled(order_id=order_id, data=data)


def payment_succeeded(order_id: str, amount_cents: int = 2400) -> PaymentSucceeded:
    return PaymentSucceeded(order_id=order_id, data=PaymentOutcome(amount_cents=amount_cents))


def payment_failed(order_id: str, amount_cents: int = 2400) -> PaymentFailed:
    outcome = PaymentOutcome(amount_cents=amount_cents, reason="card_declined")
    return PaymentFailed(order_id=order_id, data=outcome)


def stock_committed(order_id: str, paid_at: datetime | None = None) -> StockCommitted:
    return StockCommitted(
        order_id=order_id, data=StockCommit(lines={LINE.sku: LINE.quantity}, paid_at=paid_at)
    )


def stock_released(order_id: str, reason: str = "payment_declined") -> StockReleased:
    data = StockRelease(lines={LINE.sku: LINE.quantity}, reason=reason)
    return StockReleased(order_id=order_id, data=data)


def reservation_opened(order_id: str, expires_at: datetime | None = None) -> ReservationOpened:
    return ReservationOpened(
        order_id=order_id, data=ReservationTimer(expires_at=expires_at or now())
    )
