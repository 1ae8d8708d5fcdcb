"""Inventory's HTTP API: products and their stock ledger, and stock reservations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, RootModel

from junction.contracts.common import Items, OrderId, OrderLine


class Product(BaseModel):
    sku: str
    name: str
    price_cents: int
    available: int


class Catalogue(RootModel[list[Product]]):
    """GET /products: every product with what is available now."""


class StockLedger(Product):
    """One SKU's stock, for the conservation checks: on hand = initial + restocked - committed."""

    on_hand: int
    reserved: int
    initial: int
    restocked: int
    committed_units: int


class NewProductRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    price_cents: int = Field(ge=0, le=10_000_000)
    stock: int = Field(ge=0, le=10_000_000)


class RestockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(ge=1, le=10_000_000)


class ReservationStatus(StrEnum):
    # Stored as written before its holds: they are being placed, or all are in place (then
    # the answer, and a read, say HELD: inventory does not write the reservation again).
    PENDING = "pending"
    HELD = "held"  # every hold in place (stored so only by earlier versions)
    REJECTED = "rejected"  # some SKU was short; nothing held
    # Stored when claimed for the commit; with every hold deducted it is committed (the
    # answer and a read then say COMMITTED: inventory does not write it again).
    COMMITTING = "committing"
    COMMITTED = "committed"  # (stored so only by earlier versions)
    RELEASING = "releasing"
    RELEASED = "released"


class ReserveStockRequest(BaseModel):
    """POST /reservations: hold stock for every line, all or nothing (idempotent by order)."""

    model_config = ConfigDict(extra="forbid")

    order_id: OrderId
    items: Items
    hold_seconds: float | None = Field(default=None, gt=0)


class ReservationView(BaseModel):
    order_id: str
    status: ReservationStatus
    # Read from a reservation's `reserved_lines`, or from the wire's `lines`.
    lines: list[OrderLine] = Field(validation_alias=AliasChoices("reserved_lines", "lines"))
    total_cents: int
    expires_at: datetime
    short_skus: list[str]
    release_reason: str | None
