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

An event can also wait before it goes out (`defer`): a fallback, such as a reservation's
expiry timer, that matters only if nothing settles its aggregate first. It stays in the
stored outbox meanwhile, so a crash leaves it for the start-up sweep like any other. A
write of this process that takes it out of the outbox (the change itself dropped it)
withdraws it; otherwise, when its wait ends, the relay reads the aggregate and publishes
what its outbox still holds (another process's write may have dropped it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from junction.contracts.events import EventEnvelope

logger = logging.getLogger(__name__)


# How long an event waits before it is published (None or 0: at once).
DelayOf = Callable[[EventEnvelope], float | None]


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
        # Waiting to be published (`defer`), not withdrawn: (source, id) -> event ids.
        self._deferred: dict[tuple[OutboxSource, str], set[str]] = {}
        self._waits: set[asyncio.Task[None]] = set()
        self._closing: asyncio.Future[None] | None = None  # done by close(): waits end
        self._delay_of: DelayOf = lambda event: None

    def defer(self, delay_of: DelayOf) -> None:
        """Have events wait `delay_of(event)` seconds before they are published, unless a
        write of this process drops them from their aggregate's outbox meanwhile."""
        self._delay_of = delay_of

    def register(self, source: OutboxSource) -> None:
        """Include `source` in sweeps (its store does this when built with the relay)."""
        self._sources.append(source)

    def schedule(self, source: OutboxSource, ident: str, events: list[EventEnvelope]) -> None:
        """Publish `events` of one aggregate now, in the background, then clear them;
        those `defer` holds back, after their wait."""
        now: list[EventEnvelope] = []
        for event in events:
            delay = self._delay_of(event)
            if delay is None or delay <= 0:
                now.append(event)
                continue
            self._deferred.setdefault((source, ident), set()).add(event.id)
            wait = asyncio.create_task(self._publish_later(source, ident, event.id, delay))
            self._waits.add(wait)
            wait.add_done_callback(self._waits.discard)
        if now:
            task = asyncio.create_task(self._flush_logged(source, ident, now))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _publish_later(
        self, source: OutboxSource, ident: str, event_id: str, delay: float
    ) -> None:
        """After `delay`, unless withdrawn meanwhile: publish what the aggregate's stored
        outbox holds (read: another process may have dropped the event), then clear it."""
        await self._wait(delay)
        waiting = self._deferred.get((source, ident))
        if waiting is None or event_id not in waiting:
            return  # withdrawn: a write of this process dropped it
        waiting.discard(event_id)
        if not waiting:
            del self._deferred[(source, ident)]
        try:
            await self.flush(source, ident)
        except Exception as exc:
            self._retry.add((source, ident))
            logger.warning(
                "deferred outbox flush failed; will retry",
                extra={"key": f"{source.prefix}.{ident}", "error": repr(exc)},
            )

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
        """These events are no longer in the stored outbox: nothing left to drop for them,
        and those still waiting (`defer`) are withdrawn."""
        for held in (self._published, self._deferred):
            left = held.get((source, ident))
            if left is None:
                continue
            left -= ids
            if not left:
                del held[(source, ident)]

    def deferred(self, source: OutboxSource, ident: str) -> set[str]:
        """Ids of this aggregate's events waiting to be published (`defer`)."""
        return set(self._deferred.get((source, ident), ()))

    async def _clear_later(self, source: OutboxSource, ident: str) -> None:
        """Drop published events with a write of their own if no other write took them."""
        await self._wait(self._clear_delay)
        await self._clear_now(source, ident)

    def _closed(self) -> asyncio.Future[None]:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_future()
        return self._closing

    async def _wait(self, seconds: float) -> None:
        """Sleep `seconds`, or less if the relay is closed meanwhile (or already was)."""
        await asyncio.wait([self._closed()], timeout=seconds)

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
        """Stop the sweeper and wait (bounded) for in-flight flushes; deferred events are
        published and pending clears done now instead of after their wait."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if not self._closed().done():
            self._closed().set_result(None)  # every wait ends; what follows it still runs
        if self._tasks or self._waits:
            await asyncio.wait(self._tasks | self._waits, timeout=timeout)
        if self._clears:
            await asyncio.wait(set(self._clears), timeout=timeout)
