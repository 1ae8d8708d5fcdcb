"""A service's FastAPI app: its routers, health endpoints, error answers and middleware;
and `from_app_state`, the one way a route gets its service's dependencies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry import trace
from starlette.middleware import Middleware

from junction.telemetry import ServerSpans
from junction.web.docs import install_docs
from junction.web.errors import install_error_handlers
from junction.web.middleware import RequestGuard, SecurityHeaders, TraceIdHeader

PROBE_PATHS = frozenset({"/healthz", "/readyz"})  # not traced: probes, every few seconds

T = TypeVar("T")


class Readiness(Protocol):
    """What /readyz asks (the service runtime answers)."""

    @property
    def shutting_down(self) -> bool: ...

    def is_ready(self) -> bool: ...


class AlwaysReady:
    """Readiness of an app served without a runtime (route tests)."""

    shutting_down = False

    def is_ready(self) -> bool:
        return True


def build_app(
    routers: Iterable[APIRouter],
    *,
    title: str,
    version: str,
    readiness: Readiness,
    max_body_bytes: int,
    tracer: trace.Tracer | None = None,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    form_paths: frozenset[str] = frozenset(),
    middleware: Sequence[Middleware] = (),
) -> FastAPI:
    """The FastAPI app of one service; `middleware` runs inside its server span."""
    app = FastAPI(
        title=title,
        version=version,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, from local assets
        redoc_url=None,
        # Server spans come from junction.telemetry.ServerSpans (docs/decisions/0002).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        if readiness.is_ready():
            return JSONResponse({"status": "ready"})
        reason = "shutting down" if readiness.shutting_down else "not connected to NATS"
        return JSONResponse({"status": "not_ready", "reason": reason}, status_code=503)

    install_error_handlers(app)
    install_docs(app, title)
    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes, form_paths=form_paths)
    app.add_middleware(TraceIdHeader)
    app.add_middleware(SecurityHeaders)
    for router in routers:
        app.include_router(router)
    for extra in middleware:
        app.add_middleware(extra.cls, *extra.args, **extra.kwargs)
    if tracer is not None:  # outermost: X-Trace-Id and error bodies see its span
        app.add_middleware(ServerSpans, tracer=tracer, exclude=PROBE_PATHS)
    return app


def from_app_state(kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A FastAPI dependency that hands a route the `kind` object the service stored as
    `app.state.deps` (async on purpose: FastAPI runs a plain `def` in its thread pool)."""

    async def dependency(request: Request) -> T:
        deps = request.app.state.deps
        if not isinstance(deps, kind):
            raise RuntimeError(f"app.state.deps is {type(deps).__name__}, not {kind.__name__}")
        return deps

    return dependency
