"""Notifications' use case: one email per order and kind."""

from __future__ import annotations

import logging

from junction.clock import now
from junction.store.aggregates import AggregateStore
from notifications.domain import KIND_OF_EVENT, OrderEmailEvent, SentEmail, compose, sent_event
from notifications.mailer import Mailer

logger = logging.getLogger(__name__)

Emails = AggregateStore[SentEmail]


async def send_order_email(
    emails: Emails, mailer: Mailer, event: OrderEmailEvent, *, sender: str, domain: str
) -> None:
    """Send the email an order event asks for, once; then emit NotificationSent.

    A crash between the send and the record resends it with the same Message-ID
    (at-least-once delivery, deduplicated by Message-ID).
    """
    kind = KIND_OF_EVENT[type(event)]
    key = f"{event.order_id}.{kind.value}"
    if await emails.get(key) is not None:
        return
    message = compose(event, kind, sender=sender, domain=domain)
    await mailer.send(message)
    record = SentEmail(
        order_id=event.order_id,
        kind=kind,
        to=str(message["To"]),
        message_id=str(message["Message-ID"]),
        sent_at=now(),
    )
    record.record(sent_event(record))
    if await emails.put_new(key, record):
        logger.info("email sent", extra={"order_id": event.order_id, "kind": kind.value})
