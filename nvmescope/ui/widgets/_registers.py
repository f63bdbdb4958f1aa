"""The Registers panel: every controller register and doorbell as of the cursor, decoded.

One row per line: a register's header (name, BAR0 offset, value, what it is)
and under it one row per bit field, decoded in words by
:func:`~nvmescope.nvme.decode.decode_register` (the field declarations of
:mod:`nvmescope.nvme.registers` are the only description of the fields). The
doorbells of every queue that exists as of the cursor follow, at the offsets
CAP.DSTRD gives them. A register no event has told yet reads "not read yet".

Two marks, as gdb's TUI and IDA show them: ``◆`` (and a bright background) on
what the current event changed (``moment.before`` against ``moment.state``),
``◇`` on what changed since the cursor's last stop (``moment.since``). The
legend line on top says so. The row under the cursor selects a register
(:attr:`RegistersPanel.selected_register`, the spec name the filter language
knows: ``cc``, ``aqa``, ``sq1tdbl``); ``,`` and ``.`` go to the previous and
next write of it, Enter folds its fields. When an event reads or writes a
register (or rings a doorbell, or changes one, as CSTS on ``ctrl_state``), the
cursor goes to it, on the first field the event changed, and the register is
scrolled on screen; so after ``,`` or ``.`` the selection is still the register
whose writes you are walking.

:class:`MarkedRows` is the row list both this panel and the Interrupts & PCI
panel draw with: rows of styled pieces, the two marks, a cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.strip import Strip

from nvmescope.events import Event
from nvmescope.nvme.decode import FieldNode, decode_register
from nvmescope.nvme.registers import (
    BY_NAME,
    REGISTERS,
    BitField,
    Register,
    cq_head_doorbell,
    register_name,
    sq_tail_doorbell,
)
from nvmescope.trace.state import State
from nvmescope.ui.source import Moment, Source
from nvmescope.ui.widgets._panel import Panel, set_text
from nvmescope.ui.widgets._rowview import RowView
from nvmescope.ui.widgets._textlines import TextLines

#: the marks: changed by the current event, changed since the last stop of the cursor
NOW_GLYPH, SINCE_GLYPH = "◆", "◇"
NO_MARK, SINCE, NOW = 0, 1, 2
UNKNOWN = "not read yet"
#: how many drawn registers the builder keeps (a few states of each of the twelve)
REGISTER_CACHE = 256

Predicate = Callable[[Event], bool]
#: a piece of a row: its text and the names of its styles (combined left to right)
Piece = tuple[str, tuple[str, ...]]


def mark_of(now: object, before: object, since: object) -> int:
    """NOW when the current event changed a value, SINCE when only the last stop differs."""
    if now != before:
        return NOW
    if now != since:
        return SINCE
    return NO_MARK


def glyph(mark: int) -> Piece:
    if mark == NOW:
        return (f"{NOW_GLYPH} ", ("glyph-now",))
    if mark == SINCE:
        return (f"{SINCE_GLYPH} ", ("glyph-since",))
    return ("  ", ())


def marked(mark: int, *styles: str) -> tuple[str, ...]:
    """``styles`` and the highlight of ``mark`` on top."""
    if mark == NOW:
        return (*styles, "now")
    if mark == SINCE:
        return (*styles, "since")
    return styles


def cell(text: str, width: int, styles: tuple[str, ...], right: bool = False) -> list[Piece]:
    """``text`` padded to ``width``: the padding is left unstyled so a highlight covers only
    the text."""
    pad = (" " * max(0, width - len(text)), ())
    return [pad, (text, styles)] if right else [(text, styles), pad]


def legend(moment: Moment, styles: Callable[[str], Style]) -> Text:
    """The line that says what the two marks mean, as of ``moment``."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if moment.empty:
        text.append("no events yet")
        return text
    text.append(f" {NOW_GLYPH} ", styles("glyph-now") + styles("now"))
    text.append(f" changed by event {moment.index}   ")
    text.append(f" {SINCE_GLYPH} ", styles("glyph-since") + styles("since"))
    last = moment.since_index
    if last == moment.index - 1:
        text.append(" since the last stop (the event before)")
    else:
        text.append(f" since the last stop (event {max(0, last)})")
    return text


