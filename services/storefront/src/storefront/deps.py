from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from junction.http import ServiceClient
from junction.web import InflightLimit
from storefront.handlers import Requests
from storefront.settings import StorefrontSettings


@dataclass
class StorefrontDeps:
    settings: StorefrontSettings
    requests: Requests
    orders: ServiceClient
    inventory: ServiceClient
    payments: ServiceClient
    admission: InflightLimit


async def get_deps(request: Request) -> StorefrontDeps:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool.
    deps: StorefrontDeps = request.app.state.deps
    return deps


StorefrontDep = Annotated[StorefrontDeps, Depends(get_deps)]
