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
    notifications_url: str = "http://127.0.0.1:8085"
    # How long an unfinished request keeps its Idempotency-Key before a retry may take over.
    idempotency_lease_seconds: float = Field(default=30.0, gt=0)
    idempotency_ttl_seconds: float = Field(default=24 * 3600.0, gt=0)
    # Admission control: checkouts in flight in one replica; beyond it, 503 at once.
    max_inflight_checkouts: int = Field(default=32, ge=1)
    # The order page: traces read through the trace query API (Jaeger v2's, or the local
    # trace store); empty: pages are built from the order's timeline alone.
    trace_query_url: str = ""
    # Where a person opens Jaeger's UI for the "Open in Jaeger" link; empty: no link.
    jaeger_ui_url: str = ""
    # Live order pages (Server-Sent Events) open at once in one replica; beyond, 503.
    live_max_streams: int = Field(default=200, ge=0)
    # A live page's stream ends after this long even if its order never finishes.
    live_max_seconds: float = Field(default=300.0, gt=0)
