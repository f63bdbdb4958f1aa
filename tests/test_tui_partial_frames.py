"""The frames a terminal is sent, applied one after another, leave on it what a full
frame would draw: the partial frames of the main screen (which render only the widgets
a change touched, see ``nvmescope/ui/compositor.py``) lose no cell."""

from __future__ import annotations

from typing import Any

import pytest
import textual
from rich.cells import get_character_cell_size
from rich.segment import ControlType, Segment
from textual._compositor import ChopsUpdate, LayoutUpdate
from tui import NARROW, RECORDINGS, WIDE, press, recorded_app

from nvmescope.ui.compositor import TEXTUAL_VERSION, ChangedOnlyCompositor

Cell = tuple[str, Any]


class Terminal:
    """Cells written by the updates Textual sends (text and style)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.cells: list[list[Cell]] = [[(" ", None)] * width for _ in range(height)]
        self.partial = 0

    def apply(self, update: Any, console: Any) -> None:
        if isinstance(update, ChopsUpdate):
            self.partial += 1
        x = y = 0
        for segment in update.__rich_console__(console, console.options):
            if segment.control:
                for code in segment.control:
                    if code[0] == ControlType.CURSOR_MOVE_TO:
                        x, y = code[1], code[2]
                continue
            if segment.text == "\n":
                continue
            for char in segment.text:
                if 0 <= y < self.height and 0 <= x < self.width:
                    self.cells[y][x] = (char, segment.style)
                x += get_character_cell_size(char)

    def load(self, strips: list[Any]) -> None:
        for y, strip in enumerate(strips[: self.height]):
            x = 0
            for segment in strip:
                for char in Segment(segment.text).text:
                    if x < self.width:
                        self.cells[y][x] = (char, segment.style)
                    x += get_character_cell_size(char)

    def lines(self) -> list[str]:
        return ["".join(c for c, _ in row) for row in self.cells]


def full_frame(app: Any, width: int, height: int) -> Terminal:
    frame = Terminal(width, height)
    frame.load(app.screen._compositor.render_strips())
    return frame


def test_the_overrides_were_checked_against_the_pinned_textual() -> None:
    assert textual.__version__ == TEXTUAL_VERSION


@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["160x50", "80x24"])
async def test_partial_frames_after_steps_leave_the_screen_a_full_frame_draws(
    size: tuple[int, int],
) -> None:
    async with recorded_app(RECORDINGS / "io.nvmetrace", size=size) as (app, pilot):
        assert isinstance(app.screen._compositor, ChangedOnlyCompositor)
        terminal = Terminal(*size)
        terminal.load(app.screen._compositor.render_strips())
        display = app._display

        def capture(screen: Any, renderable: Any) -> None:
            if isinstance(renderable, (ChopsUpdate, LayoutUpdate)):
                terminal.apply(renderable, app.console)
            display(screen, renderable)

        app._display = capture
        # steps through a command's whole story, back again, a jump, panels switched
        keys = ["s"] * 40 + ["S"] * 25 + ["G", "S", "S", "g", "s"] + ["2", "s", "3", "s", "1"]
        for key in keys:
            await press(pilot, key)
            full = full_frame(app, *size)
            assert terminal.lines() == full.lines(), f"after {key!r} at event {app.cursor}"
            assert terminal.cells == full.cells, f"styles differ after {key!r}"
        assert terminal.partial > 20  # the steps were drawn as partial frames
