from __future__ import annotations

from pydantic import Field

from junction.config import ServiceSettings


class PaymentsSettings(ServiceSettings):
    service_name: str = "payments"
    port: int = 8084
    bucket: str = "payments"
    # Fault injection for resilience tests: latency spikes on a share of calls, and a share
    # of transient 503s. All off by default.
    fault_latency_seconds: float = Field(default=0.0, ge=0)
    fault_latency_rate: float = Field(default=1.0, ge=0, le=1)
    fault_error_rate: float = Field(default=0.0, ge=0, le=1)
