"""What orders' routes and subscribers are given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from junction.client import ServiceCalls
from junction.web.app import from_app_state
from orders.handlers import Orders
from orders.settings import OrdersSettings


@dataclass
class OrdersDeps:
    settings: OrdersSettings
    orders: Orders
    inventory: ServiceCalls


OrdersDep = Annotated[OrdersDeps, Depends(from_app_state(OrdersDeps))]
