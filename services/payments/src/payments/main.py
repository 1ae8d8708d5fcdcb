"""Composition root of the payments service."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware import Middleware

from junction.contracts.catalogue import ORDERS, PAYMENTS
from junction.service import ServiceRuntime
from junction.store.aggregates import AggregateStore
from junction.store.bucket import KeyValueBucket
from junction.store.outbox import OutboxRelay
from payments import api, subscribers
from payments.deps import PaymentsDeps
from payments.domain import Payment
from payments.faults import ChargeFaults
from payments.settings import PaymentsSettings


def build_deps(
    settings: PaymentsSettings, bucket: KeyValueBucket, relay: OutboxRelay | None = None
) -> PaymentsDeps:
    """The service's dependencies, from its settings and bucket."""
    payments = AggregateStore(
        bucket, Payment, prefix="payment", relay=relay, cas_attempts=settings.cas_attempts
    )
    return PaymentsDeps(settings=settings, payments=payments)


def create_app(settings: PaymentsSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()
    runtime = ServiceRuntime(settings, owns=[PAYMENTS], consumes=[ORDERS])
    faults = settings.fault_latency_seconds or settings.fault_error_rate
    app = runtime.http_app(
        api.router, middleware=[Middleware(ChargeFaults, settings=settings)] if faults else []
    )

    async def start(rt: ServiceRuntime) -> None:
        deps = build_deps(settings, await rt.bucket(settings.bucket), rt.relay())
        app.state.deps = deps
        subscribers.register(rt.subscribe, deps)

    runtime.on_startup(start)
    return app


def run() -> None:
    app = create_app()
    app.state.runtime.serve(app)


if __name__ == "__main__":
    run()
