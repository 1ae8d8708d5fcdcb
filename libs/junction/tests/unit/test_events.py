"""The events on the wire: subjects, typed round trips, byte-compatible JSON, and the
reasons a message is refused with."""

import json

import pytest

from junction.contracts.catalogue import CONSUMERS, dead_letter_subject, subject_for
from junction.contracts.events import (
    EVENT_BY_TYPE,
    EVENT_TYPES,
    EmailSent,
    NotificationSent,
    OrderConfirmed,
    OrderCreated,
    ReservationOpened,
    event_type,
    parse_event,
)
from junction.errors import PoisonMessage
from junction_devtools.samples import order_created, reservation_opened

pytestmark = pytest.mark.unit


def test_subjects_follow_the_source_stream() -> None:
    assert subject_for("orders", "OrderCreated") == "orders.OrderCreated"
    assert subject_for("payments", "PaymentFailed") == "payments.PaymentFailed"
    assert dead_letter_subject("orders.OrderCreated") == "dlq.orders.OrderCreated"
    assert order_created("o").subject == "orders.OrderCreated"


def test_every_event_has_consumers_and_every_consumer_an_event() -> None:
    assert set(CONSUMERS) == {event_type(e) for e in EVENT_TYPES}
    assert all(CONSUMERS.values())  # nothing is published that no service reads


def test_a_retired_event_still_parses_and_is_published_no_more() -> None:
    # What an earlier version stored with the retired NotificationSent keeps loading.
    retired = NotificationSent(
        order_id="o1", data=EmailSent(kind="receipt", message_id="<m>", to="c@example.com")
    )
    assert parse_event(retired.model_dump_json().encode(), NotificationSent) == retired
    assert "NotificationSent" in EVENT_BY_TYPE and "NotificationSent" not in CONSUMERS
    assert NotificationSent not in EVENT_TYPES


def test_an_event_round_trips_through_json_as_its_own_type() -> None:
    event = order_created("o-1")
    parsed = parse_event(event.model_dump_json().encode(), OrderCreated)
    assert parsed == event and type(parsed) is OrderCreated


def test_the_json_is_what_services_wrote_before_the_models_were_typed() -> None:
    # Written by the untyped envelope (data a plain dict): existing KV entries and messages
    # in flight must keep loading, and new ones must read the same.
    written_before = (
        '{"id":"e1","type":"ReservationOpened","version":1,"source":"inventory",'
        '"order_id":"o1","occurred_at":"2026-11-30T09:00:00Z",'
        '"data":{"expires_at":"2026-11-30T09:15:00+00:00"},"trace":{}}'
    )
    event = parse_event(written_before.encode(), ReservationOpened)
    assert event.model_dump_json() == written_before
    assert event.data.expires_at.isoformat() == "2026-11-30T09:15:00+00:00"


def test_a_typed_event_serializes_field_for_field_as_the_envelope_did() -> None:
    event = reservation_opened("o1")
    doc = json.loads(event.model_dump_json())
    assert list(doc) == [
        "id", "type", "version", "source", "order_id", "occurred_at", "data", "trace"
    ]  # fmt: skip
    assert doc["data"]["expires_at"].endswith("+00:00")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json at all", "malformed event"),
        (b'{"type": "OrderCreated", "source": "orders"}', "invalid data, order_id"),
        (b'{"type": "Unheard", "source": "orders"}', "malformed event"),
        (
            order_created("o").model_copy(update={"version": 9}).model_dump_json().encode(),
            "unsupported event version 9 of OrderCreated",
        ),
        (
            b'{"type":"OrderConfirmed","source":"orders","order_id":"x","version":99}',
            "unsupported event version 99 of OrderConfirmed",
        ),
        (
            OrderConfirmed(order_id="o", data=order_created("o").data).model_dump_json().encode(),
            "expected a OrderCreated event, got OrderConfirmed",
        ),
    ],
)
def test_poison_messages_are_named_with_their_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(PoisonMessage, match=reason):
        parse_event(payload, OrderCreated)


def test_the_type_on_the_wire_is_the_models_name() -> None:
    for name, model in EVENT_BY_TYPE.items():
        assert event_type(model) == name == model.__name__
