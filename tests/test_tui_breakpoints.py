"""Breakpoints and bookmarks: firing forwards and backwards, the lists, the sidecar file."""

from __future__ import annotations

import json

from tui import RECORDINGS, live_app, press, recorded_app

from nvmescope.trace import open_recording
from nvmescope.trace.filter import compile_filter
from nvmescope.ui.marks import Marks, load_marks, sidecar_path

IDENTIFY = RECORDINGS / "identify.nvmetrace"


def _matches(expr):
    test = compile_filter(expr)
    with open_recording(IDENTIFY) as rec:
        return [i for i, e in enumerate(rec.events()) if test(e)]


async def _type_breakpoint(pilot, expr):
    await press(pilot, "b")
    await pilot.press(*expr)
    await press(pilot, "enter")


async def test_a_breakpoint_fires_forwards_and_backwards_in_a_recording():
    hits = _matches('kind == "irq_msix"')
    async with recorded_app(IDENTIFY, marks=Marks()) as (app, pilot):
        await _type_breakpoint(pilot, 'kind == "irq_msix"')
        assert [b.expr for b in app.marks.breakpoints] == ['kind == "irq_msix"']
        await press(pilot, "c")
        assert app.cursor == hits[0]
        await press(pilot, "c", "c")
        assert app.cursor == hits[2]
        await press(pilot, "C")
        assert app.cursor == hits[1]
        await press(pilot, "G", "C")
        assert app.cursor == hits[-1]


async def test_a_breakpoint_stops_a_live_run_on_the_event_it_matches():
    async with live_app("identify") as (app, pilot):
        app.add_breakpoint('kind == "cqe_post"')
        await press(pilot, "c")
        assert app.source.event(app.cursor).kind == "cqe_post"
        first = app.cursor
        assert not app.source.finished
        assert len(app.source) == first + 1  # the run stopped right there
        await press(pilot, "c")
        assert app.source.event(app.cursor).kind == "cqe_post" and app.cursor > first
        await press(pilot, "C")
        assert app.cursor == first  # backwards over what was run


async def test_a_breakpoint_with_a_bad_expression_is_refused_at_the_input():
    async with recorded_app(IDENTIFY, marks=Marks()) as (app, pilot):
        await press(pilot, "b")
        await pilot.press(*"kind == cqe_pots")
        await press(pilot, "enter")
        assert app.screen.id == "breakpoint-prompt"
        error = str(app.screen.query_one("#prompt-error").render())
        assert "cqe_pots" in error and "did you mean" in error and "^" in error
        await press(pilot, "escape")
        assert app.marks.breakpoints == []


async def test_quick_breakpoints_come_from_the_current_event():
    async with recorded_app(IDENTIFY, marks=Marks()) as (app, pilot):
        doorbell = _matches('kind == "doorbell_sq"')[0]
        app.goto(doorbell)
        exprs = [expr for _, expr in app.quick_breakpoints()]
        assert 'kind == "doorbell_sq"' in exprs
        assert 'queue == "sq0"' in exprs
        await press(pilot, "b", "down", "enter")  # the first suggestion fills the input
        assert app.screen.query_one("#prompt-input").value == 'kind == "doorbell_sq"'
        await press(pilot, "enter")
        assert [b.expr for b in app.marks.breakpoints] == ['kind == "doorbell_sq"']


async def test_the_breakpoint_list_toggles_and_deletes():
    async with recorded_app(IDENTIFY, marks=Marks()) as (app, pilot):
        app.add_breakpoint('kind == "irq_msix"')
        app.add_breakpoint('kind == "cqe_post"')
        await press(pilot, "B")
        await press(pilot, "space")
        assert [b.enabled for b in app.marks.breakpoints] == [False, True]
        await press(pilot, "d")
        assert [b.expr for b in app.marks.breakpoints] == ['kind == "cqe_post"']
        await press(pilot, "escape")
        await press(pilot, "c")
        assert app.source.event(app.cursor).kind == "cqe_post"


async def test_bookmarks_and_breakpoints_are_kept_beside_the_recording_and_reopen(tmp_path):
    path = tmp_path / "identify.nvmetrace"
    path.write_bytes(IDENTIFY.read_bytes())
    async with recorded_app(path, sidecar=True) as (app, pilot):
        await press(pilot, "colon")
        await pilot.press(*"120")
        await press(pilot, "enter", "m")
        await pilot.press(*"the Identify doorbell")
        await press(pilot, "enter")
        app.add_breakpoint('kind == "dma_write"')
    side = sidecar_path(path)
    data = json.loads(side.read_text())
    assert data["bookmarks"] == [{"index": 120, "note": "the Identify doorbell"}]
    async with recorded_app(path, sidecar=True) as (app, pilot):
        assert [(m.index, m.note) for m in app.marks.bookmarks] == [(120, "the Identify doorbell")]
        assert [b.expr for b in app.marks.breakpoints] == ['kind == "dma_write"']
        assert 120 in app.timeline.bookmarks
        await press(pilot, "apostrophe", "enter")
        assert app.cursor == 120
        await press(pilot, "g", "c")
        assert app.source.event(app.cursor).kind == "dma_write"


