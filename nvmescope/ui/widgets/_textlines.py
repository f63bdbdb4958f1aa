"""A line or two of text that changes on every step, drawn with the Line API.

A ``Static`` that changes on each step costs the screen half a millisecond a line
(its content is turned into a visual and laid out again); the few one-line bars of
the main screen (the status bar, the detail pane's title and status, the registers'
legend) change on almost every step, so they are these instead: the text is wrapped
to the width once per change, and a line is one strip from a cache.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.visual import VisualType
from textual.widget import Widget

from nvmescope.ui.widgets._strips import fitted


class TextLines(Widget):
    """Shows a str or rich ``Text`` (no markup), wrapped to its width; give it a fixed
    height in cells (the lines past it are not shown)."""

    DEFAULT_CSS = """
    TextLines {
        height: 1;
    }
    """

    def __init__(self, content: str | Text = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._content: str | Text = content
        self._strips: list[Strip] | None = None
        self._for: tuple[int, int] = (0, 0)
        self._base: Style | None = None

    @property
    def content(self) -> str | Text:
        return self._content

    def update(self, content: VisualType = "", *, layout: bool = False) -> None:
        """Show ``content`` (the ``Static.update`` signature, for ``set_text``)."""
        self._content = content if isinstance(content, Text) else str(content)
        self._strips = None
        self.refresh(layout=layout)

    def render(self) -> Text:
        """The text shown (what a test reads)."""
        return self._content if isinstance(self._content, Text) else Text(self._content)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = self._base = None

    def _base_style(self) -> Style:
        """``rich_style`` (which walks every ancestor), once per change of style."""
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def _lines(self, width: int, height: int) -> list[Strip]:
        if self._strips is not None and self._for == (width, height):
            return self._strips
        base = self._base_style()
        console = self.app.console
        text = self.render()
        strips = []
        if "\n" not in text.plain and (text.no_wrap or text.cell_len <= width):
            # one line that fits or never wraps: what wrapping gives, without its cost
            # (which is more than the rest of the drawing)
            line = text.copy()
            line.rstrip_end(width)
            line.truncate(width, overflow=text.overflow or "fold")
            lines = [line]
        else:
            lines = list(text.wrap(console, max(1, width)))
        for line in lines[:height]:
            segments = Segment.apply_style(line.render(console), style=base)
            strips.append(fitted(segments, width, pad=base, simplify=True))
        self._strips, self._for = strips, (width, height)
        return strips

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        lines = self._lines(width, height)
        if 0 <= y < len(lines):
            return lines[y]
        return Strip.blank(width, self._base_style())
