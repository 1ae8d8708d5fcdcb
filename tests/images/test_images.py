"""The images, built here with Debian's Docker on a debootstrapped base, run as their
non-root user on a read-only root file system, and pass the e2e suite, which itself runs
from its image exactly as the Kubernetes Job runs it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from junction_devtools import images as img
from junction_devtools.platform import SERVICES, Platform, container_argv, free_ports
from tests.packaging.tilt import run_tiltfile

# On a fresh machine the first test's setup installs Docker, debootstraps the base and builds
# six images: past the suite's 180 s per test, which it once failed on (a clean clone on a
# machine with no Docker yet, stopped during the first build). With Docker installed and no
# image, the whole module took 3 min 53 s here. Each step inside keeps its own timeout
# (600 s a build or run).
pytestmark = [pytest.mark.images, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp_path = tmp_path_factory.mktemp("contexts")
    if os.environ.get("JUNCTION_IMAGE_TESTS") != "1":
        pytest.skip("image tests need root and Docker; set JUNCTION_IMAGE_TESTS=1 (.ci/run does)")
    img.ensure_docker()
    base = img.ensure_base()
    # Each from exactly what Tilt sends for it (the Tiltfile's only=), not the whole repository.
    tilt = run_tiltfile()
    built = {}
    for name in (*SERVICES, "e2e"):
        context = img.only_context(tilt.builds[f"junction/{name}"]["only"], tmp_path / name)
        built[name] = img.build(name, base, context=context)
    return built


@pytest.fixture(scope="module")
def platform(built: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(
        state_dir=tmp_path_factory.mktemp("containers"),
        ports=free_ports(),
        telemetry=True,
        images={s: built[s] for s in SERVICES},
    )
    try:
        p.start(timeout=120)
        yield p
    finally:
        p.stop()


def inspect(tag: str) -> dict[str, object]:
    out = subprocess.run(
        ["docker", "image", "inspect", tag], capture_output=True, text=True, check=True
    ).stdout
    config: dict[str, object] = json.loads(out)[0]["Config"]
    return config


@pytest.mark.parametrize("name", [*SERVICES, "e2e"])
def test_images_run_as_a_numeric_user_with_an_exec_entrypoint(
    built: dict[str, str], name: str
) -> None:
    config = inspect(built[name])
    assert config["User"] == "10001:10001"
    entrypoint = config["Entrypoint"]
    assert isinstance(entrypoint, list) and entrypoint[0] == "/app/.venv/bin/python"


def test_the_e2e_image_passes_against_the_platform_in_containers(
    platform: Platform, built: dict[str, str], tmp_path: Path
) -> None:
    argv = container_argv(built["e2e"], platform.e2e_env())
    done = subprocess.run([*argv, "-q"], capture_output=True, text=True, timeout=600)
    (tmp_path / "e2e.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


def test_the_e2e_image_passes_against_the_local_process_platform(
    built: dict[str, str], tmp_path: Path
) -> None:
    local = Platform(state_dir=tmp_path / "local", ports=free_ports(), telemetry=True)
    try:
        local.start()
        argv = container_argv(built["e2e"], local.e2e_env())
        done = subprocess.run([*argv, "-q"], capture_output=True, text=True, timeout=600)
    finally:
        local.stop()
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
