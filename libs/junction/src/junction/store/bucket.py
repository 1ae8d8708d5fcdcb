"""One service's key-value bucket: get, create, compare-and-set update, delete, keys and
entries by pattern, through nats-py's public API. `KeyValueBucket` is what the store
needs; the test fakes implement the same protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from nats.js import api
from nats.js.errors import (
    APIError,
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)

if TYPE_CHECKING:
    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue


# A stream info request lists at most this many subjects (nats-server's
# JSMaxSubjectDetails; more need paging, which nats-py's `stream_info` does not offer).
SUBJECTS_PER_INFO = 100_000
# JetStream's "wrong last sequence" error codes (JSStreamWrongLastSequenceErrF and its
# constant twin): a compare-and-set write or delete that found another revision.
WRONG_LAST_SEQUENCE = (10071, 10164)
# The longest wait for the next entry of a watched bucket before giving up.
WATCH_GAP_SECONDS = 10.0


class RevisionMismatch(Exception):
    """A compare-and-set write found another revision than it was given (or, for a
    create, an entry already there)."""


@dataclass(frozen=True)
class Entry:
    value: bytes
    revision: int


class KeyValueBucket(Protocol):
    async def get(self, key: str) -> Entry | None: ...

    async def create(self, key: str, value: bytes) -> int: ...

    async def update(self, key: str, value: bytes, *, last: int) -> int: ...

    async def delete(self, key: str, *, last: int | None = None) -> None: ...

    async def keys_matching(self, pattern: str) -> list[str]: ...

    def entries_matching(self, pattern: str) -> AsyncIterator[tuple[str, bytes]]: ...


class NatsBucket:
    """A JetStream key-value bucket. Its stream is `KV_<name>` and its subjects
    `$KV.<name>.<key>`: NATS's documented layout of a bucket, used to list keys."""

    def __init__(self, name: str, kv: KeyValue, js: JetStreamContext) -> None:
        self.name = name
        self._kv = kv
        self._js = js
        self._prefix = f"$KV.{name}."

    async def get(self, key: str) -> Entry | None:
        try:
            found = await self._kv.get(key)
        except KeyNotFoundError:  # also a deleted entry
            return None
        if found.value is None or found.revision is None:
            return None
        return Entry(found.value, found.revision)

    async def create(self, key: str, value: bytes) -> int:
        try:
            revision: int = await self._kv.create(key, value)
        except KeyWrongLastSequenceError as exc:
            raise RevisionMismatch(key) from exc
        return revision

    async def update(self, key: str, value: bytes, *, last: int) -> int:
        try:
            revision: int = await self._kv.update(key, value, last=last)
        except KeyWrongLastSequenceError as exc:
            raise RevisionMismatch(key) from exc
        return revision

    async def delete(self, key: str, *, last: int | None = None) -> None:
        """Delete `key`; with `last`, only while its revision is still `last`."""
        try:
            await self._kv.delete(key, last=last)
        except APIError as exc:
            if exc.err_code in WRONG_LAST_SEQUENCE:  # nats-py converts these for updates only
                raise RevisionMismatch(key) from exc
            raise

    async def keys_matching(self, pattern: str) -> list[str]:
        """Keys matching a subject pattern, listed by the server in one request; past
        `SUBJECTS_PER_INFO` keys (where the server stops listing) through a watcher of the
        keys' headers (a streamed pass over the bucket)."""
        info = await self._js.stream_info(
            f"KV_{self.name}", subjects_filter=f"{self._prefix}{pattern}"
        )
        subjects = info.state.subjects or {}
        if len(subjects) < SUBJECTS_PER_INFO:
            return sorted(s.removeprefix(self._prefix) for s in subjects)
        return sorted([key async for key, _ in self._watch(pattern, meta_only=True)])

    def entries_matching(self, pattern: str) -> AsyncIterator[tuple[str, bytes]]:
        """The key and value of every entry matching a subject pattern, streamed by the
        server in one pass (an ordered consumer, the last value of each key), instead of a
        request per key."""
        return self._watch(pattern, meta_only=False)

    async def _watch(self, pattern: str, *, meta_only: bool) -> AsyncIterator[tuple[str, bytes]]:
        watcher = await self._kv.watch(pattern, ignore_deletes=True, meta_only=meta_only)
        try:
            while (entry := await watcher.updates(timeout=WATCH_GAP_SECONDS)) is not None:  # type: ignore[no-untyped-call]
                yield entry.key, entry.value or b""
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]


async def open_bucket(
    js: JetStreamContext, name: str, *, replicas: int, ttl: float | None = None
) -> NatsBucket:
    """Open a bucket, creating it if needed: file storage, `replicas`, and an entry
    time-to-live when given.

    Reads go where they cannot be stale. With one replica they are direct gets
    (`allow_direct`, as the NATS CLI and nats.go create buckets: the server answers from
    the stream without its JSON API). With several, only the stream leader answers:
    every replica answers direct gets, a follower cut off and healed among them, from
    whatever it holds until it has caught up (the server stops none of them; measured: a
    key written during the cut read as absent for half a second after the heal). A
    stale "absent" or old revision is a decision taken on the wrong state: a handler
    that finds no reservation acks an event it never applied, a relay that finds an
    empty outbox stops retrying it. Leader reads fail loudly (a timeout, retried) instead.
    """
    try:
        kv = await js.key_value(name)
    except BucketNotFoundError:
        config = api.KeyValueConfig(
            bucket=name,
            history=1,
            storage=api.StorageType.FILE,
            replicas=replicas,
            ttl=ttl,
            direct=replicas == 1,
        )
        return NatsBucket(name, await js.create_key_value(config), js)
    info = await js.stream_info(f"KV_{name}")
    direct = (info.config.num_replicas or 1) == 1  # as it is, whatever was asked
    if bool(info.config.allow_direct) != direct:  # created by an earlier version
        info.config.allow_direct = direct
        await js.update_stream(info.config)
        kv = await js.key_value(name)
    return NatsBucket(name, kv, js)
