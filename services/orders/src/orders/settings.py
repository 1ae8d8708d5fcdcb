from __future__ import annotations

from junction.config import ServiceSettings


class OrdersSettings(ServiceSettings):
    service_name: str = "orders"
    port: int = 8082
    bucket: str = "orders"
    inventory_url: str = "http://127.0.0.1:8083"
