"""Notifications' HTTP API: health (alive always, ready only when its runtime says so) and
the emails sent about an order, which storefront reads for the order's timeline."""

from datetime import UTC, datetime, timedelta

import pytest

from junction.web.app import build_app
from junction_devtools.fakes import FakeKV
from junction_devtools.testing import http_client, service_app
from notifications import api
from notifications.deps import NotificationsDeps
from notifications.domain import EmailKind, SentEmail
from notifications.main import build_emails
from notifications.settings import NotificationsSettings

pytestmark = pytest.mark.unit


class Draining:
    shutting_down = True

    def is_ready(self) -> bool:
        return False


async def test_a_draining_service_is_alive_but_not_ready() -> None:
    app = build_app([], title="n", version="0", readiness=Draining(), max_body_bytes=1024)
    async with http_client(app) as http:
        alive = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert alive.status_code == 200
    assert (ready.status_code, ready.json()["reason"]) == (503, "shutting down")


async def test_an_orders_emails_are_listed_oldest_first_and_none_is_an_empty_list() -> None:
    settings = NotificationsSettings(log_json=False)
    emails = build_emails(settings, FakeKV())
    sent_at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    for offset, kind in ((5, EmailKind.RECEIPT), (1, EmailKind.ORDER_RECEIVED)):
        record = SentEmail(
            order_id="o1",
            kind=kind,
            to="c@example.com",
            message_id=f"<o1.{kind.value}@j>",
            sent_at=sent_at + timedelta(seconds=offset),
        )
        assert await emails.put_new(f"o1.{kind.value}", record)
    deps = NotificationsDeps(settings=settings, emails=emails)
    async with http_client(service_app(api.router, deps=deps, settings=settings)) as http:
        found = await http.get("/orders/o1/emails")
        none = await http.get("/orders/o2/emails")
        invalid = await http.get("/orders/o%20x/emails")
    assert found.status_code == 200
    assert [(e["kind"], e["message_id"]) for e in found.json()["emails"]] == [
        ("order_received", "<o1.order_received@j>"),
        ("receipt", "<o1.receipt@j>"),
    ]
    assert none.json() == {"order_id": "o2", "emails": []}
    assert invalid.status_code == 422
