"""Composition root of the inventory service."""

from __future__ import annotations

from fastapi import FastAPI

from inventory import api, handlers, subscribers
from inventory.catalogue import SEED
from inventory.deps import Inventory
from inventory.domain import Reservation, StockItem
from inventory.settings import InventorySettings
from junction.events import INVENTORY, PAYMENTS
from junction.runtime import ServiceRuntime
from junction.store import AggregateStore, KeyLocks


def create_app(settings: InventorySettings | None = None) -> FastAPI:
    settings = settings or InventorySettings()
    runtime = ServiceRuntime(settings, owns=[INVENTORY], consumes=[PAYMENTS, INVENTORY])
    app = runtime.http_app(api.router)

    async def start(rt: ServiceRuntime) -> None:
        kv = await rt.bucket(settings.bucket)
        relay, locks = rt.relay(kv), KeyLocks()
        inv = Inventory(
            settings=settings,
            stock=AggregateStore(
                kv,
                StockItem,
                prefix="sku",
                relay=relay,
                locks=locks,
                cas_attempts=settings.cas_attempts,
            ),
            reservations=AggregateStore(
                kv,
                Reservation,
                prefix="reservation",
                relay=relay,
                locks=locks,
                cas_attempts=settings.cas_attempts,
            ),
        )
        if settings.seed_catalogue:
            for product in SEED:
                await handlers.add_product(inv.stock, product)
        app.state.inventory = inv
        subscribers.register(rt, inv)

    runtime.on_startup(start)
    return app


def run() -> None:
    settings = InventorySettings()
    app = create_app(settings)
    app.state.runtime.serve(app)


if __name__ == "__main__":
    run()
