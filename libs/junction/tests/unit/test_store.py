import asyncio
from collections.abc import Callable

import pytest
from opentelemetry.sdk.trace import TracerProvider

from junction.contracts.events import EventEnvelope, OrderCreated
from junction.errors import ConcurrencyConflict
from junction.store.aggregates import PROCESSED_IDS_KEPT, Aggregate, AggregateStore
from junction.store.outbox import OutboxRelay
from junction_devtools.fakes import FakeKV, RecordingPublisher
from junction_devtools.samples import order_created

pytestmark = pytest.mark.unit


class Counter(Aggregate):
    value: int = 0


def make_store(
    kv: FakeKV, relay: OutboxRelay | None = None, attempts: int = 50
) -> AggregateStore[Counter]:
    return AggregateStore(kv, Counter, prefix="counter", relay=relay, cas_attempts=attempts)


async def test_mutate_creates_then_updates() -> None:
    store = make_store(FakeKV())
    await store.mutate("a", lambda c: c or Counter(value=1))

    def bump(c: Counter | None) -> Counter | None:
        assert c is not None
        c.value += 1
        return c

    await store.mutate("a", bump)
    found = await store.get("a")
    assert found is not None and found.value.value == 2


async def test_a_lost_compare_and_set_is_retried_without_losing_either_write() -> None:
    kv = FakeKV()
    store = make_store(kv)
    await store.mutate("a", lambda c: Counter(value=0))
    interfered = False

    def bump(c: Counter | None) -> Counter | None:
        nonlocal interfered
        assert c is not None
        if not interfered:  # another replica writes between our read and our write
            interfered = True
            kv.data["counter.a"] = (
                Counter(value=10).model_dump_json().encode(),
                kv.data["counter.a"][1] + 100,
            )
        c.value += 1
        return c

    await store.mutate("a", bump)
    found = await store.get("a")
    assert found is not None and found.value.value == 11


def bump(c: Counter | None) -> Counter | None:
    assert c is not None
    c.value += 1
    return c


async def test_a_key_this_process_wrote_last_is_changed_without_a_read() -> None:
    kv = FakeKV()
    store = make_store(kv)
    assert await store.put_new("a", Counter(value=1))
    await store.mutate("a", bump)
    await store.mutate("a", bump)
    assert (kv.reads, kv.writes) == (0, 3)
    found = await store.get("a")
    assert found is not None and found.value.value == 3


async def test_a_write_by_another_process_is_never_overwritten() -> None:
    kv = FakeKV()
    ours, theirs = make_store(kv), make_store(kv)
    await ours.put_new("a", Counter(value=1))
    await ours.mutate("a", bump)  # ours now remembers revision 2
    await theirs.mutate("a", bump)  # another replica: 3
    await ours.mutate("a", bump)  # refused on the stale revision, re-read, then 4
    found = await theirs.get("a")
    assert found is not None and found.value.value == 4


async def test_put_new_refuses_an_existing_aggregate_whoever_wrote_it() -> None:
    kv = FakeKV()
    ours, theirs = make_store(kv), make_store(kv)
    assert await theirs.put_new("a", Counter(value=1))
    assert not await ours.put_new("a", Counter(value=2))  # never seen here: create refused
    assert not await theirs.put_new("a", Counter(value=3))
    await ours.delete("a")
    assert await theirs.put_new("a", Counter(value=4))  # its memory of "a" is stale
    found = await ours.get("a")
    assert found is not None and found.value.value == 4


async def test_a_change_that_declines_on_a_remembered_value_is_asked_again_on_a_fresh_one() -> None:
    kv = FakeKV()
    ours, theirs = make_store(kv), make_store(kv)
    await ours.put_new("a", Counter(value=1))
    await theirs.mutate("a", bump)  # 2, unknown to `ours`
    seen: list[int] = []

    def only_from_two(c: Counter | None) -> Counter | None:
        assert c is not None
        seen.append(c.value)
        if c.value != 2:
            return None
        c.value = 20
        return c

    assert await ours.mutate("a", only_from_two) is not None
    assert seen == [1, 2]
    found = await theirs.get("a")
    assert found is not None and found.value.value == 20


