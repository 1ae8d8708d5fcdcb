"""The storefront's web pages: the catalogue with a cart and the checkout form, and the
order page, live. Server-rendered; the checkout form posts the same checkout the API
serves (same validation, same Idempotency-Key semantics), and works without JavaScript."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError

from junction.client import ServiceError
from junction.contracts.common import LineItem, OrderId
from junction.contracts.inventory import Catalogue, Product
from junction.contracts.orders import OrderStatus, OrderView
from junction.errors import DependencyUnavailable, NotFound, Overloaded
from junction.traces import Span, spans_of
from storefront.api import CheckoutBody, TraceDocument, place_checkout
from storefront.deps import StorefrontDep, StorefrontDeps
from storefront.domain import IdempotencyKeyReused, RequestInProgress
from storefront.order_view import order_of, read_order, read_order_and_emails
from storefront.views import (
    cart_text,
    finished,
    lanes_from_timeline,
    lanes_from_trace,
    parse_cart,
    waterfall,
)

router = APIRouter(include_in_schema=False)
FORM_PATHS = frozenset({"/checkout"})  # the one path that takes a form instead of JSON
STATIC = Path(__file__).parent / "static"
TOKENS = [
    ("tok_visa", "Card that is approved"),
    ("tok_declined", "Card that is declined"),
    ("tok_insufficient_funds", "Card with insufficient funds"),
]
templates = Environment(
    loader=PackageLoader("storefront", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
# Sections of the order page that a live update replaces, by element id.
LIVE_SECTIONS = ("order-status", "order-timeline", "order-lanes", "order-waterfall")


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


# -- the catalogue and the checkout form -------------------------------------------------


async def catalogue(deps: StorefrontDeps) -> list[Product] | None:
    try:
        return (await deps.inventory.get("/products", Catalogue)).root
    except (DependencyUnavailable, ServiceError):
        return None


def catalogue_page(
    products: list[Product] | None,
    cart: dict[str, int],
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    short: dict[str, int] | None = None,
    banner: str | None = None,
    email: str = "",
    token: str = "tok_visa",
) -> HTMLResponse:
    names = {p.sku: p for p in products or []}
    lines = [
        {
            "sku": sku,
            "quantity": quantity,
            "product": names.get(sku),
            "short": (short or {}).get(sku),
        }
        for sku, quantity in cart.items()
    ]
    return page(
        "catalogue.html",
        status,
        products=products,
        cart=cart,
        cart_text=cart_text(cart),
        lines=lines,
        total_cents=sum(names[s].price_cents * q for s, q in cart.items() if s in names),
        errors=errors or {},
        banner=banner,
        email=email,
        token=token,
        tokens=TOKENS,
        idempotency_key=uuid.uuid4().hex,
        with_cart=lambda c: "/?" + urlencode({"cart": cart_text(c)}) if c else "/",
    )


@router.get("/", response_class=HTMLResponse)
async def shop(
    deps: StorefrontDep, cart: str = "", add: str = "", qty: int = 1, remove: str = ""
) -> HTMLResponse:
    """The catalogue and the cart; `add`/`remove` change the cart (it lives in the URL)."""
    lines = parse_cart(cart)
    if add:
        lines[add] = lines.get(add, 0) + max(1, min(qty, 1000))
    if remove:
        lines.pop(remove, None)
    products = await catalogue(deps)
    if products is None:
        banner = "The catalogue is unavailable right now. Try again in a moment."
        return catalogue_page(None, lines, status=503, banner=banner)
    return catalogue_page(products, lines)


FIELD_NAMES = {"customer_email": "email", "payment_token": "payment", "items": "cart"}


def field_messages(fields: list[dict[str, Any]]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for f in fields:
        name = FIELD_NAMES.get(str(f["field"]).split(".")[0], "cart")
        errors.setdefault(name, str(f["message"]))
    return errors


@router.post("/checkout")
async def checkout_form(request: Request, deps: StorefrontDep) -> Response:
    """The checkout form: a redirect to the order page, or the form again with what is
    wrong next to where it is wrong."""
    form = parse_qs((await request.body()).decode(errors="replace"), keep_blank_values=True)

    def value(name: str) -> str:
        return form.get(name, [""])[0].strip()

    cart, email, token = parse_cart(value("cart")), value("customer_email"), value("payment_token")
    try:
        body = CheckoutBody(
            customer_email=email,
            items=[LineItem(sku=s, quantity=q) for s, q in cart.items()],
            payment_token=token,
        )
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        if not cart:
            fields.insert(
                0, {"field": "items", "message": "Your cart is empty: add something first."}
            )
        errors = field_messages(fields)
        return catalogue_page(
            await catalogue(deps), cart, status=422, errors=errors, email=email, token=token
        )
    key = value("idempotency_key") or None
    try:
        answer = await _place(body, deps, key)
    except IdempotencyKeyReused:
        banner = "This form was already sent with another cart. Check your cart and send it again."
        return catalogue_page(
            await catalogue(deps), cart, status=422, banner=banner, email=email, token=token
        )
    except (DependencyUnavailable, Overloaded):
        banner = (
            "The shop is busy or one of its services is down: nothing was charged. "
            "Send the form again in a moment; your cart is kept."
        )
        return catalogue_page(
            await catalogue(deps), cart, status=503, banner=banner, email=email, token=token
        )
    if answer.status in (201, 402):
        return RedirectResponse(f"/orders/{answer.body['order_id']}", status_code=303)
    if answer.body.get("error") == "out_of_stock":
        products = await catalogue(deps) or []
        left = {p.sku: p.available for p in products}
        short = {sku: left.get(sku, 0) for sku in answer.body.get("skus", [])}
        return catalogue_page(products, cart, status=409, short=short, email=email, token=token)
    if answer.body.get("error") == "unknown_sku":
        errors = {"cart": "No longer sold: " + ", ".join(answer.body.get("skus", []))}
        return catalogue_page(
            await catalogue(deps), cart, status=422, errors=errors, email=email, token=token
        )
    errors = field_messages(
        answer.body.get("fields") or [{"field": "cart", "message": answer.body.get("message", "")}]
    )
    return catalogue_page(
        await catalogue(deps), cart, status=answer.status, errors=errors, email=email, token=token
    )


async def _place(body: CheckoutBody, deps: StorefrontDeps, key: str | None) -> Any:
    """The checkout; a form sent twice (a double click) waits for the first's answer."""
    for _ in range(100):
        try:
            return await place_checkout(body, deps, key)
        except RequestInProgress:
            await asyncio.sleep(0.1)
    raise Overloaded("checkouts with this key", 1)


