"""One benchmark scenario per process (telemetry is process-wide), printing JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid

import nats
from nats.js import api

from junction.config import ServiceSettings
from junction.connection import connect, declare_streams
from junction.contracts.catalogue import ORDERS
from junction.contracts.common import OrderLine
from junction.contracts.events import OrderCreated, OrderSummary
from junction.service import ServiceRuntime, tune_gc


async def jetstream_raw(url: str, count: int, inflight: int) -> dict[str, float]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    subject = f"bench.raw.{uuid.uuid4().hex[:8]}"
    stream = f"BENCH_{uuid.uuid4().hex[:8]}"
    await js.add_stream(
        api.StreamConfig(name=stream, subjects=[subject], storage=api.StorageType.FILE)
    )
    payload = order_created("x", {}).model_dump_json().encode()
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, count, inflight):
        await asyncio.gather(
            *(
                js.publish(subject, payload, headers={"Nats-Msg-Id": f"{i}"})
                for i in range(start, min(start + inflight, count))
            )
        )
    publish_s = time.perf_counter() - started
    publish_cpu = time.process_time() - cpu
    sub = await js.pull_subscribe(subject, durable="raw", stream=stream)
    handled = 0
    # The raw consumer starts fetching at once.
    started, cpu = time.perf_counter(), time.process_time()
    while handled < count:
        for msg in await sub.fetch(64, timeout=5):
            json.loads(msg.data)
            await msg.ack()
            handled += 1
    consume_s = time.perf_counter() - started
    consume_cpu = time.process_time() - cpu
    await nc.close()
    return per_message(count, publish_s, consume_s, publish_cpu, consume_cpu)


def per_message(
    count: int, publish_s: float, consume_s: float, publish_cpu: float, consume_cpu: float
) -> dict[str, float]:
    """Rates, and the CPU (every thread of this process) per message, in microseconds."""
    return {
        "publish_per_s": count / publish_s,
        "consume_per_s": count / consume_s,
        "publish_cpu_us": 1e6 * publish_cpu / count,
        "consume_cpu_us": 1e6 * consume_cpu / count,
    }


def order_created(order_id: str, trace: dict[str, str]) -> OrderCreated:
    """An OrderCreated as orders publishes it: one line, its summary."""
    line = OrderLine(sku="JNC-MUG", quantity=1, price_cents=1200)
    summary = OrderSummary(customer_email="bench@example.com", total_cents=1200, items=[line])
    return OrderCreated(order_id=order_id, data=summary, trace=trace)


def flush_spans(runtime: ServiceRuntime) -> None:
    """Export every span ended so far (a no-op with telemetry off). The batch processor
    exports every 2 s: without this, the spans of one phase would be encoded and
    sent while the next is timed (a consume phase lasts a second or two)."""
    if runtime.tracer_provider is not None:
        runtime.tracer_provider.force_flush()


def carrier(settings: ServiceSettings) -> dict[str, str]:
    """The trace context an event carries in the platform: that of the request which caused
    it (the store copies it into the outbox), whose head already decided whether to record
    the trace. Empty with telemetry off, as there is no span to copy."""
    if not settings.telemetry_enabled:
        return {}
    flags = "01" if random.random() < settings.telemetry_sample_ratio else "00"
    return {"traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-{flags}"}


async def jetstream_junction(url: str, count: int, inflight: int) -> dict[str, float]:
    settings = ServiceSettings(
        service_name=f"bench-{uuid.uuid4().hex[:8]}", nats_url=url, log_level="WARNING"
    )
    runtime = ServiceRuntime(settings, owns=[ORDERS])
    js = (await connect(runtime.broker, 10)).jetstream()
    await declare_streams(js, [ORDERS], replicas=1, duplicate_window=120)
    # The stream outlives this process: without a purge, this run's consumer (a new durable,
    # deliver policy all) would first work through the messages of the variants run before,
    # and export their spans while this run's messages are timed.
    await js.purge_stream(ORDERS.name)
    order_id = uuid.uuid4().hex
    events = [order_created(order_id, carrier(settings)) for _ in range(count)]
    tune_gc(settings.gc_young_threshold)  # as `runtime.start` does before a service serves
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, count, inflight):
        await asyncio.gather(
            *(runtime.publisher.publish(e) for e in events[start : start + inflight])
        )
    flush_spans(runtime)  # the publishes' spans exported: their cost is the publish's
    publish_s = time.perf_counter() - started
    publish_cpu = time.process_time() - cpu

    done = asyncio.Event()
    handled = 0
    first = first_cpu = 0.0

    async def handler(event: OrderCreated) -> None:
        nonlocal handled, first, first_cpu
        if event.order_id == order_id:
            handled += 1
            if handled == 1:
                first, first_cpu = time.perf_counter(), time.process_time()
            if handled == count:
                done.set()

    runtime.subscribe(OrderCreated, handler)
    await runtime.start()
    await asyncio.wait_for(done.wait(), timeout=120)
    # From the first message handled to the last, then the export of their spans: start-up
    # (connect, declare) is not counted.
    flushing, flushing_cpu = time.perf_counter(), time.process_time()
    flush_spans(runtime)
    scale = count / max(count - 1, 1)
    consume_s = (flushing - first) * scale + time.perf_counter() - flushing
    consume_cpu = (flushing_cpu - first_cpu) * scale + time.process_time() - flushing_cpu
    await runtime.stop()
    return per_message(count, publish_s, consume_s, publish_cpu, consume_cpu)


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
