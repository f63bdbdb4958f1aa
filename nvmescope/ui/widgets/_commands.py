"""The Commands panel: the command view as a table, one command a row, any number of them.

The rows are :func:`nvmescope.trace.commands.command_row` (the same words as
``nvmescope show --commands``): number, ``SQy:cid#instance``, opcode, nsid,
status, latency (from the SQ tail doorbell to the CQE), service time (from
the fetch to the CQE), how many events and their range. Errors are red,
commands that never completed yellow. The table is a
:class:`~nvmescope.ui.widgets._rowview.RowView`: only the rows on screen are
drawn, so 100,000 commands cost what twenty do.

Each row reads as of the cursor, as every panel does: a command whose completion is
still to come says where it is at the cursor's event (``SQE written``, ``in SQ`` (not
fetched), ``in device``, ``no CQE yet``: the device is done and posts its CQE next, or
waits for room in a full CQ) in yellow, with no latency yet, and one that begins after the cursor is dimmed and
says ``not yet``; the line under the table says when it completes. With parallel units
(``-c parallel_units=N``, ``--profile ssd``) the commands ``in device`` are those
the units are working on, out of order.

As the cursor moves, the command the current event belongs to is marked ``▶``
and the table's cursor goes to it. Enter on a command follows it: the timeline
shows only its events and the cursor goes to its doorbell (``o`` goes to its
completion instead). Until the analysis of a recording arrives (a worker
computes it) the table says so.
"""

from __future__ import annotations

import bisect
from array import array
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding
from textual.strip import Strip
from textual.widgets import Static

from nvmescope.trace.commands import Command, command_row, format_ns, format_nsid
from nvmescope.ui.source import Analysis, Moment, Source
from nvmescope.ui.widgets._panel import Panel, set_text
from nvmescope.ui.widgets._rowview import RowView

#: at least this wide: every column; narrower drops the event count, then the service time
WIDE = 110
MEDIUM = 90
#: the opcode column's widest (the name and its selector), and the status's share first
OPCODE_MAX = 28
STATUS_WANTS = 12
COMPUTING = "computing the command view…"
#: where each column's text is in a command_row
CELL = {
    "#": 0,
    "command": 1,
    "opcode": 2,
    "nsid": 3,
    "status": 4,
    "latency": 5,
    "service": 6,
    "events": 7,
    "seq": 8,
}


@dataclass(frozen=True)
class Widths:
    """How wide the data-dependent columns need to be for a list of commands."""

    label: int = 8
    opcode: int = 12
    nsid: int = 4
    latency: int = 9
    service: int = 9

    @classmethod
    def of(cls, commands: list[Command]) -> Widths:
        """Measured in one pass (no text is formatted per command)."""
        sqid = cid = inst = nsid = lat = svc = 0
        opname = 1
        for c in commands:
            if c.sqid > sqid:
                sqid = c.sqid
            if c.cid is not None and c.cid > cid:
                cid = c.cid
            if c.instance > inst:
                inst = c.instance
            if c.nsid is not None and c.nsid > nsid:
                nsid = c.nsid
            # the column shows the name and its selector ("identify cns=0x01 (ctrl)")
            n = len(c.opname) + (len(c.selector) + 1 if c.selector else 0)
            if n > opname:
                opname = n
            if c.t_cqe is not None:
                if c.t_doorbell is not None and c.t_cqe - c.t_doorbell > lat:
                    lat = c.t_cqe - c.t_doorbell
                if c.t_fetch is not None and c.t_cqe - c.t_fetch > svc:
                    svc = c.t_cqe - c.t_fetch
        return cls(
            label=len(f"SQ{sqid}:{cid}#{inst}"),
            opcode=min(OPCODE_MAX, max(6, opname)),
            nsid=max(4, len(format_nsid(nsid))),
            latency=max(7, len(format_ns(lat))),
            service=max(7, len(format_ns(svc))),
        )


