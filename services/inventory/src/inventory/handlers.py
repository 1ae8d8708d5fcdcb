"""Inventory's use cases: functions whose dependencies are parameters."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from inventory.domain import ProductConflict, Reservation, StockItem
from junction.clock import now
from junction.contracts.errors import OutOfStock, UnknownSkus
from junction.contracts.events import (
    EventEnvelope,
    PaymentSucceeded,
    ReservationExpired,
    ReservationOpened,
    ReservationTimer,
    StockCommit,
    StockCommitted,
    StockRelease,
    StockReleased,
)
from junction.contracts.inventory import ReservationStatus
from junction.errors import Defer, NotFound
from junction.store.aggregates import AggregateStore

logger = logging.getLogger(__name__)

Stock = AggregateStore[StockItem]


Reservations = AggregateStore[Reservation]


@dataclass(frozen=True)
class NewProduct:
    sku: str
    name: str
    price_cents: int
    stock: int


async def add_product(stock: Stock, product: NewProduct) -> tuple[StockItem, bool]:
    """Create a product; (item, created). Repeating the same creation is not an error."""
    item = StockItem(
        sku=product.sku,
        name=product.name,
        price_cents=product.price_cents,
        initial=product.stock,
        on_hand=product.stock,
    )
    if await stock.put_new(product.sku, item):
        return item, True
    existing = await stock.get(product.sku)
    assert existing is not None
    found = existing.value
    if (found.name, found.price_cents, found.initial) != (
        item.name,
        item.price_cents,
        item.initial,
    ):
        raise ProductConflict(f"product {product.sku} already exists with other values")
    return found, False


async def restock(stock: Stock, sku: str, quantity: int) -> StockItem:
    def change(item: StockItem | None) -> StockItem:
        if item is None:
            raise NotFound(f"unknown SKUs: {sku}")
        item.restock(quantity)
        return item

    updated = await stock.mutate(sku, change)
    assert updated is not None
    return updated


async def reserve_stock(
    stock: Stock,
    reservations: Reservations,
    *,
    order_id: str,
    lines: dict[str, int],
    hold_seconds: float,
) -> Reservation:
    """Hold stock for every line, all or nothing; OutOfStock naming the short SKUs when
    any is. Repeating it returns (or raises) the first outcome (found when the reservation
    is created: no read before, the common case is a new one).

    The reservation is written once, before its holds (`PENDING`, with its expiry timer in
    the outbox), so that a crash while they are placed still ends in their release. When
    every hold is in place it stays as written: the answer says `HELD`, and a repeat or a
    read finds that out from the holds themselves (`_as_answered`). Only a refusal writes
    again (`REJECTED`, after its holds are given back)."""
    # A product's price never changes once created, and products are never deleted: what
    # this process last saw of them will do (the holds below are compare-and-set).
    items = {sku: await stock.recent(sku) for sku in lines}
    unknown = sorted(sku for sku, found in items.items() if found is None)
    if unknown:
        raise UnknownSkus(unknown)
    prices = {sku: found.price_cents for sku, found in items.items() if found is not None}
    reservation = Reservation(
        order_id=order_id,
        lines=lines,
        prices=prices,
        expires_at=now() + timedelta(seconds=hold_seconds),
    )
    reservation.record(
        ReservationOpened(
            order_id=order_id, data=ReservationTimer(expires_at=reservation.expires_at)
        )
    )
    if not await reservations.put_new(order_id, reservation):
        return _outcome(await _as_answered(stock, await _stored(reservations, order_id)))

    held: list[str] = []
    short: list[str] = []
    for sku in sorted(lines):  # a fixed order keeps concurrent reservations fair
        outcome = await _hold(stock, sku, order_id, lines[sku])
        (held if outcome else short).append(sku)
    if short:
        for sku in held:
            await _release_hold(stock, sku, order_id)

        def reject(current: Reservation | None) -> Reservation | None:
            if current is None or current.status is not ReservationStatus.PENDING:
                return None
            current.status = ReservationStatus.REJECTED
            current.short_skus = short
            current.stop_timer()
            return current

        if await reservations.mutate(order_id, reject) is None:
            return _outcome(await _stored(reservations, order_id))  # the expiry came first
        raise OutOfStock(short)
    if now() >= reservation.expires_at:
        # So slow that its timer may have fired meanwhile: answer with what is stored.
        return _outcome(await _as_answered(stock, await _stored(reservations, order_id)))
    reservation.status = ReservationStatus.HELD
    return reservation


async def _stored(reservations: Reservations, order_id: str) -> Reservation:
    found = await reservations.get(order_id)
    assert found is not None
    return found.value


async def _as_answered(stock: Stock, reservation: Reservation) -> Reservation:
    """The reservation as its placing answered (or will answer): a stored `PENDING` one
    whose every hold is in place is `HELD` (otherwise its holds are still being placed, or
    their placing died mid-way, and the timer releases them at the deadline); a
    `COMMITTING` one whose every hold is gone (deducted) is `COMMITTED`."""
    status = reservation.status
    if status is ReservationStatus.PENDING and await _holds_are(stock, reservation, placed=True):
        reservation.status = ReservationStatus.HELD
    elif status is ReservationStatus.COMMITTING and await _holds_are(
        stock, reservation, placed=False
    ):
        reservation.status = ReservationStatus.COMMITTED
    return reservation


async def _holds_are(stock: Stock, reservation: Reservation, *, placed: bool) -> bool:
    """Whether every hold of the reservation is in place (`placed`), or every one gone."""
    for sku, quantity in reservation.lines.items():
        item = await stock.get(sku)  # read: another replica may have moved the hold
        held = item is not None and item.value.holds.get(reservation.order_id) == quantity
        if held is not placed:
            return False
    return True


async def reservation_view(stock: Stock, reservations: Reservations, order_id: str) -> Reservation:
    """A reservation as its placing answered; NotFound when there is none."""
    found = await reservations.get(order_id)
    if found is None:
        raise NotFound(f"no reservation for order {order_id}")
    return await _as_answered(stock, found.value)


def _outcome(reservation: Reservation) -> Reservation:
    if reservation.status is ReservationStatus.REJECTED:
        raise OutOfStock(reservation.short_skus)
    return reservation


async def _hold(stock: Stock, sku: str, order_id: str, quantity: int) -> bool:
    granted = False

    def change(item: StockItem | None) -> StockItem | None:
        nonlocal granted
        if item is None or not item.can_hold(order_id, quantity):
            granted = False
            return None
        granted = True
        if order_id in item.holds:
            return None
        item.hold(order_id, quantity)
        return item

    await stock.mutate(sku, change)
    return granted


async def _release_hold(stock: Stock, sku: str, order_id: str) -> None:
    def change(item: StockItem | None) -> StockItem | None:
        if item is None or item.release(order_id) == 0:
            return None
        return item

    await stock.mutate(sku, change)


async def _commit_hold(stock: Stock, sku: str, order_id: str) -> None:
    def change(item: StockItem | None) -> StockItem | None:
        if item is None or item.commit(order_id) == 0:
            return None
        return item

    await stock.mutate(sku, change)


async def _claim_release(
    reservations: Reservations, order_id: str, *, reason: str
) -> Reservation | None:
    """Move a placed or held reservation to `RELEASING` for `reason`; None when it is not
    this release's to move (committed, or released already)."""
    claimed: Reservation | None = None

    def change(current: Reservation | None) -> Reservation | None:
        nonlocal claimed
        claimed = None  # decided again on a fresh read when a remembered one declined
        if current is None:
            return None
        if current.status is ReservationStatus.RELEASING and current.release_reason == reason:
            claimed = current  # a crash left it mid-way: finish the job
            return None
        if current.status not in (ReservationStatus.HELD, ReservationStatus.PENDING):
            return None
        current.status = ReservationStatus.RELEASING
        current.release_reason = reason
        current.stop_timer()
        claimed = current
        return current

    await reservations.mutate(order_id, change)
    return claimed


