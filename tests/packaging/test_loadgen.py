"""The opt-in in-cluster load generator: the same k6 scenario as `make bench`, rendered by
the chart, and run here by the real k6 against the local platform exactly as its Job runs it
(its ConfigMap's scripts, its Job's environment; only the base URLs differ)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from bench.checkout import k6_binary

from junction_devtools.platform import Platform, free_ports
from tests.packaging.chart import CHART, ROOT, run_helm

pytestmark = pytest.mark.integration


def rendered(*args: str) -> list[dict[str, Any]]:
    done = run_helm("template", "junction", str(CHART), "--namespace", "junction", *args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_the_chart_carries_the_bench_scenario_unchanged() -> None:
    assert (CHART / "files/checkout.js").read_text() == (ROOT / "bench/checkout.js").read_text()


def test_the_load_generator_is_off_unless_asked_and_reaches_only_its_targets() -> None:
    assert not [o for o in rendered() if "loadgen" in o["metadata"]["name"]]
    objects = rendered("--set", "loadgen.enabled=true")
    policies = {o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"}
    assert {
        "junction-loadgen-to-storefront-egress",
        "junction-loadgen-to-inventory-ingress",
    } <= policies


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(state_dir=tmp_path_factory.mktemp("loadgen"), ports=free_ports(), telemetry=False)
    try:
        p.start()
        yield p
    finally:
        p.stop()


def test_the_rendered_job_runs_checkouts_with_the_real_k6(
    platform: Platform, tmp_path: Path
) -> None:
    objects = rendered(
        "--set", "loadgen.enabled=true", "--set", "loadgen.rate=5", "--set", "loadgen.seconds=3"
    )  # fmt: skip
    scripts = next(
        o for o in objects if o["kind"] == "ConfigMap" and "loadgen" in o["metadata"]["name"]
    )
    for name, text in scripts["data"].items():
        (tmp_path / name).write_text(text)
    job = next(o for o in objects if o["kind"] == "Job" and "loadgen" in o["metadata"]["name"])
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", "loadgen-pod-x") for e in container["env"]}
    env.update(
        STOREFRONT=platform.urls["storefront"],
        INVENTORY=platform.urls["inventory"],
        SUMMARY=str(tmp_path / "summary.json"),
    )
    args = [a.replace("/scripts/", f"{tmp_path}/") for a in container["args"]]
    done = subprocess.run(
        [k6_binary(), *args[:1], *(f"-e{k}={v}" for k, v in env.items()), *args[1:]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    placed = re.findall(r"order ([0-9a-f-]{8,})", done.stderr + done.stdout)
    # 5/s for 3 s: about 15 checkouts, every one placed (stock was seeded for the run).
    assert len(placed) >= 10, done.stderr[-3000:]
    assert (tmp_path / "summary.json").exists()
