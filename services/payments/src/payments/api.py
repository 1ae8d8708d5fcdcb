"""Payments' HTTP API (internal: called by storefront)."""

from __future__ import annotations

import asyncio
import random

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from junction.contracts import OrderId
from junction.telemetry import annotate_order
from payments import handlers
from payments.deps import PaymentsDep
from payments.domain import KNOWN_TOKENS, Payment, PaymentStatus

router = APIRouter()


class ChargeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: OrderId
    amount_cents: int = Field(ge=0, le=100_000_000)
    payment_token: str = Field(min_length=1, max_length=64)
    customer_email: EmailStr

    @field_validator("payment_token")
    @classmethod
    def known_token(cls, token: str) -> str:
        if token not in KNOWN_TOKENS:
            raise ValueError(f"unknown payment token; use one of {', '.join(sorted(KNOWN_TOKENS))}")
        return token


class PaymentView(BaseModel):
    order_id: str
    status: PaymentStatus
    amount_cents: int
    decline_reason: str | None

    @classmethod
    def of(cls, p: Payment) -> PaymentView:
        return cls(
            order_id=p.order_id,
            status=p.status,
            amount_cents=p.amount_cents,
            decline_reason=p.decline_reason,
        )


@router.post("/payments", status_code=201, response_model=PaymentView)
async def charge(
    body: ChargeBody, deps: PaymentsDep, response: Response
) -> PaymentView | JSONResponse:
    annotate_order(body.order_id)
    s = deps.settings
    if s.fault_latency_seconds and random.random() < s.fault_latency_rate:
        await asyncio.sleep(s.fault_latency_seconds)
    if s.fault_error_rate and random.random() < s.fault_error_rate:
        return JSONResponse(
            {"error": "provider_unavailable", "message": "injected transient fault"},
            status_code=503,
        )
    payment, created = await handlers.charge(
        deps.payments,
        order_id=body.order_id,
        amount_cents=body.amount_cents,
        token=body.payment_token,
        customer_email=str(body.customer_email),
    )
    if not created:
        response.status_code = 200
    return PaymentView.of(payment)


@router.get("/payments/{order_id}")
async def get_payment(order_id: OrderId, deps: PaymentsDep) -> PaymentView:
    found = await deps.payments.get(order_id)
    if found is None:
        raise HTTPException(404, detail=f"no payment for order {order_id}")
    return PaymentView.of(found.value)