def layout(width: int, digits: int, seq_digits: int, w: Widths) -> list[tuple[str, int, bool]]:
    """(column, width, flush right) for a table ``width`` cells wide.

    The columns are those of :data:`nvmescope.trace.commands.COLUMNS`; the status
    takes what the others leave. Narrower than :data:`WIDE` the event count goes,
    narrower than :data:`MEDIUM` the service time too.
    """
    cols = [
        ("#", max(1, digits), True),
        ("command", max(7, w.label), False),
        ("opcode", w.opcode, False),
        ("nsid", w.nsid, True),
        ("status", 0, False),
        ("latency", w.latency, True),
    ]
    if width >= MEDIUM:
        cols.append(("service", w.service, True))
    if width >= WIDE:
        cols.append(("events", 6, True))
    cols.append(("seq", max(3, 2 * seq_digits + 2), False))
    used = 2 + sum(n + 1 for _, n, _ in cols)
    # the opcode and its selector tell commands apart ("identify cns=0x01 (ctrl)" from
    # "identify cns=0x02 (ns list)"): it gives way to the status only down to 12 cells
    opcode = max(min(w.opcode, 12), w.opcode - max(0, STATUS_WANTS - (width - used)))
    used -= w.opcode - opcode
    status = max(11, min(40, width - used))
    return [
        (name, status if name == "status" else opcode if name == "opcode" else n, right)
        for name, n, right in cols
    ]


def _fit(text: str, width: int, right: bool) -> str:
    if len(text) > width:
        text = text[: max(0, width - 1)] + "…"
    return text.rjust(width) if right else text.ljust(width)


#: where a command is as of an event, before its completion (see the module docstring)
NOT_YET = "not yet"
SQE_WRITTEN = "SQE written"
IN_SQ = "in SQ"
IN_DEVICE = "in device"
FINISHED = "no CQE yet"
#: the same, in the words of the line under the table (the status column is narrow)
PHASE_WORDS = {
    NOT_YET: "not yet submitted",
    SQE_WRITTEN: "SQE written, doorbell not rung",
    IN_SQ: "in its SQ, not fetched",
    IN_DEVICE: "in the device",
    FINISHED: "finished, its CQE not posted yet",
}


def phase_at(cmd: Command, index: int) -> str | None:
    """Where ``cmd`` is as of event ``index``: None once its CQE is posted (its final
    status applies), else a few words (:data:`NOT_YET` .. :data:`FINISHED`)."""
    if cmd.cqe is not None and cmd.cqe <= index:
        return None
    if not cmd.events or cmd.first > index:
        return NOT_YET
    if cmd.cqe is None and cmd.events[-1] <= index and cmd.lost:
        return None  # it never completes: the view's own words (reset, SQ deleted) say why
    for pos, words in ((cmd.finish, FINISHED), (cmd.fetch, IN_DEVICE), (cmd.doorbell, IN_SQ)):
        if pos is not None and pos <= index:
            return words
    return SQE_WRITTEN


