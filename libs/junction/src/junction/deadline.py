"""Deadline propagation: a request's remaining time budget travels with its downstream calls."""

from __future__ import annotations

import time
from contextvars import ContextVar

DEADLINE_HEADER = "X-Junction-Deadline-Ms"

_deadline: ContextVar[float | None] = ContextVar("junction_deadline", default=None)


def set_budget_ms(budget_ms: float) -> None:
    """Start a deadline `budget_ms` from now for the current request."""
    _deadline.set(time.monotonic() + budget_ms / 1000.0)


def remaining_seconds() -> float | None:
    """Seconds left before the current request's deadline, or None when it has none."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()
