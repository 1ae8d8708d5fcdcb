"""Sending email over SMTP."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

import aiosmtplib
from opentelemetry import trace
from opentelemetry.trace import SpanKind

_tracer = trace.get_tracer("junction.notifications")


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    def __init__(self, host: str, port: int, timeout: float) -> None:
        self._host, self._port, self._timeout = host, port, timeout

    async def send(self, message: EmailMessage) -> None:
        attributes: dict[str, str | int] = {
            "server.address": self._host,
            "server.port": self._port,
            "email.message_id": str(message["Message-ID"]),
            "email.kind": str(message["X-Junction-Email-Kind"]),
            "order.id": str(message["X-Junction-Order-Id"]),
        }
        with _tracer.start_as_current_span(
            "smtp send", kind=SpanKind.CLIENT, attributes=attributes
        ):
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                timeout=self._timeout,
                start_tls=False,
                use_tls=False,
            )
