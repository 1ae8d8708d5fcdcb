import asyncio
from datetime import timedelta

import pytest

from inventory import handlers
from inventory.domain import Reservation, StockItem
from junction.clock import now
from junction.contracts.errors import OutOfStock, UnknownSkus
from junction.contracts.events import ReservationOpened, StockReleased
from junction.contracts.inventory import ReservationStatus
from junction.errors import Defer
from junction.store.aggregates import AggregateStore
from junction_devtools.fakes import FakeKV
from junction_devtools.samples import payment_succeeded, reservation_opened

pytestmark = pytest.mark.unit

Stores = tuple[handlers.Stock, handlers.Reservations]


@pytest.fixture
def stores() -> Stores:
    kv = FakeKV()
    return (
        AggregateStore(kv, StockItem, prefix="sku"),
        AggregateStore(kv, Reservation, prefix="reservation"),
    )


async def seed(stock: handlers.Stock, sku: str, units: int, price: int = 100) -> None:
    await handlers.add_product(stock, handlers.NewProduct(sku, sku.lower(), price, units))


async def ledger(stock: handlers.Stock, sku: str) -> StockItem:
    found = await stock.get(sku)
    assert found is not None
    return found.value


async def test_reserving_holds_stock_without_deducting(stores: Stores) -> None:
    stock, reservations = stores
    await seed(stock, "A", 5)
    r = await handlers.reserve_stock(
        stock, reservations, order_id="o1", lines={"A": 2}, hold_seconds=60
    )
    assert r.status is ReservationStatus.HELD and r.total_cents == 200
    item = await ledger(stock, "A")
    assert (item.on_hand, item.reserved, item.available) == (5, 2, 3)


async def test_short_stock_names_every_short_sku_and_holds_nothing(stores: Stores) -> None:
    stock, reservations = stores
    await seed(stock, "A", 5)
    await seed(stock, "B", 1)
    await seed(stock, "C", 1)
    for _ in range(2):  # and a repeat is refused the same way
        with pytest.raises(OutOfStock) as refused:
            await handlers.reserve_stock(
                stock, reservations, order_id="o1", lines={"A": 2, "B": 3, "C": 2}, hold_seconds=60
            )
        assert refused.value.skus == ["B", "C"]
    found = await reservations.get("o1")
    assert found is not None and found.value.status is ReservationStatus.REJECTED
    for sku in "ABC":
        assert (await ledger(stock, sku)).reserved == 0


async def test_unknown_skus_are_refused(stores: Stores) -> None:
    stock, reservations = stores
    with pytest.raises(UnknownSkus, match="NOPE"):
        await handlers.reserve_stock(
            stock, reservations, order_id="o1", lines={"NOPE": 1}, hold_seconds=60
        )
    assert await reservations.get("o1") is None


async def test_reserving_twice_returns_the_first_outcome(stores: Stores) -> None:
    stock, reservations = stores
    await seed(stock, "A", 5)
    for _ in range(2):
        await handlers.reserve_stock(
            stock, reservations, order_id="o1", lines={"A": 2}, hold_seconds=60
        )
    assert (await ledger(stock, "A")).reserved == 2


async def test_commit_deducts_once_even_when_redelivered(stores: Stores) -> None:
    stock, reservations = stores
    await seed(stock, "A", 5)
    await handlers.reserve_stock(
        stock, reservations, order_id="o1", lines={"A": 2}, hold_seconds=60
    )
    paid = payment_succeeded("o1")
    await handlers.commit_stock(stock, reservations, paid)
    await handlers.commit_stock(stock, reservations, paid)
    item = await ledger(stock, "A")
    assert (item.on_hand, item.reserved, item.committed_units) == (3, 0, 2)
    found = await reservations.get("o1")
    assert found is not None
    assert [e.type for e in found.value.outbox] == ["ReservationOpened", "StockCommitted"]


async def test_release_gives_stock_back_and_says_why(stores: Stores) -> None:
    stock, reservations = stores
    await seed(stock, "A", 5)
    await handlers.reserve_stock(
        stock, reservations, order_id="o1", lines={"A": 2}, hold_seconds=60
    )
    await handlers.release_stock(stock, reservations, "o1", reason="payment_declined")
    await handlers.release_stock(stock, reservations, "o1", reason="payment_declined")
    item = await ledger(stock, "A")
    assert (item.on_hand, item.available) == (5, 5)
    found = await reservations.get("o1")
    assert found is not None
    released = [e for e in found.value.outbox if isinstance(e, StockReleased)]
    assert len(released) == 1 and released[0].data.reason == "payment_declined"


