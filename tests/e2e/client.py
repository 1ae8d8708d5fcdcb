"""What the e2e suite knows of the platform: base URLs from environment variables, and
helpers that use only the public APIs (HTTP, the mail sink's API, NATS)."""

from __future__ import annotations

import asyncio
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

TERMINAL = {"CONFIRMED", "CANCELLED"}

# The services close an HTTP connection idle for JUNCTION_HTTP_KEEPALIVE_SECONDS (5 by
# default). A client that reuses one at the moment the server closes it gets "Server
# disconnected" for its request, so the suite drops its own idle connections after half
# of that, as the services' clients do.
KEEPALIVE_S = float(os.environ.get("JUNCTION_HTTP_KEEPALIVE_SECONDS", "5")) / 2


def customer_session(timeout_seconds: float) -> aiohttp.ClientSession:
    """An HTTP session for talking to the platform: a total timeout per request, and no
    pooled connection reused after the services may have closed it."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S),
    )


@dataclass
class Endpoints:
    storefront: str
    orders: str
    inventory: str
    payments: str
    mail_api: str | None  # None where the platform sends to a real SMTP host (no sink API)
    nats: str
    trace_query: str | None = None
    platform: Any = None  # the local Platform when the suite started one itself
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, platform: Any = None
    ) -> Endpoints | None:
        """The endpoints named by JUNCTION_*_URL variables (the process's, or `env`)."""
        env = os.environ if env is None else env
        if "JUNCTION_STOREFRONT_URL" not in env:
            return None
        return cls(
            storefront=env["JUNCTION_STOREFRONT_URL"],
            orders=env["JUNCTION_ORDERS_URL"],
            inventory=env["JUNCTION_INVENTORY_URL"],
            payments=env["JUNCTION_PAYMENTS_URL"],
            mail_api=env.get("JUNCTION_MAIL_API_URL"),
            nats=env["JUNCTION_NATS_URL"],
            trace_query=env.get("JUNCTION_TRACE_QUERY_URL"),
            platform=platform,
        )


def wait_until_ready(endpoints: Endpoints, timeout: float) -> None:
    """Block until every service answers /readyz with 200, or fail naming those that do not.

    The in-cluster Job starts right after the release's objects are created, before the
    Deployments are ready; a suite that started at once would fail on connection errors."""
    bases = {
        "storefront": endpoints.storefront,
        "orders": endpoints.orders,
        "inventory": endpoints.inventory,
        "payments": endpoints.payments,
    }
    waiting = dict(bases)
    last: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while waiting:
        for name, base in list(waiting.items()):
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as reply:
                    if reply.status == 200:
                        del waiting[name]
            except (OSError, urllib.error.URLError) as exc:
                last[name] = str(exc)
        if waiting and time.monotonic() > deadline:
            raise AssertionError(
                f"not ready after {timeout:.0f}s: "
                + ", ".join(f"{n} ({last.get(n, 'not 200')})" for n in waiting)
            )
        if waiting:
            time.sleep(1)


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Shop:
    """A customer's and an operator's view of a running Junction."""

    def __init__(self, endpoints: Endpoints, session: aiohttp.ClientSession) -> None:
        self.ep = endpoints
        self.http = session

    async def call(
        self, method: str, url: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        async with self.http.request(method, url, json=json, headers=headers) as resp:
            body = await resp.json(content_type=None) if resp.content_length != 0 else None
            return Reply(resp.status, body, dict(resp.headers))

    async def checkout(
        self,
        items: list[dict[str, Any]],
        *,
        token: str = "tok_visa",
        email: str | None = None,
        key: str | None = None,
    ) -> Reply:
        body = {
            "customer_email": email or f"e2e-{uuid.uuid4().hex[:8]}@example.com",
            "items": items,
            "payment_token": token,
        }
        headers = {"Idempotency-Key": key} if key else None
        for _ in range(30):
            reply = await self.call("POST", f"{self.ep.storefront}/api/checkout", body, headers)
            if not (reply.status == 503 and (reply.body or {}).get("error") == "overloaded"):
                return reply
            # Admission control turned it away before doing anything: come back as told.
            await asyncio.sleep(float(reply.headers.get("Retry-After", "1")))
        return reply

    async def order(self, order_id: str) -> Reply:
        return await self.call("GET", f"{self.ep.storefront}/api/orders/{order_id}")

    async def new_sku(self, stock: int, price_cents: int = 999) -> str:
        sku = f"E2E-{uuid.uuid4().hex[:12].upper()}"
        reply = await self.call(
            "PUT",
            f"{self.ep.inventory}/products/{sku}",
            {"name": f"e2e {sku}", "price_cents": price_cents, "stock": stock},
        )
        assert reply.status == 201, reply.body
        return sku

    async def read(self, url: str, timeout: float = 30.0) -> Reply:
        """GET `url`, coming back as told while the service answers 503 (a dependency
        still recovering from a fault, or admission control): a read changes nothing, so
        a checker may wait for the platform to settle instead of counting a 503 as a
        broken invariant. The last answer, whatever it is, after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            reply = await self.call("GET", url)
            if reply.status != 503 or time.monotonic() > deadline:
                return reply
            await asyncio.sleep(float(reply.headers.get("Retry-After", "1")))

    async def ledger(self, sku: str) -> dict[str, Any]:
        reply = await self.read(f"{self.ep.inventory}/products/{sku}")
        assert reply.status == 200, reply.body
        ledger: dict[str, Any] = reply.body
        return ledger

    async def wait_for(
        self, order_id: str, check: Callable[[dict[str, Any]], bool], timeout: float = 30.0
    ) -> dict[str, Any]:
        """Poll the order until `check` holds; the order."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            reply = await self.order(order_id)
            if reply.status == 200:
                last = reply.body
                if check(last):
                    return dict(last)
            await asyncio.sleep(0.1)
        raise AssertionError(f"order {order_id} did not get there in {timeout}s: {last}")

    async def wait_terminal(self, order_id: str, timeout: float = 30.0) -> dict[str, Any]:
        return await self.wait_for(order_id, lambda o: o["status"] in TERMINAL, timeout)

    async def emails(self) -> list[dict[str, Any]]:
        """Every message in the mail sink (Mailpit's API shape), oldest first."""
        if self.ep.mail_api is None:
            pytest.skip("no mail sink to read: JUNCTION_MAIL_API_URL unset (mailpit.enabled=false)")
        messages: list[dict[str, Any]] = []
        start = 0
        while True:
            reply = await self.call(
                "GET", f"{self.ep.mail_api}/api/v1/messages?start={start}&limit=500"
            )
            page = reply.body["messages"]
            messages.extend(page)
            start += len(page)
            if not page or start >= reply.body["total"]:
                return list(reversed(messages))

    async def emails_for(self, order_id: str) -> list[str]:
        """Message-IDs in the sink for one order, one per message received."""
        return [
            m["MessageID"] for m in await self.emails() if m["MessageID"].startswith(f"{order_id}.")
        ]


def events(timeline: list[dict[str, Any]]) -> list[str]:
    return [entry["event"] for entry in timeline]
