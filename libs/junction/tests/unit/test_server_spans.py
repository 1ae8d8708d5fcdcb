"""Server spans: named by route, continuing the caller's trace, only for sampled traces."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, HTTPException
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from junction.spans import HeadSampler
from junction.telemetry import ServerSpans, current_span_context, inject, unsampled
from junction_devtools.testing import asgi_call

pytestmark = pytest.mark.unit

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER = f"00-{CALLER_TRACE}-b7ad6b7169203331-01"


def traced_app(sampler: ParentBased | None = None) -> tuple[FastAPI, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler) if sampler else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str) -> dict[str, str]:
        if order_id == "boom":
            raise RuntimeError("handler crashed")
        if order_id == "missing":
            raise HTTPException(404)
        ctx = trace.get_current_span().get_span_context()
        return {"trace_id": format(ctx.trace_id, "032x")}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {}

    tracer = provider.get_tracer("test")
    app.add_middleware(ServerSpans, tracer=tracer, exclude=frozenset({"/readyz"}))
    return app, exporter


Seen = list[tuple[trace.SpanContext, dict[str, str], bool]]


def carrying_app(sampler: Sampler) -> tuple[FastAPI, InMemorySpanExporter, Seen]:
    """An app whose handler records what its calls and events would carry on: the current
    span context, what `inject` writes, and whether nothing is to be recorded."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = FastAPI()
    seen: Seen = []

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str) -> dict[str, str]:
        carrier: dict[str, str] = {}
        inject(carrier)  # what a call or an event of the handler's carries on
        seen.append((current_span_context(), carrier, unsampled()))
        return {}

    app.add_middleware(ServerSpans, tracer=provider.get_tracer("test"), exclude=frozenset())
    return app, exporter, seen


async def test_a_request_is_one_server_span_named_by_its_route_in_the_callers_trace() -> None:
    app, exporter = traced_app()
    status, _, body = await asgi_call(app, "GET", "/orders/o1", {"traceparent": CALLER})
    assert status == 200 and body == {"trace_id": CALLER_TRACE}
    (span,) = exporter.get_finished_spans()
    assert span.name == "GET /orders/{order_id}" and span.kind is trace.SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == CALLER_TRACE
    assert span.parent is not None and span.parent.span_id == 0xB7AD6B7169203331
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["http.route"] == "/orders/{order_id}"


async def test_client_errors_are_not_span_errors_but_crashes_are() -> None:
    app, exporter = traced_app()
    assert (await asgi_call(app, "GET", "/orders/missing"))[0] == 404
    with pytest.raises(RuntimeError):
        await asgi_call(app, "GET", "/orders/boom")
    missing, boom = exporter.get_finished_spans()
    assert missing.status.status_code is trace.StatusCode.UNSET
    assert boom.status.status_code is trace.StatusCode.ERROR
    assert boom.events and boom.events[0].name == "exception"


async def test_probes_and_unsampled_requests_record_nothing() -> None:
    app, exporter = traced_app(ParentBased(ALWAYS_OFF))
    assert (await asgi_call(app, "GET", "/readyz"))[0] == 200
    assert (await asgi_call(app, "GET", "/orders/o1"))[0] == 200
    assert exporter.get_finished_spans() == ()


async def test_a_request_in_a_trace_the_caller_did_not_sample_starts_no_span() -> None:
    # No span to start (the sampler would only drop it): the caller's context is made
    # current, so the handler's calls and events carry the caller's decision on.
    app, exporter, seen = carrying_app(ParentBased(ALWAYS_ON))
    unsampled_caller = CALLER[:-2] + "00"
    # As every hop in the platform sends it (held as the header), and with trace state
    # (OpenTelemetry's context attached): the same decision passed on either way.
    for headers in (
        {"traceparent": unsampled_caller},
        {"traceparent": unsampled_caller, "tracestate": "k=v"},
    ):
        assert (await asgi_call(app, "GET", "/orders/o1", headers))[0] == 200
        ctx, carrier, nothing_to_record = seen.pop()
        # The caller's own span context, not a new (dropped) span of this service's.
        assert format(ctx.trace_id, "032x") == CALLER_TRACE and ctx.span_id == 0xB7AD6B7169203331
        assert not ctx.trace_flags.sampled and nothing_to_record
        assert carrier["traceparent"] == unsampled_caller
        assert carrier.get("tracestate") == headers.get("tracestate")
    assert exporter.get_finished_spans() == ()
    assert current_span_context() == trace.INVALID_SPAN_CONTEXT and not unsampled()  # ended
    assert (await asgi_call(app, "GET", "/orders/o1", {"traceparent": CALLER}))[0] == 200
    assert len(exporter.get_finished_spans()) == 1  # a sampled caller's request is a span


@pytest.fixture
def replaced_propagators() -> Iterator[None]:
    """W3C trace context alone, as an application that set its own propagators has it:
    not Junction's."""
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    yield
    propagate.set_global_textmap(before)


@pytest.mark.parametrize("junctions", [True, False], ids=["junction-propagators", "replaced"])
@pytest.mark.parametrize("ratio", [0.0, 1.0])
async def test_a_request_that_starts_a_trace_carries_the_heads_decision_on(
    ratio: float, junctions: bool, request: pytest.FixtureRequest
) -> None:
    # Junction's sampler: a new trace not to be recorded is carried on as its header, no
    # span and no OpenTelemetry context made; one to be recorded is this request's span.
    # With the propagators replaced, `inject` is OpenTelemetry's, and the SDK decides: the
    # same decision carried on.
    if junctions:
        request.getfixturevalue("junction_propagators")
    else:
        request.getfixturevalue("replaced_propagators")
    app, exporter, seen = carrying_app(HeadSampler(ratio))
    for _ in range(3):
        assert (await asgi_call(app, "GET", "/orders/o1"))[0] == 200
    trace_ids = set()
    for ctx, carrier, nothing_to_record in seen:
        assert ctx.is_valid and ctx.trace_flags.sampled is (ratio == 1.0)
        assert nothing_to_record is (ratio == 0.0)
        assert carrier["traceparent"] == (
            f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
        )
        trace_ids.add(ctx.trace_id)
    assert len(trace_ids) == 3  # a new trace for each request
    spans = exporter.get_finished_spans()
    assert len(spans) == (3 if ratio == 1.0 else 0)
    assert {s.context.trace_id for s in spans if s.context} == (trace_ids if spans else set())
    assert current_span_context() == trace.INVALID_SPAN_CONTEXT and not unsampled()  # ended
