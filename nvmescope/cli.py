"""The ``nvmescope`` command: thin glue that parses arguments, calls the layers, prints.

Every command that shows device data runs the emulator, has the host model
issue the real command, and prints what the device DMA'd into host memory.
Bad input gets one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from nvmescope import __version__
from nvmescope.qemu import options as linux_options
from nvmescope.serve import DEFAULT_HOST, DEFAULT_PORT, PORT_RANGE

if TYPE_CHECKING:
    from nvmescope.emulator import ControllerConfig
    from nvmescope.events import Event
    from nvmescope.host.scenarios import Scenario
    from nvmescope.machine import Machine


class _Commands(TyperGroup):
    """The command group, refusing a NUL byte in any argument before Typer parses it.

    No operating system takes one in a path or a name, and Typer's own path checks stop
    at one with an internal error; only a caller in Python can pass it (a shell's argv
    cannot hold one)."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if any("\x00" in arg for arg in args):
            fail("an argument cannot contain a NUL byte")
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_Commands,
    add_completion=False,
    no_args_is_help=False,
    invoke_without_command=True,
    help="nvmescope: an NVMe controller you can watch.",
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
# emoji=False: user text such as ":x:" is printed as typed, never as an emoji
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def scenarios_table() -> dict[str, Scenario]:
    """The built-in scenarios, by name. The emulator and the host model are imported
    when a command needs them, not for every command: `nvmescope FILE.nvmetrace` and
    `--version` never do."""
    from nvmescope.host import SCENARIOS

    return SCENARIOS


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


#: an error message longer than this is shortened (it repeats what was typed, which may be
#: any length): its start and its end are kept
MAX_MESSAGE = 500


def clipped(message: str) -> str:
    """``message`` as one line of at most about MAX_MESSAGE characters."""
    message = " ".join(message.split())
    if len(message) <= MAX_MESSAGE:
        return message
    return f"{message[:300]} … {message[-120:]} ({len(message)} characters)"


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"nvmescope: error: {escape(clipped(message))}")
    raise typer.Exit(code)


# -- configuration ---------------------------------------------------------------
ConfigOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--config",
        "-c",
        "--profile",
        metavar="KEY=VALUE|PROFILE|FILE",
        help="Set a controller knob, KEY=VALUE (repeatable), start from a named profile "
        "(--profile qemu-7.2) or load a TOML configuration FILE of the controller and its "
        "namespaces (--config FILE): the profile first, then the file, then every "
        "KEY=VALUE; `nvmescope config` lists the knobs, the profiles and the file's keys.",
    ),
]


ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        metavar="KEY=VALUE",
        help="A scenario parameter, KEY=VALUE (repeatable), e.g. -p count=10000 for io-load.",
    ),
]


def build_params(scenario: str, pairs: Iterable[str] | None) -> dict[str, int]:
    """Scenario parameters from KEY=VALUE pairs, checked against the scenario's own."""
    known = scenarios_table()[scenario].defaults
    params: dict[str, int] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise UsageError(f"--param {pair!r}: expected KEY=VALUE")
        if key not in known:
            names = ", ".join(sorted(known)) or "none"
            raise UsageError(f"--param {key}: {scenario} has no such parameter (it takes: {names})")
        low, high = scenarios_table()[scenario].param_range.get(key, (1, 10**9))
        try:
            params[key] = parse_int(value, low, high)
        except ValueError as exc:
            raise UsageError(f"--param {key}={exc}") from None
    return params


def _convert(name: str, kind: Any, text: str, option: str = "--config") -> Any:
    try:
        if kind in (int, "int"):
            try:
                return parse_int(text)
            except ValueError as exc:
                raise UsageError(f"{option} {name}={exc}") from None
        if kind in (bool, "bool"):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind in (str, "str"):
            return text
    except ValueError:
        raise UsageError(
            f"{option} {name}={text}: not a valid {getattr(kind, '__name__', kind)}"
        ) from None
    raise UsageError(f"{option} {name}: this knob cannot be set from the command line")


def _is_knob_pair(value: str, fields: dict[str, Any]) -> bool:
    """Is this ``-c`` value a KEY=VALUE? Its KEY must read as a knob's name (a file path
    holding ``=``, such as ``runs/a=b.toml``, is a FILE), and a file of that name is a
    FILE unless KEY is a knob."""
    key, sep, _ = value.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key.isidentifier():
        return False
    return key in fields or not os.path.lexists(value)


def _check_profiles(profiles: list[str], known: dict[str, dict[str, Any]]) -> None:
    """Several profiles combine when they set different knobs (``qemu-7.2`` is the
    device, ``ssd`` its timing); two that set the same knob, or one given twice, do not."""
    for i, first in enumerate(profiles):
        for second in profiles[i + 1 :]:
            if first == second:
                raise UsageError(f"--profile {first}: given twice")
            both = sorted(set(known[first]) & set(known[second]))
            if both:
                raise UsageError(
                    f"--profile {first} and --profile {second} both set {', '.join(both)}: "
                    "choose one"
                )


def build_config(
    pairs: Iterable[str] | None, base: dict[str, Any] | None = None
) -> ControllerConfig:
    """The configuration of ``-c`` / ``--profile`` / ``--config`` values, each told apart
    by what it is: KEY=VALUE is a knob, the name of a profile a PROFILE, anything else a
    configuration FILE (``emulator/configfile.py``). ``base`` (a scenario's own knobs)
    comes first, then each PROFILE sets its knobs (several combine when they set
    different knobs), then the FILE (at most one) its own, then each KEY=VALUE in
    order, wherever each stands."""
    from nvmescope.emulator import ControllerConfig
    from nvmescope.emulator.config import PROFILES
    from nvmescope.emulator.configfile import ConfigFileError, load_config_file, locate_problem

    fields = {f.name: f for f in dataclasses.fields(ControllerConfig)}
    pairs = list(pairs or ())
    knob_pairs = [p for p in pairs if _is_knob_pair(p, fields)]
    others = [p for p in pairs if p not in knob_pairs]
    profiles = [p.strip() for p in others if p.strip() in PROFILES]
    files = [p for p in others if p.strip() not in PROFILES]
    _check_profiles(profiles, PROFILES)
    if len(files) > 1:
        raise UsageError(f"--config: one configuration file at most (got {', '.join(files)})")
    config = ControllerConfig(**(base or {}))
    for name in profiles:
        config = dataclasses.replace(config, **PROFILES[name])
    loaded = None
    if files:
        name = files[0]
        if not os.path.lexists(name) and ("/" in name or name.endswith(".toml")):
            raise UsageError(f"--config {name}: no such file")
        if not os.path.lexists(name):
            raise UsageError(
                f"--profile {name!r}: no such profile (profiles: {', '.join(sorted(PROFILES))}; "
                "a knob is -c KEY=VALUE), nor a configuration file"
            )
        try:
            config, loaded = load_config_file(files[0], config)
        except ConfigFileError as exc:
            raise UsageError(f"--config {exc}") from None
    knobs: set[str] = set()
    for pair in knob_pairs:
        key, value = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in fields:
            raise UsageError(f"--config {key}: no such knob (see `nvmescope config`)")
        setattr(config, key, _convert(key, fields[key].type, value.strip()))
        knobs.add(key)
    problems = config.problems()
    if problems:
        where = locate_problem(config, loaded, knobs) if loaded is not None else None
        raise UsageError(f"--config {where}" if where else f"--config: {problems[0]}")
    return config


def scenario_config(scenario: str, pairs: Iterable[str] | None) -> ControllerConfig:
    """:func:`build_config` for a run of ``scenario``, starting from the knobs the scenario
    needs (``Scenario.knobs``): a profile, a file or a ``-c`` pair that sets one wins."""
    knobs = scenarios_table()[scenario].knobs if scenario in scenarios_table() else {}
    return build_config(pairs, dict(knobs))


#: a number longer than this is refused without being parsed or echoed back
MAX_NUMBER_LENGTH = 40


def _shown(text: str) -> str:
    """The user's text for a message: short as typed, else its length only."""
    if len(text) <= MAX_NUMBER_LENGTH:
        return repr(text) if not text.isprintable() or not text else text
    return f"({len(text)} characters)"


def parse_int(text: str, low: int | None = None, high: int | None = None) -> int:
    """A whole number as nvme-cli takes it (decimal, or 0x/0o/0b-prefixed), ASCII digits only,
    within low..high: a ValueError whose message is the short reason and the range."""
    stripped = text.strip()
    if len(stripped) > MAX_NUMBER_LENGTH:
        raise ValueError(f"{_shown(text)}: too long to be a number")
    try:
        if not stripped.isascii():
            raise ValueError
        number = int(stripped, 0)
    except ValueError:
        raise ValueError(f"{_shown(text)}: not a number") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(f"{_shown(text)}: expected {_range_text(low, high)}")
    return number


def _range_text(low: int | None, high: int | None) -> str:
    def show(n: int) -> str:
        return f"{n:#x}" if n > 0xFFFF and (n + 1) & n == 0 else str(n)

    if high is None:
        return f"at least {low}"
    if low is None:
        return f"at most {show(high)}"
    return f"{low}..{show(high)}"


def number(low: int, high: int) -> Callable[[Any], int]:
    """A typer ``parser=`` for an integer option in low..high (the option's real range)."""

    def convert(value: Any) -> int:
        try:
            return parse_int(str(value), low, high)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    convert.__name__ = "integer"
    return convert


def parse_number(option: str, text: str, low: int | None = None, high: int | None = None) -> int:
    """A number as nvme-cli takes it: decimal, or 0x-prefixed hex."""
    try:
        return parse_int(text, low, high)
    except ValueError as exc:
        raise UsageError(f"{option} {exc}") from None


def parse_nsid(option: str, text: str) -> int:
    nsid = parse_number(option, text)
    if not 0 <= nsid <= 0xFFFFFFFF:
        raise UsageError(f"{option} {text}: a namespace ID is 0..0xffffffff")
    return nsid


