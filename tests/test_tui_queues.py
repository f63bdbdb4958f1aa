"""The Queues panel: each SQ and CQ as a ring of slots, as of the cursor.

The rings are checked against the State (head, tail, filled slots, each CQ slot's
phase tag read from the bytes in host memory), the phase flip on a CQ wrap,
a window over a 1024-entry queue, and the decoded entry of a selected slot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from rich.style import Style
from textual.app import App, ComposeResult
from tui import NARROW, WIDE, press, settle

from nvmescope.emulator import ControllerConfig
from nvmescope.nvme.commands import unpack_cqe, unpack_sqe
from nvmescope.nvme.decode import decode
from nvmescope.trace.state import Queue, State
from nvmescope.ui import LiveSource, NvmeScopeApp
from nvmescope.ui.app import STYLES
from nvmescope.ui.marks import Marks
from nvmescope.ui.widgets import QueuesPanel
from nvmescope.ui.widgets._queues import ELIDED, FREE, PENDING, Block, RingView

#: small I/O queues (CAP.MQES 7: 8 entries) and more commands than slots: the CQs wrap
SMALL = ControllerConfig(mqes=7)
PARAMS = {"queues": 2, "depth": 4, "count": 16}


def run_to_end(source: LiveSource) -> LiveSource:
    while not source.finished:
        source.step(2000)
    return source


@asynccontextmanager
async def live_app_on(
    source: LiveSource, *, at: int = 0, size: tuple[int, int] = WIDE
) -> AsyncIterator[tuple[NvmeScopeApp, Any]]:
    """Like ``tui.live_app``, on a session already run (so positions found beforehand exist)."""
    app = NvmeScopeApp(source, at=at, marks=Marks())
    try:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            yield app, pilot
    finally:
        source.close()


@pytest.fixture(scope="module")
def small() -> Iterator[LiveSource]:
    """The whole io-load session on small queues (read only by the tests)."""
    source = run_to_end(LiveSource("io-load", SMALL, PARAMS))
    try:
        yield source
    finally:
        source.close()


def wraps(source: LiveSource) -> list[int]:
    """Events where the device posted to an I/O CQ's last slot (its tail goes back to 0)."""
    return [
        i
        for i, e in enumerate(source.events())
        if e.kind == "cqe_post" and e.cqid and e.new_tail <= e.slot
    ]


def moments_to_check(source: LiveSource) -> list[int]:
    """Cursor positions where something is in flight: an SQ with published commands,
    a CQ with unconsumed completions, a wrap, the first I/O doorbell, the end."""
    out: list[int] = []
    sq_busy = cq_busy = None
    first_io = None
    for i, e in enumerate(source.events()):
        if first_io is None and e.kind == "doorbell_sq" and e.sqid:
            first_io = i
        if e.kind in ("doorbell_sq", "cqe_post") and (sq_busy is None or cq_busy is None):
            state = source.state_at(i)
            if sq_busy is None and any(_count(q) for k, q in state.sqs.items() if k):
                sq_busy = i
            if cq_busy is None and any(_count(q) > 1 for k, q in state.cqs.items() if k):
                cq_busy = i
    out += [i for i in (first_io, sq_busy, cq_busy) if i is not None]
    out += wraps(source)[:2]
    out.append(len(source) - 1)
    return out


def _count(q: Queue) -> int:
    return (q.tail - q.head) % q.qsize if q.qsize else 0


def cells_of(view: RingView, block: Block) -> list[tuple[int, str, str, Style]]:
    """(slot, glyph, marker, style of the glyph) of every slot a block shows."""
    strips = view._strips
    glyphs, markers = strips[block.glyph_line], strips[block.marker_line]
    gtext, mtext = glyphs.text, markers.text
    out = []
    for x0, x1, slot in block.cells:
        if slot is None:
            continue
        glyph = gtext[x0:x1].strip().strip("[]")
        out.append((slot, glyph, mtext[x0:x1].strip(), _style_at(glyphs, x1 - 2)))
    return out


def _style_at(strip, x: int) -> Style:
    pos = 0
    for seg in strip:
        if pos <= x < pos + len(seg.text):
            return seg.style or Style()
        pos += len(seg.text)
    return Style()


