"""The timeline's filter (``/``) and text search (``?``), computed in workers."""

from __future__ import annotations

from tui import RECORDINGS, live_app, press, recorded_app, settle

from nvmescope.events import describe
from nvmescope.trace import open_recording
from nvmescope.trace.filter import compile_filter

IDENTIFY = RECORDINGS / "identify.nvmetrace"


def _matches(expr):
    test = compile_filter(expr)
    with open_recording(IDENTIFY) as rec:
        return [i for i, e in enumerate(rec.events()) if test(e)]


async def _filter(pilot, expr):
    await press(pilot, "slash")
    await pilot.press(*expr)
    await press(pilot, "enter")


async def test_a_filter_shows_exactly_the_events_it_matches():
    expr = 'kind == "cqe_post" or kind matches "^irq"'
    want = _matches(expr)
    async with recorded_app(IDENTIFY) as (app, pilot):
        await _filter(pilot, expr)
        assert list(app.timeline.rows) == want
        assert app.timeline.row_count == len(want)
        assert f"filter {len(want)} shown" in str(app.status_text())


async def test_steps_move_among_the_filtered_rows_both_ways():
    want = _matches('kind == "doorbell_sq"')
    async with recorded_app(IDENTIFY) as (app, pilot):
        await _filter(pilot, 'kind == "doorbell_sq"')
        await press(pilot, "g")
        assert app.cursor == want[0]
        await press(pilot, "s", "s")
        assert app.cursor == want[2]
        await press(pilot, "S")
        assert app.cursor == want[1]
        await press(pilot, "G")
        assert app.cursor == want[-1]


async def test_the_cursor_on_a_hidden_event_is_said_and_the_next_step_lands_on_a_row():
    want = _matches('kind == "doorbell_sq"')
    async with recorded_app(IDENTIFY, at=want[0] + 1) as (app, pilot):
        await _filter(pilot, 'kind == "doorbell_sq"')
        assert app.cursor == want[0] + 1
        assert "hidden by the filter" in str(app.status_text())
        await press(pilot, "s")
        assert app.cursor == want[1]


async def test_an_empty_filter_or_escape_shows_every_event_again():
    async with recorded_app(IDENTIFY) as (app, pilot):
        await _filter(pilot, "cqe_post")
        assert app.timeline.rows is not None
        await press(pilot, "escape")
        assert app.timeline.rows is None and app.filter_text == ""
        await _filter(pilot, "cqe_post")
        await press(pilot, "slash")
        app.screen.query_one("#prompt-input").value = ""
        await press(pilot, "enter")
        assert app.timeline.rows is None


async def test_a_filter_that_does_not_parse_is_refused_at_the_input_with_a_caret():
    async with recorded_app(IDENTIFY) as (app, pilot):
        await _filter(pilot, "status >")
        assert app.screen.id == "filter-prompt"
        error = str(app.screen.query_one("#prompt-error").render())
        assert "column" in error and "^" in error
        await press(pilot, "escape")
        assert app.timeline.rows is None


async def test_a_filter_keeps_up_with_a_live_session():
    async with live_app("identify") as (app, pilot):
        await _filter(pilot, 'kind == "cqe_post"')
        assert list(app.timeline.rows) == []
        await press(pilot, "c")
        assert app.source.finished
        assert list(app.timeline.rows) == _matches('kind == "cqe_post"')


async def test_search_finds_text_forwards_and_again_both_ways():
    with open_recording(IDENTIFY) as rec:
        want = [i for i, e in enumerate(rec.events()) if "phase tag" in describe(e).lower()]
    assert len(want) >= 3
    async with recorded_app(IDENTIFY) as (app, pilot):
        await press(pilot, "question_mark")
        await pilot.press(*"Phase Tag")
        await press(pilot, "enter")
        assert app.cursor == want[0]
        await press(pilot, "ctrl+n", "ctrl+n")
        assert app.cursor == want[2]
        await press(pilot, "ctrl+b")
        assert app.cursor == want[1]


async def test_finding_nothing_the_filter_shows_says_the_filter_is_why():
    async with recorded_app(IDENTIFY) as (app, pilot):
        await _filter(pilot, 'kind == "doorbell_sq"')
        await press(pilot, "g")
        start = app.cursor
        await press(pilot, "n")  # the next completion: hidden by the filter
        await settle(pilot)
        assert app.cursor == start
        assert any(
            f"no completion the filter shows after event {start}" in n.message
            for n in app._notifications
        ), [n.message for n in app._notifications]


async def test_search_for_text_nowhere_leaves_the_cursor_and_says_so():
    async with recorded_app(IDENTIFY, at=7) as (app, pilot):
        await press(pilot, "question_mark")
        await pilot.press(*"no such words anywhere")
        await press(pilot, "enter")
        assert app.cursor == 7
        assert any("no match" in n.message for n in app._notifications)


async def test_the_timeline_frame_names_the_events_on_screen_by_their_numbers():
    """The frame says which events the rows show, counted from 0 as the rows and the status
    bar count them (not lines from 1), and with a filter on, how many it shows."""
    with open_recording(IDENTIFY) as rec:
        total = len(rec)
    async with recorded_app(IDENTIFY, at=total - 1) as (app, pilot):
        panel = app.query_one("#timeline")
        height = app.timeline.scrollable_content_region.height
        assert panel.border_subtitle == f"events {total - height}-{total - 1} of {total}"
        expr = 'kind == "host_step"'
        want = _matches(expr)
        await _filter(pilot, expr)
        await press(pilot, "G")
        assert panel.border_subtitle == (
            f"events {want[len(want) - height]}-{want[-1]}, {len(want)} shown"
        )
