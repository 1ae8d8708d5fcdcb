"""OpenTelemetry set-up: one tracer provider per process, OTLP export, W3C propagation."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from junction.spans import HeadSampler, decide_root, start_span

if TYPE_CHECKING:
    from opentelemetry.util.types import Attributes
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from junction.config import ServiceSettings

logger = logging.getLogger(__name__)

# Downward-API variables the chart sets -> resource attributes.
K8S_ENV = {
    "k8s.pod.name": "K8S_POD_NAME",
    "k8s.namespace.name": "K8S_NAMESPACE_NAME",
    "k8s.node.name": "K8S_NODE_NAME",
}


# The propagators every Junction process installs (W3C trace context and baggage).
PROPAGATORS = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])

# A version-00 `traceparent` exactly as the W3C format writes it, nothing around it.
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


# The `traceparent` of a trace whose head decided not to record it, while Junction carries
# that trace on without OpenTelemetry's objects (`Unrecorded`): no SpanContext, no span, no
# Context, no attach. Read only where the trace is propagated (`inject`), logged
# (`current_span_context`) or a span might start (`unsampled`), all of them rarer than
# the messages and requests that merely pass the decision on.
_UNRECORDED: ContextVar[str | None] = ContextVar("junction_unrecorded", default=None)


def _lone_traceparent(carrier: Mapping[str, str]) -> bool:
    """Nothing but a `traceparent` to read, under Junction's propagators: the form every hop
    inside the platform sends, which `extract` and `unrecorded_parent` read themselves."""
    return (
        propagate.get_global_textmap() is PROPAGATORS
        and "tracestate" not in carrier
        and "baggage" not in carrier
    )


def _well_formed(header: str) -> re.Match[str] | None:
    """A version-00 `traceparent` as the W3C format writes it, with valid ids."""
    match = _TRACEPARENT.fullmatch(header)
    return match if match and match[1] != _ZERO_TRACE and match[2] != _ZERO_SPAN else None


def _remote(match: re.Match[str]) -> trace.SpanContext:
    """The caller's span context a well-formed `traceparent` names."""
    return trace.SpanContext(
        trace_id=int(match[1], 16),
        span_id=int(match[2], 16),
        is_remote=True,
        trace_flags=trace.TraceFlags(int(match[3], 16)),
    )


# The last hex digit of trace flags whose sampled bit (bit 0) is set.
_SAMPLED_LAST = frozenset("13579bdf")


def unrecorded_parent(carrier: Mapping[str, str]) -> str | None:
    """The carrier's `traceparent` when it continues a trace its head decided not to record,
    in the one form every hop inside the platform sends: a well-formed version-00 value with
    the sampled flag clear, no `tracestate` and no `baggage`, under Junction's propagators.
    None for anything else (no header, a sampled trace, another form), which
    `extract` reads as before. A sampled trace is told by its last character, before any
    parsing: the hop that records it parses it once, in `extract`."""
    header = carrier.get("traceparent")
    if (
        header is None
        or header[-1:] in _SAMPLED_LAST
        or not _lone_traceparent(carrier)
        or _well_formed(header) is None
    ):
        return None
    return header


class Unrecorded:
    """While it is entered, the current trace is the unrecorded one `traceparent` names (from
    `unrecorded_parent`), held as that string: `inject` writes it on, `unsampled()` is True
    so that no span starts, `current_span_context` reads it for logs. The same outcome as
    extracting and attaching the caller's context, at a fraction of the cost. A span context
    OpenTelemetry holds current inside it (a span started with an explicit parent) takes
    precedence. Code that propagates through OpenTelemetry's own API rather than Junction's
    does not see it."""

    __slots__ = ("_token", "traceparent")

    def __init__(self, traceparent: str) -> None:
        self.traceparent = traceparent
        self._token: Token[str | None] | None = None

    def __enter__(self) -> None:
        self._token = _UNRECORDED.set(self.traceparent)

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _UNRECORDED.reset(self._token)


def current_span_context() -> trace.SpanContext:
    """The current span context: OpenTelemetry's when it holds a valid one, else that of an
    unrecorded trace carried on by `Unrecorded`, else the invalid context."""
    ctx = trace.get_current_span().get_span_context()
    if (
        not ctx.is_valid
        and (header := _UNRECORDED.get()) is not None
        and (match := _well_formed(header)) is not None  # always: `unrecorded_parent` checked
    ):
        return _remote(match)
    return ctx


