"""HTTP basics every service shares: health, error bodies, body limits, deadlines."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nats.errors import Error as NatsError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from junction.deadline import DEADLINE_HEADER, set_budget_ms
from junction.errors import ConcurrencyConflict, DependencyUnavailable, Overloaded
from junction.telemetry import current_trace_id

if TYPE_CHECKING:
    from junction.runtime import ServiceRuntime

logger = logging.getLogger(__name__)

_BODY_METHODS = {b"POST", b"PUT", b"PATCH"}
_HTTP_ERRORS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def _error(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status)


class RequestGuard:
    """Pure ASGI middleware: 413 for oversized bodies, 415 for non-JSON bodies, and the
    caller's deadline budget picked up from its header."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if budget := headers.get(DEADLINE_HEADER.lower().encode()):
            with contextlib.suppress(ValueError):
                set_budget_ms(float(budget))
        if scope["method"].encode() in _BODY_METHODS:
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                await self._reject(
                    scope,
                    receive,
                    send,
                    413,
                    "body_too_large",
                    f"request body exceeds {self.max_body_bytes} bytes",
                )
                return
            ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            has_body = length not in (None, b"0") or b"transfer-encoding" in headers
            if has_body and ctype != b"application/json":
                await self._reject(
                    scope,
                    receive,
                    send,
                    415,
                    "unsupported_media_type",
                    "request body must be application/json",
                )
                return
            receive = self._limited(receive)
        await self.app(scope, receive, send)

    def _limited(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_body_bytes

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        return wrapped

    @staticmethod
    async def _reject(
        scope: Scope, receive: Receive, send: Send, status: int, error: str, message: str
    ) -> None:
        await _error(status, error, message)(scope, receive, send)


class TraceIdHeader:
    """Pure ASGI middleware: `X-Trace-Id` on every response, so a person can open the trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_trace_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                trace_id = current_trace_id()
                if trace_id:
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"x-trace-id", trace_id.encode()),
                    ]
            await send(message)

        await self.app(scope, receive, send_with_trace_id)


class BodyTooLarge(Exception):
    pass


class InflightLimit:
    """Admission control for one kind of request: at most `limit` in flight in this process;
    the next are answered 503 with Retry-After at once.

    Without it, arrivals beyond capacity queue until they time out, and timeouts become
    retries downstream: what gets through collapses (`make bench`: 150 checkouts/s offered to
    a platform that completes about 80 left 34/s succeeding; with this limit, 78/s). Bounding
    the work in flight keeps latency bounded and the rate served near capacity.
    """

    def __init__(self, what: str, limit: int) -> None:
        self.what = what
        self.limit = limit
        self.inflight = 0

    def __enter__(self) -> None:
        if self.inflight >= self.limit:
            raise Overloaded(self.what, self.limit)
        self.inflight += 1

    def __exit__(self, *exc: object) -> None:
        self.inflight -= 1


def install_http_basics(app: FastAPI, runtime: ServiceRuntime) -> None:
    """Health endpoints, JSON error bodies and the request guard."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        if runtime.is_ready():
            return JSONResponse({"status": "ready"})
        reason = "shutting down" if runtime.shutting_down else "not connected to NATS"
        return JSONResponse({"status": "not_ready", "reason": reason}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {
                "field": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]),
                "message": err["msg"],
            }
            for err in exc.errors()
        ]
        names = ", ".join(sorted({f["field"] for f in fields}))
        return _error(422, "invalid_request", f"invalid {names}", fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = _HTTP_ERRORS.get(exc.status_code, "error")
        return _error(exc.status_code, error, str(exc.detail))

    @app.exception_handler(NatsError)
    async def nats_down(_: Request, exc: NatsError) -> JSONResponse:
        return await unavailable(_, DependencyUnavailable("nats", f"{type(exc).__name__}"))

    @app.exception_handler(DependencyUnavailable)
    async def unavailable(_: Request, exc: DependencyUnavailable) -> JSONResponse:
        logger.warning(
            "dependency unavailable", extra={"dependency": exc.dependency, "reason": exc.reason}
        )
        return JSONResponse(
            {
                "error": "dependency_unavailable",
                "dependency": exc.dependency,
                "message": f"{exc.dependency} is unavailable, try again shortly",
            },
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Overloaded)
    async def overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        return JSONResponse(
            {
                "error": "overloaded",
                "message": f"too many {exc.what} in progress, try again shortly",
            },
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(ConcurrencyConflict)
    async def conflict(_: Request, exc: ConcurrencyConflict) -> JSONResponse:
        return _error(
            503,
            "busy",
            "too many concurrent updates, try again",
        )

    @app.exception_handler(BodyTooLarge)
    async def too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return _error(413, "body_too_large", "request body is too large")

    app.add_middleware(RequestGuard, max_body_bytes=runtime.settings.max_body_bytes)
    app.add_middleware(TraceIdHeader)
