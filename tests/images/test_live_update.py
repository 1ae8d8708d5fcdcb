"""Tilt's live update, simulated step by step with the real tools that run here: the image
built from exactly the context Tilt sends (the Tiltfile's `only=` and build args), the child
image the restart_process extension adds on top (its watch file, its wrapper around entr),
the container run as the chart's devMode pod runs it (uid 10001, its mounts), then what
Tilt's exec updater does: `tar -C / -x -f -` into every sync target as the container's user,
and the extension's `date > /tmp/.restart-proc`.

What is not simulated: Tilt itself, kubectl exec (here: docker exec, same user), and the
wrapper binary (here: a shell stand-in that runs Debian's entr with the same flags)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from junction_devtools import images as img
from junction_devtools.platform import Platform, free_ports, http_ok
from tests.packaging.tilt import Tilt, run_tiltfile

# Its setup may be the first on a fresh machine to install Docker and debootstrap the base
# (as test_images.py's may): far past the suite's 180 s per test.
pytestmark = [pytest.mark.images, pytest.mark.timeout(1800)]

SERVICE = "orders"

# restart_process's wrapper (tilt-restart-wrapper.go) runs `entr -rz CMD` with the watch
# file on entr's standard input; entr re-runs CMD each time the file is written.
# Debian's entr needs libbsd and libmd, which the base lacks: they ride along in /opt/entr
# (the extension's entr is static). Only entr is started with them on its library path.
# Debian's entr (5.3) also refuses to start without a terminal unless given -n; the
# extension's (built from an older commit, restart_process/Dockerfile) runs in pods, which
# have none, so -n stands for what it does there.
WRAPPER = """#!/bin/sh
watch="${1#--watch_file=}"
shift
printf '%s\\n' "$watch" | LD_LIBRARY_PATH=/opt/entr exec /entr -n -rz "$@"
"""
ENTR_LIBRARIES = ("libbsd.so.0", "libmd.so.0")


@pytest.fixture(scope="module")
def tilt() -> Tilt:
    return run_tiltfile()


def ensure_entr() -> str:
    found = shutil.which("entr")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "entr"], check=True, capture_output=True)
        found = shutil.which("entr")
    assert found is not None
    return found


def dev_pod(service: str) -> dict[str, Any]:
    """The service's pod spec as the Tiltfile renders it (devMode)."""
    tilt_objects = run_tiltfile().objects
    return next(
        o["spec"]["template"]["spec"]
        for o in tilt_objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] == f"junction-{service}"
    )


def docker_options(pod: dict[str, Any]) -> list[str]:
    """docker run options for the pod's user, security context and volumes."""
    container = pod["containers"][0]
    sc = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    options = ["--user", f"{sc['runAsUser']}:{sc['runAsGroup']}", "--cap-drop", "ALL"]
    options += ["--security-opt", "no-new-privileges"]
    if sc.get("readOnlyRootFilesystem"):
        options.append("--read-only")
    empty_dirs = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
    for mount in container.get("volumeMounts", []):
        assert mount["name"] in empty_dirs, mount  # the only volumes services have
        options += ["--tmpfs", f"{mount['mountPath']}:mode=1777"]
    return options