async def test_gives_up_after_the_configured_attempts() -> None:
    kv = FakeKV()
    store = make_store(kv, attempts=3)
    await store.mutate("a", lambda c: Counter())

    def always_interfere(c: Counter | None) -> Counter | None:
        value, rev = kv.data["counter.a"]
        kv.data["counter.a"] = (value, rev + 1)
        return c

    with pytest.raises(ConcurrencyConflict):
        await store.mutate("a", always_interfere)


async def test_change_returning_none_writes_nothing() -> None:
    kv = FakeKV()
    store = make_store(kv)
    await store.mutate("a", lambda c: Counter())
    writes = kv.writes
    assert await store.mutate("a", lambda c: None) is None
    assert kv.writes == writes


async def test_outbox_events_are_published_then_cleared() -> None:
    kv, publisher = FakeKV(), RecordingPublisher()
    relay = OutboxRelay(publisher)
    store = make_store(kv, relay)

    def create(c: Counter | None) -> Counter:
        counter = Counter()
        counter.record(order_created("o1"))
        return counter

    await store.mutate("a", create)
    await relay.close(timeout=5)
    assert [e.type for e in publisher.events] == ["OrderCreated"]
    found = await store.get("a")
    assert found is not None and found.value.outbox == []


async def test_sweep_republishes_what_a_crash_left_pending() -> None:
    kv, publisher = FakeKV(), RecordingPublisher()
    pending = Counter()
    pending.record(order_created("o1"))
    await kv.create("counter.a", pending.model_dump_json().encode())  # written, never relayed
    relay = OutboxRelay(publisher)
    make_store(kv, relay)  # the service's store, registered with its relay at start-up
    assert await relay.sweep() == 1
    assert await relay.sweep() == 0  # cleared after the first publish
    assert publisher.events[0].order_id == "o1"


async def test_an_unreadable_entry_does_not_stop_the_sweep() -> None:
    kv, publisher = FakeKV(), RecordingPublisher()
    await kv.create("counter.a", b"{not json")
    pending = Counter()
    pending.record(order_created("o2"))
    await kv.create("counter.b", pending.model_dump_json().encode())
    relay = OutboxRelay(publisher)
    make_store(kv, relay)
    assert await relay.sweep() == 1
    assert [e.order_id for e in publisher.events] == ["o2"]
    assert kv.scans == 1 and kv.reads == 1  # one pass, then only the pending one is read


async def test_failed_flush_is_retried() -> None:
    kv = FakeKV()

    class Flaky(RecordingPublisher):
        fail = True

        async def publish(self, event: EventEnvelope) -> None:
            if self.fail:
                self.fail = False
                raise ConnectionError("nats down")
            await super().publish(event)

    publisher = Flaky()
    relay = OutboxRelay(publisher)
    store = make_store(kv, relay)

    def create(c: Counter | None) -> Counter:
        counter = Counter()
        counter.record(order_created("o1"))
        return counter

    await store.mutate("a", create)
    await relay.close(timeout=5)
    assert publisher.events == []
    assert await relay.retry_failed() == 1
    assert len(publisher.events) == 1


async def test_events_recorded_inside_a_span_carry_its_trace_context() -> None:
    tracer = TracerProvider().get_tracer("test")
    kv = FakeKV()
    store = make_store(kv)

    def create(c: Counter | None) -> Counter:
        counter = Counter()
        counter.record(order_created("o1"))
        return counter

    with tracer.start_as_current_span("request") as span:
        written = await store.mutate("a", create)
    assert written is not None
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert trace_id in written.outbox[0].trace["traceparent"]


def test_processed_ids_are_bounded() -> None:
    counter = Counter()
    for i in range(PROCESSED_IDS_KEPT + 10):
        counter.mark_processed(str(i))
    assert len(counter.processed) == PROCESSED_IDS_KEPT
    assert counter.has_processed(str(PROCESSED_IDS_KEPT + 9))
    assert not counter.has_processed("0")


async def test_writers_in_one_process_queue_per_key() -> None:
    store = make_store(FakeKV())
    await store.mutate("a", lambda c: Counter())

    async def bump() -> None:
        def change(c: Counter | None) -> Counter | None:
            assert c is not None
            c.value += 1
            return c

        await store.mutate("a", change)

    await asyncio.gather(*(bump() for _ in range(50)))
    found = await store.get("a")
    assert found is not None and found.value.value == 50


