"""What the storefront's pages show, computed from an order and its trace: the cart, the
two lanes (what the customer waited for, what happened after the answer) and the trace
waterfall. Pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from junction.contracts.notifications import OrderEmails
from junction.contracts.orders import TERMINAL, OrderStatus, OrderView, TimelineEntry
from junction.traces import Span, in_tree_order

MAX_CART_LINES = 50
FINAL_EMAIL = {
    OrderStatus.CONFIRMED: "email_sent:receipt",
    OrderStatus.CANCELLED: "email_sent:cancellation",
}


def parse_cart(text: str) -> dict[str, int]:
    """`SKU:2,SKU2:1` as quantities per SKU; malformed parts are dropped."""
    cart: dict[str, int] = {}
    for part in text.split(","):
        sku, _, quantity = part.partition(":")
        if sku.strip() and quantity.strip().isdigit() and int(quantity) > 0:
            cart[sku.strip()] = cart.get(sku.strip(), 0) + int(quantity)
    return dict(list(cart.items())[:MAX_CART_LINES])


def cart_text(cart: dict[str, int]) -> str:
    return ",".join(f"{sku}:{quantity}" for sku, quantity in cart.items() if quantity > 0)


def with_emails(order: OrderView, emails: OrderEmails) -> OrderView:
    """The order's timeline with an entry for each email sent about it, in time order
    (once: orders of earlier versions recorded their emails in the timeline themselves)."""
    noted = {e.event for e in order.timeline}
    entries = [
        TimelineEntry(at=e.sent_at, service="notifications", event=f"email_sent:{e.kind}")
        for e in emails.emails
        if f"email_sent:{e.kind}" not in noted
    ]
    return order.model_copy(
        update={"timeline": sorted([*order.timeline, *entries], key=lambda e: e.at)}
    )


def finished(order: OrderView) -> bool:
    """Terminal, and its last email sent: nothing more will happen to it."""
    final = FINAL_EMAIL.get(order.status)
    return order.status in TERMINAL and final in {e.event for e in order.timeline}


@dataclass(frozen=True)
class SyncCall:
    caller: str
    callee: str
    what: str
    ms: float | None


@dataclass(frozen=True)
class AsyncStep:
    event: str
    publisher: str
    consumer: str
    at: datetime | None
    after_ms: float | None


@dataclass(frozen=True)
class Lanes:
    source: str  # "trace" or "timeline"
    waited_ms: float | None
    sync: list[SyncCall]
    after: list[AsyncStep]


def _root(spans: list[Span]) -> Span | None:
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.kind == "server" and s.parent_id not in ids]
    return min(roots, key=lambda s: s.start_ns) if roots else None


def lanes_from_trace(spans: list[Span]) -> Lanes | None:
    """Both lanes from the checkout's trace; None while its root span is not there."""
    root = _root(spans)
    if root is None:
        return None
    by_id = {s.span_id: s for s in spans}
    sync = [
        SyncCall(
            caller=s.service,
            callee=str(s.attributes.get("peer.service", "?")),
            what=f"{s.name} {urlsplit(str(s.attributes.get('url.full', ''))).path}".strip(),
            ms=s.duration_ms,
        )
        for s in sorted(spans, key=lambda s: s.start_ns)
        if s.kind == "client" and s.start_ns < root.end_ns and "peer.service" in s.attributes
    ]
    after = []
    for s in sorted(spans, key=lambda s: s.start_ns):
        if s.kind != "consumer":
            continue
        producer = by_id.get(s.parent_id or "")
        after.append(
            AsyncStep(
                event=s.name.removesuffix(" process").rsplit(".", 1)[-1],
                publisher=producer.service if producer else "?",
                consumer=s.service,
                at=datetime.fromtimestamp(s.start_ns / 1e9, tz=UTC),
                after_ms=(s.start_ns - root.end_ns) / 1e6,
            )
        )
    return Lanes("trace", root.duration_ms, sync, after)


# Timeline events of the synchronous path, and who recorded them.
SYNC_EVENTS = {"order_created", "stock_reserved", "payment_approved", "payment_declined"}


def lanes_from_timeline(order: OrderView) -> Lanes:
    """Both lanes from the order's timeline alone (no trace recorded): what happened, in
    order, without the durations only a trace has."""
    answered = next(
        (e.at for e in order.timeline if e.event in ("payment_approved", "payment_declined")),
        order.created_at,
    )
    sync = [
        SyncCall(caller="storefront", callee=e.service, what=e.event.replace("_", " "), ms=None)
        for e in order.timeline
        if e.event in SYNC_EVENTS
    ]
    after = [
        AsyncStep(
            event=e.event.replace("_", " "),
            publisher="",
            consumer=e.service,
            at=e.at,
            after_ms=(e.at - answered).total_seconds() * 1000,
        )
        for e in order.timeline
        if e.event not in SYNC_EVENTS
    ]
    return Lanes("timeline", None, sync, after)


@dataclass(frozen=True)
class WaterfallRow:
    span_id: str
    service: str
    name: str
    kind: str
    path: str
    depth: int
    offset: float  # per mille of the trace's duration
    width: float
    ms: float
    from_service: str | None  # a consumer's producer, across the async hop


def waterfall(spans: list[Span]) -> list[WaterfallRow]:
    """Every span, depth-first by start, placed on the trace's time axis."""
    if not spans:
        return []
    start = min(s.start_ns for s in spans)
    total = max(max(s.end_ns for s in spans) - start, 1)
    by_id = {s.span_id: s for s in spans}
    rows = []
    # A span under a consumer is part of the asynchronous path (notifications' SMTP call).
    after_consumer: dict[str, bool] = {}
    for depth, s in in_tree_order(spans):
        parent = by_id.get(s.parent_id or "")
        inherited = after_consumer.get(s.parent_id or "", False)
        after_consumer[s.span_id] = inherited or s.kind == "consumer"
        rows.append(
            WaterfallRow(
                span_id=s.span_id,
                service=s.service,
                name=s.name,
                kind=s.kind,
                path="async" if inherited and s.path else s.path,
                depth=depth,
                offset=round((s.start_ns - start) / total * 1000, 1),
                width=max(round((s.end_ns - s.start_ns) / total * 1000, 1), 2.0),
                ms=s.duration_ms,
                from_service=parent.service if s.kind == "consumer" and parent else None,
            )
        )
    return rows
