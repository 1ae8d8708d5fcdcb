"""What the outbox relay's start-up sweep costs on a large bucket: a request per key (the
way it was: list the keys, read each) against one streamed pass (`pending_ids`: an ordered
consumer delivers every entry, only its outbox is parsed).

One nats-server (NATS's default sync), a bucket of `--keys` aggregates written by plain
publishes, two with a pending event; each way timed alone on the same bucket, wall time
and the server's and this client's CPU.

    python -m bench.sweep [--keys 100000]   (or `make bench-sweep`)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import nats

from bench.run import cpu_seconds
from junction.store.aggregates import Aggregate, AggregateStore
from junction.store.bucket import open_bucket
from junction_devtools.samples import order_created
from junction_devtools.testing import fill_bucket, start_nats

RESULTS = Path(__file__).resolve().parent / "results"


class Thing(Aggregate):
    pass


async def measure(url: str, server_pid: int, keys: int) -> dict[str, dict[str, float]]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    bucket = await open_bucket(js, "sweep", replicas=1)
    plain = Thing().model_dump_json().encode()
    pending = Thing(outbox=[order_created("o")]).model_dump_json().encode()
    await fill_bucket(
        nc,
        "sweep",
        ((f"thing.{i:07d}", pending if i in (0, keys - 1) else plain) for i in range(keys)),
    )
    store = AggregateStore(bucket, Thing, prefix="thing")

    async def per_key() -> int:
        found = 0
        for ident in await store.ids():
            if (await store.pending_events(ident)) != []:
                found += 1
        return found

    async def streamed() -> int:
        return len(await store.pending_ids())

    results = {}
    for name, way in (("a request per key", per_key), ("one streamed pass", streamed)):
        wall, server, client = time.perf_counter(), cpu_seconds(server_pid), time.process_time()
        found = await way()
        results[name] = {
            "found": found,
            "seconds": time.perf_counter() - wall,
            "server_cpu_s": cpu_seconds(server_pid) - server,
            "client_cpu_s": time.process_time() - client,
        }
    await nc.drain()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_nats(Path(tmp), sync_interval=None)
        try:
            results = asyncio.run(measure(server.url, server.process.pid, args.keys))
        finally:
            server.process.terminate()
            server.process.wait(10)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        f"# Outbox sweep over {args.keys:,} aggregates ({stamp}, {os.cpu_count()} cores)",
        "",
        "| way | pending found | seconds | nats-server CPU s | client CPU s |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {name} | {r['found']:.0f} | {r['seconds']:.1f} | {r['server_cpu_s']:.1f} "
            f"| {r['client_cpu_s']:.1f} |"
            for name, r in results.items()
        ),
        "",
    ]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"sweep-{stamp}.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
