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


def waterfall(trace_id: str, spans: list[Span], width: int = 40) -> Table:
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    total = max(end - start, 1)
    table = Table(
        title=f"trace {trace_id}: {len(spans)} spans, "
        f"{len({s.service for s in spans})} services, {total / 1e6:.1f} ms"
    )
    for column in ("service", "span", "kind", "path", "start ms", "ms", "timeline"):
        table.add_column(column, justify="right" if "ms" in column else "left")
    for depth, s in ordered(spans):
        kind, path = KINDS.get(s.kind, ("?", ""))
        left = int((s.start_ns - start) / total * width)
        length = max(1, int((s.end_ns - s.start_ns) / total * width))
        bar = Text(
            " " * left + "█" * min(length, width - left),
            style="cyan" if path == "sync" else "magenta" if path == "async" else "",
        )
        table.add_row(
            s.service,
            "  " * depth + s.name,
            kind,
            path,
            f"{(s.start_ns - start) / 1e6:.1f}",
            f"{(s.end_ns - s.start_ns) / 1e6:.1f}",
            bar,
        )
    return table
