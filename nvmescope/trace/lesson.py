"""Lessons: a scenario walked one explained step at a time.

A lesson is a TOML file a teacher can copy and edit::

    title = "One Identify Controller, from doorbell to interrupt"
    scenario = "identify"            # a built-in scenario (`nvmescope scenarios`)
    summary = "What the lesson shows, in a sentence."
    params = { count = 4 }           # optional: the scenario's -p values
    config = ["mqes=63"]             # optional: -c KEY=VALUE pairs or a profile name

    [[step]]
    title = "The SQE in memory"      # a few words
    stop = 'kind == "mem_write" and purpose contains "SQE identify"'
    panel = "detail"                 # the panel to show (see PANELS)
    text = '''
    The driver builds the 64-byte command in the submission queue's next slot...
    '''

Each step stops at the first event after the previous step's event (the first step:
from event 0) that its filter expression (the language of ``--filter``) matches. A
file with a mistake is refused with one line naming the step and the problem:
unknown keys, a missing or mistyped value, a filter that does not parse, a panel
that does not exist and (once the scenario has run) a step whose event never comes.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nvmescope.events import Event
from nvmescope.files import TOO_BIG, UNREADABLE, UserFileError, loads_toml, read_bounded
from nvmescope.trace.filter import FilterError, compile_filter

#: where the shipped lessons are
SHIPPED = Path(__file__).parent / "lessons"
#: the panels a step may show (the TUI's panel ids; a UI test keeps the two equal)
LESSON_PANELS = (
    "timeline",
    "registers",
    "queues",
    "detail",
    "memory",
    "interrupts",
    "commands",
    "checks",
)
#: a lesson file is read only when it is at most this big
MAX_FILE_BYTES = 1 << 20
#: at most this many steps in a lesson
MAX_STEPS = 500
#: a step's text, a title and a filter are at most this long (characters)
MAX_TEXT = 4000
MAX_TITLE = 120
MAX_STOP = 1000

_TOP_KEYS = {"title", "scenario", "summary", "params", "config", "step"}
_STEP_KEYS = {"title", "stop", "panel", "text"}


class LessonError(ValueError):
    """A lesson that cannot be given: the message is one line naming where and what."""


@dataclass(frozen=True)
class LessonStep:
    number: int  # from 1
    title: str
    stop: str  # a filter expression
    panel: str
    text: str
    predicate: Callable[[Event], bool] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    scenario: str
    summary: str
    steps: tuple[LessonStep, ...]
    params: dict[str, int] = field(default_factory=dict)
    config: tuple[str, ...] = ()
    path: Path | None = None

    def where(self, step: int | None = None) -> str:
        """How an error names this lesson (and a step of it)."""
        name = str(self.path) if self.path is not None else self.name
        return f"lesson {name}" + (f": step {step}" if step is not None else "")


def shipped_lessons() -> dict[str, Path]:
    """The lessons that come with nvmescope, by name."""
    return {p.stem: p for p in sorted(SHIPPED.glob("*.toml"))}


def find_lesson(name_or_path: str) -> Path:
    """A shipped lesson's file, by name, or the path of a lesson file."""
    shipped = shipped_lessons()
    if name_or_path in shipped:
        return shipped[name_or_path]
    path = Path(name_or_path)
    if path.suffix == ".toml" or "/" in name_or_path or path.exists():
        return path
    names = ", ".join(shipped) or "none"
    raise LessonError(f"{name_or_path}: no such lesson (lessons: {names}; or a FILE.toml)")


