"""What inventory's routes and subscribers are given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from inventory.handlers import Reservations, Stock
from inventory.settings import InventorySettings
from junction.web.app import from_app_state


@dataclass
class InventoryDeps:
    settings: InventorySettings
    stock: Stock
    reservations: Reservations


InventoryDep = Annotated[InventoryDeps, Depends(from_app_state(InventoryDeps))]
