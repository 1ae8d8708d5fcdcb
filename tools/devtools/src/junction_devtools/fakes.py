"""In-memory stand-ins for unit tests (integration tests use a real nats-server)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from email.message import EmailMessage

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

    async def get(self, key: str) -> FakeEntry:
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
        self.sent: list[EmailMessage] = []
        self.fail_times = fail_times

    async def send(self, message: EmailMessage) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("smtp down")
        self.sent.append(message)
