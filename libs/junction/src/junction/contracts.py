"""Wire types that more than one service speaks."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
OrderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

MAX_ITEMS = 50
MAX_QUANTITY = 1000


class LineItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


Items = Annotated[list[LineItem], Field(min_length=1, max_length=MAX_ITEMS)]


def merge_lines(items: list[LineItem]) -> dict[str, int]:
    """Quantities per SKU, with repeated SKUs added together."""
    lines: dict[str, int] = {}
    for item in items:
        lines[item.sku] = lines.get(item.sku, 0) + item.quantity
    return lines
