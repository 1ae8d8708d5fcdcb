"""Composition root of the storefront service."""

from __future__ import annotations

from fastapi import FastAPI

from junction.runtime import ServiceRuntime
from junction.store import AggregateStore
from junction.web import InflightLimit
from storefront import api
from storefront.deps import StorefrontDeps
from storefront.domain import IdempotentRequest
from storefront.settings import StorefrontSettings


def create_app(settings: StorefrontSettings | None = None) -> FastAPI:
    settings = settings or StorefrontSettings()
    runtime = ServiceRuntime(settings)
    app = runtime.http_app(api.router, title="Junction storefront")

    async def start(rt: ServiceRuntime) -> None:
        # Idempotency keys are remembered for a day, then the bucket forgets them.
        kv = await rt.bucket(settings.bucket, ttl=settings.idempotency_ttl_seconds)
        app.state.deps = StorefrontDeps(
            settings=settings,
            requests=AggregateStore(
                kv, IdempotentRequest, prefix="idem", cas_attempts=settings.cas_attempts
            ),
            orders=rt.client("orders", settings.orders_url),
            inventory=rt.client("inventory", settings.inventory_url),
            payments=rt.client("payments", settings.payments_url),
            admission=InflightLimit("checkouts", settings.max_inflight_checkouts),
        )

    runtime.on_startup(start)
    return app


def run() -> None:
    app = create_app()
    app.state.runtime.serve(app)


if __name__ == "__main__":
    run()
