import pytest

# Helpers with assertions, imported by several suites: rewrite them for readable failures.
pytest.register_assert_rewrite("tests.e2e.client", "tests.e2e.traces", "tests.e2e.nats_tools")

pytest_plugins = ["junction_devtools.testing"]