# -- commands ----------------------------------------------------------------------
@app.callback()
def main_callback(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """With no command, on a terminal: the TUI on a live `identify` session, paused at
    event 0. Piped: the identify story (`trace identify --story`): the bring-up in
    summary, then one Identify Controller from the doorbell to the interrupt, every event."""
    if version:
        out.print(f"nvmescope {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        if _on_terminal():
            _guarded(lambda: _tui("identify", None, None, 0))
        else:
            _guarded(lambda: _trace("identify", None, None, story=True))


KIND_WIDTH = 18


class OutputClosed(Exception):
    """Standard output went away (the reader of a pipe quit): stop quietly, exit 0."""


class OutputError(Exception):
    """Standard output cannot be written (a full disk, say): one line, exit 1."""


def write(text: str) -> None:
    """Write plain text to standard output, turning write failures into our errors."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise OutputClosed() from None
    except OSError as exc:
        raise OutputError(f"cannot write the output: {exc.strerror or exc}") from None


def say(line: str) -> None:
    """Print one plain line (no markup)."""
    write(line + "\n")


def format_event(event: Event) -> str:
    """One trace line: seq, virtual time, who (H host / D device), queue:cid, kind, words."""
    from nvmescope.events import describe, queue_tag

    us = event.ts / 1000
    who = "H" if event.actor == "host" else "D"
    tag = queue_tag(event)
    return (
        f"{event.seq:7d} {us:12.3f}us  {who}  {tag:9s} {event.kind:{KIND_WIDTH}s} {describe(event)}"
    )


#: kinds a --story summary keeps from the part before the story: the PCI configuration
#: accesses, every BAR0 register access (CAP, VS, CSTS reads; CC, AQA, ASQ/ACQ halves and
#: the MSI-X table written), state changes and commands; doorbells and memory are left out
_SUMMARY_KINDS = frozenset(
    {"ctrl_state", "cmd_start", "queue_created", "config_read", "config_write", "mmio_read"}
)
_SUMMARY_KINDS_WRITE = frozenset({"mmio_write"})


def _in_summary(event: Event) -> bool:
    """Whether a --story summary keeps ``event`` from the bring-up before the story."""
    if event.kind in _SUMMARY_KINDS or event.kind.startswith(("err_", "ub_")):
        return True
    return event.kind in _SUMMARY_KINDS_WRITE


def _repeated_poll(event: Event, last: dict[str, int]) -> bool:
    """A register read that returns what the previous read of that register returned (a
    CSTS poll that saw no change): the summary keeps one line per change. ``last`` holds
    the value each register last read as."""
    if event.kind != "mmio_read":
        return False
    reg = getattr(event, "reg", "")
    value = getattr(event, "value", None)
    repeated = reg == "csts" and last.get(reg) == value
    if value is not None:
        last[reg] = value
    return repeated


def _trace(
    scenario: str,
    config_pairs: list[str] | None,
    filter_expr: str | None,
    param_pairs: list[str] | None = None,
    story: bool = False,
) -> None:
    from nvmescope.machine import Machine

    _check_scenario(scenario)
    config = scenario_config(scenario, config_pairs)
    params = build_params(scenario, param_pairs)
    predicate = _compile_filter(filter_expr)
    # each event is printed as it comes: the machine keeps none (bounded memory)
    machine = Machine(config, scenario=scenario, params=params or None, keep_events=False)
    say(f"# nvmescope {__version__}: scenario {scenario}: {scenarios_table()[scenario].summary}")
    if story:
        say(
            "# the bring-up is summarised (PCI configuration, register accesses, state "
            "changes, commands; repeated CSTS polls once); "
            f"`nvmescope trace {scenario}` shows every event"
        )
    say(f"# {'seq':>5s} {'time':>14s} who {'queue:cid':9s} {'kind':{KIND_WIDTH}s} what happened")
    in_story = not story
    polled: dict[str, int] = {}
    while True:
        event = machine.step()
        if event is None:
            break
        if not in_story and event.kind == "host_step" and getattr(event, "step", "") == "highlight":
            in_story = True
            say("# ---- the story, every event ----")
        if not in_story and (not _in_summary(event) or _repeated_poll(event, polled)):
            continue
        if predicate is None or predicate(event):
            say(format_event(event))
    run = machine.scenario
    if run is not None and not run.ok:
        raise DeviceError(_failed_checks(scenario, run))


def _compile_filter(expr: str | None) -> Callable[[Event], bool] | None:
    if not expr or not expr.strip():  # blank, as empty: no filter
        return None
    from nvmescope.trace.filter import HELP, FilterError, compile_filter

    if expr.strip() == "help":
        say(HELP)
        raise typer.Exit(0)

    try:
        return compile_filter(expr)
    except FilterError as exc:
        for line in exc.caret().splitlines():  # the expression (around the column) and ^
            err.print(f"  {line}", markup=False, soft_wrap=True)
        raise UsageError(f"--filter: {exc}") from None


def _failed_checks(scenario: str, run: Any) -> str:
    """One line: the first check that did not give the expected answer, and how many."""
    failures = run.failures()
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    first = failures[0] if failures else "not every check gave the expected answer"
    return f"scenario {scenario}: {first}{more}"


def _check_scenario(name: str) -> None:
    if name not in scenarios_table():
        names = ", ".join(sorted(scenarios_table()))
        raise UsageError(f"unknown scenario {name!r} (choose from: {names})")


@app.command(short_help="Run a scenario; print every event.")
def trace(
    scenario: Annotated[
        str, typer.Argument(metavar="SCENARIO", help="Scenario name (see `nvmescope scenarios`).")
    ] = "identify",
    config: ConfigOpt = None,
    filter: Annotated[
        str | None,
        typer.Option(
            "--filter",
            "-f",
            metavar="EXPR",
            help='Filter expression, e.g. kind == "cqe_post" (`nvmescope filters` explains).',
        ),
    ] = None,
    param: ParamOpt = None,
    story: Annotated[
        bool,
        typer.Option("--story", help="Summarise the bring-up; print the scenario's story in full."),
    ] = False,
) -> None:
    """Run a scenario and print the event stream, one line per event."""
    _guarded(lambda: _trace(scenario, config, filter, param, story))


MAX_AT = 10**9


def _on_terminal() -> bool:
    """Both ends of the conversation are a terminal: the TUI can be drawn and driven (or
    `nvmescope serve` runs it for a browser, through Textual's web driver)."""
    if os.environ.get("TEXTUAL_DRIVER", "").endswith(":WebDriver"):
        return True
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _run_app(app: Any) -> None:
    """Run the TUI; a crash inside it (Textual has printed its report) is exit 70, the
    exit status of every other internal error, not 0."""
    app.run()
    if app.return_code:
        sys.exit(70)


def _tui(
    target: str,
    config_pairs: list[str] | None,
    param_pairs: list[str] | None,
    at: int,
    present: bool = False,
) -> None:
    """Open the TUI on a scenario (a live session) or a recording, at event ``at``."""
    from nvmescope.trace import RecordingError

    # a recording's name (scenarios have no suffix) never imports the emulator
    if not target.endswith(".nvmetrace") and target in scenarios_table():
        config = scenario_config(target, config_pairs)
        params = build_params(target, param_pairs)
        source = _live_source(target, config, params, at)
    else:
        if config_pairs or param_pairs:
            raise UsageError(
                f"{target}: -c and -p set up a live session; a recording keeps its own"
            )
        path = Path(target)
        if not path.exists() and path.suffix != ".nvmetrace" and "/" not in target:
            names = ", ".join(sorted(scenarios_table()))
            raise UsageError(f"{target}: no such scenario or recording (scenarios: {names})")
        from nvmescope.ui.source import Source

        source = Source(_open(path))
        if not len(source):
            source.close()
            raise DataError(f"{path}: the recording holds no events")
        if at >= len(source):
            source.close()
            raise UsageError(f"--at {at}: {path} has {source.recording.range_text()}")
    try:
        if not _on_terminal():
            raise UsageError(
                "the TUI needs a terminal on standard input and output; "
                "`nvmescope trace SCENARIO` or `nvmescope replay FILE` print instead"
            )
        from nvmescope.ui import NvmeScopeApp

        _run_app(NvmeScopeApp(source, at=at, present=present))
    except RecordingError as exc:
        raise DataError(str(exc)) from None
    finally:
        source.close()


def _live_source(scenario: str, config: ControllerConfig, params: dict[str, int], at: int) -> Any:
    from nvmescope.ui.source import LiveSource

    try:
        source = LiveSource(scenario, config, params)
    except OSError as exc:
        raise DataError(
            f"cannot make the live session's temporary recording: {exc.strerror or exc}"
        ) from None
    try:
        if at >= len(source):
            with _progress(f"running {scenario} to event {at}") as progress:
                task = progress.add_task(f"running {scenario} to event {at}", total=at + 1)
                while len(source) <= at and not source.finished:
                    source.step(min(4096, at + 1 - len(source)))
                    progress.update(task, completed=len(source))
            if at >= len(source):
                raise UsageError(
                    f"--at {at}: the {scenario} scenario ends at event {len(source) - 1}"
                )
    except BaseException:
        source.close()
        raise
    return source


PresentOpt = Annotated[
    bool,
    typer.Option(
        "--present",
        help="Presentation mode (for a projector): the timeline and one panel, high contrast.",
    ),
]

AtOpt = Annotated[
    int,
    typer.Option(
        "--at",
        metavar="N",
        parser=number(0, MAX_AT),
        help="Open at event N (share a position as a command line).",
    ),
]


@app.command(short_help="The interactive debugger (a scenario live, or a recording).")
def tui(
    target: Annotated[
        str,
        typer.Argument(
            metavar="[SCENARIO|FILE]",
            help="A scenario to run live (see `nvmescope scenarios`) or a .nvmetrace recording.",
        ),
    ] = "identify",
    config: ConfigOpt = None,
    param: ParamOpt = None,
    at: AtOpt = 0,
    present: PresentOpt = False,
) -> None:
    """Step through every event, forwards and backwards: registers, queues, memory,
    commands and checks as of the cursor. `nvmescope FILE.nvmetrace` opens a recording too."""
    _guarded(lambda: _tui(target, config, param, at, present))


@app.command(short_help="List the lessons (`nvmescope lesson NAME` gives one).")
def lessons() -> None:
    """The lessons that come with nvmescope: each walks a scenario one explained step at a
    time. A lesson is a TOML file: copy one (the path is printed) and edit it."""
    _guarded(_lessons)


def _lessons() -> None:
    from nvmescope.trace.lesson import LessonError, load_lesson, shipped_lessons

    for name, path in shipped_lessons().items():
        try:
            lesson = load_lesson(str(path), scenarios_table())
        except LessonError as exc:
            raise DataError(str(exc)) from None
        write(
            f"{name:<10} {lesson.title} ({len(lesson.steps)} steps, scenario {lesson.scenario})\n"
        )
        write(f"{'':<10} {path}\n")


@app.command(short_help="A lesson in the TUI: a scenario explained step by step.")
def lesson(
    target: Annotated[
        str,
        typer.Argument(
            metavar="NAME|FILE.toml", help="A lesson (see `nvmescope lessons`) or a lesson file."
        ),
    ],
    config: ConfigOpt = None,
    param: ParamOpt = None,
    present: PresentOpt = False,
) -> None:
    """Give a lesson: the TUI opens on its first step, the cursor on the event it explains
    and its panel framed; `>` and `<` move between steps, `s`/`S` step freely inside one,
    `l` comes back to the step's event, `L` leaves the lesson and rejoins it. Not on a
    terminal, it prints every step with its event instead."""
    _guarded(lambda: _lesson(target, config, param, present))


def _lesson(
    target: str, config_pairs: list[str] | None, param_pairs: list[str] | None, present: bool
) -> None:
    from nvmescope.events import describe
    from nvmescope.trace.lesson import LessonError, load_lesson

    try:
        lesson = load_lesson(target, scenarios_table())
    except LessonError as exc:
        raise UsageError(str(exc)) from None
    own_params = [f"{k}={v}" for k, v in lesson.params.items()]
    try:
        # the lesson's own values are checked as the lesson's (its file is named) ...
        build_config(lesson.config)
        build_params(lesson.scenario, own_params)
    except UsageError as exc:
        raise UsageError(f"{lesson.where()}: {exc}") from None
    # ... then the command line's, which win
    config = scenario_config(lesson.scenario, [*lesson.config, *(config_pairs or ())])
    params = build_params(lesson.scenario, [*own_params, *(param_pairs or ())])
    from nvmescope.ui.source import lesson_source

    try:
        source, stops = lesson_source(lesson, config, params)
    except LessonError as exc:
        raise UsageError(str(exc)) from None
    try:
        if not _on_terminal():
            write(f"{lesson.title} (scenario {lesson.scenario}, {len(stops)} steps)\n")
            if lesson.summary:
                write("\n" + _wrapped(lesson.summary, "") + "\n")
            for step, stop in zip(lesson.steps, stops, strict=True):
                write(
                    f"\nStep {step.number} of {len(stops)}: {step.title} (event {stop}, {step.panel})\n"
                )
                write(f"  {stop:>6}  {describe(source.event(stop))}\n")
                write(_wrapped(step.text, "  ") + "\n")
            return
        from nvmescope.ui import NvmeScopeApp
        from nvmescope.ui.widgets import LessonRun

        _run_app(NvmeScopeApp(source, lesson=LessonRun(lesson, stops), present=present))
    finally:
        source.close()


def _wrapped(text: str, indent: str) -> str:
    import textwrap

    return textwrap.fill(
        " ".join(text.split()), width=88, initial_indent=indent, subsequent_indent=indent
    )


@app.command(
    short_help="The TUI in web browsers: one session each (textual-serve).",
    context_settings={"allow_interspersed_args": False},
)
def serve(
    args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[-- COMMAND...]",
            help="What each browser runs, as after `nvmescope` (default: tui). Put it "
            "after `--`: `nvmescope serve -- lesson identify --present`.",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int,
        typer.Option(
            "--port", metavar="N", parser=number(*PORT_RANGE), help="The port to listen on."
        ),
    ] = DEFAULT_PORT,
    host: Annotated[
        str,
        typer.Option(
            "--host", metavar="ADDR", help="The address to listen on (0.0.0.0: every one)."
        ),
    ] = DEFAULT_HOST,
) -> None:
    """Serve nvmescope's TUI to web browsers, for a projector or students' laptops: every
    browser that opens the page gets its own session. It listens on this machine only
    (127.0.0.1) unless --host says otherwise, and says where."""

    def run() -> None:
        from nvmescope.serve import ServeError
        from nvmescope.serve import serve as serve_app

        _check_session_args(list(args or []))
        try:
            serve_app(list(args or []), host, port)
        except ServeError as exc:
            raise UsageError(str(exc)) from None

    _guarded(run)


def _check_session_args(args: list[str]) -> None:
    """What ``serve`` runs for each browser is parsed now, as its own command would parse
    it (every option's range): a bad one is one line here, not an error in every browser.
    Help and version requests are left to the session."""
    argv = ["tui", *args] if args and _is_recording_argument(args[0]) else list(args)
    if not argv or {"-h", "--help", "--version"} & set(argv):
        return
    cmd: Any = typer.main.get_command(app)
    name, rest, parent = "nvmescope", list(argv), None
    try:
        while cmd is not None:
            ctx = cmd.make_context(name, rest, parent=parent)
            if not hasattr(cmd, "resolve_command"):
                break
            # a group: the rest of the line is its command's (as typer's own completion
            # reads it; typer is pinned below 0.28)
            left = [*getattr(ctx, "_protected_args", []), *ctx.args]
            if not left:
                break
            name, cmd, rest = cmd.resolve_command(ctx, left)
            parent = ctx
    except typer.Exit:
        return
    except Exception as exc:
        if not hasattr(exc, "format_message"):  # only the parser's own errors are the user's
            raise
        raise UsageError(
            f"the command to serve, nvmescope {' '.join(argv)}: {exc.format_message()}"
        ) from None
    # what the session would open: a live session's configuration and parameters as it
    # would build them, the recording or the lesson it names
    values = ctx.params
    target = values.get("target")
    command = getattr(cmd, "name", "")
    try:
        if command == "serve":
            raise UsageError("serve cannot serve itself")
        if command == "tui" and isinstance(target, str):
            if target in scenarios_table():
                scenario_config(target, values.get("config"))
                build_params(target, values.get("param"))
            elif not target.endswith(".nvmetrace") and not Path(target).exists():
                _check_scenario(target)
            else:
                _open(Path(target)).close()
        if command == "lesson" and isinstance(target, str):
            from nvmescope.trace.lesson import LessonError, load_lesson

            try:
                load_lesson(target, scenarios_table())
            except LessonError as exc:
                raise UsageError(str(exc)) from None
    except (UsageError, DataError) as exc:
        raise UsageError(f"the command to serve, nvmescope {' '.join(argv)}: {exc}") from None


@app.command(short_help="List the built-in scenarios.")
def scenarios() -> None:
    """List the built-in scenarios."""
    for name in sorted(scenarios_table()):
        scenario = scenarios_table()[name]
        say(f"{name:12s} {scenario.summary}")
        if scenario.knobs:
            knobs = " ".join(f"-c {k}={_knob_text(v)}" for k, v in scenario.knobs.items())
            say(f"{'':12s}   runs with {knobs} unless you set them")
        for key, text in scenario.param_help.items():
            low, high = scenario.param_range.get(key, (1, 10**9))
            say(
                f"{'':12s}   -p {key}=N  {text} "
                f"(default {scenario.defaults[key]}, {_range_text(low, high)})"
            )


def _knob_text(value: object) -> str:
    return f"{value:#x}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def config_docs() -> dict[str, str]:
    """Each knob's ``#:`` comment from ControllerConfig's source (its documentation)."""
    import inspect

    from nvmescope.emulator import ControllerConfig

    docs: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(ControllerConfig).splitlines():
        text = line.strip()
        if text.startswith("#:"):
            pending.append(text[2:].strip())
        elif ":" in text and not text.startswith(("#", "def", "@", "class", '"')):
            name = text.split(":", 1)[0].strip()
            if name.isidentifier() and pending:
                docs[name] = " ".join(pending)
            pending = []
        else:
            pending = []
    return docs


@app.command(short_help="How to write --filter expressions.")
def filters() -> None:
    """How to write --filter expressions (fields, operators, examples)."""
    from nvmescope.trace.filter import HELP

    say(HELP)


@app.command("config", short_help="The controller's knobs (-c KEY=VALUE).")
def config_cmd() -> None:
    """List the controller knobs settable with --config KEY=VALUE, with defaults and meaning."""
    from nvmescope.emulator import ControllerConfig
    from nvmescope.emulator.config import PROFILES

    default = ControllerConfig()
    docs = config_docs()
    hexed = {"ieee", "pci_vid", "pci_did", "pci_ssvid", "pci_ssid", "oaes", "ctratt", "lpa"}
    hexed |= {"css", "nwpc"}
    for f in dataclasses.fields(ControllerConfig):
        value = getattr(default, f.name)
        shown = hex(value) if f.name in hexed else repr(value)
        say(f"{f.name:20s} {shown:24s} {docs.get(f.name, '')}")
    for name, knobs in PROFILES.items():
        values = " ".join(
            f"{k}={hex(v) if k in hexed else repr(v) if isinstance(v, str) else v}"
            for k, v in knobs.items()
        )
        say(f"profile {name} (--profile {name}; -c KEY=VALUE still overrides): {values}")
    from nvmescope.emulator.config import NAMESPACE_RANGES
    from nvmescope.emulator.configfile import NAMESPACE_KEYS

    say(
        "file (--config FILE, TOML: after the profile, before -c KEY=VALUE): a [controller] "
        "table of the knobs above, and a [[namespace]] table per namespace, of:"
    )
    for key, text in NAMESPACE_KEYS.items():
        span = NAMESPACE_RANGES.get(key)
        shown = _range_text(span[0], span[1]) if span else ""
        say(f"  {key:18s} {shown:24s} {text}")


# -- nvme-cli style commands: the host issues the real command ----------------------
HumanOpt = Annotated[bool, typer.Option("-H", "--human-readable", help="Decode every field.")]
OutputOpt = Annotated[
    str, typer.Option("-o", "--output-format", help="normal or json (as nvme-cli).")
]
BinaryOpt = Annotated[
    bool, typer.Option("-b", "--raw-binary", help="Write the raw bytes the device returned.")
]
DEVICE = "nvme0"


AfterOpt = Annotated[
    str,
    typer.Option(
        "--after",
        help="Run this scenario first, then the command (e.g. --after errors to see error log entries).",
    ),
]


def _booted(config_pairs: list[str] | None, after: str = "bringup") -> Machine:
    """A machine whose Linux driver model has run ``after`` (bring-up at least)."""
    from nvmescope.machine import Machine

    _check_scenario(after)
    machine = Machine(scenario_config(after, config_pairs), scenario=after)
    machine.run()
    driver = machine.driver
    if driver is None or not driver.up:
        words = ["nvmescope", "trace", after] + [f"-c {p}" for p in config_pairs or ()]
        raise DeviceError(f"the controller did not come up (see `{' '.join(words)}`)")
    return machine


def _admin(machine: Machine, task_of: Callable[[Any], Any]) -> Any:
    """Run one driver command task to its completion; fail on an error status."""
    from nvmescope.nvme.status import describe_status

    driver = machine.driver
    assert driver is not None
    comp = driver.run(task_of(driver))
    if comp.timed_out:
        raise DeviceError("the command timed out")
    if not comp.ok:
        status = comp.status or 0
        raise DeviceError(f"NVMe status: {describe_status(status)} ({status:#x})")
    return comp


class DataError(Exception):
    """A file is damaged or not what it should be: one line, exit code 1."""


class DeviceError(Exception):
    """The device answered with an error status: printed as one line, exit code 1."""


def _guarded(fn: Callable[[], None]) -> None:
    """Run a command: bad input is one line and exit 2; an error status from the device,
    a failed scenario check or a damaged file is one line and exit 1."""
    from nvmescope.trace.format import RecordingError

    try:
        fn()
    except UsageError as exc:
        fail(str(exc))
    except (DeviceError, DataError, RecordingError) as exc:
        fail(str(exc), code=1)
    except BrokenPipeError:
        raise OutputClosed() from None
    except OSError as exc:
        if exc.filename is None:
            # no file named: the write that failed is (most often) standard output's;
            # main() reports it once, after its own final flush
            raise OutputError(f"cannot write the output: {exc.strerror or exc}") from None
        # a file the command reads or writes: one line naming it, exit 1
        fail(os_error_text(exc), code=1)
    except Exception as exc:
        # the host API's refusals; a command that never ran the machine never imported
        # them (nor the emulator), and cannot have raised one
        api = sys.modules.get("nvmescope.host.api")
        if api is not None and isinstance(exc, api.HostAccessError):
            fail(str(exc))
        store = sys.modules.get("nvmescope.emulator.namespace")
        if store is not None and isinstance(exc, store.BackingFileError):
            fail(str(exc))  # a namespace's file named by the configuration: bad input
        if api is not None and isinstance(exc, api.DeviceBusyError):
            fail(str(exc), code=1)
        raise


def os_error_text(exc: OSError) -> str:
    """``PATH: reason`` for an OSError, a long path shortened."""
    name = exc.filename
    reason = exc.strerror or str(exc) or type(exc).__name__
    if name is None:
        return reason
    return f"{short_path(name)}: {reason}"


def short_path(name: object) -> str:
    """A path for a message: a long one shortened, so that it stays one readable line."""
    text = os.fsdecode(name) if isinstance(name, bytes | str) else str(name)
    if len(text) > 80:
        text = f"{text[:40]}...{text[-20:]} ({len(text)} characters)"
    return text


def _emit(data: bytes, text: Callable[[], str], binary: bool) -> None:
    if binary:
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        except BrokenPipeError:
            raise OutputClosed() from None
        except OSError as exc:
            raise OutputError(f"cannot write the output: {exc.strerror or exc}") from None
    else:
        write(text())


def _check_output(fmt: str) -> bool:
    if fmt not in ("normal", "json"):
        raise UsageError(f"-o {fmt}: expected normal or json")
    return fmt == "json"


@app.command("id-ctrl", short_help="Identify Controller, as nvme-cli prints it.")
def id_ctrl(
    human: HumanOpt = False,
    output_format: OutputOpt = "normal",
    raw_binary: BinaryOpt = False,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """Identify Controller (CNS 01h), printed as nvme-cli 2.3 prints it."""
    from nvmescope.nvme import nvmecli

    def run() -> None:
        as_json = _check_output(output_format)
        m = _booted(config, after)
        data = _admin(m, lambda d: d.identify(0x01, why="nvmescope id-ctrl")).data
        if as_json:
            _emit(data, lambda: nvmecli.id_ctrl_json(data), raw_binary)
        else:
            _emit(data, lambda: nvmecli.format_id_ctrl(data, human=human), raw_binary)

    _guarded(run)


@app.command("id-ns", short_help="Identify Namespace, as nvme-cli prints it.")
def id_ns(
    namespace_id: Annotated[str, typer.Option("-n", "--namespace-id", help="NSID, e.g. 1.")] = "1",
    human: HumanOpt = False,
    output_format: OutputOpt = "normal",
    raw_binary: BinaryOpt = False,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """Identify Namespace (CNS 00h), printed as nvme-cli 2.3 prints it."""
    from nvmescope.nvme import nvmecli

    def run() -> None:
        as_json = _check_output(output_format)
        nsid = parse_nsid("-n", namespace_id)
        m = _booted(config, after)
        data = _admin(m, lambda d: d.identify(0x00, nsid=nsid, why="nvmescope id-ns")).data
        if as_json:
            _emit(data, lambda: nvmecli.id_ns_json(data), raw_binary)
        else:
            _emit(data, lambda: nvmecli.format_id_ns(data, nsid, human=human), raw_binary)

    _guarded(run)


@app.command("list", short_help="nvme list: the controller's namespaces.")
def list_cmd(
    output_format: OutputOpt = "normal", config: ConfigOpt = None, after: AfterOpt = "bringup"
) -> None:
    """nvme list: every active namespace of the controller (-o json: sizes in bytes)."""
    from nvmescope.nvme import identify as idf
    from nvmescope.nvme import nvmecli

    def run() -> None:
        as_json = _check_output(output_format)
        m = _booted(config, after)
        id_ctrl = _admin(m, lambda d: d.identify(0x01, why="nvme list: the controller")).data
        ns_list = _admin(m, lambda d: d.identify(0x02, why="nvme list: active namespaces")).data
        rows = []
        for nsid in idf.parse_active_ns_list(ns_list):
            id_ns = _admin(
                m, lambda d, nsid=nsid: d.identify(0x00, nsid=nsid, why="nvme list: a namespace")
            ).data
            rows.append(
                nvmecli.list_row(f"/dev/{DEVICE}n{nsid}", f"/dev/ng0n{nsid}", id_ctrl, id_ns, nsid)
            )
        write(nvmecli.list_json(rows) if as_json else nvmecli.format_list(rows))

    _guarded(run)


@app.command("list-ns", short_help="nvme list-ns: the active namespace IDs.")
def list_ns(
    namespace_id: Annotated[
        str,
        typer.Option(
            "-n", "--namespace-id", help="List the active NSIDs from this one on (default 1)."
        ),
    ] = "1",
    all_ns: Annotated[
        bool,
        typer.Option(
            "-a", "--all", help="Every allocated NSID, attached or not (CNS 10h; needs ns_mgmt)."
        ),
    ] = False,
    raw_binary: BinaryOpt = False,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """Identify Active Namespace ID list (CNS 02h), or with -a the Allocated Namespace ID
    list (CNS 10h): the NSIDs greater than the command's NSID, which is one less than -n,
    printed as nvme-cli 2.3 prints them."""
    from nvmescope.nvme import nvmecli

    def run() -> None:
        first = parse_nsid("-n", namespace_id)
        if first == 0:
            raise UsageError(f"-n {namespace_id}: the first NSID to list is 1 or more")
        m = _booted(config, after)
        cns = 0x10 if all_ns else 0x02
        data = _admin(m, lambda d: d.identify(cns, nsid=first - 1, why="nvmescope list-ns")).data
        _emit(data, lambda: nvmecli.format_list_ns(data), raw_binary)

    _guarded(run)


@app.command("smart-log")
def smart_log(
    namespace_id: Annotated[
        str, typer.Option("-n", "--namespace-id", help="NSID (0xffffffff: the controller).")
    ] = "0xffffffff",
    output_format: OutputOpt = "normal",
    raw_binary: BinaryOpt = False,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """SMART / Health Information log page (02h)."""
    from nvmescope.nvme import nvmecli

    def run() -> None:
        as_json = _check_output(output_format)
        nsid = parse_nsid("-n", namespace_id)
        m = _booted(config, after)
        data = _admin(
            m, lambda d: d.get_log_page(0x02, 512, nsid=nsid, why="nvmescope smart-log")
        ).data
        if as_json:
            _emit(data, lambda: nvmecli.smart_log_json(data), raw_binary)
        else:
            _emit(data, lambda: nvmecli.format_smart_log(data, DEVICE, nsid), raw_binary)

    _guarded(run)


@app.command("error-log")
def error_log(
    log_entries: Annotated[
        int | None,
        typer.Option(
            "-e", "--log-entries", parser=number(1, 256), help="Entries to read (default ELPE+1)."
        ),
    ] = None,
    raw_binary: BinaryOpt = False,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """Error Information log page (01h)."""
    from nvmescope.nvme import identify as idf
    from nvmescope.nvme import nvmecli

    def run() -> None:
        m = _booted(config, after)
        if log_entries is not None and not 1 <= log_entries <= 256:
            raise UsageError(f"-e {log_entries}: expected 1..256 entries")
        ctrl = _admin(m, lambda d: d.identify(0x01, why="error-log: how many entries (ELPE)"))
        supported = idf.IDENTIFY_CONTROLLER.parse(ctrl.data).elpe + 1
        # as nvme-cli: never more entries than the controller keeps (ELPE + 1)
        entries = supported if log_entries is None else min(log_entries, supported)
        data = _admin(
            m, lambda d: d.get_log_page(0x01, 64 * entries, why="nvmescope error-log")
        ).data
        _emit(data, lambda: nvmecli.format_error_log(data, DEVICE, entries), raw_binary)

    _guarded(run)


@app.command("fw-log")
def fw_log(
    raw_binary: BinaryOpt = False, config: ConfigOpt = None, after: AfterOpt = "bringup"
) -> None:
    """Firmware Slot Information log page (03h)."""
    from nvmescope.nvme import nvmecli

    def run() -> None:
        m = _booted(config, after)
        data = _admin(m, lambda d: d.get_log_page(0x03, 512, why="nvmescope fw-log")).data
        _emit(data, lambda: nvmecli.format_fw_log(data, DEVICE), raw_binary)

    _guarded(run)


#: nvme-cli 2.3 reads a log in pieces of this many bytes (its --xfer-len default), each
#: piece at its own Log Page Offset
LOG_XFER_LEN = 4096
#: the most bytes ``get-log`` reads (the largest log this device keeps is 16 KiB)
MAX_LOG_LEN = 1 << 20


@app.command("get-log", short_help="Get Log Page: any log, as nvme-cli's hex dump.")
def get_log(
    log_id: Annotated[
        int, typer.Option("-i", "--log-id", parser=number(0, 0xFF), help="LID, e.g. 1 or 0x05.")
    ],
    log_len: Annotated[
        int,
        typer.Option(
            "-l", "--log-len", parser=number(1, MAX_LOG_LEN), help="Bytes to read, e.g. 64."
        ),
    ],
    namespace_id: Annotated[
        str, typer.Option("-n", "--namespace-id", help="NSID (0xffffffff: the controller).")
    ] = "0xffffffff",
    lpo: Annotated[
        int,
        typer.Option("--lpo", parser=number(0, (1 << 64) - 1), help="Log Page Offset, in bytes."),
    ] = 0,
    rae: Annotated[
        bool,
        typer.Option("--rae", help="Retain Asynchronous Event: leave the log's event pending."),
    ] = False,
    raw_binary: BinaryOpt = False,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """Get Log Page (opcode 02h) of any log identifier, as nvme-cli 2.3's get-log prints
    it: a hex dump of the bytes the device returned.

    As nvme-cli, a log longer than 4 KiB is read 4 KiB at a time, each command at the
    next Log Page Offset, all but the last with RAE set.
    """
    from nvmescope.nvme import nvmecli

    def run() -> None:
        if not 1 <= log_len <= MAX_LOG_LEN:
            raise UsageError(f"--log-len {log_len}: expected 1..{MAX_LOG_LEN} bytes")
        if not 0 <= log_id <= 0xFF:
            raise UsageError(f"--log-id {log_id}: a log identifier is 0..255")
        if lpo % 4:
            raise UsageError(f"--lpo {lpo}: a Log Page Offset is a multiple of 4 bytes")
        if lpo + log_len > 1 << 64:
            raise UsageError(f"--lpo {lpo} with --log-len {log_len}: goes beyond 2^64 bytes")
        nsid = parse_nsid("-n", namespace_id)
        m = _booted(config, after)
        data = b""
        for offset in range(0, log_len, LOG_XFER_LEN):
            size = min(LOG_XFER_LEN, log_len - offset)
            more = offset + size < log_len
            piece = _admin(
                m,
                lambda d, offset=offset, size=size, more=more: d.get_log_page(
                    log_id, size, nsid=nsid, lpo=lpo + offset, rae=rae or more,
                    why="nvmescope get-log",
                ),
            ).data  # fmt: skip
            data += bytes(piece or b"")[:size]
        _emit(data, lambda: nvmecli.format_get_log(data, DEVICE, log_id, nsid), raw_binary)

    _guarded(run)


#: features whose Get Features returns data in a buffer, and its size
FEATURE_DATA_LEN = {0x0E: 8}


@app.command("get-feature", short_help="Get Features, as nvme-cli prints it.")
def get_feature(
    feature_id: Annotated[str, typer.Option("-f", "--feature-id", help="FID, e.g. 7 or 0x0e.")],
    sel: Annotated[
        int,
        typer.Option(
            "-s",
            "--sel",
            parser=number(0, 7),
            help="0 current, 1 default, 2 saved, 3 capabilities.",
        ),
    ] = 0,
    cdw11: Annotated[
        int,
        typer.Option(
            "--cdw11", parser=number(0, 0xFFFFFFFF), help="Dword 11 (e.g. the vector for 09h)."
        ),
    ] = 0,
    namespace_id: Annotated[
        str,
        typer.Option(
            "-n", "--namespace-id", help="NSID of a namespace's feature (05h, 84h); default 0."
        ),
    ] = "0",
    human: HumanOpt = False,
    raw_binary: BinaryOpt = False,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """Get Features: the value of one feature, printed as nvme-cli 2.3 prints it."""
    from nvmescope.nvme import nvmecli

    def run() -> None:
        fid = parse_number("-f", feature_id)
        if not 0 <= fid <= 0xFF:
            raise UsageError(f"-f {feature_id}: a feature identifier is 0..255")
        if not 0 <= sel <= 7:
            raise UsageError(f"-s {sel}: select is 0..7")
        nsid = parse_nsid("-n", namespace_id)
        m = _booted(config, after)
        length = FEATURE_DATA_LEN.get(fid, 0)
        comp = _admin(
            m,
            lambda d: d.get_features(
                fid, sel=sel, cdw11=cdw11, data_len=length, nsid=nsid, why="nvmescope get-feature"
            ),
        )
        data = comp.data if length else None
        _emit(
            data or comp.dw0.to_bytes(4, "little"),
            lambda: nvmecli.format_get_feature(fid, comp.dw0, data, human, sel=sel),
            raw_binary,
        )

    _guarded(run)


@app.command(short_help="The PCI function, as lspci shows it.")
def lspci(
    verbose: Annotated[
        int, typer.Option("-v", count=True, help="-v, -vv (-vvv): more detail.")
    ] = 0,
    kernel: Annotated[
        bool, typer.Option("-k", help="Show the kernel driver in use and the kernel modules.")
    ] = False,
    numeric: Annotated[
        int, typer.Option("-n", count=True, help="-n: numeric IDs; -nn: names and IDs.")
    ] = 0,
    raw_hex: Annotated[
        int,
        typer.Option(
            "-x", count=True, help="Hex dump of config space: -x 64 B, -xxx 256 B, -xxxx 4 KiB."
        ),
    ] = 0,
    before_bind: Annotated[
        bool,
        typer.Option(
            "--before-bind",
            help="The function as the nvme driver finds it: BAR0 placed, Memory Space, Bus "
            "Master and MSI-X still off, no driver bound.",
        ),
    ] = False,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """The emulated PCI function as lspci (pciutils 3.9) shows it, read through configuration
    space after the Linux driver model has bound (Kernel driver in use: nvme), or just
    before it enables the function (--before-bind).

    The IRQ shown is the kernel's: before the driver enables the function, the Interrupt
    Line the platform's firmware wrote (knob interrupt_line); after, the IRQ the kernel
    routed INTx to (knob intx_irq), or Interrupt Line again when it routed none. With
    neither knob (the default machine) no firmware runs and lspci shows 0.
    """
    from nvmescope.machine import Machine
    from nvmescope.nvme import lspci as lspci_fmt

    def run() -> None:
        if before_bind:
            if after != "bringup":
                raise UsageError(f"--before-bind and --after {after}: choose one")
            m = Machine(build_config(config), scenario="bringup")
            # the driver model places BAR0 first (firmware's job on a real machine), then
            # sets Memory Space Enable: stop right before that
            hit = m.run_until(lambda e: e.kind == "host_step" and e.step == "pci_enable_device_mem")
            if hit is None:
                raise DeviceError("the host never reached pci_enable_device_mem")
            bound = False
            irq = None  # Linux's pci_read_irq: the Interrupt Line value, read at enumeration
        else:
            m = _booted(config, after)
            bound = True
            irq = m.driver.irq if m.driver is not None else None
        bar_size = m.ctrl.bar_size
        # -vv walks the extended capabilities and -xxxx dumps them: all 4 KiB, else 256 B
        length = 4096 if verbose >= 2 or raw_hex >= 4 else 256
        space = b"".join(
            m.api.config_read(off, 4).to_bytes(4, "little") for off in range(0, length, 4)
        )
        shown = kernel or verbose > 0
        text = lspci_fmt.format_lspci(
            space,
            verbose=min(verbose, 2),
            driver="nvme" if shown and bound else None,
            modules=lspci_fmt.kernel_modules(space) if shown else (),
            bar_sizes={0: bar_size},
            irq=irq,
            numeric=min(numeric, 2),
            dump={0: 0, 1: 64, 2: 64, 3: 256}.get(raw_hex, 4096),
        )
        write(text)

    _guarded(run)


@app.command("show-regs", short_help="BAR0's registers, as nvme show-regs prints them.")
def show_regs(
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE",
            help="A recording: show the registers as of event --at N instead of a live device.",
            show_default=False,
        ),
    ] = None,
    human: HumanOpt = False,
    at: Annotated[
        int | None,
        typer.Option(
            "--at",
            metavar="N",
            parser=number(0, MAX_AT),
            help="With FILE: the registers as of event N (default: the last event).",
        ),
    ] = None,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """BAR0 as the host reads it, printed as nvme-cli 2.3's show-regs prints it (-H decodes).

    Live (no FILE), the host reads each register once, 32 bits at a time, in the
    order nvme-cli 2.3 read them in reference/. With FILE, a register's value is
    the last one read or written up to event N; one never seen prints as ?.
    """
    from nvmescope.nvme import showregs

    def run() -> None:
        if file is None:
            if at is not None:
                raise UsageError("--at N: needs a recording (FILE)")
            m = _booted(config, after)
            values = showregs.read_registers(m.api.mmio_read32)
        else:
            if config or after != "bringup":
                raise UsageError("-c/--after: only for a live device, not with FILE")
            rec = _open(file)
            if len(rec) == 0:
                raise DataError(f"{file}: the recording has no events")
            n = len(rec) - 1 if at is None else at
            if not 0 <= n < len(rec):
                raise UsageError(f"--at {n}: the recording has {rec.range_text()}")
            state = rec.state_at(n)
            values = {
                name: state.bar0_value(reg.offset, reg.size)
                for name in showregs.SHOW_REGS_ORDER
                for reg in (showregs.register_by_name(name),)
            }
        write(showregs.format_show_regs(values, human=human))

    _guarded(run)


# -- recordings -------------------------------------------------------------------
FileArg = Annotated[
    Path, typer.Argument(metavar="FILE", help="A recording (.nvmetrace).", show_default=False)
]
FilterOpt = Annotated[
    str | None,
    typer.Option(
        "--filter",
        "-f",
        metavar="EXPR",
        help='Filter expression, e.g. kind == "cqe_post" (`nvmescope filters` explains).',
    ),
]


def _refuse_same_file(output: Path, *inputs: Path) -> None:
    """Never write over an input: the command would destroy what it reads."""
    for source in inputs:
        try:
            same = output.exists() and os.path.samefile(output, source)
        except OSError:
            same = False
        if same:
            raise UsageError(f"-o {output}: that is the input file; choose another output")


def _open(path: Path) -> Any:
    """Open a recording; warnings (a partial file) go to stderr."""
    from nvmescope.trace import RecordingError, open_recording

    try:
        rec = open_recording(path)
    except RecordingError as exc:
        raise DataError(str(exc)) from None
    except OSError as exc:
        raise DataError(f"{path}: {exc.strerror or exc}") from None
    for warning in rec.warnings:
        err.print(f"nvmescope: warning: {escape(warning)}")
    if not len(rec) and not rec.complete:
        # damaged or cut short before its first whole chunk: nothing to show, not success
        rec.close()
        raise DataError(
            f"{path}: no event is readable (damaged or cut short before its first chunk)"
        )
    return rec


def _progress(description: str, total: int | None = None) -> Any:
    """A rich progress bar on a terminal; nothing when output is piped."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


class _DeferredInterrupt:
    """Ctrl+C (SIGINT) while a recording is written is taken between two events, not in
    the middle of one: an interrupt raised inside the recorder (halfway through a chunk
    it writes) would leave a file whose last chunk is cut. The loop asks
    :attr:`requested`; a second Ctrl+C interrupts at once. Outside the main thread
    (where no handler can be set) it does nothing."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _DeferredInterrupt:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _record_one(
    scenario: str,
    path: Path,
    config: ControllerConfig,
    fmt: str,
    max_events: int | None,
    params: dict[str, int] | None = None,
) -> Any:
    from nvmescope.machine import Machine
    from nvmescope.trace import Recorder

    # the recording is the only copy of the events: memory stays bounded however long the run
    machine = Machine(config, scenario=scenario, params=params or None, keep_events=False)
    rec = Recorder.attach(machine, path, scenario=scenario, fmt=fmt)
    with _progress(f"recording {scenario}") as progress, _DeferredInterrupt() as ctrl_c:
        task = progress.add_task(f"recording {scenario}", total=max_events)
        count = 0
        try:
            while max_events is None or count < max_events:
                if ctrl_c.requested:
                    raise KeyboardInterrupt
                if machine.step() is None:
                    break
                count += 1
                if count % 1024 == 0:
                    progress.update(task, completed=count)
        except KeyboardInterrupt:
            # Ctrl+C: close the recording properly (a valid file of what was kept), then stop
            summary = rec.close()
            progress.stop()
            err.print(
                f"nvmescope: interrupted: kept {summary.events} events in {escape(str(path))}"
            )
            raise typer.Exit(130) from None
        except BaseException:
            rec.close()
            raise
    summary = rec.close()
    return summary, machine


@app.command(short_help="Record a scenario to a .nvmetrace file.")
def record(
    scenario: Annotated[
        str, typer.Argument(metavar="SCENARIO", help="Scenario to run (see `nvmescope scenarios`).")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="The recording to write.")],
    fmt: Annotated[
        str, typer.Option("--format", help="msgpack (compact, default) or jsonl.")
    ] = "msgpack",
    max_events: Annotated[
        int | None,
        typer.Option("--max-events", parser=number(1, MAX_AT), help="Stop after N events."),
    ] = None,
    config: ConfigOpt = None,
    param: ParamOpt = None,
) -> None:
    """Run a scenario and record every event to a file (-p count=100000 for a big io-load)."""

    def run() -> None:
        _check_scenario(scenario)
        if fmt not in ("msgpack", "jsonl"):
            raise UsageError(f"--format {fmt}: expected msgpack or jsonl")
        if max_events is not None and max_events < 1:
            raise UsageError("--max-events: expected a positive number")
        cfg = scenario_config(scenario, config)
        params = build_params(scenario, param)
        try:
            summary, machine = _record_one(scenario, output, cfg, fmt, max_events, params)
        except OSError as exc:
            raise DataError(f"{output}: {exc.strerror or exc}") from None
        say(
            f"recorded {summary.events} events of {scenario} to {output} "
            f"({summary.bytes} bytes, {summary.bytes_per_event:.1f} B/event, "
            f"{summary.checkpoints} checkpoint(s), {summary.virtual_ns / 1000:.1f} us of virtual time)"
        )
        run_ = machine.scenario
        if run_ is not None and not run_.ok and max_events is None:
            raise DeviceError(_failed_checks(scenario, run_))

    _guarded(run)


def _range(rec: Any, start: int | None, stop: int | None) -> tuple[int, int]:
    n = len(rec)
    first = 0 if start is None else start
    last = n if stop is None else min(stop, n)
    if first < 0 or first > n:
        raise UsageError(f"--from {first}: the recording has {rec.range_text()}")
    if stop is not None and stop < first:
        raise UsageError(f"--to {stop} is before --from {first}: no event is between them")
    return first, last


@app.command(short_help="Print a recording; --verify re-runs it.")
def replay(
    file: FileArg,
    verify_: Annotated[
        bool,
        typer.Option("--verify", help="Re-execute the host inputs and compare event by event."),
    ] = False,
    start: Annotated[
        int | None,
        typer.Option("--from", metavar="N", parser=number(0, MAX_AT), help="First event to print."),
    ] = None,
    stop: Annotated[
        int | None,
        typer.Option("--to", metavar="N", parser=number(0, MAX_AT), help="Stop before this event."),
    ] = None,
) -> None:
    """Walk a recording and print it; --verify re-runs it against today's emulator (like rr)."""

    def run() -> None:
        from nvmescope.trace import verify

        rec = _open(file)
        source = (
            rec.header.extra.get("imported_from") if isinstance(rec.header.extra, dict) else None
        )
        if verify_ and source:
            raise DataError(
                f"{file}: imported from a {source}, not recorded by nvmescope: "
                "there is no run of ours to re-execute (show and stats work on it)"
            )
        if verify_ and (start is not None or stop is not None):
            raise UsageError("--verify re-runs the whole recording: it takes no --from/--to")
        if not verify_:
            first, last = _range(rec, start, stop)
            for event in rec.events(first, last):
                say(format_event(event))
            return
        with _progress("verifying") as progress:
            progress.add_task(f"verifying {file.name}", total=None)
            result = verify(rec)
        for warning in result.warnings[len(rec.warnings) :]:
            err.print(f"nvmescope: warning: {escape(warning)}")
        if result.refused is not None:
            raise DataError(f"{file}: {result.refused}")
        if result.ok and result.checked == 0:
            raise DataError(f"{file}: the recording has no events: nothing was verified")
        if result.ok:
            say(f"{file}: verified: {result.checked} of {result.total} events identical")
            return
        d = result.divergence
        if d is None:
            say(result.describe())
        else:
            say(d.headline())
            for event in d.context:
                say("  " + format_event(event))
            say("  expected: " + (format_event(d.expected) if d.expected else "(no event)"))
            say("  actual:   " + (format_event(d.actual) if d.actual else "(no event)"))
            for line in d.field_lines():
                say("  " + line)
        raise DataError(f"{file}: replay diverged at event {d.index if d else '?'}")

    _guarded(run)


def _ring_lines(state: Any, qtype: str, q: Any) -> list[str]:
    """The entries between head and tail: SQEs the device has not fetched, CQEs the host
    has not consumed."""
    from nvmescope.nvme.commands import unpack_cqe, unpack_sqe
    from nvmescope.nvme.opcodes import opcode_name
    from nvmescope.nvme.status import describe_status

    if not q.qsize or q.addr is None or q.head == q.tail:
        return []
    ring = state.ring(qtype, q.qid)
    lines: list[str] = []
    slot = q.head
    while slot != q.tail and len(lines) < 8:
        raw = ring[slot] if slot < len(ring) else None
        if raw is None:
            lines.append(f"      slot {slot:<4d} (bytes not in the recording)")
        elif qtype == "sq":
            e = unpack_sqe(raw)
            lines.append(
                f"      slot {slot:<4d} {opcode_name(e.opc, q.qid == 0)} cid {e.cid} nsid {e.nsid:#x} "
                f"prp1 {e.prp1:#x} cdw10 {e.cdw10:#x}"
            )
        else:
            c = unpack_cqe(raw)
            lines.append(
                f"      slot {slot:<4d} cid {c.cid} sq{c.sqid} sqhd {c.sqhd} phase {c.p}: "
                f"{describe_status(c.status)}"
            )
        slot = (slot + 1) % q.qsize
    if slot != q.tail:
        lines.append(f"      ... up to slot {q.tail}")
    return lines


def _state_lines(state: Any, event: Event | None = None) -> list[str]:
    """The whole observable state as of one event, for people."""
    from nvmescope.nvme import registers as regs

    lines = [
        f"state as of event {state.index} (t = {state.ts / 1000:.3f} us), "
        f"controller {state.ctrl_state or '?'}"
    ]
    if event is not None:
        lines.append(f"  event  {format_event(event).strip()}")
    lines.append("registers")
    for reg in regs.REGISTERS:
        value = state.register(reg.name)
        if value is None:
            lines.append(f"  {reg.name.upper():7s} ? (not seen yet)")
            continue
        if reg.name in ("asq", "acq"):
            lines.append(f"  {reg.name.upper():7s} {value:#018x}  base address {value & ~0xFFF:#x}")
            continue
        fields = ", ".join(
            f"{f.name}={f.get(value):#x}"
            if f.width >= 8 and f.get(value) > 9
            else f"{f.name}={f.get(value)}"
            for f in reg.fields
            if f.get(value)
        )
        lines.append(f"  {reg.name.upper():7s} {value:#0{2 + 2 * reg.size}x}  {fields}".rstrip())
    lines.append("queues (entries between head and tail)")
    for label, queues in (("SQ", state.sqs), ("CQ", state.cqs)):
        for qid in sorted(queues):
            q = queues[qid]
            addr = f"{q.addr:#x}" if q.addr is not None else "?"
            extra = f" -> CQ{q.cqid}" if label == "SQ" else f" phase {q.phase} vector {q.vector}"
            lines.append(
                f"  {label}{qid:<3d} @{addr} {q.qsize} entries, head {q.head} tail {q.tail}{extra}"
            )
            lines.extend(_ring_lines(state, label.lower(), q))
    lines.append("interrupts")
    for vector in sorted(state.msix):
        v = state.msix[vector]
        handled = state.host_irqs.get(vector, 0)
        lines.append(
            f"  MSI-X {vector:<3d} sent {v.count}, handled by the host {handled}, "
            f"pending {'yes' if v.pending else 'no'}, "
            f"masked {'?' if v.masked is None else 'yes' if v.masked else 'no'}"
        )
    if state.intx_count or state.intx_asserted:
        lines.append(f"  INTx asserted {state.intx_asserted}, {state.intx_count} assertion(s)")
    lines.append(
        f"commands started {state.commands_started}, finished {state.commands_finished}; "
        f"err_* {state.err_count}, ub_* {state.ub_count}"
    )
    return lines


@app.command(short_help="Filter, pair, follow, check, show state.")
def show(
    file: FileArg,
    filter: FilterOpt = None,
    commands: Annotated[
        bool,
        typer.Option(
            "--commands", help="One row per command: submit/complete paired, latency, status."
        ),
    ] = False,
    follow: Annotated[
        str | None,
        typer.Option(
            "--follow",
            metavar="SQID:CID[#N]",
            help="SQID:CID or SQ1:4#2 (as --commands prints): every event of one command.",
        ),
    ] = None,
    checks: Annotated[
        bool, typer.Option("--checks", help="Protocol checks (expert info).")
    ] = False,
    state: Annotated[
        int | None,
        typer.Option(
            "--state",
            metavar="N",
            parser=number(0, MAX_AT),
            help="The whole observable state as of event N.",
        ),
    ] = None,
    start: Annotated[
        int | None,
        typer.Option("--from", metavar="N", parser=number(0, MAX_AT), help="First event."),
    ] = None,
    stop: Annotated[
        int | None,
        typer.Option("--to", metavar="N", parser=number(0, MAX_AT), help="Stop before this event."),
    ] = None,
) -> None:
    """Find things in a recording: filter events, pair commands, follow one, run checks, show state."""

    def run() -> None:
        from nvmescope.events import describe
        from nvmescope.trace import commands as cmdview
        from nvmescope.trace.checks import run_checks, summarize

        modes = [
            name
            for name, on in (
                ("--commands", commands),
                ("--follow", follow is not None),
                ("--checks", checks),
                ("--state", state is not None),
            )
            if on
        ]
        if len(modes) > 1:
            raise UsageError(f"{' and '.join(modes)}: choose one view at a time")
        predicate = _compile_filter(filter)
        rec = _open(file)
        first, last = _range(rec, start, stop)

        def selected() -> Any:
            for event in rec.events(first, last):
                if predicate is None or predicate(event):
                    yield event

        if state is not None:
            if len(rec) == 0:
                raise DataError(f"{file}: the recording has no events")
            if not 0 <= state < len(rec):
                raise UsageError(f"--state {state}: the recording has {rec.range_text()}")
            for line in _state_lines(rec.state_at(state), rec.event(state)):
                say(line)
            return
        if follow is not None:
            try:
                sqid, cid, instance = cmdview.parse_follow_spec(follow)
            except ValueError as exc:
                raise UsageError(f"--follow {follow}: {exc}") from None
            found = cmdview.follow_instances(rec.events(first, last), sqid, cid, instance)
            if not found and instance is not None:
                uses = len(cmdview.follow_instances(rec.events(first, last), sqid, cid))
                if uses:
                    raise DataError(
                        f"{file}: SQ{sqid}:{cid} was used {uses} time(s) in {rec.range_text(first, last)}: "
                        f"there is no #{instance}"
                    )
            if not found:
                raise DataError(f"{file}: no command SQ{sqid}:{cid} in events {first}..{last - 1}")
            out.print(cmdview.format_follow(found, describe))
            return
        if commands:
            cmds = cmdview.pair_commands(selected())
            if out.is_terminal:
                out.print(cmdview.format_command_table(cmds))
            else:
                write(cmdview.format_command_text(cmds))
            return
        if checks:
            findings = run_checks(selected())
            for finding in findings:
                say(finding.line())
            counts = summarize(findings)
            say(", ".join(f"{n} {sev}(s)" for sev, n in counts.items()))
            return
        matched = 0
        for event in selected():
            matched += 1
            say(format_event(event))
        if predicate is not None and matched == 0:
            err.print(
                escape(clipped(f"0 of {last - first} events matched {filter}")), soft_wrap=True
            )

    _guarded(run)


@app.command(short_help="Latency, opcode and queue-depth stats.")
def stats(file: FileArg, filter: FilterOpt = None) -> None:
    """Commands per opcode, latency percentiles and histograms, queue depth over time."""

    def run() -> None:
        from nvmescope.trace.stats import compute_stats, render_stats

        predicate = _compile_filter(filter)
        rec = _open(file)
        events = (e for e in rec.events() if predicate is None or predicate(e))
        extra = rec.header.extra if isinstance(rec.header.extra, dict) else {}
        clock = "wall-clock" if extra.get("time_base") == "wall_clock" else "virtual"
        out.print(render_stats(compute_stats(events), clock=clock))

    _guarded(run)


export_app = typer.Typer(help="Write a recording in another tool's format.", no_args_is_help=True)
import_app = typer.Typer(help="Turn another tool's trace into a recording.", no_args_is_help=True)
app.add_typer(export_app, name="export")
app.add_typer(import_app, name="import")


@export_app.command("chrome")
def export_chrome(
    file: FileArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="The JSON file to write.")],
) -> None:
    """Chrome Trace Event JSON (opens in Perfetto's UI and chrome://tracing)."""

    def run() -> None:
        from nvmescope.files import written_in_place
        from nvmescope.trace.export_chrome import write_chrome_trace

        _refuse_same_file(output, file)
        rec = _open(file)
        with _progress("exporting") as progress:
            progress.add_task(f"exporting {file.name}", total=None)
            try:
                with written_in_place(output) as dst, open(dst, "w", encoding="utf-8") as fp:
                    n = write_chrome_trace(rec.events(), fp, source=str(file))
            except OSError as exc:
                raise DataError(f"{output}: {exc.strerror or exc}") from None
        say(f"wrote {n} trace events to {output}")

    _guarded(run)


@export_app.command("tracepoint")
def export_tracepoint(
    file: FileArg,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Text in the layout of Linux's nvme tracepoints (nvme_setup_cmd, nvme_complete_rq, nvme_sq)."""

    def run() -> None:
        from nvmescope.files import written_in_place
        from nvmescope.trace.export_tracepoint import to_ftrace_text
        from nvmescope.trace.replay import recorded_nsids

        if output is not None:
            _refuse_same_file(output, file)
        rec = _open(file)
        # block I/O goes through its namespace's disk (nvme0n3 for NSID 3)
        lines = to_ftrace_text(rec.events(), active_nsids=recorded_nsids(rec.config))
        if output is None:
            for line in lines:
                say(line)
            return
        try:
            with written_in_place(output) as dst, open(dst, "w", encoding="utf-8") as fp:
                for line in lines:
                    fp.write(line + "\n")
        except OSError as exc:
            raise DataError(f"{output}: {exc.strerror or exc}") from None

    _guarded(run)


@export_app.command("jsonl")
def export_jsonl(
    file: FileArg,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="The JSON-lines recording to write.")
    ],
) -> None:
    """The same recording as JSON lines, for reading and diffing."""

    def run() -> None:
        from nvmescope.files import written_in_place
        from nvmescope.trace import convert

        _refuse_same_file(output, file)
        _open(file).close()
        try:
            with written_in_place(output) as dst:
                summary = convert(file, dst, "jsonl")
        except OSError as exc:
            raise DataError(f"{short_path(output)}: {exc.strerror or exc}") from None
        say(f"wrote {summary.events} events to {output}")

    _guarded(run)


def import_qemu_file(log: Path, output: Path) -> Any:
    """Import a QEMU ``-trace 'pci_nvme_*'`` log into a recording; returns (summary, result)."""
    from nvmescope.emulator import ControllerConfig
    from nvmescope.files import written_in_place
    from nvmescope.trace import Header, TraceWriter
    from nvmescope.trace.format import config_to_data
    from nvmescope.trace.qemu_import import QemuTraceError, import_qemu_trace

    _refuse_same_file(output, log)
    try:
        result = import_qemu_trace(log)
    except QemuTraceError as exc:
        raise DataError(str(exc)) from None
    except OSError as exc:
        raise DataError(f"{log}: {exc.strerror or exc}") from None
    config = ControllerConfig(**result.config)
    header = Header(
        config=config_to_data(config),
        scenario=None,
        extra={"imported_from": "qemu-trace", "source": log.name, "info": result.info},
    )
    try:
        with written_in_place(output) as dst:
            writer = TraceWriter(dst, header)
            try:
                for event in result.events:
                    writer.append(event)
            finally:
                writer.close()
    except OSError as exc:
        raise DataError(f"{output}: {exc.strerror or exc}") from None
    return result


@import_app.command("qemu-trace")
def import_qemu(
    log: Annotated[Path, typer.Argument(help="A QEMU -trace 'pci_nvme_*' log.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The recording to write.")],
) -> None:
    """Turn a QEMU pci_nvme trace into a recording you can step through."""

    def run() -> None:
        result = import_qemu_file(log, output)
        for warning in result.warnings:
            err.print(f"nvmescope: warning: {escape(warning)}")
        c = result.lines
        say(
            f"imported {len(result.events)} events from {log} to {output} "
            f"(lines: {c.mapped} mapped, {c.folded} folded, {c.unknown} unknown)"
        )

    _guarded(run)


RECORDINGS_DIR = Path("recordings")
QEMU_REFERENCE = Path("reference/linux-6.1-on-qemu-7.2/qemu-trace-pci_nvme.log")


@app.command("regenerate-recordings", short_help="Re-record recordings/ (on purpose).")
def regenerate_recordings(
    directory: Annotated[
        Path, typer.Argument(help="Where the shipped recordings live.")
    ] = RECORDINGS_DIR,
) -> None:
    """Re-record every scenario (and re-import the reference QEMU trace) into recordings/.

    The real Linux guests' runs there (linux-*.nvmetrace) are left alone: `nvmescope
    linux run` made them (docs/linux-guest.md) and a real kernel never runs the same twice.
    """

    def run() -> None:
        if directory.exists() and not directory.is_dir():
            raise UsageError(f"{directory}: not a directory")
        if not directory.exists():
            if not directory.absolute().parent.is_dir():
                raise UsageError(
                    f"{directory}: its parent directory does not exist (create it first)"
                )
            directory.mkdir()
        for name in sorted(scenarios_table()):
            summary, _ = _record_one(
                name, directory / f"{name}.nvmetrace", scenario_config(name, ()), "msgpack", None
            )
            say(f"{directory / (name + '.nvmetrace')}: {summary.events} events")
        # the reference trace of this checkout (where the package sits), then of the
        # current directory: never silently skipped because of where the command runs
        project = Path(__file__).resolve().parent.parent
        reference = next(
            (p for p in (project / QEMU_REFERENCE, QEMU_REFERENCE) if p.is_file()), None
        )
        if reference is not None:
            target = directory / "qemu-linux-6.1-bringup.nvmetrace"
            result = import_qemu_file(reference, target)
            say(f"{target}: {len(result.events)} events imported from {QEMU_REFERENCE}")
        else:
            err.print(
                escape(f"nvmescope: warning: {QEMU_REFERENCE} not found: the QEMU import "
                       "was not regenerated"),
                soft_wrap=True,
            )  # fmt: skip

    _guarded(run)


# -- a real Linux guest in QEMU (nvmescope/qemu/, docs/linux-guest.md) ------------------------
linux_app = typer.Typer(
    help="A real Linux 6.1 guest in QEMU drives nvmescope's controller.", no_args_is_help=True
)
app.add_typer(linux_app, name="linux")

CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache",
        metavar="DIR",
        help="Where the guest is built (default: $NVMESCOPE_LINUX_CACHE, else "
        "~/.cache/nvmescope/linux).",
        show_default=False,
    ),
]


def _cache_dir(cache: Path | None) -> Path:
    """The guest's cache directory: ``--cache``, else the default; a path that exists
    and is not a directory (``--cache /dev/null``, a file) is refused in one line."""
    from nvmescope.qemu.guest import default_cache

    where = cache or default_cache()
    if os.path.lexists(where) and not where.is_dir():
        if cache is not None:
            option = "--cache"
        elif os.environ.get("NVMESCOPE_LINUX_CACHE"):
            option = "$NVMESCOPE_LINUX_CACHE"
        else:
            option = "the guest's cache"
        raise UsageError(f"{option} {where}: not a directory")
    return where


def _guest_step(fn: Callable[[], None]) -> None:
    """Run a `linux` command: what the guest's tools refuse is one line and exit 1."""
    from nvmescope.qemu.guest import GuestError

    def run() -> None:
        try:
            fn()
        except GuestError as exc:
            fail(str(exc), code=1)

    _guarded(run)


@linux_app.command("build", short_help="Assemble the guest from Debian packages.")
def linux_build(
    cache: CacheOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Build again, even if up to date.")
    ] = False,
) -> None:
    """Fetch Debian's Linux 6.1 image, busybox-static and nvme-cli 2.3 (and its libraries)
    with apt-get download, unpack them with dpkg-deb -x, and pack a kernel and an
    initramfs (cpio) into the cache directory, saying what it did."""
    from nvmescope.qemu.guest import build

    def run() -> None:
        where = _cache_dir(cache)
        guest, built = build(where, say, force=force)
        if built:
            say(f"built the guest in {where}: `nvmescope linux run` boots it")

    _guest_step(run)


@linux_app.command(
    "run",
    short_help="Boot the guest against a fresh controller; record every event.",
    context_settings={"allow_interspersed_args": False},
)
def linux_run(
    command: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[-- COMMAND...]",
            help="A command to run in the guest instead of the default script (after "
            "`--`), between the probe and the clean removal.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="The recording to write."),
    ] = Path(linux_options.DEFAULT_RECORDING),
    config: ConfigOpt = None,
    script: Annotated[
        Path | None,
        typer.Option(
            "--script",
            metavar="FILE",
            help="A shell script to run in the guest (by busybox sh) instead of the "
            "default script, between the probe and the clean removal.",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        int,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            parser=number(*linux_options.TIMEOUT_RANGE),
            help="Stop the run after this long.",
        ),
    ] = linux_options.DEFAULT_TIMEOUT_S,
    probe_timeout: Annotated[
        int,
        typer.Option(
            "--probe-timeout",
            metavar="SECONDS",
            parser=number(*linux_options.TIMEOUT_RANGE),
            help="Stop if the guest's nvme driver has not probed the controller by then.",
        ),
    ] = linux_options.DEFAULT_PROBE_TIMEOUT_S,
    accel: Annotated[
        str, typer.Option("--accel", help="tcg (the default: works everywhere) or kvm.")
    ] = linux_options.ACCELS[0],
    append: Annotated[
        str, typer.Option("--append", metavar="TEXT", help="More of the kernel command line.")
    ] = "",
    cache: CacheOpt = None,
    tui: Annotated[
        bool, typer.Option("--tui", help="Open the TUI on the recording when the run ends.")
    ] = False,
) -> None:
    """Boot the Linux guest (`nvmescope linux build`) in QEMU against a fresh nvmescope
    controller behind x-pci-proxy-dev, print its console, run the default script (probe,
    nvme list, id-ctrl, id-ns, smart-log, a 4 KiB O_DIRECT write read back, the clean
    removal) or yours, power off, and record every event (-o). The controller has no
    MSI-X and a 32-bit BAR0 (msix=0 bar0_64bit=0, what the proxy can carry) unless -c
    says otherwise."""
    from nvmescope.events import plural
    from nvmescope.qemu.guest import load_guest
    from nvmescope.qemu.run import command_script, file_script, run_guest

    ACCELS, PROXY_KNOBS = linux_options.ACCELS, linux_options.PROXY_KNOBS

    def run() -> None:
        if accel not in ACCELS:
            raise UsageError(f"--accel {accel}: expected {' or '.join(ACCELS)}")
        if script is not None and command:
            raise UsageError("--script and -- COMMAND: choose one")
        if output.suffix != ".nvmetrace":
            raise UsageError(f"-o {output}: a recording's name ends in .nvmetrace")
        if tui and not _on_terminal():
            raise UsageError("--tui: the TUI needs a terminal on standard input and output")
        user: bytes | None = None
        if script is not None:
            user = _read_script(script)
        pairs = list(config or ())
        taken = {p.split("=", 1)[0].strip().replace("-", "_") for p in pairs if "=" in p}
        own = [f"{k}={int(v)}" for k, v in PROXY_KNOBS.items() if k not in taken]
        cfg = build_config([*own, *pairs])
        if cfg.msix:
            err.print(
                "nvmescope: warning: msix=1: the proxy carries no MSI-X message; Linux sees "
                "its completions only by polling (irqpoll, under TCG)"
            )
        _check_namespaces(cfg)  # before -o is created: a file in use must not cost a recording
        where = _cache_dir(cache)
        guest = load_guest(where)
        if guest is None:
            raise DataError(f"no guest in {where}: run `nvmescope linux build` first")
        text = command_script(command) if command else file_script() if user is not None else None
        result = run_guest(
            guest, cfg, output, script=text, user_script=user, echo=say,
            timeout_s=timeout, probe_timeout_s=probe_timeout, accel=accel, append=append,
            command_line=" ".join(sys.argv[1:]),
        )  # fmt: skip
        probe = f", probe at {result.probe_s:.1f} s" if result.probe_s is not None else ""
        summary = (
            f"{result.reason} ({result.seconds:.1f} s{probe}); recorded "
            f"{plural(result.events, 'event')} to {output}"
        )
        if result.reason == "interrupted":
            err.print(f"nvmescope: interrupted: {escape(summary)}")
            raise typer.Exit(130)
        if not result.ok:
            raise DeviceError(summary)
        err.print(f"nvmescope: {escape(summary)}")
        if tui:
            _tui(str(output), None, None, 0)

    _guest_step(run)