class MarkedRows(RowView):
    """Rows of styled pieces with the two change marks and a cursor (see the module docstring).

    ``set_rows`` takes, for each row, its pieces: ``(text, style names)``; the
    style names are component classes ``marks--<name>`` (registers.tcss).
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        f"marks--{name}"
        for name in (
            "now",
            "since",
            "glyph-now",
            "glyph-since",
            "name",
            "offset",
            "value",
            "unknown",
            "field",
            "bits",
            "words",
            "title",
            "was",
            "tag",
            "heading",
            "muted",
            "cursor",
            "cursor-blurred",
        )
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pieces: list[Sequence[Piece]] = []

    def set_rows(self, pieces: list[Sequence[Piece]]) -> None:
        """New rows; only those whose pieces changed are drawn again."""
        old = self.pieces
        self.pieces = pieces
        if len(old) != len(pieces):
            self.set_row_count(len(pieces))
            self.refresh()
            return
        self.refresh_lines(
            row for row, (was, now) in enumerate(zip(old, pieces, strict=True)) if was != now
        )

    def row_key(self, row: int) -> Hashable:
        return (row, tuple(self.pieces[row]))

    def style(self, name: str) -> Style:
        """The rich style of component class ``marks--<name>``."""
        return self._style(name)

    def row_text(self, row: int) -> str:
        """Row ``row`` as plain text (what a test or a screen reader reads)."""
        return "".join(text for text, _ in self.pieces[row]).rstrip()

    def render_row(self, row: int, width: int, selected: bool) -> Strip:
        cursor = None
        if selected:
            cursor = self.style("cursor" if self.has_focus else "cursor-blurred")
        segments = []
        for text, names in self.pieces[row]:
            style = Style()
            for name in names:
                style += self.style(name)
            if cursor is not None:
                # the cursor's colours, but a change mark stays visible on the cursor row
                highlight = "now" in names or "since" in names
                style = cursor + style if highlight else style + cursor
            segments.append(Segment(text, style))
        strip = Strip(segments).crop(0, width)
        return strip.adjust_cell_length(width, cursor if cursor is not None else None)


# -- what the registers are as of one state ---------------------------------------------------
def known_bytes(state: State, offset: int, size: int) -> tuple[int, int]:
    """(value with unknown bytes as 0, a bit per byte that is known) of BAR0 bytes."""
    value = known = 0
    bar0 = state.bar0
    for i in range(size):
        b = bar0.get(offset + i)
        if b is not None:
            value |= b << (8 * i)
            known |= 1 << i
    return value, known


def field_value(f: BitField, value: int, known: int) -> int | None:
    """The field's value, None unless every byte it touches is known."""
    lo, hi = f.lo // 8, f.hi // 8
    need = ((1 << (hi - lo + 1)) - 1) << lo
    return f.get(value) if known & need == need else None


@lru_cache(maxsize=4096)
def decoded(name: str, value: int) -> tuple[str, dict[str, FieldNode]]:
    """(the register's meaning, its fields by name) of a value: decoded once per value."""
    root = decode_register(name, value)
    return root.meaning, {child.name: child for child in root.children}


def words_of(node: FieldNode) -> str:
    """What the field's value means, without the field's title in front."""
    meaning = node.meaning
    if node.title and meaning.startswith(node.title):
        return meaning[len(node.title) :].lstrip(": ")
    return meaning


def hex_value(value: int, known: int, size: int) -> str:
    """``0x00460061``; ``??`` for the bytes no event told."""
    if known == (1 << size) - 1:
        return f"0x{value:0{2 * size}x}"
    digits = "".join(
        f"{(value >> (8 * i)) & 0xFF:02x}" if known >> i & 1 else "??"
        for i in range(size - 1, -1, -1)
    )
    return f"0x{digits}"


