"""The Tiltfile, executed with recorded stand-ins for Tilt's built-ins (starlark-pyo3) and
checked against the chart it deploys: every service built and deployed, every port real."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import starlark as sl
import yaml

from junction_devtools.platform import SERVICES
from junction_devtools.tools import helm
from tests.packaging.chart import ROOT

pytestmark = pytest.mark.integration

# Where the restart_process extension has the process wrapper watch for restarts (its
# RESTART_FILE, tilt-dev/tilt-extensions restart_process/Tiltfile), unless told otherwise.
RESTART_FILE = "/tmp/.restart-proc"


@dataclass
class Tilt:
    builds: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    local_resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    contexts: list[str] = field(default_factory=list)


def run_tiltfile() -> Tilt:
    tilt = Tilt()
    module = sl.Module()

    def docker_build(ref: str, context: str, **kw: Any) -> None:
        tilt.builds[ref] = {"context": context, **kw}

    def helm_builtin(chart: str, **kw: Any) -> str:
        args = ["template", kw.get("name", "chart"), str(ROOT / chart)]
        if kw.get("namespace"):
            args += ["--namespace", kw["namespace"]]
        for values in kw.get("values", []):
            args += ["-f", str(ROOT / values)]
        for setting in kw.get("set", []):
            args += ["--set", setting]
        return subprocess.run([helm(), *args], capture_output=True, text=True, check=True).stdout

    def k8s_yaml(text: str) -> None:
        tilt.objects.extend(d for d in yaml.safe_load_all(text) if d)

    def k8s_resource(**kw: Any) -> None:
        tilt.resources[kw["workload"]] = kw

    def local_resource(name: str, **kw: Any) -> None:
        tilt.local_resources[name] = kw

    def sync(local: str, remote: str) -> tuple[str, str, str]:
        return ("sync", local, remote)

    def allow_k8s_contexts(contexts: list[str]) -> None:
        tilt.contexts.extend(contexts)

    builtins: dict[str, Callable[..., object]] = {
        "docker_build": docker_build,
        "helm": helm_builtin,
        "k8s_yaml": k8s_yaml,
        "k8s_resource": k8s_resource,
        "local_resource": local_resource,
        "sync": sync,
        "allow_k8s_contexts": allow_k8s_contexts,
    }
    for name, fn in builtins.items():
        module.add_callable(name, fn)
    module["TRIGGER_MODE_MANUAL"] = "manual"

    def load(path: str) -> sl.FrozenModule:
        assert path == "ext://restart_process", path
        ext = sl.Module()

        def docker_build_with_restart(ref: str, context: str, **kw: Any) -> None:
            assert kw.get("entrypoint"), "restart_process needs the entrypoint"
            docker_build(
                ref, context, restart=True, restart_file=kw.pop("restart_file", RESTART_FILE), **kw
            )

        ext.add_callable("docker_build_with_restart", docker_build_with_restart)
        return ext.freeze()

    dialect = sl.Dialect.extended()
    dialect.enable_top_level_stmt = True  # Tilt's dialect: `for` and `if` at top level
    ast = sl.parse("Tiltfile", (ROOT / "Tiltfile").read_text(), dialect)
    sl.eval(module, ast, sl.Globals.standard(), sl.FileLoader(load))
    return tilt


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
