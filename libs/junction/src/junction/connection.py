"""The NATS connection of a service, and the streams it declares.

The connection is FastStream's `NatsBroker` (it connects, reconnects and publishes); the
JetStream context for streams, buckets and consumers comes from the broker's public
`connect()`, the nats-py client, through nats-py's public API."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from faststream.nats import NatsBroker
from faststream.nats.security import NatsUserPassword
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import api
from nats.js.errors import (
    BadRequestError,
    NoStreamResponseError,
    NotFoundError,
    ServiceUnavailableError,
)
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from junction.config import ServiceSettings
from junction.contracts.catalogue import StreamSpec

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

logger = logging.getLogger(__name__)

T = TypeVar("T")


def make_broker(settings: ServiceSettings) -> NatsBroker:
    """The service's broker: every NATS URL given, its own user, reconnecting forever."""
    return NatsBroker(
        settings.nats_url.split(","),  # one URL, or every node of a cluster
        security=(
            NatsUserPassword(username=settings.nats_user, password=settings.nats_password)
            if settings.nats_user and settings.nats_password
            else None
        ),
        name=settings.service_name,
        connect_timeout=int(max(1, settings.nats_connect_timeout_seconds)),
        ping_interval=int(max(1, settings.nats_ping_interval_seconds)),
        max_outstanding_pings=settings.nats_max_outstanding_pings,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        # Shutdown budget, all within shutdown_grace_seconds: HTTP requests 1/2,
        # in-flight messages 1/3, outbox flush 1/6.
        graceful_timeout=settings.shutdown_grace_seconds / 3,
        # Consumers run their own pull loops (messaging.consumer); the broker connects and
        # publishes, without dependency injection or per-message logging.
        apply_types=False,
        logger=None,
    )


async def connect(broker: NatsBroker, wait_seconds: float) -> Client:
    """Connect, retrying with backoff for up to `wait_seconds`; the nats-py client."""
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(wait_seconds),
        wait=wait_exponential(multiplier=0.1, max=2),
        reraise=True,
    ):
        with attempt:
            client: Client = await broker.connect()
    return client


def stream_config(spec: StreamSpec, *, replicas: int, duplicate_window: float) -> api.StreamConfig:
    """The configuration a stream is declared with: file storage, replicas from settings."""
    return api.StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        storage=api.StorageType.FILE,
        retention=api.RetentionPolicy.LIMITS,
        num_replicas=replicas,
        duplicate_window=duplicate_window,
        max_age=7 * 24 * 3600,
    )


async def declare_streams(
    js: JetStreamContext, specs: Iterable[StreamSpec], *, replicas: int, duplicate_window: float
) -> None:
    """Create or update the streams this service owns (idempotent)."""
    for spec in specs:
        config = stream_config(spec, replicas=replicas, duplicate_window=duplicate_window)
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Exists with another configuration: bring it to ours.
            await js.update_stream(config)


async def stream_exists(js: JetStreamContext, name: str) -> bool:
    try:
        await js.stream_info(name)
    except NotFoundError:
        return False
    return True


# JetStream's answers while a cluster is still electing its leaders (or a node restarts):
# worth waiting out at start-up, not worth dying for.
NOT_YET = (NatsTimeoutError, ServiceUnavailableError, NoStreamResponseError)


async def wait_for_streams(js: JetStreamContext, names: list[str], timeout: float) -> None:
    """Wait until the streams this service consumes have been declared by their owners."""
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            try:
                if await stream_exists(js, name):
                    break
                logger.info("waiting for stream", extra={"stream": name})
            except NOT_YET as exc:
                logger.info("JetStream not answering yet", extra={"error": repr(exc)})
            if time.monotonic() > deadline:
                raise RuntimeError(f"stream {name} was not declared by its owner in time")
            await asyncio.sleep(0.25)


async def when_ready(call: Callable[[], Awaitable[T]], timeout: float) -> T:
    """`call()`, retried while JetStream is not answering yet (for up to `timeout`): the
    declarations of a service starting beside a cluster that is still electing."""
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(timeout),
        wait=wait_exponential(multiplier=0.1, max=2),
        retry=retry_if_exception_type(NOT_YET),
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover
