"""The floor under a checkout's cost: the same NATS traffic and HTTP hops with no logic.

Per checkout the platform makes 4 HTTP hops (the customer to the storefront, storefront
to orders, orders to inventory, storefront to payments) and, by the count `make bench`
takes from the server (`bench.nats_requests`), about 19 client-to-server NATS messages:
key-value writes (compare-and-set, synced to disk), stream publishes, and deliveries
acknowledged by durable pull consumers. This script makes
exactly that mix, with raw aiohttp and raw nats-py, against a raw aiohttp server in a
process of its own and the same NATS server as the platform, and reports the CPU it took
per checkout: the client, the HTTP server and nats-server. The platform's CPU per
checkout divided by this is what everything Junction adds costs (models, telemetry,
logging, retries, breakers, the framework), as a ratio that machines of other speeds
share.

    python -m bench.floor --nats nats://... [--checkouts 200] [--rate 25]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import nats
from nats.js import api

from junction_devtools.load import at_rate

# One checkout's NATS traffic, step by step (docs/performance.md, "NATS messages per
# checkout", adds them up to the 19 the server counts): key-value writes (storefront 2,
# payments 1, orders 2, inventory 4, notifications 2), stream publishes (4: OrderCreated,
# PaymentSucceeded, StockCommitted, OrderConfirmed), and deliveries, each acknowledged (4:
# one consumer each; the reservation timer is not published when the payment comes within
# its grace, decision 0015). No reads: the last ones, notifications' look for an email's
# record, are skipped on a first delivery.
KV_WRITES = 11
PUBLISHES = 4
UNCONSUMED = 0  # events no durable consumer reads (none since NotificationSent retired)
DELIVERIES = 4
HTTP_HOPS = 4


@dataclass(frozen=True)
class Mix:
    kv_writes: int = KV_WRITES
    publishes: int = PUBLISHES
    deliveries: int = DELIVERIES
    unconsumed: int = UNCONSUMED
    http_hops: int = HTTP_HOPS

    @property
    def nats_messages(self) -> int:
        """Client-to-server messages per checkout (each delivery's ack is one)."""
        return self.kv_writes + self.publishes + self.deliveries


async def serve_http(port: int) -> None:
    """The raw HTTP server: answers every POST with a small JSON body."""
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


async def run_floor(
    nats_url: str, http_base: str, checkouts: int, rate: float, mix: Mix
) -> dict[str, Any]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    run = uuid.uuid4().hex[:8]
    stream = f"FLOOR_{run.upper()}"
    await js.add_stream(
        api.StreamConfig(name=stream, subjects=[f"floor{run}.>"], storage=api.StorageType.FILE)
    )
    kv = await js.create_key_value(
        api.KeyValueConfig(bucket=f"floor{run}", history=1, storage=api.StorageType.FILE)
    )
    # Every event but the last `unconsumed` of each checkout goes to consumer a; the first
    # `extra` to b as well (an event with two consumers; none in a checkout now).
    consumed = mix.publishes - mix.unconsumed
    extra = mix.deliveries - consumed
    if not 0 <= extra <= consumed:
        raise ValueError(f"{mix}: deliveries must be between the consumed publishes and twice")
    sub_a = await js.pull_subscribe(f"floor{run}.c.>", durable="floor-a")
    sub_b = await js.pull_subscribe(f"floor{run}.c.b.>", durable="floor-b")
    left = {"a": checkouts * consumed, "b": checkouts * extra}
    body = json.dumps({"customer_email": "floor@example.com", "items": [{"sku": "A"}]})

    async def consume(sub: Any, name: str) -> None:
        while left[name] > 0:
            try:
                msgs = await sub.fetch(64, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            for msg in msgs:
                await msg.ack()
                left[name] -= 1

    consumers = [asyncio.create_task(consume(sub_a, "a")), asyncio.create_task(consume(sub_b, "b"))]
    async with aiohttp.ClientSession() as http:

        async def one(i: int) -> None:
            key = f"k{i}"
            revision = await kv.create(key, body.encode())
            for _ in range(mix.http_hops):
                async with http.post(f"{http_base}/hop", data=body) as reply:
                    await reply.read()
            for _ in range(mix.kv_writes - 1):
                revision = await kv.update(key, body.encode(), last=revision)
            for n in range(mix.publishes):
                lane = "u" if n >= consumed else "c.b" if n < extra else "c.a"
                subject = f"floor{run}.{lane}.{i}.{n}"
                await js.publish(subject, body.encode(), headers={"Nats-Msg-Id": f"{i}.{n}"})

        began = time.monotonic()
        await at_rate(checkouts, rate, one)
        _, late = await asyncio.wait(consumers, timeout=30)
        for task in late:
            task.cancel()
    await js.delete_stream(stream)
    await js.delete_key_value(f"floor{run}")
    await nc.close()
    return {"seconds": time.monotonic() - began, "undelivered": max(sum(left.values()), 0)}


def measure(
    nats_url: str, nats_pid: int, checkouts: int = 200, rate: float = 25.0, mix: Mix = Mix()
) -> dict[str, Any]:
    """Run the floor against the NATS server with pid `nats_pid`; CPU ms per checkout."""
    from bench.run import cpu_seconds, wait_for_port  # here: bench.run imports this module
    from junction_devtools.platform import free_ports

    port = free_ports(["http"])["http"]
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.floor", "--serve", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        pids = {"client": os.getpid(), "http": server.pid, "nats": nats_pid}
        before = {k: cpu_seconds(pid) for k, pid in pids.items()}
        outcome = asyncio.run(run_floor(nats_url, f"http://127.0.0.1:{port}", checkouts, rate, mix))
        after = {k: cpu_seconds(pid) for k, pid in pids.items()}
    finally:
        server.terminate()
        server.wait(10)
    per = {k: 1000 * (after[k] - before[k]) / checkouts for k in before}
    return {
        "checkouts": checkouts,
        "rate": rate,
        "mix": mix.__dict__ | {"nats_messages": mix.nats_messages},
        "cpu_ms_per_checkout": per,
        "total_ms": sum(per.values()),
        **outcome,
    }


def table(floor: dict[str, Any], platform_ms: float | None = None) -> str:
    mix = floor["mix"]
    lines = [
        f"Floor: {floor['checkouts']} checkouts at {floor['rate']:.0f}/s of raw traffic, "
        f"{mix['http_hops']} HTTP hops and {mix['nats_messages']} NATS messages each "
        f"({mix['kv_writes']} KV writes, {mix['publishes']} "
        f"publishes, {mix['deliveries']} deliveries acked), no logic:",
        "",
        "| process | CPU ms per checkout |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.1f} |" for k, v in floor["cpu_ms_per_checkout"].items()]
    lines.append(f"| **total** | **{floor['total_ms']:.1f}** |")
    if platform_ms is not None:
        lines += [
            "",
            f"The platform at the same rate: {platform_ms:.1f} ms per checkout, "
            f"**{platform_ms / max(floor['total_ms'], 0.01):.1f}x** the floor.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--nats-pid", type=int)
    parser.add_argument("--checkouts", type=int, default=200)
    parser.add_argument("--rate", type=float, default=25.0)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_http(args.serve))
        return
    if args.nats_pid is None:
        parser.error("--nats-pid is needed (the CPU of nats-server is part of the floor)")
    print(table(measure(args.nats, args.nats_pid, args.checkouts, args.rate)))


if __name__ == "__main__":
    main()
