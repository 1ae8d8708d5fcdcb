"""State in JetStream key-value buckets: compare-and-set writes, an outbox, processed-event ids.

An aggregate and the events its change causes are written in one KV update (the outbox);
the relay publishes them afterwards and clears them once JetStream has acknowledged them.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue as NatsKeyValue
from opentelemetry import propagate
from pydantic import BaseModel, Field

from junction.errors import ConcurrencyConflict
from junction.events import Event

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

    from junction.outbox import OutboxRelay

logger = logging.getLogger(__name__)

PROCESSED_IDS_KEPT = 64


class Aggregate(BaseModel):
    """Base of every stored aggregate: pending outbox events and processed event ids."""

    outbox: list[Event] = Field(default_factory=list)
    processed: list[str] = Field(default_factory=list)

    def record(self, event: Event) -> None:
        """Queue an event to be published once this aggregate is saved."""
        self.outbox.append(event)

    def has_processed(self, event_id: str) -> bool:
        return event_id in self.processed

    def mark_processed(self, event_id: str) -> None:
        """Remember an applied event so a redelivery changes nothing twice."""
        self.processed.append(event_id)
        del self.processed[:-PROCESSED_IDS_KEPT]


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


async def keys_matching(kv: KeyValue, pattern: str) -> list[str]:
    """Keys matching a subject pattern, listed by the server in one request.

    Not nats-py's `keys()` (it reads every key and filters client-side) nor a watcher (its
    end-of-values marker can arrive before values already in flight, returning too few).
    """
    if not isinstance(kv, NatsKeyValue):  # an in-memory stand-in in unit tests
        stand_in: Any = kv
        found: list[str] = await stand_in.keys_matching(pattern)
        return found
    # nats-py keeps the bucket's subject prefix ("$KV.<bucket>.") and stream private.
    prefix = kv._pre
    info = await kv._js.stream_info(kv._stream, subjects_filter=f"{prefix}{pattern}")
    return sorted(subject.removeprefix(prefix) for subject in (info.state.subjects or {}))


def stamp_trace(events: list[Event]) -> list[Event]:
    """Attach the current trace context to events that do not carry one yet."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return events
    return [e if e.trace else e.model_copy(update={"trace": carrier}) for e in events]


Mutation = Callable[[A | None], A | None]


class AggregateStore(Generic[A]):
    """Aggregates of one type under `prefix.` in one KV bucket."""

    def __init__(
        self,
        kv: KeyValue,
        model: type[A],
        *,
        prefix: str,
        relay: OutboxRelay | None = None,
        cas_attempts: int = 50,
        locks: KeyLocks | None = None,
    ) -> None:
        self._kv = kv
        self._model = model
        self._prefix = prefix
        self._relay = relay
        self._cas_attempts = cas_attempts
        self._locks = locks or KeyLocks()

    def key(self, ident: str) -> str:
        return f"{self._prefix}.{ident}"

    async def ids(self) -> list[str]:
        """Every aggregate id in this store, sorted."""
        return sorted(
            k.removeprefix(f"{self._prefix}.")
            for k in await keys_matching(self._kv, f"{self._prefix}.*")
        )

    async def get(self, ident: str) -> Versioned[A] | None:
        try:
            entry = await self._kv.get(self.key(ident))
        except KeyNotFoundError:
            return None
        if entry.value is None or entry.revision is None:
            return None
        return Versioned(self._model.model_validate_json(entry.value), entry.revision)

    async def delete(self, ident: str) -> None:
        """Remove an aggregate (no-op when absent)."""
        async with self._locks(self.key(ident)):
            await self._kv.delete(self.key(ident))

    async def put_new(self, ident: str, value: A) -> bool:
        """Create the aggregate unless it exists; False when it already did."""
        return (await self.mutate(ident, lambda cur: value if cur is None else None)) is value

    async def mutate(self, ident: str, change: Mutation[A]) -> A | None:
        """Read, apply `change`, write back with compare-and-set; retry on conflict.

        `change` gets the current aggregate (None when absent) and returns the new one, or
        None to write nothing. It may raise to abort; nothing is written then. Returns what
        was written, or None.
        """
        key = self.key(ident)
        async with self._locks(key):
            for attempt in range(self._cas_attempts):
                current = await self.get(ident)
                pending_before = {e.id for e in current.value.outbox} if current else set()
                updated = change(current.value.model_copy(deep=True) if current else None)
                if updated is None:
                    return None
                updated.outbox = stamp_trace(updated.outbox)
                payload = updated.model_dump_json().encode()
                try:
                    if current is None:
                        await self._kv.create(key, payload)
                    else:
                        await self._kv.update(key, payload, last=current.revision)
                except KeyWrongLastSequenceError:
                    # Another replica wrote first: back off a little and re-read.
                    await asyncio.sleep(min(0.002 * (attempt + 1), 0.05))
                    continue
                fresh = [e for e in updated.outbox if e.id not in pending_before]
                if fresh and self._relay is not None:
                    self._relay.schedule(key, fresh)
                return updated
        raise ConcurrencyConflict(f"{key}: {self._cas_attempts} compare-and-set attempts lost")
