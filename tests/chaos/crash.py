"""Crash faults: the NATS server SIGKILLed while it writes, a whole 3-node cluster SIGKILLed
at once (a rack losing power), and one node of three cut off the network and healed (it
may be the stream leader; clients connected to it must move), each with `sync_interval:
always` and with NATS's default interval, side by side. While checkouts flow, the harness
also publishes its own markers to a stream and writes down every acknowledgement; afterwards
an independent
ledger rebuilds, from the public API, the SMTP sink and JetStream, what every answer the
clients got must have left behind, and counts what is missing.

    python -m tests.chaos.crash [--checkouts 300] [--rate 15]   (part of `make chaos`)

What this cannot simulate here: a machine losing power (unsynced writes in the OS's page
cache survive a killed process; see docs/reliability.md, "Crash faults"). The partition and
the full disk need root (network namespaces and a small tmpfs of the run's own)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import nats
from nats.aio.client import Client as NatsClient
from nats.js import api

from junction.connection import when_ready
from junction_devtools import netns
from junction_devtools.load import at_rate
from junction_devtools.netns import TestHosts
from junction_devtools.platform import Platform, free_ports
from storefront.domain import order_id_for
from tests.chaos.harness import HOLD_SECONDS, operator_connection, recovery_env
from tests.e2e.client import Endpoints, Shop, customer_session

TERMINAL = {"CONFIRMED", "CANCELLED"}
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
FAULTS = {"nats-sigkill": 1, "cluster-sigkill-all": 3, "cluster-partition": 3, "disk-full": 1}
DISK_MB = 96
FULL_SECONDS = 6
PARTITION_SECONDS = 12
SYNC = {"always": "always", "default": None}


def crash_platform(
    state_dir: Path, nodes: int, sync: str | None, hosts: TestHosts | None = None
) -> Platform:
    return Platform(
        state_dir=state_dir,
        ports=free_ports(),
        telemetry=False,
        service_env=recovery_env(),
        nats_nodes=nodes,
        nats_sync_interval=sync,
        nats_hosts=hosts,
    )


@dataclass
class Row:
    fault: str
    sync: str
    checkouts: int
    answers: Counter[int] = field(default_factory=Counter)
    kills: int = 0
    markers_acked: int = 0
    markers_lost: int = 0
    accepted_without_order: int = 0
    not_terminal: int = 0
    orders_without_payment: int = 0
    approved_unaccounted: int = 0
    receipts_without_confirmed: int = 0
    units_unaccounted: int = 0
    seconds_to_terminal: float = 0.0
    cut: str = ""
    unavailable: int = 0  # 503 answers seen along the way (retried by the client)
    stuck: list[str] = field(default_factory=list)  # what each non-terminal order left stored

    @property
    def lost(self) -> int:
        """Everything acknowledged to someone that is not there."""
        return (
            self.markers_lost
            + self.accepted_without_order
            + self.not_terminal
            + self.orders_without_payment
            + self.approved_unaccounted
            + self.receipts_without_confirmed
            + self.units_unaccounted
        )


class Markers:
    """Acknowledged JetStream publishes of the harness's own: each one acked must be there
    after the faults (the lowest layer's promise, apart from the platform's)."""

    def __init__(self, nc: NatsClient, replicas: int) -> None:
        self.nc = nc
        self.replicas = replicas
        self.acked: set[str] = set()
        self.stream = f"CRASH_{uuid.uuid4().hex[:6].upper()}"
        self._stop = asyncio.Event()

    async def declare(self) -> None:
        js = self.nc.jetstream()
        await js.add_stream(
            api.StreamConfig(
                name=self.stream,
                subjects=[f"{self.stream.lower()}.>"],
                storage=api.StorageType.FILE,
                num_replicas=self.replicas,
            )
        )

    async def publish_until_stopped(self) -> None:
        js = self.nc.jetstream()
        i = 0
        while not self._stop.is_set():
            marker = f"m{i}"
            try:
                await js.publish(
                    f"{self.stream.lower()}.m", marker.encode(), timeout=1,
                    headers={"Nats-Msg-Id": marker},
                )  # fmt: skip
                self.acked.add(marker)
            except (nats.errors.Error, TimeoutError):
                await asyncio.sleep(0.05)  # not acknowledged: promises nothing
            i += 1
            await asyncio.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()

    async def stored(self, nc: NatsClient) -> set[str]:
        """Every marker the stream holds (read through its leader, once the cluster that
        was just healed or restarted answers again)."""
        js = nc.jetstream()
        info = await when_ready(partial(js.stream_info, self.stream), 60)
        found = set()
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                msg = await when_ready(partial(js.get_msg, self.stream, seq), 60)
            except nats.js.errors.NotFoundError:
                continue
            found.add((msg.data or b"").decode())
        return found


STORED = {"orders": "order", "inventory": "reservation", "payments": "payment"}


async def stored_state(nc: NatsClient, order_id: str) -> str:
    """What each service holds for an order, as stored (status and outbox): when an order
    never ends, this says which step is missing."""
    js = nc.jetstream()
    parts = [order_id]
    for bucket, prefix in STORED.items():
        try:
            kv = await when_ready(partial(js.key_value, bucket), 30)
            entry = await when_ready(partial(kv.get, f"{prefix}.{order_id}"), 30)
            value = json.loads(entry.value or b"{}")
        except nats.js.errors.KeyNotFoundError:
            parts.append(f"{bucket}: none")
            continue
        outbox = [e.get("type") for e in value.get("outbox", [])]
        expires = ""
        if "expires_at" in value:  # a reservation: how long its hold has left
            left = datetime.fromisoformat(value["expires_at"]) - datetime.now(UTC)
            expires = f" expires in {left.total_seconds():.1f} s"
        parts.append(
            f"{bucket}: {value.get('status')} rev {entry.revision} outbox {outbox} "
            f"processed {len(value.get('processed', []))}{expires}"
        )
    return "; ".join(parts)


async def held_stock(nc: NatsClient, sku: str, confirmed: dict[str, Any]) -> list[str]:
    """The orders still holding units of `sku`, or confirmed without their units taken."""
    kv = await when_ready(partial(nc.jetstream().key_value, "inventory"), 30)
    entry = await when_ready(partial(kv.get, f"sku.{sku}"), 30)
    item = json.loads(entry.value or b"{}")
    found = [
        f"{sku} held {qty} by " + await stored_state(nc, oid)
        for oid, qty in sorted(item.get("holds", {}).items())
    ]
    return found or [f"{sku}: on hand {item.get('on_hand')}, {len(confirmed)} confirmed orders"]


async def kill_and_restart(platform: Platform, names: list[str]) -> None:
    for name in names:  # at once: no drain, no lame duck
        platform.procs[name].signal(signal.SIGKILL)
    for name in names:
        proc = platform.procs[name].popen
        if proc is not None:
            proc.wait(10)
    await asyncio.sleep(0.5)
    for name in names:
        platform.procs[name].start()  # on the same data
    for name in names:
        await asyncio.to_thread(platform.wait_ready, name, 60)


async def partition_the_leader(platform: Platform, nc: NatsClient, row: Row) -> None:
    """Cut the node that leads the ORDERS stream off the network, then heal it."""
    assert platform.nats_hosts is not None
    cluster = (await nc.jetstream().stream_info("ORDERS")).cluster
    leader = cluster.leader if cluster is not None else None
    names = [f"junction-{n}" for n in platform.nats_nodes_names]
    index = names.index(leader) + 1 if leader in names else 1
    platform.nats_hosts.cut(index)
    row.kills += 1
    row.cut = f"{leader} (ORDERS leader)"
    await asyncio.sleep(PARTITION_SECONDS)
    platform.nats_hosts.heal(index)
    await asyncio.to_thread(platform.wait_ready, platform.nats_nodes_names[index - 1], 60)


async def fill_the_disk(platform: Platform, row: Row) -> None:
    """Fill the node's file system (a tmpfs of the run's own) for a few seconds, then free
    it and restart NATS: a stream that met a full disk stays failed until the server
    restarts (measured: its publishes time out after space returns)."""
    store = platform.state_dir / "nats"
    filler = store / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:
            pass  # no space left on device: the point
    row.kills += 1
    row.cut = f"store full {FULL_SECONDS} s, then freed and NATS restarted"
    await asyncio.sleep(FULL_SECONDS)
    filler.unlink()
    await asyncio.to_thread(platform.restart, "nats")


async def run_crash(platform: Platform, fault: str, sync: str, checkouts: int, rate: float) -> Row:
    row = Row(fault, sync, checkouts)
    run = uuid.uuid4().hex[:8]
    rng = random.Random(run)
    endpoints = Endpoints.from_env(platform.e2e_env(), platform=platform)
    assert endpoints is not None
    nc = await operator_connection(platform)
    markers = Markers(nc, replicas=platform.nats_nodes)
    await markers.declare()
    async with customer_session(15) as http:
        shop = Shop(endpoints, http)
        skus = [await shop.new_sku(stock=checkouts, price_cents=700) for _ in range(3)]
        initial = {sku: (await shop.ledger(sku))["on_hand"] for sku in skus}
        ledger: list[tuple[str, str, int]] = []  # (key, order id, last status) per checkout
        refused: set[str] = set()

        async def one_checkout(i: int) -> None:
            key = f"crash-{run}-{i}"
            items = [{"sku": rng.choice(skus), "quantity": rng.randint(1, 2)}]
            token = "tok_declined" if rng.random() < 0.2 else "tok_visa"
            status = 0
            for _ in range(15):  # a real client retries with the same key, for a while
                try:
                    reply = await shop.checkout(
                        items, token=token, key=key, email=f"{key}@example.com"
                    )
                    status = reply.status
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                row.unavailable += status == 503
                if status in (201, 402):
                    break
                if status == 422 or (status == 409 and "skus" in str(reply.body)):
                    refused.add(order_id_for(key))  # nothing held, nothing promised
                    break
                await asyncio.sleep(1.0)
            ledger.append((key, order_id_for(key), status))

        async def faults() -> None:
            duration = checkouts / rate
            if fault == "cluster-partition":
                await asyncio.sleep(duration / 3)
                await partition_the_leader(platform, nc, row)
                return
            if fault == "disk-full":
                await asyncio.sleep(duration / 3)
                await fill_the_disk(platform, row)
                return
            kills = 3 if fault == "nats-sigkill" else 1
            for _ in range(kills):
                await asyncio.sleep(duration / (kills + 1))
                await kill_and_restart(platform, list(platform.nats_nodes_names))
                row.kills += 1

        publishing = asyncio.create_task(markers.publish_until_stopped())
        await asyncio.gather(at_rate(checkouts, rate, one_checkout), faults())
        markers.stop()
        await publishing
        last_fault = time.monotonic()
        for _, _, status in ledger:
            row.answers[status] += 1

        # -- the independent ledger ------------------------------------------------------
        orders: dict[str, dict[str, Any] | None] = {}
        accepted = {oid for _, oid, status in ledger if status in (201, 402)}
        deadline = last_fault + 30 + HOLD_SECONDS
        gone = last_fault + HOLD_SECONDS + 5
        pending = {oid for _, oid, _ in ledger}
        while pending and time.monotonic() < deadline:
            for oid in list(pending):
                try:
                    reply = await shop.order(oid)
                except (aiohttp.ClientError, TimeoutError):
                    continue  # not read this round (the storefront dropped the connection)
                if reply.status == 200 and reply.body["status"] in TERMINAL:
                    orders[oid] = reply.body
                    pending.discard(oid)
                elif (
                    reply.status == 404
                    and oid not in accepted
                    and (oid in refused or time.monotonic() > gone)
                ):
                    # Refused, or never got that far: nothing promised. Without an answer,
                    # decided once a hold its last attempt may have left has expired.
                    orders[oid] = None
                    pending.discard(oid)
            if pending:
                await asyncio.sleep(0.5)
        row.seconds_to_terminal = time.monotonic() - last_fault
        row.accepted_without_order = sum(
            1 for oid in accepted if orders.get(oid) is None and oid not in pending
        )
        row.not_terminal = len(pending & accepted)
        row.stuck = [await stored_state(nc, oid) for oid in sorted(pending & accepted)]
        confirmed = {oid: o for oid, o in orders.items() if o and o["status"] == "CONFIRMED"}
        for oid, order in orders.items():
            if order is None:
                continue
            payment = await shop.read(f"{shop.ep.payments}/payments/{oid}")
            if payment.status != 200:
                row.orders_without_payment += 1
                continue
            paid = payment.body["status"]
            if (paid == "approved") != (oid in confirmed):
                row.approved_unaccounted += 1  # approved but not confirmed nor refunded
        receipts = {
            m["MessageID"].split(".")[0]
            for m in await shop.emails()
            if m["MessageID"].endswith(".receipt@junction.local")
        }
        ours = receipts & set(orders)
        row.receipts_without_confirmed = len(ours - set(confirmed))
        sold = Counter[str]()
        for order in confirmed.values():
            for item in order["items"]:
                sold[item["sku"]] += item["quantity"]
        await asyncio.sleep(2)
        for sku in skus:
            led = await shop.ledger(sku)
            unaccounted = abs(initial[sku] - sold[sku] - led["on_hand"]) + led["reserved"]
            row.units_unaccounted += unaccounted
            if unaccounted:  # who holds them, and what each service has stored for it
                row.stuck.extend(await held_stock(nc, sku, confirmed))
    after = await operator_connection(platform)
    stored = await markers.stored(after)
    await after.close()
    await nc.close()
    row.markers_acked = len(markers.acked)
    row.markers_lost = len(markers.acked - stored)
    return row


def table(rows: list[Row]) -> str:
    head = [
        "| fault | sync_interval | checkouts | answered 201 / 402 / 409 / other "
        "| 503s retried | kills "
        "| markers acked | acked and lost | 201 without order | not terminal "
        "| order without payment | approved unaccounted | receipt without confirmed "
        "| stock units unaccounted | s to all terminal |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        other = r.checkouts - r.answers[201] - r.answers[402] - r.answers[409]
        fault = f"{r.fault}: {r.cut}" if r.cut else r.fault
        head.append(
            f"| {fault} | {r.sync} | {r.checkouts} | {r.answers[201]} / {r.answers[402]} / "
            f"{r.answers[409]} / {other} | {r.unavailable} | {r.kills} | {r.markers_acked} "
            f"| {r.markers_lost} "
            f"| {r.accepted_without_order} | {r.not_terminal} | {r.orders_without_payment} "
            f"| {r.approved_unaccounted} | {r.receipts_without_confirmed} | {r.units_unaccounted} "
            f"| {r.seconds_to_terminal:.1f} |"
        )
    head.extend(f"\nnot terminal: {s}" for r in rows for s in r.stuck)
    return "\n".join(head) + "\n"


def run_one(fault: str, sync: str, checkouts: int, rate: float) -> Row:
    """One fault with one fsync policy, on a platform of its own."""
    hosts = TestHosts(3) if fault == "cluster-partition" else None
    with tempfile.TemporaryDirectory(prefix="junction-crash-") as tmp:
        store = Path(tmp) / "nats"
        if hosts is not None:
            hosts.create()
        if fault == "disk-full":  # the node's store on a small file system of its own
            store.mkdir()
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(store)],
                check=True,
            )
        platform = crash_platform(Path(tmp), FAULTS[fault], SYNC[sync], hosts)
        try:
            platform.start()
            return asyncio.run(run_crash(platform, fault, sync, checkouts, rate))
        finally:
            platform.stop()
            if hosts is not None:
                hosts.remove()
            if fault == "disk-full":
                subprocess.run(["umount", str(store)], check=False)


def runnable(fault: str) -> str | None:
    """Why `fault` cannot run here, or None."""
    if fault == "cluster-partition" and not netns.available():
        return "the partition needs root and iproute2 (network namespaces of its own)"
    if fault == "disk-full" and (os.geteuid() != 0 or shutil.which("mount") is None):
        return "the full disk needs root to mount a small file system of its own"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkouts", type=int, default=300)
    parser.add_argument("--rate", type=float, default=15.0)
    args = parser.parse_args()
    rows: list[Row] = []
    for fault in FAULTS:
        if (why := runnable(fault)) is not None:
            print(f"{fault}: not run: {why}", flush=True)  # noqa: T201
            continue
        rows.extend(run_one(fault, sync, args.checkouts, args.rate) for sync in SYNC)
    text = table(rows)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%MZ")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"chaos-crash-{stamp}.md").write_text(f"# Crash faults, {stamp}\n\n{text}")
    print(text, flush=True)  # noqa: T201
    sys.exit(0 if all(r.lost == 0 for r in rows) else 1)


if __name__ == "__main__":
    main()