async def commit_stock(stock: Stock, reservations: Reservations, event: PaymentSucceeded) -> None:
    """Payment approved: deduct the held units and emit StockCommitted.

    One write of the reservation: the claim (`COMMITTING`), which keeps `StockCommitted`
    with it; then the holds are deducted and the event published, before the payment is
    acked. It is not written again to say `COMMITTED`: with its holds deducted, a
    `COMMITTING` reservation is committed (`_as_answered` reads it so). A redelivery (a
    crash or a failed publish cut the first off) finds it `COMMITTING`, deducts what is
    left (nothing, when every hold went) and publishes the same event again.

    A stored `PENDING` reservation is committed like a `HELD` one: a payment follows only a
    `HELD` answer, given once every hold was in place (`reserve_stock`), and since then
    only a claim (this one, or `_claim_release`) takes holds away."""
    claimed: Reservation | None = None

    def claim(current: Reservation | None) -> Reservation | None:
        nonlocal claimed
        claimed = None
        if current is None:
            return None
        if current.status is ReservationStatus.COMMITTING:
            claimed = current  # claimed before: finish the job
            if any(isinstance(e, StockCommitted) for e in current.notices):
                return None
            # (claimed by an earlier version, which wrote the event only when finishing)
        elif current.status in (ReservationStatus.HELD, ReservationStatus.PENDING):
            current.status = ReservationStatus.COMMITTING
            current.stop_timer()
        else:
            return None
        paid = StockCommit(lines=current.lines, paid_at=event.occurred_at)
        current.announce(StockCommitted(order_id=current.order_id, data=paid))
        claimed = current
        return current

    await reservations.mutate(event.order_id, claim)
    if claimed is None:
        # Released (expired or declined): orders and payments reconcile through
        # StockReleased / OrderCancelled. Committed by an earlier version (`COMMITTED`):
        # this may be the redelivery of a first delivery cut off before its event went out.
        await reservations.announce_again(event.order_id, if_=_committed)
        return
    for sku in sorted(claimed.lines):
        await _commit_hold(stock, sku, event.order_id)
    await reservations.publish_notices(list(claimed.notices))


