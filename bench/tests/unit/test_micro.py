"""The micro-measurements run (a few iterations, no thresholds), so they cannot rot."""

import pytest
from bench import micro

pytestmark = pytest.mark.unit


def test_each_micro_measurement_runs() -> None:
    for tracing in ("off", "fastapi", "junction"):
        assert micro.asgi_us(micro.app(tracing, 1.0), n=20) > 0
    create, encode, ours = micro.span_us(n=20)
    assert create > 0 and encode > 0 and ours > 0
    for which in ("opentelemetry", "junction"):
        extracted, injected = micro.propagation_us(which, n=20)
        assert extracted > 0 and injected > 0
    for tracing in ("off", "not sampled", "one in ten sampled", "sampled"):
        assert micro.consume_us(tracing, n=20) > 0
    assert micro.email_us("modern", n=2) > 0 and micro.email_us("compat32", n=2) > 0
