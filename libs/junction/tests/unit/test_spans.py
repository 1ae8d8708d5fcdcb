"""`junction.spans.start_span` records what the SDK's `Tracer.start_span` records, for the
same calls: attributes (cleaned, bounded, reordered as the SDK does), events, exceptions,
links, status rules, names, sampling and flags, processors' hooks, and nothing once ended."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from junction.spans import HeadSampler, RecordedSpan, decide_root, start_span
from junction.trace_export import encode_request

pytestmark = pytest.mark.unit

KIND = trace.SpanKind.CONSUMER
PARENT_BASED = ParentBased(ALWAYS_ON)


class Counting(IdGenerator):
    """The same ids, in the same order, for each of two providers."""

    def __init__(self) -> None:
        self.n = 0

    def generate_span_id(self) -> int:
        self.n += 1
        return 0x1000 + self.n

    def generate_trace_id(self) -> int:
        self.n += 1
        return 0xABC000 + self.n


class Hooks(SpanProcessor):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        self.calls.append(("start", span.name))

    def _on_ending(self, span: Any) -> None:
        self.calls.append(("ending", span.name))

    def on_end(self, span: ReadableSpan) -> None:
        self.calls.append(("end", span.name))


class Side:
    """A provider, its finished spans and the hooks its processors saw."""

    def __init__(self, sampler: Sampler, limits: SpanLimits | None) -> None:
        self.exporter = InMemorySpanExporter()
        self.hooks = Hooks()
        self.provider = TracerProvider(
            sampler=sampler,
            resource=Resource.create({"service.name": "orders"}),
            id_generator=Counting(),
            span_limits=limits,
        )
        self.provider.add_span_processor(self.hooks)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("junction.test", "1.0")


def view(span: ReadableSpan) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(span.to_json())
    assert doc.pop("start_time") is not None and doc.pop("end_time") is not None
    doc["attribute order"] = list(span.attributes or {})
    doc["dropped"] = (span.dropped_attributes, span.dropped_events, span.dropped_links)
    doc["scope"] = span.instrumentation_scope
    for event in doc["events"]:
        event.pop("timestamp")  # each side's own clock
    return doc


def both(
    act: Callable[[trace.Span], None],
    *,
    attributes: dict[str, Any] | None = None,
    parent: Context | None = None,
    sampler: Sampler = PARENT_BASED,
    limits: SpanLimits | None = None,
) -> tuple[Side, Side]:
    sdk, ours = Side(sampler, limits), Side(sampler, limits)
    theirs_span = sdk.tracer.start_span("op", context=parent, kind=KIND, attributes=attributes)
    our_span = start_span(ours.tracer, "op", kind=KIND, attributes=attributes, context=parent)
    assert type(our_span) is (RecordedSpan if theirs_span.is_recording() else NonRecordingSpan)
    assert our_span.get_span_context() == theirs_span.get_span_context()
    for span in (theirs_span, our_span):
        act(span)
        span.end()
    return sdk, ours


def same(sdk: Side, ours: Side) -> None:
    theirs = [view(s) for s in sdk.exporter.get_finished_spans()]
    assert [view(s) for s in ours.exporter.get_finished_spans()] == theirs
    assert ours.hooks.calls == sdk.hooks.calls


ODD = {
    "str": "x",
    "int": 7,
    "bool": True,
    "float": 1.5,
    "list": ["a", "b"],
    "ints": (1, 2),
    "mixed": [1, "a"],  # refused: mixed types
    "dict": {"a": 1},  # refused
    "none": None,  # refused
    "": "empty key",  # refused
    "object": object(),  # refused
}


def test_attributes_at_start_and_after_are_cleaned_as_the_sdk_cleans_them() -> None:
    def act(span: trace.Span) -> None:
        span.set_attribute("later", 1)
        span.set_attributes({"str": "again", "more": [1.0, 2.0], "bad": {"x": 1}})
        span.set_attribute("", "no")

    same(*both(act, attributes=ODD))


def test_limits_drop_and_count_as_the_sdk_does() -> None:
    limits = SpanLimits(
        max_span_attributes=3,
        max_span_attribute_length=4,
        max_events=2,
        max_links=1,
        max_event_attributes=1,
    )

    def act(span: trace.Span) -> None:
        for i in range(5):
            span.set_attribute(f"k{i}", "long value")
        span.set_attribute("k3", "again")  # an existing key: moved last, nothing dropped
        for i in range(3):
            span.add_event(f"e{i}", {"a": 1, "b": 2}, timestamp=i)
        context = SpanContext(0xABC, 0xDEF, True, TraceFlags(1))
        span.add_link(context, {"l": 1})
        span.add_link(context)

    same(*both(act, attributes={"s": "start value"}, limits=limits))


def test_status_name_and_exceptions_follow_the_sdk_rules() -> None:
    def act(span: trace.Span) -> None:
        span.set_status(StatusCode.UNSET)  # ignored
        span.set_status(Status(StatusCode.ERROR, "first"), "ignored description")
        span.update_name("renamed")
        try:
            raise ValueError("boom")
        except ValueError as exc:
            span.record_exception(exc, {"extra": 1}, timestamp=5)
        span.set_status(StatusCode.OK)
        span.set_status(StatusCode.ERROR, "after OK: ignored")

    same(*both(act))


def test_nothing_changes_once_ended(caplog: pytest.LogCaptureFixture) -> None:
    sdk, ours = both(lambda span: None)
    # The processors were given the span itself (not a copy): once ended, it refuses
    # every change, so what they hold stays what was recorded.
    ended = ours.exporter.get_finished_spans()[0]
    assert isinstance(ended, RecordedSpan) and not ended.is_recording()
    with caplog.at_level(logging.WARNING):
        ended.set_attribute("late", 1)
        ended.set_attributes({"late": 2})
        ended.add_event("late")
        ended.set_status(StatusCode.ERROR)
        ended.update_name("late")
        ended.end()  # a second end: no second on_end
    same(sdk, ours)
    assert ours.hooks.calls == [("start", "op"), ("ending", "op"), ("end", "op")]
    assert len(caplog.records) >= 5


@pytest.mark.parametrize("flags", [0x01, 0x00, 0x03, 0x02])
def test_sampling_and_flags_are_the_sdk_s(flags: int) -> None:
    remote = SpanContext(0xABC123, 0x42, True, TraceFlags(flags))
    parent = trace.set_span_in_context(NonRecordingSpan(remote), Context())
    same(*both(lambda span: span.set_attribute("a", 1), parent=parent))


@pytest.mark.parametrize("sampler", [ParentBased(ALWAYS_ON), ParentBased(ALWAYS_OFF)])
def test_a_new_trace_is_decided_as_the_sdk_decides(sampler: Sampler) -> None:
    same(*both(lambda span: None, sampler=sampler, attributes={"a": "b"}))


def test_a_recorded_span_encodes_as_opentelemetry_encodes_it() -> None:
    def act(span: trace.Span) -> None:
        span.add_event("event", {"n": 1})
        span.set_status(StatusCode.ERROR, "failed")

    _, ours = both(act, attributes=ODD)
    spans = ours.exporter.get_finished_spans()
    assert ExportTraceServiceRequest.FromString(encode_request(spans)) == encode_spans(spans)


def test_another_tracer_makes_its_own_span() -> None:
    span = start_span(trace.NoOpTracer(), "op", kind=KIND, attributes={"a": 1})
    assert not span.is_recording() and not isinstance(span, RecordedSpan)


class Drawn(IdGenerator):
    """Trace ids spread over the whole 64-bit range the ratio sampler reads."""

    def __init__(self, trace_ids: list[int]) -> None:
        self.trace_ids = list(trace_ids)

    def generate_span_id(self) -> int:
        return 0xFEED

    def generate_trace_id(self) -> int:
        return self.trace_ids.pop(0)


SAMPLE = Decision.RECORD_AND_SAMPLE
TRACE_IDS = [(0x5EED << 64) | (i * 0x9E3779B97F4A7C15 % (1 << 64)) for i in range(1, 401)]


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.5, 1.0])
def test_a_new_trace_is_decided_from_its_id_as_the_sdk_samplers_decide(ratio: float) -> None:
    provider = TracerProvider(sampler=HeadSampler(ratio), id_generator=Drawn(TRACE_IDS))
    reference = ParentBased(TraceIdRatioBased(ratio))
    tracer = provider.get_tracer("test")
    recorded = 0
    for trace_id in TRACE_IDS:
        decision = decide_root(tracer)
        assert decision is not None and decision.trace_id == trace_id
        sdk = reference.should_sample(None, trace_id, "GET").decision is SAMPLE
        assert (decision.unrecorded is None) is sdk
        if decision.unrecorded is None:
            recorded += 1
        else:  # the new trace, its sampled flag clear, in the form every hop sends
            assert decision.unrecorded == f"00-{trace_id:032x}-{0xFEED:016x}-00"
    assert recorded == sum(
        reference.should_sample(None, t, "GET").decision is SAMPLE for t in TRACE_IDS
    )
    if 0 < ratio < 1:
        assert 0 < recorded < len(TRACE_IDS)  # the ids do spread over both decisions


def test_a_recorded_new_trace_is_started_with_the_id_it_was_decided_on() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=HeadSampler(1.0), id_generator=Drawn(TRACE_IDS))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    decision = decide_root(tracer)
    assert decision is not None and decision.unrecorded is None
    span = start_span(tracer, "GET", kind=trace.SpanKind.SERVER, trace_id=decision.trace_id)
    span.end()
    (finished,) = exporter.get_finished_spans()
    assert finished.context is not None and finished.context.trace_id == TRACE_IDS[0]
    assert finished.parent is None and finished.context.trace_flags.sampled


def test_a_sampler_or_tracer_junction_did_not_set_up_decides_for_itself() -> None:
    # Another sampler (even an equivalent one) or a tracer that is not the SDK's: the head
    # decision is left to `start_span`, that is to the SDK.
    other = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.5))).get_tracer("test")
    assert decide_root(other) is None
    assert decide_root(trace.NoOpTracer()) is None
    # Inside a span the new span's parent is that span: not a new trace to decide on.
    junctions = TracerProvider(sampler=HeadSampler(0.0)).get_tracer("test")
    assert decide_root(junctions) is not None
    current = NonRecordingSpan(SpanContext(0xABC, 0xDEF, is_remote=True))
    with trace.use_span(current):
        assert decide_root(junctions) is None
    head = HeadSampler(0.25)  # OpenTelemetry's ParentBased of a TraceIdRatioBased
    assert isinstance(head, ParentBased) and head.root.rate == 0.25
