"""Bad input at scale: schemathesis generates requests from each service's own OpenAPI
document (valid and invalid ones, every phase), and none of them may cause a 5xx."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from junction_devtools.platform import Platform, free_ports

pytestmark = pytest.mark.integration

SERVICES = ["storefront", "orders", "inventory", "payments"]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = Platform(state_dir=tmp_path_factory.mktemp("fuzz"), ports=free_ports(), telemetry=False)
    try:
        p.start()
        yield p
    finally:
        p.stop()


@pytest.mark.parametrize("service", SERVICES)
def test_no_generated_request_causes_a_server_error(
    platform: Platform, service: str, tmp_path: Path
) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli is not None
    done = subprocess.run(
        [
            cli,
            "run",
            f"{platform.urls[service]}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "30",
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    checked = re.search(r"(\d+) passed", done.stdout)
    assert checked and int(checked.group(1)) > 0, done.stdout[-2000:]
