"""A bounded chaos run on real processes: N checkouts at a steady rate while faults are
injected, then the invariants of docs/architecture.md checked through the public API, the SMTP sink
and JetStream itself. `make chaos` runs it at N = 1000; `make test` at N = 200."""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import nats
from nats.aio.client import Client as NatsClient

from junction_devtools.load import at_rate
from junction_devtools.platform import SERVICES, Platform, free_ports
from storefront.domain import order_id_for
from tests.e2e.client import Endpoints, Shop, customer_session

TERMINAL = {"CONFIRMED", "CANCELLED"}
HOLD_SECONDS = 10
ACK_WAIT_SECONDS = 4


def recovery_env() -> dict[str, dict[str, str]]:
    """Per service: consumers and the outbox that recover within seconds, short holds."""
    consumer = {
        "JUNCTION_CONSUMER_ACK_WAIT_SECONDS": str(ACK_WAIT_SECONDS),
        "JUNCTION_CONSUMER_MAX_DELIVER": "30",
        "JUNCTION_CONSUMER_BACKOFF_SECONDS": "0.2",
        "JUNCTION_OUTBOX_SWEEP_INTERVAL_SECONDS": "1",
    }
    service_env = {name: dict(consumer) for name in SERVICES}
    service_env["inventory"]["JUNCTION_RESERVATION_HOLD_SECONDS"] = str(HOLD_SECONDS)
    return service_env


def chaos_platform(state_dir: Path, nats_nodes: int, replicas: int = 1) -> Platform:
    service_env = recovery_env()
    service_env["payments"].update(
        {
            "JUNCTION_FAULT_ERROR_RATE": "0.3",  # 30 % transient errors
            "JUNCTION_FAULT_LATENCY_SECONDS": "2.0",  # 2 s latency spikes ...
            "JUNCTION_FAULT_LATENCY_RATE": "0.05",  # ... on 5 % of charges
        }
    )
    return Platform(
        state_dir=state_dir,
        ports=free_ports(),
        telemetry=False,
        service_env=service_env,
        nats_nodes=nats_nodes,
        replicas=replicas,
    )


async def expected_disconnection(exc: Exception) -> None:
    """The harness's own connection sees the faults it injects; nothing to report."""


async def operator_connection(platform: Platform) -> NatsClient:
    connection: NatsClient = await nats.connect(
        platform.operator_nats_url.split(","),
        error_cb=expected_disconnection,
        ping_interval=2,  # a node cut off is left within seconds, as the services leave it
        max_outstanding_pings=2,
    )
    return connection


@dataclass
class Attempt:
    key: str
    order_id: str
    items: list[dict[str, Any]]
    status: int = 0
    tries: int = 0


@dataclass
class Report:
    nats_nodes: int
    checkouts: int
    replicas: int = 1
    faults: Counter[str] = field(default_factory=Counter)
    answers: Counter[int] = field(default_factory=Counter)
    invariants: list[tuple[str, bool, str]] = field(default_factory=list)
    seconds_to_all_terminal: float = 0.0
    total_seconds: float = 0.0

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.invariants.append((name, ok, detail))

    @property
    def held(self) -> bool:
        return all(ok for _, ok, _ in self.invariants)

    def table(self) -> str:
        lines = [
            f"chaos run: {self.checkouts} checkouts, NATS nodes: {self.nats_nodes}, "
            f"replicas per service: {self.replicas}, {self.total_seconds:.0f} s",
            "",
            "| fault injected | count |",
            "|---|---:|",
        ]
        lines += [f"| {name} | {count} |" for name, count in self.faults.items()]
        lines += ["", "| answer | count |", "|---|---:|"]
        lines += [
            f"| {status or 'no answer'} | {count} |"
            for status, count in sorted(self.answers.items())
        ]
        lines += ["", "| invariant | held | detail |", "|---|---|---|"]
        lines += [
            f"| {name} | {'yes' if ok else 'NO'} | {detail} |"
            for name, ok, detail in self.invariants
        ]
        lines += [
            "",
            f"time from the last fault to every order terminal: "
            f"{self.seconds_to_all_terminal:.1f} s",
        ]
        return "\n".join(lines)


def endpoints_of(platform: Platform) -> Endpoints:
    endpoints = Endpoints.from_env(platform.e2e_env(), platform=platform)
    assert endpoints is not None
    return endpoints


