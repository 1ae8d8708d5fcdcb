"""Junction's OTLP exporter against a real gRPC receiver: what arrives is the request
OpenTelemetry's own encoder makes of the same spans, with the exporter's headers, through
the batch processor and gzip as a service configures them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent import futures

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from junction import trace_export
from junction.trace_export import OTLPSpanExporter
from junction_devtools.platform import free_ports

pytestmark = pytest.mark.integration


class Receiver:
    """A TraceService that keeps each request's raw bytes and metadata."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.metadata: list[dict[str, str]] = []

    def export(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self.requests.append(request)
        self.metadata.append({m.key: m.value for m in context.invocation_metadata()})
        response: bytes = ExportTraceServiceResponse().SerializeToString()
        return response


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    received = Receiver()
    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(received.export)},  # raw bytes
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = free_ports(["otlp"])["otlp"]
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        yield received, f"http://127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def spans_of_a_checkout() -> list[ReadableSpan]:
    """Spans as a service makes them: server, client, producer and consumer, attributes,
    an error with its exception event."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "orders"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("junction")
    with tracer.start_as_current_span(
        "POST /orders", kind=trace.SpanKind.SERVER, attributes={"http.route": "/orders"}
    ):
        with tracer.start_as_current_span("orders.created publish", kind=trace.SpanKind.PRODUCER):
            pass
        with tracer.start_as_current_span("POST", kind=trace.SpanKind.CLIENT) as call:
            call.set_status(trace.StatusCode.ERROR, "payments unavailable")
            call.record_exception(ConnectionError("refused"))
    return list(memory.get_finished_spans())


def test_the_receiver_gets_what_opentelemetry_would_send(
    receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    received, endpoint = receiver
    spans = spans_of_a_checkout()
    # The exporter replaces OpenTelemetry's `_translate_data` hook: should an upgrade stop
    # calling it, export would quietly go back to OpenTelemetry's encoder. It must not.
    encoded: list[int] = []
    encode = trace_export.encode_request

    def counting(batch: Sequence[ReadableSpan]) -> bytes:
        encoded.append(len(batch))
        return encode(batch)

    monkeypatch.setattr(trace_export, "encode_request", counting)
    exporter = OTLPSpanExporter(
        endpoint=endpoint, insecure=True, headers={"x-tenant": "shop"}, timeout=5
    )
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert encoded == [len(spans)]
    assert len(received.requests) == 1
    assert ExportTraceServiceRequest.FromString(received.requests[0]) == encode_spans(spans)
    assert received.metadata[0]["x-tenant"] == "shop"


def test_every_span_arrives_through_the_batch_processor_compressed(
    receiver: tuple[Receiver, str],
) -> None:
    received, endpoint = receiver
    exporter = OTLPSpanExporter(
        endpoint=endpoint, insecure=True, compression=grpc.Compression.Gzip, timeout=5
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "inventory"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    tracer = provider.get_tracer("junction")
    for i in range(700):  # more than one batch (512)
        with tracer.start_as_current_span(f"s{i}", attributes={"i": i}):
            pass
    assert provider.force_flush(10_000)
    provider.shutdown()
    names = [
        span.name
        for raw in received.requests
        for resource in ExportTraceServiceRequest.FromString(raw).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert sorted(names) == sorted(f"s{i}" for i in range(700))
    assert len(received.requests) >= 2
