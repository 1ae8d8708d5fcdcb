"""Inventory's HTTP API (internal: called by orders, storefront and operators)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from inventory import handlers
from inventory.deps import InventoryDep
from junction.contracts.common import OrderId, Sku, merge_lines
from junction.contracts.inventory import (
    Catalogue,
    NewProductRequest,
    Product,
    ReservationView,
    ReserveStockRequest,
    RestockRequest,
    StockLedger,
)
from junction.errors import NotFound
from junction.telemetry import annotate_order

router = APIRouter()


@router.get("/products")
async def list_products(inv: InventoryDep) -> Catalogue:
    items = [await inv.stock.get(sku) for sku in await inv.stock.ids()]
    return Catalogue(
        [Product.model_validate(i.value, from_attributes=True) for i in items if i is not None]
    )


@router.get("/products/{sku}")
async def get_product(sku: Sku, inv: InventoryDep) -> StockLedger:
    found = await inv.stock.get(sku)
    if found is None:
        raise NotFound(f"unknown sku {sku}")
    return StockLedger.model_validate(found.value, from_attributes=True)


@router.put("/products/{sku}", status_code=201)
async def put_product(
    sku: Sku, body: NewProductRequest, inv: InventoryDep, response: Response
) -> StockLedger:
    item, created = await handlers.add_product(
        inv.stock, handlers.NewProduct(sku, body.name, body.price_cents, body.stock)
    )
    if not created:
        response.status_code = 200
    return StockLedger.model_validate(item, from_attributes=True)


@router.post("/products/{sku}/restock")
async def restock(sku: Sku, body: RestockRequest, inv: InventoryDep) -> StockLedger:
    item = await handlers.restock(inv.stock, sku, body.quantity)
    return StockLedger.model_validate(item, from_attributes=True)


@router.post(
    "/reservations",
    status_code=201,
    responses={
        409: {"description": "some SKUs are short"},
        422: {"description": "unknown SKUs or invalid input"},
    },
)
async def reserve(body: ReserveStockRequest, inv: InventoryDep) -> ReservationView:
    annotate_order(body.order_id)
    hold = min(
        body.hold_seconds or inv.settings.reservation_hold_seconds, inv.settings.max_hold_seconds
    )
    reservation = await handlers.reserve_stock(
        inv.stock,
        inv.reservations,
        order_id=body.order_id,
        lines=merge_lines(body.items),
        hold_seconds=hold,
    )
    return ReservationView.model_validate(reservation, from_attributes=True)


@router.get("/reservations/{order_id}")
async def get_reservation(order_id: OrderId, inv: InventoryDep) -> ReservationView:
    found = await handlers.reservation_view(inv.stock, inv.reservations, order_id)
    return ReservationView.model_validate(found, from_attributes=True)
