"""Payments' use cases."""

from __future__ import annotations

from junction.contracts.events import (
    OrderCancelled,
    PaymentFailed,
    PaymentRefunded,
    PaymentSucceeded,
)
from junction.contracts.payments import PaymentStatus
from junction.store.aggregates import AggregateStore
from payments.domain import Payment

Payments = AggregateStore[Payment]


async def charge(
    payments: Payments, *, order_id: str, amount_cents: int, token: str, customer_email: str
) -> tuple[Payment, bool]:
    """Charge once per order; (payment, created). A repeat returns the first result.

    The outcome's event (`PaymentSucceeded` or `PaymentFailed`) is kept with the charge and
    published before the answer, not through the outbox (decision 0014): no write to clear
    it. A charge answered has had its event published. A crash or a failed publish between
    the write and the publish fails the request; the caller's retry (the storefront's, or
    the customer's with the same Idempotency-Key) finds the charge and publishes the same
    event (same id) again before answering. A charge whose request nobody retries is left
    without its event: its reservation expires, the order is cancelled, and the charge is
    refunded (`refund_if_cancelled`), so approved = confirmed + refunded still holds."""
    payment = Payment.charge(order_id, amount_cents, token, customer_email)
    if await payments.put_new(order_id, payment):
        await payments.publish_notices(list(payment.notices))
        return payment, True
    existing = await payments.get(order_id)
    assert existing is not None
    # A repeat: the first attempt may have been cut off before its event went out. Only
    # the charge's own outcome; a refund announced since is its own handler's to repeat.
    await payments.publish_notices(
        [e for e in existing.value.notices if isinstance(e, PaymentSucceeded | PaymentFailed)]
    )
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
        # The refund only, not the charge's outcome kept beside it.
        await payments.announce_again(event.order_id, only=(PaymentRefunded,))
