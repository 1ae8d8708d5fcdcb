"""In-memory stand-ins for unit tests (integration tests use a real nats-server)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from email.message import Message

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from junction.events import Event


@dataclass
class FakeEntry:
    key: str
    value: bytes | None
    revision: int | None


class FakeKV:
    """The subset of nats-py's KeyValue that junction.store uses, with real CAS semantics."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, int]] = {}
        self._seq = 0
        self.writes = 0
        self.reads = 0

    async def get(self, key: str) -> FakeEntry:
        self.reads += 1
        if key not in self.data:
            raise KeyNotFoundError
        value, rev = self.data[key]
        return FakeEntry(key, value, rev)

    def _put(self, key: str, value: bytes) -> int:
        self._seq += 1
        self.writes += 1
        self.data[key] = (value, self._seq)
        return self._seq

    async def create(self, key: str, value: bytes) -> int:
        if key in self.data:
            raise KeyWrongLastSequenceError
        return self._put(key, value)

    async def update(self, key: str, value: bytes, last: int | None = None) -> int:
        current = self.data.get(key, (b"", 0))[1]
        if last is not None and last != current:
            raise KeyWrongLastSequenceError
        return self._put(key, value)

    async def delete(self, key: str) -> bool:
        self.data.pop(key, None)
        return True

    async def keys_matching(self, pattern: str) -> list[str]:
        glob = pattern.replace(">", "*")
        return sorted(k for k in self.data if fnmatch.fnmatch(k, glob))


class RecordingPublisher:
    """An EventPublisher that keeps what it was given."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)


class RecordingMailer:
    def __init__(self, fail_times: int = 0) -> None:
        self.sent: list[Message] = []
        self.fail_times = fail_times

    async def send(self, message: Message) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("smtp down")
        self.sent.append(message)


class FakeMsg:
    """A delivered JetStream message for unit tests: records how it was settled."""

    @dataclass
    class _Metadata:
        num_delivered: int

    def __init__(self, event: Event | bytes, *, subject: str = "", deliveries: int = 1) -> None:
        if isinstance(event, Event):
            self.data = event.model_dump_json().encode()
            self.subject = subject or event.subject
        else:
            self.data = event
            self.subject = subject
        self.headers: dict[str, str] = {}
        self.metadata = self._Metadata(num_delivered=deliveries)
        self.settled: list[str] = []

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append("nak")

    async def term(self) -> None:
        self.settled.append("term")


class RecordingDeadLetters:
    """A DeadLetters that keeps (subject, consumer, reason) instead of publishing."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, raw: FakeMsg, *, consumer: str, reason: str) -> None:
        self.sent.append((raw.subject, consumer, reason))
