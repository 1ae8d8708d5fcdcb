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


def get_inventory(request: Request) -> Inventory:
    inventory: Inventory = request.app.state.inventory
    return inventory


InventoryDep = Annotated[Inventory, Depends(get_inventory)]
