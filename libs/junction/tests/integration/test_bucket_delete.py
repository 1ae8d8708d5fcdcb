"""A delete held to a revision, against a real nats-server: it removes the entry only while
the entry is still at that revision."""

import uuid

import pytest
from nats.aio.client import Client

from junction.store.bucket import RevisionMismatch, open_bucket

pytestmark = pytest.mark.integration


async def test_a_delete_held_to_a_revision_spares_a_newer_entry(nc: Client) -> None:
    bucket = await open_bucket(nc.jetstream(), f"del-{uuid.uuid4().hex[:8]}", replicas=1)
    first = await bucket.create("lease", b"first")
    second = await bucket.update("lease", b"taken over", last=first)
    with pytest.raises(RevisionMismatch):
        await bucket.delete("lease", last=first)
    found = await bucket.get("lease")
    assert found is not None and found.value == b"taken over"
    await bucket.delete("lease", last=second)
    assert await bucket.get("lease") is None
