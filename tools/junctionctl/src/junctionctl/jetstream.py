"""The JetStream side of junctionctl: streams and consumers from NATS monitoring (`/jsz`),
and the dead-letter stream (list, show, replay) over a NATS connection."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client
from nats.errors import NoServersError
from nats.js.errors import NotFoundError

from junctionctl.errors import CtlError

DLQ_STREAM = "DLQ"
DLQ_PREFIX = "Junction-Dlq-"


@dataclass(frozen=True)
class StreamRow:
    stream: str
    messages: int
    consumers: list[ConsumerRow]


@dataclass(frozen=True)
class ConsumerRow:
    name: str
    pending: int
    ack_pending: int
    redelivered: int


def jsz_from_url(monitor_url: str) -> dict[str, Any]:
    url = f"{monitor_url.rstrip('/')}/jsz?streams=true&consumers=true&config=true"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            data: dict[str, Any] = json.loads(resp.read())
            return data
    except (urllib.error.URLError, OSError) as exc:
        raise CtlError(f"NATS monitoring at {monitor_url} is unreachable ({exc})") from exc


def streams_from_jsz(jsz: dict[str, Any]) -> list[StreamRow]:
    rows = []
    for account in jsz.get("account_details", []):
        for stream in account.get("stream_detail", []):
            consumers = [
                ConsumerRow(
                    c["name"],
                    c.get("num_pending", 0),
                    c.get("num_ack_pending", 0),
                    c.get("num_redelivered", 0),
                )
                for c in stream.get("consumer_detail", []) or []
                # Durable consumers only: KV watchers and other ephemeral readers come and go.
                if (c.get("config") or {}).get("durable_name")
            ]
            rows.append(
                StreamRow(
                    stream["name"],
                    stream.get("state", {}).get("messages", 0),
                    sorted(consumers, key=lambda c: c.name),
                )
            )
    return sorted(rows, key=lambda r: r.stream)


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    subject: str
    original_subject: str
    consumer: str
    reason: str
    deliveries: str
    time: str
    headers: dict[str, str]
    data: bytes


async def _connect(url: str) -> Client:
    async def quiet(_: Exception) -> None:
        return None

    try:
        return await asyncio.wait_for(
            nats.connect(url.split(","), connect_timeout=2, allow_reconnect=False, error_cb=quiet),
            timeout=5,
        )
    except (NoServersError, OSError, TimeoutError) as exc:
        raise CtlError(f"NATS at {url} is unreachable ({type(exc).__name__})") from exc


async def dead_letters(url: str, limit: int = 1000) -> list[DeadLetter]:
    nc = await _connect(url)
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(DLQ_STREAM)
        except NotFoundError:
            return []
        if not info.state.messages:
            return []
        first, last = info.state.first_seq, info.state.last_seq
        found: list[DeadLetter] = []
        for seq in range(first, last + 1):
            if len(found) >= limit:
                break
            try:
                msg = await js.get_msg(DLQ_STREAM, seq)
            except NotFoundError:
                continue  # deleted (replayed)
            headers = dict(msg.headers or {})
            found.append(
                DeadLetter(
                    seq=seq,
                    subject=msg.subject or "",
                    original_subject=headers.get(f"{DLQ_PREFIX}Subject", ""),
                    consumer=headers.get(f"{DLQ_PREFIX}Consumer", ""),
                    reason=headers.get(f"{DLQ_PREFIX}Reason", ""),
                    deliveries=headers.get(f"{DLQ_PREFIX}Deliveries", ""),
                    time=str(getattr(msg, "time", "") or ""),
                    headers=headers,
                    data=msg.data or b"",
                )
            )
        return found
    finally:
        await nc.close()


async def replay(url: str, seqs: list[int]) -> list[tuple[int, str]]:
    """Publish each dead letter to its original subject again, then remove it from the DLQ."""
    nc = await _connect(url)
    done = []
    try:
        js = nc.jetstream()
        for seq in seqs:
            try:
                msg = await js.get_msg(DLQ_STREAM, seq)
            except NotFoundError as exc:
                raise CtlError(f"no dead letter with sequence {seq}") from exc
            headers = {
                k: v
                for k, v in (msg.headers or {}).items()
                if not k.startswith((DLQ_PREFIX, "Nats-"))
            }
            subject = (msg.headers or {}).get(f"{DLQ_PREFIX}Subject")
            if not subject:
                raise CtlError(f"dead letter {seq} does not say where it came from")
            # A new message id: the original is inside the stream's duplicate window.
            headers["Nats-Msg-Id"] = f"replay.{DLQ_STREAM}.{seq}"
            await js.publish(subject, msg.data or b"", headers=headers)
            await js.delete_msg(DLQ_STREAM, seq)
            done.append((seq, subject))
        return done
    finally:
        await nc.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)
