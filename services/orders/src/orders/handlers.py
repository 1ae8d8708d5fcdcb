"""Orders' use cases: functions whose dependencies are parameters."""

from __future__ import annotations

from dataclasses import dataclass

from junction.client import ServiceCalls, ServiceError
from junction.contracts.common import LineItem
from junction.contracts.errors import ReservationClosed
from junction.contracts.inventory import ReservationStatus, ReservationView, ReserveStockRequest
from junction.store.aggregates import AggregateStore
from junction.telemetry import current_trace_id
from orders.domain import FollowUp, Order

Orders = AggregateStore[Order]


@dataclass(frozen=True)
class PlaceOrder:
    order_id: str
    customer_email: str
    lines: dict[str, int]
    hold_seconds: float | None = None


async def place_order(
    orders: Orders, inventory: ServiceCalls, cmd: PlaceOrder
) -> tuple[Order, bool]:
    """Reserve stock, then store the order with its OrderCreated event; (order, placed now).

    Idempotent by id: an order that already exists is returned as it is. Inventory's
    refusals (out of stock, unknown SKUs) are passed on as they were given. There is no
    read first (a new order is the common case): a repeat finds its reservation again
    (reservations are idempotent by order id), then the order when it is stored.
    """
    request = ReserveStockRequest(
        order_id=cmd.order_id,
        items=[LineItem(sku=s, quantity=q) for s, q in cmd.lines.items()],
        hold_seconds=cmd.hold_seconds,
    )
    try:
        # Reservations are idempotent by order id, so retrying this call is safe.
        reservation = await inventory.post(
            "/reservations", request, ReservationView, idempotent=True
        )
    except ServiceError as exc:
        raise exc.refusal() from exc
    if reservation.status is not ReservationStatus.HELD:
        existing = await orders.get(cmd.order_id)  # a repeat of an order already moving on
        if existing is not None:
            return existing.value, False
        raise ReservationClosed(reservation.status.value)
    order = Order.place(cmd.order_id, cmd.customer_email, reservation.lines, current_trace_id())
    if not await orders.put_new(cmd.order_id, order):
        # Stored already (a repeat, or a concurrent duplicate): answer with that one.
        stored = await orders.get(cmd.order_id)
        assert stored is not None
        return stored.value, False
    return order, True


async def apply_event(orders: Orders, event: FollowUp) -> None:
    """Move an order along with an event from another service (idempotent), and publish
    what that announces (OrderConfirmed, OrderCancelled) before the event is acked. A
    repeat changes nothing and publishes again what the order announced, in case the
    first delivery was cut off between its write and its publish."""

    def change(order: Order | None) -> Order | None:
        if order is None:  # an order that was never stored (its creation failed)
            return None
        return order if order.apply(event) else None

    if await orders.settle(event.order_id, change) is None:
        await orders.announce_again(event.order_id)
