from __future__ import annotations

from pydantic import Field

from junction.config import ServiceSettings


class StorefrontSettings(ServiceSettings):
    service_name: str = "storefront"
    port: int = 8080
    bucket: str = "storefront"
    orders_url: str = "http://127.0.0.1:8082"
    inventory_url: str = "http://127.0.0.1:8083"
    payments_url: str = "http://127.0.0.1:8084"
    # How long an unfinished request keeps its Idempotency-Key before a retry may take over.
    idempotency_lease_seconds: float = Field(default=30.0, gt=0)
    idempotency_ttl_seconds: float = Field(default=24 * 3600.0, gt=0)
    # Admission control: checkouts in flight in one replica; beyond it, 503 at once.
    max_inflight_checkouts: int = Field(default=32, ge=1)