def extract(carrier: Mapping[str, str]) -> Context:
    """`propagate.extract(carrier)`, the same context, at about half the cost for what every
    hop inside the platform carries: a well-formed version-00 `traceparent`, no `tracestate`
    and no `baggage`, under Junction's propagators. Anything else (another header, another
    version, a malformed value, propagators replaced since) is OpenTelemetry's to read."""
    if _lone_traceparent(carrier):
        header = carrier.get("traceparent")
        if header is None:
            return Context()
        if (match := _well_formed(header)) is not None:
            return trace.set_span_in_context(trace.NonRecordingSpan(_remote(match)), Context())
    return propagate.extract(carrier)


def inject(carrier: dict[str, str], context: Context | None = None) -> None:
    """`propagate.inject(carrier, context)`, the same headers, a fifth cheaper when the context
    (default: the current one) holds no trace state and no baggage under Junction's
    propagators. With no context given and none current, an unrecorded trace carried on by
    `Unrecorded` is written on as it came."""
    if propagate.get_global_textmap() is PROPAGATORS:
        span = trace.get_current_span(context).get_span_context()
        if not span.trace_state and not baggage.get_all(context):
            if span.is_valid:
                carrier["traceparent"] = (
                    f"00-{span.trace_id:032x}-{span.span_id:016x}-{span.trace_flags:02x}"
                )
            elif context is None and (header := _UNRECORDED.get()) is not None:
                carrier["traceparent"] = header  # an unrecorded trace (`Unrecorded`)
            return
    propagate.inject(carrier, context)