def small(value: int) -> str:
    return str(value) if 0 <= value < 10 else f"{value:#x}"


def dstrd_of(state: State) -> int | None:
    """CAP.DSTRD, None while CAP's high half is unknown."""
    f = BY_NAME["cap"].field("dstrd")
    value, known = known_bytes(state, BY_NAME["cap"].offset, 8)
    return field_value(f, value, known)


def doorbell_value(state: State, offset: int) -> int | None:
    """What the doorbell at BAR0 ``offset`` shows as of ``state``: its queue's tail (SQ)
    or head (CQ), as the panel's doorbell rows do; None if no queue's doorbell is there."""
    dstrd = dstrd_of(state) or 0
    for qid, sq in state.sqs.items():
        if sq_tail_doorbell(qid, dstrd) == offset:
            return int(sq.tail)
    for qid, cq in state.cqs.items():
        if cq_head_doorbell(qid, dstrd) == offset:
            return int(cq.head)
    return None


@dataclass(frozen=True)
class Line:
    """One row of the panel: the register it belongs to and, on a field row, the field."""

    reg: str
    field: str
    pieces: tuple[Piece, ...]
    mark: int
    help: str
    #: the current event reads or writes this register (on its header line)
    accessed: bool = False


def write_predicate(reg: str) -> tuple[Predicate, str] | None:
    """An event test that matches a write of register ``reg`` (a 64-bit register's 4-byte
    halves too; a doorbell's ``doorbell_sq``/``doorbell_cq``), and what to call it."""
    register = BY_NAME.get(reg)
    if register is not None:
        lo, hi = register.offset, register.offset + register.size

        def writes(e: Event) -> bool:
            if e.kind != "mmio_write":
                return False
            addr = e.addr  # type: ignore[attr-defined]
            return addr < hi and addr + e.size > lo  # type: ignore[attr-defined]

        return writes, f"write of {reg.upper()}"
    if reg.startswith("sq") and reg.endswith("tdbl") and reg[2:-4].isdigit():
        sqid = int(reg[2:-4])
        return (lambda e: e.kind == "doorbell_sq" and e.sqid == sqid), f"write of {reg.upper()}"
    if reg.startswith("cq") and reg.endswith("hdbl") and reg[2:-4].isdigit():
        cqid = int(reg[2:-4])
        return (
            lambda e: e.kind == "doorbell_cq" and getattr(e, "cqid", None) == cqid
        ), f"write of {reg.upper()}"
    return None


def accessed(event: Event | None, reg: Register) -> str:
    """``read`` or ``written`` when the current event accessed ``reg``, else ``""``."""
    if event is None or event.kind not in ("mmio_read", "mmio_write"):
        return ""
    addr, size = event.addr, event.size  # type: ignore[attr-defined]
    if addr < reg.offset + reg.size and addr + size > reg.offset:
        return "read" if event.kind == "mmio_read" else "written"
    return ""


