"""Notifications' use case: one email per order and kind."""

from __future__ import annotations

import logging

from junction.clock import now
from junction.messaging.consumer import first_delivery
from junction.store.aggregates import AggregateStore
from junction.store.outbox import EventPublisher
from notifications.domain import KIND_OF_EVENT, OrderEmailEvent, SentEmail, compose, sent_event
from notifications.mailer import Mailer

logger = logging.getLogger(__name__)

Emails = AggregateStore[SentEmail]


async def send_order_email(
    emails: Emails,
    mailer: Mailer,
    publisher: EventPublisher,
    event: OrderEmailEvent,
    *,
    sender: str,
    domain: str,
) -> None:
    """Send the email an order event asks for, once; then publish NotificationSent.

    A crash between the send and the record resends it with the same Message-ID
    (at-least-once delivery, deduplicated by Message-ID).

    `NotificationSent` needs no outbox here: the order event that asked for the email is
    acknowledged only after this returns, so a crash between the record and the publish
    redelivers it, and the redelivery finds the record and publishes its event again
    (same id: JetStream's duplicate window and orders' processed ids absorb a repeat). An
    outbox would cost a write to clear it, since nothing writes the record again.

    The record is looked for only when this consumer may have been given the event before
    (`first_delivery`): on a first delivery of the event's first copy there is none to
    find (orders emits one event per order and kind; `first_delivery` rules out copies of
    it). Were one there all the same, the email would go out again with its Message-ID, as
    after a crash between the send and the record, and the write below would find the
    record and publish its event.
    """
    kind = KIND_OF_EVENT[type(event)]
    key = f"{event.order_id}.{kind.value}"
    found = None if first_delivery(event) else await emails.get(key)
    if found is not None:
        await publish_notice(publisher, found.value)
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
    record.notice = sent_event(record)
    if await emails.put_new(key, record):
        logger.info("email sent", extra={"order_id": event.order_id, "kind": kind.value})
    elif (again := await emails.get(key)) is not None:  # a concurrent delivery wrote first
        record = again.value
    await publish_notice(publisher, record)


async def publish_notice(publisher: EventPublisher, record: SentEmail) -> None:
    """Publish the record's NotificationSent (none on records of earlier versions: the
    relay publishes theirs from the outbox)."""
    if record.notice is not None:
        await publisher.publish(record.notice)
