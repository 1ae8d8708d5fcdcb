"""Which email an event asks for, and what it says. Pure rules, no I/O."""

from __future__ import annotations

from datetime import datetime
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.text import MIMEText
from email.policy import SMTPUTF8
from email.utils import formataddr, parseaddr
from enum import StrEnum

from junction.contracts.events import OrderCancelled, OrderConfirmed, OrderCreated
from junction.store.aggregates import Aggregate

# The order events that ask for an email.
OrderEmailEvent = OrderCreated | OrderConfirmed | OrderCancelled


class EmailKind(StrEnum):
    ORDER_RECEIVED = "order_received"
    RECEIPT = "receipt"
    CANCELLATION = "cancellation"


KIND_OF_EVENT: dict[type[OrderEmailEvent], EmailKind] = {
    OrderCreated: EmailKind.ORDER_RECEIVED,
    OrderConfirmed: EmailKind.RECEIPT,
    OrderCancelled: EmailKind.CANCELLATION,
}

SUBJECTS = {
    EmailKind.ORDER_RECEIVED: "We received your order {short}",
    EmailKind.RECEIPT: "Your receipt for order {short}",
    EmailKind.CANCELLATION: "Your order {short} was cancelled",
}


class SentEmail(Aggregate):
    """The record that an email went out. Its write wakes the order's open pages. Records
    of earlier versions also carry a retired `NotificationSent` (in the outbox, which the
    relay's sweep still drains, or as `notice`, now ignored)."""

    order_id: str
    kind: EmailKind
    to: str
    message_id: str
    sent_at: datetime


def message_id(order_id: str, kind: EmailKind, domain: str) -> str:
    """Stable Message-ID: a resend of the same email is recognisably the same message."""
    return f"<{order_id}.{kind.value}@{domain}>"


def header(value: str) -> str:
    """A header value as given when it is ASCII, RFC 2047-encoded otherwise."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def address(value: str) -> str:
    """An address header: the display name RFC 2047-encoded when it needs to be."""
    return formataddr(parseaddr(value), charset="utf-8")


def compose(event: OrderEmailEvent, kind: EmailKind, *, sender: str, domain: str) -> Message:
    """The email for an order event.

    Built with the `email` package's compat32 API (`MIMEText`): the modern `EmailMessage`
    parses every header it is given, and an email built and flattened that way cost about
    three times as much (docs/decisions/0006-smtp-pool.md). An address that is not ASCII
    (the checkout accepts internationalised addresses) needs SMTPUTF8, which only the
    modern API writes: those few emails take that path.
    """
    summary = event.data
    to = summary.customer_email
    lines = [f"  {i.quantity} x {i.sku} @ {i.price_cents / 100:.2f}" for i in summary.items]
    total = f"Total: {summary.total_cents / 100:.2f}"
    reason = event.data.reason if isinstance(event, OrderCancelled) else "cancelled"
    body = {
        EmailKind.ORDER_RECEIVED: ["Thank you! We received your order:", *lines, total],
        EmailKind.RECEIPT: [
            "Your payment was received and your order is confirmed:",
            *lines,
            total,
        ],
        EmailKind.CANCELLATION: [
            f"Your order was cancelled ({reason}).",
            "Any payment taken has been refunded.",
        ],
    }[kind]
    text = "\n".join([*body, "", f"Order {event.order_id}", ""])
    headers = {
        "Subject": SUBJECTS[kind].format(short=event.order_id[:8]),
        "Message-ID": message_id(event.order_id, kind, domain),
        "X-Junction-Order-Id": event.order_id,
        "X-Junction-Email-Kind": kind.value,
    }
    if not (parseaddr(sender)[1].isascii() and parseaddr(to)[1].isascii()):
        modern = EmailMessage(policy=SMTPUTF8)
        modern["From"], modern["To"] = sender, to
        for name, value in headers.items():
            modern[name] = value
        modern.set_content(text)
        return modern
    msg = MIMEText(text, "plain", "us-ascii" if text.isascii() else "utf-8")
    msg["From"], msg["To"] = address(sender), address(to)
    for name, value in headers.items():
        msg[name] = header(value)
    return msg


def body_text(msg: Message) -> str:
    """The decoded text of a message `compose` built."""
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(msg.get_content_charset() or "utf-8")
