"""The one source of events and states that every panel of the TUI reads.

A :class:`Source` is a recording opened with the recording reader: ``len()``,
``event(n)``, ``events(a, b)``, ``state_at(n)`` and :meth:`Source.moment`, the
bundle of states a panel draws from. A live session (:class:`LiveSource`) is
the same thing: its Machine records into a temporary file as it runs and the
panels read that file back through the same reader, so a live session and its
saved recording show the same screen at the same event. The UI keeps no model
state of its own; only this module touches a Machine, and only to step it.

Work over every event (filters, searches, breakpoints, the command view and
the protocol checks) runs on a *scanner*: a second reader of the same file,
so that a worker thread never shares a file handle or a cache with the
screen.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvmescope.events import EVENT_TYPES, Event, describe
from nvmescope.trace.checks import Checker, Finding, merge_confirmed
from nvmescope.trace.commands import Command, CommandTracker
from nvmescope.trace.filter import kind_screen
from nvmescope.trace.format import DEFAULT_CHUNK_EVENTS, RecordingError
from nvmescope.trace.lesson import Lesson, LessonError, never_happens
from nvmescope.trace.reader import Recording, open_recording
from nvmescope.trace.state import State

if TYPE_CHECKING:
    from nvmescope.emulator import ControllerConfig
    from nvmescope.nvme.compose import HandCommand

Predicate = Callable[[Event], bool]
#: how many events a scan reads between two looks at "was I cancelled?"
SCAN_BLOCK = 1024
#: each event kind's code in the analysis's index of kinds (a byte an event)
KIND_CODES: dict[str, int] = {kind: code for code, kind in enumerate(sorted(EVENT_TYPES))}
_CODE_OF_TYPE: dict[type, int] = {cls: KIND_CODES[kind] for kind, cls in EVENT_TYPES.items()}
#: the code of a kind the index does not know (never in a filter's screen)
UNKNOWN_KIND = 255
assert len(KIND_CODES) < UNKNOWN_KIND


@dataclass(frozen=True)
class Moment:
    """Everything a panel draws from, as of the cursor.

    ``state`` is after ``event`` was applied, ``before`` is just before it (so a
    panel can mark what this event changed), ``since`` is the state at the
    previous stop of the cursor (what changed since then, as gdb's TUI marks it).
    """

    index: int
    event: Event | None
    state: State
    before: State
    since: State
    since_index: int
    length: int
    live: bool = False

    @property
    def empty(self) -> bool:
        return self.event is None


@dataclass
class Analysis:
    """The command view and the protocol checks of every event so far, built one event
    at a time (a worker feeds a recording, a live session feeds what it adds)."""

    tracker: CommandTracker = field(default_factory=CommandTracker)
    checker: Checker = field(default_factory=Checker)
    raw_findings: list[Finding] = field(default_factory=list)
    fed: int = 0
    finished: bool = False
    #: why the events stopped before the end (a damaged chunk), or ''
    error: str = ""
    #: every event's kind, one byte each (KIND_CODES): a filter of kinds reads this
    #: instead of decoding every event again
    kinds: bytearray = field(default_factory=bytearray)

    def feed(self, events: Iterable[Event]) -> None:
        tracker, checker, found = self.tracker, self.checker, self.raw_findings
        add_kind, code_of = self.kinds.append, _CODE_OF_TYPE.get
        n = self.fed
        for event in events:
            tracker.feed(event)
            got = checker.feed(event)
            if got:
                found.extend(got)
            add_kind(code_of(type(event), UNKNOWN_KIND))
            n += 1
        self.fed = n

    def finish(self) -> None:
        """No more events will come: add the commands published but never fetched."""
        if not self.finished:
            self.tracker.finish()
            self.finished = True

    def commands(self) -> list[Command]:
        cmds = self.tracker.commands
        if not self.finished:
            cmds = sorted(cmds, key=lambda c: c.first)
        return list(cmds)

    def findings(self) -> list[Finding]:
        return merge_confirmed(list(self.raw_findings))


class Source:
    """A recording as the panels see it. See the module docstring."""

    live = False

    def __init__(self, recording: Recording, title: str | None = None) -> None:
        self.recording = recording
        self.path: Path | None = Path(recording.path)
        self.title = title or self.path.name
        self.warnings: list[str] = list(recording.warnings)

    # -- facts ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.recording)

    @property
    def scenario(self) -> str | None:
        return self.recording.scenario

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.recording.config)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.recording.header.extra.get("params") or {})

    @property
    def finished(self) -> bool:
        """No event will be added (always true of a recording)."""
        return True

    # -- events and states -----------------------------------------------------------
    def event(self, n: int) -> Event:
        return self.recording.event(n)

    def events(self, start: int = 0, stop: int | None = None) -> Iterator[Event]:
        return self.recording.events(start, stop)

    def state_at(self, n: int) -> State:
        """The state after event ``n``; before any event for ``n < 0``."""
        if n < 0 or not len(self):
            return State()
        return self.recording.state_at(min(n, len(self) - 1))

    def moment(self, n: int, since: Moment | None = None) -> Moment:
        """The panels' view of event ``n`` (clamped to the events there are)."""
        length = len(self)
        if not length:
            empty = State()
            return Moment(-1, None, empty, empty, empty, -1, 0, self.live)
        n = max(0, min(n, length - 1))
        state = self.state_at(n)
        before = self.state_at(n - 1)
        if since is None or since.index == n or since.length == 0:
            since_state, since_index = before, n - 1
        else:
            since_state, since_index = since.state, since.index
        return Moment(n, self.event(n), state, before, since_state, since_index, length, self.live)

    def index_at_time(self, ts: int) -> int:
        """The first event at or after virtual time ``ts`` (ns); the last one if none is."""
        lo, hi = 0, len(self)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.event(mid).ts < ts:
                lo = mid + 1
            else:
                hi = mid
        return min(lo, len(self) - 1)

    # -- for workers -------------------------------------------------------------------
    def scanner(self) -> Recording:
        """A second reader of the same file, for one worker thread (close it after).

        It reads the events there were at the last ``refresh()``: call that on the
        app's thread before handing the scanner to a worker."""
        rec = open_recording(self.recording.path, follow=not self.recording.complete)
        return rec

    def refresh(self) -> int:
        """Take in the events added since the last call (none for a recording)."""
        return 0

    def close(self) -> None:
        self.recording.close()


def describe_line(event: Event) -> str:
    """The words a text search looks in: the kind and the one-line description."""
    return f"{event.kind} {describe(event)}"


# -- scans over every event (run these in worker threads, on a scanner) ----------------------
def scan(
    rec: Recording,
    predicate: Predicate,
    start: int,
    forward: bool = True,
    cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] | None = None,
    kinds: bytes | bytearray | None = None,
) -> int | None:
    """The first event from ``start`` (included) on, or back from it, that matches.

    None when none does or the scan was cancelled. With ``kinds`` (as for
    ``matching``), a predicate that says its kinds tests only the events of those kinds.
    """
    total = len(rec)
    if not total:
        return None
    start = max(0, min(start, total - 1)) if forward else min(start, total - 1)
    flags = _candidates(predicate, kinds, 0, total)
    if flags is not None:
        return _scan_candidates(rec, predicate, flags, start, forward, cancelled, progress)
    if forward:
        span = total - start
        pos = start
        while pos < total:
            if cancelled():
                return None
            hi = min(pos + SCAN_BLOCK, total)
            for k, event in enumerate(rec.events(pos, hi)):
                if predicate(event):
                    return pos + k
            pos = hi
            if progress is not None and span:
                progress((pos - start) / span)
        return None
    span = start + 1
    pos = start + 1
    while pos > 0:
        if cancelled():
            return None
        lo = max(0, pos - SCAN_BLOCK)
        block = list(rec.events(lo, pos))
        for k in range(len(block) - 1, -1, -1):
            if predicate(block[k]):
                return lo + k
        pos = lo
        if progress is not None and span:
            progress((start + 1 - pos) / span)
    return None


