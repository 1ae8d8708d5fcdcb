from __future__ import annotations

from junction.events import Event
from junction.runtime import ServiceRuntime
from payments import handlers
from payments.deps import PaymentsDeps


def register(runtime: ServiceRuntime, deps: PaymentsDeps) -> None:
    async def on_order_cancelled(event: Event) -> None:
        await handlers.refund_if_cancelled(deps.payments, event)

    runtime.subscribe("orders", "OrderCancelled", on_order_cancelled)
