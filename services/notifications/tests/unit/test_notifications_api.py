"""Notifications serves health only: alive always, ready only when its runtime says so."""

import pytest

from junction.web.app import build_app
from junction_devtools.testing import http_client

pytestmark = pytest.mark.unit


class Draining:
    shutting_down = True

    def is_ready(self) -> bool:
        return False


async def test_a_draining_service_is_alive_but_not_ready() -> None:
    app = build_app([], title="n", version="0", readiness=Draining(), max_body_bytes=1024)
    async with http_client(app) as http:
        alive = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert alive.status_code == 200
    assert (ready.status_code, ready.json()["reason"]) == (503, "shutting down")
