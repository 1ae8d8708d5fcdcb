"""The local platform as `make run` starts it: real processes, real nats-server."""

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from junction_devtools.platform import Platform, free_ports

pytestmark = pytest.mark.integration


def call(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # loopback only
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_collector_down_costs_the_customer_nothing_and_state_survives_a_restart(
    tmp_path: Path,
) -> None:
    closed = free_ports(["otlp"])["otlp"]  # nothing listens here: the collector is down
    platform = Platform(
        state_dir=tmp_path,
        ports=free_ports(),
        telemetry=True,
        otlp_endpoint=f"http://127.0.0.1:{closed}",
    )
    try:
        platform.start()
        urls = platform.urls
        status, answer = call(
            "POST",
            f"{urls['storefront']}/api/checkout",
            {
                "customer_email": "restart@example.com",
                "payment_token": "tok_visa",
                "items": [{"sku": "JNC-CAP", "quantity": 2}],
            },
        )
        assert status == 201, answer
        assert answer["trace_id"]  # traced, even though nothing receives the spans
        order_id = answer["order_id"]
        platform.stop()

        platform.start()  # same state folder: a restart, as after Ctrl-C and `make run`
        status, order = call("GET", f"{urls['storefront']}/api/orders/{order_id}")
        assert status == 200
        assert order["items"] == [{"sku": "JNC-CAP", "quantity": 2, "price_cents": 1800}]
        status, ledger = call("GET", f"{urls['inventory']}/products/JNC-CAP")
        assert ledger["committed_units"] + ledger["reserved"] == 2
        assert ledger["on_hand"] == ledger["initial"] - ledger["committed_units"]
    finally:
        platform.stop()
    assert list((tmp_path / "mail").glob("*.eml")), "emails are kept under the state folder"
