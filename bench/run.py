"""`make bench`: the platform's paths side by side with raw baselines, in one run.

Each variant runs in its own processes on loopback; only ratios within one run are
meaningful on a shared machine. Writes bench/results/<timestamp>.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import aiohttp

from bench import checkout, floor, nats_requests
from junction_devtools.platform import Platform, Proc, free_ports, http_ok
from junction_devtools.testing import start_nats

ROOT = Path(__file__).resolve().parent.parent


async def closed_loop(
    url: str, seconds: float, concurrency: int, pids: tuple[int, ...] = ()
) -> dict[str, float]:
    """`concurrency` clients calling `url` back to back for `seconds`; rate and latency,
    and the CPU the processes `pids` (the ones serving) spent per request answered."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def client() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    async with session.get(url) as resp:
                        await resp.read()
                        ok = resp.status == 200
                except aiohttp.ClientError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

        started = time.perf_counter()
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        await asyncio.gather(*(client() for _ in range(concurrency)))
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        elapsed = time.perf_counter() - started
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": errors,
        "cpu_us": 1e6 * cpu / max(len(latencies), 1),
    }


# Variants: the raw libraries; Junction with telemetry off; on, every trace recorded; on,
# one trace in ten recorded (head sampling, as a busy production system runs it).
# Tracing on recording every trace, one in ten, and none: `0%` still carries every trace's
# context, unsampled, through every hop (the unsampled path alone).
VARIANTS = ("raw", "junction", "junction+otel", "junction+otel 10%", "junction+otel 0%")
# The hop also runs a second pair of processes of tracing off, measured in the same rounds:
# what it differs from the first by is the bench's own resolution (each variant keeps its
# processes for the whole run, and two pairs of the same code do not cost the same).
SECOND_PAIR = "junction, second pair"
HOP_VARIANTS = (*VARIANTS, SECOND_PAIR)
# Each traced variant: its sample ratio, and its row in the telemetry cost table.
TRACED = {
    "junction+otel": ("1.0", "all"),
    "junction+otel 10%": ("0.1", "one in ten"),
    "junction+otel 0%": ("0.0", "none"),
}


def telemetry_env(variant: str) -> dict[str, str]:
    on = variant.startswith("junction+otel")
    return {
        "JUNCTION_TELEMETRY_ENABLED": "true" if on else "false",
        "JUNCTION_TELEMETRY_SAMPLE_RATIO": TRACED[variant][0] if on else "1.0",
    }


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")
        time.sleep(0.05)


def start(name: str, argv: list[str], env: dict[str, str], ready: str, logs: Path) -> Proc:
    proc = Proc(name, argv, env, ready, logs / f"{name}.log")
    proc.start()
    deadline = time.monotonic() + 30
    while not http_ok(ready):
        if not proc.running or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start: {(logs / f'{name}.log').read_text()}")
        time.sleep(0.05)
    return proc


# Each path's variants are measured in interleaved rounds, the order rotated every round,
# rather than one after the other: this machine's speed drifts within a run, and a variant
# measured alone in a slow minute used to void every ratio against it. A loss is the
# median over the rounds of the loss within each round.
ROUNDS = 3


def rotated(r: int, variants: tuple[str, ...] = VARIANTS) -> tuple[str, ...]:
    k = r % len(variants)
    return variants[k:] + variants[:k]


def merged(
    rounds: list[dict[str, float]],
    rates: tuple[str, ...],
    *,
    equal: Literal["time", "count"],
    kept: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One variant's rounds as one result: each of `rates` over all of them (rounds of
    equal time or equal message count), errors summed, the median of each other figure,
    and each round's rates and `kept` figures under "rounds" (for the per-round losses)."""
    out: dict[str, Any] = {
        key: sum(r[key] for r in rounds)
        if key == "errors"
        else statistics.median(r[key] for r in rounds)
        for key in rounds[0]
        if key not in rates
    }
    out["rounds"] = {key: [r[key] for r in rounds] for key in (*rates, *kept)}
    for rate in rates:
        values = out["rounds"][rate]
        out[rate] = (
            statistics.fmean(values)
            if equal == "time"
            else len(values) / sum(1 / max(x, 1e-9) for x in values)
        )
    return out


def per_round(result: dict[str, Any], field: str) -> list[float]:
    r = result.get("rounds")
    return [result[field]] if r is None else list(r[field])


def round_ratios(runs: dict[str, dict[str, Any]], variant: str, field: str) -> list[float]:
    """`variant`'s `field` over tracing off's, within each round."""
    return [
        v / max(base, 1e-9)
        for v, base in zip(
            per_round(runs[variant], field), per_round(runs["junction"], field), strict=True
        )
    ]


