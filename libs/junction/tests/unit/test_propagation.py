"""Junction's `extract` and `inject` give exactly what OpenTelemetry's `propagate` gives for
every carrier and context (their shortcut covers the common case only), and leave
everything to OpenTelemetry once the propagators are replaced."""

import json
import logging
import random
from typing import Any

import pytest
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from junction.logs import JsonFormatter
from junction.telemetry import (
    Unrecorded,
    current_span_context,
    current_trace_id,
    extract,
    inject,
    unrecorded_parent,
    unsampled,
)

TRACE, SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("junction_propagators")]


def view(context: Context) -> tuple[Any, ...]:
    """What a context holds for propagation: its keys, its span's context, its baggage."""
    span = trace.get_current_span(context).get_span_context()
    return tuple(sorted(context)), span, dict(baggage.get_all(context))


def traceparents() -> list[str]:
    """Well-formed, malformed and borderline values, and a seeded mix of mutations."""
    valid = f"00-{TRACE}-{SPAN}-01"
    edges = [
        valid,
        valid[:-2] + "00",
        valid[:-2] + "ff",  # unknown flags are kept
        valid.upper(),
        f"00-{TRACE.upper()}-{SPAN}-01",
        f"01-{TRACE}-{SPAN}-01",
        f"01-{TRACE}-{SPAN}-01-extra",  # a later version may add fields
        f"00-{TRACE}-{SPAN}-01-extra",  # version 00 may not
        f"ff-{TRACE}-{SPAN}-01",
        f"00-{'0' * 32}-{SPAN}-01",
        f"00-{TRACE}-{'0' * 16}-01",
        f" {valid}",
        f"{valid}\t",
        f"{valid}\n",
        f"00-{TRACE[:-1]}-{SPAN}-01",
        f"00-{TRACE}0-{SPAN}-01",
        f"00-{TRACE}-{SPAN}-1",
        f"00-{TRACE}-{SPAN}-001",
        f"00_{TRACE}_{SPAN}_01",
        f"00-0x{TRACE[2:]}-{SPAN}-01",
        f"00-{TRACE[:5]}_{TRACE[6:]}-{SPAN}-01",
        f"00-+{TRACE[1:]}-{SPAN}-01",
        f"00-{TRACE}-{SPAN}-0g",
        "",
        "00",
        "garbage",
    ]
    rng = random.Random(20261201)
    alphabet = "0123456789abcdefABCDEF-x_+ \t\n"
    mutated = []
    for _ in range(3000):
        chars = list(valid)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(chars))
            match rng.randrange(3):
                case 0:
                    chars[at] = rng.choice(alphabet)
                case 1:
                    chars.insert(at, rng.choice(alphabet))
                case _:
                    del chars[at]
        mutated.append("".join(chars))
    return edges + mutated


def test_extract_gives_what_opentelemetry_gives_for_every_traceparent() -> None:
    other = {"Nats-Msg-Id": "e1", "content-type": "application/json"}
    for value in traceparents():
        carrier = {**other, "traceparent": value}
        assert view(extract(carrier)) == view(propagate.extract(carrier)), value


@pytest.mark.parametrize(
    "carrier",
    [
        {},
        {"content-type": "application/json"},
        {"traceparent": f"00-{TRACE}-{SPAN}-01", "tracestate": "vendor=value,other=1"},
        {"traceparent": f"00-{TRACE}-{SPAN}-00", "baggage": "tenant=acme,plan=gold"},
        {"baggage": "tenant=acme"},
        {"tracestate": "vendor=value"},
    ],
)
def test_extract_gives_what_opentelemetry_gives_without_a_lone_traceparent(
    carrier: dict[str, str],
) -> None:
    assert view(extract(carrier)) == view(propagate.extract(carrier))


def span_in(context: Context, flags: int, state: TraceState | None = None) -> Context:
    remote = SpanContext(int(TRACE, 16), int(SPAN, 16), True, TraceFlags(flags), state)
    return trace.set_span_in_context(NonRecordingSpan(remote), context)


@pytest.mark.parametrize(
    "context",
    [
        Context(),
        span_in(Context(), 0),
        span_in(Context(), 1),
        span_in(Context(), 0xFF),
        span_in(Context(), 1, TraceState([("vendor", "value")])),
        baggage.set_baggage("tenant", "acme", span_in(Context(), 1)),
        baggage.set_baggage("tenant", "acme", Context()),
        trace.set_span_in_context(trace.INVALID_SPAN, Context()),
    ],
)
def test_inject_writes_what_opentelemetry_writes(context: Context) -> None:
    ours: dict[str, str] = {"content-type": "application/json"}
    theirs = dict(ours)
    inject(ours, context)
    propagate.inject(theirs, context)
    assert ours == theirs


