"""Traces as the trace query API returns them (Jaeger v2's `GET /api/v3/traces/{id}`, which
the local trace store answers too): OTLP JSON, read into flat spans."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")

# OTLP span kinds, as numbers or as enum names.
KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
KIND_NAMES = {f"SPAN_KIND_{v.upper()}": v for v in KINDS.values()}


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    name: str
    kind: str  # internal, server, client, producer or consumer
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @property
    def path(self) -> str:
        """`sync` for HTTP (server and client spans), `async` for messaging."""
        if self.kind in ("server", "client"):
            return "sync"
        if self.kind in ("producer", "consumer"):
            return "async"
        return ""


def _value(v: dict[str, Any]) -> Any:
    for key in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if key in v:
            return int(v[key]) if key == "intValue" else v[key]
    return None


def _attributes(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {a["key"]: _value(a.get("value", {})) for a in items or []}


def _kind(raw: Any) -> str:
    if isinstance(raw, int):
        return KINDS.get(raw, "internal")
    return KIND_NAMES.get(str(raw), "internal")


def spans_of(document: dict[str, Any]) -> list[Span]:
    """Every span of a trace document, in the order the document lists them."""
    spans = []
    for rs in document.get("result", {}).get("resourceSpans", []):
        service = _attributes(rs.get("resource", {}).get("attributes")).get("service.name", "?")
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                spans.append(
                    Span(
                        trace_id=s["traceId"],
                        span_id=s["spanId"],
                        parent_id=s.get("parentSpanId") or None,
                        service=str(service),
                        name=s["name"],
                        kind=_kind(s.get("kind", 0)),
                        start_ns=int(s.get("startTimeUnixNano", 0)),
                        end_ns=int(s.get("endTimeUnixNano", 0)),
                        attributes=_attributes(s.get("attributes")),
                    )
                )
    return spans


def in_tree_order(spans: list[Span]) -> list[tuple[int, Span]]:
    """Depth-first by start time: (depth, span). A span whose parent is missing is a root."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[Span]] = {}
    for s in spans:
        children.setdefault(s.parent_id if s.parent_id in ids else None, []).append(s)
    out: list[tuple[int, Span]] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda x: x.start_ns):
            out.append((depth, s))
            walk(s.span_id, depth + 1)

    walk(None, 0)
    return out
