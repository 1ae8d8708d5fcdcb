"""The integration events: one typed model per event, sharing one envelope.

Publishers construct these models and consumers receive them, so renaming a field fails
the type check in every service that reads it. On the wire an event is its envelope as
JSON (`id`, `type`, `version`, `source`, `order_id`, `occurred_at`, `data`, `trace`); `type`
tells which model `data` follows.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, TypeAdapter, ValidationError

from junction.clock import new_id, now
from junction.contracts.catalogue import subject_for
from junction.contracts.common import OrderLine
from junction.errors import PoisonMessage

SUPPORTED_VERSIONS = frozenset({1})

# Written as `datetime.isoformat()` writes it (`+00:00`), as events always were.
IsoDateTime = Annotated[datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrderSummary(Payload):
    customer_email: str
    total_cents: int
    items: list[OrderLine]


class OrderCancellation(OrderSummary):
    reason: str


class ReservationTimer(Payload):
    expires_at: IsoDateTime


class StockLines(Payload):
    lines: dict[str, int]


class StockRelease(StockLines):
    reason: str


class StockCommit(StockLines):
    # When the payment that committed the stock was approved: orders learns of the payment
    # from StockCommitted, not from PaymentSucceeded (decision 0016). None from earlier
    # versions.
    paid_at: IsoDateTime | None = None


class NoData(Payload):
    pass


class PaymentOutcome(Payload):
    amount_cents: int
    reason: str | None = None


class PaymentAmount(Payload):
    amount_cents: int
    # When the refunded charge was approved (PaymentRefunded), for the order's timeline:
    # orders does not follow PaymentSucceeded (decision 0016). None from earlier versions.
    charged_at: IsoDateTime | None = None


class EmailSent(Payload):
    kind: str
    message_id: str
    to: str


class EventEnvelope(BaseModel):
    """What every event carries besides its data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=new_id)
    type: str
    version: int = 1
    source: str
    order_id: str = Field(min_length=1, max_length=64)
    occurred_at: datetime = Field(default_factory=now)
    data: Payload
    # W3C trace context of the request that caused the event, so the relay joins its trace.
    trace: dict[str, str] = Field(default_factory=dict)

    @property
    def subject(self) -> str:
        return subject_for(self.source, self.type)


class OrderCreated(EventEnvelope):
    """An order was stored with its stock reserved; it waits for payment."""

    type: Literal["OrderCreated"] = "OrderCreated"
    source: Literal["orders"] = "orders"
    data: OrderSummary


class OrderConfirmed(EventEnvelope):
    """Paid and its stock deducted: the order is complete."""

    type: Literal["OrderConfirmed"] = "OrderConfirmed"
    source: Literal["orders"] = "orders"
    data: OrderSummary


class OrderCancelled(EventEnvelope):
    """The order will not be fulfilled (declined, expired); any charge is refunded."""

    type: Literal["OrderCancelled"] = "OrderCancelled"
    source: Literal["orders"] = "orders"
    data: OrderCancellation


class ReservationOpened(EventEnvelope):
    """Stock was held for an order until a deadline: the reservation's timer."""

    type: Literal["ReservationOpened"] = "ReservationOpened"
    source: Literal["inventory"] = "inventory"
    data: ReservationTimer


class StockCommitted(EventEnvelope):
    """The held units of a paid order were deducted from stock."""

    type: Literal["StockCommitted"] = "StockCommitted"
    source: Literal["inventory"] = "inventory"
    data: StockCommit


class StockReleased(EventEnvelope):
    """The held units went back to stock (payment declined, or the hold expired)."""

    type: Literal["StockReleased"] = "StockReleased"
    source: Literal["inventory"] = "inventory"
    data: StockRelease


class ReservationExpired(EventEnvelope):
    """The payment did not come before the reservation's deadline."""

    type: Literal["ReservationExpired"] = "ReservationExpired"
    source: Literal["inventory"] = "inventory"
    data: NoData = Field(default_factory=NoData)


