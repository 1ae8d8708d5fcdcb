"""JetStream's side of the checkout: duplicates, poison messages, crashed consumers."""

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client

from tests.e2e.client import Endpoints, Shop, events
from tests.e2e.nats_tools import EVENT_STREAMS, stream_messages, wait_consumers_idle

pytestmark = pytest.mark.e2e


@pytest.fixture
async def nc(endpoints: Endpoints) -> AsyncIterator[Client]:
    client = await nats.connect(endpoints.nats.split(","))
    yield client
    await client.drain()


async def confirmed_order(shop: Shop) -> tuple[str, str]:
    sku = await shop.new_sku(stock=5)
    reply = await shop.checkout([{"sku": sku, "quantity": 2}])
    assert reply.status == 201, reply.body
    order_id = reply.body["order_id"]
    await shop.wait_for(
        order_id,
        lambda o: o["status"] == "CONFIRMED" and "email_sent:receipt" in events(o["timeline"]),
    )
    return order_id, sku


async def test_duplicated_events_change_nothing_twice(shop: Shop, nc: Client) -> None:
    order_id, sku = await confirmed_order(shop)
    await wait_consumers_idle(nc)
    before = (
        (await shop.order(order_id)).body,
        await shop.ledger(sku),
        sorted(await shop.emails_for(order_id)),
    )
    js = nc.jetstream()
    replayed = []
    for stream in EVENT_STREAMS:
        for msg in await stream_messages(nc, stream, order_id.encode()):
            headers = {k: v for k, v in (msg.headers or {}).items() if k != "Nats-Msg-Id"}
            headers["Nats-Msg-Id"] = f"dup-{uuid.uuid4().hex}"  # passes the stream's dedup
            await js.publish(msg.subject, msg.data, headers=headers)
            replayed.append(msg.subject)
    # The reservation's timer is published only when the payment took longer than its
    # grace (decision 0015): a replayed one waits for the deadline, and finds it committed.
    checkout = {
        "orders.OrderCreated",
        "payments.PaymentSucceeded",
        "inventory.StockCommitted",
        "orders.OrderConfirmed",
    }
    assert checkout <= set(replayed) <= checkout | {"inventory.ReservationOpened"}
    assert len(replayed) == len(set(replayed))
    await wait_consumers_idle(nc)
    after = (
        (await shop.order(order_id)).body,
        await shop.ledger(sku),
        sorted(await shop.emails_for(order_id)),
    )
    assert after == before


async def test_a_malformed_message_is_dead_lettered_and_consumers_keep_working(
    shop: Shop, nc: Client
) -> None:
    marker = uuid.uuid4().hex
    js = nc.jetstream()
    await js.publish("orders.OrderCancelled", f"{{garbage {marker}".encode())
    await js.publish(
        "orders.OrderConfirmed",
        f'{{"type":"OrderConfirmed","source":"orders","order_id":"{marker}",'
        f'"version":99}}'.encode(),
    )
    # Each consumer of a subject dead-letters its own copy, naming itself and the reason.
    expected = {
        ("orders.OrderCancelled", "notifications-OrderCancelled"),
        ("orders.OrderCancelled", "payments-OrderCancelled"),
        ("orders.OrderConfirmed", "notifications-OrderConfirmed"),
    }
    dead: dict[tuple[str, str], str] = {}
    for _ in range(100):
        dead = {
            (h["Junction-Dlq-Subject"], h["Junction-Dlq-Consumer"]): h["Junction-Dlq-Reason"]
            for m in await stream_messages(nc, "DLQ", marker.encode())
            for h in [dict(m.headers or {})]
        }
        if len(dead) >= len(expected):
            break
        await asyncio.sleep(0.1)
    assert set(dead) == expected
    assert dead[("orders.OrderCancelled", "payments-OrderCancelled")].startswith("malformed event")
    assert dead[("orders.OrderConfirmed", "notifications-OrderConfirmed")] == (
        "unsupported event version 99 of OrderConfirmed"
    )
    await confirmed_order(shop)  # the same consumers still process real events


async def test_a_consumer_killed_mid_flow_loses_nothing(endpoints: Endpoints, shop: Shop) -> None:
    platform = endpoints.platform
    if platform is None:
        pytest.skip(
            "needs process control of a local platform; in a cluster the e2e Job "
            "deletes a pod instead"
        )
    sku = await shop.new_sku(stock=30)
    replies = []

    async def burst() -> None:
        for _ in range(12):
            replies.append(await shop.checkout([{"sku": sku, "quantity": 1}]))

    task = asyncio.create_task(burst())
    while len(replies) < 4:  # noqa: ASYNC110 (polling the burst's progress is the point)
        await asyncio.sleep(0.01)
    platform.kill("notifications", signal.SIGKILL)
    await task
    await asyncio.to_thread(platform.restart, "notifications")
    assert [r.status for r in replies] == [201] * 12
    for reply in replies:
        order_id = reply.body["order_id"]
        await shop.wait_for(
            order_id,
            lambda o: (
                o["status"] == "CONFIRMED"
                and {"email_sent:order_received", "email_sent:receipt"}
                <= set(events(o["timeline"]))
            ),
        )
        # Email is at-least-once: a send cut off by the kill may be repeated, always with
        # the same Message-ID, so the customer's mail client shows one message of each kind.
        sent = await shop.emails_for(order_id)
        assert set(sent) == {
            f"{order_id}.order_received@junction.local",
            f"{order_id}.receipt@junction.local",
        }
    ledger = await shop.ledger(sku)
    assert (ledger["on_hand"], ledger["committed_units"]) == (18, 12)
