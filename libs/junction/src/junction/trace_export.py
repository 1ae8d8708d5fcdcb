"""OTLP trace export: OpenTelemetry's gRPC exporter, its spans encoded straight to protobuf.

OpenTelemetry's encoder builds a protobuf object for every span, attribute key, value,
event and status before it serializes them: about 25 microseconds per span on the bench
machine, spent in the export thread while it holds the GIL, so taken from every service's
request and message path. Here the same `ExportTraceServiceRequest` is written as wire
bytes from the spans (a field is a tag, a length and its bytes; a key-value seen before is
copied from a small cache), then parsed once by protobuf's C implementation, so that the
exporter's own gRPC call, retries, headers, compression and TLS stay OpenTelemetry's:
about 9 microseconds per span, parse included (`uv run python -m bench.micro` measures
both in the same run). Tests hold the result equal to OpenTelemetry's encoding for every
kind of span and value the SDK makes.

Wire format (opentelemetry-proto, trace/v1): ExportTraceServiceRequest{1: ResourceSpans};
ResourceSpans{1: Resource{1: KeyValue}, 2: ScopeSpans, 3: schema_url};
ScopeSpans{1: InstrumentationScope{1: name, 2: version, 3: KeyValue}, 2: Span, 3: schema_url};
Span{1: trace_id, 2: span_id, 3: trace_state, 4: parent_span_id, 5: name, 6: kind,
7: start (fixed64), 8: end (fixed64), 9: KeyValue, 10: dropped attributes, 11: Event,
12: dropped events, 13: Link, 14: dropped links, 15: Status{2: message, 3: code},
16: flags (fixed32)}; KeyValue{1: key, 2: AnyValue{1: string, 2: bool, 3: int64,
4: double, 5: ArrayValue{1: AnyValue}, 6: KeyValueList{1: KeyValue}, 7: bytes}}.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as _OTLPSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext

logger = logging.getLogger(__name__)

_fixed64 = struct.Struct("<Q").pack
_double = struct.Struct("<d").pack
_fixed32 = struct.Struct("<I").pack
_BYTE = [bytes((i,)) for i in range(128)]  # a varint below 128 is that one byte

# Span flags (fixed32, field 16): the parent's remoteness is known; it is remote.
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_SPAN_FLAGS = (
    b"\x85\x01" + _fixed32(_HAS_IS_REMOTE),
    b"\x85\x01" + _fixed32(_HAS_IS_REMOTE | _IS_REMOTE),
)
_KIND = [b"\x30" + _BYTE[kind + 1] for kind in range(5)]  # SpanKind.INTERNAL=0 is proto's 1

# Encoded key-values by (field tag, key, value type, value): the same few keys and most of
# their values (service, subject, consumer, method, route) recur in every span. The type is
# in the key since True, 1 and 1.0 are equal keys. Bounded:
# cleared when full, since ids and sizes rarely recur.
_CACHE_LIMIT = 4096
_kv_cache: dict[tuple[bytes, str, type, object], bytes] = {}


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _BYTE[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag, the payload's length, the payload."""
    n = len(payload)
    return tag + (_BYTE[n] if n < 0x80 else _varint(n)) + payload


