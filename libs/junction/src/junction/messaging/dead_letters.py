"""The dead-letter stream: messages no consumer can process, kept with the reason so that
an operator can read them and replay them after a fix (`junctionctl dlq`)."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol

from junction.contracts.catalogue import DEAD_LETTERS, dead_letter_subject
from junction.messaging.publisher import MessageSender

logger = logging.getLogger(__name__)

DLQ_REASON = "Junction-Dlq-Reason"
DLQ_SUBJECT = "Junction-Dlq-Subject"
DLQ_CONSUMER = "Junction-Dlq-Consumer"
DLQ_DELIVERIES = "Junction-Dlq-Deliveries"


class Delivery(Protocol):
    """A message as a JetStream consumer receives it (nats-py's `Msg`, or a test fake)."""

    subject: str
    data: bytes
    headers: dict[str, str] | None

    @property
    def metadata(self) -> Any: ...

    async def ack(self) -> None: ...

    async def nak(self, delay: float | None = None) -> None: ...

    async def term(self) -> None: ...


class DeadLetterSink(Protocol):
    async def send(self, raw: Delivery, *, consumer: str, reason: str) -> None: ...


def delivery_count(raw: Delivery) -> int:
    """How many times JetStream has delivered this message (1 outside JetStream)."""
    try:
        return int(raw.metadata.num_delivered)
    except Exception:  # a plain NATS message
        return 1


class DeadLetters:
    """Moves messages that cannot be processed into the DLQ stream, with the reason."""

    def __init__(self, broker: MessageSender) -> None:
        self._broker = broker

    async def send(self, raw: Delivery, *, consumer: str, reason: str) -> None:
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


def dead_letter_headers(headers: dict[str, Any] | None) -> dict[str, str]:
    """The Junction-Dlq-* headers of a dead-lettered message."""
    return {k: str(v) for k, v in (headers or {}).items() if k.startswith("Junction-Dlq-")}
