"""serve's garbage-collector policy (app._freeze): calendars frozen, cycles still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from scaler import app


class Node:
    def __init__(self) -> None:
        self.other: Node = self


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test run collects as usual


def test_what_is_alive_at_a_swap_is_left_out_of_later_collections() -> None:
    gc.unfreeze()
    calendar = [list(range(3)) for _ in range(1000)]  # tracked objects, alive at the swap
    app._freeze(None)
    assert gc.get_freeze_count() >= len(calendar)
    assert all(gc.is_tracked(part) for part in calendar)


def test_a_frozen_cycle_dropped_later_is_collected_within_a_full_round_of_swaps() -> None:
    gc.unfreeze()
    cycle = Node()
    alive = weakref.ref(cycle)
    app._freeze(None)  # frozen while alive
    del cycle
    collected_at = None
    for swap in range(1, app._FULL_COLLECTION_EVERY + 1):
        app._freeze(None)
        if alive() is None:
            collected_at = swap
            break
    assert collected_at is not None, "a frozen cycle was never collected"
