"""Auto-play: the cursor moves forwards on its own, one event per beat, and pauses at a
breakpoint, at a lesson step's event, at the end, and when the user steps or presses
p or Esc; + and - change the beat within its declared range."""

from __future__ import annotations

import time
from typing import Any

from test_tui_lesson import lesson_app
from tui import RECORDINGS, WIDE, press, recorded_app

from nvmescope.ui.actions import PLAY_BEAT, PLAY_BEATS
from nvmescope.ui.marks import Marks

FAST = PLAY_BEATS[-1]


async def until_paused(pilot: Any, limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    while pilot.app.playing and time.monotonic() < deadline:
        await pilot.pause(0.05)
    assert not pilot.app.playing, "auto-play never paused"
    await press(pilot)


def status(app: Any) -> str:
    return app.status_text().plain


async def test_auto_play_moves_on_its_own_and_stops_at_a_breakpoint() -> None:
    marks = Marks()
    marks.add_breakpoint('kind == "irq_msix"')
    path = RECORDINGS / "identify.nvmetrace"
    async with recorded_app(path, size=WIDE, at=370, marks=marks) as (app, pilot):
        # the slowest beat first, so it is still playing when looked at (at the fastest a
        # loaded machine may reach the breakpoint before the key press has settled); then
        # + up to the fastest
        app.play_beat = PLAY_BEATS[0]
        await press(pilot, "p")
        assert app.playing and "auto-play" in status(app)
        await press(pilot, *["plus"] * (len(PLAY_BEATS) - 1))
        await until_paused(pilot)
        # the first MSI-X message after event 370, and every event before it shown on the way
        assert app.source.event(app.cursor).kind == "irq_msix"
        assert all(app.source.event(n).kind != "irq_msix" for n in range(370, app.cursor))
        assert "auto-play" not in status(app)


async def test_auto_play_stops_at_the_end_and_a_step_key_pauses_it() -> None:
    path = RECORDINGS / "identify.nvmetrace"
    async with recorded_app(path, size=WIDE, at=390) as (app, pilot):
        app.play_beat = FAST
        await press(pilot, "p")
        await until_paused(pilot)
        assert app.cursor == len(app.source) - 1
        app.goto(10)
        app.play_beat = 4.0
        await press(pilot, "p")
        assert app.playing
        await press(pilot, "S")
        assert not app.playing and app.cursor == 9
        await press(pilot, "p", "escape")
        assert not app.playing and app.cursor == 9


async def test_auto_play_in_a_lesson_pauses_at_the_next_steps_event() -> None:
    async with lesson_app() as (app, pilot, run):
        app.play_beat = FAST
        await press(pilot, "p")
        await until_paused(pilot)
        assert run.current == 1 and app.cursor == run.stops[1]
        assert app.main.panels[run.step.panel].has_class("-lesson")


async def test_the_beat_stays_in_its_range() -> None:
    async with recorded_app(size=WIDE) as (app, pilot):
        assert app.play_beat == PLAY_BEAT
        await press(pilot, *["plus"] * (len(PLAY_BEATS) + 2))
        assert app.play_beat == PLAY_BEATS[-1]
        await press(pilot, *["minus"] * (len(PLAY_BEATS) + 2))
        assert app.play_beat == PLAY_BEATS[0]
        await press(pilot, "p", "plus")
        assert app.playing and app.play_beat == PLAY_BEATS[1]
        await press(pilot, "p")
        assert not app.playing
