"""What every panel of the main screen is: a view of one :class:`Moment`.

The app computes a Moment (the states as of the cursor) and hands it to every
panel with :meth:`Panel.show_moment`. A panel that is not on screen only keeps
the moment and draws it when it is shown again, so a step costs only the
panels you can see. A panel reads the Source (events, states, the command
view) but never the emulator, and it moves the cursor only by asking the app
(:class:`Panel.Goto`).
"""

from __future__ import annotations

from array import array
from typing import ClassVar

from textual.containers import Vertical
from textual.css.scalar import Unit
from textual.geometry import Region
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.visual import VisualType
from textual.widget import Widget
from textual.widgets import Static

from nvmescope.trace.format import RecordingError
from nvmescope.ui.source import Analysis, Moment, Source
from nvmescope.ui.widgets._textlines import TextLines


class Panel(Vertical, can_focus=False):
    """Base of the panels. Subclasses override :meth:`update_moment` (and may override
    :meth:`update_analysis` and :meth:`focus_target`)."""

    #: the panel's id in the tab bar and for the number keys
    PANEL_ID: ClassVar[str] = ""
    #: title shown in the panel's border
    TITLE: ClassVar[str] = ""

    class Goto(Message):
        """Ask the app to put the cursor on event ``index`` (a jump: it goes in the history)."""

        def __init__(self, index: int, why: str = "") -> None:
            super().__init__()
            self.index = index
            self.why = why

    class Follow(Message):
        """Ask the app to narrow the timeline to ``rows`` (event positions) and go to ``index``."""

        def __init__(self, rows: array, label: str, index: int) -> None:
            super().__init__()
            self.rows = rows
            self.label = label
            self.index = index

    class Find(Message):
        """Ask the app to find, in a worker, the first event from ``start`` (included)
        that ``predicate`` matches, forwards or backwards, and go there."""

        def __init__(self, predicate: object, start: int, forward: bool, what: str) -> None:
            super().__init__()
            self.predicate = predicate
            self.start = start
            self.forward = forward
            self.what = what

    def __init__(self, source: Source, *, id: str | None = None) -> None:
        super().__init__(id=id or self.PANEL_ID)
        self.source = source
        self.moment: Moment | None = None
        self.analysis: Analysis | None = None
        self.shown = True
        self._stale = False
        self._stale_analysis = False
        self.border_title = self.TITLE

    # -- fed by the app -------------------------------------------------------------------
    def show_moment(self, moment: Moment) -> None:
        self.moment = moment
        if self.shown and self.is_mounted:
            self._stale = False
            self._update(moment)
        else:
            self._stale = True

    def _update(self, moment: Moment) -> None:
        try:
            self.update_moment(moment)
        except RecordingError as exc:
            # an event this panel looked at is in a damaged chunk: say so, keep the rest
            self.app.notify(f"{self.TITLE}: {exc.what}", severity="error", timeout=10)

    def show_analysis(self, analysis: Analysis) -> None:
        """The command view and checks grew or were computed (see ``update_analysis``)."""
        self.analysis = analysis
        if self.shown and self.is_mounted:
            self._stale_analysis = False
            self.update_analysis(analysis)
        else:
            self._stale_analysis = True

    def set_shown(self, shown: bool) -> None:
        self.shown = shown
        if shown and self.is_mounted:
            if self._stale_analysis and self.analysis is not None:
                self._stale_analysis = False
                self.update_analysis(self.analysis)
            if self._stale and self.moment is not None:
                self._stale = False
                self._update(self.moment)

    def on_mount(self) -> None:
        self.set_shown(self.shown)
        target = self.focus_target()
        if isinstance(target, ScrollView) and target is not self:
            self.track_position(target)

    def track_position(self, view: ScrollView) -> None:
        """Say in the frame which lines of ``view`` are on screen (its scrollbar is hidden)."""

        def show(_: object = None) -> None:
            total = view.virtual_size.height
            height = view.scrollable_content_region.height
            top = int(view.scroll_y)
            if height <= 0 or total <= height:
                text = ""
            else:
                text = self.position_text(top, min(top + height, total) - 1, total)
            self.set_subtitle(text)

        self.watch(view, "scroll_y", show, init=False)
        self.watch(view, "virtual_size", show, init=False)
        self.watch(view, "size", show, init=True)

    def position_text(self, top: int, last: int, total: int) -> str:
        """The frame's figure for lines ``top`` to ``last`` (0-based) of ``total`` on
        screen: the lines counted from 1 ("12-31 of 96")."""
        return f"{top + 1}-{last + 1} of {total}"

    def set_subtitle(self, text: str) -> None:
        """Show ``text`` in the bottom border, repainting only that line.

        Setting ``border_subtitle`` repaints the whole panel, and with it the screen
        region of every widget inside it; a step that only moves a position figure
        ("1-20 of 45") must cost one line, not the panel."""
        if self.border_subtitle == text:
            return
        if not self.is_mounted:
            self.border_subtitle = text
            return
        # what the descriptor stores (Textual 8.2.8, pinned), without its whole refresh
        self._border_subtitle = self.render_str(text).expand_tabs(4).split()[0] if text else None
        outer = self.outer_size
        bottom = Region(0, outer.height - 1, outer.width, 1)
        self.refresh(bottom.translate(-self.content_offset))

    # -- for subclasses --------------------------------------------------------------------
    def update_moment(self, moment: Moment) -> None:
        """Draw the panel as of ``moment``."""

    def update_analysis(self, analysis: Analysis) -> None:
        """Draw what depends on the command view or the checks."""

    def focus_target(self) -> Widget:
        """The widget that takes focus when the panel is chosen (its first focusable one)."""
        for child in self.query("*"):
            if child.focusable:
                return child
        return self


def set_text(widget: Static | TextLines, content: VisualType) -> None:
    """Show ``content`` in a Static, doing nothing when it already shows it, and without a
    layout pass when the widget's height is fixed in cells (a step must not re-lay the
    screen out just to change a line of text)."""
    if widget.__dict__.get("_shown_text", _NOTHING) == content:
        return
    widget.__dict__["_shown_text"] = content
    height = widget.styles.height
    fixed = height is not None and height.unit == Unit.CELLS
    widget.update(content, layout=not fixed)


_NOTHING = object()