def _any_value(value: Any) -> bytes:
    """The fields of an AnyValue (OpenTelemetry's `_encode_value`: bool before int, any
    other sequence an array, a mapping a key-value list; None an empty value)."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(b"\x0a", value.encode())
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:  # protobuf refuses it; OpenTelemetry's encoder too
            raise ValueError(f"Value out of range: {value}")
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)  # int64: two's complement
    if isinstance(value, float):
        return b"\x21" + _double(value)
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join([_field(b"\x0a", _any_value(v)) for v in value]))
    if isinstance(value, Mapping):
        return _field(b"\x32", b"".join([_key_value(b"\x0a", str(k), v) for k, v in value.items()]))
    raise TypeError(f"Invalid type {type(value)} of value {value}")


def _key_value(tag: bytes, key: str, value: Any) -> bytes:
    # Not floats: 0.0 and -0.0 are one dict key but two encodings.
    cacheable = type(value) in (str, int, bool)
    if cacheable:
        cache_key = (tag, key, type(value), value)
        if (encoded := _kv_cache.get(cache_key)) is not None:
            return encoded
    encoded = _field(tag, _field(b"\x0a", key.encode()) + _field(b"\x12", _any_value(value)))
    if cacheable:
        if len(_kv_cache) >= _CACHE_LIMIT:
            _kv_cache.clear()
        _kv_cache[cache_key] = encoded
    return encoded


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    if not attributes:
        return b""
    out = []
    for key, value in attributes.items():
        try:
            out.append(_key_value(tag, key, value))
        except Exception as exc:  # as OpenTelemetry's encoder: the attribute is left out
            logger.exception("Failed to encode key %s: %s", key, exc)
    return b"".join(out)


def _trace_state(context: SpanContext) -> bytes:
    state = context.trace_state
    if not state:
        return b""
    return _field(b"\x1a", ",".join([f"{k}={v}" for k, v in state.items()]).encode())


def encode_span(span: ReadableSpan) -> bytes:
    """One Span message, without its field tag."""
    context = span.get_span_context()
    assert context is not None  # an ended SDK span always has one
    parent = span.parent
    parts = [
        b"\x0a\x10",
        context.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        context.span_id.to_bytes(8, "big"),
        _trace_state(context),
    ]
    if parent:
        parts += (b"\x22\x08", parent.span_id.to_bytes(8, "big"))
    parts += (
        _field(b"\x2a", span.name.encode()),
        _KIND[span.kind.value],
        b"\x39" + _fixed64(span.start_time or 0) + b"\x41" + _fixed64(span.end_time or 0),
        _attributes(b"\x4a", span.attributes),
    )
    if dropped := span.dropped_attributes:
        parts.append(b"\x50" + _varint(dropped))
    for event in span.events:
        parts.append(
            _field(
                b"\x5a",
                b"\x09"
                + _fixed64(event.timestamp)
                + _field(b"\x12", event.name.encode())
                + _attributes(b"\x1a", event.attributes)
                + (b"\x20" + _varint(d) if (d := event.dropped_attributes) else b""),
            )
        )
    if dropped := span.dropped_events:
        parts.append(b"\x60" + _varint(dropped))
    for link in span.links:
        linked = link.context
        parts.append(
            _field(
                b"\x6a",
                b"\x0a\x10"
                + linked.trace_id.to_bytes(16, "big")
                + b"\x12\x08"
                + linked.span_id.to_bytes(8, "big")
                + _attributes(b"\x22", link.attributes)
                + (b"\x28" + _varint(d) if (d := link.dropped_attributes) else b"")
                + b"\x35"
                + _fixed32(_HAS_IS_REMOTE | (_IS_REMOTE if linked.is_remote else 0)),
            )
        )
    if dropped := span.dropped_links:
        parts.append(b"\x70" + _varint(dropped))
    status = span.status
    if status is not None:
        message = _field(b"\x12", status.description.encode()) if status.description else b""
        code = status.status_code.value
        parts.append(_field(b"\x7a", message + (b"\x18" + _varint(code) if code else b"")))
    parts.append(_SPAN_FLAGS[bool(parent and parent.is_remote)])
    return b"".join(parts)


def _scope(scope: InstrumentationScope | None) -> bytes:
    if scope is None:
        return _field(b"\x0a", b"")
    return _field(
        b"\x0a",
        (_field(b"\x0a", scope.name.encode()) if scope.name else b"")
        + (_field(b"\x12", scope.version.encode()) if scope.version else b"")
        + _attributes(b"\x1a", scope.attributes),
    )


def encode_request(spans: Sequence[ReadableSpan]) -> bytes:
    """An ExportTraceServiceRequest's bytes: spans grouped by resource, then scope, in the
    order first seen, as OpenTelemetry's encoder groups them (by equality; a resource is
    compared once per distinct object, where the SDK hashes its attributes as JSON for
    every span)."""
    groups: list[tuple[Resource, dict[InstrumentationScope | None, list[bytes]]]] = []
    seen: dict[int, int] = {}  # id(resource) -> its group
    for span in spans:
        resource = span.resource
        index = seen.get(id(resource))
        if index is None:
            index = next((i for i, (r, _) in enumerate(groups) if r == resource), len(groups))
            if index == len(groups):
                groups.append((resource, {}))
            seen[id(resource)] = index
        scopes = groups[index][1]
        scopes.setdefault(span.instrumentation_scope or None, []).append(
            _field(b"\x12", encode_span(span))
        )
    out = []
    for resource, scopes in groups:
        parts = [_field(b"\x0a", _attributes(b"\x0a", resource.attributes))]
        for scope, encoded in scopes.items():
            schema = scope.schema_url if scope is not None else None
            parts.append(
                _field(
                    b"\x12",
                    _scope(scope)
                    + b"".join(encoded)
                    + (_field(b"\x1a", schema.encode()) if schema else b""),
                )
            )
        if resource.schema_url:
            parts.append(_field(b"\x1a", resource.schema_url.encode()))
        out.append(_field(b"\x0a", b"".join(parts)))
    return b"".join(out)


class OTLPSpanExporter(_OTLPSpanExporter):
    """OpenTelemetry's OTLP/gRPC span exporter (endpoint, headers, TLS, compression, timeout
    and retries from the same arguments and `OTEL_EXPORTER_OTLP_*` variables), whose request
    is encoded by `encode_request`.

    `_translate_data` is the hook through which each of OpenTelemetry's OTLP exporters
    (traces, metrics, logs) turns its data into a request; it is not public API, so the
    integration test fails should an upgrade stop calling it."""

    def _translate_data(self, data: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        request: ExportTraceServiceRequest = ExportTraceServiceRequest.FromString(
            encode_request(data)
        )
        return request
