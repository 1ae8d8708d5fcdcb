"""The e2e suite runs against a running platform given by JUNCTION_*_URL variables (as the
Kubernetes Job does); without them it starts the platform itself, as `make run` does."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

pytest.register_assert_rewrite("tests.e2e.client", "tests.e2e.traces", "tests.e2e.nats_tools")

from tests.e2e.client import (  # noqa: E402 (after the rewrite registration)
    Endpoints,
    Shop,
    customer_session,
    wait_until_ready,
)


@pytest.fixture(scope="session")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    given = Endpoints.from_env()
    if given is not None:
        wait_until_ready(given, float(os.environ.get("JUNCTION_E2E_READY_TIMEOUT", "300")))
        yield given
        return
    from junction_devtools.platform import Platform, free_ports

    platform = Platform(
        state_dir=tmp_path_factory.mktemp("platform"),
        ports=free_ports(),
        telemetry=True,
        # A short ack wait so that the redelivery cases take seconds, not the default 30 s.
        service_env={
            "notifications": {
                "JUNCTION_CONSUMER_ACK_WAIT_SECONDS": "4",
                "JUNCTION_SMTP_TIMEOUT_SECONDS": "10",
            }
        },
    )
    try:
        platform.start()
    except Exception:
        platform.stop()
        raise
    started = Endpoints.from_env(platform.e2e_env(), platform=platform)
    assert started is not None
    yield started
    platform.stop()


@pytest.fixture(scope="session")
async def shop(endpoints: Endpoints) -> AsyncIterator[Shop]:
    async with customer_session(30) as session:
        yield Shop(endpoints, session)
