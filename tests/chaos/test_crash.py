"""The short crash-fault runs of `make test` (the full ones are part of `make chaos`): NATS
SIGKILLed while it writes, the whole 3-node cluster at once, the ORDERS leader cut off and
healed, a full disk, each with either fsync policy; nothing any client was told is missing
afterwards and every accepted order ends."""

from __future__ import annotations

import pytest

from tests.chaos.crash import FAULTS, SYNC, run_one, runnable, table

pytestmark = pytest.mark.chaos


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
    assert row.not_terminal == row.units_unaccounted == 0, table([row])