class CommandTable(RowView):
    """The rows of the command view (see the module docstring)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "commandtable--number",
        "commandtable--label",
        "commandtable--error",
        "commandtable--outstanding",
        "commandtable--later",
        "commandtable--current",
        "commandtable--mark",
        "commandtable--cursor",
        "commandtable--cursor-blurred",
    }

    def __init__(self, source: Source, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        self.commands: list[Command] = []
        #: rows of the commands the current event belongs to
        self.current: frozenset[int] = frozenset()
        #: the cursor's event: each row reads as of it (-1: the whole run, at its end)
        self.at = -1
        self.widths = Widths()

    def set_commands(self, commands: list[Command]) -> None:
        self.commands = commands
        self.widths = Widths.of(commands)
        self.set_row_count(len(commands))
        self.invalidate()

    def set_current(self, rows: frozenset[int], at: int = -1) -> None:
        if rows != self.current or at != self.at:
            self.current = rows
            self.at = at
            self.invalidate()

    # -- drawing --------------------------------------------------------------------------
    def columns(self, width: int) -> list[tuple[str, int, bool]]:
        digits = len(str(max(1, len(self.commands))))
        seq_digits = len(str(max(1, len(self.source) - 1)))
        return layout(width, digits, seq_digits, self.widths)

    def header(self, width: int) -> str:
        """The column titles, lined up with the rows."""
        cells = [_fit(name, w, right) for name, w, right in self.columns(width)]
        return ("  " + " ".join(cells))[:width]

    def render_row(self, row: int, width: int, selected: bool) -> Strip:
        cmd = self.commands[row]
        st = self._style
        cells = command_row(row + 1, cmd)
        phase = phase_at(cmd, self.at) if self.at >= 0 else None
        if phase is not None:
            cells[CELL["status"]] = phase
            cells[CELL["latency"]] = cells[CELL["service"]] = "-"
        if phase == NOT_YET:
            tone = st("later")
        elif phase is not None or cmd.outstanding:
            tone = st("outstanding")
        elif not cmd.ok:
            tone = st("error")
        else:
            tone = Style()
        current = row in self.current
        base = st("current") if current else Style()
        segments = [Segment("▶ " if current else "  ", st("mark"))]
        for name, w, right in self.columns(width):
            text = _fit(cells[CELL[name]], w, right)
            if name == "#":
                style = base + st("number")
            elif name == "command":
                style = base + (tone if phase == NOT_YET else st("label"))
            else:
                style = base + tone
            segments.append(Segment(text, style))
            segments.append(Segment(" "))
        return self.finish_row(segments, width, selected)


class CommandsPanel(Panel):
    """See the module docstring."""

    PANEL_ID = "commands"
    TITLE = "Commands"

    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        (
            "Follow the selected command",
            "Show only its events in the timeline and go to its doorbell (Enter)",
            "follow",
        ),
        (
            "Go to the selected command's completion",
            "The cursor to the CQE the device posted for it, or its last event (o)",
            "goto_completion",
        ),
        (
            "Show the command of the current event",
            "The command table's cursor to the command the cursor's event belongs to",
            "show_current",
        ),
    )

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("o", "goto_completion", "completion", show=False),
    ]

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self.table = CommandTable(source, id="commands-table")
        self.heading = Static("", id="commands-header", markup=False)
        self.summary = Static(COMPUTING, id="commands-summary", markup=False)
        self.commands: list[Command] = []
        self._by_key: dict[tuple[int, int], list[int]] | None = None
        self._by_event: dict[int, int | list[int]] | None = None
        self._firsts: array | None = None

    def compose(self) -> ComposeResult:
        yield self.heading
        yield self.table
        yield self.summary

    def on_resize(self) -> None:
        self._draw_heading()

    def _draw_heading(self) -> None:
        width = self.table.scrollable_content_region.width or self.size.width or 80
        set_text(self.heading, self.table.header(width))

    # -- fed by the app ----------------------------------------------------------------------
    def update_analysis(self, analysis: Analysis) -> None:
        self.commands = analysis.commands()
        self._by_key = self._by_event = None
        self._firsts = None
        self.table.set_commands(self.commands)
        self._draw_heading()
        if self.moment is not None:
            self._mark(self.moment)
        self._summarise()

    def update_moment(self, moment: Moment) -> None:
        if self.analysis is not None:
            self._mark(moment)
        self._summarise()

    def focus_target(self) -> CommandTable:
        return self.table

    # -- the command of the current event -----------------------------------------------------
    def _keys(self) -> dict[tuple[int, int], list[int]]:
        """The rows of each (sqid, cid), its instances in order (built when first needed)."""
        if self._by_key is None:
            by_key: dict[tuple[int, int], list[int]] = {}
            for row, cmd in enumerate(self.commands):
                if cmd.cid is not None:
                    rows = by_key.get((cmd.sqid, cmd.cid))
                    if rows is None:
                        by_key[(cmd.sqid, cmd.cid)] = [row]
                    else:
                        rows.append(row)
            self._by_key = by_key
        return self._by_key

    def _tied(self) -> dict[int, int | list[int]]:
        """The rows of the unstamped events each command ties to itself (SQE write,
        doorbell, interrupt, reaping doorbell), built when first needed."""
        if self._by_event is None:
            by_event: dict[int, int | list[int]] = {}
            get = by_event.get
            for row, cmd in enumerate(self.commands):
                for pos in (cmd.sqe_write, cmd.doorbell, cmd.irq, cmd.reaped):
                    if pos is None:
                        continue
                    had = get(pos)
                    if had is None:
                        by_event[pos] = row  # an int, not a list: most belong to one command
                    elif isinstance(had, int):
                        if had != row:
                            by_event[pos] = [had, row]
                    elif had[-1] != row:
                        had.append(row)
            self._by_event = by_event
        return self._by_event

    def rows_of(self, index: int) -> list[int]:
        """Rows of the commands event ``index`` belongs to."""
        event = self.source.event(index) if 0 <= index < len(self.source) else None
        if event is None:
            return []
        if event.sqid is not None and event.cid is not None:
            for row in reversed(self._keys().get((event.sqid, event.cid), ())):
                events = self.commands[row].events
                if events and events[0] > index:
                    continue
                k = bisect.bisect_left(events, index)
                if k < len(events) and events[k] == index:
                    return [row]
        had = self._tied().get(index)
        found = [] if had is None else [had] if isinstance(had, int) else list(had)
        return sorted(found) if found else self._near(index)

    def _near(self, index: int) -> list[int]:
        """Commands started shortly before ``index`` that hold it (events of other kinds)."""
        if self._firsts is None:
            self._firsts = array("q", (c.first for c in self.commands))
        top = bisect.bisect_right(self._firsts, index)
        out = []
        for row in range(top - 1, max(-1, top - 64), -1):
            events = self.commands[row].events
            k = bisect.bisect_left(events, index)
            if k < len(events) and events[k] == index:
                out.append(row)
        return out

    def _mark(self, moment: Moment) -> None:
        rows = frozenset(self.rows_of(moment.index)) if moment.index >= 0 else frozenset()
        self.table.set_current(rows, moment.index)
        if rows and self.table.cursor_row not in rows:
            self.table.cursor_row = min(rows)

    def _summarise(self) -> None:
        if self.analysis is None:
            set_text(self.summary, COMPUTING)
            return
        cmds = self.commands
        if not cmds:
            done = self.analysis.finished
            set_text(self.summary, "no commands in this recording" if done else "no commands yet")
            return
        row = self.table.cursor_row
        if 0 <= row < len(cmds):
            finished = self.analysis.finished
            set_text(self.summary, _describe(cmds[row], row, len(cmds), self.table.at, finished))

    def on_row_view_highlighted(self, message: RowView.Highlighted) -> None:
        message.stop()
        self._summarise()

    def on_row_view_chosen(self, message: RowView.Chosen) -> None:
        message.stop()
        self.follow(message.row)

    # -- actions -----------------------------------------------------------------------------
    def selected(self) -> Command | None:
        row = self.table.cursor_row
        return self.commands[row] if 0 <= row < len(self.commands) else None

    def follow(self, row: int) -> None:
        """Narrow the timeline to the command's events and go to its doorbell."""
        if not 0 <= row < len(self.commands):
            return
        cmd = self.commands[row]
        if not cmd.events:
            self.app.notify(f"{cmd.label} has no events to follow", timeout=3)
            return
        index = cmd.doorbell if cmd.doorbell is not None else cmd.first
        self.post_message(Panel.Follow(array("L", sorted(cmd.events)), cmd.label, index))

    def action_follow(self) -> None:
        if self.analysis is None:
            self.app.notify(COMPUTING, timeout=3)
            return
        self.follow(self.table.cursor_row)

    def action_goto_completion(self) -> None:
        cmd = self.selected()
        if cmd is None:
            return
        if cmd.cqe is not None:
            self.post_message(Panel.Goto(cmd.cqe))
        elif cmd.events:
            self.post_message(Panel.Goto(cmd.events[-1], f"{cmd.label} never completed"))

    def action_show_current(self) -> None:
        rows = self.table.current
        if rows:
            self.table.cursor_row = min(rows)
            self._summarise()
        else:
            self.app.notify("the current event belongs to no command", timeout=3)


def _describe(cmd: Command, row: int, total: int, at: int = -1, finished: bool = True) -> str:
    """One line about a command: its words (as of event ``at``), then where its key
    events are. ``finished``: the run is over (a live session's command without a CQE
    may still complete)."""
    head = f"{row + 1}/{total}  {cmd.label} {cmd.opname or '?'}: "
    phase = phase_at(cmd, at) if at >= 0 else None
    if phase is not None:
        if cmd.cqe is not None:
            final = f"{cmd.status_name} at {cmd.cqe}"
        else:
            final = "never completes" if finished else "no CQE so far"
        head += f"{PHASE_WORDS[phase]} as of event {at} ({final})"
    elif cmd.outstanding:
        head += f"outstanding ({cmd.lost})" if cmd.lost else "outstanding"
    else:
        head += cmd.status_name
    where = [
        f"{name} {pos}"
        for name, pos in (
            ("doorbell", cmd.doorbell),
            ("fetch", cmd.fetch),
            ("cqe", cmd.cqe),
            ("irq", cmd.irq),
            ("reaped", cmd.reaped),
        )
        if pos is not None
    ]
    return head + (f"  │ {' · '.join(where)}" if where else "") + "  │ Enter follows it"
