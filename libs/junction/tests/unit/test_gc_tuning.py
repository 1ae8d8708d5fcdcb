"""A service tunes CPython's garbage collector once it is up (junction.service.tune_gc)."""

import gc
from collections.abc import Iterator

import pytest

from junction.config import ServiceSettings
from junction.service import tune_gc

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_start_up_heap_is_frozen_and_young_collections_are_rarer() -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    tune_gc(10_000)
    assert gc.get_threshold() == (10_000, 10, 10)
    assert gc.get_freeze_count() > 0


def test_zero_leaves_the_collector_as_it_is() -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    tune_gc(0)
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_the_default_and_its_variable() -> None:
    assert ServiceSettings().gc_young_threshold == 10_000
    assert ServiceSettings(gc_young_threshold=0).gc_young_threshold == 0
    with pytest.raises(ValueError, match="gc_young_threshold"):
        ServiceSettings(gc_young_threshold=-1)
