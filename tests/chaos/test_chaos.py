"""The short chaos run of `make test` (the full one is `make chaos`): every fault of the
reliability issue, on real processes, then every invariant of docs/architecture.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.harness import chaos_platform, run_chaos

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize(
    ("nats_nodes", "replicas", "checkouts"), [(1, 1, 200), (3, 1, 100), (1, 2, 150)]
)
async def test_invariants_hold_under_faults(
    nats_nodes: int,
    replicas: int,
    checkouts: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    platform = chaos_platform(tmp_path, nats_nodes, replicas)
    platform.start()
    try:
        report = await run_chaos(platform, checkouts, rate=10.0, poison=6)
    finally:
        platform.stop()
    with capsys.disabled():
        print("\n" + report.table())  # noqa: T201 (the run's figures)
    assert report.held, report.table()
    assert report.answers[201] > 0, "no checkout went through at all"