async def dead_letters(js: Any) -> list[Any]:
    """Every message the DLQ stream holds now."""
    info = await js.stream_info("DLQ")
    dead = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            dead.append(await js.get_msg("DLQ", seq))
        except nats.js.errors.NotFoundError:  # deleted sequence numbers
            continue
    return dead


async def run_chaos(platform: Platform, checkouts: int, rate: float, poison: int) -> Report:
    report = Report(platform.nats_nodes, checkouts, platform.replicas)
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    rng = random.Random(run)
    async with customer_session(15) as http:
        shop = Shop(endpoints_of(platform), http)
        # Checkouts spread over the storefront's replicas, as a load balancer would, and
        # a retry may land on another replica than the first attempt.
        shops = [
            Shop(replace(endpoints_of(platform), storefront=url), http)
            for url in platform.service_urls("storefront")
        ]
        skus = {
            await shop.new_sku(stock=max(10, checkouts // 4), price_cents=500): 0 for _ in range(4)
        }
        initial = {sku: (await shop.ledger(sku))["on_hand"] for sku in skus}
        attempts: list[Attempt] = []

        async def one_checkout(i: int) -> None:
            key = f"chaos-{run}-{i}"
            items = [
                {"sku": sku, "quantity": rng.randint(1, 2)}
                for sku in rng.sample(sorted(skus), rng.randint(1, 2))
            ]
            attempt = Attempt(key, order_id_for(key), items)
            attempts.append(attempt)
            token = "tok_declined" if rng.random() < 0.15 else "tok_visa"
            for n in range(10):  # a real client retries, with the same key, for a while
                attempt.tries += 1
                try:
                    reply = await shops[(i + n) % len(shops)].checkout(
                        items, token=token, key=key, email=f"{key}@example.com"
                    )
                    attempt.status = reply.status
                except (aiohttp.ClientError, TimeoutError):
                    attempt.status = 0
                if attempt.status not in (0, 409, 500, 502, 503, 504) or (
                    attempt.status == 409 and "skus" in str(reply.body)
                ):
                    break
                await asyncio.sleep(1.0)

        async def faults() -> None:
            duration = checkouts / rate
            steps = len(platform.service_procs) + 4
            pause = duration / (steps + 1)
            nc = await operator_connection(platform)
            js = nc.jetstream()
            for name in platform.service_procs:  # one replica at a time
                await asyncio.sleep(pause)
                platform.kill(name, signal.SIGKILL)
                report.faults[f"SIGKILL {name}, restart"] += 1
                await asyncio.to_thread(platform.restart, name)
            await asyncio.sleep(pause)
            platform.kill("notifications", signal.SIGSTOP)
            await asyncio.sleep(ACK_WAIT_SECONDS + 2)
            platform.kill("notifications", signal.SIGCONT)
            report.faults[f"SIGSTOP notifications {ACK_WAIT_SECONDS + 2} s (> ack wait)"] += 1
            await asyncio.sleep(pause)
            if platform.nats_nodes == 1:
                await nc.close()
                await asyncio.to_thread(platform.restart, "nats")
                report.faults["restart the NATS server"] += 1
                nc = await operator_connection(platform)
                js = nc.jetstream()
            else:
                platform.kill("nats-2", signal.SIGKILL)
                report.faults["SIGKILL one node of the 3-node cluster"] += 1
                await asyncio.sleep(pause)
                await asyncio.to_thread(platform.restart, "nats-2")
            await asyncio.sleep(pause)
            for i in range(poison):
                subject = "orders.OrderCancelled" if i % 2 else "orders.OrderConfirmed"
                for attempt in range(20):  # the cluster may still be electing leaders
                    try:
                        await js.publish(
                            subject,
                            f"poison {run} {i}".encode(),
                            headers={"Nats-Msg-Id": f"poison-{run}-{i}"},
                        )
                        break
                    except (nats.errors.Error, TimeoutError):
                        if attempt == 19:
                            raise
                        await asyncio.sleep(0.5)
            report.faults["poison messages"] += poison
            await nc.close()

        await asyncio.gather(at_rate(checkouts, rate, one_checkout), faults())
        report.faults["payments: 30% transient errors, 2 s spikes on 5%"] += 1
        last_fault = time.monotonic()
        for attempt in attempts:
            report.answers[attempt.status] += 1

        # -- invariants ------------------------------------------------------------------
        orders: dict[str, dict[str, Any] | None] = {}
        deadline = last_fault + 30 + HOLD_SECONDS
        pending = list(attempts)
        while pending and time.monotonic() < deadline:
            still = []
            for attempt in pending:
                try:
                    reply = await shop.order(attempt.order_id)
                except (aiohttp.ClientError, TimeoutError):
                    still.append(attempt)  # not read this round: asked again
                    continue
                if reply.status == 404 and attempt.status in (409, 422):
                    orders[attempt.order_id] = None
                elif reply.status == 200 and reply.body["status"] in TERMINAL:
                    orders[attempt.order_id] = reply.body
                elif reply.status == 404 and time.monotonic() > last_fault + HOLD_SECONDS + 5:
                    orders[attempt.order_id] = None  # never created (its checkout failed early)
                else:
                    still.append(attempt)
            pending = still
            if pending:
                await asyncio.sleep(0.5)
        report.seconds_to_all_terminal = time.monotonic() - last_fault
        accepted = [a for a in attempts if a.status in (201, 402)]
        report.check(
            "every accepted order terminal within 30 s (+ hold)",
            not pending and all(orders.get(a.order_id) for a in accepted),
            f"{len(accepted)} accepted, {len(pending)} not terminal",
        )

        confirmed = {oid: o for oid, o in orders.items() if o and o["status"] == "CONFIRMED"}
        cancelled = {oid for oid, o in orders.items() if o and o["status"] == "CANCELLED"}
        sold = Counter[str]()
        for order in confirmed.values():
            for item in order["items"]:
                sold[item["sku"]] += item["quantity"]
        await asyncio.sleep(2)  # let the last releases land
        ledgers = {sku: await shop.ledger(sku) for sku in skus}
        oversold = [
            s
            for s, led in ledgers.items()
            if led["committed_units"] > initial[s] or led["on_hand"] < 0 or led["available"] < 0
        ]
        report.check("no oversell, never negative", not oversold, f"{len(skus)} SKUs")
        exact = all(
            led["on_hand"] == initial[s] - sold[s]
            and led["committed_units"] == sold[s]
            and led["reserved"] == 0
            for s, led in ledgers.items()
        )
        detail = ", ".join(
            f"{s[-4:]}: on hand {led['on_hand']} = {initial[s]} - {sold[s]}"
            for s, led in ledgers.items()
        )
        report.check("exact stock conservation", exact, detail)

        approved = refunded = 0
        mismatched = []
        for oid in orders:
            payment = await shop.read(f"{shop.ep.payments}/payments/{oid}")
            pstatus = payment.body.get("status") if payment.status == 200 else None
            approved += pstatus in ("approved", "refunded")
            refunded += pstatus == "refunded"
            if pstatus == "approved" and oid not in confirmed:
                mismatched.append(oid)
            if oid in confirmed and pstatus != "approved":
                mismatched.append(oid)
        report.check(
            "approved payments = confirmed orders + refunds",
            not mismatched and approved == len(confirmed) + refunded,
            f"{approved} approved = {len(confirmed)} confirmed + {refunded} refunded",
        )

        receipts = Counter[str]()
        for message in await shop.emails():
            mid = message["MessageID"]
            if mid.endswith(".receipt@junction.local"):
                receipts[mid.split(".")[0]] += 1
        ours = {oid for oid in receipts if oid in orders}
        report.check(
            "exactly one receipt per confirmed order (by Message-ID)",
            ours == set(confirmed) and not (ours & cancelled),
            f"{len(ours)} receipts for {len(confirmed)} confirmed; "
            f"{sum(receipts[o] for o in ours) - len(ours)} resends with the same ID",
        )

        # orders.OrderConfirmed has one consumer (notifications); orders.OrderCancelled two
        # (notifications, payments).
        expected = sum(1 if i % 2 == 0 else 2 for i in range(poison))
        nc = await operator_connection(platform)
        js = nc.jetstream()
        # The poison went out last, just after a NATS fault: a consumer whose dead-letter
        # publish met a stream still electing its leader has it again only after its ack
        # wait. So wait (bounded) until every copy can have landed, then count exactly.
        dlq_deadline = time.monotonic() + 30
        while True:
            dead = await dead_letters(js)
            poison_dead = [m for m in dead if f"poison {run}".encode() in (m.data or b"")]
            if len(poison_dead) >= expected or time.monotonic() > dlq_deadline:
                break
            await asyncio.sleep(0.5)
        await nc.close()
        others = [m for m in dead if m not in poison_dead]
        report.check(
            "the dead-letter stream holds exactly the poison messages",
            len(poison_dead) == expected and not others,
            f"{len(poison_dead)} poison copies (expected {expected}), {len(others)} others",
        )
    report.total_seconds = time.monotonic() - started
    return report
