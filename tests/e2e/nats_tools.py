"""Looking at JetStream directly: what the e2e suite checks beyond the HTTP APIs."""

from __future__ import annotations

import asyncio
import time

from nats.aio.client import Client
from nats.aio.msg import Msg

EVENT_STREAMS = ("ORDERS", "INVENTORY", "PAYMENTS", "NOTIFICATIONS")
# The reservation timer holds each message until its deadline: never idle by design.
TIMER_CONSUMERS = {"inventory-ReservationOpened"}


async def stream_messages(nc: Client, stream: str, contains: bytes) -> list[Msg]:
    """Every message in `stream` whose body contains `contains`."""
    js = nc.jetstream()
    sub = await js.pull_subscribe(">", stream=stream)
    found: list[Msg] = []
    try:
        while True:
            try:
                batch = await sub.fetch(256, timeout=0.5)
            except TimeoutError:
                return found
            for msg in batch:
                if contains in msg.data:
                    found.append(msg)
                await msg.ack()
    finally:
        await sub.unsubscribe()


async def wait_consumers_idle(nc: Client, timeout: float = 20.0) -> None:
    """Wait until every durable consumer has nothing pending or unacknowledged."""
    js = nc.jetstream()
    deadline = time.monotonic() + timeout
    while True:
        busy = []
        for stream in EVENT_STREAMS:
            for info in await js.consumers_info(stream):
                name = info.config.durable_name
                if name is None or name in TIMER_CONSUMERS:
                    continue
                if info.num_pending or info.num_ack_pending:
                    busy.append((name, info.num_pending, info.num_ack_pending))
        if not busy:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"consumers still busy: {busy}")
        await asyncio.sleep(0.1)
