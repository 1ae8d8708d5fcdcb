import pytest

# Helpers with assertions, imported by several suites: rewrite them for readable failures.
pytest.register_assert_rewrite("tests.e2e.client", "tests.e2e.traces", "tests.e2e.nats_tools")

pytest_plugins = ["junction_devtools.testing"]

# Where a test lives says what it needs (docs/architecture.md, "Where a test lives"): a
# package's tests/unit (fakes, no processes) and tests/integration (real processes), and
# one tier per cross-service suite under tests/.
TIER_OF_SUITE = {
    "e2e": "e2e",
    "chaos": "chaos",
    "images": "images",
    "packaging": "integration",
    "contracts": "integration",
    "fuzz": "integration",
    "reliability": "integration",
    "observability": "unit",
    "browser": "browser",
}
TIERS = {"unit", "integration", "e2e", "images", "chaos", "browser"}


def expected_tier(parts: tuple[str, ...]) -> str | None:
    if parts[0] == "tests" and len(parts) > 2:
        return TIER_OF_SUITE.get(parts[1])
    for tier in ("unit", "integration"):
        if f"tests/{tier}" in "/".join(parts):
            return tier
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    misplaced = []
    for item in items:
        parts = item.path.relative_to(config.rootpath).parts
        tier = expected_tier(parts)
        marked = {m.name for m in item.iter_markers()} & TIERS
        if tier is None or marked != {tier}:
            misplaced.append(f"{'/'.join(parts)}: marked {sorted(marked)}, lives in {tier}")
    if misplaced:
        raise pytest.UsageError("tests in the wrong place:\n" + "\n".join(sorted(set(misplaced))))
