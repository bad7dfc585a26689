"""The collector settings a node takes once it serves: start-up objects frozen out of
full collections, young collections rarer, and cyclic garbage still collected."""

from __future__ import annotations

import gc
import weakref

import pytest

from proto.collector import YOUNG_THRESHOLD, settle_after_start


@pytest.fixture
def restored_collector():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    _, middle, old = gc.get_threshold()
    settle_after_start()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)


@pytest.mark.usefixtures("restored_collector")
def test_reference_cycles_made_after_start_are_still_collected() -> None:
    settle_after_start()

    class Node:
        other: object = None

    first, second = Node(), Node()
    first.other, second.other = second, first
    gone = weakref.ref(first)
    del first, second
    kept = [[] for _ in range(2 * YOUNG_THRESHOLD)]  # allocations alone start a collection
    assert gone() is None
    del kept
