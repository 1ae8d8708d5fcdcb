"""Consuming events: one durable pull consumer per (service, event type), and the explicit
ack policy every consumer applies.

Junction's own pull loop on nats-py's public API, not a FastStream subscriber: per message,
FastStream's subscriber machinery cost more than the work itself, and nats-py's `fetch`
holds a batch until it fills or times out (docs/decisions/0001-pull-consumer.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic

from nats.js import api
from opentelemetry import context as otel_context
from opentelemetry import trace

from junction.contracts.catalogue import STREAM_OF_SOURCE, durable_name, subject_for
from junction.contracts.events import E, EventEnvelope, event_source, event_type, parse_event
from junction.errors import Defer, PoisonMessage
from junction.messaging.dead_letters import DeadLetterSink, Delivery, delivery_count
from junction.telemetry import Unrecorded, extract, traced, unrecorded_parent, unsampled

if TYPE_CHECKING:
    from junction.config import ServiceSettings

logger = logging.getLogger(__name__)

# The consumer and message whose handler is running (for `first_delivery`).
_handling: ContextVar[tuple[EventConsumer[Any], Delivery] | None] = ContextVar(
    "junction_handling", default=None
)


def first_delivery(event: EventEnvelope) -> bool:
    """True only when the message being handled is certainly the first time this durable
    consumer is given `event`: a handler may then skip a read that looks for its own
    earlier work. False whenever that is not certain, and outside a consumer's handler.

    Certain when all of these hold for the message in hand:
    - JetStream delivers it for the first time (`num_delivered` 1);
    - it is the event's own copy: its `Nats-Msg-Id` is the event id (a dead letter replayed
      by `junctionctl` carries another);
    - it was stored after the durable consumer was created, as this process last declared
      it (a consumer deleted and created again would deliver earlier messages once more);
    - it was stored within half the stream's duplicate window of the event's `occurred_at`.
      A second stored copy of the event (the outbox's sweep publishing it again) is stored
      only after the window has passed since the first copy, so at least a window after
      `occurred_at`: half a window is the margin for the producer's clock, whose
      `occurred_at` is compared with the server's time of storing.
    """
    handling = _handling.get()
    return handling is not None and handling[0].first_copy(handling[1], event)


@dataclass(frozen=True)
class AckPolicy:
    """Success: ack. `Defer`: nak with its delay (not a failure). Poison: dead-letter and
    terminate. Any other error: nak with jittered exponential backoff, until `max_deliver`
    deliveries, then dead-letter and terminate."""

    max_deliver: int
    backoff_seconds: float

    def retry_delay(self, deliveries: int) -> float:
        delay = min(self.backoff_seconds * 2.0 ** (deliveries - 1), 30.0)
        return delay * random.uniform(0.5, 1.0)


class EventConsumer(Generic[E]):
    """One durable pull consumer running one handler for one event type."""

    def __init__(
        self,
        *,
        event: type[E],
        durable: str,
        stream: str,
        config: api.ConsumerConfig,
        handler: Callable[[E], Awaitable[None]],
        dead_letters: DeadLetterSink,
        policy: AckPolicy,
        workers: int = 16,
        idle_wait_seconds: float = 1.0,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.event = event
        self.event_type = event_type(event)
        self.durable = durable
        self.stream = stream
        self.config = config
        self._handler = handler
        self._dead_letters = dead_letters
        self._policy = policy
        self._workers = workers
        self._idle_wait = idle_wait_seconds
        self._tracer = tracer
        self._loop: asyncio.Task[None] | None = None
        self._sub: Any = None
        self._js: Any = None
        self._nc: Any = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._slot_free = asyncio.Event()
        self._request_done = asyncio.Event()
        self._requested = 0
        self._delivered = 0
        self._redeclare = False
        # From the server at `declare`, for `first_copy`: when the durable consumer was
        # created, and half the stream's duplicate window (zero: nothing is certain).
        self._created: datetime | None = None
        self._first_copy_within = 0.0

    async def declare(self, js: Any) -> None:
        """Create the durable consumer, or bring an existing one to this configuration."""
        info = await js.add_consumer(self.stream, config=self.config)
        stream = await js.stream_info(self.stream)
        self._created = info.created
        self._first_copy_within = (stream.config.duplicate_window or 0.0) / 2

    def first_copy(self, raw: Delivery, event: EventEnvelope) -> bool:
        """Whether `raw` is the first delivery to this consumer of `event`'s first stored
        copy (see `first_delivery`, through which handlers ask)."""
        try:
            metadata = raw.metadata
        except Exception:  # a plain NATS message
            return False
        stored: datetime = metadata.timestamp
        return (
            metadata.num_delivered == 1
            and (raw.headers or {}).get("Nats-Msg-Id") == event.id
            and self._created is not None
            and stored > self._created
            and (stored - event.occurred_at).total_seconds() < self._first_copy_within
        )

    async def start(self, js: Any, nc: Any) -> None:
        """Start pulling from the declared durable consumer (js: nats-py's JetStream
        context, nc: its client)."""
        self._js = js
        self._nc = nc
        inbox = nc.new_inbox()
        self._sub = await nc.subscribe(inbox, cb=self._arrived)
        self._loop = asyncio.create_task(self._pull(inbox), name=f"consumer {self.durable}")

    async def stop(self, timeout: float) -> None:
        """Stop pulling, then let the messages in hand finish (up to `timeout` seconds).
        Whatever is left unacknowledged is redelivered after the ack wait."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        if self._inflight:
            _, late = await asyncio.wait(self._inflight, timeout=timeout)
            for task in late:
                task.cancel()

    async def _pull(self, inbox: str) -> None:
        """Keep one pull request open at a time, of up to `workers` messages.

        Messages are handled as each arrives (not when a batch has filled); the next request
        goes out when the last one is complete (all delivered, or expired after the idle
        wait) and half the workers are free. Busy: one request per several messages. Idle:
        one per idle wait.
        """
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.durable}"
        expires_ns = int(self._idle_wait * 1e9)
        failures = 0
        while True:
            while len(self._inflight) > self._workers // 2:
                self._slot_free.clear()
                await self._slot_free.wait()
            if self._redeclare:
                self._redeclare = False
                try:
                    await self.declare(self._js)
                except Exception as exc:
                    logger.warning(
                        "consumer re-declaration failed",
                        extra={"consumer": self.durable, "error": repr(exc)},
                    )
            room = self._workers - len(self._inflight)
            self._requested, self._delivered = room, 0
            self._request_done.clear()
            try:
                await self._nc.publish(
                    subject, json.dumps({"batch": room, "expires": expires_ns}).encode(), inbox
                )
                failures = 0
            except Exception as exc:  # disconnected: nats-py is reconnecting
                failures += 1
                logger.warning(
                    "pull request failed; retrying",
                    extra={"consumer": self.durable, "error": repr(exc)},
                )
                await asyncio.sleep(min(0.1 * 2**failures, 2.0))
                continue
            # The server ends the request by delivering `room` messages or, at expiry, with a
            # 408 status. A request lost with a connection is given up after a margin.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._request_done.wait(), self._idle_wait + 2.0)

    async def _arrived(self, raw: Delivery) -> None:
        """Subscription callback: a message (handled in its own task) or a status."""
        headers = raw.headers or {}
        status = headers.get("Status")
        if status is not None:
            if status == "409" and "deleted" in headers.get("Description", "").lower():
                self._redeclare = True  # e.g. removed by an operator: put it back
            if status != "100":  # 100: heartbeat; 404, 408, 409: the request is over
                self._request_done.set()
            return
        self._delivered += 1
        if self._delivered >= self._requested:
            self._request_done.set()
        task = asyncio.create_task(self.handle(raw))
        self._inflight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._slot_free.set()
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error(
                "message handling crashed", extra={"consumer": self.durable, "error": repr(exc)}
            )

    async def handle(self, raw: Delivery) -> None:
        """Process one delivered message inside a consumer span continuing its producer's
        trace (W3C trace context in the message headers), and settle it."""
        if self._tracer is None:
            parent = None
        else:
            headers = raw.headers or {}
            if (header := unrecorded_parent(headers)) is not None:
                # A trace its head decided not to record: no span, the producer's decision
                # made current so that whatever the handler publishes carries it on.
                with Unrecorded(header):
                    await self._process(raw, None)
                return
            parent = extract(headers)
        if parent is not None and unsampled(parent):
            # A trace its head decided not to record: no span, the producer's context made
            # current so that whatever the handler publishes carries the decision on.
            token = otel_context.attach(parent)
            try:
                await self._process(raw, None)
            finally:
                otel_context.detach(token)
            return
        with traced(
            self._tracer,
            f"{raw.subject} process",
            kind=trace.SpanKind.CONSUMER,
            parent=parent,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.destination.name": raw.subject,
                "messaging.consumer.group.name": self.durable,
                "messaging.message.body.size": len(raw.data),
            },
        ) as span:
            await self._process(raw, span)

    async def _process(self, raw: Delivery, span: trace.Span | None) -> None:
        deliveries = delivery_count(raw)
        try:
            event = parse_event(raw.data, self.event)
            if span is not None:
                span.set_attributes(
                    {
                        "messaging.message.id": event.id,
                        "order.id": event.order_id,
                        "junction.deliveries": deliveries,
                    }
                )
            handling = _handling.set((self, raw))
            try:
                await self._handler(event)
            finally:
                _handling.reset(handling)
        except Defer as exc:
            await raw.nak(delay=max(exc.delay, 0.01))
            return
        except PoisonMessage as exc:
            if span is not None:
                span.set_status(trace.StatusCode.ERROR, str(exc))
            await self._dead_letters.send(raw, consumer=self.durable, reason=str(exc))
            await raw.term()
            return
        except Exception as exc:
            if span is not None:
                span.record_exception(exc)
                span.set_status(trace.StatusCode.ERROR, repr(exc))
            if deliveries >= self._policy.max_deliver:
                reason = f"gave up after {deliveries} deliveries: {exc!r}"
                await self._dead_letters.send(raw, consumer=self.durable, reason=reason)
                await raw.term()
                return
            delay = self._policy.retry_delay(deliveries)
            logger.warning(
                "event handling failed; will be redelivered",
                extra={
                    "event_type": self.event_type,
                    "deliveries": deliveries,
                    "delay_s": round(delay, 3),
                    "error": repr(exc),
                },
            )
            await raw.nak(delay=delay)
            return
        await raw.ack()


