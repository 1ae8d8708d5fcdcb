"""A bucket with more keys than one stream-info answer lists (nats-server stops at 100,000
subjects, JSMaxSubjectDetails): every key is still listed, and the outbox relay's start-up
sweep still finds every pending event, against a real nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.aio.client import Client

from junction.store.aggregates import Aggregate, AggregateStore
from junction.store.bucket import SUBJECTS_PER_INFO, NatsBucket, open_bucket
from junction.store.outbox import OutboxRelay
from junction_devtools.fakes import RecordingPublisher
from junction_devtools.samples import order_created
from junction_devtools.testing import NatsServer, fill_bucket, start_nats

pytestmark = pytest.mark.integration

KEYS = SUBJECTS_PER_INFO + 1
# Pending events in the first key and in the last, which sorts past the first 100,000.
PENDING = (0, KEYS - 1)


class Thing(Aggregate):
    pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    # NATS's default sync: 100,001 writes each synced would take minutes, and this test is
    # about listing, not durability.
    started = start_nats(tmp_path_factory.mktemp("nats-scale"), sync_interval=None)
    yield started
    started.process.terminate()
    started.process.wait(10)


@pytest.fixture(scope="module")
async def filled(server: NatsServer) -> AsyncIterator[tuple[Client, NatsBucket]]:
    """A bucket of `KEYS` things, written by plain publishes to the bucket's subjects (the
    stream stores each as a put), two of them with an event in their outbox."""
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    bucket = await open_bucket(js, "scale", replicas=1)
    plain = Thing().model_dump_json().encode()

    def payload(i: int) -> bytes:
        if i in PENDING:
            return Thing(outbox=[order_created(f"order-{i}")]).model_dump_json().encode()
        return plain

    await fill_bucket(nc, "scale", ((f"thing.{i:06d}", payload(i)) for i in range(KEYS)))
    yield nc, bucket
    await nc.drain()


async def test_every_key_is_listed_past_what_one_stream_info_lists(
    filled: tuple[Client, NatsBucket],
) -> None:
    nc, bucket = filled
    info = await nc.jetstream().stream_info("KV_scale", subjects_filter="$KV.scale.>")
    assert len(info.state.subjects or {}) == SUBJECTS_PER_INFO  # the server's own limit
    keys = await bucket.keys_matching("thing.>")
    assert len(keys) == KEYS
    assert keys[-1] == f"thing.{KEYS - 1:06d}"


async def test_the_sweep_finds_pending_events_in_the_whole_bucket(
    filled: tuple[Client, NatsBucket],
) -> None:
    _, bucket = filled
    publisher = RecordingPublisher()
    relay = OutboxRelay(publisher)
    store = AggregateStore(bucket, Thing, prefix="thing", relay=relay)
    assert await store.pending_ids() == [f"{i:06d}" for i in PENDING]
    assert await relay.sweep() == len(PENDING)
    assert sorted(e.order_id for e in publisher.events) == [f"order-{i}" for i in PENDING]
    assert await store.pending_ids() == []  # published, then cleared
