"""Inventory's subscribers: parse, call the handler; the consumer acks."""

from __future__ import annotations

from inventory import handlers
from inventory.deps import InventoryDeps
from junction.contracts.events import PaymentFailed, PaymentSucceeded, ReservationOpened
from junction.service import Subscribe


def register(subscribe: Subscribe, inv: InventoryDeps) -> None:
    async def on_payment_succeeded(event: PaymentSucceeded) -> None:
        await handlers.commit_stock(inv.stock, inv.reservations, event)

    async def on_payment_failed(event: PaymentFailed) -> None:
        await handlers.release_stock(
            inv.stock, inv.reservations, event.order_id, reason="payment_declined"
        )

    async def on_reservation_opened(event: ReservationOpened) -> None:
        await handlers.expire_reservation(inv.stock, inv.reservations, event)

    subscribe(PaymentSucceeded, on_payment_succeeded)
    subscribe(PaymentFailed, on_payment_failed)
    # Every open reservation is one message waiting for its deadline (nak with delay).
    subscribe(
        ReservationOpened,
        on_reservation_opened,
        max_ack_pending=inv.settings.max_open_reservations,
    )