def matching(
    rec: Recording,
    predicate: Predicate,
    start: int = 0,
    stop: int | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] | None = None,
    kinds: bytes | bytearray | None = None,
) -> array | None:
    """Positions of every event in ``start..stop`` that matches (None if cancelled).

    With ``kinds``, the index of every event's kind from position 0 (an Analysis's), a
    filter that says which kinds it can match (``kind_screen``) decodes only the blocks
    of events holding one of them, and a filter of kinds alone decodes nothing."""
    stop = len(rec) if stop is None else min(stop, len(rec))
    screen = kind_screen(predicate)
    flags = _candidates(predicate, kinds, start, stop)
    if flags is not None and screen is not None:
        if screen.exact:
            if progress is not None:
                progress(1.0)
            return array("L", (start + m.start() for m in re.finditer(b"\x01", flags)))
    rows = array("L")
    pos = start
    span = max(1, stop - start)
    while pos < stop:
        if cancelled():
            return None
        hi = min(pos + SCAN_BLOCK * 4, stop)
        # with the index, a block holding no candidate is not even decoded
        if flags is None or flags.find(1, pos - start, hi - start) >= 0:
            for first, events in rec.event_runs(pos, hi):
                base = first - start
                rows.extend(
                    [
                        first + k
                        for k, event in enumerate(events)
                        if (flags is None or flags[base + k]) and predicate(event)
                    ]
                )
        pos = hi
        if progress is not None:
            progress((pos - start) / span)
    return rows


