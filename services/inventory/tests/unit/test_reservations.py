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
from junction.store.outbox import OutboxRelay
from junction_devtools.fakes import FakeKV, RecordingPublisher
from junction_devtools.samples import payment_succeeded, reservation_opened

pytestmark = pytest.mark.unit

Stores = tuple[handlers.Stock, handlers.Reservations]


@pytest.fixture
def published() -> RecordingPublisher:
    """What the handlers publish themselves (announced events), not the outbox relay's."""
    return RecordingPublisher()


def inventory_stores(
    kv: FakeKV, publisher: RecordingPublisher, *, timer_grace: float | None = None
) -> Stores:
    """Inventory's stores on one relay; with `timer_grace`, the relay holds reservation
    timers back as `main` has it do."""
    relay = OutboxRelay(publisher)
    if timer_grace is not None:
        relay.defer(lambda event: handlers.timer_delay(timer_grace, event))
    return (
        AggregateStore(kv, StockItem, prefix="sku", relay=relay),
        AggregateStore(kv, Reservation, prefix="reservation", relay=relay),
    )


@pytest.fixture
def stores(published: RecordingPublisher) -> Stores:
    return inventory_stores(FakeKV(), published)


async def seed(stock: handlers.Stock, sku: str, units: int, price: int = 100) -> None:
    await handlers.add_product(stock, handlers.NewProduct(sku, sku.lower(), price, units))


async def ledger(stock: handlers.Stock, sku: str) -> StockItem:
    found = await stock.get(sku)
    assert found is not None
    return found.value


async def placed(stock: handlers.Stock, reservations: handlers.Reservations) -> Reservation:
    """Five units of SKU A, and order o1's reservation of two of them."""
    await seed(stock, "A", 5)
    return await handlers.reserve_stock(
        stock, reservations, order_id="o1", lines={"A": 2}, hold_seconds=60
    )


def past_deadline(r: Reservation | None) -> Reservation | None:
    """A change that moves a stored reservation's deadline a second into the past."""
    assert r is not None
    r.expires_at = now() - timedelta(seconds=1)
    return r


def late_timer(order_id: str) -> ReservationOpened:
    return reservation_opened(order_id, expires_at=now() - timedelta(seconds=1))


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


async def test_commit_deducts_once_even_when_redelivered(
    stores: Stores, published: RecordingPublisher
) -> None:
    stock, reservations = stores
    await placed(stock, reservations)
    paid = payment_succeeded("o1")
    await handlers.commit_stock(stock, reservations, paid)
    committed = [e for e in published.events if e.type == "StockCommitted"]
    await handlers.commit_stock(stock, reservations, paid)
    item = await ledger(stock, "A")
    assert (item.on_hand, item.reserved, item.committed_units) == (3, 0, 2)
    found = await reservations.get("o1")
    assert found is not None
    # StockCommitted is published by the handler before the payment event is acked, not
    # kept in the outbox (nothing to clear); the redelivery publishes the same event again.
    # The claim took the expiry timer out of the outbox: it has nothing left to do.
    assert found.value.outbox == []
    assert [e.type for e in found.value.notices] == ["StockCommitted"]
    assert len(committed) == 1
    assert [e.id for e in published.events if e.type == "StockCommitted"] == [committed[0].id] * 2


async def test_a_commit_cut_off_before_its_event_went_out_sends_it_on_redelivery() -> None:
    publisher = RecordingPublisher(fail_times=1)
    stock, reservations = inventory_stores(FakeKV(), publisher)
    await placed(stock, reservations)
    paid = payment_succeeded("o1")
    with pytest.raises(ConnectionError):  # not acked: JetStream delivers it again
        await handlers.commit_stock(stock, reservations, paid)
    assert publisher.events == []
    await handlers.commit_stock(stock, reservations, paid)
    assert [e.type for e in publisher.events] == ["StockCommitted"]
    assert (await ledger(stock, "A")).committed_units == 2


