"""Composition root of the notifications service."""

from __future__ import annotations

from fastapi import FastAPI

from junction.contracts.catalogue import NOTIFICATIONS, ORDERS
from junction.service import ServiceRuntime
from junction.store.aggregates import AggregateStore
from junction.store.bucket import KeyValueBucket
from junction.store.outbox import OutboxRelay
from notifications import api, subscribers
from notifications.deps import NotificationsDeps
from notifications.domain import SentEmail
from notifications.handlers import Emails
from notifications.mailer import SmtpMailer
from notifications.settings import NotificationsSettings


def build_emails(
    settings: NotificationsSettings, bucket: KeyValueBucket, relay: OutboxRelay | None = None
) -> Emails:
    """The record of sent emails, one per order and kind (with the relay only for what
    records of earlier versions left in their outboxes)."""
    return AggregateStore(
        bucket, SentEmail, prefix="email", relay=relay, cas_attempts=settings.cas_attempts
    )


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    runtime = ServiceRuntime(settings, owns=[NOTIFICATIONS], consumes=[ORDERS])
    app = runtime.http_app(api.router)

    async def start(rt: ServiceRuntime) -> None:
        emails = build_emails(settings, await rt.bucket(settings.bucket), rt.relay())
        app.state.deps = NotificationsDeps(settings=settings, emails=emails)
        mailer = SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_timeout_seconds,
            connections=settings.smtp_connections,
        )
        subscribers.register(rt.subscribe, settings, emails, mailer)
        rt.on_shutdown(lambda _: mailer.close())

    runtime.on_startup(start)
    return app


def run() -> None:
    app = create_app()
    app.state.runtime.serve(app)


if __name__ == "__main__":
    run()