async def test_sweep_finds_aggregates_whose_ids_hold_dots() -> None:
    # notifications stores one record per "<order id>.<kind>": the sweep after a crash must
    # find those too, or an event written with such a record is never sent.
    kv, publisher = FakeKV(), RecordingPublisher()
    pending = Counter()
    pending.record(order_created("o1"))
    await kv.create("counter.o1.receipt", pending.model_dump_json().encode())
    relay = OutboxRelay(publisher)
    store = make_store(kv, relay)
    assert await store.ids() == ["o1.receipt"]
    assert await relay.sweep() == 1


class AnswerLost(FakeKV):
    """A bucket that stores the next write but loses its answer (a timeout, a connection
    cut after the server wrote): the writer cannot know whether it took."""

    lose_next = False

    def _put(self, key: str, value: bytes) -> int:
        revision = super()._put(key, value)
        if self.lose_next:
            self.lose_next = False
            raise TimeoutError("no answer")
        return revision


def record_created(c: Counter | None) -> Counter:
    counter = c or Counter()
    counter.value += 1
    counter.record(order_created(f"o{counter.value}"))
    return counter


@pytest.mark.parametrize("first_write", ["put_new", "mutate"])
async def test_events_of_a_write_whose_answer_was_lost_are_still_published(
    first_write: str,
) -> None:
    # The write took, its answer did not come, so the caller saw an error and retries: a
    # retried HTTP call finds the aggregate there (put_new refused), a redelivered event
    # finds itself processed (nothing to write). Neither writes again, so the events that
    # write stored must be found by the relay, not only by a sweep at the next start-up.
    kv, publisher = AnswerLost(), RecordingPublisher()
    relay = OutboxRelay(publisher)
    store = make_store(kv, relay)
    kv.lose_next = True
    write = (
        store.put_new("a", record_created(None))
        if first_write == "put_new"
        else store.mutate("a", record_created)
    )
    with pytest.raises(TimeoutError):
        await write
    assert not await store.put_new("a", Counter())  # the retry: it exists, nothing to do
    await relay.close(timeout=5)
    assert publisher.events == []
    assert await relay.retry_failed() == 1
    assert [e.order_id for e in publisher.events] == ["o1"]
    found = await store.get("a")
    assert found is not None and found.value.outbox == []


async def test_a_published_event_is_cleared_by_the_aggregates_next_write() -> None:
    kv, publisher = FakeKV(), RecordingPublisher()
    relay = OutboxRelay(publisher, clear_delay=30.0)
    store = make_store(kv, relay)
    await store.mutate("a", record_created)
    await asyncio.sleep(0)  # the inline flush publishes
    await asyncio.sleep(0)
    assert [e.order_id for e in publisher.events] == ["o1"]
    writes = kv.writes
    await store.mutate("a", bump)  # the next write: the clear rides on it
    found = await store.get("a")
    assert found is not None and found.value.outbox == [] and found.value.value == 2
    assert kv.writes == writes + 1
    await relay.close(timeout=5)  # nothing left to clear: no write of its own
    assert kv.writes == writes + 1


async def test_a_published_event_with_no_next_write_is_cleared_after_the_delay() -> None:
    kv, publisher = FakeKV(), RecordingPublisher()
    relay = OutboxRelay(publisher, clear_delay=0.05)
    store = make_store(kv, relay)
    await store.mutate("a", record_created)
    await asyncio.sleep(0.2)
    found = await store.get("a")
    assert len(publisher.events) == 1
    assert found is not None and found.value.outbox == []


async def test_shutdown_clears_what_waits_for_a_next_write() -> None:
    kv, publisher = FakeKV(), RecordingPublisher()
    relay = OutboxRelay(publisher, clear_delay=30.0)
    store = make_store(kv, relay)
    await store.mutate("a", record_created)
    await relay.close(timeout=5)
    found = await store.get("a")
    assert len(publisher.events) == 1
    assert found is not None and found.value.outbox == []


