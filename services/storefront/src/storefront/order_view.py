"""An order as the customer sees it: orders' record of it, with the emails notifications
sent about it placed in its timeline (orders does not follow them:
docs/decisions/0011-announced-events.md).

The two reads go out at once. Without notifications (down, or its breaker open) the order
is shown all the same, without its emails: the page says what orders knows, and a live
page reads again soon (`pages.order_live`).

An order still waiting for payment may have been paid already: orders learns of the
payment only when inventory has committed its stock (decision 0016). So such an order's
payment is read from payments, and shown `PAID` when it was approved; this costs a read
only in the moment between the two."""

from __future__ import annotations

import asyncio
import logging

from junction.client import ServiceCalls, ServiceError
from junction.contracts.notifications import OrderEmails
from junction.contracts.orders import OrderStatus, OrderView
from junction.contracts.payments import PaymentStatus, PaymentView
from junction.errors import DependencyUnavailable, NotFound
from storefront.views import with_emails

logger = logging.getLogger(__name__)


async def order_of(orders: ServiceCalls, order_id: str) -> OrderView:
    """The order as orders has it, without its emails; NotFound when there is none."""
    try:
        return await orders.get(f"/orders/{order_id}", OrderView)
    except ServiceError as exc:
        if exc.status == 404:
            raise NotFound(f"no order {order_id}") from exc
        raise


async def read_order(
    order_id: str, *, orders: ServiceCalls, payments: ServiceCalls, notifications: ServiceCalls
) -> OrderView:
    """The order with its emails; NotFound when orders has no such order."""
    order, _ = await read_order_and_emails(
        order_id, orders=orders, payments=payments, notifications=notifications
    )
    return order


async def read_order_and_emails(
    order_id: str, *, orders: ServiceCalls, payments: ServiceCalls, notifications: ServiceCalls
) -> tuple[OrderView, bool]:
    """The order with its emails, and whether its emails could be read."""
    order, emails = await asyncio.gather(
        order_of(orders, order_id),
        notifications.get(f"/orders/{order_id}/emails", OrderEmails),
        return_exceptions=True,
    )
    if isinstance(order, BaseException):
        raise order
    order = await with_payment(payments, order)
    if isinstance(emails, (ServiceError, DependencyUnavailable)):
        logger.warning(
            "order shown without its emails",
            extra={"order_id": order_id, "error": str(emails)},
        )
        return order, False
    if isinstance(emails, BaseException):
        raise emails
    return with_emails(order, emails), True


async def with_payment(payments: ServiceCalls, order: OrderView) -> OrderView:
    """The order, `PAID` if it still waits for payment but payments approved the charge;
    as it is when payments has no charge for it, or cannot answer now."""
    if order.status is not OrderStatus.PENDING_PAYMENT:
        return order
    try:
        payment = await payments.get(f"/payments/{order.order_id}", PaymentView)
    except (ServiceError, DependencyUnavailable):
        return order  # not charged yet (404), or not known now: what orders says
    if payment.status is not PaymentStatus.APPROVED:
        return order
    return order.model_copy(update={"status": OrderStatus.PAID})
