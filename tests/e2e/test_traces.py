"""One connected trace per checkout, across every HTTP hop and every JetStream hop."""

import asyncio
import os
import signal

import pytest

from tests.e2e.client import Endpoints, Shop, events
from tests.e2e.traces import (
    CLIENT,
    CONSUMER,
    SERVER,
    Span,
    assert_one_connected_trace,
    fetch_trace,
    hops_complete,
)

pytestmark = pytest.mark.e2e

# How often the services export their spans (their default, or the platform's setting).
# The e2e suite also runs as the chart's Job, from an image without the Junction library.
EXPORT_DELAY_S = float(os.environ.get("JUNCTION_TELEMETRY_EXPORT_DELAY_SECONDS", "2.0"))


@pytest.fixture
def query_url(endpoints: Endpoints) -> str:
    if not endpoints.trace_query:
        pytest.skip("no trace query URL given (JUNCTION_TRACE_QUERY_URL)")
    return endpoints.trace_query


def emails_sent(spans: list[Span], *kinds: str) -> bool:
    """Each email's send (the trace's last spans) and every hop's other end."""
    sent = {s.attributes.get("email.kind") for s in spans if s.name == "smtp send"}
    return set(kinds) <= sent and hops_complete(spans)


async def test_a_confirmed_checkout_is_one_connected_trace(shop: Shop, query_url: str) -> None:
    sku = await shop.new_sku(stock=3)
    reply = await shop.checkout([{"sku": sku, "quantity": 1}])
    assert reply.status == 201
    trace_id = reply.headers["x-trace-id"]
    assert reply.body["trace_id"] == trace_id
    order_id = reply.body["order_id"]
    await shop.wait_for(order_id, lambda o: "email_sent:receipt" in events(o["timeline"]))

    spans = await fetch_trace(
        shop.http, query_url, trace_id, lambda s: emails_sent(s, "order_received", "receipt")
    )
    assert_one_connected_trace(spans)
    # The relay's publish, each consumer and each email send sit in this same trace.
    destinations = {
        s.attributes.get("messaging.destination.name") for s in spans if s.kind == CONSUMER
    }
    assert {
        "orders.OrderCreated",
        "payments.PaymentSucceeded",
        "inventory.StockCommitted",
        "orders.OrderConfirmed",
    } <= destinations
    smtp = [s for s in spans if s.name == "smtp send"]
    assert {s.attributes["email.kind"] for s in smtp} == {"order_received", "receipt"}
    assert all(s.kind == CLIENT and s.attributes["order.id"] == order_id for s in smtp)
    # Spans that matter carry the order id.
    for span in spans:
        if span.kind == CONSUMER or (span.kind == SERVER and span.service != "storefront"):
            assert span.attributes.get("order.id") == order_id, (span.service, span.name)


async def test_a_declined_checkout_is_one_connected_trace(shop: Shop, query_url: str) -> None:
    sku = await shop.new_sku(stock=3)
    reply = await shop.checkout([{"sku": sku, "quantity": 1}], token="tok_declined")
    assert reply.status == 402
    trace_id = reply.headers["x-trace-id"]
    await shop.wait_for(
        reply.body["order_id"], lambda o: "email_sent:cancellation" in events(o["timeline"])
    )
    spans = await fetch_trace(
        shop.http, query_url, trace_id, lambda s: emails_sent(s, "order_received", "cancellation")
    )
    assert_one_connected_trace(spans)
    destinations = {
        s.attributes.get("messaging.destination.name") for s in spans if s.kind == CONSUMER
    }
    assert {
        "payments.PaymentFailed",
        "inventory.StockReleased",
        "orders.OrderCancelled",
    } <= destinations


async def test_a_message_redelivered_after_its_consumer_died_keeps_the_trace(
    endpoints: Endpoints, shop: Shop, query_url: str
) -> None:
    platform = endpoints.platform
    if platform is None:
        pytest.skip("needs process control of a local platform")
    # Freeze the mail sink so notifications is caught mid-send, then kill it there.
    platform.kill("mailsink", signal.SIGSTOP)
    try:
        sku = await shop.new_sku(stock=3)
        reply = await shop.checkout([{"sku": sku, "quantity": 1}])
        assert reply.status == 201
        # Long enough for the spans of what notifications finished before it got stuck to
        # be exported (a SIGKILL loses what waits for the next export batch); short of
        # its SMTP timeout, so that it is killed in the send.
        await asyncio.sleep(EXPORT_DELAY_S + 0.5)
        platform.kill("notifications", signal.SIGKILL)
    finally:
        platform.kill("mailsink", signal.SIGCONT)
    await asyncio.to_thread(platform.restart, "notifications")
    trace_id = reply.headers["x-trace-id"]
    await shop.wait_for(
        reply.body["order_id"], lambda o: "email_sent:receipt" in events(o["timeline"]), timeout=60
    )
    spans = await fetch_trace(
        shop.http, query_url, trace_id, lambda s: emails_sent(s, "order_received", "receipt")
    )
    assert_one_connected_trace(spans)
    redelivered = [
        s
        for s in spans
        if s.service == "notifications"
        and s.kind == CONSUMER
        and s.attributes.get("junction.deliveries", 1) >= 2
    ]
    assert redelivered, "expected a consumer span of a redelivered message"
