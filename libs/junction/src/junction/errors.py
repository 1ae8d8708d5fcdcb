"""Junction's errors: failures of the platform itself, and domain errors, with which a use
case refuses a request (`junction.web.errors` maps each to its status code and body)."""

from __future__ import annotations

from typing import Any


class JunctionError(Exception):
    """Base class of Junction's own errors."""


class DependencyUnavailable(JunctionError):
    """A downstream service or NATS could not be reached in time (answered as 503)."""

    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(f"{dependency} is unavailable: {reason}")
        self.dependency = dependency
        self.reason = reason


class Overloaded(JunctionError):
    """This process already has as many such requests in flight as it admits (503)."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{limit} {what} in flight already")
        self.what = what
        self.limit = limit


class Stopping(JunctionError):
    """This replica is shutting down and takes nothing new that would outlive it (503): a
    retry reaches another replica."""

    def __init__(self, what: str) -> None:
        super().__init__(f"this replica is stopping: no new {what}")
        self.what = what


class ConcurrencyConflict(JunctionError):
    """A compare-and-set write lost to another writer more times than allowed."""


class PoisonMessage(JunctionError):
    """A message that can never be processed: it goes to the dead-letter stream."""


class Defer(JunctionError):
    """Not yet: redeliver this message after `delay` seconds (not a failure)."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"deferred for {delay:.3f}s")
        self.delay = delay


class DomainError(JunctionError):
    """A use case refusing a request. `code` names the refusal for programs, `message` says
    it for people, and `details` (the SKUs that are short, the field that is wrong) go
    into the error body between the two."""

    status: int = 400
    code: str = "bad_request"
    # Seconds after which the same request may succeed (the Retry-After header), if any.
    retry_after: int | None = None

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Invalid(DomainError):
    status = 422
    code = "invalid_request"


class Refused(DomainError):
    """Another service's refusal, passed on to the caller as it was given."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.status = status
        self.code = code
