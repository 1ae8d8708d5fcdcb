"""Payments' subscriber: a cancelled order is refunded (or voided against a late charge)."""

from __future__ import annotations

from junction.contracts.events import OrderCancelled
from junction.service import Subscribe
from payments import handlers
from payments.deps import PaymentsDeps


def register(subscribe: Subscribe, deps: PaymentsDeps) -> None:
    async def on_order_cancelled(event: OrderCancelled) -> None:
        await handlers.refund_if_cancelled(deps.payments, event)

    subscribe(OrderCancelled, on_order_cancelled)
