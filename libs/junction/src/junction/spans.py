"""Recorded spans at about half the SDK's cost to make, with the SDK's behaviour.

`start_span(tracer, ...)` is what `opentelemetry.sdk.trace.Tracer.start_span` does (parent
from the context, the tracer's sampler, id generator, limits, processors and its own
metrics hook), and a span it records is an `opentelemetry.sdk.trace.Span`: every method,
the processors' `on_start`/`on_end`, exporters and `to_json` see the SDK's type. What the
SDK spends on every span and a Junction span does not need is left out or made lazy:

- attributes are kept in a plain dict, not a `BoundedAttributes` (a lock and a dict per
  span, every value through the SDK's cleaning): with no length limit set, a str, bool,
  int or float under a non-empty key is stored as it is (what the cleaning does with it
  then); anything else, and everything when a length limit is set, goes through the
  SDK's own cleaning; past the tracer's attribute limit the oldest is dropped and
  counted, as `BoundedAttributes` does;
- the event and link lists are made when the first is added;
- on end the span itself goes to the processors, not a copy (`_readable_span`): it
  refuses every change once ended, as the SDK's does, so nothing can differ.

Measured in docs/decisions/0019-recorded-spans.md; `tests/unit/test_spans.py` holds what
it records equal to what the SDK records for the same calls, limits and errors included.
It leans on the SDK tracer's attributes that are not public API (`_is_enabled`,
`_tracer_metrics`, `_span_limits`, `_instrumentation_scope`); a tracer that is not exactly
the SDK's, or an SDK that no longer has them, gets `tracer.start_span` (the tests fail on
such an upgrade, so that it is noticed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from time import time_ns
from typing import TYPE_CHECKING, Any, NamedTuple

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Status, StatusCode, TraceFlags

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import Event
    from opentelemetry.util import types

logger = logging.getLogger(__name__)

_PLAIN = (str, bool, int, float)
_UNSET = Status(StatusCode.UNSET)
_SDK_FIELDS = ("_is_enabled", "_tracer_metrics", "_span_limits", "_instrumentation_scope")


def _lean_ok(tracer: trace.Tracer) -> bool:
    return type(tracer) is SdkTracer and all(hasattr(tracer, f) for f in _SDK_FIELDS)


class RecordedSpan(SdkSpan):
    """An SDK span made by `start_span` (see the module's docstring)."""

    def __init__(  # the SDK's own __init__ is the cost this replaces: not called
        self,
        name: str,
        context: trace.SpanContext,
        parent: trace.SpanContext | None,
        tracer: SdkTracer,
        attributes: types.Attributes,
        kind: trace.SpanKind,
        record_end_metrics: Callable[[], None],
    ) -> None:
        limits = tracer._span_limits
        self._name = name
        self._context = context
        self._kind = kind
        self._instrumentation_info = None
        self._instrumentation_scope = tracer._instrumentation_scope
        self._parent = parent
        self._start_time: int | None = None
        self._end_time: int | None = None
        self._resource = tracer.resource
        self._status = _UNSET
        self._sampler = tracer.sampler
        self._trace_config = None
        self._record_exception = True
        self._set_status_on_exception = True
        self._span_processor = tracer.span_processor
        self._limits = limits
        self._lock = threading.Lock()
        self._events: Any = ()
        self._links: Any = ()
        self._record_end_metrics = record_end_metrics
        self._dropped = 0
        self._attributes: dict[str, Any] = {}
        if attributes:
            self._set_items(attributes)

    def _set_items(self, attributes: Mapping[str, types.AnyValue]) -> None:
        stored = self._attributes
        max_len = self._limits.max_span_attribute_length
        most = self._limits.max_span_attributes
        if most == 0:
            self._dropped += len(attributes)
            return
        for key, value in attributes.items():
            if not (key and type(key) is str and type(value) in _PLAIN and max_len is None):
                # The SDK's own cleaning (and warnings) for anything else.
                cleaned = BoundedAttributes(None, {key: value}, max_value_len=max_len)
                self._dropped += cleaned.dropped
                if key not in cleaned:
                    continue
                value = cleaned[key]
            if key in stored:
                del stored[key]  # set again: last, as in BoundedAttributes
            elif most is not None and len(stored) >= most:
                logger.warning(
                    "Attributes dict is full. Dropping the oldest key-value pair from "
                    "attributes to make space for the new key-value pair."
                )
                del stored[next(iter(stored))]
                self._dropped += 1
            stored[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        with self._lock:
            if self._end_time is None:
                self._set_items(attributes)
                return
        logger.warning("Setting attribute on ended span.")

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        self.set_attributes({key: value})

    @property
    def dropped_attributes(self) -> int:
        return self._dropped

    def _add_event(self, event: Event) -> None:
        with self._lock:
            if self._end_time is None:
                if type(self._events) is tuple:
                    self._events = BoundedList(self._limits.max_events)
                self._events.append(event)
                return
        logger.warning("Tried calling _add_event on an ended span.")

    def _add_link(self, link: trace.Link) -> None:
        with self._lock:
            if self._end_time is None:
                if type(self._links) is tuple:
                    self._links = BoundedList(self._limits.max_links)
                self._links.append(link)
                return
        logger.warning("Tried calling _add_link on an ended span.")

    def end(self, end_time: int | None = None) -> None:
        with self._lock:
            if self._start_time is None:
                raise RuntimeError("Calling end() on a not started span.")
            if self._end_time is not None:
                logger.warning("Calling end() on an ended span.")
                return
            self._end_time = end_time if end_time is not None else time_ns()
        if self._record_end_metrics:
            self._record_end_metrics()
        self._span_processor._on_ending(self)
        self._span_processor.on_end(self)  # itself: it refuses changes from now on


class HeadSampler(ParentBased):
    """What Junction's services sample by: a trace continues its caller's decision; a new
    trace is recorded when its id falls under `ratio` (OpenTelemetry's `ParentBased` of a
    `TraceIdRatioBased`, the same decisions). Its root sampler is kept where `decide_root`
    can read it."""

    def __init__(self, ratio: float) -> None:
        self.root = TraceIdRatioBased(ratio)
        super().__init__(self.root)


class RootDecision(NamedTuple):
    """The head's decision for a new trace: its id, and its `traceparent` when the trace is
    not to be recorded (None when it is)."""

    trace_id: int
    unrecorded: str | None


def decide_root(tracer: trace.Tracer) -> RootDecision | None:
    """For a request that starts a trace: the head's decision, made from a new trace id as
    `HeadSampler` makes it, without a span, a `SpanContext` or the sampler's result
    objects. A trace not to be recorded is carried on as its `traceparent`
    (`telemetry.Unrecorded`); one to be recorded is started with `start_span(...,
    trace_id=decision.trace_id)`, which decides again on that id, and records it. None
    when the tracer or its sampler is not the one Junction sets up, the tracer is disabled,
    or a span is current (its trace would be the parent): `start_span` then decides, as
    the SDK does."""
    if not _lean_ok(tracer) or trace.get_current_span().get_span_context().is_valid:
        return None
    sdk: Any = tracer
    sampler = sdk.sampler
    if type(sampler) is not HeadSampler or not sdk._is_enabled():
        return None
    ids = sdk.id_generator
    trace_id = ids.generate_trace_id()
    if trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < sampler.root.bound:
        return RootDecision(trace_id, None)
    sdk._tracer_metrics.start_span(None, Decision.DROP)  # the SDK's own count of spans
    flags = "02" if ids.is_trace_id_random() else "00"
    return RootDecision(trace_id, f"00-{trace_id:032x}-{ids.generate_span_id():016x}-{flags}")


def start_span(
    tracer: trace.Tracer,
    name: str,
    *,
    kind: trace.SpanKind,
    attributes: types.Attributes = None,
    context: Context | None = None,
    trace_id: int | None = None,
) -> trace.Span:
    """`tracer.start_span(name, context, kind, attributes)`, the span made as
    `RecordedSpan` when the tracer is the SDK's. `trace_id`: a new trace's id when
    `decide_root` drew it (used where `context` holds no parent)."""
    if not _lean_ok(tracer):
        return tracer.start_span(name, context=context, kind=kind, attributes=attributes)
    sdk: Any = tracer
    current = trace.get_current_span(context).get_span_context()
    if not sdk._is_enabled():
        return trace.NonRecordingSpan(context=current)
    ids = sdk.id_generator
    parent: trace.SpanContext | None
    if current.is_valid:
        parent = current
        trace_id = current.trace_id
        random_trace_id = current.trace_flags.random_trace_id
    else:
        parent = None
        if trace_id is None:
            trace_id = ids.generate_trace_id()
        random_trace_id = ids.is_trace_id_random()
    result = sdk.sampler.should_sample(context, trace_id, name, kind, attributes, ())
    flags = TraceFlags.SAMPLED if result.decision.is_sampled() else TraceFlags.DEFAULT
    if random_trace_id:
        flags |= TraceFlags.RANDOM_TRACE_ID
    span_context = trace.SpanContext(
        trace_id,
        ids.generate_span_id(),
        is_remote=False,
        trace_flags=TraceFlags(flags),
        trace_state=result.trace_state,
    )
    record_end_metrics = sdk._tracer_metrics.start_span(parent, result.decision)
    if not result.decision.is_recording():
        return trace.NonRecordingSpan(context=span_context)
    span = RecordedSpan(
        name, span_context, parent, sdk, result.attributes, kind, record_end_metrics
    )
    span.start(parent_context=context)
    return span
