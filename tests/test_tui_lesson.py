"""A lesson in the TUI: each step puts the cursor on its event, frames its panel and says
its words; the student steps freely inside a step, comes back, leaves and rejoins; every
shipped lesson runs to its end at 160x50 and at 80x24."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from tui import NARROW, WIDE, press

from nvmescope.host import SCENARIOS
from nvmescope.trace.lesson import load_lesson, shipped_lessons
from nvmescope.ui import NvmeScopeApp
from nvmescope.ui.marks import Marks
from nvmescope.ui.source import lesson_source
from nvmescope.ui.widgets import LessonBar, LessonRun
from nvmescope.ui.widgets._textlines import TextLines


@asynccontextmanager
async def lesson_app(
    name: str = "identify", size: tuple[int, int] = WIDE
) -> AsyncIterator[tuple[NvmeScopeApp, Any, LessonRun]]:
    lesson = load_lesson(name, SCENARIOS)
    source, stops = lesson_source(lesson)
    run = LessonRun(lesson, stops)
    app = NvmeScopeApp(source, marks=Marks(), lesson=run)
    try:
        async with app.run_test(size=size) as pilot:
            await press(pilot)
            yield app, pilot, run
    finally:
        source.close()


def bar_text(app: NvmeScopeApp, part: str) -> str:
    bar = app.main.query_one(LessonBar)
    if part == "text":
        return str(bar.query_one("#lesson-text").render())
    return bar.query_one(f"#lesson-{part}", TextLines).content.plain  # type: ignore[union-attr]


def framed(app: NvmeScopeApp) -> list[str]:
    return [pid for pid, panel in app.main.panels.items() if panel.has_class("-lesson")]


def shows_step(app: NvmeScopeApp, run: LessonRun, number: int) -> None:
    step = run.lesson.steps[number - 1]
    assert run.current == number - 1
    assert app.cursor == run.stops[number - 1]
    assert framed(app) == [step.panel]
    assert app.main.active == step.panel
    assert step.panel in app.main.visible_panels()
    assert bar_text(app, "heading").startswith(f" Step {number} of {len(run.stops)}  {step.title}")
    assert bar_text(app, "text") == " ".join(step.text.split())
    assert bar_text(app, "where").startswith(f"at this step's event ({app.cursor})")


@pytest.mark.parametrize("name", tuple(shipped_lessons()))
@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["160x50", "80x24"])
async def test_every_shipped_lesson_runs_to_its_end(name: str, size: tuple[int, int]) -> None:
    async with lesson_app(name, size) as (app, pilot, run):
        assert app.main.query_one(LessonBar).display
        for number in range(1, len(run.stops) + 1):
            shows_step(app, run, number)
            await press(pilot, "greater_than_sign")
        # past the last step: it stays there and says so
        shows_step(app, run, len(run.stops))
        assert "last step" in bar_text(app, "where")
        # and all the way back
        for number in range(len(run.stops), 0, -1):
            shows_step(app, run, number)
            await press(pilot, "less_than_sign")
        shows_step(app, run, 1)


async def test_the_student_steps_inside_a_step_and_comes_back() -> None:
    async with lesson_app() as (app, pilot, run):
        await press(pilot, "greater_than_sign", "greater_than_sign")
        shows_step(app, run, 3)
        stop = run.stop
        await press(pilot, "s", "s")
        assert app.cursor == stop + 2
        assert bar_text(app, "where").startswith(
            f"at event {stop + 2}, 2 events after this step's event ({stop})"
        )
        await press(pilot, "S", "S", "S")
        assert bar_text(app, "where").startswith(f"at event {stop - 1}, 1 event before")
        await press(pilot, "l")
        shows_step(app, run, 3)
        # stepping on from a step the student wandered off: the next step, not two on
        await press(pilot, "s", "greater_than_sign")
        shows_step(app, run, 4)


async def test_leaving_the_lesson_hides_it_and_rejoining_comes_back_to_its_step() -> None:
    async with lesson_app(size=NARROW) as (app, pilot, run):
        await press(pilot, "greater_than_sign")
        shows_step(app, run, 2)
        await press(pilot, "L")
        bar = app.main.query_one(LessonBar)
        assert not bar.display and framed(app) == []
        await press(pilot, "g", "s", "s")
        assert app.cursor == 2 and run.current == 1
        await press(pilot, "L")
        assert bar.display
        shows_step(app, run, 2)
        # > after leaving comes back to the step left, too
        await press(pilot, "L", "greater_than_sign")
        shows_step(app, run, 2)


async def test_the_lesson_keys_do_nothing_and_hide_without_a_lesson() -> None:
    from tui import recorded_app

    async with recorded_app(size=WIDE) as (app, pilot):
        before = app.cursor
        await press(pilot, "greater_than_sign", "l", "L")
        assert app.cursor == before
        assert not app.main.query_one(LessonBar).display
        for action in ("lesson_step", "lesson_return", "lesson_toggle"):
            assert app.check_action(action, ()) is False


async def _lesson_step_four(pilot: Any) -> None:
    await press(pilot, *["greater_than_sign"] * 3)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _snapshot_app() -> NvmeScopeApp:
    lesson = load_lesson("identify", SCENARIOS)
    source, stops = lesson_source(lesson)
    return NvmeScopeApp(source, marks=Marks(), lesson=LessonRun(lesson, stops))


def test_snapshot_of_a_lesson_step_at_160x50(snap_compare: Any) -> None:
    assert snap_compare(_snapshot_app(), terminal_size=WIDE, run_before=_lesson_step_four)


def test_snapshot_of_a_lesson_step_at_80x24(snap_compare: Any) -> None:
    assert snap_compare(_snapshot_app(), terminal_size=NARROW, run_before=_lesson_step_four)


async def test_presentation_mode_shows_the_timeline_and_one_panel_in_projector_colours() -> None:
    from nvmescope.ui.app import PROJECTOR_THEME

    async with lesson_app() as (app, pilot, run):
        everything = app.main.visible_panels()
        assert len(everything) == 4
        await press(pilot, "P")
        assert app.theme == PROJECTOR_THEME.name
        assert app.main.visible_panels() == {"timeline", run.step.panel} == {"timeline"}
        await press(pilot, "greater_than_sign")  # the SQE: the detail pane
        assert app.main.visible_panels() == {"timeline", "detail"}
        shown = {pid for pid, panel in app.main.panels.items() if panel.display}
        assert shown == {"timeline", "detail"}
        await press(pilot, "greater_than_sign", "greater_than_sign")  # the doorbell: queues
        assert {pid for pid, p in app.main.panels.items() if p.display} == {"timeline", "queues"}
        await press(pilot, "P")
        assert app.theme == "textual-dark" and app.main.visible_panels() == everything


def _presenting_app() -> NvmeScopeApp:
    lesson = load_lesson("identify", SCENARIOS)
    source, stops = lesson_source(lesson)
    return NvmeScopeApp(source, marks=Marks(), lesson=LessonRun(lesson, stops), present=True)


def test_snapshot_of_presentation_mode_at_160x50(snap_compare: Any) -> None:
    assert snap_compare(_presenting_app(), terminal_size=WIDE, run_before=_lesson_step_four)
