"""The event envelope every service publishes, and the catalogue of streams and subjects."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SUPPORTED_VERSIONS = frozenset({1})


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

EventType = Literal[
    "OrderCreated",
    "OrderConfirmed",
    "OrderCancelled",
    "ReservationOpened",
    "StockCommitted",
    "StockReleased",
    "ReservationExpired",
    "PaymentSucceeded",
    "PaymentFailed",
    "PaymentRefunded",
    "NotificationSent",
]


def now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """One domain event: what happened to which order, as published on JetStream."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    type: EventType
    version: int = 1
    source: str
    order_id: str = Field(min_length=1, max_length=64)
    occurred_at: datetime = Field(default_factory=now)
    data: dict[str, Any] = Field(default_factory=dict)
    # W3C trace context of the request that caused the event, so the relay joins its trace.
    trace: dict[str, str] = Field(default_factory=dict)

    @property
    def subject(self) -> str:
        return subject_for(self.source, self.type)


def subject_for(source: str, event_type: str) -> str:
    """The subject an event of `event_type` from `source` is published on."""
    return f"{STREAM_OF_SOURCE[source].subjects[0].removesuffix('>')}{event_type}"


def dead_letter_subject(subject: str) -> str:
    """The dead-letter subject for a message that arrived on `subject`."""
    return f"dlq.{subject}"
