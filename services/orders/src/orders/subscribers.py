"""Orders' subscribers: every follow-up event moves the order or extends its timeline."""

from __future__ import annotations

from junction.events import Event
from junction.runtime import ServiceRuntime
from orders import handlers
from orders.deps import OrdersDeps

FOLLOWED = (
    ("payments", "PaymentSucceeded"),
    ("payments", "PaymentFailed"),
    ("payments", "PaymentRefunded"),
    ("inventory", "StockCommitted"),
    ("inventory", "StockReleased"),
    ("inventory", "ReservationExpired"),
    ("notifications", "NotificationSent"),
)


def register(runtime: ServiceRuntime, deps: OrdersDeps) -> None:
    async def on_event(event: Event) -> None:
        await handlers.apply_event(deps.orders, event)

    for source, event_type in FOLLOWED:
        runtime.subscribe(source, event_type, on_event)
