"""Sending email over SMTP, on a few kept-open connections."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from io import BytesIO
from typing import Protocol

import aiosmtplib
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from junction.telemetry import traced

_tracer = trace.get_tracer("junction.notifications")


class Mailer(Protocol):
    async def send(self, message: Message) -> None: ...


SMTP_POLICY = compat32.clone(linesep="\r\n")


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipients: list[str]
    data: bytes
    smtputf8: bool


def envelope_of(message: Message) -> Envelope:
    """Sender, recipients and the message as SMTP carries it, flattened once."""
    sender = parseaddr(str(message["From"]))[1]
    recipients = [addr for _, addr in getaddresses([str(v) for v in message.get_all("To", [])])]
    smtputf8 = not all(a.isascii() for a in [sender, *recipients])
    policy = message.policy.clone(linesep="\r\n") if smtputf8 else SMTP_POLICY
    out = BytesIO()
    BytesGenerator(out, policy=policy).flatten(message)
    return Envelope(sender, recipients, out.getvalue(), smtputf8)


async def send(client: aiosmtplib.SMTP, envelope: Envelope) -> None:
    await client.sendmail(
        envelope.sender,
        envelope.recipients,
        envelope.data,
        mail_options=["SMTPUTF8"] if envelope.smtputf8 else None,
    )


class SmtpMailer:
    """Sends each message on a pooled SMTP connection.

    A connection per message costs a TCP handshake, the greeting, EHLO and QUIT (and, unless
    the client is told its own name, a DNS lookup for it): most of a send. Up to
    `connections` sessions are kept open and reused; one the server has dropped while idle
    is replaced and the message sent again on the new one. Delivery stays at least once, and
    the Message-ID lets the receiving side tell a repeat.
    """

    def __init__(self, host: str, port: int, timeout: float, connections: int = 4) -> None:
        self._host, self._port, self._timeout = host, port, timeout
        self._local_name = socket.gethostname()
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[aiosmtplib.SMTP] = []

    async def send(self, message: Message) -> None:
        attributes: dict[str, str | int] = {
            "server.address": self._host,
            "server.port": self._port,
            "email.message_id": str(message["Message-ID"]),
            "email.kind": str(message["X-Junction-Email-Kind"]),
            "order.id": str(message["X-Junction-Order-Id"]),
        }
        with traced(_tracer, "smtp send", kind=SpanKind.CLIENT, attributes=attributes):
            envelope = envelope_of(message)
            async with self._slots:
                client = self._idle.pop() if self._idle else None
                client = await self._deliver(client, envelope)
                self._idle.append(client)

    async def _deliver(self, client: aiosmtplib.SMTP | None, envelope: Envelope) -> aiosmtplib.SMTP:
        if client is not None:
            try:
                await send(client, envelope)
                return client
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                client.close()  # dropped while idle: start a new session
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            timeout=self._timeout,
            local_hostname=self._local_name,
            start_tls=False,
            use_tls=False,
        )
        await client.connect()
        try:
            await send(client, envelope)
        except BaseException:
            client.close()
            raise
        return client

    async def close(self) -> None:
        """End the kept-open sessions (QUIT), best effort."""
        idle, self._idle = self._idle, []
        for client in idle:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.quit(), timeout=1.0)
            client.close()