def pbit(state: State, q: Queue, slot: int) -> str:
    data = state.read_mem(q.addr + slot * 16, 16)
    return "?" if data is None else str(unpack_cqe(data).p)


def check_rings_agree(view: RingView, state: State) -> int:
    """Every queue of ``state`` is drawn with its head, tail and filled slots; returns
    how many slots were checked."""
    checked = 0
    queues = [("sq", k, q) for k, q in state.sqs.items()]
    queues += [("cq", k, q) for k, q in state.cqs.items()]
    assert {b.key for b in view.blocks} == {(t, k) for t, k, _ in queues}
    posted_bg = view._style("posted").bgcolor
    for qtype, qid, q in queues:
        block = view.block((qtype, qid))
        assert block is not None
        title = view.text_of(block.top) + view.text_of(block.top + 1)
        assert f"{qtype.upper()}{qid} " in title
        assert f"head {q.head}" in title or f"->{q.head}" in title
        assert f"tail {q.tail}" in title or f"->{q.tail}" in title
        cells = cells_of(view, block)
        shown = {slot for slot, *_ in cells}
        assert {q.head, q.tail} <= shown, "head and tail are always in the window"
        for slot, glyph, marker, style in cells:
            filled = (slot - q.head) % q.qsize < (q.tail - q.head) % q.qsize
            assert ("H" in marker) == (slot == q.head), (qtype, qid, slot)
            assert ("T" in marker) == (slot == q.tail), (qtype, qid, slot)
            if qtype == "sq":
                assert glyph == (PENDING if filled else FREE), (qid, slot)
            else:
                assert glyph == pbit(state, q, slot), (qid, slot)
                if (("cq", qid), slot) not in (view.chosen, view.cursor):  # their own looks
                    assert (style.bgcolor == posted_bg) == filled, (qid, slot)
            checked += 1
    return checked


async def test_rings_show_the_head_tail_and_filled_slots_of_the_state(small):
    positions = moments_to_check(small)
    assert len(positions) >= 5
    app_source = run_to_end(LiveSource("io-load", SMALL, PARAMS))
    async with live_app_on(app_source) as (app, pilot):
        await press(pilot, "3")
        view = app.main.panels["queues"].ringview
        total = 0
        for n in positions:
            app.goto(n)
            await settle(pilot)
            state = app.source.state_at(n)
            assert state.sqs, f"no queues at event {n}"
            total += check_rings_agree(view, state)
        assert total > 100


async def test_a_cq_wrap_shows_the_phase_flip_and_says_so(small):
    wrap = wraps(small)[0]
    event = small.event(wrap)
    before, after = small.state_at(wrap - 1).cqs[event.cqid], small.state_at(wrap).cqs[event.cqid]
    assert before.phase != after.phase
    source = run_to_end(LiveSource("io-load", SMALL, PARAMS))
    async with live_app_on(source, at=wrap) as (app, pilot):
        await press(pilot, "3")
        view = app.main.panels["queues"].ringview
        block = view.block(("cq", event.cqid))
        text = "\n".join(view.text_of(y) for y in range(block.top, block.bottom + 1))
        assert f"phase {before.phase}->{after.phase}" in text
        assert f"the tail wrapped {event.slot}->{after.tail}" in text
        assert f"flips {before.phase}->{after.phase}" in text
        # slot 0 still holds the last lap's phase; the device writes the other one next
        old = pbit(app.source.state_at(wrap), after, after.tail)
        assert old == str(before.phase)
        assert f"slot {after.tail} holds P={old}: the next CQE there gets P={after.phase}" in text
        # the slot just posted is marked as changed by this event (the ring cursor elsewhere)
        await press(pilot, "up")
        block = view.block(("cq", event.cqid))
        cells = {slot: style for slot, _, _, style in cells_of(view, block)}
        changed = view._style("changed")
        assert cells[event.slot].color == changed.color and cells[event.slot].underline
        assert cells[event.slot].bgcolor == view._style("posted").bgcolor  # and still posted
        # the next completion to this CQ lands in slot 0 with the flipped phase
        nxt = next(
            i
            for i in range(wrap + 1, len(app.source))
            if app.source.event(i).kind == "cqe_post" and app.source.event(i).cqid == event.cqid
        )
        app.goto(nxt)
        await settle(pilot)
        block = view.block(("cq", event.cqid))
        glyphs = {slot: glyph for slot, glyph, _, _ in cells_of(view, block)}
        assert glyphs[app.source.event(nxt).slot] == str(after.phase)
        assert glyphs[event.slot] == str(before.phase)


