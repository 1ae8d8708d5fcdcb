"""A local SMTP sink: keeps every message under a folder and lists them through a
Mailpit-compatible HTTP API (`GET /api/v1/messages`), so tests read mail the same way
locally and against Mailpit in a cluster."""

from __future__ import annotations

import argparse
import asyncio
import email
import email.message
import email.policy
import logging
import signal
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

logger = logging.getLogger("mailsink")


def parse_stored(raw: bytes) -> email.message.EmailMessage:
    """A stored message, parsed. Headers may be UTF-8 (RFC 6532, sent with SMTPUTF8)."""
    msg = email.message_from_string(
        raw.decode("utf-8", errors="surrogateescape"), policy=email.policy.default
    )
    assert isinstance(msg, email.message.EmailMessage)
    return msg


class MailStore:
    """Messages as .eml files in one folder, named so that listing order is arrival order.

    Each message's summary is made once, when it is first listed, and kept: a poll of the
    list (tests and benches poll it while they wait) reads the folder's names, not every
    message again, so it does not grow dearer with every message kept. A file that is
    gone from the folder is gone from the list.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._summaries: dict[str, dict[str, Any]] = {}

    def save(self, raw: bytes) -> str:
        ident = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        tmp = self.folder / f".{ident}.tmp"
        tmp.write_bytes(raw)
        tmp.rename(self.folder / f"{ident}.eml")
        return ident

    def summaries(self) -> list[dict[str, Any]]:
        paths = sorted(self.folder.glob("*.eml"), reverse=True)  # newest first, as Mailpit
        kept = {path.stem for path in paths}
        for gone in self._summaries.keys() - kept:
            del self._summaries[gone]
        out = []
        for path in paths:
            summary = self._summaries.get(path.stem)
            if summary is None:
                summary = self._summaries[path.stem] = summarise(path)
            out.append(summary)
        return out


def summarise(path: Path) -> dict[str, Any]:
    """A stored message as Mailpit's list shows it."""
    raw = path.read_bytes()
    msg = parse_stored(raw)
    return {
        "ID": path.stem,
        "MessageID": str(msg.get("Message-ID", "")).strip().strip("<>"),
        "From": {"Name": "", "Address": str(msg.get("From", ""))},
        "To": [
            {"Name": "", "Address": a.strip()}
            for a in str(msg.get("To", "")).split(",")
            if a.strip()
        ],
        "Subject": str(msg.get("Subject", "")),
        "Created": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(path.stem.split("-")[0]) / 1e9)
        ),
        "Size": len(raw),
    }


class Handler:
    def __init__(self, store: MailStore) -> None:
        self.store = store
        # The client (address, port) of each recent message, in order (tests read it).
        self.peers: deque[Any] = deque(maxlen=10_000)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        self.store.save(raw)
        self.peers.append(session.peer)
        return "250 Message accepted for delivery"


def sink_controller(store: MailStore, host: str, port: int) -> Controller:
    """The SMTP side (in a thread of its own); internationalised addresses accepted."""
    return Controller(Handler(store), hostname=host, port=port, enable_SMTPUTF8=True)


def http_app(store: MailStore) -> web.Application:
    async def messages(request: web.Request) -> web.Response:
        start = int(request.query.get("start", "0"))
        limit = int(request.query.get("limit", "50"))
        all_ = store.summaries()
        page = all_[start : start + limit]
        return web.json_response(
            {
                "total": len(all_),
                "count": len(page),
                "start": start,
                "messages_count": len(all_),
                "messages": page,
            }
        )

    async def livez(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    app = web.Application()
    app.router.add_get("/api/v1/messages", messages)
    app.router.add_get("/livez", livez)
    return app


async def serve(folder: Path, host: str, smtp_port: int, http_port: int) -> None:
    store = MailStore(folder)
    controller = sink_controller(store, host, smtp_port)
    controller.start()
    runner = web.AppRunner(http_app(store), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, http_port).start()
    logger.info("mail sink on smtp://%s:%d, api http://%s:%d", host, smtp_port, host, http_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    controller.stop()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=2525)
    parser.add_argument("--http-port", type=int, default=8025)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    # aiosmtpd logs every SMTP command and reply at INFO: five lines an email, more CPU
    # than keeping the email. Its warnings and errors still show.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    asyncio.run(serve(args.dir, args.host, args.smtp_port, args.http_port))


if __name__ == "__main__":
    main()
