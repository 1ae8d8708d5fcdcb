"""`first_delivery`: when a handler may skip looking for its own earlier work, against a
real nats-server (the delivery's metadata and headers are the server's)."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from nats.aio.client import Client

from junction.clock import now
from junction.config import ServiceSettings
from junction.contracts.catalogue import ORDERS
from junction.contracts.events import OrderCreated
from junction.messaging.consumer import first_delivery
from junction.service import ServiceRuntime
from junction_devtools.samples import order_created
from junction_devtools.testing import NatsServer

pytestmark = pytest.mark.integration

Seen = dict[str, list[bool]]  # order id: first_delivery() at each delivery


@pytest.fixture
async def runtime(nats_server: NatsServer) -> AsyncIterator[Callable[[Seen], ServiceRuntime]]:
    """A runtime whose OrderCreated handler records `first_delivery` for each delivery of
    the orders in `seen`, and fails the first delivery of those whose id ends in "retry"."""
    started: list[ServiceRuntime] = []

    def make(seen: Seen) -> ServiceRuntime:
        async def handler(event: OrderCreated) -> None:
            if event.order_id in seen:
                seen[event.order_id].append(first_delivery(event))
                if event.order_id.endswith("retry") and len(seen[event.order_id]) == 1:
                    raise ConnectionError("downstream blip")

        settings = ServiceSettings(
            service_name=f"itest-{uuid.uuid4().hex[:8]}",
            nats_url=nats_server.url,
            consumer_backoff_seconds=0.05,
            log_json=False,
        )
        rt = ServiceRuntime(settings, owns=[ORDERS])
        rt.subscribe(OrderCreated, handler)
        started.append(rt)
        return rt

    yield make
    for rt in started:
        await rt.stop()


async def delivered(seen: Seen, count: int = 1, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while any(len(calls) < count for calls in seen.values()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not delivered {count} times in time: {seen}")
        await asyncio.sleep(0.02)


async def test_a_new_event_is_a_first_delivery_and_its_redelivery_is_not(
    runtime: Callable[[Seen], ServiceRuntime],
) -> None:
    fresh, retried = uuid.uuid4().hex, f"{uuid.uuid4().hex}-retry"
    seen: Seen = {fresh: [], retried: []}
    rt = runtime(seen)
    await rt.start()
    await rt.publisher.publish(order_created(fresh))
    await rt.publisher.publish(order_created(retried))
    await delivered(seen)
    await delivered({retried: seen[retried]}, count=2)
    assert seen == {fresh: [True], retried: [True, False]}


async def test_a_copy_that_may_be_a_second_one_is_not(
    runtime: Callable[[Seen], ServiceRuntime], nc: Client
) -> None:
    """Stored long after the event occurred (as the sweep's copy after the duplicate window
    would be; the stream's window is 120 s, half of it the bound), or under another message
    id (as `junctionctl dlq replay` publishes a dead letter)."""
    within, late, replayed = (uuid.uuid4().hex for _ in range(3))
    seen: Seen = {within: [], late: [], replayed: []}
    rt = runtime(seen)
    await rt.start()
    await rt.publisher.publish(
        order_created(within).model_copy(update={"occurred_at": now() - timedelta(seconds=50)})
    )
    await rt.publisher.publish(
        order_created(late).model_copy(update={"occurred_at": now() - timedelta(seconds=70)})
    )
    event = order_created(replayed)
    await nc.jetstream().publish(
        "orders.OrderCreated",
        event.model_dump_json().encode(),
        headers={"Nats-Msg-Id": f"replay.DLQ.{uuid.uuid4().hex}"},
    )
    await delivered(seen)
    assert seen == {within: [True], late: [False], replayed: [False]}


async def test_a_message_stored_before_the_consumer_was_created_is_not(
    runtime: Callable[[Seen], ServiceRuntime],
) -> None:
    """A durable consumer created again delivers what the stream holds once more (it may
    have been handled through the consumer it replaces). This also shows that the
    delivery's timestamp is when the server stored the message, not when it delivered it."""
    early = uuid.uuid4().hex
    producer = runtime({})
    await producer.start()
    await producer.publisher.publish(order_created(early))
    await asyncio.sleep(0.05)
    seen: Seen = {early: []}
    consumer = runtime(seen)
    await consumer.start()
    await delivered(seen)
    assert seen == {early: [False]}


def test_outside_a_consumer_nothing_is_certain() -> None:
    assert first_delivery(order_created("o1")) is False
