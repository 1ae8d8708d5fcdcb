"""How the checkout benchmark turns k6's summary and order timelines into figures."""

from typing import Any

import pytest
from bench.checkout import completion_seconds, sample, step_result, tracing_costs

pytestmark = pytest.mark.unit


def order(status: str, *events: tuple[str, str]) -> dict[str, Any]:
    return {"status": status, "timeline": [{"event": e, "at": at} for e, at in events]}


def test_completion_runs_from_creation_to_the_later_of_confirmation_and_receipt() -> None:
    done = order(
        "CONFIRMED",
        ("order_created", "2026-11-30T10:00:00.000+00:00"),
        ("order_confirmed", "2026-11-30T10:00:00.120+00:00"),
        ("email_sent:receipt", "2026-11-30T10:00:00.300+00:00"),
    )
    assert completion_seconds(done) == pytest.approx(0.3)


def test_an_order_without_its_receipt_is_not_complete() -> None:
    confirmed_only = order(
        "CONFIRMED",
        ("order_created", "2026-11-30T10:00:00+00:00"),
        ("order_confirmed", "2026-11-30T10:00:01+00:00"),
    )
    assert completion_seconds(confirmed_only) is None
    assert completion_seconds(order("PENDING_PAYMENT")) is None


def test_errors_count_failed_requests_and_arrivals_k6_could_not_start() -> None:
    summary = {
        "metrics": {
            "http_req_duration": {"values": {"p(50)": 10.0, "p(95)": 40.0, "p(99)": 90.0}},
            "http_reqs": {"values": {"count": 98}},
            "http_req_failed": {"values": {"passes": 3}},
            "dropped_iterations": {"values": {"count": 2}},
        }
    }
    run = {"summary": summary, "order_ids": [f"o{i}" for i in range(95)]}
    r = step_result(10, 10, run, [0.1, 0.2, 0.3], unfinished=1, sampled=4)
    assert (r["errors"], r["error_pct"], r["achieved_per_s"]) == (5, 5.0, 9.5)
    assert r["sync_p99_ms"] == 90.0 and r["async_unfinished"] == 1
    assert r["async_p50_ms"] == pytest.approx(200.0)


def test_sample_spreads_over_the_whole_step() -> None:
    ids = [str(i) for i in range(1000)]
    picked = sample(ids, 10)
    assert picked[0] == "0" and picked[-1] == "900" and len(set(picked)) == 10
    assert sample(ids[:5], 10) == ids[:5]


def test_tracing_cost_is_taken_within_each_round() -> None:
    # Round 2 ran on a slow machine: both platforms paid for it, the ratio did not move.
    cost = {"cpu_ms_per_checkout": {"traced": [33.0, 66.0, 34.1], "untraced": [30.0, 60.0, 31.0]}}
    assert tracing_costs(cost, "traced", "untraced") == pytest.approx([0.1, 0.1, 0.1])
