"""The timeline: every event on one line, any number of them, one of them the cursor.

Columns: a mark (``*`` bookmark, ``!`` an error: ``err_*``, ``ub_*`` or a
non-zero status), the event number, the virtual time, who (H host, D device),
queue:cid, the kind and what happened. They adapt to the width: below 84
columns the time goes to the status bar so that the description keeps most
of the line.

The timeline shows either every event or the rows of a filter (a sorted array
of event positions); the app owns the cursor and tells the timeline where it
is, the timeline tells the app where the user wants it (:class:`Timeline.Moved`).
"""

from __future__ import annotations

import bisect
from array import array
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.message import Message
from textual.strip import Strip

from nvmescope.events import Event, describe, queue_tag
from nvmescope.trace.format import RecordingError
from nvmescope.ui.source import Moment, Source
from nvmescope.ui.widgets._panel import Panel
from nvmescope.ui.widgets._rowview import RowView
from nvmescope.ui.widgets._strips import fitted

WIDE = 110
MEDIUM = 84


def is_error(event: Event) -> bool:
    """What the timeline marks with ``!``: err_*, ub_* and completions with a non-zero status."""
    kind = event.kind
    if kind.startswith(("err_", "ub_")):
        return True
    if kind in ("cqe_post", "cmd_finish"):
        return bool(getattr(event, "status", 0) & 0x7FF)
    return False


def columns(width: int, digits: int) -> tuple[int, int, int, int]:
    """(number, time, queue, kind) column widths for a line ``width`` cells wide (0: hidden).
    The queue column holds ``sq0:12288``: a Linux host's cids carry a generation
    counter in their top four bits, so they run to five digits."""
    if width >= WIDE:
        return max(digits, 5), 12, 10, 18
    if width >= MEDIUM:
        return max(digits, 4), 11, 9, 14
    return max(digits, 3), 0, 9, 11


def time_text(ts_ns: int, width: int) -> str:
    """The virtual time in exactly ``width`` cells, unit included: microseconds with three
    decimals while they fit, then milliseconds, then seconds, so that a run past its
    60 s timeouts keeps every column after the time where it was."""
    for div, unit in ((1_000, "us"), (1_000_000, "ms"), (1_000_000_000, "s")):
        text = f"{ts_ns / div:.3f}{unit}"
        if len(text) <= width:
            return f"{text:>{width}}"
    return f"{ts_ns // 1_000_000_000}s"[-width:].rjust(width)


