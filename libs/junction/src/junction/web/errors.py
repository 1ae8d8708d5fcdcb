"""Every error a service answers with: its status code and its body, `{"error": code, ...,
"message": text}`, written here once. Use cases raise; nothing else builds an error body."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nats.errors import Error as NatsError
from starlette.exceptions import HTTPException as StarletteHTTPException

from junction.client import ServiceError
from junction.errors import (
    ConcurrencyConflict,
    DependencyUnavailable,
    DomainError,
    Overloaded,
    Stopping,
)
from junction.web.middleware import BodyTooLarge

logger = logging.getLogger(__name__)

_HTTP_ERRORS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
}
RETRY_SOON = {"Retry-After": "1"}


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    """The error body every service answers with."""
    return {"error": code, **details, "message": message}


def answer_for(exc: DomainError) -> tuple[int, dict[str, Any]]:
    """A domain error as its status code and body."""
    return exc.status, error_body(exc.code, exc.message, **exc.details)


def field_errors(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    """The invalid fields of a request, named as the caller sent them, and a message."""
    fields = [
        {
            "field": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]),
            "message": err["msg"],
        }
        for err in exc.errors()
    ]
    names = ", ".join(sorted({f["field"] for f in fields}))
    return f"invalid {names}", fields


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to its answer."""

    @app.exception_handler(DomainError)
    async def refused(_: Request, exc: DomainError) -> JSONResponse:
        status, body = answer_for(exc)
        retry = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return JSONResponse(body, status_code=status, headers=retry)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, fields = field_errors(exc)
        return JSONResponse(
            {"error": "invalid_request", "message": message, "fields": fields}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_ERRORS.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(ServiceError)
    async def bad_gateway(_: Request, exc: ServiceError) -> JSONResponse:
        # A downstream refusal no use case expected: the fault is ours, not the caller's.
        logger.warning("unexpected downstream refusal", extra={"error": str(exc)})
        body = error_body("bad_gateway", f"{exc.service} answered {exc.status}")
        return JSONResponse(body, status_code=502)

    @app.exception_handler(NatsError)
    async def nats_down(request: Request, exc: NatsError) -> JSONResponse:
        return await unavailable(request, DependencyUnavailable("nats", type(exc).__name__))

    @app.exception_handler(DependencyUnavailable)
    async def unavailable(_: Request, exc: DependencyUnavailable) -> JSONResponse:
        logger.warning(
            "dependency unavailable", extra={"dependency": exc.dependency, "reason": exc.reason}
        )
        body = {
            "error": "dependency_unavailable",
            "dependency": exc.dependency,
            "message": f"{exc.dependency} is unavailable, try again shortly",
        }
        return JSONResponse(body, status_code=503, headers=RETRY_SOON)

    @app.exception_handler(Overloaded)
    async def overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        body = error_body("overloaded", f"too many {exc.what} in progress, try again shortly")
        return JSONResponse(body, status_code=503, headers=RETRY_SOON)

    @app.exception_handler(Stopping)
    async def stopping(_: Request, exc: Stopping) -> JSONResponse:
        body = error_body(
            "stopping", f"this replica is shutting down: no new {exc.what}, try again"
        )
        return JSONResponse(body, status_code=503, headers=RETRY_SOON)

    @app.exception_handler(ConcurrencyConflict)
    async def busy(_: Request, exc: ConcurrencyConflict) -> JSONResponse:
        body = error_body("busy", "too many concurrent updates, try again")
        return JSONResponse(body, status_code=503)

    @app.exception_handler(BodyTooLarge)
    async def too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse(error_body("body_too_large", "request body is too large"), 413)
