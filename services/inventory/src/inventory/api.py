"""Inventory's HTTP API (internal: called by orders, storefront and operators)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from inventory import handlers
from inventory.deps import InventoryDep
from inventory.domain import Reservation, ReservationStatus, StockItem
from junction.contracts import Items, OrderId, Sku, merge_lines
from junction.telemetry import annotate_order

router = APIRouter()


class Product(BaseModel):
    sku: str
    name: str
    price_cents: int
    available: int


class StockLedger(Product):
    on_hand: int
    reserved: int
    initial: int
    restocked: int
    committed_units: int

    @classmethod
    def of(cls, item: StockItem) -> StockLedger:
        return cls(
            sku=item.sku,
            name=item.name,
            price_cents=item.price_cents,
            available=item.available,
            on_hand=item.on_hand,
            reserved=item.reserved,
            initial=item.initial,
            restocked=item.restocked,
            committed_units=item.committed_units,
        )


class NewProductBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    price_cents: int = Field(ge=0, le=10_000_000)
    stock: int = Field(ge=0, le=10_000_000)


class RestockBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quantity: int = Field(ge=1, le=10_000_000)


class ReserveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: OrderId
    items: Items
    hold_seconds: float | None = Field(default=None, gt=0)


class ReservationView(BaseModel):
    order_id: str
    status: ReservationStatus
    lines: list[dict[str, int | str]]
    total_cents: int
    expires_at: datetime
    short_skus: list[str]
    release_reason: str | None

    @classmethod
    def of(cls, r: Reservation) -> ReservationView:
        return cls(
            order_id=r.order_id,
            status=r.status,
            lines=[
                {"sku": s, "quantity": q, "price_cents": r.prices.get(s, 0)}
                for s, q in sorted(r.lines.items())
            ],
            total_cents=r.total_cents,
            expires_at=r.expires_at,
            short_skus=r.short_skus,
            release_reason=r.release_reason,
        )


@router.get("/products")
async def list_products(inv: InventoryDep) -> list[Product]:
    items = [await inv.stock.get(sku) for sku in await inv.stock.ids()]
    return [
        Product(
            sku=i.value.sku,
            name=i.value.name,
            price_cents=i.value.price_cents,
            available=i.value.available,
        )
        for i in items
        if i is not None
    ]


@router.get("/products/{sku}")
async def get_product(sku: Sku, inv: InventoryDep) -> StockLedger:
    found = await inv.stock.get(sku)
    if found is None:
        raise HTTPException(404, detail=f"unknown sku {sku}")
    return StockLedger.of(found.value)


@router.put("/products/{sku}", status_code=201)
async def put_product(
    sku: Sku, body: NewProductBody, inv: InventoryDep, response: Response
) -> StockLedger:
    try:
        item, created = await handlers.add_product(
            inv.stock, handlers.NewProduct(sku, body.name, body.price_cents, body.stock)
        )
    except handlers.ProductConflict as exc:
        raise HTTPException(409, detail=str(exc)) from exc
    if not created:
        response.status_code = 200
    return StockLedger.of(item)


@router.post("/products/{sku}/restock")
async def restock(sku: Sku, body: RestockBody, inv: InventoryDep) -> StockLedger:
    try:
        item = await handlers.restock(inv.stock, sku, body.quantity)
    except handlers.UnknownSkus as exc:
        raise HTTPException(404, detail=str(exc)) from exc
    return StockLedger.of(item)


@router.post(
    "/reservations",
    status_code=201,
    response_model=ReservationView,
    responses={
        409: {"description": "some SKUs are short"},
        422: {"description": "unknown SKUs or invalid input"},
    },
)
async def reserve(body: ReserveBody, inv: InventoryDep) -> ReservationView | JSONResponse:
    annotate_order(body.order_id)
    hold = min(
        body.hold_seconds or inv.settings.reservation_hold_seconds, inv.settings.max_hold_seconds
    )
    try:
        reservation = await handlers.reserve_stock(
            inv.stock,
            inv.reservations,
            order_id=body.order_id,
            lines=merge_lines(body.items),
            hold_seconds=hold,
        )
    except handlers.UnknownSkus as exc:
        return JSONResponse(
            {"error": "unknown_sku", "skus": exc.skus, "message": str(exc)}, status_code=422
        )
    if reservation.status is ReservationStatus.REJECTED:
        return JSONResponse(
            {
                "error": "out_of_stock",
                "skus": reservation.short_skus,
                "message": "not enough stock for " + ", ".join(reservation.short_skus),
            },
            status_code=409,
        )
    return ReservationView.of(reservation)


@router.get("/reservations/{order_id}")
async def get_reservation(order_id: OrderId, inv: InventoryDep) -> ReservationView:
    found = await inv.reservations.get(order_id)
    if found is None:
        raise HTTPException(404, detail=f"no reservation for order {order_id}")
    return ReservationView.of(found.value)
