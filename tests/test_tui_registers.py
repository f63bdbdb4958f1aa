"""The Registers panel: fields decoded in words, the two change marks, doorbells, `,` / `.`."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Footer

from nvmescope.nvme.registers import BY_NAME, REGISTERS, cq_head_doorbell, sq_tail_doorbell
from nvmescope.trace.state import State
from nvmescope.ui import open_source
from nvmescope.ui.app import STYLES
from nvmescope.ui.marks import Marks
from nvmescope.ui.widgets import RegistersPanel
from nvmescope.ui.widgets._registers import NOW_GLYPH, SINCE_GLYPH
from tests.tui import RECORDINGS, live_app, press, recorded_app, settle

IDENTIFY = RECORDINGS / "identify.nvmetrace"


def opened(path: Path = IDENTIFY):
    """The app on a recording, with breakpoints kept in memory (never beside the recording)."""
    return recorded_app(path, marks=Marks())


def cc_writes(source) -> list[int]:
    return [
        i
        for i, e in enumerate(source.events(0, len(source)))
        if e.kind == "mmio_write" and e.reg == "cc"
    ]


def cc_enable_write(source) -> int:
    """The event whose CC write sets EN from 0 to 1."""
    for i in cc_writes(source):
        e = source.event(i)
        if e.new & 1 and not e.old & 1:
            return i
    raise AssertionError("the scenario never enables the controller")


def registers(app) -> RegistersPanel:
    panel = app.main.panels["registers"]
    assert isinstance(panel, RegistersPanel)
    return panel


def row(panel: RegistersPanel, reg: str, field: str = "") -> str:
    for line, text in zip(panel.lines, panel.row_texts(), strict=True):
        if line.reg == reg and line.field == field:
            return text
    raise AssertionError(f"no row for {reg}.{field}: {panel.row_texts()}")


def marks(panel: RegistersPanel, glyph: str) -> set[tuple[str, str]]:
    return {
        (line.reg, line.field)
        for line, text in zip(panel.lines, panel.row_texts(), strict=True)
        if text.startswith(glyph)
    }


def changed_fields(new: State, old: State) -> set[tuple[str, str]]:
    """Every (register, field) and register header whose value differs between two states."""
    out: set[tuple[str, str]] = set()
    for reg in REGISTERS:
        a = [new.bar0.get(reg.offset + i) for i in range(reg.size)]
        b = [old.bar0.get(reg.offset + i) for i in range(reg.size)]
        if a != b:
            out.add((reg.name, ""))
        for f in reg.fields:
            span = range(f.lo // 8, f.hi // 8 + 1)
            fa = None if any(a[i] is None for i in span) else f.get(_int(a))
            fb = None if any(b[i] is None for i in span) else f.get(_int(b))
            if fa != fb:
                out.add((reg.name, f.name))
    # a doorbell's row: the queue's tail (SQ) or head (CQ); a queue that appears is a change
    for name, new_qs, old_qs, end in (
        ("sq{}tdbl", new.sqs, old.sqs, "tail"),
        ("cq{}hdbl", new.cqs, old.cqs, "head"),
    ):
        for qid, q in new_qs.items():
            old_q = old_qs.get(qid)
            if old_q is None or getattr(old_q, end) != getattr(q, end):
                out.add((name.format(qid), ""))
    return out


def _int(data: list[int | None]) -> int:
    return sum((b or 0) << (8 * i) for i, b in enumerate(data))


@pytest.mark.asyncio
async def test_registers_decode_every_field_in_words():
    async with opened() as (app, pilot):
        at = cc_enable_write(app.source)
        app.goto(at)
        await press(pilot, "2")
        panel = registers(app)
        state = app.source.state_at(at)
        cap, cc = state.register("cap"), state.register("cc")
        assert cap is not None and cc is not None
        mqes = BY_NAME["cap"].get(cap, "mqes")
        dstrd = BY_NAME["cap"].get(cap, "dstrd")
        iosqes = BY_NAME["cc"].get(cc, "iosqes")
        # one header per register, in offset order, each with its offset
        headers = [line.reg for line in panel.lines if not line.field and line.reg in BY_NAME]
        assert headers == [reg.name for reg in REGISTERS]
        assert "14h" in row(panel, "cc") and f"0x{cc:08x}" in row(panel, "cc")
        # the fields, in words
        assert f"{mqes + 1} entries per queue" in row(panel, "cap", "mqes")
        assert f"{4 << dstrd}-byte doorbell stride" in row(panel, "cap", "dstrd")
        assert "enabled" in row(panel, "cc", "en")
        assert f"{1 << iosqes} bytes" in row(panel, "cc", "iosqes")
        assert row(panel, "cc", "iosqes").lstrip(NOW_GLYPH + SINCE_GLYPH + " ").startswith("IOSQES")
        # a register no event told: said so, and no made-up fields under it
        assert state.register("intms") is None
        assert "not read yet" in row(panel, "intms")
        assert not [line for line in panel.lines if line.reg == "intms" and line.field]


@pytest.mark.asyncio
async def test_csts_ready_reads_not_ready_then_ready():
    async with opened() as (app, pilot):
        source = app.source
        ready = next(
            i for i, e in enumerate(source.events(0, len(source))) if e.kind == "ctrl_state"
        )
        app.goto(ready - 1)
        await press(pilot, "2")
        assert "not ready" in row(registers(app), "csts", "rdy")
        await press(pilot, "s")
        assert app.cursor == ready
        text = row(registers(app), "csts", "rdy")
        assert "ready" in text and "not ready" not in text
        assert text.startswith(NOW_GLYPH)


@pytest.mark.asyncio
async def test_this_event_and_since_last_stop_are_marked_apart():
    async with opened() as (app, pilot):
        source = app.source
        writes = cc_writes(source)
        enable = cc_enable_write(source)
        # step onto the write that sets CC.EN=1: only what that one event changed is marked
        app.goto(enable - 1)
        await press(pilot, "2", "s")
        panel = registers(app)
        assert app.cursor == enable and panel.selected_register == "cc"
        now = marks(panel, NOW_GLYPH)
        assert ("cc", "en") in now and ("cc", "") in now
        assert now == changed_fields(source.state_at(enable), source.state_at(enable - 1))
        assert marks(panel, SINCE_GLYPH) == set()
        assert "was 0" in row(panel, "cc", "en")
        # the highlight is drawn, not only the glyph
        cursor_row = panel.view.cursor_row
        assert panel.lines[cursor_row].field == "en"
        strip = panel.view.render_row(cursor_row, 80, False)
        assert any(
            seg.style and seg.style.bgcolor == panel.view.style("now").bgcolor for seg in strip
        )

        # continue from the first CC write to the next ones with a breakpoint on CC
        app.add_breakpoint('kind == "mmio_write" and reg == "cc"')
        app.clear_notifications()
        app.goto(writes[0])
        for previous, stop in zip(writes, writes[1:], strict=False):
            await press(pilot, "c")
            assert app.cursor == stop
            here, before, last = (source.state_at(n) for n in (stop, stop - 1, previous))
            now = changed_fields(here, before)
            assert marks(panel, NOW_GLYPH) == now
            assert marks(panel, SINCE_GLYPH) == changed_fields(here, last) - now
            assert f"since the last stop (event {previous})" in str(
                panel.query_one("#registers-legend").render()
            )
        # between the first two CC writes the host programmed the admin queue
        app.goto(writes[0])
        await press(pilot, "c")
        since = marks(panel, SINCE_GLYPH)
        assert {("aqa", "asqs"), ("aqa", "acqs"), ("asq", "asqb"), ("acq", "acqb")} <= since


@pytest.mark.asyncio
async def test_doorbells_are_listed_once_their_queues_exist():
    async with opened() as (app, pilot):
        source = app.source
        enable = cc_enable_write(source)
        app.goto(enable - 1)
        await press(pilot, "2")
        panel = registers(app)
        assert not [line for line in panel.lines if line.reg.endswith(("tdbl", "hdbl"))]
        for at in (enable, len(source) - 1):
            app.goto(at)
            await settle(pilot)
            state = source.state_at(at)
            cap = state.register("cap")
            assert cap is not None
            dstrd = BY_NAME["cap"].get(cap, "dstrd")
            want = {
                f"sq{q}tdbl": (sq_tail_doorbell(q, dstrd), s.tail) for q, s in state.sqs.items()
            }
            want |= {
                f"cq{q}hdbl": (cq_head_doorbell(q, dstrd), c.head) for q, c in state.cqs.items()
            }
            got = [line.reg for line in panel.lines if line.reg.endswith(("tdbl", "hdbl"))]
            assert got == sorted(want, key=lambda name: want[name][0])
            for name, (offset, value) in want.items():
                text = row(panel, name)
                assert f"{offset:X}h" in text and f"0x{value:08x}" in text
        assert {"sq1tdbl", "cq1hdbl"} <= set(got)


@pytest.mark.asyncio
async def test_the_register_an_event_writes_is_brought_on_screen():
    async with opened() as (app, pilot):
        enable = cc_enable_write(app.source)
        app.goto(enable)  # a jump from event 0: every row below CAP moved
        await settle(pilot)
        panel = registers(app)
        view = panel.view
        top, height = view.scroll_offset.y, view.scrollable_content_region.height
        cc_rows = [i for i, line in enumerate(panel.lines) if line.reg == "cc"]
        assert cc_rows[0] >= height  # CC is below the first screenful: it had to scroll
        assert top <= cc_rows[0] and cc_rows[-1] < top + height
        assert panel.lines[view.cursor_row].field == "en"


async def check_cc_writes_both_ways(app, pilot) -> None:
    writes = cc_writes(app.source)
    assert len(writes) >= 3
    app.goto(writes[-1])
    await press(pilot, "2")
    panel = registers(app)
    assert panel.selected_register == "cc"
    for expected in reversed(writes[:-1]):
        await press(pilot, "comma")
        assert app.cursor == expected
    await press(pilot, "comma")  # nothing before the first write: the cursor stays
    assert app.cursor == writes[0]
    for expected in writes[1:]:
        await press(pilot, "full_stop")
        assert app.cursor == expected
    assert panel.selected_register == "cc"


@pytest.mark.asyncio
async def test_comma_and_full_stop_go_to_cc_writes_in_a_recording():
    async with opened() as (app, pilot):
        await check_cc_writes_both_ways(app, pilot)


@pytest.mark.asyncio
async def test_comma_and_full_stop_go_to_cc_writes_in_a_live_session():
    probe = open_source(IDENTIFY)
    try:
        enable = cc_enable_write(probe)
    finally:
        probe.close()
    async with live_app("identify", at=enable + 4) as (app, pilot):
        await check_cc_writes_both_ways(app, pilot)


@pytest.mark.asyncio
async def test_the_command_palette_runs_previous_and_next_write():
    async with opened() as (app, pilot):
        writes = cc_writes(app.source)
        app.goto(writes[1])
        await settle(pilot)
        commands = {c.title: c.callback for c in app.get_system_commands(app.screen)}
        titles = [title for title, _, _ in RegistersPanel.PALETTE]
        assert all(title in commands for title in titles)
        commands[titles[0]]()  # previous write
        await settle(pilot)
        assert app.cursor == writes[0]
        commands[titles[1]]()  # next write
        await settle(pilot)
        assert app.cursor == writes[1]


@pytest.mark.asyncio
async def test_previous_write_of_a_64_bit_register_finds_both_halves():
    async with opened() as (app, pilot):
        source = app.source
        halves = [
            i
            for i, e in enumerate(source.events(0, len(source)))
            if e.kind == "mmio_write" and e.reg in ("asq.lo", "asq.hi")
        ]
        assert len(halves) == 2
        app.goto(halves[-1] + 1)
        await press(pilot, "2")
        panel = registers(app)
        panel.select("asq")
        assert panel.selected_register == "asq"
        await press(pilot, "comma")
        assert app.cursor == halves[1]
        await press(pilot, "comma")
        assert app.cursor == halves[0]


@pytest.mark.asyncio
async def test_full_stop_on_a_doorbell_goes_to_its_next_ring():
    async with opened() as (app, pilot):
        source = app.source
        rings = [
            i
            for i, e in enumerate(source.events(0, len(source)))
            if e.kind == "doorbell_sq" and e.sqid == 0
        ]
        app.goto(rings[0])
        await press(pilot, "2")
        panel = registers(app)
        assert panel.selected_register == "sq0tdbl"  # the cursor follows the event's register
        await press(pilot, "full_stop")
        assert app.cursor == rings[1]
        assert "◂ written" in row(panel, "sq0tdbl")


@pytest.mark.asyncio
async def test_a_doorbell_write_the_device_ignored_says_so():
    async with opened(RECORDINGS / "errors.nvmetrace") as (app, pilot):
        source = app.source
        [ignored] = [
            i
            for i, e in enumerate(source.events(0, len(source)))
            if e.kind == "doorbell_sq" and e.ignored and e.sqid == 1
        ][:1]
        app.goto(ignored)
        await press(pilot, "2")
        assert "◂ written, ignored" in row(registers(app), "sq1tdbl")
        app.goto(ignored - 1)
        await settle(pilot)
        assert "◂ written" not in row(registers(app), "sq1tdbl")


@pytest.mark.asyncio
async def test_a_quick_breakpoint_tells_the_events_register_from_the_selected_one():
    async with opened() as (app, pilot):
        irq = next(
            i for i, e in enumerate(app.source.events(0, len(app.source))) if e.kind == "irq_msix"
        )
        app.goto(irq)
        await press(pilot, "2")
        registers(app).select("csts")
        labels = [label for label, _ in app.quick_breakpoints()]
        assert "the selected register: CSTS" in labels  # an interrupt accesses none
        assert not [label for label in labels if label.startswith("this event's register")]


@pytest.mark.asyncio
async def test_up_and_down_select_a_register_for_the_app():
    async with opened() as (app, pilot):
        app.goto(cc_enable_write(app.source))
        await press(pilot, "2")
        panel = registers(app)
        start = panel.view.cursor_row
        above = panel.lines[start - 1]
        await press(pilot, "up")
        assert panel.selected_register == above.reg
        labels = [label for label, _ in app.quick_breakpoints()]
        assert "this event's register: CC" in labels  # the event's own
        assert any(label.endswith(f"register: {above.reg.upper()}") for label in labels)
        await press(pilot, "enter")  # fold the register's fields away, and back
        folded = [line for line in panel.lines if line.reg == above.reg]
        assert len(folded) == 1
        await press(pilot, "enter")
        assert len([line for line in panel.lines if line.reg == above.reg]) > 1


# -- the snapshot -----------------------------------------------------------------------------
class RegistersAlone(App[None]):
    """The Registers panel by itself, fed the moments the app would feed it.

    Alone, so that the snapshot changes only when this panel does (the other panels of
    the main screen have snapshots of their own)."""

    CSS_PATH = [STYLES / "app.tcss", STYLES / "registers.tcss"]

    def __init__(self, path: Path, at: int, since: int) -> None:
        super().__init__()
        self.source = open_source(path)
        self.at, self.since = at, since

    def compose(self) -> ComposeResult:
        yield RegistersPanel(self.source)
        yield Footer()

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        panel = self.query_one(RegistersPanel)
        panel.show_moment(self.source.moment(self.at, since=self.source.moment(self.since)))
        panel.focus_target().focus()

    def on_unmount(self) -> None:
        self.source.close()


@pytest.fixture
def enable_write() -> int:
    source = open_source(IDENTIFY)
    try:
        return cc_enable_write(source)
    finally:
        source.close()


def test_snapshot_registers_right_after_cc_en_1(snap_compare, enable_write):
    # reached with `c` from the first CC write: both marks are on screen
    first = cc_writes_of_file()[0]
    app = RegistersAlone(IDENTIFY, enable_write, first)
    assert snap_compare(app, terminal_size=(160, 50))


def cc_writes_of_file() -> list[int]:
    source = open_source(IDENTIFY)
    try:
        return cc_writes(source)
    finally:
        source.close()
