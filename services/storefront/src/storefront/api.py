"""Storefront: the public API customers call."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from junction.client import ServiceError
from junction.contracts.common import Items, OrderId, OrderLine
from junction.contracts.inventory import Catalogue, Product
from junction.contracts.orders import OrderStatus, TimelineEntry
from junction.errors import Invalid, NotFound
from junction.traces import TRACE_ID
from storefront import handlers
from storefront.deps import StorefrontDep, StorefrontDeps
from storefront.domain import CheckoutAccepted
from storefront.order_view import read_order

router = APIRouter(prefix="/api")


class CheckoutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_email: EmailStr
    items: Items
    payment_token: str = Field(
        min_length=1, max_length=64, description="tok_visa is approved, tok_declined is declined"
    )


class TraceDocument(BaseModel):
    """A trace as the query API returns it (OTLP JSON under `result`)."""

    model_config = ConfigDict(extra="allow")
    result: dict[str, Any]


class CustomerOrder(BaseModel):
    """An order as its customer sees it."""

    order_id: str
    status: OrderStatus
    items: list[OrderLine]
    total_cents: int
    created_at: datetime
    timeline: list[TimelineEntry]
    trace_id: str | None


IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
]


@router.get("/products")
async def list_products(deps: StorefrontDep) -> list[Product]:
    catalogue = await deps.inventory.get("/products", Catalogue)
    return catalogue.root


@router.post(
    "/checkout",
    status_code=201,
    response_model=CheckoutAccepted,
    responses={
        402: {"description": "payment declined"},
        409: {"description": "out of stock, or the same key in flight"},
        422: {"description": "invalid input, naming the field"},
        503: {"description": "a dependency is down, or too many checkouts in progress"},
    },
)
async def checkout(
    body: CheckoutBody, deps: StorefrontDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    answer = await place_checkout(body, deps, idempotency_key)
    return JSONResponse(answer.body, status_code=answer.status)


async def place_checkout(
    body: CheckoutBody, deps: StorefrontDeps, idempotency_key: str | None
) -> handlers.Answer:
    """The checkout as the API and the page place it: one admission limit, one use case."""
    request_body: dict[str, Any] = body.model_dump(mode="json")
    with deps.admission:
        return await handlers.idempotent_checkout(
            handlers.Checkout(
                customer_email=str(body.customer_email),
                items=body.items,
                payment_token=body.payment_token,
            ),
            request_body,
            idempotency_key,
            requests=deps.requests,
            orders=deps.orders,
            payments=deps.payments,
            lease_seconds=deps.settings.idempotency_lease_seconds,
        )


@router.get("/orders/{order_id}")
async def get_order(order_id: OrderId, deps: StorefrontDep) -> CustomerOrder:
    order = await read_order(
        order_id, orders=deps.orders, payments=deps.payments, notifications=deps.notifications
    )
    return CustomerOrder.model_validate(order, from_attributes=True)


@router.get("/traces/{trace_id}")
async def get_trace(trace_id: str, deps: StorefrontDep) -> dict[str, Any]:
    """A checkout's trace, read from the trace query API the storefront is configured with:
    read-only, this one path, for a valid trace id; nothing else is relayed."""
    if not TRACE_ID.match(trace_id):
        raise Invalid(f"{trace_id} is not a trace id (32 hex digits)", field="trace_id")
    if deps.traces is None:
        raise NotFound("no trace query API is configured")
    try:
        document = await deps.traces.get(f"/api/v3/traces/{trace_id}", TraceDocument)
    except ServiceError as exc:
        if exc.status == 404:
            raise NotFound(f"no trace {trace_id}") from exc
        raise
    return document.model_dump()