def _committed(reservation: Reservation) -> bool:
    return reservation.status is ReservationStatus.COMMITTED


def _released_for(reason: str) -> Callable[[Reservation], bool]:
    def released(reservation: Reservation) -> bool:
        return (
            reservation.status is ReservationStatus.RELEASED
            and reservation.release_reason == reason
        )

    return released


async def release_stock(
    stock: Stock, reservations: Reservations, order_id: str, *, reason: str
) -> None:
    """Give held units back and emit StockReleased (and ReservationExpired on expiry)."""
    claimed = await _claim_release(reservations, order_id, reason=reason)
    if claimed is None:  # released already (a redelivery?), or committed
        await reservations.announce_again(order_id, if_=_released_for(reason))
        return
    for sku in sorted(claimed.lines):
        await _release_hold(stock, sku, order_id)

    def finish(current: Reservation | None) -> Reservation | None:
        if current is None or current.status is not ReservationStatus.RELEASING:
            return None
        current.status = ReservationStatus.RELEASED
        if reason == "expired":
            current.announce(ReservationExpired(order_id=order_id))
        current.announce(
            StockReleased(order_id=order_id, data=StockRelease(lines=current.lines, reason=reason))
        )
        return current

    await reservations.settle(order_id, finish)


def timer_delay(grace_seconds: float, event: EventEnvelope) -> float | None:
    """How long a reservation's timer waits in its outbox before it is published (the
    relay's `defer`): the grace, or less when the deadline comes sooner. Other events go
    out at once."""
    if not isinstance(event, ReservationOpened):
        return None
    return min(grace_seconds, (event.data.expires_at - now()).total_seconds())


async def expire_reservation(
    stock: Stock, reservations: Reservations, event: ReservationOpened
) -> None:
    """The reservation timer: wait until the deadline, then release what is still held."""
    remaining = (event.data.expires_at - now()).total_seconds()  # no read before it
    if remaining > 0:
        raise Defer(remaining)
    # What this process last saw will do: the deadline never moves, a reservation it saw
    # committed or released stays so, and a release goes through compare-and-set.
    found = await reservations.recent(event.order_id)
    if found is None:
        return
    remaining = (found.expires_at - now()).total_seconds()
    if remaining > 0:
        raise Defer(remaining)
    if found.status in (
        ReservationStatus.HELD,
        ReservationStatus.PENDING,
        ReservationStatus.RELEASING,
    ):
        logger.info("reservation expired", extra={"order_id": event.order_id})
        await release_stock(stock, reservations, event.order_id, reason="expired")
    elif found.status is ReservationStatus.RELEASED and found.release_reason == "expired":
        # A redelivery of the timer whose release was cut off before its events went out.
        await reservations.announce_again(event.order_id, if_=_released_for("expired"))
