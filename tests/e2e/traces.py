"""Reading a trace from Jaeger v2's query API (or the local trace store, same shape)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5
# Subjects whose events no durable consumer reads, so that a trace holds their publish
# without a consumer: none today (the last, NotificationSent, is no longer published). The
# e2e image runs without the Junction library: tests/contracts holds this equal to
# junction.contracts.catalogue.CONSUMERS.
UNCONSUMED_SUBJECTS: frozenset[str] = frozenset()


def attr_value(value: dict[str, Any]) -> Any:
    for key in ("stringValue", "intValue", "boolValue", "doubleValue"):
        if key in value:
            return int(value[key]) if key == "intValue" else value[key]
    return None


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int
    span_id: str
    parent_id: str | None
    attributes: dict[str, Any]
    duration_ms: float


def parse_trace(doc: dict[str, Any]) -> list[Span]:
    spans = []
    for rs in doc["result"]["resourceSpans"]:
        resource = {a["key"]: attr_value(a["value"]) for a in rs["resource"].get("attributes", [])}
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                spans.append(
                    Span(
                        service=str(resource.get("service.name")),
                        name=s["name"],
                        kind=int(s.get("kind", 0)),
                        span_id=s["spanId"],
                        parent_id=s.get("parentSpanId") or None,
                        attributes={
                            a["key"]: attr_value(a["value"]) for a in s.get("attributes", [])
                        },
                        duration_ms=(int(s["endTimeUnixNano"]) - int(s["startTimeUnixNano"])) / 1e6,
                    )
                )
    return spans


async def fetch_trace(
    session: aiohttp.ClientSession,
    query_url: str,
    trace_id: str,
    complete: Callable[[list[Span]], bool],
    timeout: float = 20.0,
) -> list[Span]:
    """Poll until the trace satisfies `complete` (spans arrive in export batches)."""
    deadline = time.monotonic() + timeout
    spans: list[Span] = []
    while time.monotonic() < deadline:
        async with session.get(f"{query_url}/api/v3/traces/{trace_id}") as resp:
            if resp.status == 200:
                spans = parse_trace(await resp.json())
                if complete(spans):
                    return spans
        await asyncio.sleep(0.25)
    names = sorted(f"{s.service}:{s.name}" for s in spans)
    raise AssertionError(
        f"trace {trace_id} incomplete after {timeout}s: {names}; still lacking {awaited(spans)}"
    )


def children(spans: list[Span], parent: Span) -> list[Span]:
    return [s for s in spans if s.parent_id == parent.span_id]


def orphaned(spans: list[Span]) -> list[Span]:
    """Spans whose parent is not (or not yet) in the trace."""
    ids = {s.span_id for s in spans}
    return [s for s in spans if s.parent_id and s.parent_id not in ids]


def consumed(producer: Span) -> bool:
    """Whether the event a producer span published has a durable consumer, so that the
    trace must hold its other end."""
    return producer.attributes.get("messaging.destination.name") not in UNCONSUMED_SUBJECTS


def awaited(spans: list[Span]) -> list[str]:
    """What the trace still lacks: spans come in export batches, each service on its own
    schedule, so a consumer's span can be stored before its producer's, or a client's
    before the server's it called."""
    lacking = [f"parent of {s.service}:{s.name}" for s in orphaned(spans)]
    lacking += [
        f"consumer of {p.name}"
        for p in spans
        if p.kind == PRODUCER
        and consumed(p)
        and not any(c.kind == CONSUMER for c in children(spans, p))
    ]
    lacking += [
        f"server for {c.service}:{c.name}"
        for c in spans
        if c.kind == CLIENT and not c.name.startswith("smtp") and not children(spans, c)
    ]
    return lacking


def hops_complete(spans: list[Span]) -> bool:
    """Every service's spans have arrived and no hop in the trace waits for its other end."""
    return len({s.service for s in spans}) == 5 and not awaited(spans)


def assert_one_connected_trace(spans: list[Span]) -> None:
    """The shape every checkout trace must have (issue: one connected trace)."""
    by_id = {s.span_id: s for s in spans}
    assert {s.service for s in spans} == {
        "storefront",
        "orders",
        "inventory",
        "payments",
        "notifications",
    }
    roots = [s for s in spans if s.parent_id is None]
    assert len(roots) == 1, [(r.service, r.name) for r in roots]
    assert (roots[0].service, roots[0].kind) == ("storefront", SERVER)
    dangling = [(s.service, s.name) for s in orphaned(spans)]
    assert not dangling, f"spans whose parent is missing from the trace: {dangling}"

    # Every JetStream hop: a producer span with a consumer span as its child (for each event
    # that has a consumer).
    consumers = [s for s in spans if s.kind == CONSUMER]
    assert consumers
    for consumer in consumers:
        parent = by_id[consumer.parent_id or ""]
        assert parent.kind == PRODUCER, (consumer.name, parent.name)
        assert consumer.attributes.get("messaging.system") == "nats"
        assert consumer.attributes.get("messaging.destination.name")
    for producer in spans:
        if producer.kind == PRODUCER:
            assert producer.name.endswith(" publish"), producer.name
            assert not consumed(producer) or any(
                c.kind == CONSUMER for c in children(spans, producer)
            ), producer.name

    # Every HTTP hop: a client span with the server span as its child.
    http_clients = [s for s in spans if s.kind == CLIENT and not s.name.startswith("smtp")]
    assert len(http_clients) >= 3  # storefront->orders, orders->inventory, storefront->payments
    for client in http_clients:
        assert [c.kind for c in children(spans, client)] == [SERVER], client.name
