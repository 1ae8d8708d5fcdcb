"""The shared library's structure: no import cycle between its modules, and no private
attribute of another object (FastStream's, nats-py's) reached into."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "junction"

pytestmark = pytest.mark.unit


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The junction modules a module imports, at run time or for type checking."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("junction"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("junction"))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules} for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        for target in sorted(edges.get(node, ())):
            if target in trail:
                found.append([*trail[trail.index(target) :], target])
            elif len(trail) < len(edges):
                visit(target, [*trail, target])

    for start in sorted(edges):
        visit(start, [start])
    return found


def test_no_import_cycle_in_the_library() -> None:
    assert cycles(graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"], ["b", "a", "b"]]


# The one module allowed in, and only to these: `junction.spans` makes the SDK's own span
# type without the SDK's constructor (decision 0019), so it reads the SDK tracer's limits,
# scope, switch and metrics hook, and calls the processors' end hook as `Span.end` does.
# `tests/unit/test_spans.py` fails should an SDK upgrade change any of them.
ALLOWED = {
    "junction/spans.py": {
        "._span_limits",
        "._instrumentation_scope",
        "._is_enabled",
        "._tracer_metrics",
        "._on_ending",
    }
}


def test_no_private_attribute_of_another_object_is_used() -> None:
    reached = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                where = str(path.relative_to(SRC))
                if f".{node.attr}" not in ALLOWED.get(where, set()):
                    reached.append(f"{where}:{node.lineno} .{node.attr}")
    assert reached == []


def test_faststreams_connection_state_is_not_used() -> None:
    for path in PACKAGE.rglob("*.py"):
        assert "connection_state" not in path.read_text(), path