def round_losses(runs: dict[str, dict[str, Any]], variant: str, field: str) -> list[float]:
    """Throughput lost by `variant` against tracing off, within each round."""
    return [1 - ratio for ratio in round_ratios(runs, variant, field)]


def round_costs(runs: dict[str, dict[str, Any]], variant: str, field: str) -> list[float]:
    """CPU per operation that `variant` adds to tracing off, within each round."""
    return [ratio - 1 for ratio in round_ratios(runs, variant, field)]


def hop_variants(
    nats_url: str, otlp: str, seconds: float, concurrency: int, logs: Path, rounds: int
) -> dict[str, dict[str, Any]]:
    """Every variant's front and downstream started at once, then `rounds` rounds of
    `seconds / rounds` each per variant. Idle variants wait (a few wake-ups a second)."""
    fronts: dict[str, tuple[str, tuple[int, ...]]] = {}
    with contextlib.ExitStack() as stack:
        for variant in HOP_VARIANTS:
            fronts[variant] = hop_pair(variant, nats_url, otlp, logs, stack)
            asyncio.run(closed_loop(fronts[variant][0], min(1.0, seconds), concurrency))  # warm
        runs: dict[str, list[dict[str, float]]] = {v: [] for v in HOP_VARIANTS}
        for r in range(rounds):
            for variant in rotated(r, HOP_VARIANTS):
                url, pids = fronts[variant]
                runs[variant].append(
                    asyncio.run(closed_loop(url, seconds / rounds, concurrency, pids))
                )
    return {v: merged(runs[v], ("rps",), equal="time", kept=("cpu_us",)) for v in HOP_VARIANTS}


def hop_pair(
    variant: str, nats_url: str, otlp: str, logs: Path, stack: contextlib.ExitStack
) -> tuple[str, tuple[int, ...]]:
    """A front service and its downstream for `variant`, stopped with `stack`; the URL to
    call, and the two processes' ids."""
    ports = free_ports(["down", "front"])
    env = {
        **os.environ,
        "JUNCTION_NATS_URL": nats_url,
        "JUNCTION_LOG_LEVEL": "WARNING",
        **telemetry_env(variant),
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        # A round lasts two seconds: at the services' 2 s export delay, a traced variant's
        # spans would mostly be exported during another variant's round, and its own round
        # would hold few exports. Every half second, a round holds all but its last half
        # second's; more exports, each with its fixed cost, so the figure is if anything
        # above what the services' own delay would give.
        "JUNCTION_TELEMETRY_EXPORT_DELAY_SECONDS": "0.5",
    }
    kind = "raw" if variant == "raw" else "junction"
    py = [sys.executable, "-m", "bench.apps"]
    down_url = f"http://127.0.0.1:{ports['down']}"
    down = start(
        f"{variant}-down",
        [*py, f"{kind}-downstream", "--port", str(ports["down"])],
        env,
        f"{down_url}/echo",
        logs,
    )
    stack.callback(down.stop)
    front_url = f"http://127.0.0.1:{ports['front']}"
    front = start(
        f"{variant}-front",
        [*py, f"{kind}-front", "--port", str(ports["front"]), "--downstream", down_url],
        env,
        f"{front_url}/hop",
        logs,
    )
    stack.callback(front.stop)
    return f"{front_url}/hop", tuple(p.popen.pid for p in (front, down) if p.popen)


