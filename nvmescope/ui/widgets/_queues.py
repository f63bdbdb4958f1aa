"""The Queues panel: every SQ and CQ that exists as of the cursor, drawn as a ring of slots.

Each queue is a block of lines::

    SQ1 -> CQ1  8 entries  @0x10003000  head 3  tail 6  3 published, not fetched
         0  1  2  3  4  5  6  7
         ·  ·  ·  ■  ■  ■  ·  ·
                  H        T

    CQ1 <- SQ1  8 entries  @0x10002000  vector 1  head 7  tail 7->0  phase 1->0
        1 posted, not consumed  ◆ device posted a CQE to slot 7 with P=1
         0  1  2  3  4  5  6  7
         1  1  1  1  1  1  1  1          <- each slot's P bit as it is in memory (? unknown)
         T                    H
        the tail wrapped 7->0: the phase the device writes flips 1->0
        slot 0 holds P=1: the next CQE there gets P=0, and the flip tells the host it is new

Filled slots are those from the head up to the tail: for an SQ, commands the host
published (tail doorbell) that the device has not fetched; for a CQ, completions the
device posted that the host has not consumed (head doorbell). What the current event
changed (the slot fetched, the CQE posted, the SQE the host wrote, head or tail moved,
the phase flipped) is marked. A queue too long for the width (1024 entries, say) shows
a window of slots around its head, tail and the ring cursor; ``…`` marks the slots left
out, the slot numbers say which.

The ring cursor is one slot of one queue: the arrow keys move it (left/right a slot,
up/down a queue), ``h``/``t`` put it on the head/tail, ``e`` on the slot the current
event touched; Enter (or a click on the cursor's slot) decodes that slot's SQE or CQE
with the layout's one declaration (``decode("sqe"/"cqe", ...)``) under the rings, as
of the cursor; Enter on the decoded slot closes it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Static

from nvmescope.nvme.commands import unpack_cqe
from nvmescope.nvme.decode import FieldNode, decode, format_value
from nvmescope.trace.state import PAGE, PAGE_MASK, Queue, State
from nvmescope.ui.source import Moment, Source
from nvmescope.ui.widgets._panel import Panel, set_text
from nvmescope.ui.widgets._rowview import ComponentStyles, RowView, SteadyScroll

#: left margin of the ring lines
INDENT = 4
#: the narrowest slot cell
MIN_CELL = 3
PENDING = "■"
FREE = "·"
UNKNOWN = "?"
ELIDED = "…"
#: a doorbell that moves more than this many slots marks only its two ends
MAX_MARKED = 4096
#: rings whose lines are kept, drawn (a few steps' worth of every queue)
RING_CACHE = 256

QueueKey = tuple[str, int]


# -- the model: what a ring shows, from the states alone -------------------------------------
@dataclass
class Ring:
    """One queue as of a moment: where its head and tail are, which slots are filled,
    what the current event changed (see the module docstring)."""

    qtype: str
    qid: int
    queue: Queue
    before: Queue | None
    #: slots the current event touched (fetched, posted, written, published, released)
    changed: set[int] = field(default_factory=set)
    #: the one slot the event is about (for ``e``), if any
    touched: int | None = None
    #: what the event did to this queue, in words ("" when nothing)
    what: str = ""
    #: the CQ this SQ completes to / the SQs that complete to this CQ
    partners: tuple[int, ...] = ()

    @property
    def key(self) -> QueueKey:
        return (self.qtype, self.qid)

    @property
    def name(self) -> str:
        return f"{self.qtype.upper()}{self.qid}"

    @property
    def size(self) -> int | None:
        return self.queue.qsize

    @property
    def head(self) -> int:
        return self.queue.head

    @property
    def tail(self) -> int:
        return self.queue.tail

    @property
    def count(self) -> int:
        """Filled slots: published and not fetched (SQ), posted and not consumed (CQ)."""
        size = self.size
        return (self.tail - self.head) % size if size else 0

    def filled(self, slot: int) -> bool:
        size = self.size
        if not size:
            return False
        return (slot - self.head) % size < (self.tail - self.head) % size

    def head_moved(self) -> tuple[int, int] | None:
        b = self.before
        return (b.head, self.head) if b is not None and b.head != self.head else None

    def tail_moved(self) -> tuple[int, int] | None:
        b = self.before
        return (b.tail, self.tail) if b is not None and b.tail != self.tail else None

    def phase_flipped(self) -> tuple[int, int] | None:
        b = self.before
        if self.qtype != "cq" or b is None or b.phase == self.queue.phase:
            return None
        return (b.phase, self.queue.phase)

    def entry(self, state: State, slot: int) -> bytes | None:
        """The slot's bytes as of the moment (None when memory is not known)."""
        q = self.queue
        if q.addr is None or q.qsize is None or not 0 <= slot < q.qsize:
            return None
        return state.read_mem(q.addr + slot * q.entry_size, q.entry_size)

    def pbit(self, state: State, slot: int) -> int | None:
        """A CQ slot's phase tag as it is in memory (None when unknown)."""
        data = self.entry(state, slot)
        return None if data is None else unpack_cqe(data).p