class Timeline(RowView):
    """See the module docstring."""

    COMPONENT_CLASSES = {
        "timeline--host",
        "timeline--device",
        "timeline--number",
        "timeline--time",
        "timeline--kind",
        "timeline--note",
        "timeline--err",
        "timeline--ub",
        "timeline--bad",
        "timeline--mark",
        "timeline--bookmark",
        "timeline--cursor",
        "timeline--cursor-near",
    }

    class Moved(Message):
        """The user asks for the cursor to be on event ``index``."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, source: Source, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        #: event positions shown (None: every event)
        self.rows: array | None = None
        #: the event the cursor is on (may be one the filter hides)
        self.index = 0
        self.bookmarks: frozenset[int] = frozenset()
        self.set_row_count(len(source))

    # -- what is shown -------------------------------------------------------------------
    def index_of(self, row: int) -> int:
        return self.rows[row] if self.rows is not None else row

    def row_of(self, index: int) -> int:
        """The row of event ``index``, or of the last shown event before it."""
        if self.rows is None:
            return index
        return max(0, bisect.bisect_right(self.rows, index) - 1)

    def shows(self, index: int) -> bool:
        if self.rows is None:
            return 0 <= index < len(self.source)
        k = bisect.bisect_left(self.rows, index)
        return k < len(self.rows) and self.rows[k] == index

    def set_rows(self, rows: array | None) -> None:
        """Show only ``rows`` (sorted event positions), or every event (None)."""
        self.rows = rows
        self.set_row_count(len(rows) if rows is not None else len(self.source))
        self.invalidate()
        self.show_index(self.index)

    def grew(self, new_rows: Any = ()) -> None:
        """Events were added at the end (and ``new_rows`` of them pass the filter)."""
        if self.rows is not None:
            self.rows.extend(new_rows)
            self.set_row_count(len(self.rows))
        else:
            self.set_row_count(len(self.source))

    def show_index(self, index: int) -> None:
        """Put the cursor on event ``index`` (the app calls this; it posts nothing)."""
        old_row = self.cursor_row
        self.index = index
        row = self.row_of(index)
        if row == old_row:
            self.refresh_line(row)
            self.show_row(row)
        else:
            self.cursor_row = row
        if not self._prerender_due:
            self._prerender_due = True
            self.call_after_refresh(self._prerender_around)

    _prerender_due = False

    def _prerender_around(self) -> None:
        """After the frame: the rows a step's scroll shows next, above and below the view
        (a scroll moves the view by at most two thirds of its height; see ``show_row``)."""
        self._prerender_due = False
        top, height = self.scroll_offset.y, self.scrollable_content_region.height
        reach = 2 * height // 3 + 1
        self.prerender(top + height, top + height + reach)
        self.prerender(top - reach, top)

    def set_bookmarks(self, bookmarks: frozenset[int]) -> None:
        if bookmarks != self.bookmarks:
            self.bookmarks = bookmarks
            self.invalidate()

    def move_to(self, row: int) -> None:
        if self.row_count:
            row = max(0, min(row, self.row_count - 1))
            self.post_message(self.Moved(self.index_of(row)))

    def action_choose(self) -> None:
        """Enter on the timeline: the cursor goes to the row (when a filter hid it)."""
        if self.row_count:
            self.post_message(self.Moved(self.index_of(self.cursor_row)))

    # -- drawing ------------------------------------------------------------------------
    def render_row(self, row: int, width: int, selected: bool) -> Strip:
        index = self.index_of(row)
        st = self._style
        try:
            event = self.source.event(index)
        except RecordingError as exc:
            text = f"!{index:>{columns(width, len(str(len(self.source))))[0]}d} cannot be read: {exc.what}"
            strip = Strip([Segment(text, st("err"))]).crop(0, width).adjust_cell_length(width)
            if selected:
                strip = Strip(Segment.apply_style(strip, post_style=st("cursor")), width)
            return strip
        digits = len(str(max(0, len(self.source) - 1)))
        n_w, t_w, q_w, k_w = columns(width, digits)
        actor = st("host") if event.actor == "host" else st("device")
        kind = event.kind
        bad = is_error(event)
        if index in self.bookmarks:
            # a bookmarked error keeps the error mark's look
            mark, mark_style = "*", st("mark") if bad else st("bookmark")
        elif bad:
            mark, mark_style = "!", st("mark")
        else:
            mark, mark_style = " ", Style()
        if kind.startswith("err_"):
            kind_style = st("err")
        elif kind.startswith("ub_"):
            kind_style = st("ub")
        elif bad:
            kind_style = st("bad")
        else:
            kind_style = actor + st("kind")
        text = describe(event)
        text_style = actor + st("note") if kind == "host_step" else actor
        if bad:
            text_style = kind_style
        segments = [
            Segment(mark, mark_style),
            Segment(f"{index:>{n_w}d} ", st("number")),
        ]
        if t_w:
            segments.append(Segment(time_text(event.ts, t_w) + " ", st("time")))
        who = "H" if event.actor == "host" else "D"
        segments += [
            Segment(f"{who} ", actor),
            Segment(f"{_fit(queue_tag(event), q_w):<{q_w}s} ", actor),
            Segment(f"{_fit(kind, k_w):<{k_w}s} ", kind_style),
            Segment(text, text_style),
        ]
        if selected:
            on_cursor = self.shows(self.index) and index == self.index
            return fitted(segments, width, post=st("cursor") if on_cursor else st("cursor-near"))
        return fitted(segments, width)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class TimelinePanel(Panel):
    """The timeline in its panel frame."""

    PANEL_ID = "timeline"
    TITLE = "Timeline"

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self.timeline = Timeline(source, id="timeline-view")

    def compose(self) -> ComposeResult:
        yield self.timeline

    def update_moment(self, moment: Moment) -> None:
        self.timeline.show_index(max(0, moment.index))

    def focus_target(self) -> Timeline:
        return self.timeline

    def position_text(self, top: int, last: int, total: int) -> str:
        """The events on screen by their numbers (from 0, as the rows and the status bar
        count them), and with a filter on, how many it shows."""
        t = self.timeline
        words = f"events {t.index_of(top)}-{t.index_of(last)}"
        return words + (f", {total} shown" if t.rows is not None else f" of {total}")