class RegistersBuilder:
    """Turns a Moment into the panel's lines (kept apart from the widget to be tested and timed)."""

    def __init__(self) -> None:
        #: registers whose fields are folded away
        self.folded: set[str] = set()
        #: a register's lines by everything they depend on (most steps change no register)
        self._drawn: dict[tuple[object, ...], list[Line]] = {}

    def lines(self, moment: Moment) -> list[Line]:
        out: list[Line] = []
        state, before, since = moment.state, moment.before, moment.since
        for reg in REGISTERS:
            out.extend(self.register(reg, state, before, since, moment.event))
        out.extend(self.doorbells(state, before, since, moment.event))
        return out

    def register(
        self, reg: Register, state: State, before: State, since: State, event: Event | None
    ) -> list[Line]:
        value, known = known_bytes(state, reg.offset, reg.size)
        was = known_bytes(before, reg.offset, reg.size)
        then = known_bytes(since, reg.offset, reg.size)
        how = accessed(event, reg)
        key = (reg.name, value, known, was, then, how, reg.name in self.folded)
        out = self._drawn.get(key)
        if out is None:
            out = self._register(reg, value, known, was, then, how)
            if len(self._drawn) >= REGISTER_CACHE:
                del self._drawn[next(iter(self._drawn))]
            self._drawn[key] = out
        return out

    def _register(
        self,
        reg: Register,
        value: int,
        known: int,
        was: tuple[int, int],
        then: tuple[int, int],
        how: str,
    ) -> list[Line]:
        head_mark = mark_of((value, known), was, then)
        name = reg.name.upper()
        meaning, fields = decoded(reg.name, value) if known else (reg.long_name, {})
        folded = reg.name in self.folded
        pieces: list[Piece] = [
            glyph(head_mark),
            *cell(name, 8, marked(head_mark, "name")),
            (f" {reg.offset:>4X}h  ", ("offset",)),
        ]
        if known:
            pieces.append((hex_value(value, known, reg.size), marked(head_mark, "value")))
        else:
            pieces.append((UNKNOWN, marked(head_mark, "unknown")))
        if head_mark:
            old = was if head_mark == NOW else then
            old_text = hex_value(old[0], old[1], reg.size) if old[1] else "unknown"
            pieces.append((f" was {old_text}", ("was",)))
        if how:
            pieces.append((f" ◂ {how}", ("tag",)))
        pieces.append(
            ("  " + (meaning if known == (1 << reg.size) - 1 else reg.long_name), ("words",))
        )
        if folded and known:
            pieces.append((f"  (+{len(reg.fields)} fields: Enter)", ("muted",)))
        help_text = (
            f"{name} at {reg.offset:X}h, {reg.size * 8} bits: {reg.long_name}."
            f"  , / . previous / next write of {name}.  Enter folds its fields."
        )
        out = [Line(reg.name, "", tuple(pieces), head_mark, help_text, bool(how))]
        if not known or folded:
            return out
        for f in sorted(reg.fields, key=lambda f: f.lo):
            fv = field_value(f, value, known)
            old = field_value(f, *was)
            last = field_value(f, *then)
            mark = mark_of(fv, old, last)
            node = fields.get(f.name)
            bits = f"{f.hi}:{f.lo}" if f.width > 1 else f"{f.lo}"
            if fv is None or node is None:
                val, words, title = "?", UNKNOWN, f.meaning
            else:
                val, words, title = small(fv), words_of(node), node.title or f.meaning
            row: list[Piece] = [
                glyph(mark),
                ("  ", ()),
                *cell(f.name.upper(), 7, marked(mark, "field")),
                (f"{bits:>6}", ("bits",)),
                *cell(val, 11, marked(mark, "value" if fv is not None else "unknown"), right=True),
                ("  ", ()),
            ]
            was_piece: list[Piece] = []
            if mark:
                prev = old if mark == NOW else last
                was_piece.append((f" (was {'unknown' if prev is None else small(prev)})", ("was",)))
            if words and words != title:
                row += [(words, ("words",)), *was_piece, (f"  · {title}", ("title",))]
            else:
                row += [(title, ("words",)), *was_piece]
            full = (
                node.meaning if node is not None and fv is not None else f"{f.meaning}: {UNKNOWN}"
            )
            where = f"bits {f.hi}:{f.lo}" if f.width > 1 else f"bit {f.lo}"
            help_text = f"{name}.{f.name.upper()}, {where}, {f.access}: {full}"
            out.append(Line(reg.name, f.name, tuple(row), mark, help_text))
        return out

    def doorbells(
        self, state: State, before: State, since: State, event: Event | None
    ) -> list[Line]:
        dstrd = dstrd_of(state)
        stride = 0 if dstrd is None else dstrd
        where = "" if dstrd is not None else "?"
        rows: list[tuple[int, str, int, str]] = []
        for qid in state.sqs:
            rows.append((sq_tail_doorbell(qid, stride), "sq", qid, "tail"))
        for qid in state.cqs:
            rows.append((cq_head_doorbell(qid, stride), "cq", qid, "head"))
        out: list[Line] = []
        for offset, qtype, qid, end in sorted(rows):
            name = register_name(offset, 4, stride)
            q = (state.sqs if qtype == "sq" else state.cqs)[qid]
            value = q.tail if qtype == "sq" else q.head

            def pointer(s: State, qtype: str = qtype, qid: int = qid) -> int | None:
                got = (s.sqs if qtype == "sq" else s.cqs).get(qid)
                if got is None:
                    return None
                return got.tail if qtype == "sq" else got.head

            old, last = pointer(before), pointer(since)
            mark = mark_of(value, old, last)
            long = f"{'Submission' if qtype == 'sq' else 'Completion'} Queue {qid} {end.title()} Doorbell"
            size = f", {q.qsize} entries" if q.qsize else ""
            pieces: list[Piece] = [
                glyph(mark),
                *cell(name.upper(), 8, marked(mark, "name")),
                (f" {offset:>4X}h{where:<1} ", ("offset",)),
                (f"0x{value:08x}", marked(mark, "value")),
            ]
            if mark:
                prev = old if mark == NOW else last
                pieces.append((f" was {'no queue' if prev is None else prev}", ("was",)))
            kind = "doorbell_sq" if qtype == "sq" else "doorbell_cq"
            hit = False
            if event is not None and event.kind == kind:
                hit = (event.sqid if qtype == "sq" else getattr(event, "cqid", None)) == qid
                if hit:
                    ignored = getattr(event, "ignored", False)
                    pieces.append((" ◂ written, ignored" if ignored else " ◂ written", ("tag",)))
            pieces.append((f"  {long}: {end} {value}{size}", ("words",)))
            note = "" if dstrd is not None else " (CAP.DSTRD not read yet: offset assumes 0)"
            help_text = (
                f"{name.upper()} at {offset:X}h{note}: {long}."
                f"  , / . previous / next write of {name.upper()}."
            )
            out.append(Line(name, "", tuple(pieces), mark, help_text, hit))
        return out