async def test_a_timer_redelivered_after_its_release_sends_the_release_again(
    stores: Stores, published: RecordingPublisher
) -> None:
    stock, reservations = stores
    await placed(stock, reservations)
    await reservations.mutate("o1", past_deadline)
    await handlers.release_stock(stock, reservations, "o1", reason="expired")
    first = [e.id for e in published.events]
    late = late_timer("o1")
    await handlers.expire_reservation(stock, reservations, late)
    assert [e.id for e in published.events] == first * 2
    assert {e.type for e in published.events} == {"ReservationExpired", "StockReleased"}
    # A commit's timer, at its deadline, sends nothing again.
    await handlers.reserve_stock(
        stock, reservations, order_id="o2", lines={"A": 1}, hold_seconds=60
    )
    await handlers.commit_stock(stock, reservations, payment_succeeded("o2"))
    await reservations.mutate("o2", past_deadline)
    before = len(published.events)
    await handlers.expire_reservation(stock, reservations, late_timer("o2"))
    assert len(published.events) == before


async def test_release_gives_stock_back_and_says_why(stores: Stores) -> None:
    stock, reservations = stores
    await placed(stock, reservations)
    await handlers.release_stock(stock, reservations, "o1", reason="payment_declined")
    await handlers.release_stock(stock, reservations, "o1", reason="payment_declined")
    item = await ledger(stock, "A")
    assert (item.on_hand, item.available) == (5, 5)
    found = await reservations.get("o1")
    assert found is not None
    released = [e for e in found.value.notices if isinstance(e, StockReleased)]
    assert len(released) == 1 and released[0].data.reason == "payment_declined"


async def test_the_timer_defers_until_the_deadline_then_expires(stores: Stores) -> None:
    stock, reservations = stores
    await placed(stock, reservations)
    found = await reservations.get("o1")
    assert found is not None
    (opened,) = [e for e in found.value.outbox if isinstance(e, ReservationOpened)]
    assert opened.data.expires_at == found.value.expires_at
    with pytest.raises(Defer) as deferred:  # decided from the event alone: no read
        await handlers.expire_reservation(stock, reservations, opened)
    assert 55 < deferred.value.delay <= 60
    await reservations.mutate("o1", past_deadline)  # the minute has passed
    late = late_timer("o1")
    await handlers.expire_reservation(stock, reservations, late)
    found = await reservations.get("o1")
    assert found is not None and found.value.status is ReservationStatus.RELEASED
    assert {e.type for e in found.value.notices} == {"ReservationExpired", "StockReleased"}
    assert (await ledger(stock, "A")).available == 5


async def test_payment_after_expiry_commits_nothing(stores: Stores) -> None:
    stock, reservations = stores
    await placed(stock, reservations)
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


async def test_a_reservation_is_written_once_to_place_it_and_once_to_commit_it() -> None:
    kv = FakeKV()
    stock, reservations = inventory_stores(kv, RecordingPublisher())
    await seed(stock, "A", 5)
    await seed(stock, "B", 5)
    writes = kv.writes
    r = await handlers.reserve_stock(
        stock, reservations, order_id="o1", lines={"A": 2, "B": 1}, hold_seconds=60
    )
    assert r.status is ReservationStatus.HELD  # the answer
    assert kv.writes - writes == 3  # the reservation, then one hold per SKU
    stored = await reservations.get("o1")
    assert stored is not None and stored.value.status is ReservationStatus.PENDING
    # A repeat, and a read, find every hold in place: held, as answered.
    again = await handlers.reserve_stock(
        stock, reservations, order_id="o1", lines={"A": 2, "B": 1}, hold_seconds=60
    )
    assert again.status is ReservationStatus.HELD
    assert (await handlers.reservation_view(stock, reservations, "o1")).status.value == "held"
    # Paid: committed like a held one, with one write of the reservation (the claim).
    writes = kv.writes
    await handlers.commit_stock(stock, reservations, payment_succeeded("o1"))
    assert kv.writes - writes == 3  # the claim, then one deduction per SKU
    assert (await ledger(stock, "A")).committed_units == 2
    assert (await ledger(stock, "B")).committed_units == 1
    stored = await reservations.get("o1")
    assert stored is not None and stored.value.status is ReservationStatus.COMMITTING
    assert (await handlers.reservation_view(stock, reservations, "o1")).status.value == "committed"


