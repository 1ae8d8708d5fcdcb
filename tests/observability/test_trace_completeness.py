"""The e2e suite waits for a trace's every hop to have both ends before judging its shape:
services export in batches on their own schedules, so a child can be stored before its
parent (CI once saw orders' `inventory.StockReleased process` before inventory's publish)."""

import pytest

from tests.e2e.traces import (
    CLIENT,
    CONSUMER,
    PRODUCER,
    SERVER,
    Span,
    assert_one_connected_trace,
    awaited,
    hops_complete,
)

pytestmark = pytest.mark.unit


def span(service: str, name: str, kind: int, span_id: str, parent: str | None) -> Span:
    return Span(
        service,
        name,
        kind,
        span_id,
        parent,
        {"messaging.system": "nats", "messaging.destination.name": name.split(" ")[0]},
        1.0,
    )


def checkout() -> list[Span]:
    """A minimal connected checkout: three HTTP hops and one JetStream hop, five services."""
    return [
        span("storefront", "POST /api/checkout", SERVER, "root", None),
        span("storefront", "POST orders", CLIENT, "c1", "root"),
        span("orders", "POST /orders", SERVER, "s1", "c1"),
        span("orders", "POST inventory", CLIENT, "c2", "s1"),
        span("inventory", "POST /reservations", SERVER, "s2", "c2"),
        span("storefront", "POST payments", CLIENT, "c3", "root"),
        span("payments", "POST /payments", SERVER, "s3", "c3"),
        span("inventory", "inventory.StockReleased publish", PRODUCER, "p1", "s2"),
        span("orders", "inventory.StockReleased process", CONSUMER, "k1", "p1"),
        span("notifications", "orders.OrderCancelled process", CONSUMER, "k2", "p1"),
    ]


def without(spans: list[Span], span_id: str) -> list[Span]:
    return [s for s in spans if s.span_id != span_id]


def test_a_whole_trace_lacks_nothing_and_has_the_shape() -> None:
    spans = checkout()
    assert awaited(spans) == []
    assert hops_complete(spans)
    assert_one_connected_trace(spans)


def test_a_consumer_stored_before_its_producer_keeps_the_wait_going() -> None:
    spans = without(checkout(), "p1")
    assert awaited(spans) == [
        "parent of orders:inventory.StockReleased process",
        "parent of notifications:orders.OrderCancelled process",
    ]
    assert not hops_complete(spans)


def test_a_producer_or_client_without_its_other_end_is_awaited() -> None:
    spans = without(without(checkout(), "k1"), "k2")
    assert awaited(spans) == ["consumer of inventory.StockReleased publish"]
    spans = without(checkout(), "s3")
    assert awaited(spans) == ["server for storefront:POST payments"]
    assert not hops_complete(spans)


def test_a_trace_missing_a_service_is_not_complete() -> None:
    spans = [s for s in checkout() if s.service != "notifications"]
    assert awaited(spans) == []
    assert not hops_complete(spans)
