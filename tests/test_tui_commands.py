"""The Commands panel: the command view as a table, marked at the cursor, followed with Enter."""

from __future__ import annotations

from array import array

from textual.app import App, ComposeResult
from tui import NARROW, RECORDINGS, live_app, press, recorded_app, settle

from nvmescope.emulator.config import PROFILES, ControllerConfig
from nvmescope.trace import open_recording, record
from nvmescope.trace.commands import Command, command_row, format_ns, pair_commands
from nvmescope.ui import open_source
from nvmescope.ui.app import STYLES
from nvmescope.ui.source import Source, analyse
from nvmescope.ui.widgets import CommandsPanel
from nvmescope.ui.widgets._commands import (
    COMPUTING,
    FINISHED,
    IN_DEVICE,
    IN_SQ,
    NOT_YET,
    SQE_WRITTEN,
    phase_at,
)

IDENTIFY = RECORDINGS / "identify.nvmetrace"
IO_LOAD = RECORDINGS / "io-load.nvmetrace"
ERRORS = RECORDINGS / "errors.nvmetrace"


def commands_of(path) -> list[Command]:
    with open_recording(path) as rec:
        return pair_commands(rec.events())


def panel_of(app) -> CommandsPanel:
    panel = app.main.panels["commands"]
    assert isinstance(panel, CommandsPanel)
    return panel


def row_cells_shown(panel: CommandsPanel, row: int, cmd: Command) -> None:
    """Every column the table shows holds what command_row says (cut to its width), but
    for a command still outstanding at the cursor: where it is then, and no latency."""
    width = panel.table.scrollable_content_region.width
    text = panel.table.row_text(row, width)
    expected = command_row(row + 1, cmd)
    phase = phase_at(cmd, panel.table.at)
    if phase is not None:
        expected[4], expected[5], expected[6] = phase, "-", "-"
    for name, w, _ in panel.table.columns(width):
        cell = expected[["#", "command", "opcode", "nsid", "status", "latency", "service",
                         "events", "seq"].index(name)]  # fmt: skip
        shown = cell if len(cell) <= w else cell[: w - 1] + "…"
        assert shown in text, (name, shown, text)


