"""Stepping leaves nothing it drew for the cycle collector.

A line drawn on a step is freed by its reference count when it is no longer shown.
Were it caught in a reference cycle (Textual's ``Strip.divide`` caches ``[self]`` when
a strip is not cut, and Textual's ``LRUCache`` keeps its entries on a ring), the
strips of every step would pile up until a collection of the older generations, which
then stops the app for 100 ms and more to free them.
"""

from __future__ import annotations

import gc
from collections import Counter

import pytest
from textual.strip import Strip
from tui import NARROW, RECORDINGS, WIDE, press, recorded_app

from nvmescope.ui.widgets._lru import LruCache


@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["160x50", "80x24"])
async def test_steps_leave_no_strip_for_the_cycle_collector(size: tuple[int, int]) -> None:
    async with recorded_app(RECORDINGS / "io.nvmetrace", size=size, at=40) as (app, pilot):
        await press(pilot, "s", "S")
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            await press(pilot, *"s" * 30, *"S" * 10)
            gc.collect()
            kinds = Counter(type(o).__qualname__ for o in gc.garbage)
            strips = [o for o in gc.garbage if isinstance(o, Strip)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        assert app.cursor == 60
        assert strips == [], f"{len(strips)} strips freed by the collector: {kinds.most_common(5)}"


def test_lru_cache_keeps_the_newest_and_frees_what_it_drops() -> None:
    cache: LruCache[int, str] = LruCache(2)
    cache[1] = "one"
    cache[2] = "two"
    assert cache.get(1) == "one"  # 1 is now the newest
    cache[3] = "three"
    assert (cache.get(1), cache.get(2), cache.get(3)) == ("one", None, "three")
    assert len(cache) == 2 and 3 in cache and 2 not in cache
    cache.clear()
    assert len(cache) == 0 and cache.get(1) is None
    with pytest.raises(ValueError):
        LruCache(0)
