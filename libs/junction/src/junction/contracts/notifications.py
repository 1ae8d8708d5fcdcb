"""Notifications' HTTP API: which emails about an order went out, read by storefront to
complete an order's timeline (orders does not record them:
docs/decisions/0011-announced-events.md)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class EmailView(BaseModel):
    kind: str
    sent_at: datetime
    message_id: str


class OrderEmails(BaseModel):
    """GET /orders/{order_id}/emails: the emails sent about an order, oldest first (none
    yet is an empty list: notifications knows emails, not orders)."""

    order_id: str
    emails: list[EmailView]
