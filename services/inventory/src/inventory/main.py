"""Composition root of the inventory service."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from inventory import api, handlers, subscribers
from inventory.catalogue import SEED
from inventory.deps import InventoryDeps
from inventory.domain import Reservation, StockItem
from inventory.settings import InventorySettings
from junction.connection import when_ready
from junction.contracts.catalogue import INVENTORY, PAYMENTS
from junction.service import ServiceRuntime
from junction.store.aggregates import AggregateStore, KeyLocks
from junction.store.bucket import KeyValueBucket
from junction.store.outbox import OutboxRelay


def build_deps(
    settings: InventorySettings, bucket: KeyValueBucket, relay: OutboxRelay | None = None
) -> InventoryDeps:
    """The service's dependencies: stock and reservations, in one bucket, one relay."""
    locks = KeyLocks()
    return InventoryDeps(
        settings=settings,
        stock=AggregateStore(
            bucket,
            StockItem,
            prefix="sku",
            relay=relay,
            locks=locks,
            cas_attempts=settings.cas_attempts,
        ),
        reservations=AggregateStore(
            bucket,
            Reservation,
            prefix="reservation",
            relay=relay,
            locks=locks,
            cas_attempts=settings.cas_attempts,
        ),
    )


def create_app(settings: InventorySettings | None = None) -> FastAPI:
    settings = settings or InventorySettings()
    runtime = ServiceRuntime(settings, owns=[INVENTORY], consumes=[PAYMENTS, INVENTORY])
    app = runtime.http_app(api.router)

    async def start(rt: ServiceRuntime) -> None:
        relay = rt.relay()
        relay.defer(partial(handlers.timer_delay, settings.reservation_timer_grace_seconds))
        inv = build_deps(settings, await rt.bucket(settings.bucket), relay)
        if settings.seed_catalogue:  # idempotent, so retried while a new bucket settles
            for product in SEED:
                await when_ready(
                    partial(handlers.add_product, inv.stock, product), settings.streams_wait_seconds
                )
        app.state.deps = inv
        subscribers.register(rt.subscribe, inv)

    runtime.on_startup(start)
    return app


def run() -> None:
    app = create_app()
    app.state.runtime.serve(app)


if __name__ == "__main__":
    run()
