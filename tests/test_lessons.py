"""Lessons: the shipped ones load, every step stops at an event its filter matches, and
a lesson file with a mistake is refused with one line naming the step and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nvmescope.cli import app
from nvmescope.host import SCENARIOS
from nvmescope.trace.lesson import (
    LESSON_PANELS,
    LessonError,
    load_lesson,
    resolve,
    shipped_lessons,
)
from nvmescope.ui.actions import PANELS
from nvmescope.ui.source import lesson_source

runner = CliRunner()
SHIPPED = ("bringup", "errors", "identify", "io-read", "phase")

GOOD = """
title = "A small lesson"
scenario = "identify"

[[step]]
title = "The doorbell"
stop = 'kind == "doorbell_sq"'
panel = "queues"
text = "The host rings."

[[step]]
title = "The fetch"
stop = 'kind == "sqe_fetch"'
text = "The device fetches."
"""


def write(tmp_path: Path, text: str, name: str = "lesson.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_lessons_are_the_five_the_readme_names() -> None:
    assert tuple(shipped_lessons()) == SHIPPED


def test_a_lesson_panel_is_a_panel_of_the_tui() -> None:
    assert LESSON_PANELS == tuple(pid for pid, _, _ in PANELS)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_step_of_a_shipped_lesson_stops_at_an_event_its_filter_matches(name: str) -> None:
    lesson = load_lesson(name, SCENARIOS)
    source, stops = lesson_source(lesson)
    try:
        assert len(stops) == len(lesson.steps) >= 5
        assert stops == sorted(set(stops)), "each step comes after the one before"
        for step, stop in zip(lesson.steps, stops, strict=True):
            event = source.event(stop)
            assert step.predicate(event), (step.number, event)
            # the first such event after the previous step's
            before = stops[step.number - 2] + 1 if step.number > 1 else 0
            assert not any(step.predicate(source.event(n)) for n in range(before, stop))
        # the live session ran to the last step and no further: the student steps on
        assert len(source) == stops[-1] + 1 or not source.finished
    finally:
        source.close()


def test_resolve_over_a_list_of_events_agrees_with_the_live_session() -> None:
    from nvmescope.trace import open_recording

    lesson = load_lesson("identify", SCENARIOS)
    with open_recording(Path(__file__).parents[1] / "recordings/identify.nvmetrace") as rec:
        recorded = resolve(lesson, rec.events())
    source, live = lesson_source(lesson)
    source.close()
    assert recorded == live


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            GOOD.replace('title = "The fetch"', 'title = "The fetch"\nwhen = 3'),
            "step 2: unknown key 'when'",
        ),
        (
            GOOD.replace('scenario = "identify"', 'scenario = "identify"\nauthor = "x"'),
            "unknown key 'author'",
        ),
        (GOOD.replace("'kind == \"sqe_fetch\"'", "'kind == '"), "step 2: stop:"),
        (GOOD.replace("'kind == \"sqe_fetch\"'", "'kind == \"sqe_fetched\"'"), "step 2: stop:"),
        (
            GOOD.replace('panel = "queues"', 'panel = "rings"'),
            "step 1: panel 'rings': no such panel",
        ),
        (GOOD.replace('text = "The host rings."\n', ""), "step 1: text: missing"),
        (GOOD.replace('text = "The host rings."', "text = 3"), "step 1: text: must be text"),
        (GOOD.replace('title = "The doorbell"', 'title = ""'), "step 1: title: is empty"),
        (GOOD.replace('"identify"', '"identity"'), "scenario 'identity': no such scenario"),
        (GOOD.split("[[step]]")[0], "no steps"),
        (GOOD.replace("[[step]]", "[step]", 1).split("[[step]]")[0], "no steps"),
        # TOML puts a key after a step's keys into that step
        (GOOD + "\nparams = 3\n", "step 2: unknown key 'params'"),
        (
            GOOD.replace(
                'scenario = "identify"', 'scenario = "identify"\nparams = { count = "x" }'
            ),
            "params:",
        ),
        (
            GOOD.replace('scenario = "identify"', 'scenario = "identify"\nconfig = "mqes=3"'),
            "config:",
        ),
        ("title = [", "not valid TOML"),
        # what tomllib cannot take without an exception of another kind
        ("x = " + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('title = "t"\nx = ' + "9" * 5000, "a number of more than"),
    ],
)
def test_a_lesson_file_with_a_mistake_is_refused_naming_the_problem(
    tmp_path: Path, text: str, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(LessonError) as caught:
        load_lesson(str(path), SCENARIOS)
    message = str(caught.value)
    assert words in message and "\n" not in message and str(path) in message


def test_a_step_whose_event_never_happens_is_refused_before_any_screen(tmp_path: Path) -> None:
    # identify never fetches from SQ 7: the second step never comes
    path = write(
        tmp_path, GOOD.replace("'kind == \"sqe_fetch\"'", "'kind == \"sqe_fetch\" and sqid == 7'")
    )
    lesson = load_lesson(str(path), SCENARIOS)
    with pytest.raises(
        LessonError, match=r"step 2: its event never happens: nothing after event \d+"
    ):
        lesson_source(lesson)
    result = runner.invoke(app, ["lesson", str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "step 2: its event never happens" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("what", ["directory", "binary", "huge", "missing"])
def test_a_lesson_path_that_is_not_a_lesson_file_is_one_line(tmp_path: Path, what: str) -> None:
    path = tmp_path / "x.toml"
    if what == "directory":
        path.mkdir()
    elif what == "binary":
        path.write_bytes(b"\xff\xfe\x00title")
    elif what == "huge":
        path.write_bytes(b"#" * ((1 << 20) + 1))
    result = runner.invoke(app, ["lesson", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("nvmescope: error: lesson") and result.stderr.count("\n") == 1
    words = {
        "directory": "not a file",
        "binary": "not UTF-8",
        "huge": "larger than",
        "missing": "not a file",
    }
    assert words[what] in result.stderr


def test_an_unknown_lesson_name_lists_the_lessons() -> None:
    result = runner.invoke(app, ["lesson", "identfy"])
    assert result.exit_code == 2
    assert "no such lesson" in result.stderr and "identify" in result.stderr


def test_the_command_line_knobs_and_parameters_are_checked_with_the_lessons(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        GOOD.replace('scenario = "identify"', 'scenario = "identify"\nconfig = ["mqes=0"]'),
    )
    result = runner.invoke(app, ["lesson", str(bad)])
    assert (
        result.exit_code == 2 and f"lesson {bad}: --config: mqes=0 is out of range" in result.stderr
    )
    result = runner.invoke(app, ["lesson", "identify", "-p", "count=3"])
    assert result.exit_code == 2 and "identify has no such parameter" in result.stderr
    # the command line's own mistake is not blamed on the lesson file
    assert "lesson " not in result.stderr


def test_lessons_lists_every_shipped_lesson_with_its_file() -> None:
    result = runner.invoke(app, ["lessons"])
    assert result.exit_code == 0
    for name, path in shipped_lessons().items():
        assert f"{name} " in result.stdout and str(path) in result.stdout


def test_a_lesson_not_on_a_terminal_prints_every_step_at_its_event() -> None:
    result = runner.invoke(app, ["lesson", "identify"])
    assert result.exit_code == 0, result.stderr
    lesson = load_lesson("identify", SCENARIOS)
    source, stops = lesson_source(lesson)
    source.close()
    lines = result.stdout.split("\n")
    assert lines[0].startswith(lesson.title)
    for step, stop in zip(lesson.steps, stops, strict=True):
        heading = f"Step {step.number} of {len(stops)}: {step.title} (event {stop}, {step.panel})"
        assert heading in lines
        assert lines[lines.index(heading) + 1].split()[0] == str(stop)


def test_a_users_copy_of_a_lesson_runs_with_its_own_params(tmp_path: Path) -> None:
    text = GOOD.replace(
        'scenario = "identify"', 'scenario = "io-load"\nparams = { count = 2, queues = 1 }'
    )
    text = text.replace("'kind == \"sqe_fetch\"'", "'kind == \"sqe_fetch\" and sqid == 1'")
    result = runner.invoke(app, ["lesson", str(write(tmp_path, text))])
    assert result.exit_code == 0, result.stderr
    assert "(scenario io-load, 2 steps)" in result.stdout
