from __future__ import annotations

from pydantic import Field

from junction.config import ServiceSettings


class InventorySettings(ServiceSettings):
    service_name: str = "inventory"
    port: int = 8083
    bucket: str = "inventory"
    reservation_hold_seconds: float = Field(default=900.0, gt=0)
    max_hold_seconds: float = Field(default=3600.0, gt=0)
    # How long a reservation's expiry timer waits in its outbox before it is published: a
    # reservation committed, released or refused meanwhile never publishes it (decision
    # 0015). 0 publishes it at once.
    reservation_timer_grace_seconds: float = Field(default=5.0, ge=0)
    seed_catalogue: bool = True
    # Reservation timers waiting at once (each is an unacknowledged JetStream message).
    max_open_reservations: int = Field(default=100_000, ge=100)
