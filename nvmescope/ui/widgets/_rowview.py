"""A list of any number of rows on Textual's Line API, with one cursor row.

Only the rows on screen are ever rendered: ``render_line`` asks the subclass
for one row as a :class:`~textual.strip.Strip`, an LRU cache keeps the strips
rendered recently, and moving the cursor repaints just the row it leaves and
the row it enters. A million rows cost what the visible twenty cost.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from math import ceil
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import Reactive, reactive
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip

from nvmescope.ui.widgets._lru import LruCache
from nvmescope.ui.widgets._strips import fitted

LINE_CACHE = 1024


class ComponentStyles:
    """The rich styles of a widget's component classes (``view--name``), looked up once
    per change of theme or CSS: ``self._style("name")``; and its own (``_base_style``)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set()
    _looked_up_styles: dict[str, Style] | None = None
    _rich_base: Style | None = None

    def _style(self, name: str) -> Style:
        styles = self._looked_up_styles
        if styles is None:
            styles = self._looked_up_styles = {
                cls.partition("--")[2]: self.get_component_rich_style(cls, partial=True)  # type: ignore[attr-defined]
                for cls in self.COMPONENT_CLASSES
            }
        return styles[name]

    def _base_style(self) -> Style:
        """``rich_style`` (which walks every ancestor), once per change of style."""
        if self._rich_base is None:
            self._rich_base = self.rich_style  # type: ignore[attr-defined]
        return self._rich_base

    def notify_style_update(self) -> None:
        super().notify_style_update()  # type: ignore[misc]
        self._looked_up_styles = self._rich_base = None


class SteadyScroll(ScrollView):
    """A scroll view whose size does not depend on its content: a new virtual size (rows
    added or removed) moves the scrollbar's thumb and repaints, with no layout pass.

    Textual asks for a layout pass of the screen whenever a virtual size changes, and after
    that pass every scroll view on the screen repaints its scrollbar, in a second frame. Here
    the pass is only asked for when it changes something: while the widget is not laid out,
    when its height or width is ``auto``, or when the scrollbar appears or disappears (Textual
    asks for it then). Give it ``overflow-y: scroll`` and that never happens.
    Every RowView is one; for another view put it after the view's class,
    ``class X(HexView, SteadyScroll)``, so that the view's ``DEFAULT_CSS`` comes first."""

    #: no repaint either: every view repaints what its new rows change itself (RowView and
    #: HexView all of it, the queue rings only the lines that read differently)
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False, repaint=False, init=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        bar = self.vertical_scrollbar if self.show_vertical_scrollbar else None
        if bar is None or _thumb(bar, old_value) != _thumb(bar, new_value):
            super().watch_scroll_y(old_value, new_value)
            return
        # the thumb is drawn in the same eighths of a cell (a million rows scrolled by
        # sixteen): the bar keeps its position for dragging, without being drawn again
        bar.set_reactive(ScrollBar.position, bar.validate_position(new_value))
        if round(old_value) != round(new_value):
            self.refresh(self.size.region)

    def refresh_lines(self, lines: Iterable[int]) -> None:
        """Repaint these lines (of the virtual size) in one request: Textual's
        ``refresh_line`` is a whole request a line (each walks the widget's geometry and
        the app's idle check), and a step repaints a dozen lines across the views."""
        top = self.scroll_offset.y
        # the rows' own cells: not the scrollbar beside them, which repaints itself when
        # the scroll position changes
        width = self.scrollable_content_region.width
        regions = [Region(0, y - top, width, 1) for y in sorted(set(lines))]
        if regions:
            self.refresh(*regions)

    def watch_virtual_size(self, size: Size) -> None:
        if self.styles.auto_dimensions or not self.container_size:
            self.refresh(layout=True)
        else:
            # the scrollbar's thumb and the scroll offset's range (Textual's own update,
            # which asks for the layout pass itself when the scrollbar shows or hides)
            self._scroll_update(size)


def _thumb(bar: ScrollBar, position: float) -> tuple[int, int] | None:
    """Where Textual's vertical scrollbar draws its thumb for ``position``: its first and
    last eighth of a cell (the pinned Textual's ``ScrollBarRender.render_bar``; None when
    it draws no thumb). Two positions with the same thumb draw the same bar."""
    size, virtual = bar.size.height, ceil(bar.window_virtual_size)
    window = ceil(bar.window_size) if bar.window_size < bar.window_virtual_size else 0
    if not (window and size and virtual and size != virtual):
        return None
    thumb = max(1, window / (virtual / size))
    where = (size - thumb) * (bar.validate_position(position) / (virtual - window))
    start = int(where * 8)
    return start, start + ceil(thumb * 8)


