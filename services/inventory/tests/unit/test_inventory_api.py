"""Inventory's routes through its ASGI app, with an in-memory bucket."""

import pytest
from fastapi import FastAPI

from inventory import api
from inventory.main import build_deps
from inventory.settings import InventorySettings
from junction_devtools.fakes import FakeKV
from junction_devtools.testing import http_client, service_app

pytestmark = pytest.mark.unit

PRODUCT = {"name": "Mug", "price_cents": 1200, "stock": 3}


def app() -> FastAPI:
    settings = InventorySettings(log_json=False)
    return service_app(api.router, deps=build_deps(settings, FakeKV()), settings=settings)


async def test_products_are_created_once_and_listed_with_what_is_available() -> None:
    async with http_client(app()) as http:
        created = await http.put("/products/MUG", json=PRODUCT)
        again = await http.put("/products/MUG", json=PRODUCT)
        conflict = await http.put("/products/MUG", json={**PRODUCT, "price_cents": 1})
        listed = await http.get("/products")
    assert (created.status_code, again.status_code, conflict.status_code) == (201, 200, 409)
    assert conflict.json()["error"] == "conflict"
    assert listed.json() == [{"sku": "MUG", "name": "Mug", "price_cents": 1200, "available": 3}]


async def test_a_reservation_holds_stock_and_short_stock_names_the_skus() -> None:
    async with http_client(app()) as http:
        await http.put("/products/MUG", json=PRODUCT)
        held = await http.post(
            "/reservations", json={"order_id": "o1", "items": [{"sku": "MUG", "quantity": 2}]}
        )
        short = await http.post(
            "/reservations", json={"order_id": "o2", "items": [{"sku": "MUG", "quantity": 2}]}
        )
        unknown = await http.post(
            "/reservations", json={"order_id": "o3", "items": [{"sku": "NOPE", "quantity": 1}]}
        )
        ledger = await http.get("/products/MUG")
        read = await http.get("/reservations/o1")
        missing = await http.get("/reservations/o9")
    assert held.status_code == 201 and held.json()["status"] == "held"
    assert (read.status_code, read.json()["status"]) == (200, "held")  # as answered
    assert missing.status_code == 404
    assert held.json()["lines"] == [{"sku": "MUG", "quantity": 2, "price_cents": 1200}]
    assert (short.status_code, short.json()) == (
        409,
        {"error": "out_of_stock", "skus": ["MUG"], "message": "not enough stock for MUG"},
    )
    assert (unknown.status_code, unknown.json()["error"], unknown.json()["skus"]) == (
        422,
        "unknown_sku",
        ["NOPE"],
    )
    assert (ledger.json()["reserved"], ledger.json()["available"]) == (2, 1)


async def test_restocking_an_unknown_sku_is_404() -> None:
    async with http_client(app()) as http:
        answer = await http.post("/products/NOPE/restock", json={"quantity": 1})
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"
