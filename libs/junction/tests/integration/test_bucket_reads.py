"""Key-value reads against a real 3-node cluster, one node cut off the network and healed:
a read made after a write was acknowledged (to anyone) sees that write, whichever node the
reader is connected to: no read answers from a replica that has not caught up."""

import asyncio
import contextlib
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js import api

from junction.connection import when_ready
from junction.store.bucket import NatsBucket, RevisionMismatch, open_bucket
from junction_devtools import netns
from junction_devtools.netns import TestHosts
from junction_devtools.platform import Platform, free_ports

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not netns.available(),
        reason="cutting a node off needs root and iproute2 (network namespaces of its own)",
    ),
]

CUT_SECONDS = 6.0
READ_SECONDS = 3.0
ENOUGH = 200  # answered reads


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Platform]:
    """Three NATS nodes, each on a test host of its own, nothing else."""
    hosts = TestHosts(3)
    hosts.create()
    platform = Platform(
        state_dir=tmp_path, ports=free_ports(), telemetry=False, nats_nodes=3, nats_hosts=hosts
    )
    try:
        platform.start_nats()
        yield platform
    finally:
        platform.stop()
        hosts.remove()


async def bucket_via(urls: list[str], name: str) -> tuple[Client, NatsBucket]:
    nc = await nats.connect(urls, ping_interval=60)  # stays on its node through the cut
    bucket = await when_ready(lambda: open_bucket(nc.jetstream(), name, replicas=3), 60)
    return nc, bucket


async def acknowledged_create(bucket: NatsBucket, key: str) -> int:
    """Create `key`, waiting out a cluster that elects a new leader; its revision."""
    try:
        return await when_ready(lambda: bucket.create(key, b"during the cut"), 30)
    except RevisionMismatch:  # an earlier attempt was stored, its answer lost
        found = await when_ready(lambda: bucket.get(key), 30)
        assert found is not None
        return found.revision


async def test_a_follower_healed_after_a_cut_never_answers_a_read_with_what_it_missed(
    cluster: Platform,
) -> None:
    assert cluster.nats_hosts is not None
    urls = cluster.operator_nats_url.split(",")
    first = await nats.connect(urls)
    config = api.KeyValueConfig(bucket="reads", history=1, replicas=3, direct=True)
    await when_ready(partial(first.jetstream().create_key_value, config), 60)
    await first.close()  # as an earlier version of Junction created its buckets
    writer, bucket = await bucket_via(urls, "reads")
    await acknowledged_create(bucket, "warm")
    info = await writer.jetstream().stream_info("KV_reads")
    assert not info.config.allow_direct  # opened: read through the leader from now on
    leader = info.cluster.leader if info.cluster else None
    names = [f"junction-{n}" for n in cluster.nats_nodes_names]
    follower = next(i for i, name in enumerate(names) if name != leader)
    # A reader whose only server is the follower: it asks that node, as a service does that
    # stayed connected to it through a short cut (or reconnected to it after the heal).
    reader, on_follower = await bucket_via([urls[follower]], "reads")
    majority, written = await bucket_via([u for i, u in enumerate(urls) if i != follower], "reads")
    cluster.nats_hosts.cut(follower + 1)
    try:
        await asyncio.sleep(CUT_SECONDS)
        keys = [f"k{i}" for i in range(200)]
        revisions = {key: await acknowledged_create(written, key) for key in keys}
    finally:
        cluster.nats_hosts.heal(follower + 1)
    # Each read follows a write acknowledged to another client: it must see that write.
    # For READ_SECONDS after the heal, and on until enough were answered (the healed
    # node's routes may take a few seconds to come back; its reads fail until then).
    answered, stale, failed = 0, [], 0
    deadline, last = time.monotonic() + READ_SECONDS, time.monotonic() + 30
    while time.monotonic() < last and (time.monotonic() < deadline or answered < ENOUGH):
        for key in keys:
            if time.monotonic() > last or (time.monotonic() > deadline and answered >= ENOUGH):
                break
            try:
                revisions[key] = await written.update(key, b"after", last=revisions[key])
                entry = await on_follower.get(key)
            except (nats.errors.Error, TimeoutError, RevisionMismatch):
                failed += 1  # loud: the caller retries (here: on the stored revision)
                with contextlib.suppress(nats.errors.Error, TimeoutError):
                    if (found := await written.get(key)) is not None:
                        revisions[key] = found.revision
                continue
            answered += 1
            if entry is None or entry.revision < revisions[key]:
                stale.append(key)
    for nc in (writer, reader, majority):
        await nc.close()
    assert answered >= ENOUGH, f"{answered} reads answered in 30 s after the heal ({failed} failed)"
    assert stale == [], f"{len(stale)} of {answered} reads answered with what the node missed"
