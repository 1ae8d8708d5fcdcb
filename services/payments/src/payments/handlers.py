"""Payments' use cases."""

from __future__ import annotations

from junction.contracts.events import OrderCancelled
from junction.contracts.payments import PaymentStatus
from junction.store.aggregates import AggregateStore
from payments.domain import Payment

Payments = AggregateStore[Payment]


async def charge(
    payments: Payments, *, order_id: str, amount_cents: int, token: str, customer_email: str
) -> tuple[Payment, bool]:
    """Charge once per order; (payment, created). A repeat returns the first result."""
    payment = Payment.charge(order_id, amount_cents, token, customer_email)
    if await payments.put_new(order_id, payment):
        return payment, True
    existing = await payments.get(order_id)
    assert existing is not None
    return existing.value, False


async def refund_if_cancelled(payments: Payments, event: OrderCancelled) -> None:
    """OrderCancelled: refund an approved charge, or void the order against a late one."""

    def change(payment: Payment | None) -> Payment | None:
        if payment is None:
            return Payment(
                order_id=event.order_id, status=PaymentStatus.VOID, decline_reason="order_cancelled"
            )
        return payment if payment.order_cancelled() else None

    if await payments.settle(event.order_id, change) is None:  # a repeat: refund announced?
        await payments.announce_again(event.order_id)
