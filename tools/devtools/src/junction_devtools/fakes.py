"""In-memory stand-ins for unit and route tests, each meeting the protocol the production
code is written against (integration tests use a real nats-server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, TypeVar

from pydantic import BaseModel

from junction.client import ErrorBody, ServiceError
from junction.contracts.events import E, EventEnvelope
from junction.messaging.dead_letters import Delivery
from junction.store.bucket import Entry, RevisionMismatch

M = TypeVar("M", bound=BaseModel)


class FakeKV:
    """A `KeyValueBucket` in memory, with real compare-and-set semantics."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, int]] = {}
        self._seq = 0
        self.writes = 0
        self.reads = 0
        self.scans = 0  # passes over the entries (entries_matching)

    async def get(self, key: str) -> Entry | None:
        self.reads += 1
        if key not in self.data:
            return None
        value, revision = self.data[key]
        return Entry(value, revision)

    def _put(self, key: str, value: bytes) -> int:
        self._seq += 1
        self.writes += 1
        self.data[key] = (value, self._seq)
        return self._seq

    async def create(self, key: str, value: bytes) -> int:
        if key in self.data:
            raise RevisionMismatch(key)
        return self._put(key, value)

    async def update(self, key: str, value: bytes, *, last: int) -> int:
        if self.data.get(key, (b"", 0))[1] != last:
            raise RevisionMismatch(key)
        return self._put(key, value)

    async def delete(self, key: str, *, last: int | None = None) -> None:
        if last is not None and self.data.get(key, (b"", 0))[1] != last:
            raise RevisionMismatch(key)
        self.data.pop(key, None)

    async def keys_matching(self, pattern: str) -> list[str]:
        return sorted(k for k in self.data if subject_matches(pattern, k))

    async def entries_matching(self, pattern: str) -> AsyncIterator[tuple[str, bytes]]:
        self.scans += 1
        for key, (value, _) in list(self.data.items()):
            if subject_matches(pattern, key):
                yield key, value


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, `>` one or more at the end."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(have) == len(want)


class RecordingPublisher:
    """An `EventPublisher` that keeps what it was given, failing the first `fail_times`
    publishes (NATS lost between a write and its publish)."""

    def __init__(self, fail_times: int = 0) -> None:
        self.events: list[EventEnvelope] = []
        self.fail_times = fail_times

    async def publish(self, event: EventEnvelope) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("nats lost")
        self.events.append(event)


class RecordingMailer:
    """A `Mailer` that keeps what it was given, failing the first `fail_times` sends."""

    def __init__(self, fail_times: int = 0) -> None:
        self.sent: list[Message] = []
        self.fail_times = fail_times

    async def send(self, message: Message) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("smtp down")
        self.sent.append(message)


@dataclass
class FakeMetadata:
    num_delivered: int
    stream: str = "TEST"
    sequence: Any = None


class FakeMsg:
    """A delivered JetStream message (a `Delivery`) that records how it was settled."""

    def __init__(
        self, event: EventEnvelope | bytes, *, subject: str = "", deliveries: int = 1
    ) -> None:
        if isinstance(event, EventEnvelope):
            self.data = event.model_dump_json().encode()
            self.subject = subject or event.subject
        else:
            self.data = event
            self.subject = subject
        self.headers: dict[str, str] | None = {}
        self._metadata = FakeMetadata(num_delivered=deliveries)
        self.settled: list[str] = []

    @property
    def metadata(self) -> FakeMetadata:
        return self._metadata

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append("nak")

    async def term(self) -> None:
        self.settled.append("term")


class RecordingDeadLetters:
    """A `DeadLetterSink` that keeps (subject, consumer, reason) instead of publishing."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, raw: Delivery, *, consumer: str, reason: str) -> None:
        self.sent.append((raw.subject, consumer, reason))


@dataclass
class Subscriptions:
    """A `Subscribe` that records what a service's `subscribers.register` asks for."""

    handlers: dict[type[EventEnvelope], Callable[[Any], Awaitable[None]]] = field(
        default_factory=dict
    )
    max_ack_pending: dict[type[EventEnvelope], int | None] = field(default_factory=dict)

    def __call__(
        self,
        event: type[E],
        handler: Callable[[E], Awaitable[None]],
        *,
        max_ack_pending: int | None = None,
    ) -> None:
        self.handlers[event] = handler
        self.max_ack_pending[event] = max_ack_pending

    async def deliver(self, event: EventEnvelope) -> None:
        """Hand `event` to the handler registered for its type."""
        await self.handlers[type(event)](event)


Route = tuple[str, str]


class FakeService:
    """A `ServiceCalls` downstream: answers by (method, path) from a table, keeps the
    requests it was sent. An answer is a model (2xx) or (status, error body) (4xx); a path
    without one is answered 404, as a service answers a resource it does not have."""

    def __init__(self, latency: float = 0.0) -> None:
        self.answers: dict[Route, BaseModel | tuple[int, dict[str, Any]]] = {}
        self.sent: list[tuple[str, str, BaseModel | None]] = []
        self.latency = latency  # seconds each call takes (lets concurrent callers interleave)

    def answer(self, method: str, path: str, with_: BaseModel | tuple[int, dict[str, Any]]) -> None:
        self.answers[(method, path)] = with_

    async def get(self, path: str, answer: type[M]) -> M:
        self.sent.append(("GET", path, None))
        await asyncio.sleep(self.latency)
        return self._reply("GET", path, answer)

    async def post(self, path: str, body: BaseModel, answer: type[M], *, idempotent: bool) -> M:
        self.sent.append(("POST", path, body))
        await asyncio.sleep(self.latency)
        return self._reply("POST", path, answer)

    def _reply(self, method: str, path: str, answer: type[M]) -> M:
        given = self.answers.get(
            (method, path), (404, {"error": "not_found", "message": f"no {path}"})
        )
        if isinstance(given, tuple):
            status, body = given
            raise ServiceError("fake", status, ErrorBody.model_validate(body))
        return answer.model_validate(given.model_dump())