def test_inject_reads_the_current_context_by_default() -> None:
    token = otel_context.attach(span_in(Context(), 0))
    try:
        carrier: dict[str, str] = {}
        inject(carrier)
    finally:
        otel_context.detach(token)
    assert carrier == {"traceparent": f"00-{TRACE}-{SPAN}-00"}


class Marker(TextMapPropagator):
    """Propagators a deployment installed in place of Junction's."""

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[Any] = default_getter,
    ) -> Context:
        return span_in(Context(), 1, TraceState([("marker", "extract")]))

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[Any] = default_setter,
    ) -> None:
        setter.set(carrier, "marker", "inject")

    @property
    def fields(self) -> set[str]:
        return {"marker"}


def test_replaced_propagators_are_used_as_they_are() -> None:
    propagate.set_global_textmap(Marker())
    context = extract({"traceparent": f"00-{TRACE}-{SPAN}-00"})
    assert trace.get_current_span(context).get_span_context().trace_state.get("marker")
    carrier: dict[str, str] = {}
    inject(carrier, span_in(Context(), 1))
    assert carrier == {"marker": "inject"}


def test_only_an_unsampled_lone_traceparent_is_carried_as_it_came() -> None:
    # `unrecorded_parent` picks what `Unrecorded` may carry as a string: a trace whose head
    # decided not to record it, in a form OpenTelemetry would read and write back unchanged.
    other = {"Nats-Msg-Id": "e1", "content-type": "application/json"}
    taken = []
    values = traceparents()
    for value in values + [v[:-2] + "00" for v in values]:  # the mutations, unsampled too
        carrier = {**other, "traceparent": value}
        header = unrecorded_parent(carrier)
        if header is None:
            continue
        taken.append(header)
        assert header == value
        theirs = trace.get_current_span(propagate.extract(carrier)).get_span_context()
        assert theirs.is_valid and not theirs.trace_flags.sampled, value
        written: dict[str, str] = {}
        propagate.inject(written, propagate.extract(carrier))
        assert written == {"traceparent": value}
    assert f"00-{TRACE}-{SPAN}-00" in taken and len(taken) > 10  # the mutations hit some
    for carrier in (
        {"traceparent": f"00-{TRACE}-{SPAN}-01"},  # sampled
        {"traceparent": f"00-{TRACE}-{SPAN}-00", "tracestate": "vendor=value"},
        {"traceparent": f"00-{TRACE}-{SPAN}-00", "baggage": "tenant=acme"},
        {"traceparent": f"00-{TRACE.upper()}-{SPAN}-00"},  # OpenTelemetry's to read
        {},
    ):
        assert unrecorded_parent(carrier) is None, carrier


@pytest.mark.parametrize("flags", ["00", "02", "fe"])
def test_an_unrecorded_trace_is_carried_on_as_opentelemetry_carries_it(flags: str) -> None:
    value = f"00-{TRACE}-{SPAN}-{flags}"
    header = unrecorded_parent({"traceparent": value})
    assert header == value
    token = otel_context.attach(propagate.extract({"traceparent": value}))
    try:
        theirs: dict[str, str] = {}
        propagate.inject(theirs)
        their_span = trace.get_current_span().get_span_context()
    finally:
        otel_context.detach(token)
    with Unrecorded(header):
        ours: dict[str, str] = {}
        inject(ours)
        assert ours == theirs
        assert current_span_context() == their_span
        assert unsampled()
        assert current_trace_id() is None  # nothing of it is stored: not named
        # An explicit context is read as given; one made current inside takes precedence.
        explicit: dict[str, str] = {}
        inject(explicit, Context())
        assert explicit == {} and not unsampled(Context())
        token = otel_context.attach(span_in(Context(), 1))
        try:
            inner: dict[str, str] = {}
            inject(inner)
            assert inner == {"traceparent": f"00-{TRACE}-{SPAN}-01"} and not unsampled()
        finally:
            otel_context.detach(token)
    after: dict[str, str] = {}
    inject(after)
    assert after == {} and not unsampled() and current_span_context() == trace.INVALID_SPAN_CONTEXT


def test_replaced_propagators_get_no_unrecorded_shortcut() -> None:
    propagate.set_global_textmap(Marker())
    assert unrecorded_parent({"traceparent": f"00-{TRACE}-{SPAN}-00"}) is None


def test_a_log_line_names_an_unrecorded_trace_as_before() -> None:
    # Log lines carried the ids of a trace nobody records (OpenTelemetry's non-recording
    # span), so that a person can follow one request through the logs; they still do.
    formatter = JsonFormatter("orders")
    record = logging.makeLogRecord({"msg": "hello", "levelname": "INFO"})
    with Unrecorded(f"00-{TRACE}-{SPAN}-00"):
        line = json.loads(formatter.format(record))
    assert (line["trace_id"], line["span_id"]) == (TRACE, SPAN)
    outside = json.loads(formatter.format(record))
    assert (outside["trace_id"], outside["span_id"]) == (None, None)
