"""The outbox relay: publishes events stored with an aggregate, then clears them."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from junction.events import Event
from junction.store import keys_matching

if TYPE_CHECKING:
    from nats.js.kv import KeyValue

logger = logging.getLogger(__name__)


Clear = Callable[[set[str]], Awaitable[None]]


class EventPublisher(Protocol):
    async def publish(self, event: Event) -> None: ...


class OutboxRelay:
    """Publishes pending outbox events of one KV bucket, with `Nats-Msg-Id` = event id.

    A write schedules an immediate flush of its key. A flush that fails is retried
    periodically; a full sweep at start-up republishes whatever a crash left pending
    (JetStream's duplicate window and idempotent consumers absorb any repeats).
    """

    def __init__(self, kv: KeyValue, publisher: EventPublisher, *, cas_attempts: int = 50) -> None:
        self._kv = kv
        self._publisher = publisher
        self._cas_attempts = cas_attempts
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._retry: set[str] = set()

    def schedule(self, key: str, events: list[Event], clear: Clear | None = None) -> None:
        """Publish `events` of `key` now, in the background; `clear` (from the store that
        wrote them) removes them from the aggregate afterwards."""
        task = asyncio.create_task(self._flush_logged(key, events, clear))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_logged(self, key: str, events: list[Event], clear: Clear | None) -> None:
        try:
            await self.flush(key, events, clear)
        except Exception as exc:
            self._retry.add(key)
            logger.warning(
                "outbox flush failed; will retry", extra={"key": key, "error": repr(exc)}
            )

    async def flush(
        self, key: str, events: list[Event] | None = None, clear: Clear | None = None
    ) -> int:
        """Publish `events` (or whatever `key` has pending) and clear them; the count sent."""
        if events is None:
            events = await self._pending(key)
        if not events:
            return 0
        for event in events:
            await self._publisher.publish(event)
        published = {e.id for e in events}
        if clear is not None:
            await clear(published)
        else:
            await self._clear(key, published)
        return len(events)

    async def _pending(self, key: str) -> list[Event]:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return []
        if not entry.value:
            return []
        doc = json.loads(entry.value)
        return [Event.model_validate(e) for e in doc.get("outbox") or []]

    async def _clear(self, key: str, published: set[str]) -> None:
        for _ in range(self._cas_attempts):
            try:
                entry = await self._kv.get(key)
            except KeyNotFoundError:
                return
            if not entry.value or entry.revision is None:
                return
            doc = json.loads(entry.value)
            outbox = doc.get("outbox") or []
            remaining = [e for e in outbox if e.get("id") not in published]
            if len(remaining) == len(outbox):
                return
            doc["outbox"] = remaining
            try:
                await self._kv.update(key, json.dumps(doc).encode(), last=entry.revision)
                return
            except KeyWrongLastSequenceError:
                await asyncio.sleep(0.002)
        logger.warning("outbox clear lost every compare-and-set", extra={"key": key})

    async def sweep(self) -> int:
        """Publish every pending event in the bucket; the count sent."""
        keys = await keys_matching(self._kv, ">")
        sent = 0
        for key in keys:
            sent += await self.flush(key)
        if sent:
            logger.info("outbox sweep republished events", extra={"count": sent})
        return sent

    async def retry_failed(self) -> int:
        """Flush again the keys whose inline flush failed; the count sent."""
        sent = 0
        for key in list(self._retry):
            self._retry.discard(key)
            try:
                sent += await self.flush(key)
            except Exception:
                self._retry.add(key)
                raise
        return sent

    def start_sweeper(self, interval: float) -> None:
        """Sweep the whole bucket once, then retry failed flushes every `interval` seconds."""

        async def loop() -> None:
            swept = False
            while True:
                try:
                    if not swept:
                        await self.sweep()
                        swept = True
                    await self.retry_failed()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.warning("outbox relay retry failed", extra={"error": repr(exc)})
                await asyncio.sleep(interval)

        self._sweeper = asyncio.create_task(loop())

    async def close(self, timeout: float) -> None:
        """Stop the sweeper and wait (bounded) for in-flight flushes."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
