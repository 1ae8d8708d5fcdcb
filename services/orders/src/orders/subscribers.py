"""Orders' subscribers: every follow-up event moves the order or extends its timeline."""

from __future__ import annotations

from junction.service import Subscribe
from orders import handlers
from orders.deps import OrdersDeps
from orders.domain import FOLLOW_UPS, FollowUp


def register(subscribe: Subscribe, deps: OrdersDeps) -> None:
    async def on_event(event: FollowUp) -> None:
        await handlers.apply_event(deps.orders, event)

    for event in FOLLOW_UPS:
        subscribe(event, on_event)
