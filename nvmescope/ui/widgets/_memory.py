"""The Memory panel: host memory as of the cursor, around the bytes that matter now.

By default the window follows the current event: the bytes it wrote or read
(an SQE the host wrote or the device fetched, a CQE, a DMA, a PRP list the
device walked), or the ring of the queue a doorbell or a Create command names;
an event that touches no memory leaves the window where it was. ``a`` opens an
address field inside the panel (``0x10002000`` or ``268443648``; empty:
follow the event again) and pins the window there. The bytes the current event
wrote are highlighted (and those it read, more softly); ``??`` is a byte no
event has told.

``w`` on the byte under the cursor jumps to the event that last wrote it, as
Pernosco answers "where did this value come from": the host CPU's
``mem_write``, or the device's ``dma_write`` (data, shadow doorbell EventIdx)
and ``cqe_post``. An ``sqe_fetch`` or a ``dma_read`` is the device *reading*,
and an MSI-X message goes to the interrupt controller, not to memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from nvmescope.events import Event
from nvmescope.nvme.commands import CQE_SIZE, SQE_SIZE
from nvmescope.trace.state import PAGE, PAGE_MASK, State
from nvmescope.ui.source import Moment
from nvmescope.ui.widgets._hexview import HexRegion, HexView
from nvmescope.ui.widgets._input import InOrderInput
from nvmescope.ui.widgets._panel import Panel, set_text

#: how much memory the window holds: pages before the focus and in all
WINDOW_BEFORE = 4 * PAGE
WINDOW = 16 * PAGE
#: the cursor this close to an edge of the window moves the window
EDGE = PAGE // 2
ADDRESS_LIMIT = 1 << 64
#: the MSI-X message window: an interrupt controller, not memory
_MSI_LO, _MSI_HI = 0xFEE0_0000, 0xFEF0_0000


# -- what an event does to host memory --------------------------------------------------------
def written_range(event: Event) -> tuple[int, int] | None:
    """(address, length) of host memory ``event`` wrote: the host CPU's ``mem_write``,
    the device's ``dma_write`` and ``cqe_post``; None for every other event."""
    e: Any = event
    kind = event.kind
    if kind == "mem_write":
        return e.addr, len(e.data)
    if kind == "dma_write":
        return e.addr, e.length
    if kind == "cqe_post":
        return e.addr, CQE_SIZE
    return None


def read_range(event: Event) -> tuple[int, int] | None:
    """(address, length) of host memory ``event`` read: ``sqe_fetch``, ``dma_read``,
    ``mem_read``; None for every other event."""
    e: Any = event
    kind = event.kind
    if kind == "sqe_fetch":
        return e.addr, SQE_SIZE
    if kind == "dma_read":
        return e.addr, e.length
    if kind == "mem_read":
        return e.addr, len(e.data)
    return None


def writer_of(address: int) -> Callable[[Event], bool]:
    """A predicate true of an event that wrote host memory at ``address``."""

    def writes(event: Event) -> bool:
        got = written_range(event)
        return got is not None and got[0] <= address < got[0] + got[1]

    return writes


def parse_address(text: str) -> int:
    """``0x10002000`` (hex) or ``268443648`` (decimal), ``_`` allowed between digits.

    ValueError with one line a user can act on for anything else.
    """
    t = text.strip().replace("_", "")
    if not t:
        raise ValueError("type an address: 0x10002000 (hex) or 268443648 (decimal)")
    shown = text.strip()[:40]
    if len(t) > 40:
        raise ValueError("that is too long to be an address")
    if t[:2].lower() == "0x":
        digits = t[2:]
        if not digits or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise ValueError(f"{shown!r} is not a hex address: 0x and hex digits, e.g. 0x10002000")
        value = int(digits, 16)
    elif t.isascii() and t.isdigit():
        value = int(t)
    elif t.isascii() and all(c in "0123456789abcdefABCDEF" for c in t):
        raise ValueError(f"{shown!r}: write a hex address with 0x (0x{t}), a decimal one without")
    else:
        raise ValueError(
            f"{shown!r} is not an address: type 0x10002000 (hex) or 268443648 (decimal)"
        )
    if value >= ADDRESS_LIMIT:
        raise ValueError(f"{shown} is beyond the 64-bit address space")
    return value


def memory_region(state: State, start: int, length: int, label: str = "") -> HexRegion:
    """``length`` bytes of host memory at ``start`` as the state knows them, page by page."""
    data = bytearray()
    known = bytearray()
    all_known = True
    addr = start
    end = start + length
    while addr < end:
        page = addr & PAGE_MASK
        off = addr - page
        n = min(PAGE - off, end - addr)
        got = state.page(page)
        if got is None:
            data += bytes(n)
            known += bytes(n)
            all_known = False
        else:
            raw, flags = got
            data += raw[off : off + n]
            if flags:
                part = flags[off : off + n]
                known += part
                all_known = all_known and part.find(0) == -1
            else:
                known += b"\x01" * n
        addr += n
    return HexRegion(bytes(data), None if all_known else bytes(known), start, start, label)


