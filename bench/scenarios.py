"""One benchmark scenario per process (telemetry is process-wide), printing JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid

import nats
from nats.js import api

from junction.config import ServiceSettings
from junction.events import ORDERS, Event
from junction.runtime import ServiceRuntime


async def jetstream_raw(url: str, count: int, inflight: int) -> dict[str, float]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    subject = f"bench.raw.{uuid.uuid4().hex[:8]}"
    stream = f"BENCH_{uuid.uuid4().hex[:8]}"
    await js.add_stream(
        api.StreamConfig(name=stream, subjects=[subject], storage=api.StorageType.FILE)
    )
    payload = Event(type="OrderCreated", source="orders", order_id="x").model_dump_json().encode()
    started = time.perf_counter()
    for start in range(0, count, inflight):
        await asyncio.gather(
            *(
                js.publish(subject, payload, headers={"Nats-Msg-Id": f"{i}"})
                for i in range(start, min(start + inflight, count))
            )
        )
    publish_s = time.perf_counter() - started
    sub = await js.pull_subscribe(subject, durable="raw", stream=stream)
    handled = 0
    started = time.perf_counter()  # the raw consumer starts fetching at once
    while handled < count:
        for msg in await sub.fetch(64, timeout=5):
            json.loads(msg.data)
            await msg.ack()
            handled += 1
    consume_s = time.perf_counter() - started
    await nc.close()
    return {"publish_per_s": count / publish_s, "consume_per_s": count / consume_s}


async def jetstream_junction(url: str, count: int, inflight: int) -> dict[str, float]:
    settings = ServiceSettings(
        service_name=f"bench-{uuid.uuid4().hex[:8]}", nats_url=url, log_level="WARNING"
    )
    runtime = ServiceRuntime(settings, owns=[ORDERS])
    await runtime.broker.connect()
    from junction.messaging import declare_streams

    await declare_streams(
        runtime.broker.config.connection_state.stream, [ORDERS], replicas=1, duplicate_window=120
    )
    order_id = uuid.uuid4().hex
    events = [Event(type="OrderCreated", source="orders", order_id=order_id) for _ in range(count)]
    started = time.perf_counter()
    for start in range(0, count, inflight):
        await asyncio.gather(
            *(runtime.publisher.publish(e) for e in events[start : start + inflight])
        )
    publish_s = time.perf_counter() - started

    done = asyncio.Event()
    handled = 0
    first = 0.0

    async def handler(event: Event) -> None:
        nonlocal handled, first
        if event.order_id == order_id:
            handled += 1
            if handled == 1:
                first = time.perf_counter()
            if handled == count:
                done.set()

    runtime.subscribe("orders", "OrderCreated", handler)
    await runtime.start()
    await asyncio.wait_for(done.wait(), timeout=120)
    # From the first message handled to the last: start-up (connect, declare) is not counted.
    consume_s = (time.perf_counter() - first) * count / max(count - 1, 1)
    await runtime.stop()
    return {"publish_per_s": count / publish_s, "consume_per_s": count / consume_s}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["jetstream-raw", "jetstream-junction"])
    parser.add_argument("--nats", required=True)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--inflight", type=int, default=64)
    args = parser.parse_args()
    os.environ.setdefault("JUNCTION_LOG_LEVEL", "WARNING")
    run = jetstream_raw if args.scenario == "jetstream-raw" else jetstream_junction
    print(json.dumps(asyncio.run(run(args.nats, args.count, args.inflight))))


if __name__ == "__main__":
    main()
