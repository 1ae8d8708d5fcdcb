"""Reservations under time limits and under contention."""

import asyncio
import uuid

import pytest

from tests.e2e.client import Shop, events

pytestmark = pytest.mark.e2e


async def test_an_unpaid_reservation_expires_and_cancels_the_order(shop: Shop) -> None:
    sku = await shop.new_sku(stock=3)
    order_id = uuid.uuid4().hex
    # Placed through orders directly (no payment follows), with a one-second hold.
    placed = await shop.call(
        "POST",
        f"{shop.ep.orders}/orders",
        {
            "order_id": order_id,
            "customer_email": "slow@example.com",
            "items": [{"sku": sku, "quantity": 2}],
            "hold_seconds": 1,
        },
    )
    assert placed.status == 201, placed.body
    assert (await shop.ledger(sku))["available"] == 1
    order = await shop.wait_for(
        order_id,
        lambda o: o["status"] == "CANCELLED" and "email_sent:cancellation" in events(o["timeline"]),
    )
    assert {"reservation_expired", "stock_released", "order_cancelled"} <= set(
        events(order["timeline"])
    )
    ledger = await shop.ledger(sku)
    assert (ledger["on_hand"], ledger["available"], ledger["reserved"]) == (3, 3, 0)


async def test_fifty_concurrent_checkouts_for_ten_units_confirm_exactly_ten(shop: Shop) -> None:
    sku = await shop.new_sku(stock=10)
    low_water = 10
    stop = asyncio.Event()

    async def watch_stock() -> None:
        nonlocal low_water
        while not stop.is_set():
            ledger = await shop.ledger(sku)
            low_water = min(low_water, ledger["available"], ledger["on_hand"])
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch_stock())
    replies = await asyncio.gather(
        *(shop.checkout([{"sku": sku, "quantity": 1}]) for _ in range(50))
    )
    statuses = sorted(r.status for r in replies)
    assert statuses.count(201) == 10, statuses
    assert statuses.count(409) == 40, statuses
    confirmed = [r.body["order_id"] for r in replies if r.status == 201]
    await asyncio.gather(
        *(shop.wait_for(o, lambda o: o["status"] == "CONFIRMED") for o in confirmed)
    )
    stop.set()
    await watcher
    ledger = await shop.ledger(sku)
    assert (ledger["on_hand"], ledger["available"], ledger["committed_units"]) == (0, 0, 10)
    assert low_water >= 0