@dataclass(frozen=True)
class Focus:
    """Where the window goes for an event: the bytes that matter and why."""

    address: int
    length: int
    why: str
    #: the bytes to highlight as written and as read (address, length)
    written: tuple[tuple[int, int], ...] = ()
    read: tuple[tuple[int, int], ...] = ()


def focus_of(event: Event, state: State) -> Focus | None:
    """The memory ``event`` touched, or the ring of the queue it names; None if neither."""
    e: Any = event
    kind = event.kind
    wrote = written_range(event)
    if wrote is not None and not _MSI_LO <= wrote[0] < _MSI_HI:
        what = {"mem_write": "the host wrote", "dma_write": "the device wrote"}.get(kind)
        why = f"{what or 'the device posted a CQE:'} {wrote[1]} B"
        if getattr(e, "purpose", ""):
            why += f" ({e.purpose})"
        return Focus(wrote[0], max(1, wrote[1]), why, written=(wrote,))
    got = read_range(event)
    if got is not None:
        who = "the host read" if kind == "mem_read" else "the device read"
        why = f"{who} {got[1]} B"
        if getattr(e, "purpose", ""):
            why += f" ({e.purpose})"
        elif kind == "sqe_fetch":
            why += f" (SQE of SQ{e.sqid} slot {e.slot})"
        return Focus(got[0], max(1, got[1]), why, read=(got,))
    if kind == "map_prp":
        if e.list_pages:
            first = e.list_pages[0]
            return Focus(first, PAGE - first % PAGE, "the PRP list the device walked")
        if e.segments:
            addr, n = e.segments[0]
            return Focus(addr, n, "the data buffer the PRPs map")
        return None
    if kind == "map_sgl":
        if e.segment_pages:
            return Focus(e.segment_pages[0], 16, "the first SGL segment the device read")
        pieces = [(a, n) for a, n in e.segments if a is not None]
        if pieces:
            return Focus(pieces[0][0], pieces[0][1], "the data buffer the SGL maps")
        return None
    if kind == "prp_list_read":
        return Focus(e.addr, 8 * max(1, len(e.entries)), "the PRP list page the device read")
    if kind == "sgl_segment_read":
        return Focus(e.addr, 16 * max(1, len(e.descriptors)), "the SGL segment the device read")
    ring = _ring_of(event, state)
    if ring is not None:
        return ring
    return None


def _ring_of(event: Event, state: State) -> Focus | None:
    e: Any = event
    kind = event.kind
    if kind == "doorbell_sq" and e.sqid is not None:
        words = f"SQ{e.sqid}: the tail doorbell publishes {_slot_words(e.old_tail, e.new_tail)}"
        return _ring_focus(state.sqs.get(e.sqid), e.old_tail, e.new_tail, SQE_SIZE, words)
    if kind == "doorbell_cq":
        words = f"CQ{e.cqid}: the head doorbell hands back {_slot_words(e.old_head, e.new_head)}"
        return _ring_focus(state.cqs.get(e.cqid), e.old_head, e.new_head, CQE_SIZE, words)
    if kind == "queue_created":
        entry = SQE_SIZE if e.qtype == "sq" else CQE_SIZE
        return Focus(e.addr, e.qsize * entry, f"the ring of I/O {e.qtype.upper()}{e.qid}")
    return None


def _hex(address: int) -> str:
    """An address as the hex view's column prints it: 8 digits at least."""
    return f"{address:#010x}"


def _slot_words(old: int, new: int) -> str:
    return f"slot {old}" if new == old + 1 else f"slots {old}..{new - 1}"


def _ring_focus(q: Any, old: int, new: int, entry_size: int, words: str) -> Focus | None:
    """A doorbell's focus: the first slot it moves over, and every slot it moves over
    (at most 64) marked as read."""
    if q is None or q.addr is None:
        return None
    slots = _slots(old, new, q.qsize or 1)
    moved = tuple((q.addr + s * entry_size, entry_size) for s in slots[:64])
    return Focus(q.addr + (slots[0] if slots else 0) * entry_size, entry_size, words, read=moved)


def _slots(old: int, new: int, size: int) -> list[int]:
    if old == new or size <= 0:
        return []
    count = (new - old) % size
    return [(old + i) % size for i in range(count)]


