"""What reading a replicated bucket through its leader costs against a direct get.

With three replicas Junction reads key-value entries through the stream leader (its JSON
API, `$JS.API.STREAM.MSG.GET`) instead of direct gets, which any replica answers, a
lagging one included (docs/reliability.md, "Stale reads"). This measures the price on a
3-node cluster on loopback: two R3 buckets holding the same keys, one read directly, one
through its leader, read in alternating rounds from one client; per read, the client's
wall time and the three servers' CPU.

    python -m bench.kv_reads [--reads 4000] [--rounds 4]   (or `make bench-reads`)
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from statistics import median

import nats
from nats.js import api

from bench.run import cpu_seconds
from junction.connection import when_ready
from junction_devtools.platform import Platform, free_ports

RESULTS = Path(__file__).resolve().parent / "results"
KEYS = 200


async def measure(platform: Platform, reads: int, rounds: int) -> dict[str, list[float]]:
    nc = await nats.connect(platform.operator_nats_url.split(","))
    js = nc.jetstream()
    buckets = {}
    for name, direct in (("direct", True), ("leader", False)):
        config = api.KeyValueConfig(
            bucket=f"reads_{name}", history=1, replicas=3, direct=direct,
            storage=api.StorageType.FILE,
        )  # fmt: skip
        kv = await when_ready(partial(js.create_key_value, config), 60)
        for i in range(KEYS):
            await when_ready(partial(kv.put, f"k{i}", b"x" * 300), 30)
        buckets[name] = kv
    pids = [popen.pid for n in platform.nats_nodes_names if (popen := platform.procs[n].popen)]
    found: dict[str, list[float]] = {f"{n} {m}": [] for n in buckets for m in ("us", "cpu")}
    for _ in range(rounds):
        for name, kv in buckets.items():
            cpu0, t0 = sum(cpu_seconds(p) for p in pids), time.perf_counter()
            for i in range(reads):
                await kv.get(f"k{i % KEYS}")
            wall, cpu = time.perf_counter() - t0, sum(cpu_seconds(p) for p in pids) - cpu0
            found[f"{name} us"].append(wall / reads * 1e6)
            found[f"{name} cpu"].append(cpu / reads * 1e6)
    await nc.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="junction-reads-") as tmp:
        platform = Platform(state_dir=Path(tmp), ports=free_ports(), telemetry=False, nats_nodes=3)
        try:
            platform.start_nats()
            found = asyncio.run(measure(platform, args.reads, args.rounds))
        finally:
            platform.stop()
    rows = [
        "| read | client us per read (median of rounds; range) "
        "| NATS CPU us per read, 3 servers (median; range) |",
        "|---|---|---|",
    ]
    for name in ("direct", "leader"):
        us, cpu = found[f"{name} us"], found[f"{name} cpu"]
        rows.append(
            f"| {name} | {median(us):.0f} ({min(us):.0f}-{max(us):.0f}) "
            f"| {median(cpu):.0f} ({min(cpu):.0f}-{max(cpu):.0f}) |"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = (
        f"# KV reads on a 3-node cluster, {stamp}\n\n{args.rounds} rounds of {args.reads} "
        f"reads per bucket, alternating, one client, loopback\n\n" + "\n".join(rows) + "\n"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"kv-reads-{stamp}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
