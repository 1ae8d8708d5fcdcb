"""junctionctl against a running local platform and a real nats-server."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from junction_devtools.platform import Platform, free_ports
from junctionctl.cli import app

pytestmark = pytest.mark.integration

runner = CliRunner()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    fast_failing_mail = {
        "JUNCTION_CONSUMER_MAX_DELIVER": "2",
        "JUNCTION_CONSUMER_BACKOFF_SECONDS": "0.1",
        "JUNCTION_SMTP_TIMEOUT_SECONDS": "1",
    }
    p = Platform(
        state_dir=tmp_path_factory.mktemp("ctl"),
        ports=free_ports(),
        telemetry=True,
        service_env={"notifications": fast_failing_mail},
    )
    try:
        p.start()
        p.write_env_file()
        yield p
    finally:
        p.stop()


def call(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body else None,
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return json.loads(err.read())


def checkout(p: Platform) -> str:
    answer = call(
        "POST",
        f"{p.urls['storefront']}/api/checkout",
        {
            "customer_email": "ctl@example.com",
            "payment_token": "tok_visa",
            "items": [{"sku": "JNC-TEE", "quantity": 1}],
        },
    )
    return str(answer["order_id"])


def wait_for(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def timeline(p: Platform, order_id: str) -> list[str]:
    order = call("GET", f"{p.urls['storefront']}/api/orders/{order_id}")
    return [e["event"] for e in order.get("timeline", [])]


def test_status_local_shows_services_and_consumers(platform: Platform) -> None:
    result = runner.invoke(
        app,
        ["status", "--local"],
        env={"JUNCTION_STATE_DIR": str(platform.state_dir), "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("ready") == 5
    for consumer in (
        "inventory-PaymentSucceeded",
        "orders-StockCommitted",
        "notifications-OrderConfirmed",
        "payments-OrderCancelled",
    ):
        assert consumer in result.output


def test_trace_prints_the_waterfall_of_an_order(platform: Platform) -> None:
    order_id = checkout(platform)
    wait_for(lambda: "email_sent:receipt" in timeline(platform, order_id))

    def trace() -> Any:
        return runner.invoke(
            app,
            [
                "trace",
                order_id,
                "--storefront",
                platform.urls["storefront"],
                "--query",
                platform.urls["trace_query"],
            ],
            env={"COLUMNS": "200"},
        )

    # Spans reach the store in each service's export batches (every 2 s).
    wait_for(lambda: "5 services" in trace().output)
    result = trace()
    assert result.exit_code == 0, result.output
    assert "5 services" in result.output
    assert "POST /api/checkout" in result.output
    assert "payments.PaymentSucceeded process" in result.output
    assert "async" in result.output and "sync" in result.output


def test_trace_of_an_unknown_id_is_a_clear_error(platform: Platform) -> None:
    result = runner.invoke(
        app,
        [
            "trace",
            "nope",
            "--storefront",
            platform.urls["storefront"],
            "--query",
            platform.urls["trace_query"],
        ],
    )
    assert result.exit_code == 2
    assert "neither a known order nor a trace id" in result.output


def test_dead_letters_are_listed_shown_and_replayed_after_the_fix(platform: Platform) -> None:
    nats_url = platform.urls["nats"]
    platform.kill("mailsink", signal.SIGSTOP)  # SMTP hangs: every send times out
    try:
        order_id = checkout(platform)

        def dead_lettered() -> bool:
            out = runner.invoke(
                app, ["dlq", "list", "--nats", nats_url], env={"COLUMNS": "250"}
            ).output
            return "notifications-OrderCreated" in out and "notifications-OrderConfirmed" in out

        wait_for(dead_lettered, timeout=60)
    finally:
        platform.kill("mailsink", signal.SIGCONT)  # the fix
    listing = runner.invoke(app, ["dlq", "list", "--nats", nats_url], env={"COLUMNS": "250"})
    assert "gave up after 2 deliveries" in listing.output
    seq = next(
        line.split("│")[1].strip()
        for line in listing.output.splitlines()
        if "notifications-OrderCreated" in line
    )
    shown = runner.invoke(app, ["dlq", "show", seq, "--nats", nats_url])
    assert shown.exit_code == 0 and order_id in shown.output
    replayed = runner.invoke(app, ["dlq", "replay", "--all", "--nats", nats_url])
    assert replayed.exit_code == 0, replayed.output
    wait_for(
        lambda: (
            {"email_sent:order_received", "email_sent:receipt"} <= set(timeline(platform, order_id))
        )
    )
    after = runner.invoke(app, ["dlq", "list", "--nats", nats_url], env={"COLUMNS": "250"})
    assert "dead letters (0)" in after.output


def test_no_nats_is_a_clear_error() -> None:
    port = free_ports(["nats"])["nats"]
    result = runner.invoke(app, ["dlq", "list", "--nats", f"nats://127.0.0.1:{port}"])
    assert result.exit_code == 2
    assert "unreachable" in result.output


def test_status_local_without_a_platform_is_a_clear_error(tmp_path: Path) -> None:
    ports = free_ports(["monitor"])
    (tmp_path / "urls.json").write_text(
        json.dumps(
            {
                **{
                    s: "http://127.0.0.1:1"
                    for s in ("storefront", "orders", "inventory", "payments", "notifications")
                },
                "nats_monitor": f"http://127.0.0.1:{ports['monitor']}",
            }
        )
    )
    result = runner.invoke(app, ["status", "--local"], env={"JUNCTION_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "unreachable" in result.output


def test_trace_keeps_names_whole_in_a_narrow_pipe_and_speaks_json(platform: Platform) -> None:
    order_id = checkout(platform)
    wait_for(lambda: "email_sent:receipt" in timeline(platform, order_id))
    env = {"JUNCTION_STATE_DIR": str(platform.state_dir), "COLUMNS": "80"}

    def services() -> list[str]:
        listed = runner.invoke(app, ["trace", order_id, "--local", "--json"], env=env)
        return list(json.loads(listed.output)["services"]) if listed.exit_code == 0 else []

    wait_for(lambda: len(services()) == 5)  # the services' export batches (every 2 s)
    narrow = runner.invoke(app, ["trace", order_id, "--local"], env=env)
    assert narrow.exit_code == 0, narrow.output
    lines = [line for line in narrow.output.splitlines() if "notifications" in line]
    assert lines, narrow.output
    assert "notificati…" not in narrow.output
    assert "async" in narrow.output and "consumer" in narrow.output
    as_json = runner.invoke(app, ["trace", order_id, "--local", "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert document["services"] == sorted(
        ["inventory", "notifications", "orders", "payments", "storefront"]
    )
    assert {s["path"] for s in document["spans"]} >= {"sync", "async"}
    assert document["spans"][0]["depth"] == 0


@pytest.mark.parametrize(
    "command",
    [["status"], ["trace", "x"], ["e2e"], ["dlq", "list"], ["dlq", "show", "1"], ["dlq", "replay"]],
)
def test_every_subcommand_accepts_local(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--local" in result.output
