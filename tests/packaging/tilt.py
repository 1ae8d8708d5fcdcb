"""The Tiltfile, executed with recorded stand-ins for Tilt's built-ins (starlark-pyo3): what
it builds (with each build's `only=` and live-update steps), deploys and forwards."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import starlark as sl
import yaml

from junction_devtools.tools import helm
from tests.packaging.chart import ROOT

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
