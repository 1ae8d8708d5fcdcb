"""A contract is a type both sides import: renaming a field of an event or of an HTTP
answer fails the type check in every service that writes or reads it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("storefront", "orders", "inventory", "payments", "notifications")

pytestmark = pytest.mark.integration


def mypy_after_renaming(tmp_path: Path, module: str, old: str, new: str) -> str:
    """mypy --strict over the library and the services, in a copy where one contract
    field has been renamed; its output."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "libs/junction/src", tmp_path / "libs/junction/src")
    for service in SERVICES:
        shutil.copytree(ROOT / f"services/{service}/src", tmp_path / f"services/{service}/src")
    contract = tmp_path / "libs/junction/src/junction/contracts" / module
    text = contract.read_text()
    assert text.count(old) == 1, f"{old!r} must name one field in {module}"
    contract.write_text(text.replace(old, new))
    done = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--no-incremental", "--config-file", "pyproject.toml",
            "libs/junction/src", *(f"services/{s}/src" for s in SERVICES),
        ],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout + done.stderr


def test_renaming_an_event_field_fails_every_service_that_uses_it(tmp_path: Path) -> None:
    out = mypy_after_renaming(
        tmp_path, "events.py", "    customer_email: str\n", "    email: str\n"
    )
    # orders writes OrderSummary, notifications reads it.
    assert "services/orders/src/orders/domain.py" in out, out
    assert "services/notifications/src/notifications/domain.py" in out, out


def test_renaming_a_field_of_an_http_answer_fails_caller_and_callee(tmp_path: Path) -> None:
    out = mypy_after_renaming(
        tmp_path, "payments.py", "    decline_reason: str | None\n", "    why: str | None\n"
    )
    # payments answers with PaymentView (from its Payment); storefront reads it.
    assert "services/storefront/src/storefront/handlers.py" in out, out


def test_the_unrenamed_tree_type_checks(tmp_path: Path) -> None:
    out = mypy_after_renaming(tmp_path, "common.py", "MAX_ITEMS = 50\n", "MAX_ITEMS = 50\n")
    assert "Success: no issues found" in out, out
