"""Moving the one cursor: every step key in both directions, history, go to, live runs."""

from __future__ import annotations

import pytest
from textual import events
from tui import NARROW, RECORDINGS, live_app, press, recorded_app, screen_lines

from nvmescope.trace import open_recording

IDENTIFY = RECORDINGS / "identify.nvmetrace"


def _kinds():
    with open_recording(IDENTIFY) as rec:
        return [e.kind for e in rec.events()]


KINDS = _kinds()
CQES = [i for i, k in enumerate(KINDS) if k == "cqe_post"]


async def test_a_live_session_opens_paused_at_event_0_with_only_that_event():
    async with live_app("identify") as (app, pilot):
        assert app.cursor == 0
        assert len(app.source) == 1
        assert app.moment.event.kind == "host_step"
        assert "live paused" in screen_lines(app)[-2]
        assert "recording" not in screen_lines(app)[-2]


async def test_the_status_bar_says_a_recording_is_one_even_at_80x24():
    async with recorded_app(IDENTIFY, at=10, size=NARROW) as (app, pilot):
        status = screen_lines(app)[-2]
        assert "│ recording" in status and "live" not in status


async def test_s_and_shift_s_step_one_event_each_way_in_a_recording():
    async with recorded_app(IDENTIFY, at=10) as (app, pilot):
        await press(pilot, "s")
        assert app.cursor == 11
        await press(pilot, "s", "s")
        assert app.cursor == 13
        await press(pilot, "S")
        assert app.cursor == 12
        await press(pilot, "S", "S", "S")
        assert app.cursor == 9
        assert app.moment.state.index == 9


async def test_stepping_past_the_end_of_a_live_session_runs_one_more_event():
    async with live_app("identify") as (app, pilot):
        await press(pilot, "s", "s", "s")
        assert app.cursor == 3 and len(app.source) == 4
        await press(pilot, "S", "S")
        assert app.cursor == 1 and len(app.source) == 4  # back in time: nothing runs
        await press(pilot, "s")
        assert app.cursor == 2 and len(app.source) == 4  # replayed, not re-run
        await press(pilot, "s", "s")
        assert app.cursor == 4 and len(app.source) == 5


async def test_step_back_at_event_0_and_forward_at_the_end_stay_put():
    async with recorded_app(IDENTIFY) as (app, pilot):
        await press(pilot, "S")
        assert app.cursor == 0
        await press(pilot, "G", "s")
        assert app.cursor == len(KINDS) - 1


async def test_n_and_shift_n_go_to_the_next_and_previous_completion():
    async with recorded_app(IDENTIFY) as (app, pilot):
        await press(pilot, "n")
        assert app.cursor == CQES[0]
        await press(pilot, "n", "n")
        assert app.cursor == CQES[2]
        await press(pilot, "N")
        assert app.cursor == CQES[1]
        await press(pilot, "G", "N")
        assert app.cursor == CQES[-1]


async def test_g_and_shift_g_go_to_the_first_and_last_event():
    async with recorded_app(IDENTIFY, at=100) as (app, pilot):
        await press(pilot, "G")
        assert app.cursor == len(KINDS) - 1
        await press(pilot, "g")
        assert app.cursor == 0


async def test_the_brackets_walk_the_history_of_jumps_back_and_forth():
    async with recorded_app(IDENTIFY) as (app, pilot):
        await press(pilot, "n")  # 0 -> first completion
        first = app.cursor
        await press(pilot, "G")  # -> last
        await press(pilot, "left_square_bracket")
        assert app.cursor == first
        await press(pilot, "left_square_bracket")
        assert app.cursor == 0
        await press(pilot, "right_square_bracket")
        assert app.cursor == first
        await press(pilot, "right_square_bracket")
        assert app.cursor == len(KINDS) - 1


async def test_history_back_after_steps_returns_to_where_the_steps_ended():
    async with recorded_app(IDENTIFY) as (app, pilot):
        await press(pilot, "n")
        await press(pilot, "s", "s")
        here = app.cursor
        await press(pilot, "G", "left_square_bracket")
        assert app.cursor == here


async def _goto(pilot, text):
    await press(pilot, "colon")
    await pilot.press(*text)
    await press(pilot, "enter")


async def test_colon_goes_to_an_event_number_a_relative_one_and_a_virtual_time():
    async with recorded_app(IDENTIFY) as (app, pilot):
        await _goto(pilot, "250")
        assert app.cursor == 250
        await _goto(pilot, "+10")
        assert app.cursor == 260
        await _goto(pilot, "-20")
        assert app.cursor == 240
        ts = app.source.event(300).ts
        await _goto(pilot, f"{ts / 1000:.3f}us")
        assert app.source.event(app.cursor).ts == ts
        assert app.source.event(app.cursor - 1).ts < ts
        await _goto(pilot, f"{ts}ns")
        assert app.source.event(app.cursor).ts == ts


