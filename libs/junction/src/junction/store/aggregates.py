"""Typed aggregates in a key-value bucket: compare-and-set writes, an outbox of the events
each change causes, the events a delivered event's change announces, and the ids of the
events already applied (idempotent consumers)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field, ValidationError

from junction.contracts.events import Event, EventEnvelope
from junction.errors import ConcurrencyConflict
from junction.store.bucket import KeyValueBucket, RevisionMismatch
from junction.store.outbox import OutboxRelay
from junction.telemetry import inject

logger = logging.getLogger(__name__)

PROCESSED_IDS_KEPT = 64


class Aggregate(BaseModel):
    """Base of every stored aggregate: pending outbox events, announced events and
    processed event ids."""

    outbox: list[Event] = Field(default_factory=list)
    processed: list[str] = Field(default_factory=list)
    notices: list[Event] = Field(default_factory=list)

    def record(self, event: Event) -> None:
        """Queue an event to be published once this aggregate is saved (the outbox)."""
        self.outbox.append(event)

    def announce(self, event: Event) -> None:
        """Keep an event with this aggregate, for the handler of the delivered event that
        caused this change to publish before that delivery is acknowledged
        (`AggregateStore.settle`). Kept, never cleared: a redelivery publishes it again
        (`announce_again`). Only for the few events of a change a delivery causes, or of
        a request whose failure its caller retries (payments' charge, decision 0014);
        other changes an HTTP request causes use the outbox (`record`)."""
        self.notices.append(event)

    def has_processed(self, event_id: str) -> bool:
        return event_id in self.processed

    def mark_processed(self, event_id: str) -> None:
        """Remember an applied event so a redelivery changes nothing twice."""
        self.processed.append(event_id)
        del self.processed[:-PROCESSED_IDS_KEPT]


class OutboxOnly(BaseModel):
    """A stored aggregate of any kind, read for its outbox alone (the relay's sweep)."""

    outbox: list[Any] = Field(default_factory=list)


A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class Versioned(Generic[A]):
    value: A
    revision: int


class KeyLocks:
    """One asyncio lock per key, so writers in one process queue instead of colliding."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock


def stamp_trace(events: list[Event]) -> list[Event]:
    """Attach the current trace context to events that do not carry one yet."""
    carrier: dict[str, str] = {}
    inject(carrier)
    if not carrier:
        return events
    return [e if e.trace else e.model_copy(update={"trace": carrier}) for e in events]


Mutation = Callable[[A | None], A | None]


class AggregateStore(Generic[A]):
    """Aggregates of one type under `prefix.` in one bucket.

    Writes are compare-and-set on the entry's revision. The store remembers the last
    revision it read or wrote of recent keys, so a change to a key this process touched
    last costs one write instead of a read and a write. If another writer came in between,
    the write is refused and the store reads again; a change that decides to write nothing
    (or raises) on a remembered value is decided again on a fresh read.
    """

    def __init__(
        self,
        bucket: KeyValueBucket,
        model: type[A],
        *,
        prefix: str,
        relay: OutboxRelay | None = None,
        cas_attempts: int = 50,
        locks: KeyLocks | None = None,
        remembered: int = 4096,
    ) -> None:
        self._bucket = bucket
        self._model = model
        self._prefix = prefix
        self._relay = relay
        self._cas_attempts = cas_attempts
        self._locks = locks or KeyLocks()
        self._known: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._remembered = remembered
        if relay is not None:
            relay.register(self)

    @property
    def prefix(self) -> str:
        return self._prefix

    def key(self, ident: str) -> str:
        return f"{self._prefix}.{ident}"

    def _remember(self, key: str, revision: int, payload: bytes) -> None:
        self._known[key] = (revision, payload)
        self._known.move_to_end(key)
        if len(self._known) > self._remembered:
            self._known.popitem(last=False)

    async def ids(self) -> list[str]:
        """Every aggregate id in this store, sorted."""
        # ">" and not "*": an id may hold dots itself (notifications keys "<order>.<kind>").
        keys = await self._bucket.keys_matching(f"{self._prefix}.>")
        return sorted(k.removeprefix(f"{self._prefix}.") for k in keys)

    async def pending_ids(self) -> list[str]:
        """The ids of the aggregates whose stored outbox holds events, sorted: one streamed
        pass over the bucket, each entry's outbox parsed and nothing else."""
        prefix = f"{self._prefix}."
        found = []
        async for key, payload in self._bucket.entries_matching(f"{prefix}>"):
            try:
                outbox = OutboxOnly.model_validate_json(payload).outbox
            except ValidationError as exc:  # one unreadable entry must not stop the sweep
                logger.warning("unreadable entry skipped", extra={"key": key, "error": str(exc)})
                continue
            if outbox:
                found.append(key.removeprefix(prefix))
        return sorted(found)

    async def get(self, ident: str) -> Versioned[A] | None:
        """The aggregate as stored now (always read from the bucket)."""
        key = self.key(ident)
        entry = await self._bucket.get(key)
        if entry is None:
            self._known.pop(key, None)
            return None
        self._remember(key, entry.revision, entry.value)
        return Versioned(self._model.model_validate_json(entry.value), entry.revision)

    async def recent(self, ident: str) -> A | None:
        """The aggregate as this process last read or wrote it, read only when it has not:
        for what never changes once written (a product's price, that it exists). Not for
        a decision a concurrent writer could change; that is what `mutate` is for."""
        known = self._known.get(self.key(ident))
        if known is not None:
            return self._model.model_validate_json(known[1])
        found = await self.get(ident)
        return None if found is None else found.value

    def revision(self, ident: str) -> int | None:
        """The revision of `ident` this process last read or wrote, if it remembers one."""
        known = self._known.get(self.key(ident))
        return known[0] if known is not None else None

    async def delete(self, ident: str, *, revision: int | None = None) -> bool:
        """Remove an aggregate (no-op when absent). With `revision`, only while it is still
        at that revision: False, and nothing removed, when another writer changed it."""
        key = self.key(ident)
        async with self._locks(key):
            self._known.pop(key, None)
            try:
                await self._bucket.delete(key, last=revision)
            except RevisionMismatch:
                return False
            return True

    async def put_new(self, ident: str, value: A) -> bool:
        """Create the aggregate unless it exists; False when it already did."""
        async with self._locks(self.key(ident)):
            return await self._create(ident, value)

    async def _create(self, ident: str, value: A) -> bool:
        """Create the aggregate (the key's lock held); False when it already exists."""
        value.outbox = stamp_trace(value.outbox)
        value.notices = stamp_trace(value.notices)
        payload = value.model_dump_json().encode()
        try:  # no read first: the bucket refuses a create over a live entry
            revision = await self._write(ident, payload, None)
        except RevisionMismatch:
            return False
        self._written(ident, revision, payload, list(value.outbox))
        return True

    async def mutate(self, ident: str, change: Mutation[A], *, new_first: bool = False) -> A | None:
        """Read, apply `change`, write back with compare-and-set; retry on conflict.

        `change` gets the current aggregate (None when absent) and returns the new one, or
        None to write nothing. It may raise to abort; nothing is written then. Returns what
        was written, or None. With `new_first` (keys that are usually new, such as an
        idempotency key), the create is tried before any read: one request instead of two
        when the key is new, one more when it is not.
        """
        key = self.key(ident)
        async with self._locks(key):
            if new_first and key not in self._known:
                created = await self._create_first(ident, change)
                if created is not None:
                    return created
            for attempt in range(self._cas_attempts):
                known = self._known.get(key)
                if known is not None:  # optimistic: what this process last saw
                    current: Versioned[A] | None = Versioned(
                        self._model.model_validate_json(known[1]), known[0]
                    )
                else:
                    current = await self.get(ident)
                pending_before = {e.id for e in current.value.outbox} if current else set()
                # `current` was parsed for this call alone: `change` may modify it in place.
                try:
                    updated = change(current.value if current else None)
                except Exception:
                    if known is None:
                        raise
                    updated = None
                if updated is None:
                    if known is not None:  # a decision not to write is taken on a fresh read
                        self._known.pop(key, None)
                        continue
                    return None
                self._drop_published(ident, updated)
                updated.outbox = stamp_trace(updated.outbox)
                updated.notices = stamp_trace(updated.notices)
                payload = updated.model_dump_json().encode()
                try:
                    revision = await self._write(
                        ident, payload, None if current is None else current.revision
                    )
                except RevisionMismatch:
                    self._known.pop(key, None)
                    if known is None:  # a real race with another writer: back off a little
                        await asyncio.sleep(min(0.002 * (attempt + 1), 0.05))
                    continue
                kept = {e.id for e in updated.outbox}
                fresh = [e for e in updated.outbox if e.id not in pending_before]
                # What left the stored outbox with this write: the relay's published events
                # it dropped, and any the change itself took out (a deferred timer that its
                # aggregate no longer needs: withdrawn, never published).
                gone = pending_before - kept
                if gone and self._relay is not None:
                    self._relay.cleared(self, ident, gone)
                self._written(ident, revision, payload, fresh)
                return updated
        raise ConcurrencyConflict(f"{key}: {self._cas_attempts} compare-and-set attempts lost")

    async def settle(self, ident: str, change: Mutation[A]) -> A | None:
        """`mutate` for the change a delivered event causes, then publish the events that
        change announced (`Aggregate.announce`) before returning, so before the delivery
        is acknowledged: no outbox entry, so no write to clear it.

        A crash (or a failed publish) between the write and the publish leaves the
        delivery unacknowledged; its redelivery finds the change made and writes nothing,
        and the handler then calls `announce_again`, which publishes the same events
        (same ids: JetStream's duplicate window and idempotent consumers absorb repeats).
        """
        announced_before: set[str] = set()

        def change_noting_notices(current: A | None) -> A | None:
            nonlocal announced_before
            announced_before = {e.id for e in current.notices} if current else set()
            return change(current)

        updated = await self.mutate(ident, change_noting_notices)
        if updated is not None:
            await self._announce([e for e in updated.notices if e.id not in announced_before])
        return updated

    async def announce_again(
        self,
        ident: str,
        *,
        if_: Callable[[A], bool] | None = None,
        only: tuple[type[Event], ...] | None = None,
    ) -> int:
        """Publish again every event the aggregate announced (a redelivery of the event
        that caused them, which may have been cut off before they went out), only when
        `if_` holds of it if given, and only those of the types `only` names if given (an
        aggregate may keep events of several causes); how many."""
        found = await self.get(ident)
        if found is None or not found.value.notices:
            return 0
        if if_ is not None and not if_(found.value):
            return 0
        events = [e for e in found.value.notices if only is None or isinstance(e, only)]
        await self._announce(events)
        return len(events)

    async def publish_notices(self, events: list[Event]) -> None:
        """Publish events an aggregate announced, now: for a handler whose delivered
        event's change was written before work elsewhere that must come first (inventory's
        commit: the reservation claimed, then the stock deducted, then `StockCommitted`),
        and for a request whose caller retries what it was not answered (payments' charge).
        The same contract as `settle`: the delivery is acked, or the request answered, only
        after this returns."""
        await self._announce(events)

    async def _announce(self, events: list[Event]) -> None:
        if not events:
            return
        if self._relay is None:
            raise RuntimeError(f"{self._prefix}: announced events need a relay to publish")
        await self._relay.announce(list[EventEnvelope](events))

    async def _create_first(self, ident: str, change: Mutation[A]) -> A | None:
        """`change(None)` written as a create; None when it wrote nothing (the key exists,
        or the change declines or refuses an absent aggregate)."""
        try:
            created = change(None)
        except Exception:
            return None  # decided again on what is stored
        if created is None or not await self._create(ident, created):
            return None
        return created

    def _drop_published(self, ident: str, updated: A) -> None:
        """Drop from the outbox what the relay has already published: the clear rides on
        this write."""
        if self._relay is None or not updated.outbox:
            return
        published = self._relay.published(self, ident)
        if published:
            updated.outbox = [e for e in updated.outbox if e.id not in published]

    async def _write(self, ident: str, payload: bytes, last: int | None) -> int:
        """Create (`last` None) or compare-and-set one entry; its new revision.

        A write that fails without a refusal (a timeout, a lost connection) may still have
        been stored, outbox and all, and whoever retries will find it there and write
        nothing again (a repeated HTTP call, a redelivered event already processed). So
        the relay is told to look at this aggregate's outbox again on its next retry.
        """
        key = self.key(ident)
        try:
            if last is None:
                return await self._bucket.create(key, payload)
            return await self._bucket.update(key, payload, last=last)
        except RevisionMismatch:
            raise
        except Exception:
            self._known.pop(key, None)
            if self._relay is not None:
                self._relay.recheck(self, ident)
            raise

    def _written(self, ident: str, revision: int, payload: bytes, fresh: list[Event]) -> None:
        """After a successful write: remember it, and have the relay publish its new events."""
        self._remember(self.key(ident), revision, payload)
        if fresh and self._relay is not None:
            self._relay.schedule(self, ident, list[EventEnvelope](fresh))

    async def pending_events(self, ident: str) -> list[EventEnvelope]:
        """The events this aggregate's outbox still holds."""
        found = await self.get(ident)
        return list[EventEnvelope](found.value.outbox) if found else []

    async def clear_published(self, ident: str, published: set[str]) -> None:
        """Drop published events from the aggregate's outbox."""

        def change(current: A | None) -> A | None:
            if current is None:
                return None
            remaining = [e for e in current.outbox if e.id not in published]
            if len(remaining) == len(current.outbox):
                return None
            current.outbox = remaining
            return current

        await self.mutate(ident, change)