async def test_events_recorded_after_a_publish_are_kept_when_the_clear_rides() -> None:
    kv, publisher = FakeKV(), RecordingPublisher()
    relay = OutboxRelay(publisher, clear_delay=30.0)
    store = make_store(kv, relay)
    await store.mutate("a", record_created)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    await store.mutate("a", record_created)  # drops o1 (published), keeps o2 (new)
    found = await store.get("a")
    assert found is not None and [e.order_id for e in found.value.outbox] == ["o2"]
    await relay.close(timeout=5)
    assert [e.order_id for e in publisher.events] == ["o1", "o2"]
    found = await store.get("a")
    assert found is not None and found.value.outbox == []


async def test_new_first_creates_without_a_read_and_decides_again_on_an_existing_key() -> None:
    kv = FakeKV()
    store = make_store(kv)
    seen: list[int | None] = []

    def claim(c: Counter | None) -> Counter:
        seen.append(None if c is None else c.value)
        return Counter(value=1) if c is None else Counter(value=c.value + 10)

    await store.mutate("a", claim, new_first=True)
    assert (kv.reads, kv.writes) == (0, 1)
    other = make_store(kv)  # another process, which has not seen "a"
    written = await other.mutate("a", claim, new_first=True)
    assert written is not None and written.value == 11  # the create was refused; read, then set
    assert seen == [None, None, 1]


async def test_two_replicas_sweeping_at_start_up_publish_and_clear_without_error() -> None:
    # Both replicas of a service sweep the same bucket when they start: each event may be
    # published twice (JetStream's duplicate window drops the second, by event id), and
    # the outbox ends empty whichever clear lands first.
    kv = FakeKV()
    for ident in ("a", "b", "c"):
        pending = Counter()
        pending.record(order_created(ident))
        await kv.create(f"counter.{ident}", pending.model_dump_json().encode())
    publishers = [RecordingPublisher(), RecordingPublisher()]
    relays = [OutboxRelay(p) for p in publishers]
    stores = [make_store(kv, r) for r in relays]
    await asyncio.gather(*(r.sweep() for r in relays))
    published = {e.order_id for p in publishers for e in p.events}
    assert published == {"a", "b", "c"}
    for ident in ("a", "b", "c"):
        found = await stores[0].get(ident)
        assert found is not None and found.value.outbox == []


async def test_a_deferred_clear_keeps_what_another_replica_wrote_meanwhile() -> None:
    kv = FakeKV()
    relay = OutboxRelay(RecordingPublisher(), clear_delay=30.0)
    mine, theirs = make_store(kv, relay), make_store(kv)  # two processes, one bucket
    await mine.mutate("a", record_created)
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # published; its clear waits for a next write here
    await theirs.mutate("a", bump)  # the other replica writes (it knows nothing published)
    await relay.close(timeout=5)  # the clear: on a stale revision, so read again, then set
    found = await mine.get("a")
    assert found is not None and found.value.outbox == [] and found.value.value == 2


async def test_settle_publishes_what_the_change_announced_once_and_keeps_it_out_of_sweeps() -> None:
    kv = FakeKV()
    published = RecordingPublisher()
    relay = OutboxRelay(published)
    store = make_store(kv, relay)
    first, second = order_created("o1"), order_created("o2")

    def announce(event: OrderCreated) -> Callable[[Counter | None], Counter]:
        def change(c: Counter | None) -> Counter:
            c = c or Counter()
            c.value += 1
            c.announce(event)
            return c

        return change

    await store.settle("a", announce(first))
    await store.settle("a", announce(second))  # publishes only what this write announced
    assert [e.id for e in published.events] == [first.id, second.id]
    found = await store.get("a")
    assert found is not None and found.value.outbox == []
    assert await relay.sweep() == 0  # announced events are never in an outbox
    # A redelivery publishes everything announced again (the same ids), when asked to.
    assert await store.announce_again("a", if_=lambda c: c.value == 1) == 0
    assert await store.announce_again("a") == 2
    assert [e.id for e in published.events] == [first.id, second.id] * 2
    assert await store.announce_again("missing") == 0
    with pytest.raises(RuntimeError, match="need a relay"):
        await make_store(FakeKV()).settle("a", announce(first))


