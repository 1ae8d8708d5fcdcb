"""Orders' use cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from junction.events import Event
from junction.http import ServiceClient
from junction.store import AggregateStore
from junction.telemetry import current_trace_id
from orders.domain import Order, OrderLine

Orders = AggregateStore[Order]


@dataclass(frozen=True)
class PlaceOrder:
    order_id: str
    customer_email: str
    lines: dict[str, int]
    hold_seconds: float | None = None


class Rejected(Exception):
    """Inventory refused the reservation; `status` and `body` are its answer."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", "rejected"))
        self.status = status
        self.body = body


async def place_order(
    orders: Orders, inventory: ServiceClient, cmd: PlaceOrder
) -> tuple[Order, bool]:
    """Reserve stock, then store the order with its OrderCreated event; (order, placed now).

    Idempotent by id: an order that already exists is returned as it is.
    """
    existing = await orders.get(cmd.order_id)
    if existing is not None:
        return existing.value, False
    request: dict[str, Any] = {
        "order_id": cmd.order_id,
        "items": [{"sku": s, "quantity": q} for s, q in cmd.lines.items()],
    }
    if cmd.hold_seconds is not None:
        request["hold_seconds"] = cmd.hold_seconds
    # Reservations are idempotent by order id, so retrying this call is safe.
    answer = await inventory.post("/reservations", request, idempotent=True)
    if answer.status in (409, 422):
        raise Rejected(answer.status, answer.body)
    if answer.status != 201:
        raise RuntimeError(f"inventory answered {answer.status}: {answer.body}")
    if answer.body["status"] != "held":
        raise Rejected(
            409,
            {
                "error": "reservation_closed",
                "message": f"the reservation for this order is "
                f"{answer.body['status']}; start a new checkout",
            },
        )
    lines = [
        OrderLine(sku=line["sku"], quantity=line["quantity"], price_cents=line["price_cents"])
        for line in answer.body["lines"]
    ]
    order = Order.place(cmd.order_id, cmd.customer_email, lines, current_trace_id())
    if not await orders.put_new(cmd.order_id, order):
        # A concurrent duplicate stored it first: answer with that one, as a new placement.
        stored = await orders.get(cmd.order_id)
        assert stored is not None
        return stored.value, True
    return order, True


async def apply_event(orders: Orders, event: Event) -> None:
    """Move an order along with an event from another service (idempotent)."""

    def change(order: Order | None) -> Order | None:
        if order is None:  # an order that was never stored (its creation failed)
            return None
        return order if order.apply(event) else None

    await orders.mutate(event.order_id, change)
