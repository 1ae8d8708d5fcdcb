"""Junction's OTLP encoder writes the request OpenTelemetry's encoder would: the same
message once parsed, for every kind of span, value and grouping the SDK makes."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, TraceFlags, TraceState

from junction.trace_export import encode_request

pytestmark = pytest.mark.unit

VALUES: list[Any] = [  # every type the SDK keeps, and edges of each
    "",
    "nats",
    "ü ß 漢字 \u2028",
    "x" * 300,  # a length past one varint byte
    True,
    False,
    0,
    1,
    127,
    128,
    -1,
    -(2**63),
    2**63 - 1,
    2**63,  # out of int64: left out by both encoders
    -(2**63) - 1,
    (1, 2**64),
    0.0,
    -0.0,
    0.0,
    -0.0,  # one dict key with 0.0, another encoding
    -2.5,
    1e300,
    float("inf"),
    b"",
    b"\x00\xff",
    ("a", "b"),
    (1, 2, 3),
    (True, False),
    (0.5,),
    (),
]


def provider(
    resource: Resource | None = None, limits: SpanLimits | None = None
) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=resource or Resource.create({"service.name": "orders"}), span_limits=limits
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def same_as_opentelemetry(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    ours: ExportTraceServiceRequest = ExportTraceServiceRequest.FromString(encode_request(spans))
    assert ours == encode_spans(spans)
    return ours


def remote_parent(sampled: bool = True, state: TraceState | None = None) -> Context:
    context = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else 0),
        trace_state=state,
    )
    return trace.set_span_in_context(NonRecordingSpan(context))


def test_every_attribute_value_type_encodes_as_opentelemetry_does() -> None:
    tracer_provider, exporter = provider()
    tracer = tracer_provider.get_tracer("junction")
    for i, value in enumerate(VALUES):
        with tracer.start_as_current_span(f"span {i}", attributes={"value": value}):
            pass
    request = same_as_opentelemetry(exporter.get_finished_spans())
    spans = request.resource_spans[0].scope_spans[0].spans
    assert len(spans) == len(VALUES)
    # Protobuf's equality takes -0.0 for 0.0: the sign is checked on its own.
    zeros = [
        (math.copysign(1, span.attributes[0].value.double_value), math.copysign(1, value))
        for span, value in zip(spans, VALUES, strict=True)
        if type(value) is float and value == 0.0
    ]
    assert [ours for ours, _ in zeros] == [want for _, want in zeros] == [1, -1, 1, -1]
    # An int out of int64 is left out, as OpenTelemetry's encoder leaves it.
    left_out = [value for span, value in zip(spans, VALUES, strict=True) if not span.attributes]
    assert left_out == [2**63, -(2**63) - 1, (1, 2**64)]


def test_a_repeated_attribute_is_encoded_from_the_cache_the_same_way() -> None:
    tracer_provider, exporter = provider()
    tracer = tracer_provider.get_tracer("junction")
    # True, 1 and 1.0 are equal keys in a dict (so are tuples of them): the cache must tell
    # them apart.
    values: list[Any] = [True, 1, 1.0, "1", (True,), (1,)]
    for _ in range(3):
        for value in values:
            with tracer.start_as_current_span("s", attributes={"v": value}):
                pass
    request = same_as_opentelemetry(exporter.get_finished_spans())
    spans = request.resource_spans[0].scope_spans[0].spans
    kinds = [s.attributes[0].value.WhichOneof("value") for s in spans]
    assert (
        kinds
        == [
            "bool_value",
            "int_value",
            "double_value",
            "string_value",
            "array_value",
            "array_value",
        ]
        * 3
    )


def test_kinds_parents_status_events_links_and_trace_state() -> None:
    tracer_provider, exporter = provider()
    tracer = tracer_provider.get_tracer(
        "junction", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.26.0"
    )
    state = TraceState([("vendor", "v1"), ("other", "x")])
    link = Link(SpanContext(0x1, 0x2, is_remote=True), attributes={"link.kind": "follows", "n": 2})
    for kind in trace.SpanKind:
        with tracer.start_as_current_span("root", kind=kind, links=[link]) as root:
            root.add_event("started", {"step": 1, "ok": True})
            root.add_event("plain")
            with tracer.start_as_current_span("child") as child:  # a local parent
                child.set_status(trace.StatusCode.OK)
        with tracer.start_as_current_span(
            "remote child", context=remote_parent(state=state), kind=kind
        ) as span:
            span.set_status(trace.StatusCode.ERROR, "card declined")
            span.record_exception(ValueError("boom"))
    spans = exporter.get_finished_spans()
    request = same_as_opentelemetry(spans)
    encoded = request.resource_spans[0].scope_spans[0].spans
    assert {s.trace_state for s in encoded} == {"", "vendor=v1,other=x"}
    assert {s.flags for s in encoded} == {0x100, 0x300}  # local and remote parents


def test_dropped_counts_travel() -> None:
    limits = SpanLimits(
        max_span_attributes=2,
        max_events=1,
        max_links=1,
        max_event_attributes=1,
        max_link_attributes=1,
    )
    tracer_provider, exporter = provider(limits=limits)
    tracer = tracer_provider.get_tracer("junction")
    links = [Link(SpanContext(1, i + 1, is_remote=False), {"p": 1, "q": 2}) for i in range(3)]
    with tracer.start_as_current_span("s", attributes={"a": 1, "b": 2, "c": 3}, links=links) as s:
        s.add_event("e1")
        s.add_event("e2", {"x": 1, "y": 2})  # kept: a full list drops its oldest
    request = same_as_opentelemetry(exporter.get_finished_spans())
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert (span.dropped_attributes_count, span.dropped_events_count, span.dropped_links_count) == (
        1,
        1,
        2,
    )
    assert (span.events[0].dropped_attributes_count, span.links[0].dropped_attributes_count) == (
        1,
        1,
    )


def test_spans_group_by_resource_then_scope_in_the_order_first_seen() -> None:
    pod = {"service.name": "orders", "k8s.pod.name": "p-1"}
    first, first_spans = provider(Resource.create(pod))
    # An equal resource in another object groups with the first, as in OpenTelemetry's
    # encoder; a different one is a group of its own.
    same, same_spans = provider(Resource.create(pod))
    other, other_spans = provider(Resource.create({"service.name": "payments"}, "https://s/1"))
    mixed: list[ReadableSpan] = []
    for i in range(6):
        for tracer_provider, exporter in (
            (first, first_spans),
            (other, other_spans),
            (same, same_spans),
        ):
            # Two tracers of one name are one scope; another name another.
            name = "bench" if i % 3 == 1 else "junction"
            with tracer_provider.get_tracer(name).start_as_current_span(f"s{i}"):
                pass
            mixed.append(exporter.get_finished_spans()[-1])
    request = same_as_opentelemetry(mixed)
    assert len(request.resource_spans) == 2
    assert [len(r.scope_spans) for r in request.resource_spans] == [2, 2]


def test_a_value_opentelemetry_cannot_encode_is_left_out_as_it_leaves_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracer_provider, exporter = provider()
    with tracer_provider.get_tracer("junction").start_as_current_span("s") as span:
        span.set_attribute("fine", 1)
    readable = exporter.get_finished_spans()[0]
    # The SDK refuses such a value at set_attribute; one reaching the encoder is skipped
    # with an error logged, by both encoders alike.
    odd: dict[str, Any] = {"fine": 1, "odd": object(), "after": "x"}
    readable._attributes = odd
    with caplog.at_level(logging.ERROR):
        request = same_as_opentelemetry([readable])
    keys = [kv.key for kv in request.resource_spans[0].scope_spans[0].spans[0].attributes]
    assert keys == ["fine", "after"]
    assert any("odd" in r.getMessage() for r in caplog.records if r.name == "junction.trace_export")


def test_a_random_mix_of_platform_like_spans() -> None:
    rng = random.Random(1)
    tracer_provider, exporter = provider()
    tracers = [tracer_provider.get_tracer(name) for name in ("junction", "junction", "httpx")]
    keys = ["messaging.system", "order.id", "http.route", "n", "x.y"]
    # Two new ids per span: past the key-value cache's bound, so it is cleared on the way.
    for _ in range(2500):
        attributes = {rng.choice(keys): rng.choice(VALUES) for _ in range(rng.randrange(0, 8))}
        attributes["id"] = f"{rng.getrandbits(128):032x}"
        attributes["other.id"] = f"{rng.getrandbits(128):032x}"
        with rng.choice(tracers).start_as_current_span(
            rng.choice(["GET /orders/{order_id}", "orders.created process", "é"]),
            kind=rng.choice(list(trace.SpanKind)),
            context=remote_parent() if rng.random() < 0.3 else None,
            attributes=attributes,
        ) as span:
            if rng.random() < 0.1:
                span.record_exception(RuntimeError("x" * rng.randrange(0, 400)))
    spans = exporter.get_finished_spans()
    for start in range(0, len(spans), 512):  # as the batch processor exports them
        same_as_opentelemetry(spans[start : start + 512])
