"""Fault injection for resilience tests: latency spikes and transient 503s on charges,
off unless the settings ask for them. Middleware, so the route stays the use case's."""

from __future__ import annotations

import asyncio
import random

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from junction.web.errors import error_body
from payments.settings import PaymentsSettings


class ChargeFaults:
    """Before POST /payments: sleep on a share of calls, answer 503 on another share."""

    def __init__(self, app: ASGIApp, *, settings: PaymentsSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        s = self.settings
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/payments":
            if s.fault_latency_seconds and random.random() < s.fault_latency_rate:
                await asyncio.sleep(s.fault_latency_seconds)
            if s.fault_error_rate and random.random() < s.fault_error_rate:
                # Read the request first, as the route would have: a reply sent before the
                # body is read closes the connection, and the caller's next request on it
                # would fail too (a second, uninjected fault).
                while (await receive()).get("more_body"):
                    pass
                body = error_body("provider_unavailable", "injected transient fault")
                await JSONResponse(body, status_code=503)(scope, receive, send)
                return
        await self.app(scope, receive, send)
