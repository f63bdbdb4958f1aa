"""The nvmescope TUI: one cursor over every event, every panel drawn from it.

The app owns the cursor (an event position), the history of its jumps, the
filter, the breakpoints and bookmarks, and a live session's runs. Every move
of the cursor makes one :class:`~nvmescope.ui.source.Moment` from the Source
and hands it to the panels; nothing else flows into them. Work over many
events (filters, searches, breakpoints, the command view and checks of a
recording) runs in worker threads on their own reader, so keys keep working.
"""

from __future__ import annotations

import gc
import re
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events, work
from textual.app import App, SystemCommand
from textual.screen import Screen
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import HelpPanel
from textual.worker import Worker, get_current_worker

from nvmescope.events import Event, queue_tag
from nvmescope.nvme.opcodes import opcode_name
from nvmescope.trace.checks import SEVERITIES
from nvmescope.trace.filter import FilterError, all_of, compile_filter
from nvmescope.trace.format import RecordingError
from nvmescope.trace.state import State
from nvmescope.ui.actions import (
    LESSON_ACTIONS,
    PANELS,
    PLAY_BEAT,
    PLAY_BEATS,
    bindings,
    palette_entries,
)
from nvmescope.ui.hands import HandsMixin
from nvmescope.ui.marks import Marks, load_marks, sidecar_path
from nvmescope.ui.screens.main import MainScreen
from nvmescope.ui.screens.marks import BookmarksScreen, BreakpointsScreen
from nvmescope.ui.screens.prompt import TYPED_BELOW, PromptError, PromptScreen
from nvmescope.ui.source import (
    Analysis,
    LiveSource,
    Moment,
    Predicate,
    Source,
    analyse,
    describe_line,
    matching,
    scan,
)
from nvmescope.ui.widgets import LessonBar, LessonRun, Panel, StatusBar, Timeline

STYLES = Path(__file__).parent / "styles"
#: presentation mode's colours: light text on black, saturated accents, for a projector
PROJECTOR_THEME = Theme(
    name="nvmescope-projector",
    primary="#ffd700",
    secondary="#00e5ff",
    accent="#ffd700",
    warning="#ffb000",
    error="#ff5555",
    success="#55ff55",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#1a1a1a",
    boost="#262626",
    dark=True,
    text_alpha=1.0,
)
#: wall time one slice of a live run may take before keys are looked at again
RUN_SLICE_S = 0.04
#: how many positions the history keeps
HISTORY = 256
#: the cyclic collector runs when no key came for this long (s), checked as often
GC_PAUSE_S = 0.5
#: ... or when this many container objects were allocated since it last ran
GC_MAX_PENDING = 200_000
#: ... and this often during a live run (s)
GC_RUNNING_S = 5.0
#: a live session moves what it has built out of the collector's way this often (events)
FREEZE_EVERY = 100_000
#: how far back a quick breakpoint looks for the cmd_start of the current event's command
OPCODE_LOOKBACK = 4096
#: time units ``:`` accepts, in nanoseconds
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_TIME = re.compile(r"^@?\s*([0-9]{1,15}(?:\.[0-9]{1,9})?)\s*(ns|us|µs|ms|s)?$")


@dataclass(frozen=True)
class Ahead:
    """A position a live session has not reached yet: run on until ``stop`` matches."""

    stop: Predicate
    #: what the notice says when the run gets there (None: the cursor's move says it)
    what: str | None


def parse_position(
    text: str,
    cursor: int,
    length: int,
    time_of: Callable[[int], int],
    end_ts: int | None = None,
    last_ts: int | None = None,
) -> int | Ahead:
    """What ``:`` understands: ``42`` (event), ``+10`` / ``-5`` (relative), ``1056.1us``,
    ``2ms``, ``500ns``, ``@1056.1`` (a virtual time; ``@`` alone means microseconds).

    ``end_ts`` is the time of the last event of a live session that will go on: an event
    or a time beyond the end is then a place to run on to (``Ahead``), not out of range.
    ``last_ts``, the time of the last event there is: a time after it, with no session
    to run on, is out of range as an event number past the end is."""
    t = text.strip().replace("_", "")
    if not t:
        raise PromptError("type an event number (42, +10, -5) or a virtual time (1056.1us, 2ms)")
    if len(t) > 40:
        raise PromptError("that is too long to be an event number or a time")
    if t.isascii() and t.isdigit():
        n = int(t)
        if n >= length and end_ts is not None:
            return Ahead(lambda e: e.seq >= n, None)
        if not 0 <= n < length:
            raise PromptError(f"event {t} is out of range: {_range(length)}")
        return n
    if t[0] in "+-" and t[1:].isascii() and t[1:].isdigit():
        n = cursor + int(t)
        if n >= length and end_ts is not None:
            return Ahead(lambda e: e.seq >= n, None)
        if not 0 <= n < length:
            raise PromptError(
                f"{t} from event {cursor} is event {n}, out of range: {_range(length)}"
            )
        return n
    m = _TIME.match(t)
    if m and (m[2] or t.startswith("@")):
        value, unit = m[1], m[2] or "us"
        whole, _, frac = value.partition(".")
        scale = _UNITS[unit]
        ns = int(whole) * scale + (int(frac.ljust(9, "0")[:9]) * scale) // 1_000_000_000
        if end_ts is not None and ns > end_ts:
            return Ahead(lambda e: e.ts >= ns, f"the first event at {value} {unit}")
        if end_ts is None and last_ts is not None and ns > last_ts:
            raise PromptError(
                f"{value} {unit} is after the last event (event {length - 1}, at "
                f"{last_ts / 1000:.3f} us)"
            )
        return time_of(ns)
    raise PromptError(
        f"{text.strip()[:40]!r} is not an event number (42, +10, -5) or a time (1056.1us)"
    )


