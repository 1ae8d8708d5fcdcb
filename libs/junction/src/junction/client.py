"""The one HTTP client for service-to-service calls, with typed answers.

Every call has a timeout (bounded by the caller's propagated deadline), goes through a
circuit breaker per downstream, and is retried with jittered backoff only when the caller
says it is idempotent. A 2xx answer is parsed into the model the caller names; a 4xx answer
raises `ServiceError` with the callee's error body; anything else (no answer in time, 5xx,
the breaker open) raises `DependencyUnavailable`. With telemetry on, each attempt is a
CLIENT span whose context travels in the W3C `traceparent` header.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

import aiohttp
from opentelemetry import trace
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from pydantic import BaseModel, ConfigDict, ValidationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from junction.deadline import DEADLINE_HEADER, remaining_seconds
from junction.errors import DependencyUnavailable, JunctionError, Refused
from junction.telemetry import inject, traced, unsampled

if TYPE_CHECKING:
    from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class ErrorBody(BaseModel):
    """A service's error answer: `error` and `message`, and whatever details it gives."""

    model_config = ConfigDict(extra="allow")

    error: str = "error"
    message: str = ""

    @property
    def details(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ServiceError(JunctionError):
    """A downstream service refused the request (4xx) with this error body."""

    def __init__(self, service: str, status: int, body: ErrorBody) -> None:
        super().__init__(f"{service} answered {status}: {body.error}: {body.message}")
        self.service = service
        self.status = status
        self.body = body

    def refusal(self) -> Refused:
        """This refusal, to pass on to our own caller as it was given."""
        return Refused(self.status, self.body.error, self.body.message, **self.body.details)


class ServiceCalls(Protocol):
    """What a use case needs of a downstream service (a `ServiceClient`, or a fake)."""

    async def get(self, path: str, answer: type[M]) -> M: ...

    async def post(self, path: str, body: BaseModel, answer: type[M], *, idempotent: bool) -> M: ...


class TransientHttpError(Exception):
    """A failure worth retrying: connection error, timeout or a 502/503/504 answer."""


@dataclass(frozen=True)
class ClientPolicy:
    timeout_seconds: float
    retry_attempts: int
    breaker_threshold: int
    breaker_reset_seconds: float


@dataclass(frozen=True)
class RawAnswer:
    status: int
    body: bytes


class Replicas:
    """The base URLs of one service's replicas, taken in turn.

    In Kubernetes there is one (the Service spreads connections across pods); a local
    platform with several processes per service gives them all, comma-separated. A replica
    that refused a connection is passed over for `eject_seconds` (it is down or
    restarting), as a Service stops sending to a pod that is not ready; when every one has
    been passed over, they are tried anyway."""

    def __init__(self, base_urls: str, eject_seconds: float = 2.0) -> None:
        self.urls = [u.strip().rstrip("/") for u in base_urls.split(",") if u.strip()]
        if not self.urls:
            raise ValueError("no base URL given")
        self._eject_seconds = eject_seconds
        self._down_until = [0.0] * len(self.urls)
        self._next = 0

    def pick(self) -> int:
        """The index of the next replica to call."""
        n = len(self.urls)
        now = time.monotonic()
        for _ in range(n):
            i = self._next % n
            self._next += 1
            if self._down_until[i] <= now:
                return i
        i = self._next % n
        self._next += 1
        return i

    def refused(self, index: int) -> None:
        """The replica at `index` refused a connection: pass it over for a while."""
        self._down_until[index] = time.monotonic() + self._eject_seconds


class ServiceClient:
    """Calls one downstream service by base URL (or the URLs of its replicas, in turn)."""

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
        self._replicas = Replicas(base_url)
        self._session = session
        self._policy = policy
        self._breakers = breakers
        self._breaker: AsyncCircuitBreaker | None = None
        self._tracer = tracer
        self._servers: list[dict[str, str | int]] = [
            {"server.address": u.hostname or "", "server.port": u.port or 80}
            for u in map(urlsplit, self._replicas.urls)
        ]

    async def get(self, path: str, answer: type[M]) -> M:
        return self._parse(await self.request("GET", path, idempotent=True), answer)

    async def post(self, path: str, body: BaseModel, answer: type[M], *, idempotent: bool) -> M:
        payload = body.model_dump_json(exclude_none=True).encode()
        raw = await self.request("POST", path, body=payload, idempotent=idempotent)
        return self._parse(raw, answer)

    def _parse(self, raw: RawAnswer, answer: type[M]) -> M:
        if 200 <= raw.status < 300:
            try:
                return answer.model_validate_json(raw.body)
            except ValidationError as exc:
                raise DependencyUnavailable(self.name, f"unexpected answer: {exc}") from exc
        if 400 <= raw.status < 500:
            try:
                error = ErrorBody.model_validate_json(raw.body or b"{}")
            except ValidationError:
                error = ErrorBody(message=raw.body[:200].decode(errors="replace"))
            raise ServiceError(self.name, raw.status, error)
        raise DependencyUnavailable(self.name, f"answered {raw.status}")

    async def request(
        self, method: str, path: str, *, body: bytes | None = None, idempotent: bool
    ) -> RawAnswer:
        """Send one request; DependencyUnavailable when the service cannot answer in time."""
        attempts = self._policy.retry_attempts if idempotent else 1
        try:
            # The first attempt goes straight out; the retry policy is built only when needed.
            return await self._send_once(method, path, body)
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
                    return await self._send_once(method, path, body)
        except TransientHttpError as exc:
            raise DependencyUnavailable(self.name, str(exc)) from exc
        except OpenedState as exc:
            raise DependencyUnavailable(self.name, "circuit breaker open") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(self, method: str, path: str, body: bytes | None) -> RawAnswer:
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
        if body is not None:
            headers["Content-Type"] = "application/json"
        replica = self._replicas.pick()
        url = f"{self._replicas.urls[replica]}{path}"
        async with self._breaker:
            if self._tracer is None or unsampled():
                # Nothing to record (telemetry off, or a trace its head decided not to
                # record): no span, the decision passed on in the headers.
                if self._tracer is not None:
                    inject(headers)
                return await self._exchange(replica, method, url, body, headers, timeout)
            with traced(
                self._tracer,
                method,
                kind=trace.SpanKind.CLIENT,
                attributes={
                    "http.request.method": method,
                    "url.full": url,
                    "peer.service": self.name,
                    **self._servers[replica],
                },
            ) as span:
                inject(headers)
                return await self._exchange(replica, method, url, body, headers, timeout, span)

    async def _exchange(
        self,
        replica: int,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        timeout: float,
        span: trace.Span | None = None,
    ) -> RawAnswer:
        """One exchange with one replica, marked refused if it refused the connection."""
        try:
            async with self._session.request(
                method,
                url,
                data=body,
                timeout=aiohttp.ClientTimeout(total=timeout),
                headers=headers,
            ) as resp:
                if span is not None:
                    span.set_attribute("http.response.status_code", resp.status)
                    if resp.status >= 500:
                        span.set_status(trace.StatusCode.ERROR)
                if resp.status in (502, 503, 504):
                    raise TransientHttpError(f"{self.name} answered {resp.status}")
                return RawAnswer(resp.status, await resp.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            if isinstance(exc, aiohttp.ClientConnectorError):
                self._replicas.refused(replica)
            raise TransientHttpError(f"{type(exc).__name__}: {exc}") from exc
