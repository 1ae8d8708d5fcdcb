"""A reservation's timer waiting out its grace (decision 0015) against a real bucket: two
inventory processes' stores and relays on one nats-server, as two replicas run."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial

import pytest
from nats.aio.client import Client

from inventory import handlers
from inventory.main import build_deps
from inventory.settings import InventorySettings
from junction.store.bucket import NatsBucket, open_bucket
from junction.store.outbox import OutboxRelay
from junction_devtools.fakes import RecordingPublisher
from junction_devtools.samples import payment_succeeded

pytestmark = pytest.mark.integration

GRACE = 0.3


class Replica:
    """One inventory process: its own relay (holding timers back) and its own memory."""

    def __init__(self, bucket: NatsBucket, published: RecordingPublisher, grace: float) -> None:
        self.bucket, self.published = bucket, published
        self.relay = OutboxRelay(published)
        self.relay.defer(partial(handlers.timer_delay, grace))
        self.deps = build_deps(InventorySettings(log_json=False), bucket, self.relay)

    def types(self) -> list[str]:
        return [e.type for e in self.published.events]


@pytest.fixture
async def replicas(nc: Client) -> list[Replica]:
    bucket = await open_bucket(nc.jetstream(), f"inv{uuid.uuid4().hex[:8]}", replicas=1)
    made = [Replica(bucket, RecordingPublisher(), GRACE) for _ in range(2)]
    await handlers.add_product(made[0].deps.stock, handlers.NewProduct("A", "a", 100, 5))
    return made


async def place(replica: Replica, order_id: str) -> None:
    d = replica.deps
    await handlers.reserve_stock(
        d.stock, d.reservations, order_id=order_id, lines={"A": 1}, hold_seconds=60
    )


async def stored_outbox(replica: Replica, order_id: str) -> list[str]:
    found = await replica.deps.reservations.get(order_id)
    assert found is not None
    return [e.type for e in found.value.outbox]


async def test_a_reservation_its_own_replica_commits_never_publishes_its_timer(
    replicas: list[Replica],
) -> None:
    one = replicas[0]
    await place(one, "o1")
    assert await stored_outbox(one, "o1") == ["ReservationOpened"]  # stored, waiting
    await handlers.commit_stock(one.deps.stock, one.deps.reservations, payment_succeeded("o1"))
    await asyncio.sleep(GRACE * 3)
    assert one.types() == ["StockCommitted"]
    assert await stored_outbox(one, "o1") == []


async def test_a_reservation_another_replica_commits_never_publishes_its_timer(
    replicas: list[Replica],
) -> None:
    placing, paying = replicas
    await place(placing, "o2")
    d = paying.deps  # the payment went to the other replica (a shared durable consumer)
    await handlers.commit_stock(d.stock, d.reservations, payment_succeeded("o2"))
    await asyncio.sleep(GRACE * 3)  # the first one's wait ends: it reads, finds no timer
    assert placing.types() == [] and paying.types() == ["StockCommitted"]
    assert await stored_outbox(placing, "o2") == []


async def test_a_reservation_nobody_pays_publishes_its_timer_after_the_grace(
    replicas: list[Replica],
) -> None:
    one = replicas[0]
    await place(one, "o3")
    await asyncio.sleep(GRACE / 3)
    assert one.types() == []
    await asyncio.sleep(GRACE * 3)
    assert one.types() == ["ReservationOpened"]
    assert await stored_outbox(one, "o3") == []  # published, then cleared


async def test_a_replica_stopping_publishes_the_timers_it_holds(replicas: list[Replica]) -> None:
    stopping = Replica(replicas[0].bucket, RecordingPublisher(), grace=60.0)
    await place(stopping, "o4")
    await stopping.relay.close(timeout=5)  # SIGTERM, a scale-down: nothing left waiting
    assert stopping.types() == ["ReservationOpened"]
    assert await stored_outbox(stopping, "o4") == []
