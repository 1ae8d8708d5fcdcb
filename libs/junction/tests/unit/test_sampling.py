"""Head sampling: a trace the head decided not to record costs no spans downstream, and
the decision travels on with every message."""

from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from junction.config import ServiceSettings
from junction.contracts.events import StockCommitted
from junction.messaging.consumer import durable_consumer
from junction.messaging.publisher import JetStreamPublisher
from junction.telemetry import current_trace_id, inject
from junction_devtools.fakes import FakeMsg, RecordingDeadLetters
from junction_devtools.samples import order_confirmed, stock_committed

pytestmark = pytest.mark.unit

TRACE = "0af7651916cd43dd8448eb211c80319c"


class RecordingBroker:
    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    async def publish(
        self,
        message: Any,
        subject: str,
        *,
        headers: dict[str, str] | None = None,
        correlation_id: str | None = None,
        stream: str | None = None,
    ) -> None:
        assert headers is not None
        self.headers.append(headers)


@pytest.mark.usefixtures("junction_propagators")
@pytest.mark.parametrize(("flags", "spans"), [("00", 0), ("01", 2)])
async def test_a_message_passes_its_sampling_decision_on(flags: str, spans: int) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # default sampler: parent-based
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    broker = RecordingBroker()
    publisher = JetStreamPublisher(broker, tracer)

    async def handler(event: StockCommitted) -> None:  # what the handler's write queues
        follow_up = order_confirmed(event.order_id)
        carrier: dict[str, str] = {}
        inject(carrier)  # as the store stamps the events a write queues
        await publisher.publish(follow_up.model_copy(update={"trace": carrier}))

    settings = ServiceSettings(service_name="orders")
    consumer = durable_consumer(
        settings, StockCommitted, handler, RecordingDeadLetters(), tracer=tracer
    )
    msg = FakeMsg(stock_committed("o1"))
    msg.headers = {"traceparent": f"00-{TRACE}-b7ad6b7169203331-{flags}"}
    await consumer.handle(msg)

    assert msg.settled == ["ack"]
    assert len(exporter.get_finished_spans()) == spans  # process + publish, or nothing
    (sent,) = broker.headers
    assert sent["traceparent"].startswith(f"00-{TRACE}-")
    assert sent["traceparent"].endswith(f"-{flags}")


@pytest.mark.parametrize(("flags", "named"), [("00", False), ("01", True)])
def test_only_a_recorded_trace_is_named(flags: str, named: bool) -> None:
    # X-Trace-Id, the checkout's answer and the order's trace link use this: a trace the
    # head did not sample is stored nowhere, so it is not named.
    parent = propagate.extract({"traceparent": f"00-{TRACE}-b7ad6b7169203331-{flags}"})
    token = otel_context.attach(parent)
    try:
        assert current_trace_id() == (TRACE if named else None)
    finally:
        otel_context.detach(token)
