"""Wire types that more than one contract uses."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
OrderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

MAX_ITEMS = 50
MAX_QUANTITY = 1000


class LineItem(BaseModel):
    """What a customer asks for: a SKU and how many."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


Items = Annotated[list[LineItem], Field(min_length=1, max_length=MAX_ITEMS)]


class OrderLine(BaseModel):
    """A line of an order or a reservation, priced when the stock was reserved."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: str
    quantity: int
    price_cents: int


def merge_lines(items: list[LineItem]) -> dict[str, int]:
    """Quantities per SKU, with repeated SKUs added together."""
    lines: dict[str, int] = {}
    for item in items:
        lines[item.sku] = lines.get(item.sku, 0) + item.quantity
    return lines
