"""Errors the shared library raises, and how HTTP answers them."""

from __future__ import annotations


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


class ConcurrencyConflict(JunctionError):
    """A compare-and-set write lost to another writer more times than allowed."""


class PoisonMessage(JunctionError):
    """A message that can never be processed: it goes to the dead-letter stream."""


class Defer(JunctionError):
    """Not yet: redeliver this message after `delay` seconds (not a failure)."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"deferred for {delay:.3f}s")
        self.delay = delay
