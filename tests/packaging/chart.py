"""Rendering the chart with a real helm, for the packaging checks."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from junction_devtools.tools import helm

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "junction"
NATS_USERS = ("storefront", "orders", "inventory", "payments", "notifications", "operator")
# Production refuses its placeholder passwords: the checks set real-looking ones.
PRODUCTION_PASSWORDS = [
    arg
    for user in NATS_USERS
    for arg in ("--set", f"nats.auth.passwords.{user}={user}0123456789abcdef")
]
PROFILES = {
    "kind": ["--set", "e2e.enabled=true", "--set", "loadgen.enabled=true"],
    "production": [
        "-f",
        str(CHART / "values-production.yaml"),
        "--set",
        "e2e.enabled=true",
        "--set",
        "mailpit.smtp.host=smtp.example.org",
        *PRODUCTION_PASSWORDS,
    ],
}


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), *args], capture_output=True, text=True, check=False)


@cache
def render(profile: str) -> tuple[dict[str, Any], ...]:
    """Every object the chart renders for a profile (the e2e Job included)."""
    done = run_helm(
        "template", "junction", str(CHART), "--namespace", "junction", *PROFILES[profile]
    )
    assert done.returncode == 0, done.stderr
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def pod_specs(
    objects: tuple[dict[str, Any], ...],
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, pod labels, pod spec) of every workload and bare pod."""
    pods = []
    for obj in objects:
        kind = obj["kind"]
        if kind in ("Deployment", "StatefulSet", "Job"):
            template = obj["spec"]["template"]
            pods.append(
                (
                    f"{kind}/{obj['metadata']['name']}",
                    template["metadata"]["labels"],
                    template["spec"],
                )
            )
        elif kind == "Pod":
            pods.append((f"Pod/{obj['metadata']['name']}", obj["metadata"]["labels"], obj["spec"]))
    return pods


def memory_mib(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity) / (1024 * 1024)