async def test_a_placing_cut_off_mid_way_is_not_held_and_its_timer_gives_the_holds_back(
    stores: Stores,
) -> None:
    stock, reservations = stores
    await seed(stock, "A", 5)
    await seed(stock, "B", 5)
    # What a crash after the reservation's write and the first of its two holds leaves.
    cut_off = Reservation(
        order_id="o1", lines={"A": 2, "B": 1}, prices={"A": 100, "B": 100}, expires_at=now()
    )
    assert await reservations.put_new("o1", cut_off)

    def hold_two(item: StockItem | None) -> StockItem | None:
        assert item is not None
        item.hold("o1", 2)
        return item

    await stock.mutate("A", hold_two)
    # A repeat (orders retrying) is not told it is held: the placing may still be running.
    repeat = await handlers.reserve_stock(
        stock, reservations, order_id="o1", lines={"A": 2, "B": 1}, hold_seconds=60
    )
    assert repeat.status is ReservationStatus.PENDING
    assert (await ledger(stock, "B")).reserved == 0  # and it placed nothing itself
    await reservations.mutate("o1", past_deadline)
    await handlers.expire_reservation(stock, reservations, late_timer("o1"))
    assert (await ledger(stock, "A")).available == 5
    found = await reservations.get("o1")
    assert found is not None and found.value.status is ReservationStatus.RELEASED


