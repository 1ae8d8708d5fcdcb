"""The ack policy, dead-lettering and deduplication against a real nats-server."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from nats.aio.client import Client

from junction.config import ServiceSettings
from junction.contracts.catalogue import ORDERS
from junction.contracts.events import OrderCreated
from junction.messaging.dead_letters import DLQ_REASON, DLQ_SUBJECT
from junction.service import ServiceRuntime
from junction_devtools.samples import order_created
from junction_devtools.testing import NatsServer

EventHandler = Callable[[OrderCreated], Awaitable[None]]

pytestmark = pytest.mark.integration


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def runtime_factory(
    nats_server: NatsServer,
) -> AsyncIterator[Callable[[EventHandler], ServiceRuntime]]:
    started: list[ServiceRuntime] = []

    def make(handler: EventHandler) -> ServiceRuntime:
        settings = ServiceSettings(
            service_name=f"itest-{uuid.uuid4().hex[:8]}",
            nats_url=nats_server.url,
            consumer_backoff_seconds=0.05,
            consumer_max_deliver=3,
            log_json=False,
        )
        rt = ServiceRuntime(settings, owns=[ORDERS])
        rt.subscribe(OrderCreated, handler)
        started.append(rt)
        return rt

    yield make
    for rt in started:
        await rt.stop()


async def dlq_messages(nc: Client, order_marker: bytes) -> list[dict[str, str]]:
    js = nc.jetstream()
    found = []
    sub = await js.pull_subscribe("dlq.>", durable=None, stream="DLQ")
    try:
        while True:
            try:
                msgs = await sub.fetch(100, timeout=0.5)
            except TimeoutError:
                break
            for m in msgs:
                if order_marker in m.data:
                    found.append(dict(m.headers or {}))
    finally:
        await sub.unsubscribe()
    return found


async def test_poison_is_dead_lettered_and_the_consumer_keeps_working(
    runtime_factory: Callable[[EventHandler], ServiceRuntime], nc: Client
) -> None:
    order_id = uuid.uuid4().hex
    seen: list[OrderCreated] = []

    async def handler(event: OrderCreated) -> None:
        if event.order_id == order_id:
            seen.append(event)

    rt = runtime_factory(handler)
    await rt.start()
    js = nc.jetstream()
    await js.publish("orders.OrderCreated", f"not json {order_id}".encode())
    await rt.publisher.publish(order_created(order_id))
    await eventually(lambda: len(seen) == 1)
    await asyncio.sleep(0.2)
    dead = await dlq_messages(nc, order_id.encode())
    assert len(dead) == 1
    assert dead[0][DLQ_SUBJECT] == "orders.OrderCreated"
    assert "malformed event" in dead[0][DLQ_REASON]


async def test_transient_failures_are_redelivered_until_they_succeed(
    runtime_factory: Callable[[EventHandler], ServiceRuntime],
) -> None:
    order_id = uuid.uuid4().hex
    attempts = 0
    done = asyncio.Event()

    async def handler(event: OrderCreated) -> None:
        nonlocal attempts
        if event.order_id != order_id:
            return
        attempts += 1
        if attempts < 3:
            raise ConnectionError("downstream blip")
        done.set()

    rt = runtime_factory(handler)
    await rt.start()
    await rt.publisher.publish(order_created(order_id))
    await asyncio.wait_for(done.wait(), 10)
    assert attempts == 3


async def test_a_message_failing_every_delivery_ends_in_the_dead_letter_stream(
    runtime_factory: Callable[[EventHandler], ServiceRuntime], nc: Client
) -> None:
    order_id = uuid.uuid4().hex
    attempts = 0

    async def handler(event: OrderCreated) -> None:
        nonlocal attempts
        if event.order_id == order_id:
            attempts += 1
            raise ValueError("always broken")

    rt = runtime_factory(handler)
    await rt.start()
    await rt.publisher.publish(order_created(order_id))
    await eventually(lambda: attempts >= 3)
    await asyncio.sleep(0.3)
    dead = await dlq_messages(nc, order_id.encode())
    assert len(dead) == 1
    assert "gave up after 3 deliveries" in dead[0][DLQ_REASON]
    assert attempts == 3


async def test_the_same_event_id_is_stored_once(
    runtime_factory: Callable[[EventHandler], ServiceRuntime], nc: Client
) -> None:
    async def ignore(event: OrderCreated) -> None:
        return None

    rt = runtime_factory(ignore)
    await rt.start()
    event = order_created(uuid.uuid4().hex)
    js = nc.jetstream()
    before = (await js.stream_info("ORDERS")).state.messages
    for _ in range(3):
        await rt.publisher.publish(event)
    after = (await js.stream_info("ORDERS")).state.messages
    assert after - before == 1
