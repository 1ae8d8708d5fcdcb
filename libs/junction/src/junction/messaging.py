"""JetStream messaging: stream declaration, the one publisher path, subscribers with an
explicit ack policy, and the dead-letter stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from faststream.nats import NatsBroker
from nats.js import api
from nats.js.errors import BadRequestError, NotFoundError
from opentelemetry import propagate, trace
from pydantic import ValidationError

from junction.errors import Defer, PoisonMessage
from junction.events import (
    DEAD_LETTERS,
    STREAM_OF_SOURCE,
    SUPPORTED_VERSIONS,
    Event,
    StreamSpec,
    dead_letter_subject,
    subject_for,
)
from junction.telemetry import traced

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription
    from nats.js import JetStreamContext

    from junction.config import ServiceSettings

logger = logging.getLogger(__name__)

EventHandler = Callable[[Event], Awaitable[None]]


DLQ_REASON = "Junction-Dlq-Reason"
DLQ_SUBJECT = "Junction-Dlq-Subject"
DLQ_CONSUMER = "Junction-Dlq-Consumer"
DLQ_DELIVERIES = "Junction-Dlq-Deliveries"


def stream_config(spec: StreamSpec, *, replicas: int, duplicate_window: float) -> api.StreamConfig:
    """The configuration a stream is declared with: file storage, replicas from settings."""
    return api.StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        storage=api.StorageType.FILE,
        retention=api.RetentionPolicy.LIMITS,
        num_replicas=replicas,
        duplicate_window=duplicate_window,
        max_age=7 * 24 * 3600,
    )


async def declare_streams(
    js: JetStreamContext, specs: Iterable[StreamSpec], *, replicas: int, duplicate_window: float
) -> None:
    """Create or update the streams this service owns (idempotent)."""
    for spec in specs:
        config = stream_config(spec, replicas=replicas, duplicate_window=duplicate_window)
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Exists with another configuration: bring it to ours.
            await js.update_stream(config)


async def stream_exists(js: JetStreamContext, name: str) -> bool:
    try:
        await js.stream_info(name)
    except NotFoundError:
        return False
    return True


class JetStreamPublisher:
    """The one publisher path: every event leaves through here, deduplicated by its id.

    With telemetry on, each message is one PRODUCER span, `<subject> publish`, a child of
    the request that caused the event (the outbox kept its trace context), and the message
    carries that span's context in W3C headers for its consumers. FastStream's own telemetry
    middleware made two spans per message and cost more than the publish itself.
    """

    def __init__(self, broker: NatsBroker, tracer: trace.Tracer | None = None) -> None:
        self._broker = broker
        self._tracer = tracer

    async def publish(self, event: Event) -> None:
        headers = {"Nats-Msg-Id": event.id, "content-type": "application/json"}
        with traced(
            self._tracer,
            f"{event.subject} publish",
            kind=trace.SpanKind.PRODUCER,
            parent=propagate.extract(event.trace) if event.trace else None,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "send",
                "messaging.operation.name": "publish",
                "messaging.destination.name": event.subject,
                "messaging.message.id": event.id,
                "order.id": event.order_id,
            },
        ):
            if self._tracer is not None:
                propagate.inject(headers)
            await self._send(event, headers)

    async def _send(self, event: Event, headers: dict[str, str]) -> None:
        await self._broker.publish(
            event.model_dump_json().encode(),
            event.subject,
            headers=headers,
            correlation_id=event.order_id,
            stream=STREAM_OF_SOURCE[event.source].name,
        )


class DeadLetters:
    """Moves messages that cannot be processed into the DLQ stream, with the reason."""

    def __init__(self, broker: NatsBroker) -> None:
        self._broker = broker

    async def send(self, raw: Msg, *, consumer: str, reason: str) -> None:
        try:
            origin = f"{raw.metadata.stream}.{raw.metadata.sequence.stream}"
        except Exception:
            origin = uuid.uuid4().hex
        headers = {k: v for k, v in (raw.headers or {}).items() if not k.startswith("Nats-")}
        headers.update(
            {
                DLQ_REASON: reason[:500],
                DLQ_SUBJECT: raw.subject,
                DLQ_CONSUMER: consumer,
                DLQ_DELIVERIES: str(delivery_count(raw)),
                "Nats-Msg-Id": f"dlq.{origin}.{consumer}",
            }
        )
        await self._broker.publish(
            raw.data, dead_letter_subject(raw.subject), headers=headers, stream=DEAD_LETTERS.name
        )
        logger.warning(
            "message dead-lettered",
            extra={"subject": raw.subject, "consumer": consumer, "reason": reason},
        )


def delivery_count(raw: Msg) -> int:
    """How many times JetStream has delivered this message (1 outside JetStream)."""
    try:
        return int(raw.metadata.num_delivered)
    except Exception:  # a plain NATS message (or FastStream's in-memory test broker)
        return 1


def parse_event(data: bytes, expected_type: str) -> Event:
    """Parse and check an event envelope; PoisonMessage when it can never be processed."""
    try:
        event = Event.model_validate_json(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors())
        raise PoisonMessage(f"malformed event: invalid {fields}") from exc
    if event.version not in SUPPORTED_VERSIONS:
        raise PoisonMessage(f"unsupported event version {event.version} of {event.type}")
    if event.type != expected_type:
        raise PoisonMessage(f"expected a {expected_type} event, got {event.type}")
    return event


class EventConsumer:
    """One durable pull consumer running one handler for one event type.

    Its own pull loop, not a FastStream subscriber: per message, FastStream's subscriber
    machinery (a task group, middleware scopes, logging context) cost more than the work
    itself (bench/: 0.20 of raw nats-py pull+ack). Nor nats-py's `fetch`, which holds the
    messages of a batch until the batch fills or times out. Here a message is handled as it
    arrives: a parse, the handler, an ack.

    The ack policy DESIGN.md asks for: success -> ack; transient error -> nak with backoff;
    poison or too many deliveries -> dead-letter and terminate.
    """

    def __init__(
        self,
        *,
        event_type: str,
        durable: str,
        handler: EventHandler,
        dead_letters: DeadLetters,
        max_deliver: int,
        backoff_seconds: float,
        workers: int = 16,
        idle_wait_seconds: float = 1.0,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.event_type = event_type
        self.durable = durable
        self._handler = handler
        self._dead_letters = dead_letters
        self._max_deliver = max_deliver
        self._backoff = backoff_seconds
        self._workers = workers
        self._idle_wait = idle_wait_seconds
        self.stream = ""
        self.config: api.ConsumerConfig | None = None
        self._tracer = tracer
        self._loop: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None
        self._js: JetStreamContext | None = None
        self._nc: NatsClient | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._slot_free = asyncio.Event()
        self._request_done = asyncio.Event()
        self._requested = 0
        self._delivered = 0
        self._redeclare = False

    async def declare(self, js: JetStreamContext) -> None:
        """Create the durable consumer, or bring an existing one to this configuration."""
        assert self.config is not None
        await js.add_consumer(self.stream, config=self.config)

    # -- running -------------------------------------------------------------------------

    async def start(self, js: JetStreamContext, nc: NatsClient) -> None:
        """Start pulling from the declared durable consumer."""
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
        assert self._nc is not None and self._js is not None
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

    async def _arrived(self, raw: Msg) -> None:
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

    async def handle(self, raw: Msg) -> None:
        """Process one delivered message inside a consumer span continuing its producer's
        trace (W3C trace context in the message headers)."""
        with traced(
            self._tracer,
            f"{raw.subject} process",
            kind=trace.SpanKind.CONSUMER,
            parent=propagate.extract(raw.headers or {}) if self._tracer else None,
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

    async def _process(self, raw: Msg, span: trace.Span | None) -> None:
        deliveries = delivery_count(raw)
        try:
            event = parse_event(raw.data, self.event_type)
            if span is not None:
                span.set_attributes(
                    {
                        "messaging.message.id": event.id,
                        "order.id": event.order_id,
                        "junction.deliveries": deliveries,
                    }
                )
            await self._handler(event)
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
            if deliveries >= self._max_deliver:
                reason = f"gave up after {deliveries} deliveries: {exc!r}"
                await self._dead_letters.send(raw, consumer=self.durable, reason=reason)
                await raw.term()
                return
            delay = min(self._backoff * 2 ** (deliveries - 1), 30.0) * random.uniform(0.5, 1.0)
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


def subscribe(
    settings: ServiceSettings,
    *,
    source: str,
    event_type: str,
    handler: EventHandler,
    dead_letters: DeadLetters,
    max_ack_pending: int | None = None,
    tracer: trace.Tracer | None = None,
) -> EventConsumer:
    """A durable pull consumer for `event_type` events published by `source`.

    `max_ack_pending` bounds unacknowledged messages; a timer consumer, whose messages wait
    (nak with delay) until their deadline, needs it as large as the timers it may hold.
    """
    stream = STREAM_OF_SOURCE[source]
    durable = f"{settings.service_name}-{event_type}"
    consumer = EventConsumer(
        event_type=event_type,
        durable=durable,
        handler=handler,
        dead_letters=dead_letters,
        max_deliver=settings.consumer_max_deliver,
        backoff_seconds=settings.consumer_backoff_seconds,
        workers=settings.consumer_workers,
        idle_wait_seconds=settings.consumer_idle_wait_seconds,
        tracer=tracer,
    )
    consumer.stream = stream.name
    consumer.config = api.ConsumerConfig(
        durable_name=durable,
        filter_subject=subject_for(source, event_type),
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=settings.consumer_ack_wait_seconds,
        max_deliver=settings.consumer_max_deliver,
        max_ack_pending=max_ack_pending or max(settings.consumer_workers * 4, 64),
    )
    return consumer


def dead_letter_headers(headers: dict[str, Any] | None) -> dict[str, str]:
    """The Junction-Dlq-* headers of a dead-lettered message."""
    return {k: str(v) for k, v in (headers or {}).items() if k.startswith("Junction-Dlq-")}
