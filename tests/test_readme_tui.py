"""The README documents the debugger: its Quick start opens it, and every key is in its table."""

from __future__ import annotations

import re
from pathlib import Path

from nvmescope.ui.actions import ACTIONS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()

#: how the README spells a key Textual names otherwise
SPELLING = {
    "colon": ":",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "slash": "/",
    "question_mark": "?",
    "apostrophe": "'",
    "escape": "Esc",
    "f1": "F1",
    "ctrl+n": "Ctrl+N",
    "ctrl+b": "Ctrl+B",
    "greater_than_sign": ">",
    "less_than_sign": "<",
    "plus": "+",
    "minus": "-",
}


def test_the_quick_start_has_two_commands_and_the_first_opens_the_debugger():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for line in quick.splitlines() if line.startswith("    ")]
    assert len(commands) == 2
    assert commands[0].endswith(".venv/bin/nvmescope")
    assert "pytest" in commands[1]
    assert (
        (Path(__file__).resolve().parents[1] / ".ci" / "run")
        .read_text()
        .strip()
        .endswith(commands[1])
    )


def test_every_key_of_the_debugger_is_in_the_readme():
    table = README.split("## The debugger", 1)[1].split("\n## ", 1)[0]
    for action in ACTIONS:
        key = SPELLING.get(action.keys, action.keys)
        shown = f"`{key}`" if len(key) == 1 else key
        assert shown in table, f"{action.title} ({key}) is not in the README's key table"


def test_the_readme_screenshot_exists():
    shots = re.findall(r"!\[[^]]*\]\(([^)]+)\)", README)
    assert shots
    for shot in shots:
        assert (Path(__file__).resolve().parents[1] / shot).is_file(), shot