class RegisterView(MarkedRows):
    """The rows of the Registers panel."""


class RegistersPanel(Panel):
    """See the module docstring."""

    PANEL_ID = "registers"
    TITLE = "Registers"
    BINDINGS = [
        Binding(
            "comma", "prev_write", "prev write", tooltip="Previous write of the selected register"
        ),
        Binding(
            "full_stop", "next_write", "next write", tooltip="Next write of the selected register"
        ),
    ]
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        (
            "Previous write of the selected register",
            "Back to the last event before the cursor that wrote the register (or rang the "
            "doorbell) under the Registers panel's cursor (key ,)",
            "prev_write",
        ),
        (
            "Next write of the selected register",
            "Forwards to the next event after the cursor that writes the register (or rings "
            "the doorbell) under the Registers panel's cursor (key .)",
            "next_write",
        ),
    )

    def __init__(self, source: Source, *, id: str | None = None) -> None:
        super().__init__(source, id=id)
        self.view = RegisterView(id="registers-view")
        self.builder = RegistersBuilder()
        self.lines: list[Line] = []
        #: (register, field) under the cursor: kept when rows come and go
        self._selected: tuple[str, str] = ("cap", "")

    def compose(self) -> ComposeResult:
        yield TextLines(id="registers-legend")
        yield self.view
        yield TextLines(id="registers-help")

    def focus_target(self) -> RegisterView:
        return self.view

    # -- what is selected ----------------------------------------------------------------------
    @property
    def selected_register(self) -> str:
        """The spec name of the register under the cursor (``cc``, ``asq``, ``sq1tdbl``)."""
        return self._selected[0]

    def select(self, reg: str, field: str = "") -> None:
        """Put the cursor on register ``reg`` (its field ``field``)."""
        self._selected = (reg, field)
        self._place_cursor()

    def _place_cursor(self) -> None:
        reg, field = self._selected
        row = None
        for i, line in enumerate(self.lines):
            if line.reg == reg and line.field == field:
                row = i
                break
            if line.reg == reg and row is None:
                row = i
        if row is None:
            row = min(self.view.cursor_row, max(0, len(self.lines) - 1))
            if self.lines:
                line = self.lines[row]
                self._selected = (line.reg, line.field)
        if row != self.view.cursor_row:
            self.view.cursor_row = row
        self._show_help()

    def _show_help(self) -> None:
        row = self.view.cursor_row
        text = self.lines[row].help if 0 <= row < len(self.lines) else ""
        set_text(self.query_one("#registers-help", TextLines), text)

    @on(RowView.Highlighted, "#registers-view")
    def _highlighted(self, message: RowView.Highlighted) -> None:
        message.stop()
        if 0 <= message.row < len(self.lines):
            line = self.lines[message.row]
            self._selected = (line.reg, line.field)
        self._show_help()

    @on(RowView.Chosen, "#registers-view")
    def _chosen(self, message: RowView.Chosen) -> None:
        message.stop()
        if not 0 <= message.row < len(self.lines):
            return
        reg = self.lines[message.row].reg
        if reg not in BY_NAME:
            return
        self.builder.folded.symmetric_difference_update({reg})
        self._selected = (reg, "")
        if self.moment is not None:
            self.update_moment(self.moment)

    # -- drawing --------------------------------------------------------------------------------
    def update_moment(self, moment: Moment) -> None:
        self.lines = self.builder.lines(moment)
        self.view.set_rows([line.pieces for line in self.lines])
        set_text(self.query_one("#registers-legend", TextLines), legend(moment, self.view.style))
        follow = self._follow()
        if follow is not None:
            self._selected = follow
        self._place_cursor()
        self._reveal(follow[0] if follow is not None else None)

    def _follow(self) -> tuple[str, str] | None:
        """Where the cursor goes: the register this event reads or writes (else the first one
        it changed), on the first field it changed; None when it touches no register."""
        lines = self.lines
        reg = next((line.reg for line in lines if line.accessed), None)
        if reg is None:
            reg = next((line.reg for line in lines if line.mark == NOW and not line.field), None)
        if reg is None:
            return None
        changed = next(
            (line for line in lines if line.reg == reg and line.field and line.mark == NOW), None
        )
        if changed is not None:
            return reg, changed.field
        if self._selected[0] == reg:
            return self._selected
        return reg, ""

    def _reveal(self, reg: str | None, tries: int = 8) -> None:
        """Scroll so that the cursor row is on screen and, given ``reg``, the register's header
        and as many of its fields as fit."""
        view = self.view
        height = view.scrollable_content_region.height
        if height <= 0 or (view.virtual_size.height > height and not view.allow_vertical_scroll):
            # not laid out for these rows yet (scrolling would be refused): once it is
            if tries:
                self.call_after_refresh(self._reveal, reg, tries - 1)
            return
        cursor = view.cursor_row
        rows = [i for i, line in enumerate(self.lines) if line.reg == reg] or [cursor]
        first, last = min(rows[0], cursor), max(rows[-1], cursor)
        top = view.scroll_offset.y
        if first >= top and last < top + height:
            return
        if last - first < height:  # the whole block fits: scroll as little as it takes
            new_top = first if first < top else last - height + 1
        else:  # from its header down, keeping the cursor row in view
            new_top = max(first, cursor - height + 1)
        view.scroll_to(y=new_top, animate=False, immediate=True)

    def row_texts(self) -> list[str]:
        """Every row as plain text (for tests)."""
        return [self.view.row_text(i) for i in range(len(self.lines))]

    # -- keys ------------------------------------------------------------------------------------
    def _find_write(self, forward: bool) -> None:
        moment = self.moment
        if moment is None or moment.empty:
            return
        found = write_predicate(self.selected_register)
        if found is None:
            self.app.notify(f"{self.selected_register} is not a register", timeout=3)
            return
        predicate, what = found
        start = moment.index + 1 if forward else moment.index - 1
        self.post_message(Panel.Find(predicate, start, forward, what))

    def action_prev_write(self) -> None:
        self._find_write(False)

    def action_next_write(self) -> None:
        self._find_write(True)
