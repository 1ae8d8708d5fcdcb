from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from inventory.handlers import Reservations, Stock
from inventory.settings import InventorySettings


@dataclass
class Inventory:
    settings: InventorySettings
    stock: Stock
    reservations: Reservations


async def get_inventory(request: Request) -> Inventory:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool.
    inventory: Inventory = request.app.state.inventory
    return inventory


InventoryDep = Annotated[Inventory, Depends(get_inventory)]
