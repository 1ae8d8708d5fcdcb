"""The event catalogue: the platform's AsyncAPI document, served beside the OpenAPI one."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter

from junction.contracts.asyncapi import asyncapi_document
from storefront.deps import StorefrontDep

router = APIRouter()


@cache
def _document(version: str) -> dict[str, Any]:
    return asyncapi_document(version)


@router.get("/asyncapi.json", summary="The event catalogue (AsyncAPI 3.0)")
async def asyncapi(deps: StorefrontDep) -> dict[str, Any]:
    return _document(deps.settings.service_version)
