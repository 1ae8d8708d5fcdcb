"""Composition root of the payments service."""

from __future__ import annotations

from fastapi import FastAPI

from junction.events import ORDERS, PAYMENTS
from junction.runtime import ServiceRuntime
from junction.store import AggregateStore
from payments import api, subscribers
from payments.deps import PaymentsDeps
from payments.domain import Payment
from payments.settings import PaymentsSettings


def create_app(settings: PaymentsSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()
    runtime = ServiceRuntime(settings, owns=[PAYMENTS], consumes=[ORDERS])
    app = runtime.http_app(api.router)

    async def start(rt: ServiceRuntime) -> None:
        kv = await rt.bucket(settings.bucket)
        deps = PaymentsDeps(
            settings=settings,
            payments=AggregateStore(
                kv,
                Payment,
                prefix="payment",
                relay=rt.relay(kv),
                cas_attempts=settings.cas_attempts,
            ),
        )
        app.state.deps = deps
        subscribers.register(rt, deps)

    runtime.on_startup(start)
    return app


def run() -> None:
    app = create_app()
    app.state.runtime.serve(app)


if __name__ == "__main__":
    run()
