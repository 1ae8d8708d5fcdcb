"""Pytest fixtures shared by the test tiers: a real nats-server on a free port."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import nats
import pytest
from fastapi import APIRouter, FastAPI
from nats.aio.client import Client
from opentelemetry import propagate

from junction.config import ServiceSettings
from junction.telemetry import PROPAGATORS
from junction.web.app import AlwaysReady, build_app
from junction_devtools.platform import free_ports, http_ok, nats_config, nats_server_binary

if TYPE_CHECKING:
    from starlette.types import ASGIApp


@dataclass
class NatsServer:
    url: str
    monitor_url: str
    store_dir: Path
    process: subprocess.Popen[bytes]


def start_nats(tmp: Path, *, sync_interval: str | None = "always") -> NatsServer:
    """A nats-server with JetStream in `tmp`; every write synced unless `sync_interval` is
    None (NATS's default: for tests that fill a stream and are not about durability)."""
    ports = free_ports(["nats", "monitor"])
    store = tmp / "jetstream"
    store.mkdir(parents=True, exist_ok=True)
    conf = tmp / "nats.conf"
    conf.write_text(
        nats_config(
            store,
            ports["nats"],
            ports["monitor"],
            name="junction-test",
            sync_interval=sync_interval,
        )
    )
    log = (tmp / "nats.log").open("wb")
    proc = subprocess.Popen([nats_server_binary(), "-c", str(conf)], stdout=log, stderr=log)
    monitor = f"http://127.0.0.1:{ports['monitor']}"
    deadline = time.monotonic() + 15
    while not http_ok(f"{monitor}/healthz?js-enabled-only=true"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"nats-server did not start: {(tmp / 'nats.log').read_text()}")
        time.sleep(0.05)
    return NatsServer(f"nats://127.0.0.1:{ports['nats']}", monitor, store, proc)


async def fill_bucket(nc: Client, bucket: str, entries: Iterable[tuple[str, bytes]]) -> int:
    """Write `entries` (key, value) into an empty bucket with plain publishes to its
    subjects, which its stream stores as puts (far faster than a request per key, for
    filling a large bucket), and wait until the stream holds them all; the count."""
    count = 0
    for key, value in entries:
        await nc.publish(f"$KV.{bucket}.{key}", value)
        count += 1
        if count % 10_000 == 0:
            await nc.flush()
    await nc.flush()
    js = nc.jetstream()
    for _ in range(600):  # stored once the server has taken every publish
        if (await js.stream_info(f"KV_{bucket}")).state.messages >= count:
            return count
        await asyncio.sleep(0.1)
    raise TimeoutError(f"KV_{bucket} did not store {count} entries within 60 s")


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A real nats-server with JetStream (file storage, sync always) for the session."""
    server = start_nats(tmp_path_factory.mktemp("nats"))
    yield server
    server.process.terminate()
    server.process.wait(10)


@pytest.fixture
def junction_propagators() -> Iterator[None]:
    """Junction's propagators installed, as `setup_telemetry` does, for the test's length."""
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(PROPAGATORS)
    yield
    propagate.set_global_textmap(before)


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    yield client
    await client.drain()


def asgi_scope(method: str, path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The ASGI scope of one HTTP/1.1 request without a body."""
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"content-length", b"0")]
        + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("test", 1),
        "root_path": "",
    }


async def no_body() -> dict[str, Any]:
    """ASGI `receive` of a request without a body."""
    return {"type": "http.request", "body": b"", "more_body": False}


async def asgi_call(
    app: ASGIApp, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One request straight into the ASGI app: (status, headers, JSON body)."""
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(asgi_scope(method, path, headers), no_body, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    answer_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], answer_headers, json.loads(body) if body else None


def service_app(
    *routers: APIRouter,
    deps: object,
    settings: ServiceSettings,
    form_paths: frozenset[str] = frozenset(),
) -> FastAPI:
    """A service's HTTP app as it serves, without its runtime: the routes, error answers
    and middleware, with `deps` built from fakes (route tests)."""
    app = build_app(
        routers,
        title=f"test {settings.service_name}",
        version=settings.service_version,
        readiness=AlwaysReady(),
        max_body_bytes=settings.max_body_bytes,
        form_paths=form_paths,
    )
    app.state.deps = deps
    return app


def http_client(app: FastAPI) -> httpx.AsyncClient:
    """An HTTP client that calls `app` in this process (no server, no lifespan)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