def _range(length: int) -> str:
    return f"the events are 0..{length - 1}" if length else "there are no events"


class NvmeScopeApp(HandsMixin, App[None]):
    """See the module docstring."""

    # app.tcss (the layout, bars and the timeline), then one file per other panel
    CSS_PATH = [
        STYLES / "app.tcss",
        *(STYLES / f"{pid}.tcss" for pid, _, _ in PANELS if pid != "timeline"),
        STYLES / "forms.tcss",
    ]
    BINDINGS = bindings()
    TITLE = "nvmescope"

    def __init__(
        self,
        source: Source,
        *,
        at: int = 0,
        marks: Marks | None = None,
        lesson: LessonRun | None = None,
        present: bool = False,
    ) -> None:
        super().__init__()
        self.present_at_start = present
        self.source = source
        self.lesson = lesson
        self.start_at = lesson.stop if lesson is not None and not at else at
        self.cursor = 0
        self.moment: Moment | None = None
        self.history: list[int] = []
        self.history_pos = -1
        if marks is None:
            marks, warnings = load_marks(source.path, len(source))
        else:
            warnings = []
        self.marks = marks
        self.startup_warnings = list(source.warnings) + warnings
        #: what the status bar says of them (each was a notification when the app opened)
        self.startup_status = (
            "⚠ partial: read up to the damage"
            if source.warnings
            else ("⚠ marks not loaded" if warnings else "")
        )
        self.filter_text = ""
        self.filter_predicate: Predicate | None = None
        self.follow_label = ""
        self.search_text = ""
        self.running = False
        self.busy = ""
        self.analysis: Analysis | None = Analysis() if source.live else None
        self.analysis_progress: float | None = None if source.live else 0.0
        self._last_progress = -1
        self._counts: dict[str, int] = {}
        self._counts_key: tuple[int, int, bool] | None = None
        self.play_beat = PLAY_BEAT
        self._player: Timer | None = None

    # -- screens --------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        return MainScreen(self.source)

    @property
    def main(self) -> MainScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    @property
    def timeline(self) -> Timeline:
        return self.main.timeline_panel.timeline

    def on_mount(self) -> None:
        self.register_theme(PROJECTOR_THEME)
        self.theme = PROJECTOR_THEME.name if self.present_at_start else "textual-dark"
        # Python's cyclic collector can stall a frame for tens of milliseconds; while keys
        # come in it waits, and collects when the user pauses (or garbage piles up)
        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        # what imports and the first compose made lives as long as the app: keep it out
        # of every later collection's scan
        gc.freeze()
        self._last_key = self._last_full_gc = time.monotonic()
        self._gc_due = True
        self.set_interval(GC_PAUSE_S, self._collect_when_idle)

    def _collect_when_idle(self) -> None:
        now = time.monotonic()
        # once per pause: a full collection every tick of an idle app would keep a core
        # busy walking a heap that has not changed
        if self.running:
            self._gc_due = True  # and once more when the run is over
        idle = self._gc_due and now - self._last_key >= GC_PAUSE_S and not self.running
        if idle or (self.running and now - self._last_full_gc >= GC_RUNNING_S):
            # a live run is not waiting on a frame: a full collection now and then keeps
            # the garbage a long run makes from piling up
            gc.collect()
            self._last_full_gc = now
            self._gc_due = self.running
        elif gc.get_count()[0] > GC_MAX_PENDING:
            gc.collect(1)  # under pressure while keys come in: the young objects only

    def on_main_screen_ready(self, message: MainScreen.Ready) -> None:
        if self.present_at_start:
            self.main.present = True
        self.timeline.set_bookmarks(self.marks.bookmarked)
        self.goto(self.start_at, jump=False)
        self.call_after_refresh(self.update_status)
        for warning in self.startup_warnings:
            self.notify(warning, title="warning", severity="warning", timeout=30)
        if self.source.live:
            assert self.analysis is not None
            self._feed_analysis()
        else:
            # the first frame first: the analysis thread would hold the GIL while it paints
            self.call_after_refresh(self._analyse)
        if self.lesson is not None:
            self._show_lesson_step()
        else:
            self.main.action_focus_panel("timeline")

    def on_unmount(self) -> None:
        self.running = False
        if getattr(self, "_gc_was_enabled", True):
            gc.enable()

    # -- the cursor --------------------------------------------------------------------------
    def goto(self, index: int, *, jump: bool = True) -> None:
        """Put the cursor on event ``index`` and draw every panel from there."""
        length = len(self.source)
        index = max(0, min(index, length - 1)) if length else 0
        if jump and index != self.cursor:
            self._remember(self.cursor, index)
        previous = self.moment
        try:
            moment = self.source.moment(index, since=previous)
        except RecordingError as exc:
            # a damaged chunk: the state there cannot be folded; stay where we were
            self.notify(f"event {index} cannot be shown: {exc.what}", severity="error", timeout=10)
            if previous is not None:
                return
            moment = Moment(-1, None, State(), State(), State(), -1, len(self.source))
        self.cursor = max(0, moment.index)
        self.moment = moment
        self.main.show_moment(moment)
        self.update_status()
        if self.followed is not None:
            self.follow_composed(moment.event)
        if self.lesson is not None and self.lesson.shown:
            self.main.query_one(LessonBar).show_cursor(self.lesson, self.cursor)

    def _remember(self, old: int, new: int) -> None:
        del self.history[self.history_pos + 1 :]
        if not self.history or self.history[-1] != old:
            self.history.append(old)
        self.history.append(new)
        del self.history[:-HISTORY]
        self.history_pos = len(self.history) - 1

    def _shown_neighbour(self, direction: int) -> int | None:
        """The next (or previous) event the timeline shows, from the cursor."""
        tl = self.timeline
        if tl.rows is None:
            n = self.cursor + direction
            return n if 0 <= n < len(self.source) else None
        row = tl.row_of(self.cursor)
        if direction > 0:
            row = row + 1 if tl.shows(self.cursor) or tl.index_of(row) <= self.cursor else row
        else:
            row = row - 1 if tl.shows(self.cursor) else row
        if 0 <= row < tl.row_count:
            n = tl.index_of(row)
            return n if (n > self.cursor if direction > 0 else n < self.cursor) else None
        return None

    # -- stepping ------------------------------------------------------------------------------
    def action_step(self, direction: int) -> None:
        if self.running:
            return
        self.pause_play()
        self._step(direction)

    def _step(self, direction: int) -> bool:
        """One shown event forwards or back (a live session runs one more at its end);
        False, with a word to the user, when there is none that way."""
        before = self.cursor
        target = self._shown_neighbour(direction)
        if target is not None:
            self.goto(target, jump=False)
        elif direction > 0 and self._can_run():
            self._step_live()
        elif direction > 0:
            self.notify(self._end_words(), timeout=3)
        else:
            self.notify("at the first event", timeout=3)
        return self.cursor != before

    def _can_run(self) -> bool:
        return isinstance(self.source, LiveSource) and not self.source.finished

    def _end_words(self) -> str:
        if self.source.live:
            return "the scenario has finished: this is its last event"
        return "at the last event of the recording"

    def _step_live(self) -> None:
        assert isinstance(self.source, LiveSource)
        before = len(self.source)
        while True:
            if not self.source.step(1):
                self._grew(before)
                self.notify(self._end_words(), timeout=3)
                return
            self._grew(before)
            # with a filter on, step until an event it shows (or the end)
            if self.filter_predicate is None or self.timeline.shows(len(self.source) - 1):
                break
            if self.source.finished:
                break
        self.goto(len(self.source) - 1, jump=False)

    def _grew(self, before: int) -> None:
        """Events ``before..`` were added by a live session: show them everywhere."""
        after = len(self.source)
        if after == before:
            return
        rows: Iterable[int] = ()
        if self.filter_predicate is not None and self.timeline.rows is not None:
            found = matching(self.source.recording, self.filter_predicate, before, after)
            rows = found if found is not None else ()
        self.timeline.grew(rows)
        self._feed_analysis()

    def action_first(self) -> None:
        rows = self.timeline.rows
        self.goto(rows[0] if rows else 0)

    def action_last(self) -> None:
        rows = self.timeline.rows
        self.goto(rows[-1] if rows else len(self.source) - 1)

    def action_history(self, direction: int) -> None:
        pos = self.history_pos + direction
        if not self.history or not 0 <= pos < len(self.history):
            self.notify("no more history that way", timeout=2)
            return
        # stepping back from a place the history does not hold yet: remember it first
        if direction < 0 and self.history[self.history_pos] != self.cursor:
            self._remember(self.history[self.history_pos], self.cursor)
            pos = self.history_pos - 1
        self.history_pos = pos
        self.goto(self.history[pos], jump=False)

    def action_completion(self, direction: int) -> None:
        self.find(lambda e: e.kind == "cqe_post", direction, "completion")

    def action_continue(self, direction: int) -> None:
        if self.running:
            return
        predicate = self.marks.predicate()
        if direction > 0:
            if predicate is None:
                if self._can_run():
                    self.goto(len(self.source) - 1)
                    self.run_live(None)
                else:
                    self.action_last()
                    self.notify("no breakpoints: went to the last event", timeout=3)
                return
            if self.cursor >= len(self.source) - 1 and self._can_run():
                self.run_live(predicate)
                return
            self.find(predicate, 1, "breakpoint", or_else=self._continue_live)
        else:
            if predicate is None:
                self.action_first()
                self.notify("no breakpoints: went to event 0", timeout=3)
                return
            self.find(predicate, -1, "breakpoint")

    def _continue_live(self, predicate: Predicate | None = None, what: str = "breakpoint") -> bool:
        """After a forward search found nothing in the events there are: run a live session
        on until ``predicate`` (default: the breakpoints) matches."""
        if not self._can_run():
            return False
        self.goto(len(self.source) - 1)
        self.run_live(self.marks.predicate() if predicate is None else predicate, what)
        return True

    # -- finding (in a worker) ---------------------------------------------------------------------
    def find(
        self,
        predicate: Predicate,
        direction: int,
        what: str,
        *,
        start: int | None = None,
        or_else: Callable[[], bool] | None = None,
    ) -> None:
        """Move to the next (``direction`` 1) or previous (-1) event that matches, found
        by a worker; ``or_else`` runs when nothing does (and says whether it did something).
        Forwards, by default, a live session that has not finished runs on until one
        matches: the next completion of a session paused at event 0 is still to come."""
        shown = self.filter_predicate
        test = predicate if shown is None else all_of(predicate, shown)
        if or_else is None and direction > 0:
            # (the run applies the filter itself)
            or_else = lambda: self._continue_live(predicate, what)  # noqa: E731
        if start is None:
            start = self.cursor + direction
        if not 0 <= start < len(self.source):
            if not (or_else and or_else()):
                self.notify(self._none_found(what, direction > 0), timeout=3)
            return
        self.source.refresh()
        self.busy = f"finding the {'next' if direction > 0 else 'previous'} {what}"
        self.update_status()
        self._find_worker(test, start, direction > 0, what, or_else, self._kind_index())

    @work(thread=True, exclusive=True, group="find", exit_on_error=False)
    def _find_worker(
        self,
        predicate: Predicate,
        start: int,
        forward: bool,
        what: str,
        or_else: Callable[[], bool] | None,
        kinds: bytes | None = None,
    ) -> None:
        worker = get_current_worker()
        rec = self.source.scanner()
        try:
            hit = scan(
                rec, predicate, start, forward, lambda: worker.is_cancelled, self._progress, kinds
            )
        finally:
            rec.close()
        if not worker.is_cancelled:
            self.call_from_thread(self._found, hit, what, forward, or_else)

    def _progress(self, fraction: float) -> None:
        pct = int(fraction * 100)
        if pct != self._last_progress:
            self._last_progress = pct
            self.call_from_thread(self._show_progress, pct)

    def _show_progress(self, pct: int) -> None:
        if self.busy:
            self.busy = re.sub(r" \d+%$", "", self.busy) + f" {pct}%"
            self.update_status()

    def _found(
        self, hit: int | None, what: str, forward: bool, or_else: Callable[[], bool] | None
    ) -> None:
        self.busy = ""
        self._last_progress = -1
        if hit is not None:
            self.goto(hit)
            if what == "breakpoint":
                self.notify(f"breakpoint at event {hit}", timeout=3)
            return
        if or_else is not None and or_else():
            return
        self.update_status()
        self.notify(self._none_found(what, forward), timeout=3)

    def _none_found(self, what: str, forward: bool) -> str:
        """``no completion after event 120`` (and, with a filter on, that it looked only
        at the events the filter shows)."""
        where = "after" if forward else "before"
        among = " the filter shows" if self.filter_predicate is not None else ""
        return f"no {what}{among} {where} event {self.cursor}"

    # -- live runs ------------------------------------------------------------------------------------
    def run_live(
        self, predicate: Predicate | None, what: str | None = "breakpoint", filtered: bool = True
    ) -> None:
        """Run the live session until ``predicate`` matches (among the events the timeline's
        filter shows, if ``filtered``), it ends, or a key is pressed. The notice says
        ``what`` was found (nothing if None)."""
        if not self._can_run() or self.running:
            return
        self.running = True
        self.update_status()
        self.set_timer(0.001, lambda: self._run_slice(predicate, what, filtered))

    def _run_slice(
        self, predicate: Predicate | None, what: str | None = "breakpoint", filtered: bool = True
    ) -> None:
        if not self.running or not isinstance(self.source, LiveSource):
            return
        shown = self.filter_predicate if filtered else None
        stop = (
            predicate
            if shown is None or predicate is None
            else (lambda e: predicate(e) and shown(e))
        )
        before = len(self.source)
        _, hit = self.source.run(RUN_SLICE_S, stop)
        self._grew(before)
        if hit is not None:
            self.running = False
            self.goto(hit)
            if what is not None:
                self.notify(f"{what} at event {hit}", timeout=3)
        elif self.source.finished:
            self.running = False
            self.goto(len(self.source) - 1)
            self.notify(self._end_words(), timeout=3)
        else:
            self.goto(len(self.source) - 1, jump=False)
            self.set_timer(0.001, lambda: self._run_slice(predicate, what, filtered))

    def stop_run(self) -> None:
        if self.running:
            self.running = False
            self.notify(f"stopped at event {self.cursor}", timeout=3)
            self.update_status()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._last_key = time.monotonic()
            self._gc_due = True
        # while a live session runs, any key pauses it (and does nothing else)
        if self.running and isinstance(event, events.Key):
            event.stop()
            event.prevent_default()
            self.stop_run()
            return
        # a key typed on the main screen that reaches the app after a key before it
        # opened a prompt (":300" Enter, typed at once) is the prompt's, typed ahead
        if isinstance(event, events.Key) and event.is_forwarded:
            below = TYPED_BELOW.pop(event, None)
            top = self.screen
            if below is not None and below is not top and isinstance(top, PromptScreen):
                top.type_ahead(event)
                return
        await super().on_event(event)

    # -- filter and search ---------------------------------------------------------------------------------
    def action_filter(self) -> None:
        def check(text: str) -> tuple[str, Predicate | None]:
            text = text.strip()
            return text, compile_filter(text) if text else None

        self.push_screen(
            PromptScreen(
                "Filter the timeline (empty: every event)",
                check,
                value=self.filter_text,
                placeholder='kind == "cqe_post" or status != 0',
                help="The recording filter language (docs/filters.md): kind, queue, reg, opcode, status, ...",
                id="filter-prompt",
            ),
            self._set_filter,
        )

    def _set_filter(self, result: tuple[str, Predicate | None] | None) -> None:
        if result is None:
            return
        text, predicate = result
        self.follow_label = ""
        if predicate is None:
            self.filter_text = ""
            self.filter_predicate = None
            self.workers.cancel_group(self, "filter")
            self.timeline.set_rows(None)
            self.busy = ""
            self.update_status()
            return
        self.apply_filter(text, predicate)

    def apply_filter(self, text: str, predicate: Predicate) -> None:
        self.filter_text = text
        self.filter_predicate = predicate
        self.source.refresh()
        self.busy = "filtering"
        self.update_status()
        self._filter_worker(predicate, self._kind_index())

    def _kind_index(self) -> bytes | None:
        """Every event's kind for a worker's scan, once the analysis has read them (a copy:
        a live session's analysis grows on this thread while the worker reads)."""
        analysis = self.analysis
        return bytes(analysis.kinds) if analysis is not None else None

    @work(thread=True, exclusive=True, group="filter", exit_on_error=False)
    def _filter_worker(self, predicate: Predicate, kinds: bytes | None = None) -> None:
        worker = get_current_worker()
        rec = self.source.scanner()
        try:
            stop = len(rec)
            rows = matching(
                rec, predicate, 0, stop, lambda: worker.is_cancelled, self._progress, kinds
            )
        finally:
            rec.close()
        if rows is not None and not worker.is_cancelled:
            self.call_from_thread(self._filtered, predicate, rows, stop)

    def _filtered(self, predicate: Predicate, rows: array, stop: int) -> None:
        if predicate is not self.filter_predicate:
            return
        if stop < len(self.source):  # a live session went on while the worker read
            more = matching(self.source.recording, predicate, stop, len(self.source))
            rows.extend(more or ())
        self.busy = ""
        self._last_progress = -1
        self.timeline.set_rows(rows)
        self.update_status()
        if not rows:
            self.notify("no event matches the filter", timeout=3)

    def action_search(self) -> None:
        def check(text: str) -> str:
            if not text.strip():
                raise PromptError("type the text to look for")
            return text.strip()

        self.push_screen(
            PromptScreen(
                "Search the event descriptions (forwards; Ctrl+N next, Ctrl+B previous)",
                check,
                value=self.search_text,
                placeholder="Identify, slot 13, 0x10002000, phase ...",
                id="search-prompt",
            ),
            self._search,
        )

    def _search(self, text: str | None) -> None:
        if text:
            self.search_text = text
            self.action_search_again(1)

    def action_search_again(self, direction: int) -> None:
        if not self.search_text:
            self.notify("no search yet: ? searches", timeout=3)
            return
        needle = self.search_text.lower()
        self.find(
            lambda e: needle in describe_line(e).lower(),
            direction,
            f"match for {self.search_text!r}",
        )

    # -- breakpoints and bookmarks ---------------------------------------------------------------------------
    def quick_breakpoints(self) -> list[tuple[str, str]]:
        """Breakpoints made from the current event and selection: (label, expression)."""
        out: list[tuple[str, str]] = []
        event = self.moment.event if self.moment else None
        if event is None:
            return out
        out.append((f"this event's kind: {event.kind}", f'kind == "{event.kind}"'))
        # the register this event accesses, and the one selected in the Registers panel
        seen: set[str] = set()
        for whose, reg in (
            ("this event's register", getattr(event, "reg", "") or ""),
            ("the selected register", self.main.panels["registers"].selected_register or ""),
        ):
            base = reg.split(".")[0] if not reg.startswith("msix[") else reg
            if base and base not in seen:
                seen.add(base)
                out.append((f"{whose}: {base.upper()}", f'reg == "{base}"'))
        opname = self._opname(event)
        if opname:
            out.append((f"this opcode: {opname}", f'opcode == "{opname}"'))
        tag = queue_tag(event).split(":")[0]
        if tag:
            out.append((f"this queue: {tag}", f'queue == "{tag}"'))
        return out

    def _opname(self, event: Event) -> str:
        """The opcode of the command the current event belongs to ('' if none): its own
        (cmd_start, cmd_finish), its SQE's (sqe_fetch), or its command's cmd_start a little
        earlier."""
        name = getattr(event, "opname", "")
        if name:
            return str(name)
        if event.kind == "sqe_fetch" and len(getattr(event, "data", b"")) >= 1:
            return opcode_name(event.data[0], event.sqid == 0)  # type: ignore[attr-defined]
        if event.sqid is None or event.cid is None:
            return ""
        start = max(0, self.cursor - OPCODE_LOOKBACK)
        for earlier in reversed(list(self.source.events(start, self.cursor))):
            if (earlier.sqid, earlier.cid) == (
                event.sqid,
                event.cid,
            ) and earlier.kind == "cmd_start":
                return str(getattr(earlier, "opname", ""))
        return ""

    def action_add_breakpoint(self) -> None:
        def check(text: str) -> str:
            if not text.strip():
                raise PromptError("type a filter expression, or choose one below")
            compile_filter(text)
            return text.strip()

        self.push_screen(
            PromptScreen(
                "Add a breakpoint: it fires on every event the expression matches, forwards and backwards",
                check,
                placeholder='kind == "irq_msix"',
                suggestions=self.quick_breakpoints(),
                id="breakpoint-prompt",
            ),
            self._add_breakpoint,
        )

    def add_breakpoint(self, expr: str) -> None:
        try:
            self.marks.add_breakpoint(expr)
        except FilterError as exc:
            self.notify(str(exc), severity="error")
            return
        self._save_marks()
        self.notify(f"breakpoint: {expr}", timeout=3)
        self.update_status()

    def _add_breakpoint(self, expr: str | None) -> None:
        if expr:
            self.add_breakpoint(expr)

    def action_quick_breakpoint(self, which: str) -> None:
        for label, expr in self.quick_breakpoints():
            if label.startswith(f"this {which}"):
                self.add_breakpoint(expr)
                return
        self.notify(f"this event has no {which} to break on", timeout=3)

    def action_breakpoints(self) -> None:
        def done(changed: bool | None) -> None:
            if changed:
                self._save_marks()
            self.update_status()

        self.push_screen(BreakpointsScreen(self.marks), done)

    def action_bookmark(self) -> None:
        index = self.cursor
        old = self.marks.bookmark_at(index)

        def done(note: str | None) -> None:
            if note is None:
                return
            try:
                self.marks.set_bookmark(index, note)
            except ValueError as exc:
                self.notify(str(exc), severity="error")
                return
            self._save_marks()
            self.timeline.set_bookmarks(self.marks.bookmarked)
            self.notify(f"bookmark at event {index}", timeout=3)

        self.push_screen(
            PromptScreen(
                f"Bookmark event {index}: a note",
                lambda text: text,
                value=old.note if old else "",
                placeholder="what happens here",
                id="bookmark-prompt",
            ),
            done,
        )

    def action_bookmarks(self) -> None:
        screen = BookmarksScreen(self.marks)

        def done(index: int | None) -> None:
            if screen.changed:
                self._save_marks()
                self.timeline.set_bookmarks(self.marks.bookmarked)
            if index is not None:
                self.goto(index)

        self.push_screen(screen, done)

    def _save_marks(self) -> None:
        if self.marks.path is None:
            return
        error = self.marks.save(len(self.source))
        if error:
            self.notify(error, severity="warning", timeout=10)

    # -- save, go to, escape ------------------------------------------------------------------------------------
    def action_save(self) -> None:
        source = self.source
        if not isinstance(source, LiveSource):
            self.notify(f"this is a recording already: {source.path}", timeout=5)
            return
        default = f"{source.scenario_name}-{len(source)}ev.nvmetrace"
        confirmed: list[str] = []

        def check(text: str) -> Path:
            path = Path(text.strip()).expanduser()
            if not text.strip():
                raise PromptError("type a file name")
            try:
                exists = path.exists()
                if path.is_dir():
                    raise PromptError(f"{path} is a directory: add a file name")
                if not path.parent.is_dir():
                    raise PromptError(f"no such directory: {path.parent}")
                if exists and not path.is_file():
                    raise PromptError(f"{path} exists and is not a regular file")
            except OSError as exc:  # a name too long, a loop of links, no permission
                raise PromptError(f"cannot use {path}: {exc.strerror or exc}") from None
            if exists and confirmed[-1:] != [str(path)]:
                confirmed.append(str(path))
                raise PromptError(f"{path} exists: Enter again to overwrite it")
            try:
                events = source.save(path)
            except ValueError as exc:  # the session's own file
                raise PromptError(f"cannot save: {exc}") from None
            except OSError as exc:
                # the copy is written beside the file first, then renamed over it
                beside = exc.filename is not None and Path(exc.filename).name != path.name
                how = f" (a new file cannot be made in {path.parent})" if beside else ""
                raise PromptError(f"cannot write {path}: {exc.strerror or exc}{how}") from None
            if self.marks.bookmarks or self.marks.breakpoints:
                error = self.marks.save(len(source), sidecar_path(path))
                if error:
                    self.notify(error, severity="warning", timeout=10)
            self.notify(f"saved {events} events to {path}", timeout=5)
            return path

        self.push_screen(
            PromptScreen(
                "Save the session so far as a recording",
                check,
                value=default,
                help="It replays with `nvmescope replay FILE --verify` and opens with `nvmescope FILE`.",
                id="save-prompt",
            )
        )

    def action_goto(self) -> None:
        def check(text: str) -> int:
            self.source.refresh()
            end_ts = last_ts = None
            if len(self.source):
                last_ts = self.source.event(len(self.source) - 1).ts
                if self._can_run():
                    end_ts = last_ts
            return parse_position(
                text, self.cursor, len(self.source), self.source.index_at_time, end_ts, last_ts
            )

        def go(n: int | Ahead | None) -> None:
            if isinstance(n, Ahead):
                self.goto(len(self.source) - 1)
                self.run_live(n.stop, n.what, filtered=False)
            elif n is not None:
                self.goto(n)

        self.push_screen(
            PromptScreen(
                "Go to an event number or a virtual time",
                check,
                placeholder="42, +10, -5, 1056.1us, 2ms",
                id="goto-prompt",
            ),
            go,
        )

    def action_toggle_keys(self) -> None:
        """F1: Textual's keys panel beside the panels, or away again."""
        if self.screen.query(HelpPanel):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_escape(self) -> None:
        if self.screen.query(HelpPanel):  # the keys panel goes first
            self.action_hide_help_panel()
        elif self.playing:
            self.pause_play()
        elif self.running:
            self.stop_run()
        elif self.busy:
            self.workers.cancel_group(self, "find")
            self.workers.cancel_group(self, "filter")
            self.busy = ""
            self.update_status()
        elif self.follow_label or self.filter_text:
            self.follow_label = ""
            self.filter_text = ""
            self.filter_predicate = None
            self.timeline.set_rows(None)
            self.update_status()

    def action_focus_panel(self, pid: str) -> None:
        self.main.action_focus_panel(pid)

    # -- messages from panels -------------------------------------------------------------------------------------
    def on_timeline_moved(self, message: Timeline.Moved) -> None:
        if not self.running:
            self.goto(message.index, jump=False)

    def on_panel_goto(self, message: Panel.Goto) -> None:
        self.goto(message.index)
        if message.why:
            self.notify(message.why, timeout=3)

    def on_panel_follow(self, message: Panel.Follow) -> None:
        self.workers.cancel_group(self, "filter")
        self.filter_text = ""
        self.filter_predicate = None
        self.follow_label = message.label
        self.timeline.set_rows(message.rows)
        self.goto(message.index)
        self.update_status()

    def on_panel_find(self, message: Panel.Find) -> None:
        self.find(
            message.predicate, 1 if message.forward else -1, message.what, start=message.start
        )  # type: ignore[arg-type]

    # -- the command view and checks ------------------------------------------------------------------------------
    def _feed_analysis(self) -> None:
        analysis = self.analysis
        if analysis is None:
            return
        if analysis.fed < len(self.source):
            before = analysis.fed
            analysis.feed(self.source.events(analysis.fed, len(self.source)))
            if before // FREEZE_EVERY != analysis.fed // FREEZE_EVERY:
                gc.freeze()  # see _analysed
        if self.source.finished:
            analysis.finish()
        self.main.show_analysis(analysis)
        self.update_status()

    @work(thread=True, exclusive=True, group="analysis", exit_on_error=False)
    def _analyse(self) -> None:
        worker = get_current_worker()
        rec = self.source.scanner()
        last = [time.monotonic()]

        def progress(fraction: float) -> None:
            now = time.monotonic()
            if now - last[0] > 0.25:
                last[0] = now
                self.call_from_thread(self._analysis_progress, fraction)

        try:
            analysis = analyse(rec, lambda: worker.is_cancelled, progress)
        finally:
            rec.close()
        if analysis is not None:
            self.call_from_thread(self._analysed, analysis)

    def _analysis_progress(self, fraction: float) -> None:
        self.analysis_progress = fraction
        self.update_status()

    def _analysed(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.analysis_progress = None
        if analysis.error:
            self.notify(analysis.error, title="damaged recording", severity="error", timeout=30)
        # the command view of a big recording is millions of long-lived objects: keep them
        # out of the cyclic collector's scans, which otherwise stall a frame for 150 ms
        gc.freeze()
        self.main.show_analysis(analysis)
        self.update_status()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        error = event.worker.error
        if error is not None:
            self.busy = ""
            self._last_progress = -1
            if isinstance(error, RecordingError):
                words = f"the recording is damaged: {error.what}"
            else:
                words = f"internal error: {type(error).__name__}: {error} (please report it)"
            self.notify(words, title="error", severity="error", timeout=20)
            self.update_status()

    # -- the status bar ------------------------------------------------------------------------------------------
    def status_text(self) -> Text:
        m = self.moment
        text = Text(no_wrap=True, overflow="ellipsis")
        length = len(self.source)
        if m is None or m.event is None:
            text.append(" no events ")
            return text
        e = m.event
        text.append(f" ev {m.index}/{length - 1} ", style="bold")
        text.append(f"{e.ts / 1000:.3f}us ", style="")
        text.append(f"{'H' if e.actor == 'host' else 'D'} {e.kind} ", style="")
        if self.timeline.rows is not None and not self.timeline.shows(m.index):
            text.append("(hidden by the filter) ", style="italic")
        if self.source.live:
            state = (
                "running…" if self.running else ("finished" if self.source.finished else "paused")
            )
            text.append(f"│ live {state} ", style="bold" if self.running else "")
        else:  # what happened, not what happens: nothing here runs the device
            text.append("│ recording ")
        if self.playing:
            text.append(f"│ ▶ auto-play, 1 event / {self.play_beat:g} s ", style="bold")
        if self.follow_label:
            text.append(f"│ following {self.follow_label} ")
        elif self.filter_text:
            shown = self.timeline.row_count if self.timeline.rows is not None else "…"
            text.append(f"│ filter {shown} shown ")
        bps = [b for b in self.marks.breakpoints if b.enabled]
        if bps:
            text.append(f"│ bp {len(bps)} ")
        if self.busy:
            text.append(f"│ {self.busy} (Esc stops) ", style="italic")
        if self.analysis_progress is not None:
            text.append(f"│ checking {int(self.analysis_progress * 100)}% ", style="italic")
        elif self.analysis is not None:
            counts = self._check_counts()
            text.append("│ ")
            text.append(f"✗{counts['error']} ", style="bold red" if counts["error"] else "")
            text.append(f"⚠{counts['warning']} ", style="yellow" if counts["warning"] else "")
            text.append(f"ℹ{counts['note']} ")
        if self.startup_status:
            text.append(f"│ {self.startup_status} ", style="yellow")
        return text

    def _check_counts(self) -> dict[str, int]:
        """Findings by severity, counted once per change of the analysis."""
        analysis = self.analysis
        assert analysis is not None
        key = (id(analysis), len(analysis.raw_findings), analysis.finished)
        if self._counts_key != key:
            counts = dict.fromkeys(SEVERITIES, 0)
            for f in analysis.findings() if analysis.raw_findings else ():
                counts[f.severity] = counts.get(f.severity, 0) + 1
            self._counts, self._counts_key = counts, key
        return self._counts

    def update_status(self) -> None:
        try:
            bar = self.main.query_one(StatusBar)
        except Exception:
            return
        bar.show(self.status_text())

    # -- presentation mode ---------------------------------------------------------------------------
    def action_present(self) -> None:
        main = self.main
        main.present = not main.present
        self.theme = PROJECTOR_THEME.name if main.present else "textual-dark"
        main.apply_layout()
        self.notify(
            "presentation mode: P leaves it" if main.present else "presentation mode off",
            timeout=3,
        )

    # -- auto-play ---------------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self._player is not None

    def action_play(self) -> None:
        if self.playing:
            self.pause_play()
            self.notify("auto-play paused", timeout=2)
            return
        if self.running:
            return
        self._player = self.set_interval(self.play_beat, self._play_beat)
        self.update_status()

    def pause_play(self) -> None:
        if self._player is not None:
            self._player.stop()
            self._player = None
            self.update_status()

    def action_play_speed(self, direction: int) -> None:
        beats = PLAY_BEATS
        at = min(range(len(beats)), key=lambda k: abs(beats[k] - self.play_beat))
        self.play_beat = beats[max(0, min(len(beats) - 1, at + direction))]
        if self._player is not None:
            self._player.stop()
            self._player = self.set_interval(self.play_beat, self._play_beat)
        self.notify(f"auto-play: one event every {self.play_beat:g} s", timeout=2)
        self.update_status()

    def _play_beat(self) -> None:
        """One beat of auto-play: one event forwards; a breakpoint, a lesson step's event or
        the end pauses it."""
        if not self._step(1):
            self.pause_play()  # the end (it said so)
            return
        event = self.moment.event if self.moment is not None else None
        lesson = self.lesson
        if lesson is not None and lesson.shown:
            ahead = [k for k, stop in enumerate(lesson.stops) if stop == self.cursor]
            if ahead and ahead[0] != lesson.current:
                self.pause_play()
                lesson.current = ahead[0]
                self._show_lesson_step()
                return
        predicate = self.marks.predicate()
        if predicate is not None and event is not None and predicate(event):
            self.pause_play()
            self.notify(f"auto-play stopped at a breakpoint: event {self.cursor}", timeout=4)

    # -- a lesson ----------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # the lesson's keys are there (and in the footer) only while a lesson is given
        if action in LESSON_ACTIONS and self.lesson is None:
            return False
        return True

    def _show_lesson_step(self) -> None:
        """Show the lesson's current step: its words, its event, its panel."""
        run = self.lesson
        assert run is not None
        run.shown = True
        bar = self.main.query_one(LessonBar)
        bar.add_class("-on")
        bar.show_step(run)
        self.goto(run.stop)
        bar.show_cursor(run, self.cursor)
        self.main.mark_lesson_panel(run.step.panel)
        self.main.action_focus_panel(run.step.panel)

    def action_lesson_step(self, direction: int) -> None:
        run = self.lesson
        assert run is not None  # check_action lets the lesson's actions run only with one
        target = run.current + direction
        if not run.shown:
            target = run.current  # coming back: to the step that was left
        elif not 0 <= target < len(run.stops):
            self.notify(
                "that was the lesson's last step: L leaves it, q quits"
                if direction > 0
                else "this is the lesson's first step",
                timeout=4,
            )
            return
        run.current = target
        self._show_lesson_step()

    def action_lesson_return(self) -> None:
        self._show_lesson_step()

    def action_lesson_toggle(self) -> None:
        run = self.lesson
        assert run is not None
        if run.shown:
            run.shown = False
            self.main.query_one(LessonBar).remove_class("-on")
            self.main.mark_lesson_panel(None)
            self.notify("left the lesson: L comes back to its step", timeout=4)
        else:
            self._show_lesson_step()

    # -- the command palette ----------------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for title, help, action in palette_entries():
            yield SystemCommand(title, help, lambda action=action: self.run_action(action))
        for which in ("kind", "register", "opcode", "queue"):
            yield SystemCommand(
                f"Break on this {which}",
                f"A breakpoint on every event with the current event's (or selection's) {which}",
                lambda which=which: self.run_action(f"quick_breakpoint('{which}')"),
            )
        for panel in self.main.panels.values():
            for title, help, action in getattr(panel, "PALETTE", ()):
                yield SystemCommand(
                    title,
                    help,
                    lambda panel=panel, action=action: self._panel_action(panel, action),
                )
        yield from super().get_system_commands(screen)

    def _panel_action(self, panel: Panel, action: str) -> None:
        self.main.action_focus_panel(panel.PANEL_ID)
        self.call_after_refresh(lambda: panel.run_action(action))


__all__ = ["PANELS", "Ahead", "NvmeScopeApp", "parse_position"]
