"""Orders' HTTP API: what storefront sends to place an order and what it gets back."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from junction.contracts.common import Items, OrderId, OrderLine


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "PENDING_PAYMENT"
    PAID = "PAID"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


TERMINAL = frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED})


class TimelineEntry(BaseModel):
    at: datetime
    service: str
    event: str


class PlaceOrderRequest(BaseModel):
    """POST /orders: reserve the stock and store the order (idempotent by order id)."""

    model_config = ConfigDict(extra="forbid")

    order_id: OrderId
    customer_email: EmailStr
    items: Items
    hold_seconds: float | None = Field(default=None, gt=0)


class OrderView(BaseModel):
    """An order as orders answers for it: 201 when placed now, 200 when it existed."""

    order_id: str
    status: OrderStatus
    items: list[OrderLine]
    total_cents: int
    customer_email: str
    created_at: datetime
    timeline: list[TimelineEntry]
    trace_id: str | None

    @field_validator("timeline")
    @classmethod
    def _in_time_order(cls, timeline: list[TimelineEntry]) -> list[TimelineEntry]:
        return sorted(timeline, key=lambda e: e.at)
