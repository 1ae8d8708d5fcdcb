"""`make chaos`: python -m tests.chaos.run --checkouts 1000 [--nats-nodes 1|3] [--replicas N]."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from tests.chaos.harness import chaos_platform, run_chaos

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkouts", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="checkouts per second")
    parser.add_argument("--poison", type=int, default=6)
    parser.add_argument("--nats-nodes", type=int, choices=(1, 3), nargs="+", default=[1, 3])
    parser.add_argument(
        "--replicas", type=int, default=1, help="processes per service (each SIGKILLed in turn)"
    )
    args = parser.parse_args()
    held = True
    tables = []
    for nodes in args.nats_nodes:
        with tempfile.TemporaryDirectory(prefix="junction-chaos-") as tmp:
            platform = chaos_platform(Path(tmp), nodes, args.replicas)
            platform.start()
            try:
                report = asyncio.run(run_chaos(platform, args.checkouts, args.rate, args.poison))
            finally:
                platform.stop()
        print(report.table(), flush=True)  # noqa: T201
        print(flush=True)  # noqa: T201
        tables.append(report.table())
        held &= report.held
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%MZ")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"chaos-{stamp}.md").write_text(
        f"# Chaos runs, {stamp}\n\n" + "\n\n".join(tables) + "\n"
    )
    sys.exit(0 if held else 1)


if __name__ == "__main__":
    main()