#: the largest ``linux run --script`` read (a shell script, not a disk image)
MAX_SCRIPT_BYTES = 1 << 20


def _read_script(path: Path) -> bytes:
    """The bytes of ``linux run --script FILE``: a regular, non-empty file of at most
    :data:`MAX_SCRIPT_BYTES` (checked before it is read), else one line, exit 2."""
    from nvmescope.files import DIRECTORY, NOT_REGULAR, TOO_BIG, UserFileError, read_bounded

    try:
        data = read_bounded(path, MAX_SCRIPT_BYTES)
    except UserFileError as exc:
        if exc.kind == TOO_BIG:
            raise UsageError(f"--script {path}: larger than {MAX_SCRIPT_BYTES} bytes") from None
        if exc.kind in (NOT_REGULAR, DIRECTORY):
            raise UsageError(f"--script {path}: not a regular file") from None
        raise UsageError(f"--script {path}: {exc.reason}") from None
    if not data.strip():
        raise UsageError(f"--script {path}: the script is empty")
    return data


def _check_namespaces(cfg: ControllerConfig) -> None:
    """Open (and lock) every file-backed namespace once and close it again: a file that
    cannot be used is one line before anything is written."""
    from nvmescope.emulator.namespace import BackingFileError, open_namespace

    for ns in cfg.namespace_configs():
        if not ns.file:
            continue
        try:
            open_namespace(ns).close()
        except BackingFileError as exc:
            raise UsageError(str(exc)) from None


