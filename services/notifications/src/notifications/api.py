"""Notifications' HTTP API (internal: read by storefront for an order's timeline)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from junction.contracts.common import OrderId
from junction.contracts.notifications import EmailView, OrderEmails
from notifications.deps import NotificationsDep
from notifications.domain import EmailKind

router = APIRouter()


@router.get("/orders/{order_id}/emails")
async def order_emails(order_id: OrderId, deps: NotificationsDep) -> OrderEmails:
    """The emails sent about an order: one read per kind (there are three), at once."""
    found = await asyncio.gather(*(deps.emails.get(f"{order_id}.{k.value}") for k in EmailKind))
    sent = sorted((f.value for f in found if f is not None), key=lambda e: e.sent_at)
    return OrderEmails(
        order_id=order_id,
        emails=[
            EmailView(kind=e.kind.value, sent_at=e.sent_at, message_id=e.message_id) for e in sent
        ],
    )