async def test_a_placing_slower_than_its_deadline_answers_what_the_timer_left(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    stock, reservations = stores
    await seed(stock, "A", 5)
    hold = handlers._hold

    async def slow_hold(stock: handlers.Stock, sku: str, order_id: str, quantity: int) -> bool:
        placed = await hold(stock, sku, order_id, quantity)
        # Meanwhile the deadline passes and the timer releases the reservation.
        await asyncio.sleep(0.05)
        await handlers.expire_reservation(stock, reservations, late_timer(order_id))
        return placed

    monkeypatch.setattr(handlers, "_hold", slow_hold)
    r = await handlers.reserve_stock(
        stock, reservations, order_id="o1", lines={"A": 2}, hold_seconds=0.01
    )
    assert r.status is ReservationStatus.RELEASED
    assert (await ledger(stock, "A")).available == 5


async def test_a_timer_on_another_replica_that_saw_the_hold_releases_nothing_committed() -> None:
    # The timer may be delivered to a replica whose memory still holds the reservation as
    # placed while another replica has committed it: the release goes through compare-and-set,
    # so it meets the commit and leaves it be.
    kv = FakeKV()
    one = inventory_stores(kv, RecordingPublisher())
    two = inventory_stores(kv, RecordingPublisher())
    await seed(one[0], "A", 5)
    await handlers.reserve_stock(*one, order_id="o1", lines={"A": 2}, hold_seconds=60)
    seen = await two[1].get("o1")  # replica two has seen it placed (its holds in place)
    assert seen is not None and seen.value.status is ReservationStatus.PENDING
    await two[1].mutate("o1", past_deadline)  # (the deadline passes; two remembers that)
    await handlers.commit_stock(*one, payment_succeeded("o1"))  # replica one commits
    late = late_timer("o1")
    await handlers.expire_reservation(*two, late)
    found = await handlers.reservation_view(*one, "o1")
    assert found.status is ReservationStatus.COMMITTED  # stored COMMITTING, its hold gone
    item = await ledger(one[0], "A")
    assert (item.on_hand, item.reserved) == (3, 0)


async def test_a_commit_an_earlier_version_claimed_is_finished_with_its_event(
    stores: Stores, published: RecordingPublisher
) -> None:
    # Earlier versions claimed (COMMITTING) without the event, which they wrote only when
    # finishing: a redelivery after an upgrade deducts the stock and still announces it.
    stock, reservations = stores
    await placed(stock, reservations)

    def claimed_the_old_way(r: Reservation | None) -> Reservation | None:
        assert r is not None
        r.status = ReservationStatus.COMMITTING
        return r

    await reservations.mutate("o1", claimed_the_old_way)
    await handlers.commit_stock(stock, reservations, payment_succeeded("o1"))
    assert [e.type for e in published.events] == ["StockCommitted"]
    item = await ledger(stock, "A")
    assert (item.on_hand, item.reserved, item.committed_units) == (3, 0, 2)


async def test_a_release_redelivered_to_a_replica_that_saw_it_begin_sends_its_events() -> None:
    # Replica one remembers the reservation as RELEASING (it claimed it, then was cut
    # off); replica two finished the release. A redelivery on replica one is decided on a
    # fresh read, not on the claim it remembers: it publishes the release's events again.
    kv = FakeKV()
    one_sent, two_sent = RecordingPublisher(), RecordingPublisher()
    one, two = inventory_stores(kv, one_sent), inventory_stores(kv, two_sent)
    await placed(*one)

    def releasing(r: Reservation | None) -> Reservation | None:
        assert r is not None
        r.status, r.release_reason = ReservationStatus.RELEASING, "payment_declined"
        return r

    await one[1].mutate("o1", releasing)
    await handlers.release_stock(*two, "o1", reason="payment_declined")
    assert [e.type for e in two_sent.events] == ["StockReleased"]
    await handlers.release_stock(*one, "o1", reason="payment_declined")
    assert [e.id for e in one_sent.events] == [e.id for e in two_sent.events]
    assert (await ledger(one[0], "A")).available == 5


def test_a_timer_waits_out_its_grace_or_less_when_the_deadline_is_sooner() -> None:
    far = reservation_opened("o1", expires_at=now() + timedelta(seconds=900))
    near = reservation_opened("o2", expires_at=now() + timedelta(seconds=1))
    assert handlers.timer_delay(5.0, far) == 5.0
    assert 0.5 < (handlers.timer_delay(5.0, near) or 0) <= 1.0
    assert handlers.timer_delay(5.0, payment_succeeded("o1")) is None  # the rest: at once


async def test_a_reservation_committed_within_the_grace_never_publishes_its_timer() -> None:
    kv, published = FakeKV(), RecordingPublisher()
    stock, reservations = inventory_stores(kv, published, timer_grace=0.1)
    await placed(stock, reservations)
    await handlers.commit_stock(stock, reservations, payment_succeeded("o1"))
    await asyncio.sleep(0.3)  # past the grace
    assert [e.type for e in published.events] == ["StockCommitted"]
    found = await reservations.get("o1")
    assert found is not None and found.value.outbox == []


async def test_a_refused_reservation_never_publishes_its_timer() -> None:
    kv, published = FakeKV(), RecordingPublisher()
    stock, reservations = inventory_stores(kv, published, timer_grace=0.1)
    await seed(stock, "A", 1)
    with pytest.raises(OutOfStock):
        await handlers.reserve_stock(
            stock, reservations, order_id="o1", lines={"A": 2}, hold_seconds=60
        )
    await asyncio.sleep(0.3)
    assert published.events == []


async def test_a_reservation_left_waiting_publishes_its_timer_after_the_grace() -> None:
    kv, published = FakeKV(), RecordingPublisher()
    stock, reservations = inventory_stores(kv, published, timer_grace=0.1)
    await placed(stock, reservations)  # and no payment comes
    await asyncio.sleep(0.02)
    assert published.events == []
    await asyncio.sleep(0.3)
    found = await reservations.get("o1")
    assert found is not None and found.value.outbox == []  # published, then cleared
    assert [e.type for e in published.events] == ["ReservationOpened"]
    # Its consumer waits for the deadline, and then releases the hold, as before.
    (timer,) = published.events
    assert isinstance(timer, ReservationOpened)
    with pytest.raises(Defer):
        await handlers.expire_reservation(stock, reservations, timer)
