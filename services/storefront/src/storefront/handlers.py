"""The checkout: the synchronous path the customer waits for."""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from junction.client import ServiceCalls, ServiceError
from junction.clock import now
from junction.contracts.common import LineItem
from junction.contracts.orders import OrderStatus, OrderView, PlaceOrderRequest
from junction.contracts.payments import ChargeRequest, PaymentStatus, PaymentView
from junction.errors import DomainError
from junction.store.aggregates import AggregateStore
from junction.telemetry import annotate_order, current_trace_id
from junction.web.errors import answer_for
from storefront.domain import (
    CheckoutAccepted,
    IdempotencyKeyReused,
    IdempotentRequest,
    PaymentDeclined,
    RequestInProgress,
    fingerprint,
    key_id,
    order_id_for,
)

logger = logging.getLogger(__name__)

Requests = AggregateStore[IdempotentRequest]


@dataclass(frozen=True)
class Checkout:
    customer_email: str
    items: list[LineItem]
    payment_token: str


async def checkout(
    cmd: Checkout, orders: ServiceCalls, payments: ServiceCalls, order_id: str
) -> CheckoutAccepted:
    """Create the order (stock reserved) and charge it. PaymentDeclined when the card is
    declined; the refusals of orders (out of stock) and payments (unknown token) as given."""
    annotate_order(order_id)
    try:
        order = await orders.post(
            "/orders",
            PlaceOrderRequest(
                order_id=order_id, customer_email=cmd.customer_email, items=cmd.items
            ),
            OrderView,
            idempotent=True,  # by order id
        )
    except ServiceError as exc:
        raise exc.refusal() from exc
    if order.status is not OrderStatus.PENDING_PAYMENT:
        # A retried request whose order already moved on: answer from the order itself.
        return outcome_of_order(order)
    try:
        paid = await payments.post(
            "/payments",
            ChargeRequest(
                order_id=order_id,
                amount_cents=order.total_cents,
                payment_token=cmd.payment_token,
                customer_email=cmd.customer_email,
            ),
            PaymentView,
            idempotent=True,  # by order id
        )
    except ServiceError as exc:
        raise exc.refusal() from exc
    if paid.status is PaymentStatus.APPROVED:
        return CheckoutAccepted(
            order_id=order_id,
            status="PAID",
            payment_status="approved",
            total_cents=order.total_cents,
        )
    raise PaymentDeclined(
        f"payment {paid.status.value}: {paid.decline_reason or 'declined'}",
        order_id=order_id,
        payment_status=paid.status.value,
    )


def outcome_of_order(order: OrderView) -> CheckoutAccepted:
    if order.status in (OrderStatus.PAID, OrderStatus.CONFIRMED):
        return CheckoutAccepted(
            order_id=order.order_id,
            status=order.status.value,
            payment_status="approved",
            total_cents=order.total_cents,
        )
    raise PaymentDeclined(
        f"order is {order.status.value}",
        order_id=order.order_id,
        status=order.status.value,
        total_cents=order.total_cents,
    )


@dataclass(frozen=True)
class Answer:
    """What the customer is told: the status and body recorded for an Idempotency-Key."""

    status: int
    body: dict[str, Any]


async def answered_checkout(
    cmd: Checkout, orders: ServiceCalls, payments: ServiceCalls, order_id: str
) -> Answer:
    """The checkout's outcome as the answer a repeat will get too, with the checkout's
    trace id in it (a repeat returns the first checkout's trace, like the rest)."""
    try:
        accepted = await checkout(cmd, orders, payments, order_id)
        status, body = 201, accepted.model_dump()
    except DomainError as exc:
        status, body = answer_for(exc)
    return Answer(status, {**body, "trace_id": current_trace_id()})


async def idempotent_checkout(
    cmd: Checkout,
    request_body: dict[str, Any],
    idempotency_key: str | None,
    *,
    requests: Requests,
    orders: ServiceCalls,
    payments: ServiceCalls,
    lease_seconds: float,
) -> Answer:
    """Checkout under an optional Idempotency-Key: a repeat returns the first answer.

    The answer is recorded as the customer got it (status and body), as payment APIs do,
    so a repeat is answered without calling any service again."""
    order_id = order_id_for(idempotency_key)
    if idempotency_key is None:
        return await answered_checkout(cmd, orders, payments, order_id)

    ident, print_ = key_id(idempotency_key), fingerprint(request_body)
    verdict: Answer | None = None

    def claim(current: IdempotentRequest | None) -> IdempotentRequest | None:
        nonlocal verdict
        started = now()
        if current is None:
            return IdempotentRequest(fingerprint=print_, started_at=started)
        if current.fingerprint != print_:
            raise IdempotencyKeyReused()
        if current.done:
            assert current.status_code is not None and current.body is not None
            verdict = Answer(current.status_code, current.body)
            return None
        if started - current.started_at < timedelta(seconds=lease_seconds):
            raise RequestInProgress()
        current.started_at = started  # the first attempt died: take over its lease
        return current

    await requests.mutate(ident, claim, new_first=True)  # a key is usually new
    if verdict is not None:
        return verdict
    lease = requests.revision(ident)  # this attempt's claim, as written
    try:
        answer = await answered_checkout(cmd, orders, payments, order_id)
    except Exception:
        await release(requests, ident, lease, lease_seconds)
        raise

    def finish(current: IdempotentRequest | None) -> IdempotentRequest | None:
        if current is None:
            return None
        current.status_code, current.body = answer.status, answer.body
        return current

    await requests.mutate(ident, finish)
    return answer


# Lease releases that failed once (NATS unreachable), retried in the background.
releasing: set[asyncio.Task[None]] = set()
RELEASE_RETRY_SECONDS = (0.25, 0.5, 1.0, 2.0, 4.0)


async def release(requests: Requests, ident: str, lease: int | None, lease_seconds: float) -> None:
    """Release a failed attempt's lease, so that a retry may start over at once.

    Only the lease as this attempt wrote it (`lease`, its revision) is deleted: once it has
    expired another attempt may have taken it over, and that one's must stay. When NATS
    cannot be reached the release is retried in the background for as long as a lease
    lasts (counted from the failure), instead of leaving every retry a 409 until the lease
    expires by itself."""
    try:
        await requests.delete(ident, revision=lease)
        return
    except Exception as exc:
        if lease is None:  # no revision to hold the delete to: the lease expires by itself
            logger.warning("idempotency lease not released", extra={"error": repr(exc)})
            return
    task = asyncio.create_task(release_later(requests, ident, lease, lease_seconds))
    releasing.add(task)
    task.add_done_callback(releasing.discard)


async def release_later(requests: Requests, ident: str, lease: int, lease_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + lease_seconds
    for delay in itertools.chain(
        RELEASE_RETRY_SECONDS, itertools.repeat(RELEASE_RETRY_SECONDS[-1])
    ):
        if loop.time() + delay >= deadline:
            logger.warning("idempotency lease left to expire", extra={"key": ident})
            return
        await asyncio.sleep(delay)
        try:
            await requests.delete(ident, revision=lease)
            return
        except Exception as exc:
            logger.info("idempotency lease release failed", extra={"error": repr(exc)})
