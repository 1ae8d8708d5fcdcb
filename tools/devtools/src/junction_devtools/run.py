"""`make run`: the whole platform as local processes, in the foreground; Ctrl-C stops it."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from pathlib import Path

from junction_devtools.platform import Platform, ports_from_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--state-dir", type=Path, default=Path(os.environ.get("JUNCTION_STATE_DIR", ".run"))
    )
    parser.add_argument(
        "--no-telemetry", action="store_true", help="run without tracing (no local trace store)"
    )
    parser.add_argument(
        "--otlp-endpoint",
        default=os.environ.get("JUNCTION_OTLP_ENDPOINT"),
        help="export traces to this OTLP/gRPC endpoint (e.g. a Jaeger in "
        "Docker, http://127.0.0.1:4317) instead of the local trace store",
    )
    parser.add_argument(
        "--nats-nodes",
        type=int,
        choices=(1, 3),
        default=int(os.environ.get("JUNCTION_NATS_NODES", "1")),
        help="3: a local JetStream cluster with R3 streams and buckets",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=int(os.environ.get("JUNCTION_REPLICAS", "1")),
        help="processes per service (replica 1 on the service's port, the others on free "
        "ports; callers spread their calls across them)",
    )
    args = parser.parse_args()

    platform = Platform(
        state_dir=args.state_dir,
        ports=ports_from_env(),
        telemetry=not args.no_telemetry,
        otlp_endpoint=args.otlp_endpoint,
        nats_nodes=args.nats_nodes,
        replicas=args.replicas,
    )
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started with SIGINT ignored
    print(f"starting Junction (state in {platform.state_dir}) ...", flush=True)
    try:
        took = platform.start()
        platform.write_env_file()
        width = max(len(k) for k in platform.urls)
        print(f"\nJunction is ready in {took:.1f}s:", flush=True)
        for name, url in platform.urls.items():
            shown = re.sub(r"//[^@/]+@", "//", url)  # credentials stay in .run/urls.json
            print(f"  {name:<{width}}  {shown}")
        print(
            f"\nlogs: {platform.state_dir / 'logs'}   mail: {platform.state_dir / 'mail'}"
            "\nCtrl-C stops everything.",
            flush=True,
        )
        while True:
            for name, proc in platform.procs.items():
                if not proc.running:
                    raise RuntimeError(f"{name} exited unexpectedly; see {proc.log_path}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        platform.stop()
        print("stopped.")
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        platform.stop()
        sys.exit(1)


if __name__ == "__main__":
    main()
