"""Which email an event asks for, and what it says. Pure rules, no I/O."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum
from typing import Any

from junction.events import Event
from junction.store import Aggregate

SOURCE = "notifications"


class EmailKind(StrEnum):
    ORDER_RECEIVED = "order_received"
    RECEIPT = "receipt"
    CANCELLATION = "cancellation"


KIND_OF_EVENT = {
    "OrderCreated": EmailKind.ORDER_RECEIVED,
    "OrderConfirmed": EmailKind.RECEIPT,
    "OrderCancelled": EmailKind.CANCELLATION,
}

SUBJECTS = {
    EmailKind.ORDER_RECEIVED: "We received your order {short}",
    EmailKind.RECEIPT: "Your receipt for order {short}",
    EmailKind.CANCELLATION: "Your order {short} was cancelled",
}


class SentEmail(Aggregate):
    order_id: str
    kind: EmailKind
    to: str
    message_id: str
    sent_at: datetime


def message_id(order_id: str, kind: EmailKind, domain: str) -> str:
    """Stable Message-ID: a resend of the same email is recognisably the same message."""
    return f"<{order_id}.{kind.value}@{domain}>"


def compose(event: Event, kind: EmailKind, *, sender: str, domain: str) -> EmailMessage:
    data: dict[str, Any] = event.data
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = str(data["customer_email"])
    msg["Subject"] = SUBJECTS[kind].format(short=event.order_id[:8])
    msg["Message-ID"] = message_id(event.order_id, kind, domain)
    msg["X-Junction-Order-Id"] = event.order_id
    msg["X-Junction-Email-Kind"] = kind.value
    lines = [
        f"  {i['quantity']} x {i['sku']} @ {i['price_cents'] / 100:.2f}"
        for i in data.get("items", [])
    ]
    total = f"Total: {int(data.get('total_cents', 0)) / 100:.2f}"
    body = {
        EmailKind.ORDER_RECEIVED: ["Thank you! We received your order:", *lines, total],
        EmailKind.RECEIPT: [
            "Your payment was received and your order is confirmed:",
            *lines,
            total,
        ],
        EmailKind.CANCELLATION: [
            f"Your order was cancelled ({data.get('reason', 'cancelled')}).",
            "Any payment taken has been refunded.",
        ],
    }[kind]
    msg.set_content("\n".join([*body, "", f"Order {event.order_id}"]))
    return msg


def sent_event(email: SentEmail) -> Event:
    return Event(
        type="NotificationSent",
        source=SOURCE,
        order_id=email.order_id,
        data={"kind": email.kind.value, "message_id": email.message_id, "to": email.to},
    )