async def test_the_timer_defers_until_the_deadline_then_expires(stores: Stores) -> None:
    stock, reservations = stores
    await seed(stock, "A", 5)
    await handlers.reserve_stock(
        stock, reservations, order_id="o1", lines={"A": 2}, hold_seconds=60
    )
    found = await reservations.get("o1")
    assert found is not None
    (opened,) = [e for e in found.value.outbox if isinstance(e, ReservationOpened)]
    assert opened.data.expires_at == found.value.expires_at
    with pytest.raises(Defer) as deferred:  # decided from the event alone: no read
        await handlers.expire_reservation(stock, reservations, opened)
    assert 55 < deferred.value.delay <= 60

    def past_deadline(r: Reservation | None) -> Reservation | None:
        assert r is not None
        r.expires_at = now() - timedelta(seconds=1)
        return r

    await reservations.mutate("o1", past_deadline)  # the minute has passed
    late = reservation_opened("o1", expires_at=now() - timedelta(seconds=1))
    await handlers.expire_reservation(stock, reservations, late)
    found = await reservations.get("o1")
    assert found is not None and found.value.status is ReservationStatus.RELEASED
    assert {"ReservationExpired", "StockReleased"} <= {e.type for e in found.value.outbox}
    assert (await ledger(stock, "A")).available == 5


async def test_payment_after_expiry_commits_nothing(stores: Stores) -> None:
    stock, reservations = stores
    await seed(stock, "A", 5)
    await handlers.reserve_stock(
        stock, reservations, order_id="o1", lines={"A": 2}, hold_seconds=60
    )
    await handlers.release_stock(stock, reservations, "o1", reason="expired")
    await handlers.commit_stock(stock, reservations, payment_succeeded("o1"))
    item = await ledger(stock, "A")
    assert (item.on_hand, item.committed_units) == (5, 0)


async def test_concurrent_reservations_never_oversell(stores: Stores) -> None:
    stock, reservations = stores
    await seed(stock, "A", 10)
    results = await asyncio.gather(
        *(
            handlers.reserve_stock(
                stock, reservations, order_id=f"o{i}", lines={"A": 1}, hold_seconds=60
            )
            for i in range(50)
        ),
        return_exceptions=True,
    )
    held = [r for r in results if isinstance(r, Reservation)]
    assert all(isinstance(r, OutOfStock) for r in results if r not in held)
    assert len(held) == 10
    item = await ledger(stock, "A")
    assert item.available == 0 and item.reserved == 10


async def test_a_payment_for_a_reservation_still_being_placed_is_retried(stores: Stores) -> None:
    stock, reservations = stores
    await seed(stock, "A", 5)
    placing = Reservation(
        order_id="o1", lines={"A": 1}, prices={"A": 100}, expires_at=now() + timedelta(seconds=60)
    )
    assert await reservations.put_new("o1", placing)  # PENDING: the holds are not placed yet
    with pytest.raises(handlers.ReservationBeingPlaced):
        await handlers.commit_stock(stock, reservations, payment_succeeded("o1"))
    found = await reservations.get("o1")
    assert found is not None and found.value.status is ReservationStatus.PENDING


async def test_a_timer_on_another_replica_that_saw_the_hold_releases_nothing_committed() -> None:
    # The timer may be delivered to a replica whose memory still holds the reservation as
    # HELD while another replica has committed it: the release goes through compare-and-set,
    # so it meets the commit and leaves it be.
    kv = FakeKV()
    one = (
        AggregateStore(kv, StockItem, prefix="sku"),
        AggregateStore(kv, Reservation, prefix="reservation"),
    )
    two = (
        AggregateStore(kv, StockItem, prefix="sku"),
        AggregateStore(kv, Reservation, prefix="reservation"),
    )
    await seed(one[0], "A", 5)
    await handlers.reserve_stock(*one, order_id="o1", lines={"A": 2}, hold_seconds=60)
    seen = await two[1].get("o1")  # replica two has seen it HELD
    assert seen is not None and seen.value.status is ReservationStatus.HELD

    def past_deadline(r: Reservation | None) -> Reservation | None:
        assert r is not None
        r.expires_at = now() - timedelta(seconds=1)
        return r

    await two[1].mutate("o1", past_deadline)  # (the deadline passes; two remembers that)
    await handlers.commit_stock(*one, payment_succeeded("o1"))  # replica one commits
    late = reservation_opened("o1", expires_at=now() - timedelta(seconds=1))
    await handlers.expire_reservation(*two, late)
    found = await one[1].get("o1")
    assert found is not None and found.value.status is ReservationStatus.COMMITTED
    item = await ledger(one[0], "A")
    assert (item.on_hand, item.reserved) == (3, 0)
