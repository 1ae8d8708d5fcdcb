"""Every service connects as its own NATS user: it may publish only its own events and
touch only its own bucket; credentials are generated per run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.aio.client import Client

from junction_devtools import natsauth
from junction_devtools.natsauth import OPERATOR
from junction_devtools.platform import Platform, free_ports
from storefront.live import SUBJECTS, OrderFeed

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(state_dir=tmp_path_factory.mktemp("auth"), ports=free_ports(), telemetry=False)
    try:
        p.start()
        yield p
    finally:
        p.stop()


# The errors each client's connection reported, by client (nats-py reports them to a callback).
SEEN: dict[int, list[Exception]] = {}


async def connect_as(platform: Platform, user: str, password: str | None = None) -> Client:
    errors: list[Exception] = []

    async def keep(err: Exception) -> None:
        errors.append(err)

    client = await nats.connect(
        platform.nats_url.split(","),
        user=user,
        password=password or platform.nats_passwords[user],
        allow_reconnect=False,
        error_cb=keep,
    )
    SEEN[id(client)] = errors
    return client


@pytest.fixture
async def payments(platform: Platform) -> AsyncIterator[Client]:
    client = await connect_as(platform, "payments")
    yield client
    await client.close()


async def test_a_service_cannot_publish_another_services_events(
    platform: Platform, payments: Client
) -> None:
    operator = await connect_as(platform, OPERATOR)
    before = (await operator.jetstream().stream_info("ORDERS")).state.messages
    js = payments.jetstream()
    with pytest.raises((TimeoutError, nats.errors.Error)):
        await js.publish("orders.OrderConfirmed", b"{}", timeout=1)
    await asyncio.sleep(0.2)
    seen = [str(e).lower() for e in SEEN[id(payments)]]
    assert any("permissions violation" in e for e in seen), seen
    assert (await operator.jetstream().stream_info("ORDERS")).state.messages == before
    await operator.close()


async def test_a_service_reads_its_own_bucket_and_not_another(payments: Client) -> None:
    js = payments.jetstream()
    own = await js.key_value("payments")
    assert own is not None
    with pytest.raises((TimeoutError, nats.errors.Error)):
        await js.key_value("orders")


async def test_a_wrong_password_is_refused(platform: Platform) -> None:
    with pytest.raises((nats.errors.Error, OSError)):
        await connect_as(platform, "orders", password="not-the-password")


async def test_storefront_sees_an_email_records_write_and_nothing_of_other_buckets(
    platform: Platform,
) -> None:
    # The live order pages wake on notifications' email records (storefront.live): a plain
    # subscription of the storefront's user to the bucket's subjects sees a write pass.
    assert natsauth.WATCHES["storefront"] == list(SUBJECTS)
    storefront = await connect_as(platform, "storefront")
    notifications = await connect_as(platform, "notifications")
    feed = OrderFeed(limit=4)
    feed.attach(storefront)
    try:
        async with feed.watch("o-live-1") as woken:
            await storefront.flush()
            records = await notifications.jetstream().key_value("notifications")
            await records.create(
                "email.o-live-1.receipt", b'{"order_id":"o-live-1","kind":"receipt"}'
            )
            await asyncio.wait_for(woken.wait(), timeout=5)
        # Other buckets' writes stay out of its sight: a subscription to them is refused.
        await storefront.subscribe("$KV.payments.>")
        await storefront.flush()
        await asyncio.sleep(0.2)
        seen = [str(e).lower() for e in SEEN[id(storefront)]]
        assert any("permissions violation" in e for e in seen), seen
    finally:
        await storefront.close()
        await notifications.close()
