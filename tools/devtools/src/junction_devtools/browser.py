"""A real browser for the browser tests and `make screenshots`: Debian's Chromium, driven by
Playwright (whose own browser download does not work on every machine)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Chromium on a machine without a display or network: no sandbox (root), no GPU, no calls
# home (they would be refused, and slow every start).
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def ensure_chromium() -> Path | None:
    """Debian's Chromium, installed with apt when missing and running as root; None when
    it is missing and cannot be installed here."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, check=False)
    return CHROMIUM if CHROMIUM.exists() else None
