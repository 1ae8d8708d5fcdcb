"""The outbox relay: publishes the events stored with aggregates, then has them cleared.

An aggregate and the events its change causes are written in one key-value update; the
relay publishes them afterwards with `Nats-Msg-Id` = event id and has the store drop them
once JetStream has acknowledged them. The drop rides on the aggregate's next write when
one comes within `clear_delay` seconds (an order is written again milliseconds after its
`OrderCreated` is out), and costs a write of its own only when none does.

A write schedules an immediate flush of its aggregate; a flush that fails is retried
periodically, and so is the outbox of an aggregate whose write failed without an answer
(it may have been stored); a sweep at start-up republishes whatever a crash left pending.
A published event not yet dropped is only a candidate for republishing: JetStream's
duplicate window and idempotent consumers absorb any repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
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

    async def pending_ids(self) -> list[str]: ...

    async def pending_events(self, ident: str) -> list[EventEnvelope]: ...

    async def clear_published(self, ident: str, published: set[str]) -> None: ...


class OutboxRelay:
    """Publishes pending outbox events of the sources registered with it."""

    def __init__(self, publisher: EventPublisher, *, clear_delay: float = 0.0) -> None:
        self._publisher = publisher
        self._clear_delay = clear_delay
        self._sources: list[OutboxSource] = []
        self._tasks: set[asyncio.Task[None]] = set()  # inline flushes
        self._clears: set[asyncio.Task[None]] = set()  # clears waiting for a next write
        self._sweeper: asyncio.Task[None] | None = None
        self._retry: set[tuple[OutboxSource, str]] = set()
        # Published, not yet dropped from the stored outbox: (source, id) -> event ids.
        self._published: dict[tuple[OutboxSource, str], set[str]] = {}

    def register(self, source: OutboxSource) -> None:
        """Include `source` in sweeps (its store does this when built with the relay)."""
        self._sources.append(source)

    def schedule(self, source: OutboxSource, ident: str, events: list[EventEnvelope]) -> None:
        """Publish `events` of one aggregate now, in the background, then clear them."""
        task = asyncio.create_task(self._flush_logged(source, ident, events))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def announce(self, events: list[EventEnvelope]) -> None:
        """Publish events kept with their aggregate instead of its outbox, now, in order
        (`AggregateStore.settle`): the caller waits, so that a failure reaches the handler
        and its delivery is not acknowledged."""
        for event in events:
            await self._publisher.publish(event)

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
        """Publish `events` (or whatever the aggregate has pending) and have them cleared;
        the count sent. Events given are cleared with the aggregate's next write, or after
        `clear_delay`; events found pending (a retry, a sweep) are cleared at once."""
        inline = events is not None
        if events is None:
            events = await source.pending_events(ident)
        if not events:
            return 0
        for event in events:
            await self._publisher.publish(event)
        ids = {e.id for e in events}
        if inline and self._clear_delay > 0:
            self._published.setdefault((source, ident), set()).update(ids)
            task = asyncio.create_task(self._clear_later(source, ident))
            self._clears.add(task)
            task.add_done_callback(self._clears.discard)
        else:
            await source.clear_published(ident, ids)
            self.cleared(source, ident, ids)
        return len(events)

    def published(self, source: OutboxSource, ident: str) -> set[str]:
        """Ids of this aggregate's events already published and not yet dropped: its next
        write drops them from the outbox (and then calls `cleared`)."""
        return set(self._published.get((source, ident), ()))

    def cleared(self, source: OutboxSource, ident: str, ids: set[str]) -> None:
        """These events are no longer in the stored outbox: nothing left to drop for them."""
        left = self._published.get((source, ident))
        if left is None:
            return
        left -= ids
        if not left:
            del self._published[(source, ident)]

    async def _clear_later(self, source: OutboxSource, ident: str) -> None:
        """Drop published events with a write of their own if no other write took them."""
        with contextlib.suppress(asyncio.CancelledError):  # close(): clear now
            await asyncio.sleep(self._clear_delay)
        await self._clear_now(source, ident)

    async def _clear_now(self, source: OutboxSource, ident: str) -> None:
        ids = self.published(source, ident)
        if not ids:
            return
        try:
            await source.clear_published(ident, ids)
        except Exception as exc:
            self._retry.add((source, ident))  # republished then cleared: harmless
            logger.warning(
                "outbox clear failed; will retry",
                extra={"key": f"{source.prefix}.{ident}", "error": repr(exc)},
            )
            return
        self.cleared(source, ident, ids)

    async def sweep(self) -> int:
        """Publish every pending event of every registered source; the count sent."""
        sent = 0
        for source in self._sources:
            for ident in await source.pending_ids():
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
        """Stop the sweeper and wait (bounded) for in-flight flushes; pending clears are
        done now instead of after their delay."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in self._clears:
            task.cancel()  # its wait ends; the clear itself still runs
        if self._clears:
            await asyncio.wait(set(self._clears), timeout=timeout)
