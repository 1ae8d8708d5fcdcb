"""Orders' HTTP API (internal: called by storefront)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from junction.contracts.common import OrderId, merge_lines
from junction.contracts.orders import OrderView, PlaceOrderRequest
from junction.errors import NotFound
from junction.telemetry import annotate_order
from orders import handlers
from orders.deps import OrdersDep

router = APIRouter()


@router.post(
    "/orders",
    status_code=201,
    responses={409: {"description": "out of stock"}, 422: {"description": "invalid"}},
)
async def place_order(body: PlaceOrderRequest, deps: OrdersDep, response: Response) -> OrderView:
    annotate_order(body.order_id)
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
    if not placed:
        response.status_code = 200  # a repeat: the order as it already is
    return OrderView.model_validate(order, from_attributes=True)


@router.get("/orders/{order_id}")
async def get_order(order_id: OrderId, deps: OrdersDep) -> OrderView:
    found = await deps.orders.get(order_id)
    if found is None:
        raise NotFound(f"no order {order_id}")
    return OrderView.model_validate(found.value, from_attributes=True)