def where_in_memory(state: State, address: int) -> str:
    """Which queue slot (or nothing) holds ``address``: ``SQ0 slot 13 +3``."""
    for table, entry in ((state.sqs, SQE_SIZE), (state.cqs, CQE_SIZE)):
        for qid, q in sorted(table.items()):
            if q.addr is None or not q.qsize:
                continue
            rel = address - q.addr
            if 0 <= rel < q.qsize * entry:
                return f"{q.qtype.upper()}{qid} slot {rel // entry} +{rel % entry}"
    return ""


class MemoryPanel(Panel):
    """See the module docstring."""

    PANEL_ID = "memory"
    TITLE = "Memory"

    BINDINGS = [
        Binding("w", "writer", "writer", tooltip="Jump to the event that last wrote this byte"),
        Binding("a", "address", "address", tooltip="Show host memory at an address"),
        Binding("f", "follow", "follow", show=False, tooltip="Follow the current event again"),
        Binding("escape", "close_address", "close", show=False),
    ]

    #: the app lists these in the command palette and runs ``panel.run_action(action)``
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        (
            "Jump to the writer of the selected byte",
            "Memory: back to the event that last wrote the byte under the cursor (mem_write, "
            "dma_write, cqe_post)",
            "writer",
        ),
        (
            "Show memory at an address",
            "Memory: type a host address (0x10002000 or decimal); the window stays there",
            "address",
        ),
        (
            "Memory follows the current event",
            "Memory: show the bytes each event touches again (after a typed address)",
            "follow",
        ),
    )

    def __init__(self, source: Any, *, id: str | None = None) -> None:
        super().__init__(source, id=id)
        self.hex = HexView(address_digits=8, id="memory-hex")
        #: the window shown: its first address and length
        self.window: tuple[int, int] | None = None
        #: a typed address pins the window (None: it follows the events)
        self.pinned: int | None = None
        #: what the current event touched (None: nothing)
        self.current: Focus | None = None
        self._window_key: tuple[Any, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="memory-title", markup=False)
        yield self.hex
        yield Static("", id="memory-status", markup=False)
        with Vertical(id="memory-goto"):
            yield InOrderInput(
                placeholder="address: 0x10002000 or 268443648 (Enter: go, empty: follow, Esc)",
                id="memory-address",
                max_length=60,
                select_on_focus=False,
            )
            yield Static("", id="memory-error", markup=False)

    def on_mount(self) -> None:
        self.query_one("#memory-goto").display = False
        self.query_one("#memory-error").display = False
        super().on_mount()

    def focus_target(self) -> HexView:
        return self.hex

    # -- drawing ---------------------------------------------------------------------------
    def update_moment(self, moment: Moment) -> None:
        event = moment.event
        state = moment.state
        self.current = focus_of(event, state) if event is not None else None
        found = self.current
        if self.pinned is not None:
            self._show_window(moment, self.pinned, cursor=None, keep=self.window is not None)
        elif found is not None:
            self._show_window(moment, found.address, cursor=found.address, length=found.length)
        elif self.window is not None:
            self._show_window(moment, self.window[0], cursor=None, keep=True)
        else:
            ring = state.sqs.get(0)
            if ring is not None and ring.addr is not None:
                self._show_window(moment, ring.addr, cursor=ring.addr)
            else:
                self._empty(moment)

    def _empty(self, moment: Moment) -> None:
        self.window = None
        self.hex.set_regions(())
        set_text(
            self.query_one("#memory-title", Static),
            f"No host memory is known as of event {max(0, moment.index)}: a shows an address",
        )
        set_text(self.query_one("#memory-status", Static), "")

    def _show_window(
        self,
        moment: Moment,
        around: int,
        *,
        cursor: int | None,
        length: int = 1,
        keep: bool = False,
    ) -> None:
        state = moment.state
        if keep and self.window is not None:
            start, size = self.window
        else:
            start, size = self._window_around(around, length)
        key = (moment.index, start, size)
        if key != self._window_key:
            old_cursor = self.hex.address_of(self.hex.cursor) if self.hex.byte_count else None
            region = memory_region(state, start, size)
            self.window = (start, size)
            self._window_key = key
            target = (
                cursor if cursor is not None else (around if old_cursor is None else old_cursor)
            )
            target = min(max(target, start), start + size - 1)
            self.hex.set_regions((region,), cursor=target - start)
            if cursor is not None:
                self.hex.show_offset(target - start, top=True)
        self._highlight(moment)
        self._retitle(moment)

    def _window_around(self, address: int, length: int) -> tuple[int, int]:
        page = address & PAGE_MASK
        start = max(0, page - WINDOW_BEFORE)
        size = max(WINDOW, min(4 * WINDOW, (address + length - start + PAGE - 1) & PAGE_MASK))
        size = min(size, ADDRESS_LIMIT - start)
        return start, size

    def _highlight(self, moment: Moment) -> None:
        if self.window is None:
            return
        start, size = self.window
        info = self.current

        def clip(ranges: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
            out = []
            for addr, n in ranges:
                lo, hi = max(addr, start), min(addr + n, start + size)
                if hi > lo:
                    out.append((lo - start, hi - start))
            return out

        self.hex.set_highlight("write", clip(info.written) if info is not None else [])
        self.hex.set_highlight("read", clip(info.read) if info is not None else [])

    def _retitle(self, moment: Moment) -> None:
        if self.window is None:
            return
        start, size = self.window
        info = self.current
        if self.pinned is not None:
            head = f"@{self.pinned:#x} (typed; f follows the events)"
        elif info is not None:
            head = f"@{info.address:#x}: {info.why}"
        else:
            head = "this event touches no memory"
        set_text(
            self.query_one("#memory-title", Static),
            f"{head} · {_hex(start)}..{_hex(start + size)} as of event {moment.index}",
        )
        self._status(moment)

    def _status(self, moment: Moment) -> None:
        if not self.hex.byte_count:
            return
        addr = self.hex.address_of(self.hex.cursor)
        if addr is None:
            return
        value = self.hex.byte_at(self.hex.cursor)
        shown = "??" if value is None else f"{value:#04x}"
        where = where_in_memory(moment.state, addr)
        text = f"{addr:#x} = {shown}" + (f" · {where}" if where else "")
        set_text(self.query_one("#memory-status", Static), text + " · w: who wrote it · a: address")

    # -- moving ----------------------------------------------------------------------------
    @on(HexView.CursorMoved, "#memory-hex")
    def _moved(self, message: HexView.CursorMoved) -> None:
        message.stop()
        if self.moment is None or self.window is None or message.address is None:
            return
        start, size = self.window
        near_start = message.address - start < EDGE and start > 0
        near_end = start + size - message.address <= EDGE and start + size < ADDRESS_LIMIT
        if near_start or near_end:
            # slide the window so that the cursor can go on, its line staying where it is
            row = self.hex.line_of(self.hex.cursor) - self.hex.scroll_offset.y
            self._window_key = None
            self.window = self._window_around(message.address, 1)
            self._show_window(self.moment, message.address, cursor=None, keep=True)
            line = self.hex.line_of(message.address - self.window[0])
            self.hex.scroll_to(y=max(0, line - row), animate=False, immediate=True)
        else:
            self._status(self.moment)

    def action_writer(self) -> None:
        moment = self.moment
        if moment is None or moment.event is None or not self.hex.byte_count:
            return
        addr = self.hex.address_of(self.hex.cursor)
        if addr is None:
            return
        if writer_of(addr)(moment.event):
            self.notify(f"event {moment.index} (this one) wrote {addr:#x}", timeout=3)
            return
        self.post_message(
            Panel.Find(
                writer_of(addr), start=moment.index, forward=False, what=f"writer of {addr:#x}"
            )
        )

    def action_address(self) -> None:
        box = self.query_one("#memory-goto")
        box.display = True
        field = self.query_one("#memory-address", Input)
        if self.pinned is not None:
            field.value = f"{self.pinned:#x}"
        field.focus()

    def action_close_address(self) -> None:
        self._close_address()
        self.hex.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "close_address":
            # Escape belongs to the app (stop, clear) unless the address field is open
            return bool(self.query_one("#memory-goto").display)
        return True

    def action_follow(self) -> None:
        self.pinned = None
        self._window_key = None
        if self.moment is not None:
            self.update_moment(self.moment)

    def _close_address(self) -> None:
        self.query_one("#memory-goto").display = False
        self._error("")

    def _error(self, message: str) -> None:
        error = self.query_one("#memory-error", Static)
        set_text(error, message)
        error.display = bool(message)

    @on(Input.Changed, "#memory-address")
    def _typing(self, event: Input.Changed) -> None:
        event.stop()
        self._error("")

    @on(Input.Submitted, "#memory-address")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            self._close_address()
            self.action_follow()
            self.hex.focus()
            return
        try:
            address = parse_address(event.value)
        except ValueError as exc:
            self._error(str(exc))
            return
        self._close_address()
        self.go_to_address(address)
        self.hex.focus()

    def go_to_address(self, address: int) -> None:
        """Pin the window at host ``address``, the cursor on that byte."""
        self.pinned = address
        self._window_key = None
        if self.moment is not None:
            self._show_window(self.moment, address, cursor=address)


__all__ = [
    "Focus",
    "MemoryPanel",
    "focus_of",
    "memory_region",
    "parse_address",
    "read_range",
    "where_in_memory",
    "writer_of",
    "written_range",
]
