"""One way to run a service: its NATS connection, streams, buckets, consumers, outbox
relays, downstream clients and HTTP app, started in order and stopped gracefully."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import uvicorn
from fastapi import APIRouter, FastAPI
from purgatory import AsyncCircuitBreakerFactory
from starlette.middleware import Middleware

from junction.client import ClientPolicy, ServiceClient
from junction.config import ServiceSettings
from junction.connection import (
    connect,
    declare_streams,
    make_broker,
    wait_for_streams,
    when_ready,
)
from junction.contracts.catalogue import CONSUMERS, DEAD_LETTERS, StreamSpec
from junction.contracts.events import E, event_type
from junction.logs import setup_logging
from junction.messaging.consumer import EventConsumer, durable_consumer
from junction.messaging.dead_letters import DeadLetters
from junction.messaging.publisher import JetStreamPublisher
from junction.store.bucket import NatsBucket, open_bucket
from junction.store.outbox import OutboxRelay
from junction.telemetry import setup_telemetry
from junction.web.app import build_app

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

logger = logging.getLogger(__name__)

# Services the catalogue knows: each may consume only what it is listed for.
PLATFORM_SERVICES = frozenset({"storefront"} | {s for c in CONSUMERS.values() for s in c})

Hook = Callable[["ServiceRuntime"], Awaitable[None]]


class Subscribe(Protocol):
    """Register a handler for one event type (what a service's `subscribers.register`
    is given: `ServiceRuntime.subscribe`, or a recorder in tests)."""

    def __call__(
        self,
        event: type[E],
        handler: Callable[[E], Awaitable[None]],
        *,
        max_ack_pending: int | None = None,
    ) -> None: ...


def tune_gc(young_threshold: int) -> None:
    """Tune CPython's cyclic garbage collector for a long-running service, once it is up.

    What is alive after start-up (modules, the app, schemas, clients) lives as long as the
    process: it is collected once, then frozen (`gc.freeze`), so later full collections no
    longer walk it. Young collections run every `young_threshold` allocations instead of
    every 700: under load a request allocates hundreds of objects, and spans waiting in the
    export batch survive young collections and push older ones into full collections.
    Measured in docs/decisions/0003-gc-tuning.md.
    """
    if young_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold, older, oldest)


class ServiceRuntime:
    """Everything a Junction service process shares, built from its settings."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        owns: Iterable[StreamSpec] = (),
        consumes: Iterable[StreamSpec] = (),
    ) -> None:
        self.settings = settings
        self.owns = list(owns)
        self.consumes = list(consumes)
        setup_logging(settings.service_name, settings.log_level, json_lines=settings.log_json)
        self.tracer_provider = setup_telemetry(settings)
        # Junction's own spans: server (telemetry.ServerSpans), publish and consume
        # (messaging), service-to-service calls (client).
        self.tracer = (
            self.tracer_provider.get_tracer("junction")
            if self.tracer_provider is not None
            else None
        )
        self.broker = make_broker(settings)
        self.publisher = JetStreamPublisher(self.broker, self.tracer)
        self.dead_letters = DeadLetters(self.broker)
        self.breakers = AsyncCircuitBreakerFactory(
            default_threshold=settings.breaker_threshold, default_ttl=settings.breaker_reset_seconds
        )
        self.ready = False
        self._shutting_down = False
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._startup_hooks: list[Hook] = []
        self._shutdown_hooks: list[Hook] = []
        self._drain_hooks: list[Callable[[], None]] = []
        self._relays: list[OutboxRelay] = []
        self._consumers: list[EventConsumer[Any]] = []
        self._session: aiohttp.ClientSession | None = None

    # -- composition ---------------------------------------------------------------------

    def on_startup(self, hook: Hook) -> Hook:
        """Run `hook` at start, once NATS and the streams are there (open buckets here)."""
        self._startup_hooks.append(hook)
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        """Run `hook` at shutdown, after the consumers have stopped (close clients here)."""
        self._shutdown_hooks.append(hook)
        return hook

    def on_drain(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Run `hook` once the server starts to stop, before it waits for open requests to
        finish: end here what never finishes by itself (a live page's stream)."""
        self._drain_hooks.append(hook)
        return hook

    def drain(self) -> None:
        """Readiness off and the drain hooks run, once: the first step of a shutdown."""
        if self._shutting_down:
            return
        self.ready = False
        self._shutting_down = True
        for hook in self._drain_hooks:
            try:
                hook()
            except Exception as exc:
                logger.warning("drain hook failed", extra={"error": repr(exc)})

    def subscribe(
        self,
        event: type[E],
        handler: Callable[[E], Awaitable[None]],
        *,
        max_ack_pending: int | None = None,
    ) -> None:
        """Consume `event` with `handler`, through this service's durable consumer."""
        name = event_type(event)
        service = self.settings.service_name
        if service in PLATFORM_SERVICES and service not in CONSUMERS[name]:
            raise ValueError(
                f"{self.settings.service_name} is not a consumer of {name} in "
                "junction.contracts.catalogue.CONSUMERS: add it there first"
            )
        self._consumers.append(
            durable_consumer(
                self.settings,
                event,
                handler,
                self.dead_letters,
                max_ack_pending=max_ack_pending,
                tracer=self.tracer,
            )
        )

    @property
    def consumers(self) -> list[EventConsumer[Any]]:
        """The consumers registered with `subscribe`."""
        return list(self._consumers)

    @property
    def nats(self) -> Client:
        """The NATS client (nats-py), once connected: for plain subscriptions."""
        if self._nc is None:
            raise RuntimeError("not connected yet: use it in an on_startup hook")
        return self._nc

    @property
    def jetstream(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("not connected yet: open buckets in an on_startup hook")
        return self._js

    async def bucket(self, name: str, *, ttl: float | None = None) -> NatsBucket:
        """Open this service's key-value bucket, creating it if needed."""
        js, replicas = self.jetstream, self.settings.js_replicas
        return await when_ready(
            lambda: open_bucket(js, name, replicas=replicas, ttl=ttl),
            self.settings.streams_wait_seconds,
        )

    def relay(self) -> OutboxRelay:
        """An outbox relay (started and drained with the service); give it to the stores."""
        relay = OutboxRelay(self.publisher, clear_delay=self.settings.outbox_clear_delay_seconds)
        self._relays.append(relay)
        return relay

    def client(self, name: str, base_url: str) -> ServiceClient:
        """The client for one downstream service (one shared connection pool)."""
        policy = ClientPolicy(
            timeout_seconds=self.settings.http_timeout_seconds,
            retry_attempts=self.settings.http_retry_attempts,
            breaker_threshold=self.settings.breaker_threshold,
            breaker_reset_seconds=self.settings.breaker_reset_seconds,
        )
        return ServiceClient(name, base_url, self.session, policy, self.breakers, self.tracer)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = client_session(self.settings)
        return self._session

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        started = time.monotonic()
        self._nc = await connect(self.broker, s.streams_wait_seconds)
        self._js = self._nc.jetstream()
        js = self._js
        await when_ready(
            lambda: declare_streams(
                js,
                [*self.owns, DEAD_LETTERS],
                replicas=s.js_replicas,
                duplicate_window=s.js_duplicate_window_seconds,
            ),
            s.streams_wait_seconds,
        )
        await wait_for_streams(self._js, [c.name for c in self.consumes], s.streams_wait_seconds)
        for hook in self._startup_hooks:
            await hook(self)
        await self.broker.start()
        for consumer in self._consumers:
            # Settings changed since the last run take effect.
            await when_ready(partial(consumer.declare, js), s.streams_wait_seconds)
            await consumer.start(self._js, self._nc)
        for relay in self._relays:
            relay.start_sweeper(s.outbox_sweep_interval_seconds)
        tune_gc(s.gc_young_threshold)
        self.ready = True
        logger.info(
            "ready", extra={"port": s.port, "startup_s": round(time.monotonic() - started, 3)}
        )

    async def stop(self) -> None:
        """Readiness off, finish in-flight messages, flush the outbox, drain NATS."""
        self.drain()  # already done when uvicorn began the shutdown (`serve`)
        grace = self.settings.shutdown_grace_seconds
        await asyncio.gather(*(c.stop(timeout=grace / 3) for c in self._consumers))
        for hook in self._shutdown_hooks:
            try:
                await hook(self)
            except Exception as exc:
                logger.warning("shutdown hook failed", extra={"error": repr(exc)})
        for relay in self._relays:
            await relay.close(timeout=grace / 6)
        if self._session is not None:
            await self._session.close()
        await self.broker.stop()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        logger.info("stopped")

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def is_ready(self) -> bool:
        return self.ready and self._nc is not None and bool(self._nc.is_connected)

    # -- HTTP ----------------------------------------------------------------------------

    def http_app(
        self,
        *routers: APIRouter,
        title: str | None = None,
        form_paths: frozenset[str] = frozenset(),
        middleware: Sequence[Middleware] = (),
    ) -> FastAPI:
        """The service's FastAPI app, started and stopped with this runtime."""

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = build_app(
            routers,
            title=title or f"junction {self.settings.service_name}",
            version=self.settings.service_version,
            readiness=self,
            max_body_bytes=self.settings.max_body_bytes,
            tracer=self.tracer,
            lifespan=lifespan,
            form_paths=form_paths,
            middleware=middleware,
        )
        app.state.runtime = self
        return app

    def serve(self, app: FastAPI) -> None:
        """Run the app under uvicorn until SIGTERM/SIGINT, then shut down gracefully."""
        DrainingServer(server_config(app, self.settings), self).run()


def server_config(app: FastAPI, settings: ServiceSettings) -> uvicorn.Config:
    """How a service's HTTP server runs: on its host and port, closing connections idle
    for `http_keepalive_seconds`, giving open requests half the shutdown grace."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_keep_alive=settings.http_keepalive_seconds,
        timeout_graceful_shutdown=max(1, int(settings.shutdown_grace_seconds / 2)),
        lifespan="on",
    )


def client_session(settings: ServiceSettings) -> aiohttp.ClientSession:
    """The pool every downstream client of a service shares. It drops a connection idle
    for half the servers' keep-alive: reused at the moment the server closes it, a
    connection fails the request sent on it (and one not idempotent is not retried)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=settings.http_pool_size,
            keepalive_timeout=settings.http_keepalive_seconds / 2,
        )
    )


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining the runtime as its shutdown begins: uvicorn then waits up
    to `timeout_graceful_shutdown` for open requests to finish, which a stream never does by
    itself (it would be cut off at the timeout, and the shutdown take that long)."""

    def __init__(self, config: uvicorn.Config, runtime: ServiceRuntime) -> None:
        super().__init__(config)
        self.runtime = runtime

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.runtime.drain()
        await super().shutdown(sockets)