def queue_keys(state: State) -> list[QueueKey]:
    """Every queue of a state in the order drawn: by queue id, each SQ before its CQ."""
    out: list[QueueKey] = []
    for qid in sorted(set(state.sqs) | set(state.cqs)):
        if qid in state.sqs:
            out.append(("sq", qid))
        if qid in state.cqs:
            out.append(("cq", qid))
    return out


def _span(old: int, new: int, size: int | None) -> list[int]:
    """Slots old, old+1, ... up to new (excluded), modulo the ring size."""
    if not size or old == new:
        return []
    n = (new - old) % size
    if n > MAX_MARKED:
        return [old % size, (new - 1) % size]
    return [(old + k) % size for k in range(n)]


def rings(moment: Moment) -> list[Ring]:
    """The rings of every queue as of ``moment``, with what its event changed."""
    state, before, event = moment.state, moment.before, moment.event
    out: list[Ring] = []
    for qtype, qid in queue_keys(state):
        table, old = (state.sqs, before.sqs) if qtype == "sq" else (state.cqs, before.cqs)
        q = table[qid]
        ring = Ring(qtype, qid, q, old.get(qid))
        if qtype == "sq":
            ring.partners = () if q.cqid is None else (q.cqid,)
        else:
            ring.partners = tuple(s for s, sq in sorted(state.sqs.items()) if sq.cqid == qid)
        if event is not None:
            _changes(ring, event)
        out.append(ring)
    return out


