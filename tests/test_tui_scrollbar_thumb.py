"""A scroll that leaves the scrollbar's thumb where it was (a million rows scrolled by a
few) does not draw the bar again: ``_thumb`` must say "the same" only when Textual's own
renderer draws the same bar."""

from __future__ import annotations

from math import ceil
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.color import Color
from textual.geometry import Size
from textual.scrollbar import ScrollBar, ScrollBarRender

from nvmescope.ui.widgets._rowview import _thumb


def _bar(height: int, virtual: int, window: int) -> SimpleNamespace:
    return SimpleNamespace(
        size=Size(1, height),
        window_virtual_size=virtual,
        window_size=window,
        validate_position=lambda p: ScrollBar.validate_position(None, p),  # type: ignore[arg-type]
    )


def _drawn(bar: SimpleNamespace, position: float) -> list:
    window = bar.window_size if bar.window_size < bar.window_virtual_size else 0
    drawn = ScrollBarRender.render_bar(
        size=bar.size.height,
        virtual_size=ceil(bar.window_virtual_size),
        window_size=ceil(window),
        position=bar.validate_position(position),
        back_color=Color.parse("#555555"),
        bar_color=Color.parse("#ff00ff"),
    )
    return list(drawn.segments)


@settings(max_examples=400, deadline=None)
@given(
    height=st.integers(1, 60),
    virtual=st.integers(1, 2_000_000),
    window=st.integers(1, 60),
    a=st.floats(0, 1, allow_nan=False),
    step=st.one_of(st.integers(-40, 40), st.floats(-3, 3, allow_nan=False)),
)
def test_the_same_thumb_means_the_same_bar(height, virtual, window, a, step):
    # positions near each other: the case where the thumb may or may not move
    bar = _bar(height, virtual, window)
    limit = max(0, virtual - window)
    a = a * limit
    b = min(max(0, a + step), limit)
    if _thumb(bar, a) == _thumb(bar, b):  # type: ignore[arg-type]
        assert _drawn(bar, a) == _drawn(bar, b)


def test_a_million_rows_scrolled_by_sixteen_keep_the_thumb_and_a_page_moves_it():
    bar = _bar(24, 1_000_000, 24)
    assert _thumb(bar, 500_000) == _thumb(bar, 500_016)  # type: ignore[arg-type]
    assert _thumb(bar, 500_000) != _thumb(bar, 600_000)  # type: ignore[arg-type]
