"""Container images without a registry: a Debian base made with debootstrap (base images
cannot be pulled here), the service images built on it, and their sizes.

    python -m junction_devtools.images build [SERVICE ...]   # base if missing, then images
    python -m junction_devtools.images push --registry localhost:5005 [SERVICE ...]
    python -m junction_devtools.images sizes
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from junction_devtools.platform import SERVICES

ROOT = Path(__file__).resolve().parents[4]
BASE_TAG = "junction-base:bookworm"
TAG = "dev"
# The host's extra CAs (a TLS-inspecting proxy, a corporate CA) must be trusted inside the
# build too, or pip and uv cannot reach the package index.
HOST_CAS = Path("/usr/local/share/ca-certificates")


def run(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done: subprocess.CompletedProcess[str] = subprocess.run(argv, check=True, text=True, **kwargs)
    return done


def docker_ready() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    )


def ensure_docker() -> None:
    """A running Docker engine: Debian's docker.io, started without bridge or iptables
    (containers then run with --network host only)."""
    if docker_ready():
        return
    if shutil.which("dockerd") is None:
        run(
            "apt-get",
            "install",
            "-y",
            "-qq",
            "docker.io",
            env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
    log = open("/tmp/junction-dockerd.log", "ab")  # noqa: SIM115 (lives as long as dockerd)
    subprocess.Popen(
        ["dockerd", "--bridge=none", "--iptables=false"],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not docker_ready():
        if time.monotonic() > deadline:
            raise RuntimeError("dockerd did not start; see /tmp/junction-dockerd.log")
        time.sleep(0.5)


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def ensure_base(tag: str = BASE_TAG) -> str:
    """Debian bookworm (Python 3.11) made with debootstrap and imported as `tag`."""
    if image_exists(tag):
        return tag
    if shutil.which("debootstrap") is None:
        run(
            "apt-get",
            "install",
            "-y",
            "-qq",
            "debootstrap",
            env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
    with tempfile.TemporaryDirectory(prefix="junction-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        run(
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv,ca-certificates",
            "bookworm",
            str(rootfs),
            stdout=subprocess.DEVNULL,
        )
        for ca in HOST_CAS.glob("*.crt"):
            shutil.copy(ca, rootfs / "usr/local/share/ca-certificates" / ca.name)
        run("chroot", str(rootfs), "update-ca-certificates", stdout=subprocess.DEVNULL)
        for junk in (
            "var/cache/apt/archives",
            "var/lib/apt/lists",
            "usr/share/doc",
            "usr/share/man",
            "usr/share/locale",
        ):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        run("docker", "import", "-", tag, stdin=tar.stdout, stdout=subprocess.DEVNULL)
        tar.wait()
    return tag


def build(
    service: str,
    base: str = BASE_TAG,
    *,
    context: Path = ROOT,
    build_args: dict[str, str] | None = None,
    tag: str | None = None,
) -> str:
    """Build one image (from the repository root unless given another context); its tag."""
    tag = tag or f"junction/{service}:{TAG}"
    dockerfile = "tests/e2e/Dockerfile" if service == "e2e" else f"services/{service}/Dockerfile"
    args = [f"BASE_IMAGE={base}", *(f"{k}={v}" for k, v in (build_args or {}).items())]
    run(
        "docker",
        "build",
        "--network",
        "host",
        "-q",
        "-f",
        str(context / dockerfile),
        *(a for arg in args for a in ("--build-arg", arg)),
        "-t",
        tag,
        str(context),
        stdout=subprocess.DEVNULL,
    )
    return tag


# What Tilt leaves out of a build context besides what `only=` leaves out (.dockerignore).
_NEVER_SENT = shutil.ignore_patterns(".venv", "__pycache__", "*.pyc", ".pytest_cache")


def only_context(only: list[str], into: Path) -> Path:
    """A build context holding exactly the given repository paths, as Tilt's `only=` sends."""
    for entry in only:
        source = ROOT / entry
        target = into / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=_NEVER_SENT, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    return into


def push(service: str, registry: str, tag: str = TAG) -> str:
    """Tag a built image for a registry and push it there; the pushed reference."""
    local = f"junction/{service}:{tag}"
    if not image_exists(local):
        raise SystemExit(f"{local} is not built: run `make images` first")
    remote = f"{registry.rstrip('/')}/junction/{service}:{tag}"
    run("docker", "tag", local, remote)
    run("docker", "push", "-q", remote, stdout=subprocess.DEVNULL)
    return remote


def size_mb(tag: str) -> float:
    out = run("docker", "image", "inspect", tag, "--format", "{{.Size}}", capture_output=True)
    return int(out.stdout.strip()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["build", "push", "sizes"])
    parser.add_argument("--registry", help="push: where to (e.g. localhost:5005, ctlptl's)")
    parser.add_argument("services", nargs="*", default=list(SERVICES))
    args = parser.parse_args()
    ensure_docker()
    if args.action == "build":
        base = ensure_base()
        for service in args.services:
            started = time.monotonic()
            tag = build(service, base)
            print(f"{tag:<32} {size_mb(tag):7.1f} MB  built in {time.monotonic() - started:.0f}s")
    elif args.action == "push":
        if not args.registry:
            parser.error("push needs --registry (e.g. --registry localhost:5005)")
        for service in args.services:
            print(f"pushed {push(service, args.registry)}")
    else:
        for service in args.services:
            tag = f"junction/{service}:{TAG}"
            if image_exists(tag):
                print(f"{tag:<32} {size_mb(tag):7.1f} MB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
