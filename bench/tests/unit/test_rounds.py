"""How `make bench` interleaves the hop and JetStream variants, and what a loss is: each
round's loss against tracing off in that round, so a slow spell that hits one round hits
every variant in it alike and cancels."""

import statistics

import pytest
from bench.run import HOP_VARIANTS, VARIANTS, merged, rotated, round_costs, round_losses

pytestmark = pytest.mark.unit


def test_every_round_runs_every_variant_and_each_goes_first_in_turn() -> None:
    orders = [rotated(r) for r in range(len(VARIANTS))]
    assert all(sorted(o) == sorted(VARIANTS) for o in orders)
    assert [o[0] for o in orders] == list(VARIANTS)
    # The hop's variants, its second untraced pair among them, rotate the same way.
    hop = [rotated(r, HOP_VARIANTS) for r in range(len(HOP_VARIANTS))]
    assert all(sorted(o) == sorted(HOP_VARIANTS) for o in hop)
    assert [o[0] for o in hop] == list(HOP_VARIANTS)


def test_rates_merge_as_totals_over_the_rounds() -> None:
    rounds = [
        {"rps": 100.0, "p50_ms": 5.0, "p99_ms": 20.0, "errors": 1},
        {"rps": 50.0, "p50_ms": 9.0, "p99_ms": 40.0, "errors": 0},
        {"rps": 90.0, "p50_ms": 6.0, "p99_ms": 22.0, "errors": 2},
    ]
    by_time = merged(rounds, ("rps",), equal="time")  # 3 rounds of equal length
    assert by_time["rps"] == pytest.approx(80.0)
    assert (by_time["p50_ms"], by_time["p99_ms"], by_time["errors"]) == (6.0, 22.0, 3)
    assert by_time["rounds"] == {"rps": [100.0, 50.0, 90.0]}
    # Rounds of equal message counts: the rate over all of them is the harmonic mean.
    by_count = merged(
        [{"publish_per_s": 100.0}, {"publish_per_s": 50.0}], ("publish_per_s",), equal="count"
    )
    assert by_count["publish_per_s"] == pytest.approx(2 / (1 / 100 + 1 / 50))
    # JetStream's two rates from the same rounds, each kept per round.
    both = merged(
        [
            {"publish_per_s": 100.0, "consume_per_s": 400.0},
            {"publish_per_s": 50.0, "consume_per_s": 200.0},
        ],
        ("publish_per_s", "consume_per_s"),
        equal="count",
    )
    assert both["rounds"] == {"publish_per_s": [100.0, 50.0], "consume_per_s": [400.0, 200.0]}
    assert both["consume_per_s"] == pytest.approx(2 / (1 / 400 + 1 / 200))


def test_a_slow_round_cancels_within_the_round() -> None:
    # Round 2 ran at half speed for everything: the traced variant still loses 10 % in each.
    runs = {
        "junction": {"rps": 83.3, "rounds": {"rps": [100.0, 50.0, 100.0]}},
        "junction+otel": {"rps": 75.0, "rounds": {"rps": [90.0, 45.0, 90.0]}},
    }
    assert round_losses(runs, "junction+otel", "rps") == pytest.approx([0.1, 0.1, 0.1])
    # Had the traced variant run alone in the slow spell, its loss would read 55 %; in
    # rounds, the spell is one round of three, and the median ignores it.
    runs["junction+otel"]["rounds"] = {"rps": [90.0, 22.5, 90.0]}
    assert statistics.median(round_losses(runs, "junction+otel", "rps")) == pytest.approx(0.1)


def test_jetstream_rounds_are_kept_per_figure() -> None:
    runs = {
        "junction": {"rounds": {"publish_per_s": [100.0, 80.0], "consume_per_s": [400.0, 200.0]}},
        "junction+otel": {
            "rounds": {"publish_per_s": [90.0, 72.0], "consume_per_s": [200.0, 100.0]}
        },
    }
    assert round_losses(runs, "junction+otel", "publish_per_s") == pytest.approx([0.1, 0.1])
    assert round_losses(runs, "junction+otel", "consume_per_s") == pytest.approx([0.5, 0.5])


def test_a_result_without_rounds_is_one_round() -> None:
    runs = {"junction": {"rps": 100.0}, "junction+otel 0%": {"rps": 95.0}}
    assert round_losses(runs, "junction+otel 0%", "rps") == pytest.approx([0.05])


def test_cpu_per_operation_is_kept_per_round_and_its_cost_is_an_increase() -> None:
    rounds = [
        {"rps": 100.0, "cpu_us": 200.0, "errors": 0},
        {"rps": 50.0, "cpu_us": 400.0, "errors": 0},
        {"rps": 90.0, "cpu_us": 210.0, "errors": 0},
    ]
    base = merged(rounds, ("rps",), equal="time", kept=("cpu_us",))
    assert base["cpu_us"] == 210.0  # the median of the rounds, not a rate over them
    assert base["rounds"]["cpu_us"] == [200.0, 400.0, 210.0]
    traced = merged(
        [{**r, "cpu_us": r["cpu_us"] * 1.25} for r in rounds],
        ("rps",),
        equal="time",
        kept=("cpu_us",),
    )
    runs = {"junction": base, "junction+otel": traced}
    # A quarter more CPU per request in every round, the slow one included.
    assert round_costs(runs, "junction+otel", "cpu_us") == pytest.approx([0.25, 0.25, 0.25])