async def test_enter_on_a_slot_decodes_its_sqe_and_arrows_move_the_ring_cursor(small):
    fetch = next(i for i, e in enumerate(small.events()) if e.kind == "sqe_fetch" and e.sqid)
    event = small.event(fetch)
    source = run_to_end(LiveSource("io-load", SMALL, PARAMS))
    async with live_app_on(source, at=fetch) as (app, pilot):
        panel = app.main.panels["queues"]
        await press(pilot, "3", "e", "enter")
        assert panel.ringview.chosen == (("sq", event.sqid), event.slot)
        assert panel.entry.display
        state = app.source.state_at(fetch)
        q = state.sqs[event.sqid]
        data = state.read_mem(q.addr + event.slot * 64, 64)
        tree = decode("sqe", data, {"sqid": event.sqid})
        lines = [panel.entry.row_text(r) for r in range(panel.entry.row_count)]
        assert len(lines) == sum(1 for _ in tree.walk()) - 1
        cid = next(line for line in lines if line.split()[1:2] == ["cid"])
        assert f"command {unpack_sqe(data).cid}" in cid
        assert tree.find("cdw0.opc").meaning in "\n".join(lines)
        title = str(panel.entry_title.render())
        assert f"SQ{event.sqid} slot {event.slot}" in title
        # right moves the ring cursor one slot on; Enter decodes that slot instead
        await press(pilot, "right", "enter")
        assert panel.ringview.chosen == (("sq", event.sqid), (event.slot + 1) % q.qsize)
        assert f"slot {(event.slot + 1) % q.qsize}" in str(panel.entry_title.render())
        # Enter on the decoded slot closes it
        await press(pilot, "enter")
        assert panel.ringview.chosen is None and not panel.entry.display


async def test_a_cqe_slot_decodes_with_its_phase_tag_and_status(small):
    post = next(i for i, e in enumerate(small.events()) if e.kind == "cqe_post" and e.cqid)
    event = small.event(post)
    source = run_to_end(LiveSource("io-load", SMALL, PARAMS))
    async with live_app_on(source, at=post) as (app, pilot):
        panel = app.main.panels["queues"]
        await press(pilot, "3", "e", "enter")
        assert panel.ringview.chosen == (("cq", event.cqid), event.slot)
        lines = "\n".join(panel.entry.row_text(r) for r in range(panel.entry.row_count))
        assert f"phase {event.phase}" in lines
        assert f"command {event.cid}" in lines
        assert "posted by the device, not yet consumed" in str(panel.entry_title.render())


async def test_up_and_down_move_the_ring_cursor_between_queues(small):
    source = run_to_end(LiveSource("io-load", SMALL, PARAMS))
    async with live_app_on(source, at=len(source) - 1) as (app, pilot):
        view = app.main.panels["queues"].ringview
        await press(pilot, "3")
        keys = [b.key for b in view.blocks]
        first = view.cursor[0]
        await press(pilot, "down")
        assert view.cursor[0] == keys[keys.index(first) + 1]
        await press(pilot, "up", "up")
        assert view.cursor[0] == keys[max(0, keys.index(first) - 1)]
        await press(pilot, "t")
        assert view.cursor[1] == view.ring(view.cursor[0]).tail


async def test_a_click_selects_a_slot_and_a_second_click_decodes_it(small):
    post = next(i for i, e in enumerate(small.events()) if e.kind == "cqe_post" and e.cqid)
    cqid = small.event(post).cqid
    source = run_to_end(LiveSource("io-load", SMALL, PARAMS))
    async with live_app_on(source, at=post, size=NARROW) as (app, pilot):
        await press(pilot, "3")
        panel = app.main.panels["queues"]
        view = panel.ringview
        view.show_block(("cq", cqid))
        await settle(pilot)
        block = view.block(("cq", cqid))
        x0, _, slot = next(c for c in block.cells if c[2] is not None and c[2] != view.cursor[1])
        offset = (x0 + 1, block.glyph_line - view.scroll_offset.y)
        await pilot.click(RingView, offset=offset)
        await settle(pilot)
        assert view.cursor == (("cq", cqid), slot) and view.chosen is None
        await pilot.click(RingView, offset=offset)
        await settle(pilot)
        assert view.chosen == (("cq", cqid), slot)
        assert f"CQ{cqid} slot {slot}" in str(panel.entry_title.render())


