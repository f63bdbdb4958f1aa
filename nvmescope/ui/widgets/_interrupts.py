"""The Interrupts & PCI panel: interrupt counts, the MSI-X table and PCI configuration space.

Three parts, one row a line, all as of the cursor:

- the interrupts, counted as ``/proc/interrupts`` counts them: per MSI-X
  vector the messages the device sent (``irq_msix``), the host handler's runs
  (``host_irq``), the pending bit and the completion queues that use it; the
  INTx pin and how often it was asserted;
- the MSI-X table where the MSI-X capability says it is (its bytes are BAR0
  bytes of the state): each entry's message address, data and mask bit, and
  the pending bit;
- configuration space as ``lspci -vv`` prints it
  (:func:`~nvmescope.nvme.lspci.format_lspci`) over the bytes some event read
  or wrote; the others read as zero, and the panel says how many are known. A
  hex dump follows with ``··`` for the unknown bytes.

Values the current event changed and values that changed since the last stop
carry the marks of the Registers panel (the legend line says which is which).
``,`` and ``.`` go to the previous and next event about the line under the
cursor: a message on that vector, a write of that table entry, an access of
those configuration bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from nvmescope.events import Event
from nvmescope.nvme.lspci import format_lspci
from nvmescope.nvme.pci import (
    CAP_ID_MSIX,
    CMD_INTX_DISABLE,
    CONFIG_SPACE_SIZE,
    MSIX_CAP,
    MSIX_ENTRY_SIZE,
    MSIX_MC_ENABLE,
    MSIX_MC_FUNCTION_MASK,
    MSIX_MC_TABLE_SIZE,
    MSIX_TABLE_ENTRY,
    MSIX_VECTOR_CTRL_MASK,
    TYPE0_HEADER,
)
from nvmescope.trace.state import State
from nvmescope.ui.source import Moment, Source
from nvmescope.ui.widgets._panel import Panel, set_text
from nvmescope.ui.widgets._registers import (
    NO_MARK,
    MarkedRows,
    Piece,
    Predicate,
    cell,
    glyph,
    legend,
    mark_of,
    marked,
)
from nvmescope.ui.widgets._rowview import RowView

#: the configuration space the panel shows: the PCI header, unless some event went past it
HEADER_SPACE = 256
BYTES_PER_ROW = 16


def field_offsets(layout: Any) -> dict[str, tuple[int, int]]:
    """(offset, size) of each named field of a construct Struct."""
    out: dict[str, tuple[int, int]] = {}
    pos = 0
    for sub in layout.subcons:
        size = sub.sizeof()
        if sub.name:
            out[sub.name] = (pos, size)
        pos += size
    return out


HEADER = field_offsets(TYPE0_HEADER)
MSIX = field_offsets(MSIX_CAP)
ENTRY = field_offsets(MSIX_TABLE_ENTRY)


# -- facts of one state ------------------------------------------------------------------------
def config_word(state: State, name: str, base: int = 0, table: dict | None = None) -> int | None:
    offset, size = (table or HEADER)[name]
    return state.config_value(base + offset, size)


def find_capability(state: State, cap_id: int) -> int | None:
    """Where capability ``cap_id`` is in configuration space, walking the known bytes of the
    list; None when the list (as far as events told it) does not reach it."""
    ptr = config_word(state, "capabilities_ptr")
    where = ptr & ~3 if ptr is not None else 0
    seen: set[int] = set()
    while where and where not in seen:
        seen.add(where)
        got = state.config.get(where + MSIX["cap_id"][0])
        if got is None:
            return None
        if got == cap_id:
            return where
        nxt = state.config.get(where + MSIX["next"][0])
        if nxt is None:
            return None
        where = nxt & ~3
    return None


def capability_list_ends_without(state: State, cap_id: int) -> bool:
    """The events told the whole capability list, to its end, and ``cap_id`` is not in it
    (a function without MSI-X: knob ``msix`` off)."""
    ptr = config_word(state, "capabilities_ptr")
    if ptr is None:
        return False
    where = ptr & ~3
    seen: set[int] = set()
    while where:
        if where in seen:
            return False
        seen.add(where)
        got = state.config.get(where + MSIX["cap_id"][0])
        nxt = state.config.get(where + MSIX["next"][0])
        if got is None or nxt is None or got == cap_id:
            return False
        where = nxt & ~3
    return True


@dataclass(frozen=True)
class Msix:
    """The MSI-X capability as the known configuration bytes tell it."""

    cap: int | None = None
    mc: int | None = None
    table: int | None = None
    pba: int | None = None

    @property
    def size(self) -> int | None:
        return None if self.mc is None else (self.mc & MSIX_MC_TABLE_SIZE) + 1

    @property
    def table_offset(self) -> int | None:
        """Where the table is in BAR0 (None unknown, or in another BAR)."""
        if self.table is None or self.table & 7:
            return None
        return self.table & ~7 & 0xFFFFFFFF


def msix_of(state: State) -> Msix:
    cap = find_capability(state, CAP_ID_MSIX)
    if cap is None:
        return Msix()
    return Msix(
        cap,
        config_word(state, "mc", cap, MSIX),
        config_word(state, "table", cap, MSIX),
        config_word(state, "pba", cap, MSIX),
    )


@dataclass(frozen=True)
class Entry:
    """One MSI-X table entry: from its BAR0 bytes where known, else from the events."""

    address: int | None
    data: int | None
    masked: bool | None
    pending: bool


def entry_of(state: State, msix: Msix, vector: int) -> Entry:
    v = state.msix.get(vector)
    base = msix.table_offset
    address = data = ctrl = None
    if base is not None:
        at = base + vector * MSIX_ENTRY_SIZE
        lo = state.bar0_value(at + ENTRY["msg_addr_lo"][0], 4)
        hi = state.bar0_value(at + ENTRY["msg_addr_hi"][0], 4)
        address = None if lo is None or hi is None else lo | hi << 32
        data = state.bar0_value(at + ENTRY["msg_data"][0], 4)
        ctrl = state.bar0_value(at + ENTRY["vector_ctrl"][0], 4)
    if address is None and v is not None:
        address = v.address
    if data is None and v is not None:
        data = v.data
    masked = bool(ctrl & MSIX_VECTOR_CTRL_MASK) if ctrl is not None else (v.masked if v else None)
    return Entry(address, data, masked, bool(v.pending) if v else False)


def table_vectors(state: State, msix: Msix) -> list[int]:
    """The table entries some event told something about, in order."""
    found = set(state.msix)
    base, size = msix.table_offset, msix.size
    if base is not None and size is not None:
        end = base + size * MSIX_ENTRY_SIZE
        found.update((off - base) // MSIX_ENTRY_SIZE for off in state.bar0 if base <= off < end)
    return sorted(found)


def config_bytes(state: State) -> tuple[bytes, int, int]:
    """(configuration space with unknown bytes as 0, how many bytes are known, its size)."""
    config = state.config
    size = HEADER_SPACE if all(off < HEADER_SPACE for off in config) else CONFIG_SPACE_SIZE
    raw = bytearray(size)
    for off, value in config.items():
        if 0 <= off < size:
            raw[off] = value
    return bytes(raw), len(config), size


@lru_cache(maxsize=256)
def lspci_lines(config: bytes) -> tuple[str, ...]:
    """``lspci -vv`` of the bytes, one line each (tabs as spaces), computed once per bytes."""
    text = format_lspci(config, verbose=2)
    return tuple(line.expandtabs(4) for line in text.rstrip("\n").split("\n"))


def vectors_of(state: State) -> list[int]:
    """Every MSI-X vector the counts show: the ones messages, handlers or queues name."""
    found = set(state.msix) | set(state.host_irqs)
    found.update(q.vector for q in state.cqs.values() if q.vector is not None)
    return sorted(found)


# -- the lines ------------------------------------------------------------------------------------
#: what the help line says on a line with nothing to look for
HELP = "Up/down choose a line; on a vector, an MSI-X entry or config bytes , / . find the events about it."


@dataclass(frozen=True)
class Line:
    pieces: tuple[Piece, ...]
    help: str = HELP
    #: what ``,`` and ``.`` look for from this line, and what to call it
    find: tuple[Predicate, str] | None = None
    mark: int = NO_MARK


def _heading(text: str) -> Line:
    return Line(((text, ("heading",)),), HELP)


def _note(text: str) -> Line:
    return Line((("  " + text, ("muted",)),), HELP)


def message_on(vector: int) -> tuple[Predicate, str]:
    return (
        lambda e: e.kind == "irq_msix" and getattr(e, "vector", None) == vector,
        f"MSI-X message on vector {vector}",
    )


def entry_write(base: int, vector: int) -> tuple[Predicate, str]:
    lo = base + vector * MSIX_ENTRY_SIZE
    hi = lo + MSIX_ENTRY_SIZE

    def test(e: Event) -> bool:
        if e.kind != "mmio_write":
            return False
        addr = e.addr  # type: ignore[attr-defined]
        return addr < hi and addr + e.size > lo  # type: ignore[attr-defined]

    return test, f"write of MSI-X table entry {vector}"


def config_access(lo: int, hi: int) -> tuple[Predicate, str]:
    def test(e: Event) -> bool:
        if e.kind not in ("config_read", "config_write"):
            return False
        off = e.offset  # type: ignore[attr-defined]
        return off < hi and off + e.size > lo  # type: ignore[attr-defined]

    where = f"{lo:03X}h-{hi - 1:03X}h" if hi - lo > 1 else f"{lo:03X}h"
    return test, f"config space access at {where}"


def _intx(e: Event) -> bool:
    return e.kind == "irq_intx"


class InterruptsBuilder:
    """Turns a Moment into the panel's lines (apart from the widget, to be tested and timed)."""

    def lines(self, moment: Moment) -> list[Line]:
        if moment.empty:
            return [_note("no events yet")]
        s, b, p = moment.state, moment.before, moment.since
        return [
            *self.counts(s, b, p),
            Line(()),
            *self.table(s, b, p),
            Line(()),
            *self.config(s, b, p),
        ]

    # -- /proc/interrupts ---------------------------------------------------------------
    def counts(self, s: State, b: State, p: State) -> list[Line]:
        out = [_heading("Interrupts, counted as /proc/interrupts counts them")]
        muted = ("muted",)
        out.append(
            Line(
                (
                    glyph(NO_MARK),
                    *cell("IRQ", 9, muted),
                    *cell("sent", 10, muted, right=True),
                    *cell("handled", 10, muted, right=True),
                    *cell("pending", 9, muted, right=True),
                    ("  used by", muted),
                )
            )
        )
        vectors = vectors_of(s)

        def facts(state: State, vector: int) -> tuple[int, int, str, str]:
            v = state.msix.get(vector)
            cqs = [
                f"CQ{q.qid}"
                for q in sorted(state.cqs.values(), key=lambda q: q.qid)
                if q.vector == vector
            ]
            return (
                v.count if v else 0,
                state.host_irqs.get(vector, 0),
                "yes" if v and v.pending else "no",
                " ".join(cqs) or "-",
            )

        for vector in vectors:
            now, was, then = facts(s, vector), facts(b, vector), facts(p, vector)
            marks = [mark_of(now[i], was[i], then[i]) for i in range(4)]
            row: list[Piece] = [
                glyph(max(marks)),
                *cell(f"MSI-X {vector}", 9, ("name",)),
                *cell(str(now[0]), 10, marked(marks[0], "value"), right=True),
                *cell(str(now[1]), 10, marked(marks[1], "value"), right=True),
                *cell(now[2], 9, marked(marks[2], "value"), right=True),
                ("  ", ()),
                (now[3], marked(marks[3], "words")),
            ]
            out.append(
                Line(
                    tuple(row),
                    f"MSI-X vector {vector}: {now[0]} messages sent by the device, "
                    f"{now[1]} runs of the host's handler.  , / . previous / next message.",
                    message_on(vector),
                    max(marks),
                )
            )
        if not vectors:
            out.append(_note("no MSI-X vector in use yet"))

        def intx(state: State) -> tuple[int, str]:
            pin = {None: "pin unknown", True: "pin asserted", False: "pin deasserted"}
            words = pin[state.intx_asserted]
            cmd = config_word(state, "command")
            if cmd is not None and cmd & CMD_INTX_DISABLE:
                words += ", disabled (Command.DisINTx+)"
            return state.intx_count, words

        now_i, was_i, then_i = intx(s), intx(b), intx(p)
        marks = [mark_of(now_i[i], was_i[i], then_i[i]) for i in range(2)]
        out.append(
            Line(
                (
                    glyph(max(marks)),
                    *cell("INTx", 9, ("name",)),
                    *cell(str(now_i[0]), 10, marked(marks[0], "value"), right=True),
                    *cell("-", 10, ("muted",), right=True),
                    ("  ", ()),
                    (now_i[1], marked(marks[1], "words")),
                ),
                "The INTx pin: how often the device asserted it.  , / . previous / next change.",
                (_intx, "INTx change"),
                max(marks),
            )
        )
        return out

    # -- the MSI-X table ------------------------------------------------------------------
    def table(self, s: State, b: State, p: State) -> list[Line]:
        msix, msix_b, msix_p = msix_of(s), msix_of(b), msix_of(p)
        out = [_heading("MSI-X table")]
        if msix.cap is None and capability_list_ends_without(s, CAP_ID_MSIX):
            out.append(_note("no MSI-X capability: the function interrupts by INTx only"))
        elif msix.cap is None:
            out.append(_note("the MSI-X capability was not read yet: the table's place is unknown"))
        else:

            def control(m: Msix) -> str:
                if m.mc is None:
                    return "Message Control not read yet"
                return (
                    f"Enable{'+' if m.mc & MSIX_MC_ENABLE else '-'} "
                    f"Function Mask{'+' if m.mc & MSIX_MC_FUNCTION_MASK else '-'}, "
                    f"{m.size} entries"
                )

            def where(m: Msix) -> str:
                if m.table is None:
                    return "table offset not read yet"
                if m.table & 7:
                    return f"table in BAR{m.table & 7} at {m.table & ~7 & 0xFFFFFFFF:X}h"
                return f"table in BAR0 at {m.table_offset:X}h"

            now = (control(msix), where(msix))
            was = (control(msix_b), where(msix_b))
            then = (control(msix_p), where(msix_p))
            marks = [mark_of(now[i], was[i], then[i]) for i in range(2)]
            cap_lo = msix.cap
            out.append(
                Line(
                    (
                        glyph(max(marks)),
                        (f"capability at {msix.cap:02X}h: ", ("muted",)),
                        (now[0], marked(marks[0], "words")),
                        ("; ", ()),
                        (now[1], marked(marks[1], "words")),
                    ),
                    "The MSI-X capability in configuration space.  , / . previous / next access.",
                    config_access(cap_lo, cap_lo + MSIX_CAP.sizeof()),
                    max(marks),
                )
            )
        vectors = table_vectors(s, msix)
        if vectors:
            out.append(
                Line(
                    (
                        glyph(NO_MARK),
                        *cell("vector", 6, ("muted",), right=True),
                        ("  ", ()),
                        *cell("message address", 18, ("muted",)),
                        ("  ", ()),
                        *cell("data", 10, ("muted",)),
                        ("  ", ()),
                        *cell("mask", 6, ("muted",)),
                        ("  pending", ("muted",)),
                    )
                )
            )
        for vector in vectors:
            e, was, then = (
                entry_of(s, msix, vector),
                entry_of(b, msix_b, vector),
                entry_of(p, msix_p, vector),
            )
            cells = (
                "?" if e.address is None else f"0x{e.address:016x}",
                "?" if e.data is None else f"0x{e.data:08x}",
                {None: "?", True: "masked", False: "-"}[e.masked],
                "yes" if e.pending else "no",
            )
            before = (was.address, was.data, was.masked, was.pending)
            since = (then.address, then.data, then.masked, then.pending)
            facts = (e.address, e.data, e.masked, e.pending)
            marks = [mark_of(facts[i], before[i], since[i]) for i in range(4)]
            find = (
                entry_write(msix.table_offset, vector)
                if msix.table_offset is not None
                else message_on(vector)
            )
            out.append(
                Line(
                    (
                        glyph(max(marks)),
                        *cell(str(vector), 6, ("name",), right=True),
                        ("  ", ()),
                        *cell(cells[0], 18, marked(marks[0], "value")),
                        ("  ", ()),
                        *cell(cells[1], 10, marked(marks[1], "value")),
                        ("  ", ()),
                        *cell(cells[2], 6, marked(marks[2], "value")),
                        ("  ", ()),
                        (cells[3], marked(marks[3], "value")),
                    ),
                    f"MSI-X table entry {vector}.  , / . previous / next {find[1]}.",
                    find,
                    max(marks),
                )
            )
        if msix.size is not None:
            rest = msix.size - len([v for v in vectors if v < msix.size])
            if rest:
                out.append(_note(f"{rest} more entries: no event read or wrote them yet"))
        elif not vectors:
            out.append(_note("no entry read or written yet"))
        return out

    # -- configuration space ----------------------------------------------------------------
    def config(self, s: State, b: State, p: State) -> list[Line]:
        raw, known, size = config_bytes(s)
        raw_b, _, _ = config_bytes(b)
        raw_p, _, _ = config_bytes(p)
        out = [_heading("PCI configuration space, as lspci -vv shows it")]
        out.append(_note(f"{known} of {size} bytes known (read or written by some event)"))
        if known < size:
            # two short lines, not one: the panel is 80 columns wide or less on a laptop
            out.append(_note("lspci below reads the unknown ones as 00"))
        before, since = set(lspci_lines(raw_b)), set(lspci_lines(raw_p))
        for text in lspci_lines(raw):
            mark = mark_of(text, text if text in before else None, text if text in since else None)
            out.append(
                Line(
                    (glyph(mark), (text, marked(mark, "words"))),
                    "lspci -vv of the known configuration bytes.  , / . previous / next config access.",
                    config_access(0, size),
                    mark,
                )
            )
        out.append(Line(()))
        out.append(_note("hex (·· = no event read or wrote the byte)"))
        cb, cp, cs = b.config, p.config, s.config
        for row in range(0, size, BYTES_PER_ROW):
            if row >= HEADER_SPACE and not any(row + i in cs for i in range(BYTES_PER_ROW)):
                continue
            pieces: list[Piece] = []
            row_mark = NO_MARK
            for i in range(BYTES_PER_ROW):
                off = row + i
                value = cs.get(off)
                mark = mark_of(value, cb.get(off), cp.get(off))
                row_mark = max(row_mark, mark)
                text = "··" if value is None else f"{value:02x}"
                pieces.append((" " if i != 8 else "  ", ()))
                pieces.append((text, marked(mark, "value" if value is not None else "unknown")))
            out.append(
                Line(
                    (glyph(row_mark), (f"{row:03x}:", ("offset",)), *pieces),
                    f"Configuration bytes {row:03X}h-{row + 15:03X}h.  , / . previous / next access of them.",
                    config_access(row, row + BYTES_PER_ROW),
                    row_mark,
                )
            )
        return out


