"""Time and identifiers, one source for every service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh random identifier (32 hex digits)."""
    return uuid.uuid4().hex
