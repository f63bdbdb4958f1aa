"""A hex view of any number of bytes on Textual's Line API: address, hex, ASCII.

Sixteen bytes a line. The bytes come in *regions* (:class:`HexRegion`): a
decoded structure, a window of host memory, the segments of one DMA buffer.
Each region starts on a line of its own and its address column prints the
region's own numbers (an offset into the structure, or a host address). The
*offsets* of the view run on from one region into the next: they are what a
field tree's ``offset``/``size`` address and what :class:`HexView.CursorMoved`
reports.

Bytes that no event has told are drawn ``??``. Named highlights colour ranges
of offsets (``selection``: the field chosen in a tree; ``write`` / ``read``:
the bytes the current event wrote or read); one byte is the cursor, moved with
the arrow keys, PageUp/PageDown, Home/End (the line), Ctrl+Home/Ctrl+End (the
first and last byte) and the mouse. Only the lines on screen are drawn, through
an LRU cache of lines, so a 4 KiB Identify page or a 64 KiB window of memory
costs what its twenty visible lines cost. The columns adapt to the width: hex
bytes one by one with the ASCII beside them; without the ASCII when that does
not fit; and only when even that does not, in groups of four bytes, still in memory
order (little-endian values read right to left).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from nvmescope.ui.widgets._lru import LruCache
from nvmescope.ui.widgets._rowview import ComponentStyles
from nvmescope.ui.widgets._strips import fitted

#: bytes a line
LINE = 16
LINE_CACHE = 512
#: highlight names, strongest first (a byte in two ranges shows the first)
HIGHLIGHTS = ("selection", "write", "read")
_ASCII = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in range(256))


@dataclass(frozen=True, eq=False)
class HexRegion:
    """Bytes one stretch of the view shows.

    ``known`` holds one flag a byte (non-zero: known) or is None when every byte
    is known. ``origin`` is the number the address column prints for the first
    byte; ``address`` is the host address of the first byte when the bytes are
    host memory (None when they are not, e.g. a register value).
    """

    data: bytes
    known: bytes | None = None
    origin: int = 0
    address: int | None = None
    label: str = ""

    def __len__(self) -> int:
        return len(self.data)

    def byte(self, index: int) -> int | None:
        """The byte at ``index`` of the region, None when it is unknown."""
        if self.known is not None and not self.known[index]:
            return None
        return self.data[index]


def hex_region(
    data: bytes | Sequence[int | None],
    origin: int = 0,
    address: int | None = None,
    label: str = "",
) -> HexRegion:
    """A region from bytes, or from byte values with None for the unknown ones."""
    if isinstance(data, (bytes, bytearray)):
        return HexRegion(bytes(data), None, origin, address, label)
    values = list(data)
    known = bytes(0 if v is None else 1 for v in values)
    raw = bytes(0 if v is None else v for v in values)
    return HexRegion(raw, None if all(known) else known, origin, address, label)


@dataclass(frozen=True)
class Columns:
    """Where the cells of a line are, for one width of the view."""

    addr: int
    hex_x: tuple[int, ...]
    ascii_x: int | None
    grouped: bool
    width: int


def columns_for(width: int, addr_digits: int) -> Columns:
    """The widest layout of a line that fits ``width`` cells."""
    # byte by byte: "addr  xx xx xx xx xx xx xx xx  xx xx ... xx  ................"
    x = addr_digits + 2
    spaced = []
    for i in range(LINE):
        spaced.append(x)
        x += 3 if i != 7 else 4
    # x is now one cell past the space after the last byte
    if x + 1 + LINE <= width:
        return Columns(addr_digits, tuple(spaced), x + 1, False, x + 1 + LINE)
    # byte by byte without the ASCII, rather than dword groups with it: four bytes run
    # together read as a big-endian number ("00200010" for PRP1 0x10002000)
    if x - 1 <= width:
        return Columns(addr_digits, tuple(spaced), None, False, x - 1)
    # dword groups: "addr xxxxxxxx xxxxxxxx xxxxxxxx xxxxxxxx  ................"
    x = addr_digits + 1
    grouped = []
    for i in range(LINE):
        grouped.append(x)
        x += 2 + (1 if i % 4 == 3 else 0)
    if x + 1 + LINE <= width:
        return Columns(addr_digits, tuple(grouped), x + 1, True, x + 1 + LINE)
    return Columns(addr_digits, tuple(grouped), None, True, x - 1)


class HexView(ComponentStyles, ScrollView, can_focus=True):
    """See the module docstring."""

    DEFAULT_CSS = """
    HexView {
        background: $surface;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
        & > .hexview--address { color: $text-muted; }
        & > .hexview--heading { color: $text-accent; text-style: bold; }
        & > .hexview--byte { color: $text; }
        & > .hexview--zero { color: $text-muted; }
        & > .hexview--unknown { color: $text-disabled; }
        & > .hexview--ascii { }
        & > .hexview--selection { background: $accent 55%; color: $text; text-style: bold; }
        & > .hexview--write { background: $success 35%; }
        & > .hexview--read { background: $secondary 45%; }
        & > .hexview--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: bold;
        }
        & > .hexview--cursor-blurred {
            background: $block-cursor-blurred-background;
            text-style: underline;
        }
    }
    """

    COMPONENT_CLASSES = {
        "hexview--address",
        "hexview--heading",
        "hexview--byte",
        "hexview--zero",
        "hexview--unknown",
        "hexview--ascii",
        "hexview--selection",
        "hexview--write",
        "hexview--read",
        "hexview--cursor",
        "hexview--cursor-blurred",
    }

    BINDINGS = [
        Binding("left", "move(-1)", "byte left", show=False),
        Binding("right", "move(1)", "byte right", show=False),
        Binding("up", "move(-16)", "line up", show=False),
        Binding("down", "move(16)", "line down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "line_edge(-1)", "line start", show=False),
        Binding("end", "line_edge(1)", "line end", show=False),
        Binding("ctrl+home", "edge(-1)", "first byte", show=False),
        Binding("ctrl+end", "edge(1)", "last byte", show=False),
    ]

    class CursorMoved(Message):
        """The user moved the cursor onto byte ``offset`` (by a key or a click)."""

        def __init__(self, view: HexView, offset: int, address: int | None) -> None:
            super().__init__()
            self.view = view
            self.offset = offset
            #: the host address of that byte, when its region is host memory
            self.address = address

        @property
        def control(self) -> HexView:
            return self.view

    def __init__(
        self,
        *,
        address_digits: int = 4,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        #: the fewest hex digits the address column prints
        self.address_digits = address_digits
        self._regions: tuple[HexRegion, ...] = ()
        self._offset0: list[int] = []  # the first offset of each region
        self._row0: list[int] = []  # the first line of each region (its heading, if any)
        self._data_row0: list[int] = []  # the first line of each region's bytes
        self._byte_total = 0
        self._rows = 0
        self._digits = address_digits
        self._cursor = 0
        self._highlights: dict[str, tuple[tuple[int, int], ...]] = {}
        self._lines: LruCache[tuple[int, int, int, bool, int], Strip] = LruCache(LINE_CACHE)
        self._generation = 0
        self._show_pending: tuple[int, bool] | None = None

    # -- what is shown -----------------------------------------------------------------
    @property
    def regions(self) -> tuple[HexRegion, ...]:
        return self._regions

    @property
    def byte_count(self) -> int:
        """How many bytes the view shows (its offsets are ``0..byte_count - 1``)."""
        return self._byte_total

    @property
    def line_count(self) -> int:
        return self._rows

    @property
    def cursor(self) -> int:
        """The offset of the cursor byte."""
        return self._cursor

    def set_regions(self, regions: Iterable[HexRegion], cursor: int | None = 0) -> None:
        """Show ``regions`` (the highlights are cleared); the cursor goes to offset
        ``cursor`` (None: it stays where it is, as far as the new bytes reach)."""
        self._regions = tuple(r for r in regions if len(r))
        headed = len(self._regions) > 1
        self._offset0, self._row0, self._data_row0 = [], [], []
        offset = row = widest = 0
        for region in self._regions:
            self._offset0.append(offset)
            self._row0.append(row)
            if headed and region.label:
                row += 1
            self._data_row0.append(row)
            row += -(-len(region) // LINE)
            offset += len(region)
            widest = max(widest, region.origin + len(region) - 1)
        self._byte_total, self._rows = offset, row
        self._digits = max(self.address_digits, len(f"{widest:x}"))
        self._highlights = {}
        self.virtual_size = Size(self.size.width, self._rows)
        target = self._cursor if cursor is None else cursor
        self._cursor = max(0, min(target, self._byte_total - 1)) if self._byte_total else 0
        self.invalidate()
        self.show_offset(self._cursor)

    def set_highlight(self, name: str, ranges: Iterable[tuple[int, int]]) -> None:
        """Colour the offset ranges ``(start, end)`` (end excluded) as ``name``, one of
        :data:`HIGHLIGHTS`; an empty list clears them."""
        if name not in HIGHLIGHTS:
            raise KeyError(f"no highlight {name!r}: one of {', '.join(HIGHLIGHTS)}")
        clipped = ((max(0, a), min(b, self._byte_total)) for a, b in ranges)
        new = tuple((a, b) for a, b in clipped if b > a)
        if self._highlights.get(name, ()) != new:
            self._highlights[name] = new
            self.invalidate()

    def highlight(self, name: str) -> tuple[tuple[int, int], ...]:
        """The ranges highlighted as ``name``."""
        return self._highlights.get(name, ())

    def highlighted(self, offset: int) -> str | None:
        """The strongest highlight covering ``offset``, or None."""
        for name in HIGHLIGHTS:
            for a, b in self._highlights.get(name, ()):
                if a <= offset < b:
                    return name
        return None

    def locate(self, offset: int) -> tuple[HexRegion, int]:
        """The region holding ``offset`` and the index of that byte in it."""
        if not self._regions or not 0 <= offset < self._byte_total:
            raise IndexError(f"offset {offset} is not shown")
        k = bisect.bisect_right(self._offset0, offset) - 1
        return self._regions[k], offset - self._offset0[k]

    def address_of(self, offset: int) -> int | None:
        """The host address of byte ``offset`` (None when its region is not host memory)."""
        region, index = self.locate(offset)
        return None if region.address is None else region.address + index

    def offset_of_address(self, address: int) -> int | None:
        """The offset of the byte at host ``address``, if a region shows it."""
        for region, start in zip(self._regions, self._offset0, strict=True):
            if region.address is not None and 0 <= address - region.address < len(region):
                return start + address - region.address
        return None

    def byte_at(self, offset: int) -> int | None:
        """The byte at ``offset``, None when it is unknown."""
        region, index = self.locate(offset)
        return region.byte(index)

    def line_of(self, offset: int) -> int:
        """The line that shows byte ``offset``."""
        k = bisect.bisect_right(self._offset0, offset) - 1
        if k < 0:
            return 0
        return self._data_row0[k] + (offset - self._offset0[k]) // LINE

    # -- the cursor -----------------------------------------------------------------------
    def set_cursor(self, offset: int, *, scroll: bool = True) -> None:
        """Put the cursor on ``offset`` (the program does this: nothing is posted)."""
        if not self._byte_total:
            return
        offset = max(0, min(offset, self._byte_total - 1))
        old, self._cursor = self._cursor, offset
        if old != offset:
            self.refresh_line(self.line_of(old))
            self.refresh_line(self.line_of(offset))
        if scroll:
            self.show_offset(offset)

    def move_to(self, offset: int) -> None:
        """The user moved the cursor to ``offset``: move it and say so."""
        if not self._byte_total:
            return
        offset = max(0, min(offset, self._byte_total - 1))
        self.set_cursor(offset)
        self.post_message(self.CursorMoved(self, offset, self.address_of(offset)))

    def show_offset(self, offset: int, *, top: bool = False) -> None:
        """Scroll so that the line of ``offset`` is on screen (near the top with ``top``)."""
        if not self._rows:
            return
        row = self.line_of(offset)
        height = self.scrollable_content_region.height
        if height <= 0:
            # not laid out yet (or hidden): after the next refresh, the latest wish only
            if self._show_pending is None:
                self.call_after_refresh(self._show_later)
            self._show_pending = (offset, top)
            return
        first = self.scroll_offset.y
        if top:
            self.scroll_to(y=max(0, row - 1), animate=False, immediate=True)
        elif row < first:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= first + height:
            self.scroll_to(y=row - height + 1, animate=False, immediate=True)

    def _show_later(self) -> None:
        pending, self._show_pending = self._show_pending, None
        if pending is not None and self.scrollable_content_region.height > 0:
            offset, top = pending
            self.show_offset(min(offset, max(0, self._byte_total - 1)), top=top)

    def action_move(self, delta: int) -> None:
        self.move_to(self._cursor + delta)

    def action_page(self, direction: int) -> None:
        lines = max(1, self.scrollable_content_region.height - 1)
        self.move_to(self._cursor + direction * lines * LINE)

    def action_line_edge(self, direction: int) -> None:
        if not self._byte_total:
            return
        region, index = self.locate(self._cursor)
        start = self._cursor - index % LINE
        end = min(start + LINE, self._cursor - index + len(region)) - 1
        self.move_to(start if direction < 0 else end)

    def action_edge(self, direction: int) -> None:
        self.move_to(0 if direction < 0 else self._byte_total - 1)

    def on_click(self, event: events.Click) -> None:
        where = event.get_content_offset(self)
        if where is None:
            return
        offset = self.offset_at(where.x, self.scroll_offset.y + where.y)
        if offset is not None:
            self.move_to(offset)

    def offset_at(self, x: int, line: int) -> int | None:
        """The offset of the byte drawn at column ``x`` of line ``line`` (hex or ASCII)."""
        if not 0 <= line < self._rows:
            return None
        k = bisect.bisect_right(self._row0, line) - 1
        if line < self._data_row0[k]:
            return None
        cols = columns_for(self.scrollable_content_region.width, self._digits)
        column = next((i for i, cx in enumerate(cols.hex_x) if cx <= x < cx + 2), None)
        if cols.ascii_x is not None and cols.ascii_x <= x < cols.ascii_x + LINE:
            column = x - cols.ascii_x
        if column is None:
            return None
        index = (line - self._data_row0[k]) * LINE + column
        if index >= len(self._regions[k]):
            return None
        return self._offset0[k] + index

    # -- drawing -----------------------------------------------------------------------------
    def invalidate(self) -> None:
        """Every line may read differently now: draw them again."""
        self._generation += 1
        self._lines.clear()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.invalidate()

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, self._rows)
        self._lines.clear()

    def on_focus(self) -> None:
        self.refresh_line(self.line_of(self._cursor))

    def on_blur(self) -> None:
        self.refresh_line(self.line_of(self._cursor))

    def render_line(self, y: int) -> Strip:
        line = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        if not 0 <= line < self._rows:
            return Strip.blank(width, self._base_style())
        cursor_col = self._cursor if self._byte_total and line == self.line_of(self._cursor) else -1
        focused = self.has_focus
        key = (line, width, cursor_col, focused, self._generation)
        strip = self._lines.get(key)
        if strip is None:
            base = self._base_style()
            strip = fitted(self._hex_segments(line, width, focused), width, base=base, pad=base)
            self._lines[key] = strip
        return strip

    def render_hex_line(self, line: int, width: int, focused: bool) -> Strip:
        """Line ``line`` of the view ``width`` cells wide (uncached)."""
        return Strip(self._hex_segments(line, width, focused)).crop(0, width)

    def _hex_segments(self, line: int, width: int, focused: bool) -> list[Segment]:
        """The segments of line ``line`` (the columns for ``width`` cells)."""
        st = self._style
        k = bisect.bisect_right(self._row0, line) - 1
        region = self._regions[k]
        if line < self._data_row0[k]:
            return [Segment(region.label, st("heading"))]
        cols = columns_for(width, self._digits)
        start = (line - self._data_row0[k]) * LINE
        count = min(LINE, len(region) - start)
        first = self._offset0[k] + start
        spans = self._spans(first, first + count)
        cursor_style = st("cursor" if focused else "cursor-blurred")
        segments = [Segment(f"{region.origin + start:0{self._digits}x}", st("address"))]
        cells: list[tuple[str, str, Style]] = []
        for i in range(count):
            value = region.byte(start + i)
            if value is None:
                style, text, char = st("unknown"), "??", "?"
            else:
                style = st("zero") if value == 0 else st("byte")
                text, char = f"{value:02x}", _ASCII[value]
            if spans[i] is not None:
                style = style + st(spans[i])  # type: ignore[arg-type]
            if first + i == self._cursor:
                style = style + cursor_style
            cells.append((text, char, style))
        x = cols.addr
        for i, (text, _, style) in enumerate(cells):
            gap = cols.hex_x[i] - x
            # the gap inside a highlighted run keeps its colour: a field reads as one block
            same = i > 0 and spans[i] is not None and spans[i] == spans[i - 1]
            segments.append(Segment(" " * gap, st(spans[i]) if same else None))  # type: ignore[arg-type]
            segments.append(Segment(text, style))
            x = cols.hex_x[i] + 2
        if cols.ascii_x is not None:
            segments.append(Segment(" " * (cols.ascii_x - x)))
            ascii_style = st("ascii")
            for _, char, style in cells:
                segments.append(Segment(char, ascii_style + style))
        return list(Segment.simplify(segments))

    def _spans(self, lo: int, hi: int) -> list[str | None]:
        """The highlight of each byte of ``lo..hi`` (the strongest one)."""
        out: list[str | None] = [None] * (hi - lo)
        for name in reversed(HIGHLIGHTS):
            for a, b in self._highlights.get(name, ()):
                for offset in range(max(a, lo), min(b, hi)):
                    out[offset - lo] = name
        return out

    # -- for tests and tools -------------------------------------------------------------------
    def cell_columns(self) -> Columns:
        """Where the cells of a line are at the view's present width."""
        return columns_for(self.scrollable_content_region.width, self._digits)

    def line_text(self, line: int, width: int | None = None) -> str:
        """Line ``line`` as plain text (what a user reads there)."""
        width = width or self.scrollable_content_region.width or 80
        return self.render_hex_line(line, width, self.has_focus).text


__all__ = ["HIGHLIGHTS", "LINE", "Columns", "HexRegion", "HexView", "columns_for", "hex_region"]
