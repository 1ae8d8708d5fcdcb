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


def get_deps(request: Request) -> OrdersDeps:
    deps: OrdersDeps = request.app.state.deps
    return deps


OrdersDep = Annotated[OrdersDeps, Depends(get_deps)]
