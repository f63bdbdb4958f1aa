"""A property test over every command and option the CLI declares: arbitrary values (huge
and negative numbers, non-ASCII digits, empty and long strings) give exit 0, 1 or 2 (130 for
an interrupt), never an internal error or a traceback.

CI runs a modest number of examples. A long campaign::

    NVMESCOPE_FUZZ_EXAMPLES=200 .venv/bin/python -m pytest tests/test_hostile_cli_properties.py
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nvmescope.cli import OutputError, app
from nvmescope.emulator import ControllerConfig
from nvmescope.host import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = sorted(str(p) for p in (ROOT / "recordings").glob("*.nvmetrace"))
#: examples per (command, option): the CI default is small; raise it for a long campaign
EXAMPLES = int(os.environ.get("NVMESCOPE_FUZZ_EXAMPLES", "3"))
#: interactive, serves until stopped, or writes into the shipped recordings/: each is
#: tested on its own (tests/test_tui_*.py, tests/test_serve.py, tests/test_shipped_recordings.py)
SKIP = {"tui", "serve", "regenerate-recordings"}

runner = CliRunner()


def commands() -> list[tuple[tuple[str, ...], Any]]:
    """Every leaf command of the app, with its path of names."""
    found: list[tuple[tuple[str, ...], Any]] = []

    def walk(path: tuple[str, ...], cmd: Any) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                if name not in SKIP:
                    walk((*path, name), sub)
        else:
            found.append((path, cmd))

    walk((), typer.main.get_command(app))
    return found


COMMANDS = commands()
#: (command, the index of the parameter that gets the hostile value): each equally likely
TARGETS = [
    (path, cmd, index)
    for path, cmd in COMMANDS
    for index in range(max(1, len([p for p in cmd.params if p.name != "help"])))
]

hostile_number = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.integers(min_value=-3, max_value=300).map(str),
    st.integers(min_value=-(2**80), max_value=2**80).map(hex),
    st.sampled_from(
        [
            "",
            " ",
            "-0",
            "0x",
            "١٢",
            "１２",
            "²",
            "1e3",
            " 7 ",
            "nan",
            "\x00",
            "9" * 5000,
            "4294967296",
            "65535",
            "65537",
            "0xffffffff",
            "1_000",
            "+5",
            "0b101",
        ]
    ),  # fmt: skip
)
#: the values that broke the CLI before (issue 7), tried first and often
KNOWN_BAD = ["-1", "4294967296", "65537", "1000000000", "9" * 5000, "١٢", "", "x" * 300]
hostile_text = st.one_of(
    st.sampled_from(KNOWN_BAD), hostile_number, st.text(max_size=40), st.just("x" * 5000)
)
#: a scenario parameter: small valid values or invalid ones, never a long valid run
param_value = st.one_of(
    st.integers(min_value=1, max_value=16).map(str),
    st.integers(min_value=-(2**70), max_value=0).map(str),
    st.integers(min_value=10**6 + 1, max_value=2**70).map(str),
    st.sampled_from(["", "١٢", "9" * 5000, "x", "0x"]),
)
knob_names = [f.name for f in dataclasses.fields(ControllerConfig)]
param_names = sorted({k for s in SCENARIOS.values() for k in s.defaults}) or ["count"]


def value_for(option: Any) -> st.SearchStrategy[str]:
    names = set(option.opts)
    if "--param" in names:
        return st.builds(
            lambda k, v: f"{k}={v}", st.sampled_from([*param_names, "nope"]), param_value
        )
    if "--config" in names:
        return st.builds(
            lambda k, v: f"{k}={v}",
            st.sampled_from([*knob_names, "nope"]),
            st.one_of(hostile_text, st.sampled_from(["true", "off", "0"])),
        )
    if names & {"-o", "--output"}:
        return st.one_of(
            st.sampled_from(
                [
                    "out.nvmetrace",
                    "/nonexistent/x",
                    "/dev/full",
                    ".",
                    "/proc/version",
                    "normal",
                    "json",
                    "x" * 300,
                ]
            ),  # fmt: skip
            st.text(min_size=1, max_size=20),
        )
    return hostile_text


def argument_value(arg: Any) -> st.SearchStrategy[str]:
    if arg.name in ("scenario",):
        return st.one_of(st.sampled_from(sorted(SCENARIOS)), hostile_text)
    return st.one_of(st.sampled_from(RECORDINGS), hostile_text)


def plausible_value(option: Any) -> st.SearchStrategy[str]:
    """A value the option likely accepts, so that the one hostile value is what is tested."""
    names = set(option.opts)
    if "--param" in names:
        return st.builds(
            lambda k, v: f"{k}={v}", st.sampled_from(param_names), st.integers(1, 8).map(str)
        )
    if "--config" in names:
        return st.sampled_from(["vwc=false", "mdts=5", "msix_vectors=9", "dbbuf=true"])
    if names & {"-o", "--output"}:
        return st.sampled_from(["out.nvmetrace", "out.json", "normal", "json"])
    if "--format" in names:
        return st.sampled_from(["msgpack", "jsonl", "normal"])
    if "--after" in names:
        return st.sampled_from(["bringup", "reset"])
    return st.one_of(st.integers(0, 8).map(str), st.sampled_from(["0x7", "0xe", "1"]))


@st.composite
def command_lines(draw: st.DrawFn, target: tuple[tuple[str, ...], Any, int]) -> list[str]:
    """A command with some of its options: plausible values, and one hostile value."""
    path, cmd, hostile = target
    argv = list(path)
    params = [p for p in cmd.params if p.name != "help"]
    for index, param in enumerate(params):
        bad = index == hostile
        if param.param_type_name == "argument":
            if param.required or bad or draw(st.booleans()):
                plausible = st.sampled_from(
                    sorted(SCENARIOS) if param.name == "scenario" else RECORDINGS
                )
                argv.append(draw(argument_value(param) if bad else plausible))
            continue
        if not param.opts or not (param.required or bad or draw(st.booleans())):
            continue
        opt = draw(st.sampled_from(param.opts))
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            argv.extend([opt] * draw(st.integers(1, 3)))
            continue
        for _ in range(draw(st.integers(1, 3)) if param.multiple else 1):
            argv.extend([opt, draw(value_for(param) if bad else plausible_value(param))])
    return argv


def test_every_command_is_enumerated() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"get-feature", "trace", "record", "export jsonl", "show"} <= names


def _target_id(target: tuple[tuple[str, ...], Any, int]) -> str:
    path, cmd, index = target
    params = [p for p in cmd.params if p.name != "help"]
    what = params[index].name if params else "-"
    return f"{' '.join(path)}[{what}]"


@pytest.mark.parametrize("target", TARGETS, ids=_target_id)
def test_arbitrary_option_values_never_give_an_internal_error(
    target: tuple[tuple[str, ...], Any, int], tmp_path_factory: pytest.TempPathFactory
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(argv=command_lines(target))
    def check(argv: list[str]) -> None:
        _check_one(argv, tmp_path_factory)

    check()


def _check_one(argv: list[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cli"))
    try:
        result = runner.invoke(app, argv)
    finally:
        os.chdir(cwd)
    exc = result.exception
    if isinstance(exc, OutputError):  # the console script prints it as one line, exit 1
        return
    assert exc is None or isinstance(exc, SystemExit), f"{argv!r}: {exc!r}"
    assert result.exit_code in (0, 1, 2, 130), (argv, result.output[-500:])
    assert "Traceback" not in result.output, argv
