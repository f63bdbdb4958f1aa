"""Breakpoints and bookmarks, and the small sidecar file that keeps them beside a recording.

A breakpoint is a filter expression (the recording filter language,
``docs/filters.md``); it fires, forwards or backwards, on every event the
expression matches. A bookmark is an event position with a note.

The sidecar of ``run.nvmetrace`` is ``run.nvmetrace.marks.json``: JSON, never
inside the recording, never executed. A sidecar that cannot be read is
reported and ignored (the recording still opens); one that cannot be written is
reported once and the marks live on in memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from nvmescope.events import Event
from nvmescope.files import written_in_place
from nvmescope.trace.filter import FilterError, any_of, compile_filter

SIDECAR_SUFFIX = ".marks.json"
SIDECAR_FORMAT = "nvmescope-marks"
#: a sidecar larger than this is refused before it is read
MAX_SIDECAR_BYTES = 1 << 20
MAX_NOTE = 200
MAX_EXPR = 1000
MAX_MARKS = 1000


@dataclass
class Breakpoint:
    expr: str
    enabled: bool = True
    predicate: Callable[[Event], bool] | None = field(default=None, repr=False, compare=False)
    error: str = ""

    @classmethod
    def make(cls, expr: str, enabled: bool = True) -> Breakpoint:
        """A breakpoint; FilterError when the expression is not a valid filter."""
        expr = expr.strip()
        if not expr:
            raise FilterError("a breakpoint needs an expression", 1, expr)
        if len(expr) > MAX_EXPR:
            raise FilterError(f"the expression is longer than {MAX_EXPR} characters", 1, expr)
        return cls(expr, enabled, compile_filter(expr))


@dataclass
class Bookmark:
    index: int
    note: str = ""


class _BookmarkData(msgspec.Struct):
    index: int
    note: str = ""


class _BreakpointData(msgspec.Struct):
    expr: str
    enabled: bool = True


class _Sidecar(msgspec.Struct):
    format: str
    version: int = 1
    events: int = 0
    bookmarks: list[_BookmarkData] = []
    breakpoints: list[_BreakpointData] = []


_DECODER = msgspec.json.Decoder(_Sidecar)


@dataclass
class Marks:
    """The breakpoints and bookmarks of one session, and where they are kept."""

    breakpoints: list[Breakpoint] = field(default_factory=list)
    bookmarks: list[Bookmark] = field(default_factory=list)
    path: Path | None = None
    #: set after a write failed (so the user hears of it once)
    write_error: str = ""
    #: the file at ``path`` could not be read as marks: it is kept aside, not replaced,
    #: the first time these marks are saved
    unreadable: bool = False

    # -- breakpoints ---------------------------------------------------------------
    def add_breakpoint(self, expr: str) -> Breakpoint:
        for bp in self.breakpoints:
            if bp.expr == expr.strip():
                bp.enabled = True
                return bp
        if len(self.breakpoints) >= MAX_MARKS:
            raise FilterError(f"at most {MAX_MARKS} breakpoints", 1, expr)
        bp = Breakpoint.make(expr)
        self.breakpoints.append(bp)
        return bp

    def predicate(self) -> Callable[[Event], bool] | None:
        """True on an event any enabled breakpoint fires on (None: no breakpoint)."""
        tests = [bp.predicate for bp in self.breakpoints if bp.enabled and bp.predicate]
        if not tests:
            return None
        return any_of(*tests)

    # -- bookmarks -----------------------------------------------------------------
    def set_bookmark(self, index: int, note: str) -> Bookmark:
        note = " ".join(note.split())[:MAX_NOTE]
        for mark in self.bookmarks:
            if mark.index == index:
                mark.note = note
                return mark
        if len(self.bookmarks) >= MAX_MARKS:
            raise ValueError(f"at most {MAX_MARKS} bookmarks")
        mark = Bookmark(index, note)
        self.bookmarks.append(mark)
        self.bookmarks.sort(key=lambda m: m.index)
        return mark

    def bookmark_at(self, index: int) -> Bookmark | None:
        for mark in self.bookmarks:
            if mark.index == index:
                return mark
        return None

    @property
    def bookmarked(self) -> frozenset[int]:
        return frozenset(m.index for m in self.bookmarks)

    # -- the sidecar ---------------------------------------------------------------
    def encode(self, events: int) -> bytes:
        data = _Sidecar(
            SIDECAR_FORMAT,
            1,
            events,
            [_BookmarkData(m.index, m.note) for m in self.bookmarks],
            [_BreakpointData(b.expr, b.enabled) for b in self.breakpoints],
        )
        return msgspec.json.format(msgspec.json.encode(data), indent=2) + b"\n"

    def save(self, events: int, path: Path | None = None) -> str:
        """Write the sidecar (atomically); '' or the one-line reason it could not be."""
        path = path or self.path
        if path is None:
            return ""
        kept = ""
        try:
            if self.unreadable and path == self.path:
                kept = self._keep_aside(path)
            with written_in_place(path) as tmp:
                tmp.write_bytes(self.encode(events))
        except OSError as exc:
            self.write_error = (
                f"{path}: cannot save bookmarks and breakpoints: {exc.strerror or exc}"
            )
            return self.write_error
        self.write_error = ""
        return kept

    def _keep_aside(self, path: Path) -> str:
        """Rename the unreadable file at ``path`` to a name of its own; what was done."""
        n = 0
        while True:
            aside = path.with_name(f"{path.name}.unreadable{f'.{n}' if n else ''}")
            if not aside.exists():
                break
            n += 1
        if path.exists():
            os.rename(path, aside)  # OSError: nothing is written over it either
        self.unreadable = False
        return f"{path} could not be read as marks: kept as {aside.name}, a new one written"


def sidecar_path(recording: Path) -> Path:
    return recording.with_name(recording.name + SIDECAR_SUFFIX)


def load_marks(recording: Path | None, events: int) -> tuple[Marks, list[str]]:
    """The marks kept beside ``recording`` (none if it has no sidecar), and warnings.

    Nothing in the file is trusted: its size is checked before it is read, every
    field is decoded into declared types, bookmarks past the recording's end and
    breakpoints that do not compile are reported and dropped or disabled.
    """
    if recording is None:
        return Marks(), []
    path = sidecar_path(recording)
    marks = Marks(path=path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return marks, []
    except OSError as exc:
        return marks, [f"{path}: cannot read: {exc.strerror or exc}"]
    if not path.is_file():
        return Marks(), [
            f"{path}: not a regular file; bookmarks and breakpoints not loaded nor saved"
        ]
    marks.unreadable = True  # until it decodes as marks
    if size > MAX_SIDECAR_BYTES:
        return marks, [
            f"{path}: {size} bytes is larger than a marks file can be "
            f"({MAX_SIDECAR_BYTES} bytes); not loaded"
        ]
    try:
        data = _DECODER.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        return marks, [f"{path}: not a marks file ({reason}); bookmarks and breakpoints not loaded"]
    if data.format != SIDECAR_FORMAT:
        return marks, [f"{path}: not a marks file (format {data.format[:40]!r}); not loaded"]
    marks.unreadable = False
    warnings: list[str] = []
    dropped = 0
    for item in data.bookmarks[:MAX_MARKS]:
        if 0 <= item.index < events:
            marks.set_bookmark(item.index, item.note)
        else:
            dropped += 1
    if dropped:
        warnings.append(f"{path}: {dropped} bookmark(s) beyond the recording's events were dropped")
    for item in data.breakpoints[:MAX_MARKS]:
        try:
            bp = Breakpoint.make(item.expr[:MAX_EXPR], item.enabled)
        except FilterError as exc:
            bp = Breakpoint(item.expr[:MAX_EXPR], False, None, str(exc))
            warnings.append(f"{path}: breakpoint {item.expr[:60]!r} disabled: {exc}")
        marks.breakpoints.append(bp)
    return marks, warnings
