"""The cluster path as Tilt and Helm walk it: what each image build is sent, what a dev pod
mounts over, whether rendering is repeatable, how the e2e Job runs, and whether a plain
`helm upgrade` would touch a field Kubernetes holds immutable."""

from __future__ import annotations

import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from junction_devtools.platform import SERVICES
from tests.packaging.chart import CHART, PROFILES, ROOT, run_helm
from tests.packaging.tilt import Tilt, run_tiltfile

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tilt() -> Tilt:
    return run_tiltfile()


def copy_sources(dockerfile: Path) -> list[str]:
    """Every path a COPY or ADD takes from the build context (not from another stage)."""
    sources: list[str] = []
    lines = dockerfile.read_text().replace("\\\n", " ").splitlines()
    for line in lines:
        words = shlex.split(line, comments=True)
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = words[1:]
        if any(a.startswith("--from=") for a in args):
            continue
        paths = [a for a in args if not a.startswith("--")]
        sources.extend(paths[:-1])
    return sources


def inside(path: str, only: list[str]) -> bool:
    p = PurePosixPath(path.rstrip("/") or ".")
    return any(p == PurePosixPath(o) or PurePosixPath(o) in p.parents for o in only)


@pytest.mark.parametrize("image", [*(f"junction/{s}" for s in SERVICES), "junction/e2e"])
def test_every_dockerfile_copy_source_is_in_what_tilt_sends(tilt: Tilt, image: str) -> None:
    build = tilt.builds[image]
    missing = [
        src for src in copy_sources(ROOT / build["dockerfile"]) if not inside(src, build["only"])
    ]
    assert not missing, f"{build['dockerfile']} copies {missing}, outside the Tiltfile's only="


def test_the_copy_source_check_sees_a_missing_path() -> None:
    sources = copy_sources(ROOT / "services/orders/Dockerfile")
    assert "tools/junctionctl/pyproject.toml" in sources
    assert not inside("tools/junctionctl/pyproject.toml", ["tools/devtools/pyproject.toml"])
    assert inside("libs/junction/src/junction/x.py", ["libs/junction"])


def render_tilt_objects(tilt: Tilt) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in tilt.objects if o["kind"] == "Deployment"}


@pytest.mark.parametrize("service", SERVICES)
def test_dev_mode_mounts_hide_neither_the_restart_file_nor_a_sync_target(
    tilt: Tilt, service: str
) -> None:
    build = tilt.builds[f"junction/{service}"]
    targets = [PurePosixPath(build["restart_file"])] + [
        PurePosixPath(remote) for _, _, remote in build["live_update"]
    ]
    pod = render_tilt_objects(tilt)[f"junction-{service}"]["spec"]["template"]["spec"]
    for container in pod["containers"]:
        for mount in container.get("volumeMounts", []):
            at = PurePosixPath(mount["mountPath"])
            hidden = [str(t) for t in targets if t == at or at in t.parents]
            assert not hidden, f"{service}: the volume on {at} hides {hidden} under Tilt"


@pytest.mark.parametrize("profile", list(PROFILES))
def test_rendering_the_same_values_twice_gives_the_same_objects(profile: str) -> None:
    args = ["template", "junction", str(CHART), "--namespace", "junction", *PROFILES[profile]]
    first, second = run_helm(*args), run_helm(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout, "two renders of the same values differ"


def test_tilt_ci_runs_the_e2e_job_once_everything_is_up(tilt: Tilt) -> None:
    e2e = tilt.resources["junction-e2e"]
    # auto_init: `tilt up` and `tilt ci` deploy it (ci waits for its pod to succeed);
    # manual trigger: an edit to a service does not rerun the suite.
    assert e2e.get("auto_init", True) is True
    assert set(SERVICES) <= set(e2e["resource_deps"])


def e2e_job(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Job" and o["metadata"]["name"].endswith("-e2e"))


def render(*args: str) -> list[dict[str, Any]]:
    done = run_helm("template", "junction", str(CHART), "--namespace", "junction", *args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_the_e2e_job_is_a_hook_that_helm_replaces_and_keeps() -> None:
    job = e2e_job(render("--set", "e2e.enabled=true"))
    annotations = job["metadata"].get("annotations", {})
    assert set(annotations.get("helm.sh/hook", "").split(",")) == {"post-install", "post-upgrade"}
    assert "before-hook-creation" in annotations.get("helm.sh/hook-delete-policy", "")
    # `junctionctl e2e` copies it later: no TTL may delete it in the meantime.
    assert "ttlSecondsAfterFinished" not in job["spec"]


def hooked_and_replaced(obj: dict[str, Any]) -> bool:
    annotations = obj["metadata"].get("annotations", {})
    return "helm.sh/hook" in annotations and "before-hook-creation" in annotations.get(
        "helm.sh/hook-delete-policy", ""
    )


def immutable_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The fields of an object that Kubernetes refuses to change in place."""
    spec = obj.get("spec", {})
    kind = obj["kind"]
    if kind == "Deployment":
        return {"selector": spec["selector"]}
    if kind == "StatefulSet":
        keep = ("selector", "volumeClaimTemplates", "serviceName", "podManagementPolicy")
        return {k: spec.get(k) for k in keep}
    if kind == "Job":
        return {"selector": spec.get("selector"), "template": spec["template"]}
    if kind == "PersistentVolumeClaim":
        return {k: v for k, v in spec.items() if k != "resources"}
    if kind == "Service":
        return {"clusterIP": spec.get("clusterIP")}
    return {}


def upgrade_breaks(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
    old = {(o["kind"], o["metadata"]["name"]): o for o in before}
    broken = []
    for obj in after:
        key = (obj["kind"], obj["metadata"]["name"])
        if key not in old or hooked_and_replaced(obj):
            continue
        if immutable_fields(old[key]) != immutable_fields(obj):
            broken.append(f"{key[0]}/{key[1]}")
    return broken


UPGRADES = {
    "a new image tag (kind)": (
        ["--set", "e2e.enabled=true", "--set", "image.tag=0.1.0"],
        ["--set", "e2e.enabled=true", "--set", "image.tag=0.2.0"],
    ),
    "a new image tag (production)": (
        [*PROFILES["production"], "--set", "image.tag=0.1.0"],
        [*PROFILES["production"], "--set", "image.tag=0.2.0"],
    ),
    "autoscaling switched on": (
        ["--set", "e2e.enabled=true"],
        ["--set", "e2e.enabled=true", "--set", "autoscaling.enabled=true"],
    ),
    "telemetry sampling changed": (
        ["--set", "e2e.enabled=true"],
        ["--set", "e2e.enabled=true", "--set", "telemetry.sampleRatio=0.1"],
    ),
}


@pytest.mark.parametrize("change", list(UPGRADES))
def test_a_plain_helm_upgrade_changes_no_immutable_field(change: str) -> None:
    before, after = UPGRADES[change]
    assert upgrade_breaks(render(*before), render(*after)) == []


def test_the_upgrade_check_sees_an_immutable_change() -> None:
    # The StatefulSet's volume claim is immutable: resizing it is not a plain upgrade
    # (the README says how), and the check must notice it.
    before = render("--set", "nats.storage.size=1Gi")
    after = render("--set", "nats.storage.size=5Gi")
    assert upgrade_breaks(before, after) == ["StatefulSet/junction-nats"]