def current_trace_id() -> str | None:
    """The current trace id in hex, or None outside a recorded trace (a trace the head did
    not sample has an id too, but nothing of it is stored: naming it would send a person,
    or the order page, looking for a trace that is not there)."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid and ctx.trace_flags.sampled else None


def unsampled(context: Context | None = None) -> bool:
    """Inside a trace whose head decided not to record it: no span to make, only the
    decision to pass on (cheaper than starting a span the sampler drops). With no context
    given, an unrecorded trace carried on by `Unrecorded` counts too."""
    ctx = trace.get_current_span(context).get_span_context()
    if ctx.is_valid:
        return not ctx.trace_flags.sampled
    return context is None and _UNRECORDED.get() is not None


class traced:  # used as a function: `with traced(...) as span:`
    """The span of one operation, current while it runs, continuing `parent` (default: the
    current context). None when telemetry is off, or when the trace is not sampled: then no
    span is started and `parent` is made current, so whatever the operation propagates
    carries the decision on.

    What `tracer.start_as_current_span` does (an exception escaping the block is recorded
    on the span and sets its status to ERROR; the span is current while the block runs,
    then ended), without its two generator-based context managers
    (docs/decisions/0017-unrecorded-traces.md); the span is `junction.spans.start_span`'s
    (decision 0019)."""

    __slots__ = ("_attributes", "_kind", "_name", "_parent", "_span", "_token", "_tracer")

    def __init__(
        self,
        tracer: trace.Tracer | None,
        name: str,
        *,
        kind: trace.SpanKind,
        attributes: Attributes,
        parent: Context | None = None,
    ) -> None:
        self._tracer = tracer
        self._name = name
        self._kind = kind
        self._attributes = attributes
        self._parent = parent
        self._span: trace.Span | None = None
        self._token: Token[Context] | None = None

    def __enter__(self) -> trace.Span | None:
        tracer, parent = self._tracer, self._parent
        if tracer is None:
            return None
        if unsampled(parent):
            if parent is not None:
                self._token = otel_context.attach(parent)
            return None
        span = start_span(
            tracer, self._name, kind=self._kind, attributes=self._attributes, context=parent
        )
        self._span = span
        # As `use_span`: the span set in the current context (not in `parent`).
        self._token = otel_context.attach(trace.set_span_in_context(span))
        return span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        token, span = self._token, self._span
        try:
            if token is not None:
                otel_context.detach(token)
        finally:
            if span is not None:
                # Exceptions, not other BaseExceptions (GeneratorExit, cancellation), as
                # `use_span` records them.
                if isinstance(exc, Exception) and span.is_recording():
                    span.record_exception(exc)
                    span.set_status(
                        trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
                    )
                span.end()


def annotate_order(order_id: str) -> None:
    """Tag the current span with the order it is about (`order.id`)."""
    trace.get_current_span().set_attribute("order.id", order_id)


def resource_for(settings: ServiceSettings) -> Resource:
    """Resource attributes: service identity plus Kubernetes placement when known."""
    attrs: dict[str, str] = {
        "service.name": settings.service_name,
        "service.version": settings.service_version,
        "deployment.environment": settings.environment,
        "deployment.environment.name": settings.environment,
    }
    for attr, env in K8S_ENV.items():
        if value := os.environ.get(env):
            attrs[attr] = value
    return Resource.create(attrs)


def setup_telemetry(settings: ServiceSettings) -> TracerProvider | None:
    """Install the tracer provider (OTLP batch export) and W3C propagators; None when off."""
    propagate.set_global_textmap(PROPAGATORS)
    if not settings.telemetry_enabled:
        return None
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from junction.trace_export import OTLPSpanExporter

    provider = TracerProvider(
        resource=resource_for(settings),
        sampler=HeadSampler(settings.telemetry_sample_ratio),
    )
    # The endpoint comes from OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT; the exporter's own timeout
    # bounds a send, and the batch processor never blocks the request path (it drops instead).
    # OpenTelemetry's OTLP/gRPC exporter with Junction's encoder (a third of the CPU per span).
    exporter = OTLPSpanExporter(timeout=settings.telemetry_export_timeout_seconds)
    provider.add_span_processor(
        BatchSpanProcessor(
            exporter,
            max_queue_size=8192,
            schedule_delay_millis=settings.telemetry_export_delay_seconds * 1000,
        )
    )
    trace.set_tracer_provider(provider)
    logger.info(
        "telemetry on",
        extra={
            "sample_ratio": settings.telemetry_sample_ratio,
            "otlp_endpoint": os.environ.get(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            ),
        },
    )
    return provider


_PROPAGATED = {b"traceparent": "traceparent", b"tracestate": "tracestate", b"baggage": "baggage"}


class ServerSpans:
    """Pure ASGI middleware: one SERVER span per HTTP request, `<method> <route>`, continuing
    the caller's trace from its W3C headers.

    Junction's own rather than FastAPI's native telemetry or the OpenTelemetry ASGI
    instrumentation, which cost several times as much per request (measured in
    docs/decisions/0002-server-spans.md). A request in a trace its caller did not sample
    costs a header scan and a context switch, a new trace the head's sampling decision as
    well, a sampled one its span.
    """

    def __init__(self, app: ASGIApp, *, tracer: trace.Tracer, exclude: frozenset[str]) -> None:
        self.app = app
        self.tracer = tracer
        self.exclude = exclude

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exclude:
            await self.app(scope, receive, send)
            return
        carrier = {
            _PROPAGATED[k]: v.decode("latin-1") for k, v in scope["headers"] if k in _PROPAGATED
        }
        if carrier and (header := unrecorded_parent(carrier)) is not None:
            # The caller's head decided not to record this trace: no span to start (the
            # sampler would only drop it), the caller's decision made current so that it
            # travels on with whatever this request calls or publishes.
            with Unrecorded(header):
                await self.app(scope, receive, send)
            return
        parent = extract(carrier) if carrier else None
        # A new trace, under Junction's propagators (`inject` writes an unrecorded trace on
        # only through them): the head decides it without the SDK's objects.
        root = (
            decide_root(self.tracer)
            if parent is None and propagate.get_global_textmap() is PROPAGATORS
            else None
        )
        if root is not None and root.unrecorded is not None:
            # A new trace the head decided not to record: carried on as its `traceparent`,
            # as a caller's unrecorded trace is, without OpenTelemetry's objects.
            with Unrecorded(root.unrecorded):
                await self.app(scope, receive, send)
            return
        if parent is not None and unsampled(parent):
            # Unsampled in a form `unrecorded_parent` leaves to OpenTelemetry (trace state,
            # baggage): the caller's context made current.
            token = otel_context.attach(parent)
            try:
                await self.app(scope, receive, send)
            finally:
                otel_context.detach(token)
            return
        method = scope["method"]
        span = start_span(
            self.tracer,
            method,
            kind=trace.SpanKind.SERVER,
            context=parent,
            trace_id=root.trace_id if root is not None else None,
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        if not span.is_recording():
            try:
                await self.app(scope, receive, send)
            finally:
                otel_context.detach(token)
            return
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except Exception as exc:
            span.record_exception(exc)
            status = status or 500
            raise
        finally:
            route = getattr(scope.get("route"), "path", None)
            attributes: dict[str, str | int] = {
                "http.request.method": method,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
                "http.response.status_code": status,
            }
            if route:
                attributes["http.route"] = route
                span.update_name(f"{method} {route}")
            span.set_attributes(attributes)
            if status >= 500 or status == 0:
                span.set_status(trace.StatusCode.ERROR)
            span.end()
            otel_context.detach(token)