@pytest.fixture(scope="module")
def tilt_image(tilt: Tilt, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image Tilt would run: the service built from Tilt's context, plus the child
    layer restart_process adds."""
    if not img.docker_ready() and shutil.which("dockerd") is None:
        pytest.skip("image tests need root and Docker; set JUNCTION_IMAGE_TESTS=1 (.ci/run does)")
    img.ensure_docker()
    build = tilt.builds[f"junction/{SERVICE}"]
    context = img.only_context(build["only"], tmp_path_factory.mktemp("tilt-context"))
    base = img.build(
        SERVICE,
        img.ensure_base(),
        context=context,
        build_args=build.get("build_args", {}),
        tag=f"junction/{SERVICE}:tilt-base",
    )
    child = tmp_path_factory.mktemp("restart-child")
    shutil.copy(ensure_entr(), child / "entr")
    (child / "lib").mkdir()
    for library in ENTR_LIBRARIES:
        shutil.copy(Path("/lib/x86_64-linux-gnu") / library, child / "lib" / library)
    (child / "tilt-restart-wrapper").write_text(WRAPPER)
    (child / "tilt-restart-wrapper").chmod(0o755)
    restart_file = build["restart_file"]
    (child / "Dockerfile").write_text(
        f"FROM {base}\n"
        f'RUN ["touch", "{restart_file}"]\n'
        f'RUN ["chmod", "666", "{restart_file}"]\n'
        "COPY entr /entr\n"
        "COPY lib/ /opt/entr/\n"
        "COPY tilt-restart-wrapper /tilt-restart-wrapper\n"
    )
    tag = f"junction/{SERVICE}:tilt"
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, str(child)], check=True, capture_output=True
    )
    return tag


def sync_archive(tilt: Tilt, token: str) -> bytes:
    """What Tilt's exec updater streams into `tar -C / -x -f -` after two edits: one in the
    shared library, one in the service (a new route that answers with the library's token).
    Directory entries included, as Tilt sends them."""
    build = tilt.builds[f"junction/{SERVICE}"]
    remotes = {
        PurePosixPath(local).name: PurePosixPath(remote)
        for _, local, remote in build["live_update"]
    }
    edits = {
        remotes["junction"] / "__init__.py": (
            img.ROOT / "libs/junction/src/junction/__init__.py"
        ).read_text()
        + f'\nLIVE_UPDATE_TOKEN = "{token}"\n',
        remotes[SERVICE] / "api.py": (
            img.ROOT / f"services/{SERVICE}/src/{SERVICE}/api.py"
        ).read_text()
        + "\n\n@router.get('/live-update-probe')\n"
        "async def live_update_probe() -> dict[str, str]:\n"
        "    import junction\n\n"
        "    return {'token': junction.LIVE_UPDATE_TOKEN}\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for remote in sorted({p.parent for p in edits}):
            info = tarfile.TarInfo(str(remote).lstrip("/"))
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
            tar.addfile(info)
        for remote, text in edits.items():
            data = text.encode()
            info = tarfile.TarInfo(str(remote).lstrip("/"))
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(state_dir=tmp_path / "platform", ports=free_ports(), telemetry=False)
    try:
        p.start()
        yield p
    finally:
        p.stop()


def test_the_dev_image_takes_a_live_update_and_serves_the_new_code(
    tilt: Tilt, tilt_image: str, platform: Platform
) -> None:
    port = free_ports(["dev"])["dev"]
    env = {
        k: v for k, v in platform.procs[SERVICE].env.items() if k.startswith(("JUNCTION_", "OTEL_"))
    }
    env.update(JUNCTION_PORT=str(port), JUNCTION_HOST="127.0.0.1")
    name = f"junction-live-update-{port}"
    build = tilt.builds[f"junction/{SERVICE}"]
    argv = ["docker", "run", "-d", "--rm", "--name", name, "--network", "host"]
    argv += docker_options(dev_pod(SERVICE))
    argv += [a for k, v in sorted(env.items()) for a in ("-e", f"{k}={v}")]
    # Tilt sets the container's command to the wrapped entrypoint (docker_build entrypoint=).
    argv += ["--entrypoint", "/tilt-restart-wrapper", tilt_image]
    argv += [f"--watch_file={build['restart_file']}", *build["entrypoint"]]
    subprocess.run(argv, check=True, capture_output=True)
    try:
        wait(lambda: http_ok(f"http://127.0.0.1:{port}/readyz"), 60, name)
        token = uuid.uuid4().hex
        extract = subprocess.run(
            ["docker", "exec", "-i", name, "tar", "-C", "/", "-x", "-f", "-"],
            input=sync_archive(tilt, token),
            capture_output=True,
        )
        assert extract.returncode == 0, extract.stderr.decode()
        restart = f"date > {build['restart_file']}"
        subprocess.run(["docker", "exec", name, "sh", "-c", restart], check=True)
        wait(lambda: probe(port) == token, 60, name)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def test_code_owned_by_root_refuses_the_live_update(tilt: Tilt, tilt_image: str) -> None:
    # The same extraction into an image built without Tilt's build arg: what every Tilt
    # user hit before the venv was handed to uid 10001 (the check can fail).
    plain = img.build(SERVICE, img.ensure_base(), tag=f"junction/{SERVICE}:root-owned")
    argv = ["docker", "run", "--rm", "-i", "--user", "10001:10001", "--entrypoint", "tar"]
    done = subprocess.run(
        [*argv, plain, "-C", "/", "-x", "-f", "-"],
        input=sync_archive(tilt, "x"),
        capture_output=True,
    )
    assert done.returncode != 0
    assert b"Permission denied" in done.stderr or b"Cannot" in done.stderr


def probe(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/live-update-probe", timeout=2) as r:
            answer: dict[str, str] = json.loads(r.read())
            return answer.get("token")
    except OSError:
        return None


def wait(ready: Any, timeout: float, container: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
            raise AssertionError(f"{container} not there in {timeout}s:\n{logs.stderr[-3000:]}")
        time.sleep(0.5)
