from __future__ import annotations

from junction.events import Event
from junction.runtime import ServiceRuntime
from notifications import handlers
from notifications.domain import KIND_OF_EVENT
from notifications.handlers import Emails
from notifications.mailer import Mailer
from notifications.settings import NotificationsSettings


def register(
    runtime: ServiceRuntime, settings: NotificationsSettings, emails: Emails, mailer: Mailer
) -> None:
    async def on_order_event(event: Event) -> None:
        await handlers.send_order_email(
            emails, mailer, event, sender=settings.mail_from, domain=settings.mail_domain
        )

    for event_type in KIND_OF_EVENT:
        runtime.subscribe("orders", event_type, on_order_event)
