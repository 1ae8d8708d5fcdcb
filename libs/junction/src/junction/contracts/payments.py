"""Payments' HTTP API: charging an order, and the payment record."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from junction.contracts.common import OrderId


class PaymentStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    REFUNDED = "refunded"
    VOID = "void"  # the order was cancelled before any charge: refuse later charges


class ChargeRequest(BaseModel):
    """POST /payments: charge an order once (idempotent by order id)."""

    model_config = ConfigDict(extra="forbid")

    order_id: OrderId
    amount_cents: int = Field(ge=0, le=100_000_000)
    payment_token: str = Field(min_length=1, max_length=64)
    customer_email: EmailStr


class PaymentView(BaseModel):
    order_id: str
    status: PaymentStatus
    amount_cents: int
    decline_reason: str | None
