"""The checkout's outcomes and idempotency records. Pure rules, no I/O."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from junction.errors import Conflict, DomainError, Invalid
from junction.store.aggregates import Aggregate

ORDER_ID_NAMESPACE = uuid.UUID("5d8f0c7e-1b1e-4c55-9d38-8a2b6f3b9c11")


def order_id_for(idempotency_key: str | None) -> str:
    """A retry with the same key reuses the same order id, so every hop stays idempotent."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    return uuid.uuid5(ORDER_ID_NAMESPACE, idempotency_key).hex


def key_id(idempotency_key: str) -> str:
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:48]


def fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class CheckoutAccepted(BaseModel):
    """The order is placed and paid (201)."""

    order_id: str
    status: str
    payment_status: str
    total_cents: int


class PaymentDeclined(DomainError):
    status = 402
    code = "payment_declined"


class IdempotencyKeyReused(Invalid):
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "this Idempotency-Key was used with a different request body", field="Idempotency-Key"
        )


class RequestInProgress(Conflict):
    code = "request_in_progress"
    retry_after = 1  # the first request usually answers within a second

    def __init__(self) -> None:
        super().__init__(
            "a request with this Idempotency-Key is still being processed; retry shortly"
        )


class IdempotentRequest(Aggregate):
    """The first answer to a request with an Idempotency-Key, as it was given."""

    fingerprint: str
    started_at: datetime
    status_code: int | None = None
    body: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.status_code is not None