# -- the order page ----------------------------------------------------------------------


async def load_order(deps: StorefrontDeps, order_id: str) -> OrderView:
    return await read_order(
        order_id, orders=deps.orders, payments=deps.payments, notifications=deps.notifications
    )


async def load_trace(deps: StorefrontDeps, trace_id: str | None) -> list[Span] | None:
    """The trace's spans, or None when it was not recorded (or cannot be read now)."""
    if not trace_id or deps.traces is None:
        return None
    try:
        document = await deps.traces.get(f"/api/v3/traces/{trace_id}", TraceDocument)
    except (ServiceError, DependencyUnavailable):
        return None
    return spans_of(document.model_dump()) or None


def order_context(
    deps: StorefrontDeps, order: OrderView, spans: list[Span] | None
) -> dict[str, Any]:
    lanes = lanes_from_trace(spans) if spans else None
    jaeger = deps.settings.jaeger_ui_url.rstrip("/")
    return {
        "order": order,
        "terminal": order.status in (OrderStatus.CONFIRMED, OrderStatus.CANCELLED),
        "finished": finished(order),
        "declined": any(e.event == "payment_declined" for e in order.timeline),
        "lanes": lanes or lanes_from_timeline(order),
        "traced": lanes is not None,
        "rows": waterfall(spans or []),
        "jaeger_url": f"{jaeger}/trace/{order.trace_id}" if jaeger and order.trace_id else None,
    }


@router.get("/orders/{order_id}", response_class=HTMLResponse)
async def order_page(order_id: OrderId, deps: StorefrontDep) -> HTMLResponse:
    try:
        order = await load_order(deps, order_id)
    except NotFound as exc:
        return page("not_found.html", 404, message=exc.message)
    context = order_context(deps, order, await load_trace(deps, order.trace_id))
    return page("order.html", **context)


def sections(context: dict[str, Any]) -> dict[str, str]:
    module = templates.get_template("order.html").make_module(context)
    return {name: str(getattr(module, name.replace("-", "_"))()) for name in LIVE_SECTIONS}


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


# After an event, the order is read again at these delays (seconds): the order service
# records it a moment later, and spans reach the trace store in half-second batches.
FOLLOW_UPS = (0.15, 0.5, 1.0, 2.0)
# While notifications cannot answer (down, or its breaker open), the order is read again
# this often: an email sent meanwhile wakes the page only once, and may find it still out.
EMAILS_RETRY_SECONDS = 1.0


@router.get("/orders/{order_id}/live")
async def order_live(order_id: OrderId, request: Request, deps: StorefrontDep) -> Response:
    """The order page's sections as they change (Server-Sent Events), until the order is
    finished; the browser keeps one connection open and is sent what changed. When the
    replica stops, the stream ends with `reconnect` and the page opens it again."""
    deps.feed.admit()
    # 404 before a stream is opened: orders alone decides it, so the stream opens at once
    # even while notifications is slow to answer.
    await order_of(deps.orders, order_id)
    limit = deps.settings.live_max_seconds

    async def stream() -> AsyncIterator[bytes]:
        sent: dict[str, str] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        if deps.feed.closing:
            yield sse("reconnect", {})
            return
        async with deps.feed.watch(order_id) as changed:
            pending: list[float] = []  # reads again only after an event about the order
            lingering = False
            while loop.time() < deadline:
                if deps.feed.closing:
                    # This replica is stopping (`OrderFeed.close`): the page opens its
                    # stream again, which another replica serves.
                    yield sse("reconnect", {})
                    return
                order, emails_read = await read_order_and_emails(
                    order_id,
                    orders=deps.orders,
                    payments=deps.payments,
                    notifications=deps.notifications,
                )
                context = order_context(deps, order, await load_trace(deps, order.trace_id))
                fresh = {k: v for k, v in sections(context).items() if sent.get(k) != v}
                if fresh:
                    sent.update(fresh)
                    yield sse("order", {"status": order.status.value, "sections": fresh})
                if context["finished"] and not lingering:
                    lingering, pending = True, list(FOLLOW_UPS)  # the last spans still come
                if lingering and not pending:
                    yield sse("done", {"status": order.status.value})
                    return
                wait = pending.pop(0) if pending else 15.0
                if not emails_read:
                    wait = min(wait, EMAILS_RETRY_SECONDS)
                try:
                    await asyncio.wait_for(changed.wait(), wait)
                    changed.clear()
                    pending = list(FOLLOW_UPS)
                except TimeoutError:
                    if wait == 15.0:
                        yield b": still here\n\n"
                if await request.is_disconnected():
                    return

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