def _candidates(
    predicate: Predicate, kinds: bytes | bytearray | None, start: int, stop: int
) -> bytes | None:
    """A byte an event of ``start..stop``: 1 where its kind is one ``predicate`` can match
    (its ``kind_screen``); None when the predicate says nothing of kinds or ``kinds`` does
    not cover the range."""
    screen = kind_screen(predicate)
    if screen is None or kinds is None or len(kinds) < stop:
        return None
    wanted = {KIND_CODES[k] for k in screen.kinds if k in KIND_CODES}
    table = bytes(1 if code in wanted else 0 for code in range(256))
    return bytes(kinds[start:stop]).translate(table)


def _scan_candidates(
    rec: Recording,
    predicate: Predicate,
    flags: bytes,
    start: int,
    forward: bool,
    cancelled: Callable[[], bool],
    progress: Callable[[float], None] | None,
) -> int | None:
    """``scan`` over the events ``flags`` (from position 0) marks, the others skipped."""
    screen = kind_screen(predicate)
    exact = screen is not None and screen.exact
    span = max(1, len(flags) - start if forward else start + 1)
    n = flags.find(1, start) if forward else flags.rfind(1, 0, start + 1)
    tested = 0
    while n != -1:
        if exact or predicate(rec.event(n)):
            return n
        tested += 1
        if tested % SCAN_BLOCK == 0:
            if cancelled():
                return None
            if progress is not None:
                progress((n - start if forward else start - n) / span)
        n = flags.find(1, n + 1) if forward else flags.rfind(1, 0, n)
    return None


def analyse(
    rec: Recording,
    cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] | None = None,
) -> Analysis | None:
    """The command view and checks of a whole recording (None if cancelled)."""
    analysis = Analysis()
    total = len(rec)
    pos = 0
    while pos < total:
        if cancelled():
            return None
        hi = min(pos + SCAN_BLOCK * 4, total)
        try:
            analysis.feed(rec.events(pos, hi))
        except RecordingError as exc:
            # a damaged chunk: what came before it is the command view there is
            analysis.error = f"{exc.what}; the command view and checks stop at event {analysis.fed}"
            break
        pos = hi
        if progress is not None:
            progress(pos / total)
    analysis.finish()
    return analysis


