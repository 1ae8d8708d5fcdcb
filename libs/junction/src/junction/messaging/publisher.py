"""The one publisher path: every event leaves through here, deduplicated by its id."""

from __future__ import annotations

from typing import Any, Protocol

from opentelemetry import trace

from junction.contracts.catalogue import STREAM_OF_SOURCE
from junction.contracts.events import EventEnvelope
from junction.telemetry import extract, inject, traced, unrecorded_parent, unsampled


class MessageSender(Protocol):
    """What publishing needs of the connection (FastStream's `NatsBroker.publish`)."""

    async def publish(
        self,
        message: Any,
        subject: str,
        *,
        headers: dict[str, str] | None = None,
        correlation_id: str | None = None,
        stream: str | None = None,
    ) -> Any: ...


class JetStreamPublisher:
    """Publishes events with `Nats-Msg-Id` = event id, through FastStream's broker.

    With telemetry on, each message is one PRODUCER span, `<subject> publish`, a child of
    the request that caused the event (the outbox kept its trace context), and the message
    carries that span's context in W3C headers for its consumers (FastStream's own
    telemetry middleware made two spans per message, docs/decisions/0002-server-spans.md).
    """

    def __init__(self, broker: MessageSender, tracer: trace.Tracer | None = None) -> None:
        self._broker = broker
        self._tracer = tracer

    async def publish(self, event: EventEnvelope) -> None:
        headers = {"Nats-Msg-Id": event.id, "content-type": "application/json"}
        parent = None
        if self._tracer is not None and event.trace:
            if (header := unrecorded_parent(event.trace)) is not None:
                # A trace its head decided not to record: no span, the decision passed on
                # as the request that caused the event wrote it.
                headers["traceparent"] = header
                await self._send(event, headers)
                return
            parent = extract(event.trace)
        if parent is not None and unsampled(parent):
            # A trace its head decided not to record: no span, the decision passed on.
            inject(headers, parent)
            await self._send(event, headers)
            return
        with traced(
            self._tracer,
            f"{event.subject} publish",
            kind=trace.SpanKind.PRODUCER,
            parent=parent,
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
                inject(headers)
            await self._send(event, headers)

    async def _send(self, event: EventEnvelope, headers: dict[str, str]) -> None:
        await self._broker.publish(
            event.model_dump_json().encode(),
            event.subject,
            headers=headers,
            correlation_id=event.order_id,
            stream=STREAM_OF_SOURCE[event.source].name,
        )