class PaymentSucceeded(EventEnvelope):
    """The charge was approved."""

    type: Literal["PaymentSucceeded"] = "PaymentSucceeded"
    source: Literal["payments"] = "payments"
    data: PaymentOutcome


class PaymentFailed(EventEnvelope):
    """The charge was declined."""

    type: Literal["PaymentFailed"] = "PaymentFailed"
    source: Literal["payments"] = "payments"
    data: PaymentOutcome


class PaymentRefunded(EventEnvelope):
    """An approved charge was refunded (its order was cancelled)."""

    type: Literal["PaymentRefunded"] = "PaymentRefunded"
    source: Literal["payments"] = "payments"
    data: PaymentAmount


class NotificationSent(EventEnvelope):
    """Retired: an email about the order went to the customer. No longer published
    (docs/decisions/0012-emails-wake-pages-from-their-records.md); the type stays so that
    what earlier versions stored with it (an email's record, an outbox) still loads and
    drains. Not in `EVENT_TYPES`: no channel, no consumer."""

    type: Literal["NotificationSent"] = "NotificationSent"
    source: Literal["notifications"] = "notifications"
    data: EmailSent


Event = Annotated[
    OrderCreated
    | OrderConfirmed
    | OrderCancelled
    | ReservationOpened
    | StockCommitted
    | StockReleased
    | ReservationExpired
    | PaymentSucceeded
    | PaymentFailed
    | PaymentRefunded
    | NotificationSent,
    Field(discriminator="type"),
]
"""Any integration event: parsed by its `type`."""

EVENT_TYPES: tuple[type[EventEnvelope], ...] = (
    OrderCreated,
    OrderConfirmed,
    OrderCancelled,
    ReservationOpened,
    StockCommitted,
    StockReleased,
    ReservationExpired,
    PaymentSucceeded,
    PaymentFailed,
    PaymentRefunded,
)
"""The events the platform publishes (the catalogue, the AsyncAPI document)."""
RETIRED_EVENT_TYPES: tuple[type[EventEnvelope], ...] = (NotificationSent,)
"""No longer published; parsed still, for what earlier versions stored."""
EVENT_BY_TYPE: dict[str, type[EventEnvelope]] = {
    e.model_fields["type"].default: e for e in EVENT_TYPES + RETIRED_EVENT_TYPES
}

_EVENT = TypeAdapter[Event](Event)

E = TypeVar("E", bound=EventEnvelope)


def event_type(event: type[EventEnvelope]) -> str:
    """The `type` an event model carries on the wire."""
    name: str = event.model_fields["type"].default
    return name


def event_source(event: type[EventEnvelope]) -> str:
    """The service that publishes an event model (it owns the stream)."""
    source: str = event.model_fields["source"].default
    return source


def parse_event(data: bytes, expected: type[E]) -> E:
    """Parse and check one event; PoisonMessage, with the reason, when it can never be
    processed (malformed, of a version this code does not know, or not the expected type)."""
    try:
        event = _EVENT.validate_json(data)
    except ValidationError as exc:
        version, kind = _header(data)
        if version is not None and version not in SUPPORTED_VERSIONS:
            raise PoisonMessage(f"unsupported event version {version} of {kind}") from exc
        fields = ", ".join(sorted({_field(e["loc"]) for e in exc.errors()}))
        raise PoisonMessage(f"malformed event: invalid {fields}") from exc
    if event.version not in SUPPORTED_VERSIONS:
        raise PoisonMessage(f"unsupported event version {event.version} of {event.type}")
    if not isinstance(event, expected):
        raise PoisonMessage(f"expected a {event_type(expected)} event, got {event.type}")
    return event


def _field(loc: tuple[int | str, ...]) -> str:
    # A discriminated union puts the event's type first in the location: drop it.
    parts = [str(p) for p in loc]
    if parts and parts[0] in EVENT_BY_TYPE:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _header(data: bytes) -> tuple[Any, Any]:
    """The version and type an invalid message claims, where it is JSON enough to say."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None, None
    if not isinstance(doc, dict):
        return None, None
    return doc.get("version"), doc.get("type")
