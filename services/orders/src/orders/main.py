"""Composition root of the orders service."""

from __future__ import annotations

from fastapi import FastAPI

from junction.events import INVENTORY, NOTIFICATIONS, ORDERS, PAYMENTS
from junction.runtime import ServiceRuntime
from junction.store import AggregateStore
from orders import api, subscribers
from orders.deps import OrdersDeps
from orders.domain import Order
from orders.settings import OrdersSettings


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    settings = settings or OrdersSettings()
    runtime = ServiceRuntime(settings, owns=[ORDERS], consumes=[PAYMENTS, INVENTORY, NOTIFICATIONS])
    app = runtime.http_app(api.router)

    async def start(rt: ServiceRuntime) -> None:
        kv = await rt.bucket(settings.bucket)
        deps = OrdersDeps(
            settings=settings,
            orders=AggregateStore(
                kv, Order, prefix="order", relay=rt.relay(kv), cas_attempts=settings.cas_attempts
            ),
            inventory=rt.client("inventory", settings.inventory_url),
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
