"""A trace as a terminal waterfall, from Jaeger v2's query API (or the local trace store)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

from junctionctl.errors import CtlError

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
KINDS = {
    1: ("internal", ""),
    2: ("server", "sync"),
    3: ("client", "sync"),
    4: ("producer", "async"),
    5: ("consumer", "async"),
}


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int
    span_id: str
    parent_id: str | None
    start_ns: int
    end_ns: int


def get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise CtlError(f"{url} answered {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise CtlError(f"{url} is unreachable ({exc})") from exc


def resolve_trace_id(ident: str, storefront: str) -> str:
    """The trace of an order (looked up on the storefront), or `ident` itself as a trace id.

    Order ids and trace ids are both 32 hex digits, so the order is asked for first.
    """
    order = get_json(f"{storefront.rstrip('/')}/api/orders/{ident}")
    if order is not None:
        if not order.get("trace_id"):
            raise CtlError(f"order {ident} has no trace (was tracing off?)")
        return str(order["trace_id"])
    if TRACE_ID.match(ident.lower()):
        return ident.lower()
    raise CtlError(f"{ident} is neither a known order nor a trace id")


def fetch(query_url: str, trace_id: str) -> list[Span]:
    doc = get_json(f"{query_url.rstrip('/')}/api/v3/traces/{trace_id}")
    if doc is None:
        raise CtlError(f"trace {trace_id} not found at {query_url}")
    spans = []
    for rs in doc["result"]["resourceSpans"]:
        attrs = {a["key"]: a["value"] for a in rs.get("resource", {}).get("attributes", [])}
        service = attrs.get("service.name", {}).get("stringValue", "?")
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                spans.append(
                    Span(
                        service,
                        s["name"],
                        int(s.get("kind", 0)),
                        s["spanId"],
                        s.get("parentSpanId") or None,
                        int(s["startTimeUnixNano"]),
                        int(s["endTimeUnixNano"]),
                    )
                )
    return spans


def ordered(spans: list[Span]) -> list[tuple[int, Span]]:
    """Depth-first by start time: (depth, span)."""
    children: dict[str | None, list[Span]] = {}
    ids = {s.span_id for s in spans}
    for s in spans:
        parent = s.parent_id if s.parent_id in ids else None
        children.setdefault(parent, []).append(s)
    out: list[tuple[int, Span]] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda x: x.start_ns):
            out.append((depth, s))
            walk(s.span_id, depth + 1)

    walk(None, 0)
    return out


def name_widths(spans: list[Span]) -> dict[str, int]:
    return {
        "service": max(len(s.service) for s in spans),
        "span": max(2 * depth + len(s.name) for depth, s in ordered(spans)),
    }


def needed_room(spans: list[Span]) -> int:
    """Columns the table needs without its timeline bar: names whole, kind (8), path (5),
    two figures (8 each), with Rich's padding and borders (3 per column)."""
    names = name_widths(spans)
    return names["service"] + names["span"] + 8 + 5 + 8 + 8 + 3 * 6 + 1


def waterfall(trace_id: str, spans: list[Span], width: int = 40, room: int = 200) -> Table:
    """The trace as a table; `room` is the terminal's width. Service and span names are never
    cut (people grep for them): where the room is short the timeline bar goes first."""
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    total = max(end - start, 1)
    rows = ordered(spans)
    names = name_widths(spans)
    with_bar = room >= needed_room(spans) + width + 3
    table = Table(
        title=f"trace {trace_id}: {len(spans)} spans, "
        f"{len({s.service for s in spans})} services, {total / 1e6:.1f} ms"
    )
    for column in ("service", "span", "kind", "path", "start ms", "ms"):
        table.add_column(
            column,
            justify="right" if "ms" in column else "left",
            no_wrap=True,
            min_width=names.get(column),
        )
    if with_bar:
        table.add_column("timeline", no_wrap=True)
    for depth, s in rows:
        kind, path = KINDS.get(s.kind, ("?", ""))
        cells: list[str | Text] = [
            s.service,
            "  " * depth + s.name,
            kind,
            path,
            f"{(s.start_ns - start) / 1e6:.1f}",
            f"{(s.end_ns - s.start_ns) / 1e6:.1f}",
        ]
        if with_bar:
            left = int((s.start_ns - start) / total * width)
            length = max(1, int((s.end_ns - s.start_ns) / total * width))
            cells.append(
                Text(
                    " " * left + "█" * min(length, width - left),
                    style="cyan" if path == "sync" else "magenta" if path == "async" else "",
                )
            )
        table.add_row(*cells)
    return table


def as_json(trace_id: str, spans: list[Span]) -> dict[str, object]:
    """The trace for scripts: every span in waterfall order, times relative to its start."""
    start = min(s.start_ns for s in spans)
    return {
        "trace_id": trace_id,
        "services": sorted({s.service for s in spans}),
        "spans": [
            {
                "service": s.service,
                "name": s.name,
                "kind": KINDS.get(s.kind, ("?", ""))[0],
                "path": KINDS.get(s.kind, ("?", ""))[1] or None,
                "span_id": s.span_id,
                "parent_id": s.parent_id,
                "depth": depth,
                "start_ms": round((s.start_ns - start) / 1e6, 3),
                "duration_ms": round((s.end_ns - s.start_ns) / 1e6, 3),
            }
            for depth, s in ordered(spans)
        ],
    }
