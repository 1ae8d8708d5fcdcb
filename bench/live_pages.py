"""What open order pages cost the checkout path: the same k6 checkout load with no live
order page open, and with N open (each a Server-Sent Events stream, as the browser keeps
one), alternating so that the machine's drift falls on both sides alike.

    python -m bench.live_pages [--pages 50] [--rate 25] [--seconds 20] [--rounds 2]

The pages watch orders that stay open (placed without payment, held for 15 minutes): their
streams stay up for the whole run, and the storefront, which subscribes to the platform's
events while any page is open, reads and matches every event of every checkout. A page
watching an order that moves also re-reads that order on its events; that cost falls on
the page's own order, not on the checkouts measured here."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import aiohttp

from bench import checkout
from bench.run import cpu_seconds
from junction_devtools.platform import Platform, free_ports

RESULTS = Path(__file__).parent / "results"


async def open_orders(orders: str, count: int) -> list[str]:
    """Orders with stock held and no payment coming: they stay PENDING_PAYMENT."""
    ids = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            order_id = uuid.uuid4().hex
            body = {
                "order_id": order_id,
                "customer_email": "watcher@example.com",
                "items": [{"sku": checkout.SKUS[0], "quantity": 1}],
                "hold_seconds": 900,
            }
            async with session.post(f"{orders}/orders", json=body) as reply:
                assert reply.status == 201, await reply.text()
            ids.append(order_id)
    return ids


class Pages:
    """N live order pages, each one open SSE stream, in a thread of their own."""

    def __init__(self, storefront: str, order_ids: list[str]) -> None:
        self.urls = [f"{storefront}/orders/{i}/live" for i in order_ids]
        self.opened = 0
        self.messages = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _read(self, session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as reply:
            assert reply.status == 200, reply.status
            self.opened += 1
            async for line in reply.content:
                if line.startswith(b"event:"):
                    self.messages += 1
                if self._stop.is_set():
                    return

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as session:
            tasks = [asyncio.create_task(self._read(session, url)) for url in self.urls]
            await asyncio.to_thread(self._stop.wait)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> Pages:
        self._thread.start()
        deadline = time.monotonic() + 30
        while self.opened < len(self.urls):
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.opened} of {len(self.urls)} pages opened")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    platform = Platform(state_dir=tmp / "platform", ports=free_ports(), telemetry=True)
    platform.start()
    try:
        urls = platform.urls
        pids = {n: p.popen.pid for n, p in platform.procs.items() if p.popen}
        per_sku = args.rate * args.seconds * args.rounds * 2 // len(checkout.SKUS) + 1000
        asyncio.run(checkout.seed(urls["inventory"], per_sku))
        watched = asyncio.run(open_orders(urls["orders"], args.pages))
        checkout.run_k6(urls["storefront"], args.rate, 5, "warmup", tmp)  # pools, imports
        rows = []
        for round_ in range(args.rounds):
            for pages in (0, args.pages):
                before = {n: cpu_seconds(p) for n, p in pids.items()}
                step = f"r{round_}-p{pages}"
                if pages:
                    with Pages(urls["storefront"], watched[:pages]):
                        time.sleep(2)  # the pages' first reads are over: steady state
                        before = {n: cpu_seconds(p) for n, p in pids.items()}
                        run = checkout.run_k6(
                            urls["storefront"], args.rate, args.seconds, step, tmp
                        )
                else:
                    run = checkout.run_k6(urls["storefront"], args.rate, args.seconds, step, tmp)
                time.sleep(2)  # the follow-up work of the last checkouts
                after = {n: cpu_seconds(p) for n, p in pids.items()}
                result = checkout.step_result(args.rate, args.seconds, run, [], 0, 0)
                accepted = max(result["accepted"], 1)
                cpu = {n: 1000 * (after[n] - before[n]) / accepted for n in pids}
                rows.append(
                    {
                        "pages": pages,
                        "round": round_,
                        "accepted": result["accepted"],
                        "errors": result["errors"],
                        "sync_p50_ms": result["sync_p50_ms"],
                        "sync_p99_ms": result["sync_p99_ms"],
                        "cpu_ms_per_checkout": sum(cpu.values()),
                        "storefront_cpu_ms": cpu["storefront"],
                    }
                )
        return {"pages": args.pages, "rate": args.rate, "seconds": args.seconds, "rows": rows}
    finally:
        platform.stop()


def table(result: dict[str, Any]) -> str:
    lines = [
        f"Checkouts at {result['rate']}/s for {result['seconds']} s, tracing every checkout; "
        f"live order pages open: 0 or {result['pages']} (alternating).",
        "",
        "| pages open | round | accepted | errors | sync p50 ms | sync p99 ms "
        "| CPU ms per checkout | of which storefront |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['pages']} | {r['round']} | {r['accepted']} | {r['errors']} "
            f"| {r['sync_p50_ms']:.1f} | {r['sync_p99_ms']:.1f} "
            f"| {r['cpu_ms_per_checkout']:.1f} | {r['storefront_cpu_ms']:.1f} |"
        )
    for pages in (0, result["pages"]):
        rows = [r for r in result["rows"] if r["pages"] == pages]
        cpu = sum(r["cpu_ms_per_checkout"] for r in rows) / len(rows)
        p99 = sum(r["sync_p99_ms"] for r in rows) / len(rows)
        lines.append(
            f"\nmean with {pages} pages open: {cpu:.1f} ms CPU per checkout, sync p99 {p99:.1f} ms"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--rate", type=int, default=25)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with TemporaryDirectory(prefix="junction-live-") as tmp:
        result = measure(args, Path(tmp))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"live-pages-{stamp}.json").write_text(json.dumps(result, indent=2))
    text = table(result)
    (RESULTS / f"live-pages-{stamp}.md").write_text(f"# Live order pages, {stamp}\n\n{text}")
    print(text)


if __name__ == "__main__":
    main()
