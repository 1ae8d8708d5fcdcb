"""Composition root of the orders service."""

from __future__ import annotations

from fastapi import FastAPI

from junction.client import ServiceCalls
from junction.contracts.catalogue import INVENTORY, ORDERS, PAYMENTS
from junction.service import ServiceRuntime
from junction.store.aggregates import AggregateStore
from junction.store.bucket import KeyValueBucket
from junction.store.outbox import OutboxRelay
from orders import api, subscribers
from orders.deps import OrdersDeps
from orders.domain import Order
from orders.settings import OrdersSettings


def build_deps(
    settings: OrdersSettings,
    bucket: KeyValueBucket,
    inventory: ServiceCalls,
    relay: OutboxRelay | None = None,
) -> OrdersDeps:
    """The service's dependencies, from its settings, bucket and downstream client."""
    orders = AggregateStore(
        bucket, Order, prefix="order", relay=relay, cas_attempts=settings.cas_attempts
    )
    return OrdersDeps(settings=settings, orders=orders, inventory=inventory)


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    settings = settings or OrdersSettings()
    runtime = ServiceRuntime(settings, owns=[ORDERS], consumes=[PAYMENTS, INVENTORY])
    app = runtime.http_app(api.router)

    async def start(rt: ServiceRuntime) -> None:
        deps = build_deps(
            settings,
            await rt.bucket(settings.bucket),
            rt.client("inventory", settings.inventory_url),
            rt.relay(),
        )
        app.state.deps = deps
        subscribers.register(rt.subscribe, deps)

    runtime.on_startup(start)
    return app


def run() -> None:
    app = create_app()
    app.state.runtime.serve(app)


if __name__ == "__main__":
    run()
