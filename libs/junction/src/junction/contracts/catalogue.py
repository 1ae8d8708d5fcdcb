"""The platform's streams and who uses them: the service that owns each stream (declares
it and publishes its events) and the services that consume each event.

Consumers register against this table (`ServiceRuntime.subscribe` refuses an event its
service is not listed for), and the AsyncAPI document is generated from it, so the two
cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StreamSpec:
    """A JetStream stream and the service that owns (declares) it."""

    name: str
    owner: str
    subjects: tuple[str, ...]


ORDERS = StreamSpec("ORDERS", "orders", ("orders.>",))
INVENTORY = StreamSpec("INVENTORY", "inventory", ("inventory.>",))
PAYMENTS = StreamSpec("PAYMENTS", "payments", ("payments.>",))
NOTIFICATIONS = StreamSpec("NOTIFICATIONS", "notifications", ("notifications.>",))
DEAD_LETTERS = StreamSpec("DLQ", "*", ("dlq.>",))

STREAMS: dict[str, StreamSpec] = {s.name: s for s in (ORDERS, INVENTORY, PAYMENTS, NOTIFICATIONS)}
STREAM_OF_SOURCE: dict[str, StreamSpec] = {s.owner: s for s in STREAMS.values()}

# Event type -> the services that consume it (each with one durable consumer).
CONSUMERS: dict[str, tuple[str, ...]] = {
    "OrderCreated": ("notifications",),
    "OrderConfirmed": ("notifications",),
    "OrderCancelled": ("notifications", "payments"),
    "ReservationOpened": ("inventory",),
    "StockCommitted": ("orders",),
    "StockReleased": ("orders",),
    "ReservationExpired": ("orders",),
    # Orders learns of the payment from StockCommitted, which carries its time (decision
    # 0016): one delivery and one order write fewer per checkout.
    "PaymentSucceeded": ("inventory",),
    "PaymentFailed": ("inventory", "orders"),
    "PaymentRefunded": ("orders",),
}
# Notifications publishes no events (the retired NotificationSent aside, which a record
# of an earlier version may still hold): live order pages wake on its email records'
# writes instead (docs/decisions/0012). Its stream stays, for those old records.


def subject_for(source: str, event_type: str) -> str:
    """The subject an event of `event_type` from `source` is published on."""
    return f"{STREAM_OF_SOURCE[source].subjects[0].removesuffix('>')}{event_type}"


def dead_letter_subject(subject: str) -> str:
    """The dead-letter subject for a message that arrived on `subject`."""
    return f"dlq.{subject}"


def durable_name(service: str, event_type: str) -> str:
    """The durable consumer through which `service` consumes `event_type`."""
    return f"{service}-{event_type}"
