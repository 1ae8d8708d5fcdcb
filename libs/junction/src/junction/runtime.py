"""One way to start a service: NATS connection, streams, buckets, subscribers, HTTP app,
health, graceful shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager

import aiohttp
import uvicorn
from fastapi import APIRouter, FastAPI
from faststream.nats import NatsBroker
from faststream.nats.security import NatsUserPassword
from nats.js import api
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue
from purgatory import AsyncCircuitBreakerFactory
from tenacity import AsyncRetrying, stop_after_delay, wait_exponential

from junction.config import ServiceSettings
from junction.events import DEAD_LETTERS, StreamSpec
from junction.http import ClientPolicy, ServiceClient
from junction.logs import setup_logging
from junction.messaging import (
    DeadLetters,
    EventConsumer,
    EventHandler,
    JetStreamPublisher,
    declare_streams,
    stream_exists,
    subscribe,
)
from junction.outbox import OutboxRelay
from junction.telemetry import ServerSpans, setup_telemetry
from junction.web import install_http_basics

logger = logging.getLogger(__name__)

PROBE_PATHS = frozenset({"/healthz", "/readyz"})  # not traced: probes, every few seconds

Hook = Callable[["ServiceRuntime"], Awaitable[None]]


def tune_gc(young_threshold: int) -> None:
    """Tune CPython's cyclic garbage collector for a long-running service, once it is up.

    What is alive after start-up (modules, the app, schemas, clients) lives as long as the
    process: it is collected once, then frozen (`gc.freeze`), so later full collections no
    longer walk it. Young collections run every `young_threshold` allocations instead of
    every 700: under load a request allocates hundreds of objects, and spans waiting in the
    export batch survive young collections and push older ones into full collections.
    Measured with bench/'s HTTP hop (3 runs in turn, 6 s each, 32 clients): 3,150 req/s
    with the collector as CPython sets it (`JUNCTION_GC_YOUNG_THRESHOLD=0`), 3,970 frozen
    only (`=700`, CPython's own threshold), 4,530 frozen and at 10,000; with every trace
    recorded 1,750, 1,850 and 1,920. The whole checkout (k6 at 40/s, two runs each way in
    turn) showed no difference beyond the noise: 39.5 and 42.4 ms of CPU per checkout
    untuned, 41.4 and 40.6 tuned. Every `make bench` variable reaches the services, so
    `JUNCTION_GC_YOUNG_THRESHOLD=0 make bench` is the comparison.
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
        # (messaging), service-to-service calls (http).
        self.tracer = (
            self.tracer_provider.get_tracer("junction")
            if self.tracer_provider is not None
            else None
        )
        self.broker = NatsBroker(
            settings.nats_url.split(","),  # one URL, or every node of a cluster
            security=(
                NatsUserPassword(username=settings.nats_user, password=settings.nats_password)
                if settings.nats_user and settings.nats_password
                else None
            ),
            name=settings.service_name,
            connect_timeout=int(max(1, settings.nats_connect_timeout_seconds)),
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            # Shutdown budget, all within shutdown_grace_seconds: HTTP requests 1/2,
            # in-flight messages 1/3, outbox flush 1/6.
            graceful_timeout=settings.shutdown_grace_seconds / 3,
            # Consumers run their own pull loops (messaging.EventConsumer); the broker
            # connects and publishes, without dependency injection or per-message logging.
            apply_types=False,
            logger=None,
        )
        self.publisher = JetStreamPublisher(self.broker, self.tracer)
        self.dead_letters = DeadLetters(self.broker)
        self.breakers = AsyncCircuitBreakerFactory(
            default_threshold=settings.breaker_threshold, default_ttl=settings.breaker_reset_seconds
        )
        self.ready = False
        self.shutting_down = False
        self._startup_hooks: list[Hook] = []
        self._shutdown_hooks: list[Hook] = []
        self._relays: list[OutboxRelay] = []
        self._consumers: list[EventConsumer] = []
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

    def subscribe(
        self,
        source: str,
        event_type: str,
        handler: EventHandler,
        *,
        max_ack_pending: int | None = None,
    ) -> None:
        """Consume `event_type` events from `source`'s stream with `handler`."""
        consumer = subscribe(
            self.settings,
            source=source,
            event_type=event_type,
            handler=handler,
            dead_letters=self.dead_letters,
            max_ack_pending=max_ack_pending,
            tracer=self.tracer,
        )
        self._consumers.append(consumer)

    @property
    def consumers(self) -> list[EventConsumer]:
        """The consumers registered with `subscribe`."""
        return list(self._consumers)

    async def bucket(self, name: str, *, ttl: float | None = None) -> KeyValue:
        """Open this service's KV bucket, creating it (file storage, replicas, and an entry
        time-to-live when given) if needed.

        Reads are direct gets (`allow_direct`, as the NATS CLI and nats.go create buckets):
        the server answers from the stream without its JSON API, and the client decodes no
        base64 or JSON envelope (that decoding stood out in profiles under load).
        """
        js = self.broker.config.connection_state.stream
        kv: KeyValue
        try:
            kv = await js.key_value(name)
        except BucketNotFoundError:
            kv = await js.create_key_value(
                api.KeyValueConfig(
                    bucket=name,
                    history=1,
                    storage=api.StorageType.FILE,
                    replicas=self.settings.js_replicas,
                    ttl=ttl,
                    direct=True,
                )
            )
            return kv
        info = await js.stream_info(f"KV_{name}")
        if not info.config.allow_direct:  # created by an earlier version
            info.config.allow_direct = True
            await js.update_stream(info.config)
            kv = await js.key_value(name)
        return kv

    def relay(self, kv: KeyValue) -> OutboxRelay:
        """The outbox relay for one bucket (started and drained with the service)."""
        relay = OutboxRelay(kv, self.publisher, cas_attempts=self.settings.cas_attempts)
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
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.settings.http_pool_size)
            )
        return self._session

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        started = time.monotonic()
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(s.streams_wait_seconds),
            wait=wait_exponential(multiplier=0.1, max=2),
            reraise=True,
        ):
            with attempt:
                await self.broker.connect()
        js = self.broker.config.connection_state.stream
        await declare_streams(
            js,
            [*self.owns, DEAD_LETTERS],
            replicas=s.js_replicas,
            duplicate_window=s.js_duplicate_window_seconds,
        )
        await self._wait_for_streams([c.name for c in self.consumes])
        for hook in self._startup_hooks:
            await hook(self)
        await self.broker.start()
        for consumer in self._consumers:
            await consumer.declare(js)  # settings changed since the last run take effect
            await consumer.start(js, self.broker.config.connection_state.connection)
        for relay in self._relays:
            relay.start_sweeper(s.outbox_sweep_interval_seconds)
        tune_gc(s.gc_young_threshold)
        self.ready = True
        logger.info(
            "ready", extra={"port": s.port, "startup_s": round(time.monotonic() - started, 3)}
        )

    async def _wait_for_streams(self, names: list[str]) -> None:
        js = self.broker.config.connection_state.stream
        deadline = time.monotonic() + self.settings.streams_wait_seconds
        for name in names:
            while not await stream_exists(js, name):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"stream {name} was not declared by its owner in time")
                logger.info("waiting for stream", extra={"stream": name})
                await asyncio.sleep(0.25)

    async def stop(self) -> None:
        """Readiness off, finish in-flight messages, flush the outbox, drain NATS."""
        self.ready = False
        self.shutting_down = True
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

    def is_ready(self) -> bool:
        if not self.ready:
            return False
        state = self.broker.config.connection_state
        return bool(state) and bool(state.connection.is_connected)

    # -- HTTP ----------------------------------------------------------------------------

    def http_app(self, *routers: APIRouter, title: str | None = None) -> FastAPI:
        """The service's FastAPI app: its routers, health, error handling, telemetry."""

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(
            title=title or f"junction {self.settings.service_name}",
            version=self.settings.service_version,
            lifespan=lifespan,
            # Server spans come from junction.telemetry.ServerSpans (cheaper, see there).
            telemetry={"tracing": False, "metrics": False, "logs": False},
        )
        app.state.runtime = self
        install_http_basics(app, self)
        for router in routers:
            app.include_router(router)
        if self.tracer is not None:  # outermost: X-Trace-Id and error bodies see its span
            app.add_middleware(ServerSpans, tracer=self.tracer, exclude=PROBE_PATHS)
        return app

    def serve(self, app: FastAPI) -> None:
        """Run the app under uvicorn until SIGTERM/SIGINT, then shut down gracefully."""
        config = uvicorn.Config(
            app,
            host=self.settings.host,
            port=self.settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=max(1, int(self.settings.shutdown_grace_seconds / 2)),
            lifespan="on",
        )
        uvicorn.Server(config).run()