# -- a live session ------------------------------------------------------------------------
class LiveSource(Source):
    """A Machine stepped by the UI, recording into a temporary file that the panels read.

    ``step()`` runs one more event, ``run(budget_s, stop)`` runs for a slice of
    wall time or until ``stop(event)``; both make the new events readable before
    they return. ``save(path)`` writes the session so far as a complete recording
    (header, configuration and scenario parameters included: it replays with
    ``--verify``).
    """

    live = True

    def __init__(
        self,
        scenario: str,
        config: ControllerConfig | None = None,
        params: dict[str, int] | None = None,
        *,
        directory: str | None = None,
    ) -> None:
        # the emulator is imported here, not at the top: opening a recording
        # never needs it, and the first frame waits on every import
        from nvmescope.machine import Machine
        from nvmescope.trace.recorder import Recorder

        self._dir = Path(tempfile.mkdtemp(prefix="nvmescope-live-", dir=directory))
        try:
            self.machine = Machine(config, scenario, params=params or None, keep_events=False)
            path = self._dir / f"{scenario}.nvmetrace"
            self.recorder = Recorder.attach(
                self.machine, path, scenario=scenario, chunk_events=DEFAULT_CHUNK_EVENTS
            )
            # event 0 exists from the start: the session opens paused on it
            self.machine.step()
            self.recorder.writer.flush()
            recording = open_recording(path, follow=True)
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        super().__init__(recording, title=f"{scenario} (live)")
        self.path = None
        self.scenario_name = scenario
        self._idle = self.machine.idle

    @property
    def finished(self) -> bool:
        """The scenario has run to its end: no event will come."""
        return self._idle

    @property
    def scenario_ok(self) -> bool | None:
        run = self.machine.scenario
        return None if run is None or not self._idle else run.ok

    def refresh(self) -> int:
        self.recorder.writer.flush()
        return self.recording.grow()

    def step(self, count: int = 1) -> int:
        """Run ``count`` more events (fewer when the scenario ends); returns how many ran."""
        ran = 0
        while ran < count and self.machine.step() is not None:
            ran += 1
        self._idle = self.machine.idle
        self.refresh()
        return ran

    def run(self, budget_s: float, stop: Predicate | None = None) -> tuple[int, int | None]:
        """Run events for about ``budget_s`` seconds of wall time, or until ``stop``
        matches one (its position is returned) or the scenario ends.

        Returns (how many events ran, the position of the event that stopped it).
        """
        deadline = time.perf_counter() + budget_s
        ran = 0
        hit: int | None = None
        machine = self.machine
        first = self.recorder.events  # written and buffered: the next event's position
        while True:
            event = machine.step()
            if event is None:
                break
            ran += 1
            if stop is not None and stop(event):
                hit = first + ran - 1
                break
            if not ran & 63 and time.perf_counter() >= deadline:
                break
        self._idle = machine.idle
        self.refresh()
        return ran, hit

    # -- the user's own hands: commands composed and registers written by hand -------------
    def host_sqs(self) -> dict[int, tuple[int, int, int]]:
        """The submission queues the host has, as it sees them: qid -> (the next slot it
        writes, its depth, its CQ)."""
        drv = self.machine.driver
        if drv is None:
            return {}
        return {qid: (sq.tail, sq.depth, sq.cqid) for qid, sq in sorted(drv.sqs.items())}

    def lba_size(self, nsid: int) -> int:
        """The LBA data size of namespace ``nsid`` as the host learned it (512 if it has not
        read its Identify Namespace)."""
        drv = self.machine.driver
        info = drv.namespaces.get(nsid) if drv is not None else None
        return info.lba_size if info is not None and info.lba_size else 512

    def compose(self, cmd: HandCommand) -> None:
        """Have the host send a command composed by hand (see ``host.compose``): it runs
        as the live session steps on. A session with no driver cannot (ValueError)."""
        from nvmescope.host.compose import send

        drv = self.machine.driver
        if drv is None:
            raise ValueError("this session has no host driver to send a command")
        self.machine.api.spawn(send(drv, cmd), label="compose")
        self._idle = False

    def poke(self, space: str, offset: int, size: int, value: int, what: str = "") -> None:
        """Have the host write ``value`` by hand to BAR0 (``space`` "bar0", 4 or 8 bytes) or
        PCI configuration space ("config", 1, 2 or 4 bytes); ValueError if it cannot."""
        from nvmescope.host.compose import poke

        self.machine.api.spawn(
            poke(self.machine.api, space, offset, size, value, what), label="poke"
        )
        self._idle = False

    def fault(self, action: str, armed: bool, args: dict[str, int]) -> None:
        """Arm (or clear) a fault of the device now (``HostAPI.fault``); the ``fault`` event
        is the session's next. A fault it cannot take is a ValueError (FaultError)."""
        self.machine.api.fault(action, armed=armed, **args)
        self._idle = False

    def save(self, path: str | Path) -> int:
        """Write the session so far as a closed recording at ``path``; returns its events."""
        stats = self.recorder.writer.save_copy(path)
        return stats.events

    def scanner(self) -> Recording:
        # what it reads is what refresh() made readable, on the app's thread, before
        return open_recording(self.recording.path, follow=True)

    def close(self) -> None:
        try:
            self.recording.close()
            self.recorder.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


#: a lesson's scenario may run at most this many events to reach its last step
MAX_LESSON_EVENTS = 2_000_000


def lesson_source(
    lesson: Lesson, config: ControllerConfig | None = None, params: dict[str, int] | None = None
) -> tuple[LiveSource, list[int]]:
    """A live session of ``lesson``'s scenario, run until the event of every step has
    happened (no further: the student steps on, live), and each step's event. A step
    whose event never comes is a LessonError (one line), before any screen is drawn."""
    source = LiveSource(lesson.scenario, config, params)
    try:
        stops: list[int] = []
        for step in lesson.steps:
            start = stops[-1] + 1 if stops else 0
            # the event may be one that has run already (event 0, or one run past)
            hit = next(
                (n for n in range(start, len(source)) if step.predicate(source.event(n))), None
            )
            while hit is None:
                if source.finished:
                    raise never_happens(lesson, step, stops[-1] if stops else None)
                if len(source) > MAX_LESSON_EVENTS:
                    raise LessonError(
                        f"{lesson.where(step.number)}: its event did not come in the first "
                        f"{MAX_LESSON_EVENTS} events of {lesson.scenario}"
                    )
                _, hit = source.run(0.5, step.predicate)
            stops.append(hit)
    except BaseException:
        source.close()
        raise
    return source, stops


def open_source(path: str | Path) -> Source:
    """A recording file as a Source (RecordingError, one line, when it cannot be read)."""
    return Source(open_recording(path))


__all__ = [
    "Analysis",
    "LiveSource",
    "Moment",
    "Predicate",
    "RecordingError",
    "Source",
    "analyse",
    "describe_line",
    "lesson_source",
    "matching",
    "open_source",
    "scan",
]
