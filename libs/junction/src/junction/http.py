"""The one HTTP client wrapper for service-to-service calls.

Every call has a timeout (bounded by the caller's propagated deadline), goes through a
circuit breaker per downstream, and is retried with jittered backoff only when the caller
says it is idempotent. With telemetry on, each attempt is a CLIENT span whose context travels
in the W3C `traceparent` header.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from opentelemetry import propagate, trace
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from junction.deadline import DEADLINE_HEADER, remaining_seconds
from junction.errors import DependencyUnavailable
from junction.telemetry import traced

if TYPE_CHECKING:
    from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker

logger = logging.getLogger(__name__)


class TransientHttpError(Exception):
    """A failure worth retrying: connection error, timeout or a 502/503/504 answer."""


@dataclass(frozen=True)
class Response:
    status: int
    body: Any


@dataclass(frozen=True)
class ClientPolicy:
    timeout_seconds: float
    retry_attempts: int
    breaker_threshold: int
    breaker_reset_seconds: float


class ServiceClient:
    """Calls one downstream service by base URL."""

    def __init__(
        self,
        name: str,
        base_url: str,
        session: aiohttp.ClientSession,
        policy: ClientPolicy,
        breakers: AsyncCircuitBreakerFactory,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.name = name
        self._base_url = base_url.rstrip("/")
        self._session = session
        self._policy = policy
        self._breakers = breakers
        self._breaker: AsyncCircuitBreaker | None = None
        self._tracer = tracer
        url = urlsplit(self._base_url)
        self._server: dict[str, str | int] = {
            "server.address": url.hostname or "",
            "server.port": url.port or 80,
        }

    async def get(self, path: str) -> Response:
        return await self.request("GET", path, idempotent=True)

    async def post(self, path: str, body: Any, *, idempotent: bool) -> Response:
        return await self.request("POST", path, json=body, idempotent=idempotent)

    async def request(
        self, method: str, path: str, *, json: Any = None, idempotent: bool
    ) -> Response:
        """Send one request; DependencyUnavailable when the service cannot answer in time."""
        attempts = self._policy.retry_attempts if idempotent else 1
        try:
            # The first attempt goes straight out; the retry policy is built only when needed.
            return await self._send_once(method, path, json)
        except TransientHttpError as exc:
            if attempts == 1:
                raise DependencyUnavailable(self.name, str(exc)) from exc
        except OpenedState as exc:
            raise DependencyUnavailable(self.name, "circuit breaker open") from exc
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(attempts - 1),
                wait=wait_random_exponential(multiplier=0.05, max=0.5),
                retry=retry_if_exception_type(TransientHttpError),
                reraise=True,
            ):
                with attempt:
                    return await self._send_once(method, path, json)
        except TransientHttpError as exc:
            raise DependencyUnavailable(self.name, str(exc)) from exc
        except OpenedState as exc:
            raise DependencyUnavailable(self.name, "circuit breaker open") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(self, method: str, path: str, json: Any) -> Response:
        timeout = self._policy.timeout_seconds
        budget = remaining_seconds()
        if budget is not None:
            if budget <= 0:
                raise TransientHttpError("deadline exceeded before the call")
            timeout = min(timeout, budget)
        if self._breaker is None:  # one breaker per downstream, shared by its clients
            self._breaker = await self._breakers.get_breaker(
                self.name,
                threshold=self._policy.breaker_threshold,
                ttl=self._policy.breaker_reset_seconds,
            )
        headers = {DEADLINE_HEADER: str(int(timeout * 1000))}
        url = f"{self._base_url}{path}"
        async with self._breaker:
            with traced(
                self._tracer,
                method,
                kind=trace.SpanKind.CLIENT,
                attributes={
                    "http.request.method": method,
                    "url.full": url,
                    "peer.service": self.name,
                    **self._server,
                },
            ) as span:
                if self._tracer is not None:
                    propagate.inject(headers)
                return await self._exchange(method, url, json, headers, timeout, span)

    async def _exchange(
        self,
        method: str,
        url: str,
        json: Any,
        headers: dict[str, str],
        timeout: float,
        span: trace.Span | None,
    ) -> Response:
        try:
            async with self._session.request(
                method,
                url,
                json=json,
                timeout=aiohttp.ClientTimeout(total=timeout),
                headers=headers,
            ) as resp:
                if span is not None:
                    span.set_attribute("http.response.status_code", resp.status)
                    if resp.status >= 500:
                        span.set_status(trace.StatusCode.ERROR)
                if resp.status in (502, 503, 504):
                    raise TransientHttpError(f"{self.name} answered {resp.status}")
                body = await resp.json(content_type=None) if resp.content_length != 0 else None
                return Response(resp.status, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientHttpError(f"{type(exc).__name__}: {exc}") from exc
