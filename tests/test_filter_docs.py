"""docs/filters.md and filter.HELP say what the filter language does: every example runs."""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path

import pytest

from nvmescope.emulator import ControllerConfig
from nvmescope.events import Event
from nvmescope.machine import Machine
from nvmescope.trace.filter import FIELDS, HELP, FilterError, compile_filter

DOC = Path(__file__).resolve().parent.parent / "docs" / "filters.md"
TEXT = DOC.read_text(encoding="utf-8")


def blocks(info: str) -> list[str]:
    return re.findall(rf"^```{info}\n(.*?)^```", TEXT, flags=re.S | re.M)


def example_lines() -> list[tuple[str, int | None]]:
    """(expression, the count its comment claims for `identify` or None), from ```filter blocks."""
    out: list[tuple[str, int | None]] = []
    for block in blocks("filter"):
        for line in block.splitlines():
            if not line.strip():
                continue
            expr, _, comment = line.partition("  #")
            m = re.match(r"\s*(\d+):", comment)
            out.append((expr.strip(), int(m.group(1)) if m else None))
    return out


def console_examples() -> list[tuple[str, str, list[str]]]:
    """(scenario, expression, printed lines) of every ```console example that runs a filter."""
    out = []
    for block in blocks("console"):
        command, *printed = block.splitlines()
        argv = shlex.split(command.removeprefix("$ "))
        assert argv[:2] == ["nvmescope", "trace"] and "--filter" in argv, command
        out.append((argv[2], argv[argv.index("--filter") + 1], printed))
    return out


@cache
def scenario_events(name: str) -> tuple[Event, ...]:
    machine = Machine(ControllerConfig(), scenario=name)
    events = []
    while (event := machine.step()) is not None:
        events.append(event)
    return tuple(events)


def test_the_doc_has_examples_and_errors():
    assert len(example_lines()) >= 20
    assert sum(1 for _, _, printed in console_examples() if "error" in printed[-1]) >= 10


@pytest.mark.parametrize(("expr", "count"), example_lines())
def test_every_example_compiles_and_selects_what_its_comment_says(expr, count):
    pred = compile_filter(expr)
    selected = sum(1 for event in scenario_events("identify") if pred(event))
    if count is not None:
        assert selected == count, expr


@pytest.mark.parametrize(("scenario", "expr", "printed"), console_examples())
def test_every_console_example_prints_what_the_doc_shows(scenario, expr, printed):
    try:
        pred = compile_filter(expr)
    except FilterError as err:
        first, caret, message = printed
        assert [first, caret] == ["  " + line for line in err.caret().split("\n")]
        assert message.endswith(f"--filter: {err}"), message
        return
    seqs = [int(line.split()[0]) for line in printed if line[:1] == " "]
    assert seqs, printed
    selected = [event.seq for event in scenario_events(scenario) if pred(event)]
    assert selected == seqs


def test_the_doc_names_every_field():
    documented = set(re.findall(r"`([a-z_0-9]+)`", TEXT))
    assert sorted(set(FIELDS) - documented) == []


def test_help_examples_compile_and_name_the_doc():
    examples = [line[2:41].strip() for line in HELP.splitlines() if line.startswith("  ")]
    assert len(examples) >= 8
    for expr in examples:
        compile_filter(expr)
    assert "docs/filters.md" in HELP
    assert max(len(line) for line in HELP.splitlines()) <= 100
    for alias in ("who", "queue", "time"):
        assert alias in HELP


def test_the_doc_says_what_opcode_identify_gives():
    events = scenario_events("identify")
    predicate = compile_filter('opcode == "identify"')
    kinds = {e.kind for e in events if predicate(e)}
    assert kinds == {"sqe_fetch", "cmd_start", "cmd_finish"}
    [line] = [x for x in TEXT.splitlines() if x.startswith('opcode == "identify"  ')]
    comment = line.partition("#")[2]
    assert "every event" not in comment
    assert all(kind in comment for kind in kinds)
    commands = sum(1 for e in events if e.kind == "cmd_start" and predicate(e))
    assert f"{commands} Identify commands" in comment
