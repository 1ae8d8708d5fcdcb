"""Draining, the first step of a shutdown: readiness off and the drain hooks run once, each
even if another fails."""

import pytest

from junction.config import ServiceSettings
from junction.service import ServiceRuntime

pytestmark = pytest.mark.unit


def test_drain_turns_readiness_off_and_runs_each_hook_once() -> None:
    runtime = ServiceRuntime(ServiceSettings(service_name="drain-test"))
    runtime.ready = True
    calls: list[str] = []

    def failing() -> None:
        calls.append("failing")
        raise RuntimeError("a hook that fails")

    runtime.on_drain(failing)
    runtime.on_drain(lambda: calls.append("second"))
    runtime.drain()
    runtime.drain()  # stop() drains again after uvicorn did: nothing runs twice
    assert calls == ["failing", "second"]
    assert runtime.shutting_down and not runtime.ready
