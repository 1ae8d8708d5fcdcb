"""The service-to-service client against a real HTTP server."""

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from purgatory import AsyncCircuitBreakerFactory

from junction.errors import DependencyUnavailable
from junction.http import ClientPolicy, ServiceClient
from junction_devtools.platform import free_ports

pytestmark = pytest.mark.integration


class Downstream:
    def __init__(self) -> None:
        self.calls = 0
        self.fail_first = 0
        self.delay = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.calls <= self.fail_first:
            return web.json_response({"error": "busy"}, status=503)
        return web.json_response({"ok": True, "calls": self.calls})


@pytest.fixture
async def downstream() -> AsyncIterator[tuple[Downstream, str]]:
    state = Downstream()
    app = web.Application()
    app.router.add_route("*", "/thing", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_ports(["http"])["http"]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield state, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def client(
    base: str, session: aiohttp.ClientSession, *, timeout: float = 1.0, threshold: int = 5
) -> ServiceClient:
    policy = ClientPolicy(
        timeout_seconds=timeout,
        retry_attempts=3,
        breaker_threshold=threshold,
        breaker_reset_seconds=30,
    )
    return ServiceClient("thing", base, session, policy, AsyncCircuitBreakerFactory())


async def test_idempotent_calls_are_retried_on_503(
    downstream: tuple[Downstream, str], session: aiohttp.ClientSession
) -> None:
    state, base = downstream
    state.fail_first = 2
    answer = await client(base, session).post("/thing", {}, idempotent=True)
    assert answer.status == 200 and state.calls == 3


async def test_non_idempotent_calls_are_not_retried(
    downstream: tuple[Downstream, str], session: aiohttp.ClientSession
) -> None:
    state, base = downstream
    state.fail_first = 1
    with pytest.raises(DependencyUnavailable):
        await client(base, session).post("/thing", {}, idempotent=False)
    assert state.calls == 1


async def test_a_slow_downstream_times_out(
    downstream: tuple[Downstream, str], session: aiohttp.ClientSession
) -> None:
    state, base = downstream
    state.delay = 1.0
    with pytest.raises(DependencyUnavailable, match=r"Timeout"):
        await client(base, session, timeout=0.1).get("/thing")


async def test_the_breaker_opens_and_stops_calling(
    downstream: tuple[Downstream, str], session: aiohttp.ClientSession
) -> None:
    state, base = downstream
    state.fail_first = 1000
    c = client(base, session, threshold=2)
    for _ in range(3):
        with pytest.raises(DependencyUnavailable):
            await c.post("/thing", {}, idempotent=False)
    calls = state.calls
    with pytest.raises(DependencyUnavailable, match="circuit breaker open"):
        await c.post("/thing", {}, idempotent=False)
    assert state.calls == calls


async def test_an_unreachable_service_is_unavailable(session: aiohttp.ClientSession) -> None:
    port = free_ports(["closed"])["closed"]
    with pytest.raises(DependencyUnavailable, match="thing is unavailable"):
        await client(f"http://127.0.0.1:{port}", session).get("/thing")