async def test_a_1024_entry_queue_fits_the_width_as_a_window_with_its_ends_elided():
    source = run_to_end(LiveSource("io-load", None, {"queues": 1, "depth": 6, "count": 6}))
    busy = max(
        (i for i, e in enumerate(source.events()) if e.kind == "doorbell_sq" and e.sqid),
        key=lambda i: _count(source.state_at(i).sqs[1]),
    )
    state = source.state_at(busy)
    assert state.sqs[1].qsize == 1024 and _count(state.sqs[1]) > 1
    async with live_app_on(source, at=busy, size=NARROW) as (app, pilot):
        await press(pilot, "3")
        view = app.main.panels["queues"].ringview
        width = view.scrollable_content_region.width
        block = view.block(("sq", 1))
        for y in range(block.top, block.bottom + 1):
            assert len(view.text_of(y).rstrip()) <= width
        numbers = view.text_of(block.cell_lines[0]).split()
        assert numbers[0] == ELIDED or numbers[0] == "0"
        assert ELIDED in numbers
        slots = [int(n) for n in numbers if n != ELIDED]
        assert slots == sorted(slots) and len(slots) < 1024
        check_rings_agree(view, state)


async def test_eight_queue_pairs_of_1024_entries_are_all_drawn_as_the_cursor_moves():
    source = run_to_end(LiveSource("io-load", None, {"queues": 8, "depth": 32, "count": 64}))
    async with live_app_on(source, at=len(source) // 2) as (app, pilot):
        await press(pilot, "3")
        panel = app.main.panels["queues"]
        for i in range(len(source) // 2, len(source) // 2 + 40):
            moment = source.moment(i)
            panel.update_moment(moment)
            assert len(panel.ringview.blocks) == 18
            check_rings_agree(panel.ringview, moment.state)


def test_every_palette_entry_of_the_queues_panel_is_an_action():
    for _, _, action in QueuesPanel.PALETTE:
        assert callable(getattr(QueuesPanel, f"action_{action.split('(')[0]}"))


class QueuesAlone(App[None]):
    """The Queues panel by itself, as of one event of a live session (for the snapshot)."""

    CSS_PATH = [STYLES / "app.tcss", STYLES / "queues.tcss"]

    def __init__(self, source: LiveSource, at: int) -> None:
        super().__init__()
        self.source, self.at = source, at

    def compose(self) -> ComposeResult:
        yield QueuesPanel(self.source)

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        panel = self.query_one(QueuesPanel)
        panel.show_moment(self.source.moment(self.at))
        panel.focus_target().focus()


@pytest.fixture
def wrapped() -> Iterator[tuple[LiveSource, int]]:
    source = run_to_end(LiveSource("io-load", SMALL, PARAMS))
    try:
        yield source, wraps(source)[0]
    finally:
        source.close()


def test_snapshot_queues_right_after_a_cq_wrap(snap_compare, wrapped):
    source, wrap = wrapped
    # the ring cursor on the CQE just posted, decoded under the rings
    assert snap_compare(QueuesAlone(source, wrap), press=["e", "enter"], terminal_size=(160, 50))


async def test_the_legend_under_the_rings_shows_each_glyph_as_the_rings_draw_it():
    source = run_to_end(LiveSource("io-load", SMALL, PARAMS))
    async with live_app_on(source, at=len(source) - 1, size=NARROW) as (app, pilot):
        await press(pilot, "3")
        view = app.main.panels["queues"].ringview
        width = view.scrollable_content_region.width
        legend = view._strips[view.blocks[-1].bottom + 1 :]
        text = " ".join(strip.text for strip in legend)
        for words in ("a command waiting", "a free slot", "posted, not consumed", "head and tail"):
            assert words in text
        assert all(strip.cell_length <= width for strip in legend)
        looks = {seg.text: seg.style for strip in legend for seg in strip if seg.text.strip()}
        assert looks[PENDING] == view._style("pending")
        assert looks[FREE] == view._style("free")
        assert looks["H T"] == view._style("marker")