async def test_the_bookmark_list_deletes_and_the_sidecar_follows(tmp_path):
    path = tmp_path / "identify.nvmetrace"
    path.write_bytes(IDENTIFY.read_bytes())
    async with recorded_app(path, sidecar=True) as (app, pilot):
        app.marks.set_bookmark(5, "five")
        app.marks.set_bookmark(9, "nine")
        await press(pilot, "apostrophe", "d", "escape")
    assert [m.index for m in load_marks(path, 400)[0].bookmarks] == [9]


def test_a_damaged_or_hostile_sidecar_is_reported_and_ignored(tmp_path):
    rec = tmp_path / "r.nvmetrace"
    side = sidecar_path(rec)
    side.write_bytes(b"\x00not json")
    marks, warnings = load_marks(rec, 100)
    assert marks.bookmarks == [] and "not a marks file" in warnings[0]
    side.write_bytes(b" " * (2 << 20))
    assert "larger than a marks file can be" in load_marks(rec, 100)[1][0]
    side.write_text(
        json.dumps(
            {
                "format": "nvmescope-marks",
                "bookmarks": [{"index": 5, "note": "ok"}, {"index": 10**12}, {"index": -1}],
                "breakpoints": [{"expr": "kind =="}, {"expr": "cqe_post"}],
            }
        )
    )
    marks, warnings = load_marks(rec, 100)
    assert [m.index for m in marks.bookmarks] == [5]
    assert [(b.expr, b.enabled) for b in marks.breakpoints] == [
        ("kind ==", False),
        ("cqe_post", True),
    ]
    assert any("2 bookmark(s) beyond" in w for w in warnings)
    assert any("disabled" in w for w in warnings)
    side.unlink()
    side.mkdir()
    assert "not a regular file" in load_marks(rec, 100)[1][0]


def test_an_unreadable_sidecar_is_kept_aside_not_overwritten_when_marks_are_saved(tmp_path):
    rec = tmp_path / "r.nvmetrace"
    side = sidecar_path(rec)
    damaged = b'{"format": "nvmescope-marks", "bookmarks": [{"index": "a"}]}'
    side.write_bytes(damaged)
    marks, warnings = load_marks(rec, 100)
    assert "not a marks file" in warnings[0]
    marks.set_bookmark(3, "new")
    said = marks.save(100)
    assert "kept as r.nvmetrace.marks.json.unreadable" in said and "\n" not in said
    assert (tmp_path / "r.nvmetrace.marks.json.unreadable").read_bytes() == damaged
    assert [m.index for m in load_marks(rec, 100)[0].bookmarks] == [3]
    marks.set_bookmark(4, "again")
    assert marks.save(100) == ""  # set aside once; the new file is ours to rewrite
    side.write_bytes(b"junk")  # damaged again: a second name, the first one kept
    marks, _ = load_marks(rec, 100)
    marks.set_bookmark(1, "x")
    assert "kept as r.nvmetrace.marks.json.unreadable.1" in marks.save(100)
    assert (tmp_path / "r.nvmetrace.marks.json.unreadable").read_bytes() == damaged


def test_marks_that_cannot_be_written_say_so_in_one_line(tmp_path):
    marks = Marks(path=tmp_path / "no-such-dir" / "x.marks.json")
    marks.set_bookmark(1, "x")
    error = marks.save(10)
    assert "cannot save bookmarks and breakpoints" in error and "\n" not in error


async def test_a_note_or_breakpoint_with_square_brackets_shows_as_typed_in_the_lists():
    from textual.widgets import OptionList

    async with recorded_app(IDENTIFY, marks=Marks()) as (app, pilot):
        app.marks.set_bookmark(5, "CQE [/b] here [x]")
        await press(pilot, "apostrophe")
        shown = str(app.screen.query_one(OptionList).get_option_at_index(0).prompt)
        assert "CQE [/b] here [x]" in shown
        await press(pilot, "escape")
        app.add_breakpoint('kind == "irq_msix"')
        await press(pilot, "B")
        shown = str(app.screen.query_one(OptionList).get_option_at_index(0).prompt)
        assert "[x]" in shown  # the enabled breakpoint's checkbox, not swallowed as markup
        await press(pilot, "escape")
        assert app.is_running


async def test_a_bookmarked_error_keeps_the_error_marks_colour():
    from nvmescope.ui.widgets._timeline import is_error

    errors = RECORDINGS / "errors.nvmetrace"
    with open_recording(errors) as rec:
        events = list(rec.events())
    bad = next(i for i, e in enumerate(events) if is_error(e))
    good = next(i for i, e in enumerate(events) if not is_error(e))
    async with recorded_app(errors, marks=Marks()) as (app, pilot):
        timeline = app.timeline
        timeline.set_bookmarks(frozenset({bad, good}))
        mark_of = {
            i: next(iter(timeline.render_row(timeline.row_of(i), 80, False))) for i in (bad, good)
        }
        assert mark_of[bad].text == mark_of[good].text == "*"
        assert mark_of[bad].style == timeline._style("mark")
        assert mark_of[good].style == timeline._style("bookmark")
        assert mark_of[bad].style != mark_of[good].style
