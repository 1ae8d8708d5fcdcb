"""Payments: test-mode card tokens and the payment record. Pure rules, no I/O."""

from __future__ import annotations

from datetime import datetime

from junction.clock import now
from junction.contracts.events import (
    PaymentAmount,
    PaymentFailed,
    PaymentOutcome,
    PaymentRefunded,
    PaymentSucceeded,
)
from junction.contracts.payments import PaymentStatus
from junction.store.aggregates import Aggregate

# Test-mode tokens, in the manner of card processors' sandboxes.
APPROVED_TOKENS = frozenset({"tok_visa", "tok_mastercard"})
DECLINED_TOKENS = frozenset({"tok_declined", "tok_insufficient_funds"})
KNOWN_TOKENS = APPROVED_TOKENS | DECLINED_TOKENS


class Payment(Aggregate):
    order_id: str
    amount_cents: int = 0
    customer_email: str = ""
    status: PaymentStatus
    decline_reason: str | None = None
    charged_at: datetime | None = None
    refunded_at: datetime | None = None

    @classmethod
    def charge(cls, order_id: str, amount_cents: int, token: str, customer_email: str) -> Payment:
        approved = token in APPROVED_TOKENS
        payment = cls(
            order_id=order_id,
            amount_cents=amount_cents,
            customer_email=customer_email,
            charged_at=now(),
            status=PaymentStatus.APPROVED if approved else PaymentStatus.DECLINED,
            decline_reason=None if approved else "card_declined",
        )
        outcome = PaymentOutcome(amount_cents=amount_cents, reason=payment.decline_reason)
        # Kept with the charge, not in its outbox: the charge's handler publishes it before
        # it answers (decision 0014), so it needs no write to clear it.
        payment.announce(
            PaymentSucceeded(order_id=order_id, data=outcome)
            if approved
            else PaymentFailed(order_id=order_id, data=outcome)
        )
        return payment

    def order_cancelled(self) -> bool:
        """The order was cancelled: refund an approved charge. False when nothing changes."""
        if self.status is not PaymentStatus.APPROVED:
            return False
        self.status = PaymentStatus.REFUNDED
        self.refunded_at = now()
        self.announce(
            PaymentRefunded(
                order_id=self.order_id,
                data=PaymentAmount(amount_cents=self.amount_cents, charged_at=self.charged_at),
            )
        )
        return True
