"""Composition root of the storefront service."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from junction.client import ServiceCalls
from junction.service import ServiceRuntime
from junction.store.aggregates import AggregateStore
from junction.store.bucket import KeyValueBucket
from junction.web.middleware import InflightLimit
from storefront import api, asyncapi, pages
from storefront.deps import StorefrontDeps
from storefront.domain import IdempotentRequest
from storefront.live import OrderFeed
from storefront.settings import StorefrontSettings


def build_deps(
    settings: StorefrontSettings,
    bucket: KeyValueBucket,
    *,
    orders: ServiceCalls,
    inventory: ServiceCalls,
    payments: ServiceCalls,
    notifications: ServiceCalls,
    traces: ServiceCalls | None = None,
) -> StorefrontDeps:
    """The service's dependencies, from its settings, bucket and downstream clients."""
    return StorefrontDeps(
        settings=settings,
        requests=AggregateStore(
            bucket, IdempotentRequest, prefix="idem", cas_attempts=settings.cas_attempts
        ),
        orders=orders,
        inventory=inventory,
        payments=payments,
        notifications=notifications,
        admission=InflightLimit("checkouts", settings.max_inflight_checkouts),
        feed=OrderFeed(settings.live_max_streams),
        traces=traces,
    )


def create_app(settings: StorefrontSettings | None = None) -> FastAPI:
    settings = settings or StorefrontSettings()
    runtime = ServiceRuntime(settings)
    app = runtime.http_app(
        api.router,
        asyncapi.router,
        pages.router,
        title="Junction storefront",
        form_paths=pages.FORM_PATHS,
    )
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")

    async def start(rt: ServiceRuntime) -> None:
        # Idempotency keys are remembered for a day, then the bucket forgets them.
        bucket = await rt.bucket(settings.bucket, ttl=settings.idempotency_ttl_seconds)
        app.state.deps = build_deps(
            settings,
            bucket,
            orders=rt.client("orders", settings.orders_url),
            inventory=rt.client("inventory", settings.inventory_url),
            payments=rt.client("payments", settings.payments_url),
            notifications=rt.client("notifications", settings.notifications_url),
            traces=rt.client("traces", settings.trace_query_url)
            if settings.trace_query_url
            else None,
        )
        app.state.deps.feed.attach(rt.nats)
        # Live pages' streams never finish by themselves: at shutdown they end at once,
        # telling their pages to reconnect, instead of holding it up until cut off.
        rt.on_drain(app.state.deps.feed.close)

    runtime.on_startup(start)
    return app


def run() -> None:
    app = create_app()
    app.state.runtime.serve(app)


if __name__ == "__main__":
    run()
