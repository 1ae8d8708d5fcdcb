import pytest

from junction.errors import PoisonMessage
from junction.events import Event, dead_letter_subject, subject_for
from junction.messaging import parse_event

pytestmark = pytest.mark.unit


def test_subjects_follow_the_source_stream() -> None:
    assert subject_for("orders", "OrderCreated") == "orders.OrderCreated"
    assert subject_for("payments", "PaymentFailed") == "payments.PaymentFailed"
    assert dead_letter_subject("orders.OrderCreated") == "dlq.orders.OrderCreated"


def test_event_round_trips_through_json() -> None:
    event = Event(type="OrderCreated", source="orders", order_id="o-1", data={"total_cents": 5})
    assert parse_event(event.model_dump_json().encode(), "OrderCreated") == event


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json at all", "malformed event"),
        (b'{"type": "OrderCreated", "source": "orders"}', "invalid order_id"),
        (
            Event(type="OrderCreated", source="orders", order_id="o", version=9)
            .model_dump_json()
            .encode(),
            "unsupported event version 9",
        ),
        (
            Event(type="OrderConfirmed", source="orders", order_id="o").model_dump_json().encode(),
            "expected a OrderCreated event",
        ),
    ],
)
def test_poison_messages_are_named_with_their_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(PoisonMessage, match=reason):
        parse_event(payload, "OrderCreated")
