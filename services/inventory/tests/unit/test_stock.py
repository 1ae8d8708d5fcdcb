import pytest

from inventory.domain import StockItem

pytestmark = pytest.mark.unit


def item(units: int = 5) -> StockItem:
    return StockItem(sku="A", name="a", price_cents=1, initial=units, on_hand=units)


def test_conservation_holds_through_hold_commit_release_restock() -> None:
    s = item(10)
    s.hold("o1", 3)
    s.hold("o2", 4)
    s.commit("o1")
    s.release("o2")
    s.restock(5)
    assert s.on_hand == s.initial - s.committed_units + s.restocked == 12
    assert s.available == s.on_hand - s.reserved == 12


def test_holding_more_than_available_is_refused() -> None:
    s = item(2)
    s.hold("o1", 2)
    assert not s.can_hold("o2", 1)
    with pytest.raises(ValueError, match="1 wanted, 0 available"):
        s.hold("o2", 1)


def test_commit_of_an_unknown_hold_changes_nothing() -> None:
    s = item(2)
    assert s.commit("nobody") == 0
    assert s.on_hand == 2 and s.committed_units == 0
