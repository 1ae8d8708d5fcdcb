"""Payments' HTTP API (internal: called by storefront)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import field_validator

from junction.contracts.common import OrderId
from junction.contracts.payments import ChargeRequest, PaymentView
from junction.errors import NotFound
from junction.telemetry import annotate_order
from payments import handlers
from payments.deps import PaymentsDep
from payments.domain import KNOWN_TOKENS

router = APIRouter()


class ChargeBody(ChargeRequest):
    """The contract's request, with the tokens this (test-mode) processor knows."""

    @field_validator("payment_token")
    @classmethod
    def known_token(cls, token: str) -> str:
        if token not in KNOWN_TOKENS:
            raise ValueError(f"unknown payment token; use one of {', '.join(sorted(KNOWN_TOKENS))}")
        return token


@router.post("/payments", status_code=201)
async def charge(body: ChargeBody, deps: PaymentsDep, response: Response) -> PaymentView:
    annotate_order(body.order_id)
    payment, created = await handlers.charge(
        deps.payments,
        order_id=body.order_id,
        amount_cents=body.amount_cents,
        token=body.payment_token,
        customer_email=str(body.customer_email),
    )
    if not created:
        response.status_code = 200
    return PaymentView.model_validate(payment, from_attributes=True)


@router.get("/payments/{order_id}")
async def get_payment(order_id: OrderId, deps: PaymentsDep) -> PaymentView:
    found = await deps.payments.get(order_id)
    if found is None:
        raise NotFound(f"no payment for order {order_id}")
    return PaymentView.model_validate(found.value, from_attributes=True)
