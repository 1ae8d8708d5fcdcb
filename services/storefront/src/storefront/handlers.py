"""The checkout: the synchronous path the customer waits for."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from junction.events import now
from junction.http import ServiceClient
from junction.store import AggregateStore
from junction.telemetry import annotate_order, current_trace_id
from storefront.domain import IdempotentRequest, fingerprint, key_id, order_id_for

logger = logging.getLogger(__name__)

Requests = AggregateStore[IdempotentRequest]


@dataclass(frozen=True)
class Checkout:
    customer_email: str
    items: list[dict[str, Any]]
    payment_token: str


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


async def checkout(
    cmd: Checkout, orders: ServiceClient, payments: ServiceClient, order_id: str
) -> Answer:
    """Create the order (stock reserved) and charge it; the answer the customer gets."""
    annotate_order(order_id)
    created = await orders.post(
        "/orders",
        {
            "order_id": order_id,
            "customer_email": cmd.customer_email,
            "items": cmd.items,
        },
        idempotent=True,
    )  # idempotent by order id
    if created.status in (409, 422):
        return Answer(created.status, created.body)
    if created.status not in (200, 201):
        raise RuntimeError(f"orders answered {created.status}")
    order = created.body
    if order["status"] != "PENDING_PAYMENT":
        # A retried request whose order already moved on: answer from the order itself.
        return answer_for_order(order)
    paid = await payments.post(
        "/payments",
        {
            "order_id": order_id,
            "amount_cents": order["total_cents"],
            "payment_token": cmd.payment_token,
            "customer_email": cmd.customer_email,
        },
        idempotent=True,
    )  # idempotent by order id
    if paid.status == 422:
        return Answer(422, paid.body)
    if paid.status not in (200, 201):
        raise RuntimeError(f"payments answered {paid.status}")
    if paid.body["status"] == "approved":
        return Answer(
            201,
            {
                "order_id": order_id,
                "status": "PAID",
                "payment_status": "approved",
                "total_cents": order["total_cents"],
            },
        )
    return Answer(
        402,
        {
            "error": "payment_declined",
            "order_id": order_id,
            "payment_status": paid.body["status"],
            "message": f"payment {paid.body['status']}: "
            f"{paid.body.get('decline_reason') or 'declined'}",
        },
    )


def with_trace_id(answer: Answer) -> Answer:
    """The trace of the checkout in its answer, so a person can open it (a repeat returns
    the first checkout's trace, like the rest of the first answer)."""
    return Answer(answer.status, {**answer.body, "trace_id": current_trace_id()})


def answer_for_order(order: dict[str, Any]) -> Answer:
    base = {
        "order_id": order["order_id"],
        "status": order["status"],
        "total_cents": order["total_cents"],
    }
    if order["status"] in ("PAID", "CONFIRMED"):
        return Answer(201, {**base, "payment_status": "approved"})
    return Answer(
        402, {"error": "payment_declined", **base, "message": f"order is {order['status']}"}
    )


async def idempotent_checkout(
    cmd: Checkout,
    request_body: dict[str, Any],
    idempotency_key: str | None,
    *,
    requests: Requests,
    orders: ServiceClient,
    payments: ServiceClient,
    lease_seconds: float,
) -> Answer:
    """Checkout under an optional Idempotency-Key: a repeat returns the first answer."""
    order_id = order_id_for(idempotency_key)
    if idempotency_key is None:
        return with_trace_id(await checkout(cmd, orders, payments, order_id))

    ident, print_ = key_id(idempotency_key), fingerprint(request_body)
    verdict: Answer | None = None

    def claim(current: IdempotentRequest | None) -> IdempotentRequest | None:
        nonlocal verdict
        started = now()
        if current is None:
            return IdempotentRequest(fingerprint=print_, started_at=started)
        if current.fingerprint != print_:
            verdict = Answer(
                422,
                {
                    "error": "idempotency_key_reused",
                    "field": "Idempotency-Key",
                    "message": "this Idempotency-Key was used with a different request body",
                },
            )
            return None
        if current.done:
            assert current.status_code is not None and current.body is not None
            verdict = Answer(current.status_code, current.body)
            return None
        if started - current.started_at < timedelta(seconds=lease_seconds):
            verdict = Answer(
                409,
                {
                    "error": "request_in_progress",
                    "message": "a request with this Idempotency-Key is still "
                    "being processed; retry shortly",
                },
            )
            return None
        current.started_at = started  # the first attempt died: take over its lease
        return current

    await requests.mutate(ident, claim)
    if verdict is not None:
        return verdict
    try:
        answer = with_trace_id(await checkout(cmd, orders, payments, order_id))
    except Exception:
        await requests.delete(ident)  # release the lease: a retry may start over at once
        raise

    def finish(current: IdempotentRequest | None) -> IdempotentRequest | None:
        if current is None:
            return None
        current.status_code, current.body = answer.status, answer.body
        return current

    await requests.mutate(ident, finish)
    return answer
