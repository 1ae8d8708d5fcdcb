"""ASGI middleware every service runs, and admission control."""

from __future__ import annotations

import contextlib

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from junction.deadline import DEADLINE_HEADER, set_budget_ms
from junction.errors import Overloaded
from junction.telemetry import current_trace_id

_BODY_METHODS = {b"POST", b"PUT", b"PATCH"}


class BodyTooLarge(Exception):
    pass


class RequestGuard:
    """413 for oversized bodies, 415 for non-JSON bodies (except the paths given, which
    take forms), and the caller's deadline budget picked up from its header."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, form_paths: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.form_paths = form_paths

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
            form = (
                scope["path"] in self.form_paths and ctype == b"application/x-www-form-urlencoded"
            )
            if has_body and ctype != b"application/json" and not form:
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
        response = JSONResponse({"error": error, "message": message}, status_code=status)
        await response(scope, receive, send)


class ResponseHeaders:
    """Pure ASGI middleware adding `headers()` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def headers(self) -> list[tuple[bytes, bytes]]:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers()]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TraceIdHeader(ResponseHeaders):
    """`X-Trace-Id` on every response, so a person can open the trace."""

    def headers(self) -> list[tuple[bytes, bytes]]:
        trace_id = current_trace_id()
        return [(b"x-trace-id", trace_id.encode())] if trace_id else []


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders(ResponseHeaders):
    """On every response: a Content-Security-Policy that allows no inline script, no other
    origin and no framing, `nosniff`, and a referrer kept to this origin."""

    def headers(self) -> list[tuple[bytes, bytes]]:
        return SECURITY_HEADERS


class InflightLimit:
    """Admission control for one kind of request: at most `limit` in flight in this process;
    the next are answered 503 with Retry-After at once (docs/decisions/0004-admission.md)."""

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