def durable_consumer(
    settings: ServiceSettings,
    event: type[E],
    handler: Callable[[E], Awaitable[None]],
    dead_letters: DeadLetterSink,
    *,
    max_ack_pending: int | None = None,
    tracer: trace.Tracer | None = None,
) -> EventConsumer[E]:
    """The durable pull consumer through which this service consumes `event`.

    Explicit acks, `max_deliver` and `ack_wait` from settings. `max_ack_pending` bounds
    unacknowledged messages; a timer consumer, whose messages wait (nak with delay) until
    their deadline, needs it as large as the timers it may hold.
    """
    name, source = event_type(event), event_source(event)
    durable = durable_name(settings.service_name, name)
    return EventConsumer(
        event=event,
        durable=durable,
        stream=STREAM_OF_SOURCE[source].name,
        config=api.ConsumerConfig(
            durable_name=durable,
            filter_subject=subject_for(source, name),
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=settings.consumer_ack_wait_seconds,
            max_deliver=settings.consumer_max_deliver,
            max_ack_pending=max_ack_pending or max(settings.consumer_workers * 4, 64),
        ),
        handler=handler,
        dead_letters=dead_letters,
        policy=AckPolicy(settings.consumer_max_deliver, settings.consumer_backoff_seconds),
        workers=settings.consumer_workers,
        idle_wait_seconds=settings.consumer_idle_wait_seconds,
        tracer=tracer,
    )