async def test_colon_to_a_time_after_a_recordings_last_event_is_out_of_range():
    async with recorded_app(IDENTIFY) as (app, pilot):
        await _goto(pilot, "250")
        last = len(app.source) - 1
        end = app.source.event(last).ts
        await _goto(pilot, f"{end}ns")  # the last event's own time: there
        assert app.cursor == last
        await _goto(pilot, "250")
        await _goto(pilot, f"{end + 1}ns")
        assert app.screen.id == "goto-prompt" and app.cursor == 250
        said = str(app.screen.query_one("#prompt-error").render())
        assert f"after the last event (event {last}, at {end / 1000:.3f} us)" in said


def _typed_at_once(app, *keys: tuple[str, str | None]) -> None:
    """Keys as a fast typist (or tmux send-keys) gives them: all queued before the
    first is handled, so the later ones are on their way when the first opens a prompt."""
    for key, character in keys:
        app.post_message(events.Key(key, character))


@pytest.mark.parametrize(
    ("keys", "cursor", "screen"),
    [
        ([("colon", ":"), ("3", "3"), ("0", "0"), ("0", "0"), ("enter", "\r")], 300, "main"),
        # a slip corrected before Enter, then the prompt still open
        (
            [("colon", ":"), ("4", "4"), ("x", "x"), ("backspace", None), ("2", "2")],
            5,
            "goto-prompt",
        ),
        ([("colon", ":"), ("9", "9"), ("escape", None)], 5, "main"),
    ],
    ids=["number-enter", "backspace", "escape"],
)
async def test_keys_typed_at_once_after_colon_go_into_the_prompt(keys, cursor, screen):
    async with recorded_app(IDENTIFY, at=5) as (app, pilot):
        _typed_at_once(app, *keys)
        await pilot.pause(0.3)
        await pilot.pause()
        assert app.cursor == cursor
        assert (app.screen.id or "main") == screen
        if screen == "goto-prompt":
            assert app.screen.query_one("#prompt-input").value == "42"


async def test_a_filter_typed_at_once_after_slash_is_the_filter():
    async with recorded_app(IDENTIFY) as (app, pilot):
        text = 'kind == "cqe_post"'
        _typed_at_once(app, ("slash", "/"), *[(c, c) for c in text], ("enter", "\r"))
        await pilot.pause(0.3)
        for _ in range(50):
            if app.filter_text == text:
                break
            await pilot.pause(0.05)
        assert app.filter_text == text


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("99999", "out of range"),
        ("-99999", "out of range"),
        ("abc", "is not an event number"),
        ("1" * 60, "too long"),
        ("١٢", "is not an event number"),  # Arabic-Indic digits are not numbers here
    ],
)
async def test_colon_refuses_what_is_not_a_position_at_the_input(text, words):
    async with recorded_app(IDENTIFY, at=5) as (app, pilot):
        await _goto(pilot, text)
        assert app.screen.id == "goto-prompt"
        assert words in str(app.screen.query_one("#prompt-error").render())
        await press(pilot, "escape")
        assert app.cursor == 5


async def test_c_with_no_breakpoint_runs_a_live_session_to_its_end():
    async with live_app("identify") as (app, pilot):
        await press(pilot, "c")
        assert app.source.finished
        assert app.cursor == len(app.source) - 1 == len(KINDS) - 1


async def test_n_in_a_live_session_runs_it_on_to_the_next_completion():
    # paused at event 0, the first completion is still to come: n runs the session to it
    async with live_app("identify") as (app, pilot):
        assert len(app.source) == 1
        await press(pilot, "n")
        for _ in range(100):
            if not app.running:
                break
            await pilot.pause(0.05)
        first = next(i for i, kind in enumerate(KINDS) if kind == "cqe_post")
        assert app.cursor == first and app.source.event(first).kind == "cqe_post"
        assert not app.source.finished


async def test_a_key_pauses_a_long_live_run_at_once():
    async with live_app("io-load", params={"count": 100000}) as (app, pilot):
        await pilot.press("c")
        await pilot.pause(0.3)
        assert app.running
        await pilot.press("x")
        await pilot.pause()
        assert not app.running
        stopped = len(app.source)
        await pilot.pause(0.2)
        assert len(app.source) == stopped
        assert not app.source.finished
        assert app.cursor == stopped - 1
        # and it goes on where it stopped
        await press(pilot, "s")
        assert len(app.source) == stopped + 1


