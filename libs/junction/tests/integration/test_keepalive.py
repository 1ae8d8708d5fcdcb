"""Idle HTTP connections between services: the server closes them after
`http_keepalive_seconds`, and a service's client pool drops its own before that.

A request sent on a pooled connection at the moment the server closes it fails with
"Server disconnected" (a call that is not idempotent is then not retried). With aiohttp's
default pool (15 s) against uvicorn's default keep-alive (5 s), a request every 5 s hit
it about one time in five."""

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import uvicorn
from fastapi import FastAPI, Request

from junction.config import ServiceSettings
from junction.service import client_session, server_config
from junction_devtools.platform import free_ports

pytestmark = pytest.mark.integration

KEEPALIVE = 2  # seconds: the server's; the client's is half


@pytest.fixture
async def base() -> AsyncIterator[str]:
    """A real uvicorn server, configured as a service's is, answering with the client port
    of the connection each request came on."""
    app = FastAPI()

    @app.get("/port")
    async def port(request: Request) -> dict[str, int]:
        assert request.client is not None
        return {"port": request.client.port}

    settings = ServiceSettings(port=free_ports(["http"])["http"], http_keepalive_seconds=KEEPALIVE)
    server = uvicorn.Server(server_config(app, settings))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn sets a flag, not an event)
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{settings.port}"
    server.should_exit = True
    await task


async def port_of(session: aiohttp.ClientSession, base: str) -> int:
    async with session.get(f"{base}/port") as reply:
        assert reply.status == 200
        return int((await reply.json())["port"])


async def test_the_server_keeps_an_idle_connection_for_the_keepalive_and_no_longer(
    base: str,
) -> None:
    async with aiohttp.ClientSession() as plain:  # aiohttp's pool keeps connections 15 s
        first = await port_of(plain, base)
        await asyncio.sleep(KEEPALIVE * 0.7)
        assert await port_of(plain, base) == first  # still open on the server's side
        await asyncio.sleep(KEEPALIVE * 1.3)
        assert await port_of(plain, base) != first  # the server closed it


async def test_a_service_drops_an_idle_connection_before_the_server_would(base: str) -> None:
    session = client_session(ServiceSettings(http_keepalive_seconds=KEEPALIVE, http_pool_size=4))
    async with session:
        first = await port_of(session, base)
        await asyncio.sleep(0.1)
        assert await port_of(session, base) == first  # a fresh connection is reused
        # Past the client's half, short of the server's keep-alive: the server would still
        # take the old connection (the test above), but the client no longer sends on it.
        await asyncio.sleep(KEEPALIVE * 0.7)
        assert await port_of(session, base) != first