class InterruptView(MarkedRows):
    """The rows of the Interrupts & PCI panel."""


class InterruptsPanel(Panel):
    """See the module docstring."""

    PANEL_ID = "interrupts"
    TITLE = "Interrupts & PCI"
    BINDINGS = [
        Binding(
            "comma",
            "prev_related",
            "prev related",
            tooltip="Previous event about the selected line",
        ),
        Binding(
            "full_stop",
            "next_related",
            "next related",
            tooltip="Next event about the selected line",
        ),
    ]
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        (
            "Previous event about the selected interrupt line",
            "Interrupts & PCI panel: back to the last message on the selected vector, write of "
            "the selected MSI-X entry or access of the selected config bytes (key ,)",
            "prev_related",
        ),
        (
            "Next event about the selected interrupt line",
            "Interrupts & PCI panel: forwards to the next message on the selected vector, write "
            "of the selected MSI-X entry or access of the selected config bytes (key .)",
            "next_related",
        ),
    )

    def __init__(self, source: Source, *, id: str | None = None) -> None:
        super().__init__(source, id=id)
        self.view = InterruptView(id="interrupts-view")
        self.builder = InterruptsBuilder()
        self.lines: list[Line] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="interrupts-legend", markup=False)
        yield self.view
        yield Static("", id="interrupts-help", markup=False)

    def focus_target(self) -> InterruptView:
        return self.view

    def update_moment(self, moment: Moment) -> None:
        self.lines = self.builder.lines(moment)
        self.view.set_rows([line.pieces for line in self.lines])
        set_text(self.query_one("#interrupts-legend", Static), legend(moment, self.view.style))
        self._show_help()

    def row_texts(self) -> list[str]:
        """Every row as plain text (for tests)."""
        return [self.view.row_text(i) for i in range(len(self.lines))]

    def _show_help(self) -> None:
        row = self.view.cursor_row
        text = self.lines[row].help if 0 <= row < len(self.lines) else ""
        set_text(self.query_one("#interrupts-help", Static), text)

    @on(RowView.Highlighted, "#interrupts-view")
    def _highlighted(self, message: RowView.Highlighted) -> None:
        message.stop()
        self._show_help()

    def _find(self, forward: bool) -> None:
        moment = self.moment
        row = self.view.cursor_row
        if moment is None or moment.empty or not 0 <= row < len(self.lines):
            return
        found = self.lines[row].find
        if found is None:
            self.app.notify(
                "nothing to look for from this line: choose a vector or a config line", timeout=3
            )
            return
        predicate, what = found
        start = moment.index + 1 if forward else moment.index - 1
        self.post_message(Panel.Find(predicate, start, forward, what))

    def action_prev_related(self) -> None:
        self._find(False)

    def action_next_related(self) -> None:
        self._find(True)