async def test_the_narrow_layout_shows_one_panel_and_the_number_keys_switch_it():
    async with recorded_app(IDENTIFY, size=NARROW, at=20) as (app, pilot):
        screen = app.main
        assert not screen.wide
        assert screen.visible_panels() == {"timeline"}
        await press(pilot, "2")
        assert screen.visible_panels() == {"registers"}
        assert app.main.panels["registers"].display
        assert not app.main.panels["timeline"].display
        await press(pilot, "1", "s")
        assert app.cursor == 21


async def test_the_wide_layout_shows_timeline_registers_queues_and_detail_together():
    async with recorded_app(IDENTIFY) as (app, pilot):
        assert app.main.wide
        assert {"timeline", "registers", "queues", "detail"} <= app.main.visible_panels()
        await press(pilot, "7")
        assert {"timeline", "registers", "commands", "detail"} <= app.main.visible_panels()
        await press(pilot, "3")
        assert "queues" in app.main.visible_panels()


async def test_the_rows_a_step_scrolls_into_view_were_drawn_before_that_step():
    # the rows below and above the view are drawn after each frame, while the app
    # waits: the step that scrolls the timeline then draws only the cursor's rows
    async with recorded_app(RECORDINGS / "io.nvmetrace") as (app, pilot):
        timeline = app.timeline
        drawn: list[int] = []
        render_row, prerender = timeline.render_row, timeline.prerender

        def counting(row: int, width: int, selected: bool):
            drawn.append(row)
            return render_row(row, width, selected)

        def marked(first: int, stop: int) -> None:
            drawn.append(-1)  # what is drawn from here on is drawn after the frame
            prerender(first, stop)

        timeline.render_row = counting  # type: ignore[method-assign]
        timeline.prerender = marked  # type: ignore[method-assign]
        height = timeline.scrollable_content_region.height
        scrolls = 0
        for _ in range(3 * height):
            top = timeline.scroll_offset.y
            drawn.clear()
            await press(pilot, "s")
            if timeline.scroll_offset.y != top:
                scrolls += 1
                in_frame = drawn[: drawn.index(-1)] if -1 in drawn else drawn
                assert len(set(in_frame)) <= 2, in_frame
        assert scrolls >= 2


async def _run_done(app, pilot) -> None:
    for _ in range(200):
        if not app.running:
            return
        await pilot.pause(0.05)


async def test_colon_beyond_a_live_session_runs_it_on_to_that_event():
    # paused at event 0, event 380 is still to come: go to runs the session there, and
    # stops on it (not at the end), even when the timeline's filter hides it
    async with live_app("identify") as (app, pilot):
        app.filter_text = 'kind == "cqe_post"'
        app.filter_predicate = lambda e: e.kind == "cqe_post"
        await _goto(pilot, "380")
        await _run_done(app, pilot)
        assert app.cursor == 380 and app.source.event(380).seq == 380
        assert app.source.event(380).kind == KINDS[380]
        assert not app.source.finished
        await _goto(pilot, "+5")
        await _run_done(app, pilot)
        assert app.cursor == 385


async def test_colon_to_a_time_beyond_a_live_session_runs_it_on_to_that_time():
    with open_recording(IDENTIFY) as rec:
        events = list(rec.events())
    target = events[300].ts
    first = next(i for i, e in enumerate(events) if e.ts >= target)
    async with live_app("identify") as (app, pilot):
        await _goto(pilot, f"{target}ns")
        await _run_done(app, pilot)
        assert app.cursor == first
        assert "the first event at" in " ".join(str(n.message) for n in app._notifications)


async def test_colon_beyond_the_end_of_a_finished_session_is_out_of_range():
    async with live_app("identify", to_end=True) as (app, pilot):
        last = len(app.source) - 1
        await _goto(pilot, str(last + 10))
        assert app.screen.id == "goto-prompt"
        assert "out of range" in str(app.screen.query_one("#prompt-error").render())


async def test_f1_shows_every_key_and_f1_or_escape_hides_them():
    from textual.widgets import HelpPanel

    async with recorded_app(IDENTIFY, at=10) as (app, pilot):
        await press(pilot, "f1")
        assert len(app.screen.query(HelpPanel)) == 1
        await press(pilot, "f1")
        assert not app.screen.query(HelpPanel)
        await press(pilot, "f1", "escape")
        assert not app.screen.query(HelpPanel)
        assert app.cursor == 10
