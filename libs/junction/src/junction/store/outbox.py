"""The outbox relay: publishes the events stored with aggregates, then has them cleared.

An aggregate and the events its change causes are written in one key-value update; the
relay publishes them afterwards with `Nats-Msg-Id` = event id and asks the store to drop
them once JetStream has acknowledged them. A write schedules an immediate flush of its
aggregate; a flush that fails is retried periodically, and so is the outbox of an
aggregate whose write failed without an answer (it may have been stored); a sweep at
start-up republishes whatever a crash left pending (JetStream's duplicate window and
idempotent consumers absorb any repeats).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from junction.contracts.events import EventEnvelope

logger = logging.getLogger(__name__)


class EventPublisher(Protocol):
    async def publish(self, event: EventEnvelope) -> None: ...


class OutboxSource(Protocol):
    """Aggregates whose outboxes a relay publishes (an `AggregateStore`)."""

    @property
    def prefix(self) -> str: ...

    async def ids(self) -> list[str]: ...

    async def pending_events(self, ident: str) -> list[EventEnvelope]: ...

    async def clear_published(self, ident: str, published: set[str]) -> None: ...


class OutboxRelay:
    """Publishes pending outbox events of the sources registered with it."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher
        self._sources: list[OutboxSource] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._retry: set[tuple[OutboxSource, str]] = set()

    def register(self, source: OutboxSource) -> None:
        """Include `source` in sweeps (its store does this when built with the relay)."""
        self._sources.append(source)

    def schedule(self, source: OutboxSource, ident: str, events: list[EventEnvelope]) -> None:
        """Publish `events` of one aggregate now, in the background, then clear them."""
        task = asyncio.create_task(self._flush_logged(source, ident, events))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def recheck(self, source: OutboxSource, ident: str) -> None:
        """Flush whatever this aggregate has pending on the next retry: a write to it
        failed without an answer and may have stored events that nobody else will send."""
        self._retry.add((source, ident))

    async def _flush_logged(
        self, source: OutboxSource, ident: str, events: list[EventEnvelope]
    ) -> None:
        try:
            await self.flush(source, ident, events)
        except Exception as exc:
            self._retry.add((source, ident))
            logger.warning(
                "outbox flush failed; will retry",
                extra={"key": f"{source.prefix}.{ident}", "error": repr(exc)},
            )

    async def flush(
        self, source: OutboxSource, ident: str, events: list[EventEnvelope] | None = None
    ) -> int:
        """Publish `events` (or whatever the aggregate has pending) and clear them; the
        count sent."""
        if events is None:
            events = await source.pending_events(ident)
        if not events:
            return 0
        for event in events:
            await self._publisher.publish(event)
        await source.clear_published(ident, {e.id for e in events})
        return len(events)

    async def sweep(self) -> int:
        """Publish every pending event of every registered source; the count sent."""
        sent = 0
        for source in self._sources:
            for ident in await source.ids():
                sent += await self.flush(source, ident)
        if sent:
            logger.info("outbox sweep republished events", extra={"count": sent})
        return sent

    async def retry_failed(self) -> int:
        """Flush again the aggregates whose inline flush failed; the count sent."""
        sent = 0
        for source, ident in list(self._retry):
            self._retry.discard((source, ident))
            try:
                sent += await self.flush(source, ident)
            except Exception:
                self._retry.add((source, ident))
                raise
        return sent

    def start_sweeper(self, interval: float) -> None:
        """Sweep once, then retry failed flushes every `interval` seconds."""

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
