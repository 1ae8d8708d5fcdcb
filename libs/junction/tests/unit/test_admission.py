"""Admission control: beyond the limit a request is answered 503 at once, not queued."""

import asyncio

import pytest
from fastapi import APIRouter

from junction.errors import Overloaded, Stopping
from junction.web.app import AlwaysReady, build_app
from junction.web.middleware import InflightLimit
from junction_devtools.testing import asgi_call as call

pytestmark = pytest.mark.unit


def test_the_limit_counts_requests_in_flight_and_frees_on_failure() -> None:
    limit = InflightLimit("checkouts", 2)
    with limit, limit:
        assert limit.inflight == 2
        with pytest.raises(Overloaded), limit:
            pass
    with pytest.raises(RuntimeError), limit:
        raise RuntimeError("the handler failed")
    assert limit.inflight == 0


async def test_a_request_beyond_the_limit_gets_503_with_retry_after() -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    limit = InflightLimit("checkouts", 1)
    router = APIRouter()

    @router.post("/work")
    async def work() -> dict[str, str]:
        with limit:
            entered.set()
            await release.wait()
        return {"done": "yes"}

    app = build_app([router], title="t", version="0", readiness=AlwaysReady(), max_body_bytes=1024)
    first = asyncio.create_task(call(app, "POST", "/work"))
    await entered.wait()
    refused = await call(app, "POST", "/work")
    release.set()
    admitted = await first
    assert admitted[0] == 200 and admitted[2] == {"done": "yes"}
    status, headers, body = refused
    assert (status, headers["retry-after"], body["error"]) == (503, "1", "overloaded")
    assert "checkouts" in body["message"]


async def test_a_replica_that_is_stopping_refuses_new_streams_with_503() -> None:
    router = APIRouter()

    @router.get("/stream")
    async def stream() -> dict[str, str]:
        raise Stopping("live order pages")

    app = build_app([router], title="t", version="0", readiness=AlwaysReady(), max_body_bytes=1024)
    status, headers, body = await call(app, "GET", "/stream")
    assert (status, headers["retry-after"], body["error"]) == (503, "1", "stopping")
    assert "live order pages" in body["message"]