def main() -> None:
    """Console-script entry point: one line on stderr for every failure, never a traceback."""
    argv = sys.argv[1:]
    if argv and _is_recording_argument(argv[0]):
        sys.argv[1:1] = ["tui"]
    if sys.stdout is None or sys.stderr is None:
        _closed_stream()
    try:
        try:
            code = app(standalone_mode=False)
            code = code if isinstance(code, int) else 0
        except typer.Exit as exc:
            code = exc.exit_code
        # one output path: everything printed is flushed here, under the same guard
        write("")
        out.file.flush()
        sys.exit(code)
    except OutputClosed:
        _silence_stdout()
        sys.exit(0)
    except OutputError as exc:
        _silence_stdout()
        _error_line(str(exc))
        sys.exit(1)
    except BrokenPipeError:
        # the reader (e.g. `head`) has gone: not an error of ours
        _silence_stdout()
        sys.exit(0)
    except OSError as exc:
        # standard output (a full disk, /dev/full) or a file a command opened
        _silence_stdout()
        _error_line(
            os_error_text(exc)
            if exc.filename
            else f"cannot write the output: {exc.strerror or exc}"
        )
        sys.exit(1)
    except (KeyboardInterrupt, typer.Abort):
        err.print("nvmescope: interrupted")
        sys.exit(130)
    except Exception as exc:
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            # a usage error found by the argument parser (click's exception family)
            err.print(f"nvmescope: error: {escape(exc.format_message())}")
            sys.exit(2)
        if os.environ.get("NVMESCOPE_DEBUG"):
            raise
        err.print(
            f"nvmescope: internal error: {type(exc).__name__}: {escape(str(exc))} "
            "(set NVMESCOPE_DEBUG=1 for the traceback, and please report it)"
        )
        sys.exit(70)


def _is_recording_argument(word: str) -> bool:
    """``nvmescope FILE.nvmetrace``: a first argument that names a recording, not a command."""
    if word.startswith("-") or word in _command_names():
        return False
    return word.endswith(".nvmetrace") or os.path.isfile(word)


def _command_names() -> set[str]:
    names = {
        cmd.name or cmd.callback.__name__.replace("_", "-")
        for cmd in app.registered_commands
        if cmd.callback
    }
    names |= {group.name for group in app.registered_groups if group.name}
    return names


def _silence_stdout() -> None:
    """Point standard output at /dev/null so that the interpreter's exit flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass


def _error_line(message: str) -> None:
    """One line on stderr, if stderr works."""
    try:
        err.print(f"nvmescope: error: {escape(message)}")
    except (OSError, ValueError):
        pass


def _closed_stream() -> NoReturn:
    """Standard output (or error) is closed (``>&-``): nothing can be shown, so run nothing."""
    which = "output" if sys.stdout is None else "error"
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is None:
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
            except OSError:
                pass
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 - lives until exit
    if which == "output":
        _error_line("standard output is closed: nothing can be printed")
    sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
