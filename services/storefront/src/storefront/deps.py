"""What the storefront's routes are given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from junction.client import ServiceCalls
from junction.web.app import from_app_state
from junction.web.middleware import InflightLimit
from storefront.handlers import Requests
from storefront.live import OrderFeed
from storefront.settings import StorefrontSettings


@dataclass
class StorefrontDeps:
    settings: StorefrontSettings
    requests: Requests
    orders: ServiceCalls
    inventory: ServiceCalls
    payments: ServiceCalls
    notifications: ServiceCalls  # the emails sent about an order (its page, its API)
    admission: InflightLimit
    feed: OrderFeed
    traces: ServiceCalls | None = None  # the trace query API, when configured


StorefrontDep = Annotated[StorefrontDeps, Depends(from_app_state(StorefrontDeps))]
