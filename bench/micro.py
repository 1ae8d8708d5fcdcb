"""In-process micro-measurements behind figures quoted in the code and the README:

- a FastAPI request called straight through ASGI: without tracing, with FastAPI's native
  telemetry, and with Junction's `ServerSpans`, each with a trace that is sampled, one
  that is not (the head's decision), and a caller's trace that is not;
- one recorded span: creation and end, then OTLP encoding by OpenTelemetry's encoder and
  by Junction's (`junction.trace_export`), in batches as the export thread sends them;
- W3C trace context read from a message's headers and written into a request's, by
  OpenTelemetry's `propagate` and by Junction's shortcut (`junction.telemetry`);
- one JetStream message handled by Junction's consumer (parse, handler, ack; a fake
  delivery, no server): tracing off, in a trace its producer did not sample, in a
  recorded one;
- one receipt as notifications builds and flattens it now (compat32's `MIMEText`), and
  the same with the modern `EmailMessage` API it used before.

    uv run python -m bench.micro

Microseconds per operation, best of three rounds; compare within one run only.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections.abc import Callable, MutableMapping, Sequence
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.policy import SMTP
from functools import partial
from io import BytesIO
from typing import Any
from uuid import uuid4

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from junction.config import ServiceSettings
from junction.contracts.common import OrderLine
from junction.contracts.events import OrderConfirmed, OrderCreated, OrderSummary
from junction.messaging.consumer import durable_consumer
from junction.spans import HeadSampler
from junction.telemetry import PROPAGATORS, ServerSpans, extract, inject
from junction.trace_export import encode_request
from junction_devtools.fakes import FakeMsg, RecordingDeadLetters
from junction_devtools.samples import order_created
from junction_devtools.testing import asgi_scope, no_body
from notifications.domain import EmailKind, body_text, compose
from notifications.mailer import envelope_of


class Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


class Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def best_us(run: Callable[[], float], rounds: int = 3) -> float:
    return min(run() for _ in range(rounds))


def app(tracing: str, ratio: float) -> FastAPI:
    """One route; `tracing` is "off", "fastapi" (native telemetry) or "junction"."""
    # The services' sampler (a ParentBased of a TraceIdRatioBased, which Junction's server
    # spans decide a new trace with themselves: docs/decisions/0017, "Later").
    provider = TracerProvider(sampler=HeadSampler(ratio))
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    native = tracing == "fastapi"
    application = FastAPI(
        telemetry={
            "tracing": native,
            "tracer_provider": provider if native else None,
            "metrics": False,
            "logs": False,
            "operation_spans": False,
            "auto_configure": False,
        }
    )

    @application.get("/echo")
    async def echo() -> dict[str, str]:
        return {"ok": "yes"}

    if tracing == "junction":
        propagate.set_global_textmap(PROPAGATORS)  # as `setup_telemetry` does
        tracer = provider.get_tracer("bench")
        application.add_middleware(ServerSpans, tracer=tracer, exclude=frozenset())
    return application


UNSAMPLED_CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


def asgi_us(application: FastAPI, n: int = 5000, caller: str | None = None) -> float:
    headers = {"host": "bench"} | ({"traceparent": caller} if caller else {})
    scope = asgi_scope("GET", "/echo", headers)

    async def send(message: MutableMapping[str, Any]) -> None:
        pass

    async def run() -> float:
        for _ in range(200):
            await application(dict(scope), no_body, send)
        started = time.perf_counter()
        for _ in range(n):
            await application(dict(scope), no_body, send)
        return (time.perf_counter() - started) / n * 1e6

    return asyncio.run(run())


def asgi_us_of(tracing: str, ratio: float, caller: str | None = None) -> float:
    return asgi_us(app(tracing, ratio), caller=caller)


def span_us(n: int = 10000) -> tuple[float, float, float]:
    keep = Keep()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(keep))
    tracer = provider.get_tracer("bench")
    attributes: dict[str, str | int] = {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": "orders.OrderCreated",
        "messaging.consumer.group.name": "notifications-OrderCreated",
        "messaging.message.body.size": 300,
    }
    # Ids as the platform's are: new for every message (nothing for a cache to reuse).
    ids = [(uuid4().hex, uuid4().hex) for _ in range(n)]
    started = time.perf_counter()
    for message_id, order_id in ids:
        with tracer.start_as_current_span(
            "orders.OrderCreated process", kind=trace.SpanKind.CONSUMER, attributes=attributes
        ) as span:
            span.set_attributes({"messaging.message.id": message_id, "order.id": order_id})
    create = (time.perf_counter() - started) / n * 1e6
    # Batches as the export thread sends them (up to 512 spans), each encoder to the bytes
    # that go on the wire; a full collection first, so that neither pays for the other's
    # garbage.
    spans = keep.spans

    def official() -> None:
        for i in range(0, n, 512):
            encode_spans(spans[i : i + 512]).SerializeToString()

    def junctions() -> None:
        for i in range(0, n, 512):
            request = ExportTraceServiceRequest.FromString(encode_request(spans[i : i + 512]))
            request.SerializeToString()  # as the exporter's gRPC stub does

    timings = []
    for encode in (official, junctions):
        gc.collect()
        started = time.perf_counter()
        encode()
        timings.append((time.perf_counter() - started) / n * 1e6)
    return create, timings[0], timings[1]


def propagation_us(which: str, n: int = 50000) -> tuple[float, float]:
    """Extract (a message's headers: `Nats-Msg-Id`, content type, a lone `traceparent`)
    and inject (into a request's headers, the trace made current), by `which`:
    "opentelemetry" or "junction"."""
    propagate.set_global_textmap(PROPAGATORS)
    headers = {
        "Nats-Msg-Id": uuid4().hex,
        "content-type": "application/json",
        "traceparent": f"00-{uuid4().hex}-{uuid4().hex[:16]}-00",
    }
    read, write = (
        (propagate.extract, propagate.inject) if which == "opentelemetry" else (extract, inject)
    )
    started = time.perf_counter()
    for _ in range(n):
        read(headers)
    extracted = (time.perf_counter() - started) / n * 1e6
    token = otel_context.attach(read(headers))
    try:
        started = time.perf_counter()
        for _ in range(n):
            write({})
        injected = (time.perf_counter() - started) / n * 1e6
    finally:
        otel_context.detach(token)
    return extracted, injected


def consume_us(tracing: str, n: int = 20000) -> float:
    """One message through `EventConsumer.handle` with a handler that does nothing;
    `tracing`: "off", "not sampled" (the producer's trace), "one in ten sampled" or
    "sampled". The spans are ended into the batch processor and discarded at export."""
    propagate.set_global_textmap(PROPAGATORS)
    provider = TracerProvider()  # parent-based: the producer's decision holds
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=8192))
    tracer = None if tracing == "off" else provider.get_tracer("bench")

    async def handler(event: OrderCreated) -> None:
        pass

    settings = ServiceSettings(service_name="bench")
    consumer = durable_consumer(
        settings, OrderCreated, handler, RecordingDeadLetters(), tracer=tracer
    )
    share = {"sampled": 1.0, "one in ten sampled": 0.1}.get(tracing, 0.0)
    rng = random.Random(1)
    messages = []
    for _ in range(n):
        msg = FakeMsg(order_created(uuid4().hex))
        if tracer is not None:
            flags = "01" if rng.random() < share else "00"
            msg.headers = {"traceparent": f"00-{uuid4().hex}-{uuid4().hex[:16]}-{flags}"}
        messages.append(msg)

    async def run() -> float:
        started = time.perf_counter()
        for msg in messages:
            await consumer.handle(msg)
        return (time.perf_counter() - started) / n * 1e6

    try:
        return asyncio.run(run())
    finally:
        provider.shutdown()


HEADERS = {
    "From": "Junction Shop <shop@junction.local>",
    "To": "customer@example.com",
    "Subject": "Your receipt for order 1234abcd",
    "Message-ID": "<1234abcd.receipt@junction.local>",
    "X-Junction-Order-Id": "1234abcd",
    "X-Junction-Email-Kind": "receipt",
}
RECEIPT = OrderConfirmed(
    order_id="1234abcd",
    data=OrderSummary(
        customer_email=HEADERS["To"],
        items=[OrderLine(sku="JNC-MUG", quantity=1, price_cents=1200)],
        total_cents=1200,
    ),
)

SENDER, DOMAIN = HEADERS["From"], "junction.local"
BODY = body_text(compose(RECEIPT, EmailKind.RECEIPT, sender=SENDER, domain=DOMAIN))


def email_us(kind: str, n: int = 500) -> float:
    """One receipt as notifications sends it ("compat32": its `compose` and `envelope_of`),
    or built the same way with the modern `EmailMessage` API it used before."""

    def modern() -> bytes:
        msg = EmailMessage()
        for name, value in HEADERS.items():
            msg[name] = value
        msg.set_content(BODY)
        out = BytesIO()
        BytesGenerator(out, policy=SMTP).flatten(msg)
        return out.getvalue()

    def current() -> bytes:
        return envelope_of(compose(RECEIPT, EmailKind.RECEIPT, sender=SENDER, domain=DOMAIN)).data

    build = modern if kind == "modern" else current
    started = time.perf_counter()
    for _ in range(n):
        build()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    print("| measurement | us |")
    print("|---|---:|")
    print(f"| FastAPI request, no tracing | {best_us(partial(asgi_us_of, 'off', 1.0)):.1f} |")
    for tracing in ("fastapi", "junction"):
        for ratio, label in ((0.0, "not sampled"), (1.0, "sampled")):
            us = best_us(partial(asgi_us_of, tracing, ratio))
            print(f"| FastAPI request, {tracing} server spans, {label} | {us:.1f} |")
        us = best_us(partial(asgi_us_of, tracing, 1.0, UNSAMPLED_CALLER))
        print(f"| FastAPI request, {tracing} server spans, caller's trace not sampled | {us:.1f} |")
    runs = [span_us() for _ in range(3)]  # new spans (new ids) each round
    create, encode, ours = (min(run[i] for run in runs) for i in range(3))
    print(f"| one span: create, attributes, end | {create:.1f} |")
    print(f"| one span: OTLP protobuf encoding, OpenTelemetry's encoder | {encode:.1f} |")
    print(f"| one span: OTLP protobuf encoding, Junction's (`trace_export`) | {ours:.1f} |")
    for which, label in (("opentelemetry", "OpenTelemetry's"), ("junction", "Junction's")):
        pairs = [propagation_us(which) for _ in range(3)]
        extracted, injected = (min(pair[i] for pair in pairs) for i in range(2))
        print(f"| trace context from a message's headers, {label} `extract` | {extracted:.1f} |")
        print(f"| trace context into a request's headers, {label} `inject` | {injected:.1f} |")
    for tracing in ("off", "not sampled", "one in ten sampled", "sampled"):
        label = "tracing off" if tracing == "off" else f"producer's trace {tracing}"
        us = best_us(partial(consume_us, tracing))
        print(f"| one message handled by the consumer, {label} | {us:.1f} |")
    for kind in ("modern", "compat32"):
        us = best_us(partial(email_us, kind))
        print(f"| one email built and flattened, {kind} API | {us:.1f} |")


if __name__ == "__main__":
    main()