def jetstream_variants(
    nats_url: str, otlp: str, count: int, rounds: int
) -> dict[str, dict[str, Any]]:
    """`rounds` rounds of `count / rounds` messages per variant, in rotated order. Publish
    and consume rates are merged over the rounds; each round's are kept."""
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    for r in range(rounds):
        for variant in rotated(r):
            runs[variant].append(jetstream(variant, nats_url, otlp, max(count // rounds, 1)))
    rates = ("publish_per_s", "consume_per_s")
    cpu = ("publish_cpu_us", "consume_cpu_us")
    return {v: merged(results, rates, equal="count", kept=cpu) for v, results in runs.items()}


def jetstream(variant: str, nats_url: str, otlp: str, count: int) -> dict[str, float]:
    env = {
        **os.environ,
        **telemetry_env(variant),
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
    }
    scenario = "jetstream-raw" if variant == "raw" else "jetstream-junction"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.scenarios",
            scenario,
            "--nats",
            nats_url,
            "--count",
            str(count),
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PeakRss:
    """Samples the resident memory of every platform process in a thread; keeps the peak."""

    def __init__(self, pids: dict[str, int], every_s: float = 0.5) -> None:
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            for name, pid in self.pids.items():
                with contextlib.suppress(OSError):
                    self.peak[name] = max(self.peak[name], rss_mib(pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def platform_pids(platform: Platform) -> dict[str, int]:
    return {name: p.popen.pid for name, p in platform.procs.items() if p.popen}


def cpu_reader(pids: dict[str, int]) -> Callable[[], dict[str, float]]:
    """Reads the CPU seconds each of `pids` has used so far."""
    return lambda: {name: cpu_seconds(pid) for name, pid in pids.items()}


def platform_under_load(tmp: Path, quick: bool) -> dict[str, Any]:
    """The whole local platform as `make run` starts it (tracing on, to the local trace
    store): seconds to ready, RSS idle, the NATS messages per checkout and the floor, then
    the checkout steps with the peak RSS. (Tracing off: `tracing_on_and_off`.)"""
    platform = Platform(state_dir=tmp / "platform", ports=free_ports())
    try:
        ready_s = platform.start()
        time.sleep(1.0)
        pids = platform_pids(platform)
        idle = {name: rss_mib(pid) for name, pid in pids.items()}
        cpu = cpu_reader(pids)

        # NATS messages per checkout first, while nothing else talks to NATS; then the
        # floor (the same NATS traffic and HTTP hops with no logic) on the same server,
        # with as many checkouts at the same rate.
        load = (20, 10.0) if quick else (200, 25.0)
        messages = asyncio.run(nats_requests.measure(platform.urls, *load))
        under = floor.measure(platform.operator_nats_url, pids["nats"], *load)
        with PeakRss(pids) as peak:
            if quick:
                steps = checkout.run_steps(
                    platform.urls,
                    tmp / "k6",
                    steps=(10,),
                    seconds=2,
                    sampled=10,
                    drain_s=20,
                    warmup_s=0,
                    cpu=cpu,
                )
            else:
                steps = checkout.run_steps(platform.urls, tmp / "k6-platform", cpu=cpu)
    finally:
        platform.stop()
    return {
        "ready_seconds": ready_s,
        "idle_mib": idle,
        "load_mib": peak.peak,
        "checkout": steps,
        "nats_messages": messages,
        "floor": under,
    }


def tracing_on_and_off(tmp: Path, quick: bool) -> dict[str, Any]:
    """Two platforms up at once, tracing on (every checkout recorded) and off, given the
    same checkouts in alternating rounds (`checkout.cost_of_tracing`)."""
    platforms: dict[str, Platform] = {}
    try:
        for name, telemetry in (("traced", True), ("untraced", False)):
            platforms[name] = Platform(
                state_dir=tmp / f"cost-{name}", ports=free_ports(), telemetry=telemetry
            )
            platforms[name].start()

        given = {
            name: (platform.urls, cpu_reader(platform_pids(platform)))
            for name, platform in platforms.items()
        }
        if quick:
            return checkout.cost_of_tracing(
                given, tmp / "k6-cost", rate=10, seconds=2, rounds=2, sampled=10, warmup_s=0
            )
        return checkout.cost_of_tracing(given, tmp / "k6-cost")
    finally:
        for platform in platforms.values():
            platform.stop()


def checkout_table(c: dict[str, Any], what: str) -> list[str]:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    lines = [
        "",
        f"Checkout, open loop (k6 constant-arrival-rate, {c['seconds_per_step']} s per step), "
        f"{what}:",
        "",
        "| rate/s | achieved/s | errors % | sync p50 ms | p95 ms | p99 ms | "
        "async p50 ms | async p99 ms | async not done | CPU ms per checkout |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['rate']} | {r['achieved_per_s']:.1f} | {r['error_pct']:.1f} | "
        f"{r['sync_p50_ms']:.0f} | {r['sync_p95_ms']:.0f} | {r['sync_p99_ms']:.0f} | "
        f"{ms(r['async_p50_ms'])} | {ms(r['async_p99_ms'])} | "
        f"{r['async_unfinished']}/{r['async_sampled']} | "
        f"{sum(r.get('cpu_ms_per_checkout', {}).values()):.1f} |"
        for r in c["steps"]
    ]
    lines += [
        "",
        "Highest rate with 0 errors and sync p99 <= "
        f"{c['sync_p99_limit_ms']:.0f} ms: **{c['best_rate'] or 'none'}** checkouts/s.",
    ]
    return lines


def tracing_cost_table(t: dict[str, Any]) -> list[str]:
    per = t["cpu_ms_per_checkout"]
    costs = checkout.tracing_costs(t, "traced", "untraced")
    lines = [
        "",
        f"Tracing's cost to a checkout: two platforms up at once, tracing on (every checkout "
        f"recorded) and off, {t['rate']} checkouts/s for {t['seconds']} s each in turn, "
        f"{t['rounds']} rounds with the order alternated; CPU ms per checkout of each "
        "platform's own processes, its follow-up work included:",
        "",
        "| round | traced | untraced | tracing adds |",
        "|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r + 1} | {a:.1f} | {b:.1f} | {100 * c:+.0f}% |"
        for r, (a, b, c) in enumerate(zip(per["traced"], per["untraced"], costs, strict=True))
    ]
    lines += [
        "",
        f"Tracing every checkout adds **{100 * statistics.median(costs):+.0f}%** of CPU per "
        "checkout (the median of the rounds; goal: at most +10%).",
    ]
    return lines


def table(results: dict[str, Any]) -> str:
    h = results["http_hop"]
    j = results["jetstream"]
    raw_h, raw_j = h["raw"], j["raw"]
    lines = [
        f"# Junction bench {results['started']} ({results['mode']})",
        "",
        f"HTTP hop, closed loop, {results['concurrency']} concurrent clients, "
        f"{results['seconds']} s per variant in {results['rounds']} interleaved rounds "
        "(req/s over all rounds; p50, p99 and the CPU of the front and its downstream "
        "per request the median of the rounds'):",
        "",
        "| variant | req/s | ratio to raw | p50 ms | p99 ms | errors | CPU µs per request |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in h.items():
        lines.append(
            f"| {name} | {r['rps']:.0f} | {r['rps'] / raw_h['rps']:.2f} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | {r['cpu_us']:.0f} |"
        )
    lines += [
        "",
        f"JetStream, {results['messages']} messages per variant in "
        f"{results['rounds']} interleaved rounds, 64 publishes in flight; consume = "
        "pull, parse, handle, ack; CPU per message of the publishing or consuming process "
        "(all its threads), the median of the rounds':",
        "",
        "| variant | publish msg/s | ratio | CPU µs | consume msg/s | ratio | CPU µs |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in j.items():
        lines.append(
            f"| {name} | {r['publish_per_s']:.0f} | "
            f"{r['publish_per_s'] / raw_j['publish_per_s']:.2f} | {r['publish_cpu_us']:.0f} | "
            f"{r['consume_per_s']:.0f} | "
            f"{r['consume_per_s'] / raw_j['consume_per_s']:.2f} | {r['consume_cpu_us']:.0f} |"
        )
    f = results["platform"]
    c = f["checkout"]
    lines += checkout_table(
        c,
        "the whole local platform as `make run` starts it (tracing on, every checkout traced)",
    )
    lines += tracing_cost_table(results["tracing_cost"])
    lines += [
        "",
        f"Footprint: `make run` to ready in {f['ready_seconds']:.1f} s; RSS idle, the peak "
        "during the checkout steps, and CPU time per accepted checkout in the first step "
        f"({c['steps'][0]['rate']}/s, its follow-up work included):",
        "",
        "| process | idle MiB | under load MiB | CPU ms per checkout |",
        "|---|---:|---:|---:|",
    ]
    cpu = c["steps"][0].get("cpu_ms_per_checkout", {})
    lines += [
        f"| {name} | {f['idle_mib'][name]:.0f} | {f['load_mib'].get(name, 0):.0f} | "
        f"{cpu.get(name, 0):.1f} |"
        for name in f["idle_mib"]
    ]
    lines.append(
        f"| total | {sum(f['idle_mib'].values()):.0f} | {sum(f['load_mib'].values()):.0f} | "
        f"{sum(cpu.values()):.1f} |"
    )
    lines += ["", nats_requests.table(f["nats_messages"]).rstrip("\n")]
    lines += ["", floor.table(f["floor"], sum(cpu.values())).rstrip("\n")]
    cores = results["cpus"] or 1
    lines += [
        "",
        f"At {sum(cpu.values()):.1f} ms of CPU per checkout, {cores} cores (shared with k6) "
        f"bound the rate at about {1000 * cores / max(sum(cpu.values()), 0.1):.0f} "
        "checkouts/s.",
    ]
    rounds = results["rounds"]
    lines += telemetry_cost_table(
        "Telemetry cost (throughput lost with tracing on, against the same path with it off; "
        f"the median over {rounds} interleaved rounds of each round's loss; goal <= 15%; for "
        "one in ten recorded, goal: a tenth of the loss with all recorded plus 5 points; none "
        "recorded is the unsampled path alone):",
        (("hop", h, "rps"), ("pub", j, "publish_per_s"), ("con", j, "consume_per_s")),
        round_losses,
        ".0f",
    )
    # The same cost as CPU per operation: what tracing adds to the CPU the path's own
    # processes spend per request or message. A throughput is also bound by what the path
    # waits for (the NATS server's fsync for a publish, the other processes on two cores);
    # the CPU per operation is what tracing costs the process that traces.
    lines += telemetry_cost_table(
        "Telemetry cost in CPU (what tracing adds to the CPU per request of the front and its "
        "downstream, per message of the publishing or consuming process, against tracing "
        f"off; the median over {rounds} interleaved rounds of each round's increase; goal "
        "for one in ten as above):",
        (("hop", h, "cpu_us"), ("pub", j, "publish_cpu_us"), ("con", j, "consume_cpu_us")),
        round_costs,
        "+.0f",
    )
    return "\n".join(lines) + "\n"


def telemetry_cost_table(
    heading: str,
    paths: tuple[tuple[str, dict[str, dict[str, Any]], str], ...],
    per_round_cost: Callable[[dict[str, dict[str, Any]], str, str], list[float]],
    fmt: str,
) -> list[str]:
    """Tracing's cost on the hop, publish and consume paths (`paths`: key, the path's
    variants, the figure), as the median of `per_round_cost` over the rounds, for each
    share of traces recorded; the goal for one in ten; and the hop's second untraced pair
    against the first, the run's resolution."""
    lines = [
        "",
        heading,
        "",
        "| traces recorded | HTTP hop | JetStream publish | JetStream consume |",
        "|---|---:|---:|---:|",
    ]
    cost = {
        variant: {
            key: statistics.median(per_round_cost(runs, variant, field))
            for key, runs, field in paths
        }
        for variant in TRACED
    }
    for variant, c in cost.items():
        lines.append(
            f"| {TRACED[variant][1]} | {100 * c['hop']:{fmt}}% | {100 * c['pub']:{fmt}}% | "
            f"{100 * c['con']:{fmt}}% |"
        )
    goal = {key: 100 * cost["junction+otel"][key] / 10 + 5 for key, _, _ in paths}
    lines.append(
        f"| goal for one in ten | {goal['hop']:{fmt}}% | {goal['pub']:{fmt}}% | "
        f"{goal['con']:{fmt}}% |"
    )
    _, hop, field = paths[0]
    if SECOND_PAIR in hop:
        again = statistics.median(per_round_cost(hop, SECOND_PAIR, field))
        lines.append(
            f"| {SECOND_PAIR}, tracing off (the bench's resolution) | {100 * again:{fmt}}% | | |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: a second per variant")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--messages", type=int, default=30000)
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help="interleaved rounds per variant (hop, JetStream)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else args.seconds
    messages = 300 if args.quick else args.messages
    rounds = 2 if args.quick else args.rounds
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        nats_server = start_nats(tmp / "nats")
        # The hop and JetStream variants export to a receiver that decodes nothing (see
        # bench/sink.py): their telemetry cost is the services' own.
        sink_port = free_ports(["otlp"])["otlp"]
        sink = Proc(
            "otlp-sink",
            [sys.executable, "-m", "bench.sink", "--port", str(sink_port)],
            dict(os.environ),
            "",
            tmp / "otlp-sink.log",
        )
        sink.start()
        wait_for_port(sink_port)
        otlp = f"http://127.0.0.1:{sink_port}"
        try:
            results: dict[str, Any] = {
                "started": started,
                "mode": "quick" if args.quick else "full",
                "seconds": seconds,
                "concurrency": args.concurrency,
                "messages": messages,
                "cpus": os.cpu_count(),
                "rounds": rounds,
                "http_hop": hop_variants(
                    nats_server.url, otlp, seconds, args.concurrency, tmp, rounds
                ),
                "jetstream": jetstream_variants(nats_server.url, otlp, messages, rounds),
                "platform": platform_under_load(tmp, args.quick),
                # What tracing costs a whole checkout: the same load on a platform with
                # tracing on and one with it off, in alternating rounds.
                "tracing_cost": tracing_on_and_off(tmp, args.quick),
            }
        finally:
            sink.stop()
            nats_server.process.terminate()
            nats_server.process.wait(10)
    report = table(results)
    print(report)
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{started}.json").write_text(json.dumps(results, indent=2))
        (args.out / f"{started}.md").write_text(report)


if __name__ == "__main__":
    main()
