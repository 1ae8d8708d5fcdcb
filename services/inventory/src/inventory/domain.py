"""Stock and reservations: pure rules, no I/O."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from junction.contracts.common import OrderLine
from junction.contracts.events import ReservationOpened
from junction.contracts.inventory import ReservationStatus
from junction.errors import Conflict
from junction.store.aggregates import Aggregate


class ProductConflict(Conflict):
    """A product created again with other values than it has."""


class StockItem(Aggregate):
    """One SKU's stock ledger. `holds` are units reserved per order, not yet deducted."""

    sku: str
    name: str
    price_cents: int
    initial: int
    restocked: int = 0
    on_hand: int
    committed_units: int = 0
    holds: dict[str, int] = Field(default_factory=dict)

    @property
    def reserved(self) -> int:
        return sum(self.holds.values())

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def can_hold(self, order_id: str, quantity: int) -> bool:
        return order_id in self.holds or self.available >= quantity

    def hold(self, order_id: str, quantity: int) -> None:
        if not self.can_hold(order_id, quantity):
            raise ValueError(f"{self.sku}: {quantity} wanted, {self.available} available")
        self.holds[order_id] = quantity

    def commit(self, order_id: str) -> int:
        """Deduct an order's held units from stock; 0 when it holds none (already done)."""
        quantity = self.holds.pop(order_id, 0)
        self.on_hand -= quantity
        self.committed_units += quantity
        return quantity

    def release(self, order_id: str) -> int:
        return self.holds.pop(order_id, 0)

    def restock(self, quantity: int) -> None:
        self.on_hand += quantity
        self.restocked += quantity


class Reservation(Aggregate):
    """An order's claim on stock across SKUs, with a time limit."""

    order_id: str
    lines: dict[str, int]
    prices: dict[str, int] = Field(default_factory=dict)
    status: ReservationStatus = ReservationStatus.PENDING
    expires_at: datetime
    short_skus: list[str] = Field(default_factory=list)
    release_reason: str | None = None

    @property
    def total_cents(self) -> int:
        return sum(self.prices.get(sku, 0) * qty for sku, qty in self.lines.items())

    def stop_timer(self) -> None:
        """Take the expiry timer out of the outbox: the reservation is being committed,
        released or refused, and the timer would find nothing to do at its deadline. Not
        yet published (it waits out `JUNCTION_RESERVATION_TIMER_GRACE_SECONDS`, decision
        0015), it is never published; published, this write is its clear."""
        self.outbox = [e for e in self.outbox if not isinstance(e, ReservationOpened)]

    @property
    def reserved_lines(self) -> list[OrderLine]:
        """The lines with the prices they were reserved at, by SKU."""
        return [
            OrderLine(sku=sku, quantity=qty, price_cents=self.prices.get(sku, 0))
            for sku, qty in sorted(self.lines.items())
        ]
