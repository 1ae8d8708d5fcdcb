"""Storefront: the public API customers call."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from junction.contracts import Items, OrderId
from storefront import handlers
from storefront.deps import StorefrontDep

router = APIRouter(prefix="/api")


class CheckoutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_email: EmailStr
    items: Items
    payment_token: str = Field(
        min_length=1, max_length=64, description="tok_visa is approved, tok_declined is declined"
    )


class CheckoutAccepted(BaseModel):
    order_id: str
    status: str
    payment_status: str
    total_cents: int


class Product(BaseModel):
    sku: str
    name: str
    price_cents: int
    available: int


IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
]


@router.get("/products")
async def list_products(deps: StorefrontDep) -> list[Product]:
    answer = await deps.inventory.get("/products")
    if answer.status != 200:
        raise HTTPException(502, detail=f"inventory answered {answer.status}")
    return [Product.model_validate(p) for p in answer.body]


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
    request_body: dict[str, Any] = body.model_dump(mode="json")
    with deps.admission:
        answer = await handlers.idempotent_checkout(
            handlers.Checkout(
                customer_email=str(body.customer_email),
                items=request_body["items"],
                payment_token=body.payment_token,
            ),
            request_body,
            idempotency_key,
            requests=deps.requests,
            orders=deps.orders,
            payments=deps.payments,
            lease_seconds=deps.settings.idempotency_lease_seconds,
        )
    return JSONResponse(answer.body, status_code=answer.status)


@router.get("/orders/{order_id}")
async def get_order(order_id: OrderId, deps: StorefrontDep) -> dict[str, Any]:
    answer = await deps.orders.get(f"/orders/{order_id}")
    if answer.status == 404:
        raise HTTPException(404, detail=f"no order {order_id}")
    if answer.status != 200:
        raise HTTPException(502, detail=f"orders answered {answer.status}")
    order: dict[str, Any] = answer.body
    return {
        k: order[k]
        for k in (
            "order_id",
            "status",
            "items",
            "total_cents",
            "created_at",
            "timeline",
            "trace_id",
        )
    }
