"""The Tiltfile, executed with recorded stand-ins for Tilt's built-ins (starlark-pyo3) and
checked against the chart it deploys: every service built and deployed, every port real."""

from __future__ import annotations

from typing import Any

import pytest

from junction_devtools.platform import SERVICES
from tests.packaging.chart import ROOT
from tests.packaging.tilt import Tilt, run_tiltfile

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tilt() -> Tilt:
    return run_tiltfile()


def workloads(tilt: Tilt) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o
        for o in tilt.objects
        if o["kind"] in ("Deployment", "StatefulSet", "Job")
    }


def test_every_service_is_built_with_live_update(tilt: Tilt) -> None:
    for name in SERVICES:
        build = tilt.builds[f"junction/{name}"]
        assert (ROOT / build["dockerfile"]).exists()
        assert build["restart"] is True
        for _, local, _remote in build["live_update"]:
            assert (ROOT / local).is_dir(), local
    assert (ROOT / tilt.builds["junction/e2e"]["dockerfile"]).exists()


def test_every_image_the_chart_uses_is_built_by_the_tiltfile(tilt: Tilt) -> None:
    for name, obj in workloads(tilt).items():
        for container in obj["spec"]["template"]["spec"]["containers"]:
            image = container["image"]
            if image.startswith("junction/"):
                assert image.split(":")[0] in tilt.builds, (name, image)


def test_every_workload_is_a_grouped_tilt_resource(tilt: Tilt) -> None:
    deployed = workloads(tilt)
    assert set(tilt.resources) == set(deployed)
    for name in SERVICES:
        resource = tilt.resources[f"junction-{name}"]
        assert resource["new_name"] == name and resource["labels"] == ["services"]
    assert tilt.resources["junction-e2e"]["trigger_mode"] == "manual"


@pytest.mark.parametrize(
    ("workload", "port"),
    [
        ("junction-storefront", 8080),
        ("junction-jaeger", 16686),
        ("junction-mailpit", 8025),
        ("junction-nats", 8222),
    ],
)
def test_forwarded_ports_exist_on_their_workloads(tilt: Tilt, workload: str, port: int) -> None:
    forwards = tilt.resources[workload].get("port_forwards", [])
    assert f"{port}:{port}" in forwards
    for forward in forwards:
        remote = int(forward.split(":")[-1])
        spec = workloads(tilt)[workload]["spec"]["template"]["spec"]
        ports = {p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}
        assert remote in ports, (workload, remote)


def test_only_the_kind_cluster_is_allowed(tilt: Tilt) -> None:
    assert tilt.contexts == ["kind-junction"]
