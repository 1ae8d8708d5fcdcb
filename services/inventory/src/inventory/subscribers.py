"""Inventory's JetStream subscribers: parse, call the handler; the runtime acks."""

from __future__ import annotations

from inventory import handlers
from inventory.deps import Inventory
from junction.events import Event
from junction.runtime import ServiceRuntime


def register(runtime: ServiceRuntime, inv: Inventory) -> None:
    async def on_payment_succeeded(event: Event) -> None:
        await handlers.commit_stock(inv.stock, inv.reservations, event)

    async def on_payment_failed(event: Event) -> None:
        await handlers.release_stock(
            inv.stock, inv.reservations, event.order_id, reason="payment_declined"
        )

    async def on_reservation_opened(event: Event) -> None:
        await handlers.expire_reservation(inv.stock, inv.reservations, event)

    runtime.subscribe("payments", "PaymentSucceeded", on_payment_succeeded)
    runtime.subscribe("payments", "PaymentFailed", on_payment_failed)
    # Every open reservation is one message waiting for its deadline (nak with delay).
    runtime.subscribe(
        "inventory",
        "ReservationOpened",
        on_reservation_opened,
        max_ack_pending=inv.settings.max_open_reservations,
    )
