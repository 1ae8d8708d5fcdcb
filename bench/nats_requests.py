"""NATS messages per checkout, from the server's own counters.

Against a running platform: the idle rate of every client connection first (pull requests
waiting, pings), then `checkouts` checkouts at `rate`/s (every one approved, one unit each),
then a wait until every receipt is in the mail sink and the server's counters are quiet
again. For each connection (named after its service) `/connz` gives `in_msgs`, what the
client sent the server (requests to JetStream's API and key-value buckets, publishes, pull
requests, acks), and `out_msgs`, what the server sent it (answers, deliveries). The idle
rate over the same time is subtracted, and the rest divided by the confirmed checkouts.
Nothing else talks to NATS meanwhile: the count waits on the mail sink, not on the API.

    python -m bench.nats_requests [--checkouts 200] [--rate 25]   (against `make run`)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.request
import uuid
from collections import Counter
from typing import Any

import aiohttp

from junction_devtools.load import at_rate

SKU = "BENCH-NATS"


def connections(monitor: str) -> dict[str, tuple[int, int]]:
    """(in_msgs, out_msgs) per connection name, summed over that name's connections."""
    with urllib.request.urlopen(f"{monitor}/connz?limit=1024", timeout=5) as reply:
        data = json.load(reply)
    found: dict[str, tuple[int, int]] = {}
    for conn in data.get("connections") or []:
        name = conn.get("name") or "unnamed"
        i, o = found.get(name, (0, 0))
        found[name] = (i + conn["in_msgs"], o + conn["out_msgs"])
    return found


def difference(
    after: dict[str, tuple[int, int]], before: dict[str, tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    return {
        name: (i - before.get(name, (0, 0))[0], o - before.get(name, (0, 0))[1])
        for name, (i, o) in after.items()
    }


async def receipts(mail_api: str, session: aiohttp.ClientSession, run: str) -> int:
    async with session.get(f"{mail_api}/api/v1/messages?start=0&limit=100000") as reply:
        body = await reply.json()
    return sum(
        1
        for m in body["messages"]
        if m["MessageID"].endswith(".receipt@junction.local")
        and any(run in t.get("Address", "") for t in m.get("To") or [])
    )


async def quiet(monitor: str, idle: dict[str, float], settle_s: float = 3.0) -> None:
    """Until a `settle_s` window sends no more than the idle rate plus one message."""
    while True:
        before = connections(monitor)
        await asyncio.sleep(settle_s)
        moved = difference(connections(monitor), before)
        if all(i <= idle.get(name, 0.0) * settle_s + 1 for name, (i, _) in moved.items()):
            return


async def measure(urls: dict[str, str], checkouts: int = 200, rate: float = 25.0) -> dict[str, Any]:
    monitor, run = urls["nats_monitor"], uuid.uuid4().hex[:8]
    async with aiohttp.ClientSession() as session:
        product = {"name": "NATS count item", "price_cents": 100, "stock": checkouts + 10}
        async with session.put(f"{urls['inventory']}/products/{SKU}-{run}", json=product) as r:
            if r.status not in (200, 201):
                raise RuntimeError(f"seeding: {r.status} {await r.text()}")
        await asyncio.sleep(2.0)  # the catalogue change's own events settle
        start = connections(monitor)
        await asyncio.sleep(3.0)
        idle_window = difference(connections(monitor), start)
        idle = {name: i / 3.0 for name, (i, _) in idle_window.items()}

        answers: Counter[int] = Counter()

        async def one(i: int) -> None:
            body = {
                "customer_email": f"{run}-{i}@example.com",
                "payment_token": "tok_visa",
                "items": [{"sku": f"{SKU}-{run}", "quantity": 1}],
            }
            headers = {"Idempotency-Key": f"nats-{run}-{i}"}
            async with session.post(
                f"{urls['storefront']}/api/checkout", json=body, headers=headers
            ) as reply:
                answers[reply.status] += 1

        before, began = connections(monitor), time.monotonic()
        await at_rate(checkouts, rate, one)
        deadline = time.monotonic() + 60
        while await receipts(urls["mail_api"], session, run) < answers[201]:
            if time.monotonic() > deadline:
                raise RuntimeError("receipts did not all arrive within 60 s")
            await asyncio.sleep(0.5)
        await quiet(monitor, idle)
        elapsed = time.monotonic() - began
        moved = difference(connections(monitor), before)
    confirmed = max(answers[201], 1)
    per_service = {
        name: {
            "in": (i - idle.get(name, 0.0) * elapsed) / confirmed,
            "out": (o - idle_window.get(name, (0, 0))[1] / 3.0 * elapsed) / confirmed,
        }
        for name, (i, o) in sorted(moved.items())
    }
    return {
        "checkouts": checkouts,
        "rate": rate,
        "confirmed": answers[201],
        "answers": dict(answers),
        "seconds": elapsed,
        "per_service": per_service,
        "in_per_checkout": sum(v["in"] for v in per_service.values()),
        "out_per_checkout": sum(v["out"] for v in per_service.values()),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"NATS messages per confirmed checkout ({result['confirmed']} of "
        f"{result['checkouts']} at {result['rate']:.0f}/s; idle traffic subtracted):",
        "",
        "| connection | client to server (requests, publishes, acks) | server to client |",
        "|---|---:|---:|",
    ]
    for name, v in result["per_service"].items():
        lines.append(f"| {name} | {v['in']:.1f} | {v['out']:.1f} |")
    lines.append(
        f"| **all** | **{result['in_per_checkout']:.1f}** | **{result['out_per_checkout']:.1f}** |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    from junction_devtools.platform import ports_from_env

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkouts", type=int, default=200)
    parser.add_argument("--rate", type=float, default=25.0)
    args = parser.parse_args()
    p = ports_from_env()
    urls = {
        "storefront": f"http://127.0.0.1:{p['storefront']}",
        "inventory": f"http://127.0.0.1:{p['inventory']}",
        "mail_api": f"http://127.0.0.1:{p['mail_api']}",
        "nats_monitor": f"http://127.0.0.1:{p['nats_monitor']}",
    }
    print(table(asyncio.run(measure(urls, args.checkouts, args.rate))))


if __name__ == "__main__":
    main()