async def test_settle_decides_what_is_new_on_the_value_it_writes_after_a_lost_race() -> None:
    kv = FakeKV()
    published = RecordingPublisher()
    one, two = make_store(kv, OutboxRelay(published)), make_store(kv, OutboxRelay(published))
    first, second = order_created("o1"), order_created("o2")

    def announce(event: OrderCreated) -> Callable[[Counter | None], Counter]:
        def change(c: Counter | None) -> Counter:
            c = c or Counter()
            if event.id not in {e.id for e in c.notices}:
                c.announce(event)
            return c

        return change

    await one.settle("a", announce(first))  # one remembers revision 1
    await two.settle("a", lambda c: c)  # another replica writes meanwhile
    await two.settle("a", announce(second))
    # one's remembered value is stale (it lacks `second`): its write is refused and the
    # change decided again on a fresh read. What counts as newly announced is taken from
    # that read, so `second` (announced by the other replica) is not published again.
    await one.settle("a", announce(first))
    assert [e.id for e in published.events] == [first.id, second.id]


def deferring(publisher: RecordingPublisher, seconds: float) -> OutboxRelay:
    """A relay that holds back every event for `seconds` (`OutboxRelay.defer`)."""
    relay = OutboxRelay(publisher)
    relay.defer(lambda event: seconds)
    return relay


def drop_outbox(c: Counter | None) -> Counter | None:
    """A change that settles the aggregate so that its pending events are moot."""
    assert c is not None
    c.value += 100
    c.outbox = []
    return c


async def test_a_deferred_event_waits_then_is_published_from_the_stored_outbox() -> None:
    kv, publisher = FakeKV(), RecordingPublisher()
    relay = deferring(publisher, 0.05)
    store = make_store(kv, relay)
    await store.mutate("a", record_created)
    await asyncio.sleep(0.01)
    assert publisher.events == [] and relay.deferred(store, "a")  # still waiting
    await asyncio.sleep(0.15)
    assert [e.order_id for e in publisher.events] == ["o1"]
    found = await store.get("a")
    assert found is not None and found.value.outbox == [] and not relay.deferred(store, "a")


async def test_a_deferred_event_its_own_process_drops_is_never_published() -> None:
    kv, publisher = FakeKV(), RecordingPublisher()
    relay = deferring(publisher, 0.05)
    store = make_store(kv, relay)
    await store.mutate("a", record_created)
    await store.mutate("a", drop_outbox)  # written by the same process: withdrawn
    assert not relay.deferred(store, "a")
    reads, writes = kv.reads, kv.writes
    await asyncio.sleep(0.15)
    await relay.close(timeout=5)
    assert publisher.events == [] and (kv.reads, kv.writes) == (reads, writes)


async def test_a_deferred_event_another_process_dropped_is_read_and_not_published() -> None:
    kv, publisher = FakeKV(), RecordingPublisher()
    relay = deferring(publisher, 0.05)
    mine, theirs = make_store(kv, relay), make_store(kv)  # two replicas, one bucket
    await mine.mutate("a", record_created)
    await theirs.mutate("a", drop_outbox)  # the other replica settles it
    await asyncio.sleep(0.15)  # the wait ends: one read finds nothing left to publish
    assert publisher.events == []
    found = await mine.get("a")
    assert found is not None and found.value.value == 101


async def test_shutdown_publishes_deferred_events_at_once() -> None:
    kv, publisher = FakeKV(), RecordingPublisher()
    relay = deferring(publisher, 30.0)
    store = make_store(kv, relay)
    await store.mutate("a", record_created)
    await relay.close(timeout=5)  # a replica scaled down must not take its timers along
    assert [e.order_id for e in publisher.events] == ["o1"]
    found = await store.get("a")
    assert found is not None and found.value.outbox == []


async def test_a_deferred_event_a_crash_left_in_the_outbox_is_swept_at_start_up() -> None:
    kv = FakeKV()
    await make_store(kv, deferring(RecordingPublisher(), 30.0)).mutate("a", record_created)
    # ... and that process dies before the wait ends. The next one to start sweeps.
    publisher = RecordingPublisher()
    relay = deferring(publisher, 30.0)
    store = make_store(kv, relay)
    assert await relay.sweep() == 1
    assert [e.order_id for e in publisher.events] == ["o1"]
    found = await store.get("a")
    assert found is not None and found.value.outbox == []


async def test_an_event_deferred_by_zero_goes_out_at_once() -> None:
    publisher = RecordingPublisher()
    relay = deferring(publisher, 0.0)
    store = make_store(FakeKV(), relay)
    await store.mutate("a", record_created)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert [e.order_id for e in publisher.events] == ["o1"]
