from __future__ import annotations

from pydantic import Field

from junction.config import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service_name: str = "notifications"
    port: int = 8085
    bucket: str = "notifications"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=1, le=65535)
    smtp_timeout_seconds: float = Field(default=5.0, gt=0)
    smtp_connections: int = Field(default=4, ge=1, le=64)  # kept open and reused
    mail_from: str = "Junction Shop <shop@junction.local>"
    mail_domain: str = "junction.local"
