"""The live order pages' feed: subscribed only while a page is open, bounded, and waking
only the pages of the order a message is about."""

from dataclasses import dataclass, field
from typing import Any

import pytest

from junction.errors import Overloaded, Stopping
from junction_devtools.samples import order_created
from storefront.live import EMAIL_RECORDS, SUBJECTS, OrderFeed

pytestmark = pytest.mark.unit


@dataclass
class FakeSubscription:
    subject: str
    cb: Any
    open: bool = True

    async def unsubscribe(self) -> None:
        self.open = False


@dataclass
class FakeNats:
    subscriptions: list[FakeSubscription] = field(default_factory=list)

    async def subscribe(self, subject: str, *, cb: Any) -> FakeSubscription:
        sub = FakeSubscription(subject, cb)
        self.subscriptions.append(sub)
        return sub

    async def deliver(self, data: bytes) -> None:
        for sub in self.subscriptions:
            if sub.open:
                await sub.cb(Message(data))


@dataclass
class Message:
    data: bytes


async def test_pages_are_woken_by_their_own_order_only() -> None:
    nats = FakeNats()
    feed = OrderFeed(limit=10)
    feed.attach(nats)
    assert nats.subscriptions == []  # nothing open: nothing subscribed
    async with feed.watch("o1") as mine, feed.watch("o2") as other:
        assert [s.subject for s in nats.subscriptions] == list(SUBJECTS)
        await nats.subscriptions[0].cb(Message(order_created("o1").model_dump_json().encode()))
        await nats.subscriptions[0].cb(Message(b"{not json"))  # a poison message: ignored
        assert mine.is_set() and not other.is_set()
    assert not any(s.open for s in nats.subscriptions)  # the last page closed: unsubscribed
    assert feed.open == 0


async def test_an_email_records_write_wakes_its_orders_pages() -> None:
    # Notifications publishes no event when an email goes out: its record's write, seen on
    # the bucket's subject, is what tells the page (a delete, with no body, wakes nobody).
    nats = FakeNats()
    feed = OrderFeed(limit=10)
    feed.attach(nats)
    async with feed.watch("o1") as mine, feed.watch("o2") as other:
        (records,) = [s for s in nats.subscriptions if s.subject == EMAIL_RECORDS]
        await records.cb(Message(b""))
        assert not mine.is_set()
        record = b'{"outbox":[],"processed":[],"notices":[],"order_id":"o1","kind":"receipt"}'
        await records.cb(Message(record))
        assert mine.is_set() and not other.is_set()


async def test_beyond_the_limit_a_page_is_refused() -> None:
    feed = OrderFeed(limit=1)
    feed.attach(FakeNats())
    async with feed.watch("o1"):
        with pytest.raises(Overloaded):
            async with feed.watch("o2"):
                pass
    async with feed.watch("o3"):  # room again
        assert feed.open == 1


async def test_closing_wakes_every_open_page_and_opens_no_more() -> None:
    feed = OrderFeed(limit=10)
    feed.attach(FakeNats())
    async with feed.watch("o1") as first, feed.watch("o1") as second, feed.watch("o2") as third:
        assert not any(e.is_set() for e in (first, second, third))
        feed.close()
        assert all(e.is_set() for e in (first, second, third))
        with pytest.raises(Stopping):
            feed.admit()
    assert feed.open == 0