async def test_the_table_lists_every_command_pair_commands_finds():
    expected = commands_of(IO_LOAD)
    async with recorded_app(IO_LOAD) as (app, pilot):
        await press(pilot, "G", "7")  # at the last event every command has its final words
        panel = panel_of(app)
        assert panel.table.row_count == len(expected) > 50
        assert [c.label for c in panel.commands] == [c.label for c in expected]
        for row in (0, len(expected) // 2, len(expected) - 1):
            row_cells_shown(panel, row, expected[row])
        # what the user reads on the screen is the same row
        await press(pilot, "end")
        assert expected[-1].label in panel.table.row_text(panel.table.row_count - 1)
        assert panel.table.cursor_row == len(expected) - 1


async def test_errors_and_outstanding_commands_show_their_status_in_a_narrow_terminal():
    expected = commands_of(ERRORS)
    bad = [k for k, c in enumerate(expected) if not c.ok]
    assert bad
    async with recorded_app(ERRORS, size=NARROW) as (app, pilot):
        await press(pilot, "G", "7")
        panel = panel_of(app)
        assert panel.table.row_count == len(expected)
        for row in bad:
            row_cells_shown(panel, row, expected[row])
        width = panel.table.scrollable_content_region.width
        assert len(panel.table.header(width)) <= width
        assert "status" in panel.heading.render().plain


async def test_each_row_reads_as_of_the_cursor_from_not_yet_to_its_status():
    expected = commands_of(IDENTIFY)
    row, cmd = next((k, c) for k, c in enumerate(expected) if c.opname == "identify")
    assert cmd.sqe_write < cmd.doorbell < cmd.fetch < cmd.finish < cmd.cqe
    stops = [
        (cmd.sqe_write - 1, NOT_YET),
        (cmd.sqe_write, SQE_WRITTEN),
        (cmd.doorbell, IN_SQ),
        (cmd.fetch, IN_DEVICE),
        (cmd.finish - 1, IN_DEVICE),
        (cmd.finish, FINISHED),
        (cmd.cqe, "success"),
    ]
    async with recorded_app(IDENTIFY) as (app, pilot):
        await press(pilot, "7")
        panel = panel_of(app)
        for at, words in stops:
            app.goto(at)
            await settle(pilot)
            text = panel.table.row_text(row, panel.table.scrollable_content_region.width)
            assert f" {words} " in text, (at, words, text)
            latency = format_ns(cmd.t_cqe - cmd.t_doorbell)
            assert (latency in text) == (words == "success"), (at, text)
        # the line under the table says where it is and when it completes
        panel.table.cursor_row = row
        app.goto(cmd.fetch)
        await settle(pilot)
        line = panel.summary.render().plain
        assert f"in the device as of event {cmd.fetch} (success at {cmd.cqe})" in line


async def test_commands_the_parallel_units_hold_read_in_the_device_out_of_order(tmp_path):
    # the ssd timing: 42 units, reads of different lengths finish out of order
    path = tmp_path / "ssd.nvmetrace"
    record("io-load", path, config=ControllerConfig(**PROFILES["ssd"]), params={"count": 64})
    expected = commands_of(path)
    io = [c for c in expected if c.sqid and c.cqe is not None]
    # an event where several I/O commands are in the device at once
    at = max(
        range(len(open_source(path))), key=lambda n: sum(phase_at(c, n) == IN_DEVICE for c in io)
    )
    held = [c for c in io if phase_at(c, at) == IN_DEVICE]
    assert len(held) > 1
    async with recorded_app(path) as (app, pilot):
        await press(pilot, "7")
        app.goto(at)
        await settle(pilot)
        panel = panel_of(app)
        width = panel.table.scrollable_content_region.width
        shown = [
            c for k, c in enumerate(expected) if f" {IN_DEVICE} " in panel.table.row_text(k, width)
        ]
        assert [c.label for c in shown if c.sqid] == [c.label for c in held]


async def test_enter_follows_a_command_to_its_doorbell_in_the_narrowed_timeline():
    expected = commands_of(IO_LOAD)
    row = next(k for k, c in enumerate(expected) if c.sqid and c.doorbell is not None and k > 30)
    cmd = expected[row]
    async with recorded_app(IO_LOAD) as (app, pilot):
        await press(pilot, "7")
        panel = panel_of(app)
        await press(pilot, "home", *["down"] * row)
        assert panel.table.cursor_row == row
        await press(pilot, "enter")
        assert app.timeline.rows == array("L", sorted(cmd.events))
        assert app.cursor == cmd.doorbell
        assert app.follow_label == cmd.label
        assert f"following {cmd.label}" in app.status_text().plain
        # the table stays on the followed command although the doorbell may be shared
        assert panel.table.cursor_row == row
        await press(pilot, "escape")
        assert app.timeline.rows is None


async def test_the_command_of_the_current_event_is_marked_and_selected():
    expected = commands_of(IO_LOAD)
    cmd = next(c for c in expected if c.sqid and c.fetch is not None and c.cqe is not None)
    row = expected.index(cmd)
    async with recorded_app(IO_LOAD, at=cmd.fetch) as (app, pilot):
        await press(pilot, "7")
        panel = panel_of(app)
        assert panel.table.current == frozenset({row})
        assert panel.table.cursor_row == row
        assert panel.table.row_text(row).startswith("▶")
        assert not panel.table.row_text(row + 1).startswith("▶")
        assert cmd.label in panel.summary.render().plain
        # its completion: still the same command; `o` from another row goes to its CQE
        app.goto(cmd.cqe)
        await settle(pilot)
        assert panel.table.current == frozenset({row})
        await press(pilot, "down", "o")
        assert app.cursor == expected[row + 1].cqe


async def test_events_of_no_command_mark_nothing():
    with open_recording(IO_LOAD) as rec:
        first = next(i for i, e in enumerate(rec.events()) if e.kind == "config_read")
    async with recorded_app(IO_LOAD, at=first) as (app, pilot):
        await press(pilot, "7")
        assert panel_of(app).table.current == frozenset()


class CommandsAlone(App[None]):
    """The panel by itself: the analysis arrives only when the test hands it over."""

    CSS_PATH = [STYLES / "app.tcss", STYLES / "commands.tcss"]

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        yield CommandsPanel(self.source)

    def on_mount(self) -> None:
        self.query_one(CommandsPanel).show_moment(self.source.moment(0))


async def test_until_the_analysis_arrives_the_panel_says_it_is_computing():
    source = open_source(IO_LOAD)
    try:
        app = CommandsAlone(source)
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.pause()
            panel = app.query_one(CommandsPanel)
            assert panel.summary.render().plain == COMPUTING
            assert panel.table.row_count == 0
            rec = source.scanner()
            try:
                analysis = analyse(rec)
            finally:
                rec.close()
            panel.show_analysis(analysis)
            await pilot.pause()
            assert panel.table.row_count == len(commands_of(IO_LOAD))
            assert COMPUTING not in panel.summary.render().plain
    finally:
        source.close()


async def test_a_live_session_grows_the_table_as_commands_happen():
    async with live_app("identify") as (app, pilot):
        await press(pilot, "7")
        panel = panel_of(app)
        assert panel.table.row_count == 0
        await press(pilot, "c")  # no breakpoints: runs to the end
        assert app.source.finished
        with open_recording(app.source.recording.path) as rec:
            assert panel.table.row_count == len(pair_commands(rec.events())) > 0


def test_every_palette_entry_of_the_commands_panel_is_an_action():
    for _, _, action in CommandsPanel.PALETTE:
        assert callable(getattr(CommandsPanel, f"action_{action.split('(')[0]}"))


async def test_a_live_sessions_command_without_a_cqe_yet_is_not_said_never_to_complete():
    async with live_app("identify") as (app, pilot):
        await press(pilot, "7")
        await _goto_live(pilot, "379")  # the last Identify is fetched, its CQE still to come
        panel = panel_of(app)
        assert not panel.analysis.finished
        row = len(panel.commands) - 1
        assert panel.commands[row].cqe is None and panel.commands[row].fetch is not None
        panel.table.cursor_row = row
        panel._summarise()
        line = panel.summary.render().plain
        assert "no CQE so far" in line and "never completes" not in line, line


async def _goto_live(pilot, text: str) -> None:
    await press(pilot, "colon")
    await pilot.press(*text)
    await press(pilot, "enter")
    await settle(pilot)


async def test_the_identify_commands_are_told_apart_by_their_selector_at_80_and_160_columns():
    expected = [c for c in commands_of(IDENTIFY) if c.opname == "identify"]
    assert len({c.selector for c in expected}) > 1
    for size in (NARROW, (160, 50)):
        async with recorded_app(IDENTIFY, size=size) as (app, pilot):
            await press(pilot, "G", "7")
            panel = panel_of(app)
            rows = [panel.table.row_text(r) for r in range(panel.table.row_count)]
            for c in expected:  # "identify cns=0x02" at least: the name and the selector's value
                what = f"{c.opname} {c.selector.split()[0]}"
                assert any(c.label in row and what in row for row in rows), (size, what)
