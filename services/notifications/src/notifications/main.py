"""Composition root of the notifications service (no public API beyond health)."""

from __future__ import annotations

from fastapi import FastAPI

from junction.events import NOTIFICATIONS, ORDERS
from junction.runtime import ServiceRuntime
from junction.store import AggregateStore
from notifications import subscribers
from notifications.domain import SentEmail
from notifications.mailer import SmtpMailer
from notifications.settings import NotificationsSettings


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    runtime = ServiceRuntime(settings, owns=[NOTIFICATIONS], consumes=[ORDERS])
    app = runtime.http_app()

    async def start(rt: ServiceRuntime) -> None:
        kv = await rt.bucket(settings.bucket)
        emails = AggregateStore(
            kv, SentEmail, prefix="email", relay=rt.relay(kv), cas_attempts=settings.cas_attempts
        )
        mailer = SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_timeout_seconds,
            connections=settings.smtp_connections,
        )
        subscribers.register(rt, settings, emails, mailer)
        rt.on_shutdown(lambda _: mailer.close())

    runtime.on_startup(start)
    return app


def run() -> None:
    app = create_app()
    app.state.runtime.serve(app)


if __name__ == "__main__":
    run()