def _changes(ring: Ring, e: Any) -> None:
    """What ``e`` did to ``ring``: marked slots and a few words."""
    kind: str = e.kind
    size = ring.size
    sq = ring.qtype == "sq"
    if sq and kind == "sqe_fetch" and e.sqid == ring.qid:
        ring.changed.add(e.slot)
        ring.touched = e.slot
        ring.what = f"device fetched slot {e.slot}"
    elif sq and kind == "doorbell_sq" and e.sqid == ring.qid:
        if e.ignored:
            ring.what = "tail doorbell ignored by the device"
        else:
            slots = _span(e.old_tail, e.new_tail, size)
            ring.changed.update(slots)
            ring.touched = slots[0] if slots else None
            n = (e.new_tail - e.old_tail) % size if size else len(slots)
            ring.what = f"host published {n} (tail doorbell)"
    elif not sq and kind == "cqe_post" and e.cqid == ring.qid:
        ring.changed.add(e.slot)
        ring.touched = e.slot
        ring.what = f"device posted a CQE to slot {e.slot} with P={e.phase & 1}"
    elif not sq and kind == "doorbell_cq" and e.cqid == ring.qid:
        if e.ignored:
            ring.what = "head doorbell ignored by the device"
        else:
            slots = _span(e.old_head, e.new_head, size)
            ring.changed.update(slots)
            ring.touched = slots[-1] if slots else None
            n = (e.new_head - e.old_head) % size if size else len(slots)
            ring.what = f"host consumed {n} (head doorbell)"
    elif not sq and kind == "cq_full" and e.cqid == ring.qid:
        ring.what = "full: a completion waits for a free slot"
    elif kind == "queue_created" and e.qtype == ring.qtype and e.qid == ring.qid:
        ring.what = "created at this event"
    elif kind in ("mem_write", "dma_write") and getattr(e, "data", b""):
        q = ring.queue
        if q.addr is not None and size:
            lo, hi = e.addr, e.addr + len(e.data)
            end = q.addr + size * q.entry_size
            if lo < end and hi > q.addr:
                first = max(0, (lo - q.addr) // q.entry_size)
                last = min(size - 1, (hi - 1 - q.addr) // q.entry_size)
                ring.changed.update(range(first, min(last, first + MAX_MARKED) + 1))
                ring.touched = first
                who = "host" if e.actor == "host" else "device"
                entry = "SQE" if sq else "CQE"
                where = f"slot {first}" if first == last else f"slots {first}..{last}"
                ring.what = f"{who} wrote the {entry} in {where}"


def window(size: int, cap: int, anchors: list[tuple[int, int]]) -> list[int | None]:
    """The slots to draw in ``cap`` cells: every slot if they fit, else the slots nearest
    the ``anchors`` ((slot, preferred direction)) in ring order, ``None`` where slots
    are left out (one cell each)."""
    if size <= cap:
        return list(range(size))
    cap = max(3, cap)
    chosen: set[int] = set()
    cost = 1  # one gap: the whole ring
    for d in range(size):
        grew = False
        for slot, direction in anchors:
            for s in ((slot + d * direction) % size, (slot - d * direction) % size):
                if s in chosen:
                    continue
                left = s > 0 and s - 1 not in chosen
                right = s < size - 1 and s + 1 not in chosen
                delta = 1 + (1 if left and right else 0 if left or right else -1)
                if cost + delta <= cap:
                    chosen.add(s)
                    cost += delta
                    grew = True
        if not grew and d > 0:
            break
    out: list[int | None] = []
    previous = -1
    for s in sorted(chosen):
        if s != previous + 1:
            out.append(None)
        out.append(s)
        previous = s
    if previous < size - 1:
        out.append(None)
    return out


# -- drawing -----------------------------------------------------------------------------------
@dataclass
class Block:
    """Where one queue is on screen: its first and last line, its slot cells."""

    key: QueueKey
    top: int
    bottom: int
    #: the lines that hold slot cells (numbers, glyphs or P bits, markers)
    cell_lines: tuple[int, ...] = ()
    #: (x from, x to, slot or None for "left out") of every cell
    cells: list[tuple[int, int, int | None]] = field(default_factory=list)
    #: the line of glyphs (SQ) or P bits (CQ), and the line of H/T markers
    glyph_line: int = -1
    marker_line: int = -1


class RingView(ComponentStyles, SteadyScroll, can_focus=True):
    """The rings, one block of lines per queue, and the ring cursor (a queue and a slot)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "ringview--title",
        "ringview--facts",
        "ringview--number",
        "ringview--free",
        "ringview--pending",
        "ringview--posted",
        "ringview--lap",
        "ringview--old-lap",
        "ringview--unknown",
        "ringview--changed",
        "ringview--marker",
        "ringview--marker-changed",
        "ringview--what",
        "ringview--words",
        "ringview--flip",
        "ringview--cursor",
        "ringview--cursor-blurred",
        "ringview--chosen",
        "ringview--empty",
    }

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("left", "slot(-1)", "slot left", show=False),
        Binding("right", "slot(1)", "slot right", show=False),
        Binding("up", "queue(-1)", "queue up", show=False),
        Binding("down", "queue(1)", "queue down", show=False),
        Binding("pageup", "slot(-8)", "8 slots left", show=False),
        Binding("pagedown", "slot(8)", "8 slots right", show=False),
        Binding("home", "edge(-1)", "first slot", show=False),
        Binding("end", "edge(1)", "last slot", show=False),
        Binding("h", "to_head", "head", show=False),
        Binding("t", "to_tail", "tail", show=False),
        Binding("e", "to_event", "event's slot", show=False),
        Binding("enter", "choose", "decode", show=False),
    ]

    class Chosen(Message):
        """Enter (or a click on the cursor) on a slot: decode it (or close it)."""

        def __init__(self, view: RingView, key: QueueKey, slot: int) -> None:
            super().__init__()
            self.view = view
            self.key = key
            self.slot = slot

        @property
        def control(self) -> RingView:
            return self.view

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.moment: Moment | None = None
        self.rings: list[Ring] = []
        #: the ring cursor: a queue and a slot
        self.cursor: tuple[QueueKey, int] | None = None
        #: the slot decoded under the rings
        self.chosen: tuple[QueueKey, int] | None = None
        self.blocks: list[Block] = []
        self._strips: list[Strip] = []
        self._width = 0
        #: the lines of each ring drawn recently, by everything they depend on
        self._drawn: dict[Hashable, tuple[list[Strip], Block]] = {}

    # -- fed by the panel ---------------------------------------------------------------------
    def show(self, moment: Moment) -> None:
        """Draw the rings as of ``moment`` and keep the queue the event changed in view."""
        self.moment = moment
        self.rings = rings(moment)
        keys = [r.key for r in self.rings]
        if self.cursor is None or self.cursor[0] not in keys:
            self.cursor = self._default_cursor()
        else:
            ring = self.ring(self.cursor[0])
            if ring is not None and ring.size:
                self.cursor = (ring.key, min(self.cursor[1], ring.size - 1))
        self.rebuild()
        touched = next((r for r in self.rings if r.what), None)
        if touched is not None:
            # at once, in this frame (the new line count already set the scroll range);
            # before the first layout, once there is one
            if self.scrollable_content_region.height > 0:
                self.show_block(touched.key)
            else:
                self.call_after_refresh(self.show_block, touched.key)

    def _default_cursor(self) -> tuple[QueueKey, int] | None:
        if not self.rings:
            return None
        ring = next((r for r in self.rings if r.touched is not None), self.rings[0])
        return ring.key, ring.touched if ring.touched is not None else ring.head

    def ring(self, key: QueueKey) -> Ring | None:
        return next((r for r in self.rings if r.key == key), None)

    # -- the lines -------------------------------------------------------------------------------
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._drawn.clear()
        if self.moment is not None:
            self.rebuild()

    def rebuild(self) -> None:
        """Lay out every block again (the moment, the width or the cursor changed)."""
        width = self.scrollable_content_region.width or self.size.width or 80
        self._width = width
        lines: list[list[Segment]] = []
        # one segment per run of a style, not per slot: cheaper for the screen to compose
        strips: list[Strip] = []

        def flush() -> None:
            strips.extend(Strip(segs).adjust_cell_length(width).simplify() for segs in lines)
            lines.clear()

        self.blocks = []
        moment = self.moment
        st = self._style
        if moment is None or moment.empty:
            lines.append([Segment("no events", st("empty"))])
        elif not self.rings:
            lines += _words_lines(
                "No queues yet: the admin pair appears when the host enables the controller "
                "(CC.EN=1 with AQA, ASQ and ACQ set); I/O queues when Create I/O CQ/SQ complete.",
                width,
                st("empty"),
            )
        if moment is not None and not moment.empty:
            for name in _gone(moment):
                lines.append([Segment(f"{name} deleted at this event", st("what"))])
        flush()
        blank = Strip.blank(width)
        for ring in self.rings:
            block = Block(ring.key, len(strips), len(strips))
            key = self._ring_key(ring, width)
            drawn = self._drawn.get(key)
            if drawn is None:
                local = Block(ring.key, 0, 0)
                self._draw(ring, width, lines, local)
                flush()
                mine = strips[block.top :]
                drawn = self._drawn[key] = (mine, local)
                if len(self._drawn) > RING_CACHE:
                    del self._drawn[next(iter(self._drawn))]
            else:
                strips += drawn[0]
            mine, local = drawn
            top = block.top
            block.cells = local.cells
            block.cell_lines = tuple(top + y for y in local.cell_lines)
            block.glyph_line = top + local.glyph_line if local.glyph_line >= 0 else -1
            block.marker_line = top + local.marker_line if local.marker_line >= 0 else -1
            block.bottom = len(strips) - 1
            self.blocks.append(block)
            strips.append(blank)
        if self.blocks:
            legend = self._legend()
            legend[0].insert(0, Segment(" " * INDENT))
            lines += _flow(legend, width, INDENT)
            flush()
        old, self._strips = self._strips, strips
        self.virtual_size = Size(width, len(strips))
        # a step changes a few slots: repaint only the lines that read differently (and
        # those a longer or shorter list of lines adds or leaves blank)
        changed = [y for y, (was, now) in enumerate(zip(old, strips, strict=False)) if was != now]
        changed += range(min(len(old), len(strips)), max(len(old), len(strips)))
        self.refresh_lines(changed)

    def _ring_key(self, ring: Ring, width: int) -> Hashable:
        """Everything a ring's lines depend on: a ring drawn before with the same key is
        not drawn again (a step changes one or two of the rings, not all of them)."""
        assert self.moment is not None
        state = self.moment.state
        q = ring.queue
        pages: tuple[object, ...] = ()
        if q.addr is not None and q.qsize:
            first = q.addr & PAGE_MASK
            last = (q.addr + q.qsize * q.entry_size - 1) & PAGE_MASK
            # a state shares the pages no event changed (the objects themselves: a page
            # that changed is a new one)
            pages = tuple(state.page_version(a) for a in range(first, last + 1, PAGE))
        cursor = self.cursor[1] if self.cursor is not None and self.cursor[0] == ring.key else None
        chosen = self.chosen[1] if self.chosen is not None and self.chosen[0] == ring.key else None
        return (
            width,
            msgspec.structs.astuple(q),
            msgspec.structs.astuple(ring.before) if ring.before is not None else None,
            frozenset(ring.changed),
            ring.touched,
            ring.what,
            ring.partners,
            cursor,
            chosen,
            pages,
        )

    def _draw(self, ring: Ring, width: int, lines: list[list[Segment]], block: Block) -> None:
        st = self._style
        assert self.moment is not None
        state = self.moment.state
        q = ring.queue
        size = ring.size
        sq = ring.qtype == "sq"
        # the title, then the facts: groups of segments that flow onto more lines if need be
        arrow = "->" if sq else "<-"
        partners = ",".join(f"{'CQ' if sq else 'SQ'}{p}" for p in ring.partners) or "-"
        groups: list[list[Segment]] = [[Segment(f"{ring.name} {arrow} {partners}", st("title"))]]
        facts = [f"{size} entries" if size else "size unknown"]
        if q.addr is not None:
            facts.append(f"@{q.addr:#x}")
        if not sq:
            facts.append("no interrupts" if q.ien is False else f"vector {q.vector}")
        groups += [[Segment(fact, st("facts"))] for fact in facts]
        groups.append(_moved("head", ring.head, ring.head_moved(), st))
        groups.append(_moved("tail", ring.tail, ring.tail_moved(), st))
        if not sq:
            groups.append(_moved("phase", q.phase, ring.phase_flipped(), st))
        if size:
            count = ring.count
            if not count:
                words = "empty"
            elif sq:
                words = f"{count} published, not fetched"
            else:
                words = f"{count} posted, not consumed"
            groups.append([Segment(words, st("facts"))])
        if ring.what:
            groups.append([Segment("◆", st("what")), Segment(" "), Segment(ring.what, st("what"))])
        lines += _flow(groups, width, INDENT)
        if not size:
            lines += _words_lines(
                "no ring to draw: the queue's size is not known", width, st("words"), INDENT
            )
            return
        block.cells, rows = self._ring_rows(ring, state, width)
        block.cell_lines = (len(lines), len(lines) + 1, len(lines) + 2)
        block.glyph_line = len(lines) + 1
        block.marker_line = len(lines) + 2
        lines += rows
        if not sq:
            for words, style in _phase_words(ring, state):
                lines += _words_lines(words, width, st(style), INDENT)

    def _legend(self) -> list[list[Segment]]:
        """What the glyphs of a ring mean, each in its own style."""
        st = self._style
        words = st("words")
        cursor = st("cursor") if self.has_focus else st("cursor-blurred")
        return [
            [Segment(glyph, style), Segment(f" {meaning}", words)]
            for glyph, style, meaning in (
                (PENDING, st("pending"), "a command waiting in the SQ"),
                (FREE, st("free"), "a free slot"),
                ("1", st("posted"), "a CQE posted, not consumed (its phase tag)"),
                ("1", st("lap"), "a CQE of this lap, consumed"),
                (
                    "0",
                    st("old-lap"),
                    "a tag the host reads as not new (never written, or the lap before)",
                ),
                (UNKNOWN, st("unknown"), "bytes not seen yet"),
                ("H T", st("marker"), "head and tail"),
                ("[ ]", cursor, "the slot chosen: arrows move it, e the event's, Enter decodes"),
            )
        ]

    def _ring_rows(
        self, ring: Ring, state: State, width: int
    ) -> tuple[list[tuple[int, int, int | None]], list[list[Segment]]]:
        """The three lines of slot cells (numbers, glyphs or P bits, H/T markers)."""
        st = self._style
        size = ring.size or 0
        sq = ring.qtype == "sq"
        cell = max(MIN_CELL, len(str(size - 1)) + 2)
        cap = max(3, (width - INDENT) // cell)
        cursor = self.cursor[1] if self.cursor is not None and self.cursor[0] == ring.key else None
        chosen = self.chosen[1] if self.chosen is not None and self.chosen[0] == ring.key else None
        anchors = [(ring.head, 1), ((ring.tail - 1) % size, -1), (ring.tail, 1)]
        if ring.touched is not None:
            anchors.insert(0, (ring.touched, 1))
        if cursor is not None:
            anchors.insert(0, (cursor, 1))
        if len(ring.changed) <= 2:
            anchors += [(s, 1) for s in sorted(ring.changed)]
        shown = window(size, cap, anchors)
        cells: list[tuple[int, int, int | None]] = []
        number_style = st("number")
        numbers = [" " * INDENT]
        glyphs = _Line(" " * INDENT)
        markers = _Line(" " * INDENT)
        cursor_style = st("cursor") if self.has_focus else st("cursor-blurred")
        head_moved, tail_moved = ring.head_moved(), ring.tail_moved()
        phase = ring.queue.phase
        changed, filled_style, free_style = ring.changed, st("posted"), st("free")
        pending_style, lap, old_lap, unknown = (
            st("pending"),
            st("lap"),
            st("old-lap"),
            st("unknown"),
        )
        blank = " " * cell
        lead = " " * (cell - 2)
        x = INDENT
        for slot in shown:
            cells.append((x, x + cell, slot))
            x += cell
            if slot is None:
                numbers.append(f"{ELIDED:>{cell - 1}} ")
                glyphs.add(lead, None)
                glyphs.add(ELIDED, free_style)
                glyphs.add(" ", None)
                markers.add(blank, None)
                continue
            numbers.append(f"{slot:>{cell - 1}} ")
            filled = ring.filled(slot)
            if sq:
                glyph = PENDING if filled else FREE
                style = pending_style if filled else free_style
            else:
                p = ring.pbit(state, slot)
                glyph = UNKNOWN if p is None else str(p)
                if p is None:
                    style = unknown
                elif filled:
                    style = filled_style
                else:
                    style = lap if p == phase else old_lap
            if slot in changed:
                style = style + st("changed")
            if slot == chosen:
                style = style + st("chosen")
            if slot == cursor:
                glyphs.add(" " * (cell - 3), None)
                glyphs.add(f"[{glyph}]", style + cursor_style)
            else:
                glyphs.add(lead, None)
                glyphs.add(glyph, style)
                glyphs.add(" ", None)
            mark = ("H" if slot == ring.head else "") + ("T" if slot == ring.tail else "")
            if mark:
                moved = (slot == ring.head and head_moved) or (slot == ring.tail and tail_moved)
                markers.add(" " * (cell - 1 - len(mark)), None)
                markers.add(mark, st("marker-changed") if moved else st("marker"))
                markers.add(" ", None)
            else:
                markers.add(blank, None)
        rows = [[Segment("".join(numbers), number_style)], glyphs.segments(), markers.segments()]
        return cells, rows

    # -- Line API -----------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        row = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        if width != self._width and self.moment is not None:
            self.rebuild()
        if 0 <= row < len(self._strips):
            return self._strips[row].crop(0, width)
        return Strip.blank(width, self.rich_style)

    def on_resize(self, event: events.Resize) -> None:
        if self.moment is not None:
            self.rebuild()

    def on_focus(self, event: events.Focus) -> None:
        self.rebuild()

    def on_blur(self, event: events.Blur) -> None:
        self.rebuild()

    def text_of(self, line: int) -> str:
        """The plain text of one laid-out line."""
        return self._strips[line].text if 0 <= line < len(self._strips) else ""

    @property
    def line_count(self) -> int:
        return len(self._strips)

    def block(self, key: QueueKey) -> Block | None:
        return next((b for b in self.blocks if b.key == key), None)

    def show_block(self, key: QueueKey) -> None:
        """Scroll so that the block of queue ``key`` is on screen (its top if it is taller)."""
        block = self.block(key)
        height = self.scrollable_content_region.height
        if block is None or height <= 0:
            return
        top = self.scroll_offset.y
        lo, hi = block.top, block.bottom
        if lo >= top and hi < top + height:
            return
        if hi - lo + 1 >= height or lo < top:
            self.scroll_to(y=lo, animate=False, immediate=True)
        else:
            self.scroll_to(y=hi - height + 1, animate=False, immediate=True)

    # -- the ring cursor -----------------------------------------------------------------------
    def move_cursor(self, key: QueueKey, slot: int) -> None:
        ring = self.ring(key)
        if ring is None:
            return
        slot = slot % ring.size if ring.size else 0
        self.cursor = (key, slot)
        self.rebuild()
        self.show_block(key)

    def action_slot(self, delta: int) -> None:
        if self.cursor is not None:
            self.move_cursor(self.cursor[0], self.cursor[1] + delta)

    def action_queue(self, delta: int) -> None:
        if self.cursor is None or not self.rings:
            return
        keys = [r.key for r in self.rings]
        k = keys.index(self.cursor[0]) if self.cursor[0] in keys else 0
        ring = self.rings[max(0, min(len(keys) - 1, k + delta))]
        slot = self.cursor[1]
        if ring.size and slot >= ring.size:
            slot = ring.size - 1
        self.move_cursor(ring.key, slot)

    def action_edge(self, direction: int) -> None:
        ring = self.ring(self.cursor[0]) if self.cursor is not None else None
        if ring is not None and ring.size:
            self.move_cursor(ring.key, 0 if direction < 0 else ring.size - 1)

    def action_to_head(self) -> None:
        ring = self.ring(self.cursor[0]) if self.cursor is not None else None
        if ring is not None:
            self.move_cursor(ring.key, ring.head)

    def action_to_tail(self) -> None:
        ring = self.ring(self.cursor[0]) if self.cursor is not None else None
        if ring is not None:
            self.move_cursor(ring.key, ring.tail)

    def action_to_event(self) -> None:
        """The ring cursor to the slot the current event touched (or its queue's tail)."""
        ring = next((r for r in self.rings if r.touched is not None), None)
        if ring is None:
            ring = next((r for r in self.rings if r.what), None)
        if ring is None:
            self.app.notify("this event touches no queue slot", timeout=3)
            return
        self.move_cursor(ring.key, ring.touched if ring.touched is not None else ring.tail)

    def action_choose(self) -> None:
        if self.cursor is not None:
            self.post_message(self.Chosen(self, *self.cursor))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        line = self.scroll_offset.y + offset.y
        for block in self.blocks:
            if not block.top <= line <= block.bottom:
                continue
            if line in block.cell_lines:
                for x0, x1, slot in block.cells:
                    if x0 <= offset.x < x1 and slot is not None:
                        if self.cursor == (block.key, slot) or event.chain > 1:
                            self.post_message(self.Chosen(self, block.key, slot))
                        else:
                            self.move_cursor(block.key, slot)
                        return
            elif line == block.top:
                ring = self.ring(block.key)
                if ring is not None:
                    self.move_cursor(block.key, ring.head)
            return


class _Line:
    """Segments of one line, built left to right: text of the same style is merged, and
    unstyled text (``None``) joins a neighbour whose style shows nothing on spaces."""

    __slots__ = ("texts", "styles")

    def __init__(self, start: str = "") -> None:
        self.texts: list[str] = [start] if start else []
        self.styles: list[Style | None] = [None] if start else []

    def add(self, text: str, style: Style | None) -> None:
        if not text:
            return
        if self.texts:
            last = self.styles[-1]
            if last is style or (style is None and _blank_ok(last)):
                self.texts[-1] += text
                return
            if last is None and style is not None and _blank_ok(style):
                self.texts[-1] += text
                self.styles[-1] = style
                return
        self.texts.append(text)
        self.styles.append(style)

    def segments(self) -> list[Segment]:
        return [Segment(t, s) for t, s in zip(self.texts, self.styles, strict=True)]


def _blank_ok(style: Style | None) -> bool:
    """Spaces look the same in ``style`` as in no style (no background, no underline)."""
    return style is None or (
        style.bgcolor is None and not style.reverse and not style.underline and not style.strike
    )


def _moved(name: str, value: int, moved: tuple[int, int] | None, st: Any) -> list[Segment]:
    if moved is None:
        return [Segment(f"{name} {value}", st("facts"))]
    return [Segment(f"{name} ", st("facts")), Segment(f"{moved[0]}->{moved[1]}", st("what"))]


def _flow(groups: list[list[Segment]], width: int, indent: int) -> list[list[Segment]]:
    """Groups of segments two spaces apart, onto as many lines as ``width`` needs
    (lines after the first indented)."""
    lines: list[list[Segment]] = [[]]
    used = 0
    for group in groups:
        size = sum(seg.cell_length for seg in group)
        if used and used + 2 + size > width:
            lines.append([Segment(" " * indent)])
            used = indent
        elif used:
            lines[-1].append(Segment("  "))
            used += 2
        lines[-1].extend(group)
        used += size
    return lines


def _phase_words(ring: Ring, state: State) -> Iterator[tuple[str, str]]:
    """The words under a CQ: the phase the device writes next against the slot's P bit."""
    size = ring.size
    if not size:
        return
    tail, phase = ring.tail, ring.queue.phase
    flipped = ring.phase_flipped()
    moved = ring.tail_moved()
    if moved is not None and moved[1] < moved[0]:
        flip = f"flips {flipped[0]}->{phase}" if flipped else f"stays {phase}"
        yield f"the tail wrapped {moved[0]}->{moved[1]}: the phase the device writes {flip}", "flip"
    p = ring.pbit(state, tail)
    if p is None:
        yield f"the next CQE goes to slot {tail} with P={phase} (its bytes are not known)", "words"
    elif p != phase:
        yield (
            f"slot {tail} holds P={p}: the next CQE there gets P={phase}, and the flip "
            "tells the host it is new",
            "words",
        )
    else:
        yield (
            f"slot {tail} already holds P={phase}, the phase of the next CQE: the host "
            "would take it for a new entry",
            "flip",
        )


def _words_lines(text: str, width: int, style: Style, indent: int = 0) -> list[list[Segment]]:
    """``text`` wrapped to ``width`` (a line each), indented."""
    room = max(20, width - indent)
    out: list[list[Segment]] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > room:
            out.append([Segment(" " * indent), Segment(line, style)])
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        out.append([Segment(" " * indent), Segment(line, style)])
    return out


def _gone(moment: Moment) -> list[str]:
    """Queues the current event deleted (they are in ``before`` and not in ``state``)."""
    s, b = moment.state, moment.before
    out = [f"SQ{qid}" for qid in sorted(b.sqs) if qid not in s.sqs]
    out += [f"CQ{qid}" for qid in sorted(b.cqs) if qid not in s.cqs]
    return out


# -- the decoded entry ---------------------------------------------------------------------------
class EntryView(RowView):
    """The field tree of the decoded slot, a field a line."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "entryview--offset",
        "entryview--name",
        "entryview--value",
        "entryview--meaning",
        "entryview--cursor",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fields: list[tuple[int, FieldNode]] = []
        self._name_w = self._value_w = 8

    def show(self, tree: FieldNode | None) -> None:
        self.fields = [] if tree is None else list(_flatten(tree, 0))
        self._name_w = min(24, max((len(_label(d, n)) for d, n in self.fields), default=8))
        self._value_w = min(22, max((len(_value(n)) for _, n in self.fields), default=8))
        self.set_row_count(len(self.fields))
        self.invalidate()

    def render_row(self, row: int, width: int, selected: bool) -> Strip:
        depth, node = self.fields[row]
        st = self._style
        segs = [
            Segment(f"{node.offset:#04x}", st("offset")),
            Segment(" "),
            Segment(f"{_label(depth, node):<{self._name_w}}", st("name")),
            Segment(" "),
            Segment(f"{_value(node):<{self._value_w}}", st("value")),
            Segment(" "),
            Segment(node.meaning, st("meaning")),
        ]
        strip = Strip(segs).crop(0, width).adjust_cell_length(width)
        if selected and self.has_focus:
            strip = Strip(Segment.apply_style(strip, post_style=st("cursor")), width)
        return strip


def _label(depth: int, node: FieldNode) -> str:
    bits = f" [{node.bits[0]}:{node.bits[1]}]" if node.bits is not None else ""
    return "  " * depth + node.name + bits


def _value(node: FieldNode) -> str:
    return format_value(node.value) if node.value is not None else ""


def _flatten(node: FieldNode, depth: int) -> Iterator[tuple[int, FieldNode]]:
    for child in node.children:
        yield depth, child
        yield from _flatten(child, depth + 1)


def slot_words(ring: Ring, slot: int) -> str:
    """What a slot is, as of the moment: pending, posted, free, next to be written."""
    if ring.qtype == "sq":
        if ring.filled(slot):
            return "published by the tail doorbell, not yet fetched by the device"
        if slot == ring.tail:
            return "the tail: the host writes its next SQE here"
        return "free: an entry the device already fetched (or never written)"
    if ring.filled(slot):
        return "posted by the device, not yet consumed by the host's head doorbell"
    if slot == ring.tail:
        return f"the tail: the device posts its next CQE here, with P={ring.queue.phase}"
    return "free: an entry the host consumed (or never written)"


class QueuesPanel(Panel):
    """See the module docstring."""

    PANEL_ID = "queues"
    TITLE = "Queues"

    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        (
            "Decode the selected queue slot",
            "Show the SQE or CQE in the slot under the ring cursor, decoded (Enter)",
            "decode",
        ),
        (
            "Close the decoded queue slot",
            "Hide the decoded SQE or CQE under the rings",
            "close_entry",
        ),
        (
            "Select the slot this event touched",
            "The ring cursor to the slot the current event fetched, posted or wrote (e)",
            "to_event",
        ),
        ("Ring cursor to the head", "The ring cursor to its queue's head (h)", "to_head"),
        ("Ring cursor to the tail", "The ring cursor to its queue's tail (t)", "to_tail"),
    )

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self.ringview = RingView(id="queues-rings")
        self.entry_title = Static("", id="queues-entry-title", markup=False)
        self.entry = EntryView(id="queues-entry")
        self._decoded: tuple[QueueKey, int, bytes | None] | None = None
        self._tree_meaning = ""

    def compose(self) -> ComposeResult:
        yield self.ringview
        yield self.entry_title
        yield self.entry

    def on_mount(self) -> None:
        self._set_entry_shown(False)
        super().on_mount()

    def update_moment(self, moment: Moment) -> None:
        self.ringview.show(moment)
        if self.ringview.chosen is not None:
            self._decode()

    def focus_target(self) -> RingView:
        return self.ringview

    # -- the decoded slot -------------------------------------------------------------------------
    def on_ring_view_chosen(self, message: RingView.Chosen) -> None:
        message.stop()
        if self.ringview.chosen == (message.key, message.slot):
            self.action_close_entry()
            return
        self.ringview.cursor = (message.key, message.slot)
        self.ringview.chosen = (message.key, message.slot)
        self.ringview.rebuild()
        self._decode()
        self.call_after_refresh(self.ringview.show_block, message.key)

    def _set_entry_shown(self, shown: bool) -> None:
        self.entry_title.display = shown
        self.entry.display = shown

    def _decode(self) -> None:
        chosen = self.ringview.chosen
        moment = self.ringview.moment
        if chosen is None or moment is None:
            return
        key, slot = chosen
        ring = self.ringview.ring(key)
        if ring is None:
            set_text(self.entry_title, f"{key[0].upper()}{key[1]} does not exist as of this event")
            self.entry.show(None)
            self._decoded = (key, slot, None)
            self._set_entry_shown(True)
            return
        data = ring.entry(moment.state, slot)
        q = ring.queue
        where = f" @{q.addr + slot * q.entry_size:#x}" if q.addr is not None else ""
        head = f"{ring.name} slot {slot}{where}: {slot_words(ring, slot)}"
        if data is None:
            set_text(self.entry_title, head + "\nits bytes are not known as of this event")
            self.entry.show(None)
        else:
            if self._decoded != (key, slot, data):
                if ring.qtype == "sq":
                    tree = decode("sqe", data, {"sqid": ring.qid})
                else:
                    tree = decode("cqe", data, {"admin": unpack_cqe(data).sqid == 0})
                self.entry.show(tree)
                self._tree_meaning = tree.meaning
            set_text(self.entry_title, f"{head}\n{self._tree_meaning}")
        self._decoded = (key, slot, data)
        self._set_entry_shown(True)

    def action_decode(self) -> None:
        self.ringview.action_choose()

    def action_close_entry(self) -> None:
        self.ringview.chosen = None
        self._decoded = None
        self._set_entry_shown(False)
        self.ringview.rebuild()

    def action_to_event(self) -> None:
        self.ringview.action_to_event()

    def action_to_head(self) -> None:
        self.ringview.action_to_head()

    def action_to_tail(self) -> None:
        self.ringview.action_to_tail()
