"""What the pages show, from an order and its trace: cart, lanes, waterfall."""

from datetime import UTC, datetime, timedelta

import pytest

from junction.contracts.common import OrderLine
from junction.contracts.notifications import EmailView, OrderEmails
from junction.contracts.orders import OrderStatus, OrderView, TimelineEntry
from junction.traces import Span, spans_of
from storefront.views import (
    cart_text,
    finished,
    lanes_from_timeline,
    lanes_from_trace,
    parse_cart,
    waterfall,
    with_emails,
)

pytestmark = pytest.mark.unit

T0 = 1_800_000_000_000_000_000
MS = 1_000_000


def span(
    span_id: str,
    parent: str | None,
    service: str,
    name: str,
    kind: str,
    start_ms: float,
    end_ms: float,
    **attributes: str,
) -> Span:
    return Span(
        "t" * 32, span_id, parent, service, name, kind,
        T0 + int(start_ms * MS), T0 + int(end_ms * MS), attributes,
    )  # fmt: skip


TRACE = [
    span("a", None, "storefront", "POST /api/checkout", "server", 0, 50),
    span("b", "a", "storefront", "POST", "client", 2, 30, **{"peer.service": "orders", "url.full": "http://o/orders"}),
    span("c", "b", "orders", "POST /orders", "server", 3, 29),
    span("d", "c", "orders", "orders.OrderCreated publish", "producer", 20, 22),
    span("e", "d", "notifications", "orders.OrderCreated process", "consumer", 60, 90),
    span("f", "e", "notifications", "smtp send", "client", 61, 80),
]  # fmt: skip


def test_the_cart_lives_in_a_short_text() -> None:
    assert parse_cart("A:2,B:1,A:1,bad,C:0,:3") == {"A": 3, "B": 1}
    assert cart_text({"A": 3, "B": 1}) == "A:3,B:1"


def test_lanes_from_the_trace_split_what_was_waited_for_from_what_came_after() -> None:
    lanes = lanes_from_trace(TRACE)
    assert lanes is not None and lanes.source == "trace" and lanes.waited_ms == 50
    assert [(c.caller, c.callee, c.what) for c in lanes.sync] == [
        ("storefront", "orders", "POST /orders")
    ]
    (step,) = lanes.after
    assert (step.event, step.publisher, step.consumer, step.after_ms) == (
        "OrderCreated", "orders", "notifications", 10.0,
    )  # fmt: skip


def test_no_lanes_from_a_trace_whose_root_has_not_arrived() -> None:
    assert lanes_from_trace([s for s in TRACE if s.span_id != "a"]) is None


def test_the_waterfall_places_every_span_and_marks_the_async_path() -> None:
    rows = waterfall(TRACE)
    assert [r.span_id for r in rows] == ["a", "b", "c", "d", "e", "f"]
    assert {r.span_id: r.path for r in rows} == {
        "a": "sync", "b": "sync", "c": "sync", "d": "async", "e": "async", "f": "async",
    }  # fmt: skip
    assert rows[4].from_service == "orders"  # the consumer's producer, across the hop
    assert rows[0].offset == 0 and rows[0].width == pytest.approx(1000 * 50 / 90, abs=0.1)


def order(status: OrderStatus, *events: tuple[int, str, str]) -> OrderView:
    start = datetime(2026, 11, 30, 9, tzinfo=UTC)
    return OrderView(
        order_id="o1",
        status=status,
        items=[OrderLine(sku="A", quantity=1, price_cents=100)],
        total_cents=100,
        customer_email="c@example.com",
        created_at=start,
        timeline=[
            TimelineEntry(at=start + timedelta(milliseconds=ms), service=svc, event=ev)
            for ms, svc, ev in events
        ],
        trace_id=None,
    )


def test_lanes_from_the_timeline_alone_when_nothing_was_traced() -> None:
    confirmed = order(
        OrderStatus.CONFIRMED,
        (0, "orders", "order_created"),
        (0, "inventory", "stock_reserved"),
        (20, "payments", "payment_approved"),
        (45, "inventory", "stock_committed"),
        (60, "notifications", "email_sent:receipt"),
    )
    lanes = lanes_from_timeline(confirmed)
    assert lanes.source == "timeline" and lanes.waited_ms is None
    assert [c.callee for c in lanes.sync] == ["orders", "inventory", "payments"]
    assert [(s.consumer, s.after_ms) for s in lanes.after] == [
        ("inventory", 25.0),
        ("notifications", 40.0),
    ]
    assert finished(confirmed)
    assert not finished(order(OrderStatus.CONFIRMED, (0, "orders", "order_confirmed")))
    assert not finished(order(OrderStatus.PAID))


def test_a_trace_document_from_the_query_api_reads_into_spans() -> None:
    document = {
        "result": {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "orders"}}]
                    },
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": "1" * 32,
                                    "spanId": "2" * 16,
                                    "kind": "SPAN_KIND_SERVER",
                                    "name": "POST /orders",
                                    "startTimeUnixNano": "100",
                                    "endTimeUnixNano": "300",
                                    "attributes": [
                                        {"key": "order.id", "value": {"stringValue": "o1"}},
                                        {"key": "http.status", "value": {"intValue": "201"}},
                                    ],
                                }
                            ]
                        }
                    ],
                }
            ]
        }
    }
    (s,) = spans_of(document)
    assert (s.service, s.kind, s.path, s.start_ns, s.end_ns) == (
        "orders",
        "server",
        "sync",
        100,
        300,
    )
    assert s.attributes == {"order.id": "o1", "http.status": 201}


def test_emails_join_the_timeline_in_time_order_and_once() -> None:
    t0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
    order = OrderView(
        order_id="o1",
        status=OrderStatus.CONFIRMED,
        items=[OrderLine(sku="A", quantity=1, price_cents=100)],
        total_cents=100,
        customer_email="c@example.com",
        created_at=t0,
        timeline=[
            TimelineEntry(at=t0, service="orders", event="order_created"),
            # an order of an earlier version, which noted this email itself
            TimelineEntry(at=t0, service="notifications", event="email_sent:order_received"),
            TimelineEntry(at=t0 + timedelta(seconds=2), service="orders", event="order_confirmed"),
        ],
        trace_id=None,
    )
    emails = OrderEmails(
        order_id="o1",
        emails=[
            EmailView(kind="order_received", sent_at=t0, message_id="<a>"),
            EmailView(kind="receipt", sent_at=t0 + timedelta(seconds=3), message_id="<b>"),
        ],
    )
    shown = with_emails(order, emails)
    assert [e.event for e in shown.timeline] == [
        "order_created",
        "email_sent:order_received",
        "order_confirmed",
        "email_sent:receipt",
    ]
    assert finished(shown) and not finished(order)
