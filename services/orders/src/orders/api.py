"""Orders' HTTP API (internal: called by storefront)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from junction.contracts import Items, OrderId, merge_lines
from junction.telemetry import annotate_order
from orders import handlers
from orders.deps import OrdersDep
from orders.domain import Order, OrderLine, OrderStatus, TimelineEntry

router = APIRouter()


class PlaceOrderBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: OrderId
    customer_email: EmailStr
    items: Items
    hold_seconds: float | None = Field(default=None, gt=0)


class OrderView(BaseModel):
    order_id: str
    status: OrderStatus
    items: list[OrderLine]
    total_cents: int
    customer_email: str
    created_at: datetime
    timeline: list[TimelineEntry]
    trace_id: str | None

    @classmethod
    def of(cls, order: Order) -> OrderView:
        return cls(
            order_id=order.order_id,
            status=order.status,
            items=order.items,
            total_cents=order.total_cents,
            customer_email=order.customer_email,
            created_at=order.created_at,
            timeline=sorted(order.timeline, key=lambda e: e.at),
            trace_id=order.trace_id,
        )


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderView,
    responses={409: {"description": "out of stock"}, 422: {"description": "invalid"}},
)
async def place_order(
    body: PlaceOrderBody, deps: OrdersDep, response: Response
) -> OrderView | JSONResponse:
    annotate_order(body.order_id)
    try:
        order, placed = await handlers.place_order(
            deps.orders,
            deps.inventory,
            handlers.PlaceOrder(
                order_id=body.order_id,
                customer_email=str(body.customer_email),
                lines=merge_lines(body.items),
                hold_seconds=body.hold_seconds,
            ),
        )
    except handlers.Rejected as exc:
        return JSONResponse(exc.body, status_code=exc.status)
    if not placed:
        response.status_code = 200  # a repeat: the order as it already is
    return OrderView.of(order)


@router.get("/orders/{order_id}")
async def get_order(order_id: OrderId, deps: OrdersDep) -> OrderView:
    found = await deps.orders.get(order_id)
    if found is None:
        raise HTTPException(404, detail=f"no order {order_id}")
    return OrderView.of(found.value)
