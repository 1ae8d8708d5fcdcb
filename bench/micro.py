"""In-process micro-measurements behind figures quoted in the code and the README:

- a FastAPI request called straight through ASGI: without tracing, with FastAPI's native
  telemetry, and with Junction's `ServerSpans`, each with a trace that is sampled and one
  that is not;
- one recorded span: creation and end, then OTLP encoding;
- one email built with the modern `EmailMessage` API and with compat32's `MIMEText`.

    uv run python -m bench.micro

Microseconds per operation, best of three rounds; compare within one run only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, MutableMapping, Sequence
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.mime.text import MIMEText
from email.policy import SMTP, compat32
from functools import partial
from io import BytesIO
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from junction.telemetry import ServerSpans


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
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
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
        tracer = provider.get_tracer("bench")
        application.add_middleware(ServerSpans, tracer=tracer, exclude=frozenset())
    return application


def asgi_us(application: FastAPI, n: int = 5000) -> float:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/echo",
        "raw_path": b"/echo",
        "query_string": b"",
        "headers": [(b"host", b"bench")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("bench", 80),
        "client": ("bench", 1),
        "root_path": "",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        pass

    async def run() -> float:
        for _ in range(200):
            await application(dict(scope), receive, send)
        started = time.perf_counter()
        for _ in range(n):
            await application(dict(scope), receive, send)
        return (time.perf_counter() - started) / n * 1e6

    return asyncio.run(run())


def asgi_us_of(tracing: str, ratio: float) -> float:
    return asgi_us(app(tracing, ratio))


def span_us(n: int = 10000) -> tuple[float, float]:
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
    started = time.perf_counter()
    for _ in range(n):
        with tracer.start_as_current_span(
            "orders.OrderCreated process", kind=trace.SpanKind.CONSUMER, attributes=attributes
        ) as span:
            span.set_attributes({"messaging.message.id": "e1", "order.id": "o1"})
    create = (time.perf_counter() - started) / n * 1e6
    started = time.perf_counter()
    for i in range(0, n, 512):
        encode_spans(keep.spans[i : i + 512]).SerializeToString()
    encode = (time.perf_counter() - started) / n * 1e6
    return create, encode


HEADERS = {
    "From": "Junction Shop <shop@junction.local>",
    "To": "customer@example.com",
    "Subject": "Your receipt for order 1234abcd",
    "Message-ID": "<1234abcd.receipt@junction.local>",
    "X-Junction-Order-Id": "1234abcd",
    "X-Junction-Email-Kind": "receipt",
}
BODY = "Your order is confirmed:\n  1 x JNC-MUG @ 12.00\nTotal: 12.00\n\nOrder 1234abcd\n"


def email_us(kind: str, n: int = 500) -> float:
    def build() -> bytes:
        msg: Any
        if kind == "modern":
            msg = EmailMessage()
            for name, value in HEADERS.items():
                msg[name] = value
            msg.set_content(BODY)
            policy: Any = SMTP
        else:
            msg = MIMEText(BODY, "plain", "us-ascii")
            for name, value in HEADERS.items():
                msg[name] = value
            policy = compat32.clone(linesep="\r\n")
        out = BytesIO()
        BytesGenerator(out, policy=policy).flatten(msg)
        return out.getvalue()

    started = time.perf_counter()
    for _ in range(n):
        build()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    print("| measurement | us |")
    print("|---|---:|")
    print(f"| FastAPI request, no tracing | {best_us(lambda: asgi_us(app('off', 1.0))):.1f} |")
    for tracing in ("fastapi", "junction"):
        for ratio, label in ((0.0, "not sampled"), (1.0, "sampled")):
            us = best_us(partial(asgi_us_of, tracing, ratio))
            print(f"| FastAPI request, {tracing} server spans, {label} | {us:.1f} |")
    create, encode = min(span_us() for _ in range(3))
    print(f"| one span: create, attributes, end | {create:.1f} |")
    print(f"| one span: OTLP protobuf encoding | {encode:.1f} |")
    for kind in ("modern", "compat32"):
        us = best_us(partial(email_us, kind))
        print(f"| one email built and flattened, {kind} API | {us:.1f} |")


if __name__ == "__main__":
    main()
