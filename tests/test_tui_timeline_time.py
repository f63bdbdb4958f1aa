"""The timeline's time column keeps its width however long the run: microseconds while
they fit, then milliseconds, then seconds (a command's 60 s timeout runs past what
microseconds with three decimals fit in the column)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nvmescope.ui.widgets._timeline import columns, time_text

WIDTHS = sorted({columns(w, 3)[1] for w in (80, 120, 160, 200)} - {0})


@given(st.integers(0, 1 << 63), st.sampled_from(WIDTHS))
def test_the_time_always_takes_exactly_its_column(ts_ns: int, width: int) -> None:
    assert len(time_text(ts_ns, width)) == width


def test_the_unit_grows_with_the_time_and_says_which_it_is() -> None:
    width = max(WIDTHS)
    assert time_text(1_060_250, width).strip() == "1060.250us"
    assert time_text(60_001_060_250, width).strip() == "60001.060ms"
    assert time_text(1_000_000_000_000, width).strip() == "1000.000s"
    assert time_text(86_400_000_000_000_000, width).strip() == "86400000s"
