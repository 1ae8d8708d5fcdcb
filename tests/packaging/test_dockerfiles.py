"""The service Dockerfiles are one recipe: identical but for the service name."""

from pathlib import Path

import pytest

from junction_devtools.platform import SERVICES

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_service_dockerfiles_differ_only_in_the_service_name() -> None:
    def recipe(service: str) -> str:
        lines = (ROOT / "services" / service / "Dockerfile").read_text().splitlines()
        # Every recipe copies all workspace manifests alike; the rest names its own service.
        manifests = [line for line in lines if line.startswith("COPY") and "pyproject" in line]
        body = [line for line in lines if line not in manifests]
        return "\n".join(manifests) + "\n" + "\n".join(body).replace(service, "SERVICE")

    recipes = {s: recipe(s) for s in SERVICES}
    reference = recipes["orders"]
    for service, text in recipes.items():
        assert text == reference, f"services/{service}/Dockerfile drifted from the others"


def test_every_workspace_member_manifest_is_copied_before_the_lock_is_used() -> None:
    members = sorted(
        str(p.parent.relative_to(ROOT))
        for p in ROOT.glob("*/*/pyproject.toml")
        if ".venv" not in p.parts
    )
    for dockerfile in [
        ROOT / "tests/e2e/Dockerfile",
        *(ROOT / "services" / s / "Dockerfile" for s in SERVICES),
    ]:
        text = dockerfile.read_text()
        for member in members:
            assert f"COPY {member}/pyproject.toml {member}/" in text, (dockerfile, member)