class RowView(ComponentStyles, SteadyScroll, can_focus=True):
    """Subclasses give ``row_count`` and ``render_row``; this draws and scrolls them."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "up", show=False),
        Binding("down", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "edge(-1)", "top", show=False),
        Binding("end", "edge(1)", "bottom", show=False),
        Binding("enter", "choose", "choose", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=False, repaint=False)

    class Highlighted(Message):
        """The cursor moved onto a row (by a key or a click)."""

        def __init__(self, view: RowView, row: int) -> None:
            super().__init__()
            self.view = view
            self.row = row

        @property
        def control(self) -> RowView:
            return self.view

    class Chosen(Message):
        """Enter (or a second click) on a row."""

        def __init__(self, view: RowView, row: int) -> None:
            super().__init__()
            self.view = view
            self.row = row

        @property
        def control(self) -> RowView:
            return self.view

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._lines: LruCache[tuple[Hashable, int, bool, int], Strip] = LruCache(LINE_CACHE)
        self._generation = 0
        self._rows = 0

    # -- for subclasses --------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return self._rows

    def render_row(self, row: int, width: int, selected: bool) -> Strip:  # pragma: no cover
        raise NotImplementedError

    def row_key(self, row: int) -> Hashable:
        """What row ``row`` shows, as a key of the line cache: the row number by default
        (``invalidate`` then redraws every row); a subclass whose rows are data returns the
        data, so that a row whose content did not change is not rendered again."""
        return row

    def set_row_count(self, rows: int) -> None:
        """The number of rows changed (rows already drawn stay valid)."""
        rows = max(0, rows)
        if rows == self._rows and self.virtual_size.height == rows:
            return
        self._rows = rows
        self.virtual_size = Size(self.size.width, self._rows)
        if self.cursor_row >= self._rows:
            self.set_reactive(RowView.cursor_row, max(0, self._rows - 1))
        self.refresh()

    def invalidate(self) -> None:
        """Every row may read differently now: draw them again."""
        self._generation += 1
        self._lines.clear()
        self.refresh()

    # -- drawing -----------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        row = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        if not 0 <= row < self._rows:
            return Strip.blank(width, self._base_style())
        return self._cached_row(row, width, row == self.cursor_row)

    def _cached_row(self, row: int, width: int, selected: bool) -> Strip:
        """Row ``row`` from the line cache, rendered into it first if it is not there."""
        key = (self.row_key(row), width, selected, self._generation)
        strip = self._lines.get(key)
        if strip is None:
            strip = self.render_row(row, width, selected).adjust_cell_length(
                width, self._base_style()
            )
            self._lines[key] = strip
        return strip

    def prerender(self, first: int, stop: int) -> None:
        """Draw rows ``first`` up to ``stop`` into the line cache, those not there yet: the
        rows the next scroll will bring into view, drawn while the app waits for a key
        rather than in the frame of that scroll."""
        width = self.scrollable_content_region.width
        if width <= 0:
            return
        cursor = self.cursor_row
        for row in range(max(0, first), min(stop, self._rows)):
            self._cached_row(row, width, row == cursor)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.invalidate()

    def finish_row(self, segments: list[Segment], width: int, selected: bool) -> Strip:
        """A row's segments as a strip ``width`` cells wide, in the cursor's colours when it
        is the cursor row (the ``cursor`` component class, ``cursor-blurred`` without focus)."""
        if selected:
            cursor = self._style("cursor" if self.has_focus else "cursor-blurred")
            return fitted(segments, width, post=cursor)
        return fitted(segments, width)

    def row_text(self, row: int, width: int = 300) -> str:
        """Row ``row`` as plain text, as the screen shows it ``width`` cells wide."""
        return self.render_row(row, width, False).text.rstrip()

    def on_focus(self, event: events.Focus) -> None:
        self.invalidate()  # the cursor row is drawn in other colours with focus

    def on_blur(self, event: events.Blur) -> None:
        self.invalidate()

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, self._rows)
        self._lines.clear()
        # the first layout (or a new size) may leave the cursor row off screen
        self.call_after_refresh(self._show_cursor)

    def watch_cursor_row(self, old: int, new: int) -> None:
        self.refresh_lines((old, new))
        self.show_row(new)

    def show_row(self, row: int, _tries: int = 8) -> None:
        """Scroll so that ``row`` is on screen, centred when it was far away."""
        height = self.scrollable_content_region.height
        top = self.scroll_offset.y
        if top <= row < top + height:
            return
        if top - height < row < top:
            # just above: it goes two thirds of the way down (stepping back, the rows
            # before it come into view at once rather than one scroll per step)
            y = row - height + 1 + height // 3
        elif top + height <= row < top + 2 * height:
            # just below: it goes a third of the way down, for the same reason
            y = row - height // 3
        else:
            y = row - height // 2
        y = max(0, y)
        y = min(y, max(0, self._rows - height))
        not_laid_out = height <= 0 or y > self.max_scroll_y
        # rows added in this frame: scrolling is refused until the next layout
        not_laid_out = not_laid_out or (self._rows > height and not self.allow_vertical_scroll)
        if not_laid_out and _tries:
            # not laid out yet (the first frame): once it is, show where the cursor is then
            self.call_after_refresh(self._show_cursor, _tries - 1)
            return
        self.scroll_to(y=y, animate=False, immediate=True)

    def _show_cursor(self, tries: int = 8) -> None:
        self.show_row(self.cursor_row, tries)

    # -- moving -------------------------------------------------------------------------
    def move_to(self, row: int) -> None:
        """The user moved the cursor to ``row``: a subclass may route this elsewhere."""
        if not self._rows:
            return
        row = max(0, min(row, self._rows - 1))
        self.cursor_row = row
        self.post_message(self.Highlighted(self, row))

    def action_cursor(self, delta: int) -> None:
        self.move_to(self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(
            self.cursor_row + direction * max(1, self.scrollable_content_region.height - 1)
        )

    def action_edge(self, direction: int) -> None:
        self.move_to(0 if direction < 0 else self._rows - 1)

    def action_choose(self) -> None:
        if self._rows:
            self.post_message(self.Chosen(self, self.cursor_row))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = self.scroll_offset.y + offset.y
        if 0 <= row < self._rows:
            if row == self.cursor_row or event.chain > 1:
                self.post_message(self.Chosen(self, row))
            else:
                self.move_to(row)
