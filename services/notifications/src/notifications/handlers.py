"""Notifications' use case: one email per order and kind."""

from __future__ import annotations

import logging

from junction.clock import now
from junction.messaging.consumer import first_delivery
from junction.store.aggregates import AggregateStore
from notifications.domain import KIND_OF_EVENT, OrderEmailEvent, SentEmail, compose
from notifications.mailer import Mailer

logger = logging.getLogger(__name__)

Emails = AggregateStore[SentEmail]


async def send_order_email(
    emails: Emails,
    mailer: Mailer,
    event: OrderEmailEvent,
    *,
    sender: str,
    domain: str,
) -> None:
    """Send the email an order event asks for, once, and record that it went out.

    A crash between the send and the record resends it with the same Message-ID
    (at-least-once delivery, deduplicated by Message-ID). Nothing is published: the
    record's write is what wakes an open order page (the storefront watches the bucket's
    subjects, docs/decisions/0012-emails-wake-pages-from-their-records.md).

    The record is looked for only when this consumer may have been given the event before
    (`first_delivery`): on a first delivery of the event's first copy there is none to
    find (orders emits one event per order and kind; `first_delivery` rules out copies of
    it). Were one there all the same, the email would go out again with its Message-ID, as
    after a crash between the send and the record, and the create below would find the
    record and leave it be.
    """
    kind = KIND_OF_EVENT[type(event)]
    key = f"{event.order_id}.{kind.value}"
    if not first_delivery(event) and await emails.get(key) is not None:
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
    if await emails.put_new(key, record):
        logger.info("email sent", extra={"order_id": event.order_id, "kind": kind.value})
