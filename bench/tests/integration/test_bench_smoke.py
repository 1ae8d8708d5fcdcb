"""The benchmark harness runs end to end (a second per variant, no thresholds), so it
cannot rot; the figures themselves come from `make bench`."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def test_bench_quick_run_prints_every_variant() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    for row in (
        "| raw |",
        "| junction |",
        "| junction+otel |",
        "| junction+otel 10% |",
        "| junction+otel 0% |",
    ):
        assert out.count(row) == 2, out  # once in the HTTP table, once in the JetStream table
    # The hop's second untraced pair: in the HTTP table, and in both telemetry cost tables.
    assert out.count("| junction, second pair |") == 1, out
    assert out.count("| junction, second pair, tracing off (the bench's resolution) |") == 2
    for row in ("| all |", "| one in ten |", "| none |", "| goal for one in ten |"):
        assert out.count(row) == 2, out  # the telemetry cost tables, by throughput and CPU
    assert "Telemetry cost in CPU" in out and "| CPU µs per request |" in out
    assert "| 10 |" in out and "Highest rate with 0 errors" in out  # the k6 checkout table
    assert "| storefront |" in out and "| total |" in out  # the footprint table
    assert "NATS messages per confirmed checkout" in out and "| **all** |" in out
    assert "Floor: 20 checkouts" in out and "x** the floor" in out
    assert "| round | traced | untraced | tracing adds |" in out and "| 2 |" in out
    assert "Tracing every checkout adds **" in out
