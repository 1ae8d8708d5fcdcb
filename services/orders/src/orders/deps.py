from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from junction.http import ServiceClient
from orders.handlers import Orders
from orders.settings import OrdersSettings


@dataclass
class OrdersDeps:
    settings: OrdersSettings
    orders: Orders
    inventory: ServiceClient


async def get_deps(request: Request) -> OrdersDeps:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool.
    deps: OrdersDeps = request.app.state.deps
    return deps


OrdersDep = Annotated[OrdersDeps, Depends(get_deps)]
