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
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from junction.spans import RecordedSpan, start_span
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
