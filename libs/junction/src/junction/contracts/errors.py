"""Refusals that one service raises and another passes on: their codes and details are part
of the contract (the storefront shows which SKUs are short)."""

from __future__ import annotations

from junction.errors import Conflict, Invalid


class OutOfStock(Conflict):
    code = "out_of_stock"

    def __init__(self, skus: list[str]) -> None:
        super().__init__("not enough stock for " + ", ".join(skus), skus=skus)
        self.skus = skus


class UnknownSkus(Invalid):
    code = "unknown_sku"

    def __init__(self, skus: list[str]) -> None:
        super().__init__(f"unknown SKUs: {', '.join(skus)}", skus=skus)
        self.skus = skus


class ReservationClosed(Conflict):
    code = "reservation_closed"

    def __init__(self, status: str) -> None:
        super().__init__(f"the reservation for this order is {status}; start a new checkout")
