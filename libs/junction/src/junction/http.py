"""The one HTTP client wrapper for service-to-service calls.

Every call has a timeout (bounded by the caller's propagated deadline), goes through a
circuit breaker per downstream, and is retried with jittered backoff only when the caller
says it is idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
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
    ) -> None:
        self.name = name
        self._base_url = base_url.rstrip("/")
        self._session = session
        self._policy = policy
        self._breakers = breakers

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
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(attempts),
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
        breaker = await self._breakers.get_breaker(
            self.name,
            threshold=self._policy.breaker_threshold,
            ttl=self._policy.breaker_reset_seconds,
        )
        async with breaker:
            try:
                async with self._session.request(
                    method,
                    f"{self._base_url}{path}",
                    json=json,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                    headers={DEADLINE_HEADER: str(int(timeout * 1000))},
                ) as resp:
                    if resp.status in (502, 503, 504):
                        raise TransientHttpError(f"{self.name} answered {resp.status}")
                    body = await resp.json(content_type=None) if resp.content_length != 0 else None
                    return Response(resp.status, body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise TransientHttpError(f"{type(exc).__name__}: {exc}") from exc