def load_lesson(name_or_path: str, scenarios: Iterable[str]) -> Lesson:
    """Read and check a lesson (its scenario must be one of ``scenarios``)."""
    path = find_lesson(name_or_path)
    where = f"lesson {path}"
    try:
        raw = read_bounded(path, MAX_FILE_BYTES)
    except UserFileError as exc:
        if exc.kind == TOO_BIG:
            raise LessonError(f"{where}: larger than {MAX_FILE_BYTES >> 10} KiB") from None
        if exc.kind == UNREADABLE:
            raise LessonError(f"{where}: cannot read it: {exc.reason}") from None
        raise LessonError(f"{where}: not a file") from None
    try:
        data = loads_toml(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise LessonError(f"{where}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise LessonError(f"{where}: not valid TOML: {exc}") from None
    return parse_lesson(data, path.stem, set(scenarios), path)


def parse_lesson(
    data: dict[str, Any], name: str, scenarios: set[str], path: Path | None = None
) -> Lesson:
    """A lesson from the TOML's tables (see the module docstring)."""
    where = f"lesson {path if path is not None else name}"
    _no_unknown(data, _TOP_KEYS, where)
    title = _text(data, "title", where, MAX_TITLE)
    summary = _text(data, "summary", where, MAX_TEXT, required=False)
    scenario = _text(data, "scenario", where, MAX_TITLE)
    if scenario not in scenarios:
        raise LessonError(
            f"{where}: scenario {scenario!r}: no such scenario ({', '.join(sorted(scenarios))})"
        )
    params = data.get("params", {})
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
        for k, v in params.items()
    ):
        raise LessonError(
            f"{where}: params: a table of whole numbers, e.g. params = {{ count = 4 }}"
        )
    config = data.get("config", [])
    if not isinstance(config, list) or not all(isinstance(c, str) for c in config):
        raise LessonError(f'{where}: config: a list of "KEY=VALUE" strings or a profile name')
    steps_data = data.get("step")
    if not isinstance(steps_data, list) or not steps_data:
        raise LessonError(f"{where}: no steps: each is a [[step]] table")
    if len(steps_data) > MAX_STEPS:
        raise LessonError(f"{where}: {len(steps_data)} steps, more than {MAX_STEPS}")
    steps = []
    for number, step in enumerate(steps_data, start=1):
        at = f"{where}: step {number}"
        if not isinstance(step, dict):
            raise LessonError(f"{at}: a step is a [[step]] table")
        _no_unknown(step, _STEP_KEYS, at)
        stop = _text(step, "stop", at, MAX_STOP)
        try:
            predicate = compile_filter(stop)
        except FilterError as exc:
            raise LessonError(f"{at}: stop: {' '.join(str(exc).split())}") from None
        panel = _text(step, "panel", at, MAX_TITLE, required=False) or "timeline"
        if panel not in LESSON_PANELS:
            raise LessonError(f"{at}: panel {panel!r}: no such panel ({', '.join(LESSON_PANELS)})")
        steps.append(
            LessonStep(
                number,
                _text(step, "title", at, MAX_TITLE),
                stop,
                panel,
                _text(step, "text", at, MAX_TEXT).strip(),
                predicate,
            )
        )
    return Lesson(
        name, title, scenario, summary.strip(), tuple(steps), dict(params), tuple(config), path
    )


def resolve(lesson: Lesson, events: Iterable[Event]) -> list[int]:
    """The event each step stops at, in a run of the lesson's scenario."""
    out: list[int] = []
    steps = iter(lesson.steps)
    step = next(steps, None)
    for index, event in enumerate(events):
        # one event can be the stop of one step only: the next step looks after it
        if step is not None and step.predicate(event):
            out.append(index)
            step = next(steps, None)
            if step is None:
                break
    if step is not None:
        raise never_happens(lesson, step, out[-1] if out else None)
    return out


def never_happens(lesson: Lesson, step: LessonStep, after: int | None) -> LessonError:
    """The error for a step whose event the run never reached (looking after ``after``)."""
    where = f"after event {after}" if after is not None else "in the whole run"
    return LessonError(
        f"{lesson.where(step.number)}: its event never happens: nothing {where} "
        f"of {lesson.scenario} matches {step.stop!r}"
    )


def _no_unknown(table: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise LessonError(
            f"{where}: unknown key {unknown[0]!r} (a {'step' if 'stop' in known else 'lesson'} "
            f"has {', '.join(sorted(known))})"
        )


def _text(table: dict[str, Any], key: str, where: str, limit: int, required: bool = True) -> str:
    value = table.get(key)
    if value is None and not required:
        return ""
    if value is None:
        raise LessonError(f"{where}: {key}: missing")
    if not isinstance(value, str):
        raise LessonError(f"{where}: {key}: must be text, not {type(value).__name__}")
    if required and not value.strip():
        raise LessonError(f"{where}: {key}: is empty")
    if len(value) > limit:
        raise LessonError(f"{where}: {key}: longer than {limit} characters")
    return value


__all__ = [
    "LESSON_PANELS",
    "Lesson",
    "LessonError",
    "LessonStep",
    "find_lesson",
    "load_lesson",
    "never_happens",
    "parse_lesson",
    "resolve",
    "shipped_lessons",
]
