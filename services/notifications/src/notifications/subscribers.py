"""Notifications' subscribers: each order event that asks for an email."""

from __future__ import annotations

from junction.service import Subscribe
from notifications import handlers
from notifications.domain import KIND_OF_EVENT, OrderEmailEvent
from notifications.handlers import Emails
from notifications.mailer import Mailer
from notifications.settings import NotificationsSettings


def register(
    subscribe: Subscribe,
    settings: NotificationsSettings,
    emails: Emails,
    mailer: Mailer,
) -> None:
    async def on_order_event(event: OrderEmailEvent) -> None:
        await handlers.send_order_email(
            emails,
            mailer,
            event,
            sender=settings.mail_from,
            domain=settings.mail_domain,
        )

    for event in KIND_OF_EVENT:
        subscribe(event, on_order_event)
