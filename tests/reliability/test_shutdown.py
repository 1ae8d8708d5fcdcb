"""Graceful shutdown under load: SIGTERM to a service while requests are in flight gives
those callers no 5xx and no dropped connection, the process exits inside its grace period,
and nothing is applied twice."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from junction_devtools.platform import Platform, free_ports

pytestmark = pytest.mark.integration

GRACE_SECONDS = 10


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(
        state_dir=tmp_path_factory.mktemp("shutdown"),
        ports=free_ports(),
        telemetry=False,
        common_env={"JUNCTION_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS)},
    )
    try:
        p.start()
        yield p
    finally:
        p.stop()


async def test_sigterm_under_load_drops_no_in_flight_request(
    platform: Platform, tmp_path: Path
) -> None:
    urls = platform.urls
    outcomes: Counter[str] = Counter()
    created: list[str] = []
    cut_off: list[str] = []
    stop = asyncio.Event()
    # A fresh connection per request: a refused connection is a request never accepted,
    # a dropped one is a request lost in flight.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=20)
    ) as http:
        put = await http.put(
            f"{urls['inventory']}/products/SHUTDOWN-{uuid.uuid4().hex[:8]}",
            json={"name": "drain", "price_cents": 100, "stock": 100000},
        )
        sku = (await put.json())["sku"]

        async def client() -> None:
            while not stop.is_set():
                order_id = uuid.uuid4().hex
                try:
                    async with http.post(
                        f"{urls['orders']}/orders",
                        json={
                            "order_id": order_id,
                            "customer_email": "drain@example.com",
                            "items": [{"sku": sku, "quantity": 1}],
                        },
                    ) as resp:
                        outcomes[str(resp.status)] += 1
                        if resp.status == 201:
                            created.append(order_id)
                except aiohttp.ClientConnectorError:
                    outcomes["refused (not accepted)"] += 1
                    await asyncio.sleep(0.05)
                except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                    # Either dropped from the listen backlog as the socket closed (never
                    # accepted: fine) or cut off mid-request (a failure): the order tells.
                    outcomes["connection closed"] += 1
                    cut_off.append(order_id)

        clients = [asyncio.create_task(client()) for _ in range(16)]
        await asyncio.sleep(1.0)
        proc = platform.procs["orders"].popen
        assert proc is not None
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(proc.wait, GRACE_SECONDS + 5)
        took = time.monotonic() - sent
        stop.set()
        await asyncio.gather(*clients)

    # uvicorn finishes its graceful shutdown, then exits with the signal it got (-15).
    assert exit_code in (0, -signal.SIGTERM)
    log = platform.procs["orders"].log_path.read_text()
    assert '"msg": "stopped"' in log  # the runtime drained before exiting
    assert took < GRACE_SECONDS, f"exit took {took:.1f}s"
    assert outcomes["201"] > 0
    assert not [k for k in outcomes if k.startswith("5")], outcomes

    await asyncio.to_thread(platform.restart, "orders")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{urls['inventory']}/products/{sku}") as resp:
            ledger = await resp.json()
        for order_id in created[:20]:
            async with http.get(f"{urls['orders']}/orders/{order_id}") as resp:
                assert resp.status == 200
                order = await resp.json()
                assert [e["event"] for e in order["timeline"]].count("order_created") == 1
        # A request the service had started is finished and answered, never cut off: a
        # connection closed without an answer belongs to a request it never processed.
        for order_id in cut_off:
            async with http.get(f"{urls['orders']}/orders/{order_id}") as resp:
                assert resp.status == 404, f"order {order_id} was processed, its caller cut off"
    # Every accepted order holds its unit exactly once (a reservation may also exist for a
    # request that was cut off before answering; it expires, it is never doubled).
    assert ledger["reserved"] >= len(created)
    assert ledger["reserved"] == 100000 - ledger["available"]


async def test_sigterm_ends_live_page_streams_at_once_with_reconnect(platform: Platform) -> None:
    """A live order page's stream never finishes by itself: at SIGTERM the storefront ends it
    with `reconnect` (the page opens it again, on another replica) instead of holding its
    shutdown until uvicorn cuts the stream off."""
    urls = platform.urls
    storefront = platform.procs["storefront"]
    platform.procs["notifications"].stop()  # no emails: the order never finishes
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            sku = f"LIVE-{uuid.uuid4().hex[:8]}"
            product = {"name": "live", "price_cents": 100, "stock": 10}
            async with http.put(f"{urls['inventory']}/products/{sku}", json=product) as resp:
                assert resp.status == 201
            body = {
                "customer_email": "live@example.com",
                "items": [{"sku": sku, "quantity": 1}],
                "payment_token": "tok_visa",
            }
            async with http.post(f"{urls['storefront']}/api/checkout", json=body) as resp:
                assert resp.status == 201, await resp.text()
                order_id = (await resp.json())["order_id"]
            async with http.get(f"{urls['storefront']}/orders/{order_id}/live") as stream:
                assert stream.status == 200
                first = await stream.content.readuntil(b"\n\n")
                assert first.startswith(b"event: order\n")
                proc = storefront.popen
                assert proc is not None
                proc.send_signal(signal.SIGTERM)
                rest = await asyncio.wait_for(stream.content.read(), 20)
            exit_code = await asyncio.to_thread(proc.wait, GRACE_SECONDS + 5)
    finally:
        for name in ("storefront", "notifications"):
            if not platform.procs[name].running:
                platform.procs[name].start()
                await asyncio.to_thread(platform.wait_ready, name)

    events = [line for line in rest.decode().splitlines() if line.startswith("event: ")]
    assert events[-1:] == ["event: reconnect"], rest
    assert exit_code in (0, -signal.SIGTERM)
    log = storefront.log_path.read_text()
    assert '"msg": "stopped"' in log
    assert "timeout graceful shutdown exceeded" not in log  # nothing was left to cut off
