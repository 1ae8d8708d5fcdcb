"""Live order pages: which orders have a page open, woken when an event about them passes.

One set of plain NATS subscriptions per replica, held only while some page is open: the
three event streams' subjects, and the subjects of notifications' email records (a
record's write is how a sent email is known: notifications publishes no event, decision
0012). Each message is matched to the open pages by its order id.
A page's stream then reads the order again: the order service stays the one source of
what happened. Bounded: at most `limit` pages at once per replica."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from junction.errors import Overloaded, Stopping

logger = logging.getLogger(__name__)

# `$KV.<bucket>.<key>`: where NATS carries a write to a key-value bucket; a plain
# subscription sees it pass like any message (notifications' records: "email.<order>.<kind>").
EMAIL_RECORDS = "$KV.notifications.email.>"
SUBJECTS = ("orders.>", "inventory.>", "payments.>", EMAIL_RECORDS)
ORDER_ID_KEY = b'"order_id":"'


class Subscriber(Protocol):
    """What the feed needs of the NATS client (nats-py's `Client.subscribe`)."""

    async def subscribe(self, subject: str, *, cb: Any) -> Any: ...


class OrderFeed:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._client: Subscriber | None = None
        self._pages: dict[str, set[asyncio.Event]] = {}
        self._open = 0
        self._subscriptions: list[Any] = []
        self._lock = asyncio.Lock()
        self.closing = False

    def attach(self, client: Subscriber) -> None:
        """Use this connection (the service's own) once it is up."""
        self._client = client

    @property
    def open(self) -> int:
        return self._open

    def admit(self) -> None:
        """Overloaded when this replica already has `limit` live pages, or is stopping."""
        if self.closing:
            raise Stopping("live order pages")
        if self._open >= self.limit:
            raise Overloaded("live order pages", self.limit)

    def close(self) -> None:
        """The replica is stopping: wake every open page, whose stream then tells its
        browser to reconnect (to another replica), and open no more."""
        self.closing = True
        for pages in self._pages.values():
            for changed in pages:
                changed.set()

    @contextlib.asynccontextmanager
    async def watch(self, order_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever a message about `order_id` passes, while the block runs."""
        self.admit()
        changed = asyncio.Event()
        self._open += 1
        self._pages.setdefault(order_id, set()).add(changed)
        try:
            await self._subscribe()
            yield changed
        finally:
            waiting = self._pages.get(order_id, set())
            waiting.discard(changed)
            if not waiting:
                self._pages.pop(order_id, None)
            self._open -= 1
            if self._open == 0:
                await self._unsubscribe()

    async def _subscribe(self) -> None:
        async with self._lock:
            if self._subscriptions or self._client is None:
                return
            for subject in SUBJECTS:
                self._subscriptions.append(await self._client.subscribe(subject, cb=self._passed))

    async def _unsubscribe(self) -> None:
        async with self._lock:
            if self._open:
                return
            for sub in self._subscriptions:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
            self._subscriptions = []

    async def _passed(self, msg: Any) -> None:
        # Every event of the platform and every email record passes here while a page is
        # open: find the order id without parsing the whole message (events and records
        # are written as compact JSON by pydantic; a record's delete has no body).
        data: bytes = msg.data
        start = data.find(ORDER_ID_KEY)
        if start < 0:
            return  # not an event (a poison message): no page cares
        start += len(ORDER_ID_KEY)
        order_id = data[start : data.find(b'"', start)].decode(errors="replace")
        for changed in self._pages.get(order_id, ()):
            changed.set()
