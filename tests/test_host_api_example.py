"""The script API example in docs/host-api.md runs, and is the same as examples/identify_by_hand.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "identify_by_hand.py"
DOC = ROOT / "docs" / "host-api.md"


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, content) of every fenced code block of a Markdown text."""
    blocks: list[tuple[str, str]] = []
    lang, lines = None, []
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            if lang is None:
                lang, lines = line[3:].strip(), []
            else:
                blocks.append((lang, "".join(lines)))
                lang = None
        elif lang is not None:
            lines.append(line)
    return blocks


def test_the_doc_shows_the_example_verbatim():
    python = [body for lang, body in fenced_blocks(DOC.read_text()) if lang == "python"]
    assert EXAMPLE.read_text() in python


def test_the_example_runs_and_identifies_the_controller():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, str(EXAMPLE)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    from nvmescope.emulator import ControllerConfig

    config = ControllerConfig()
    assert f"serial: {config.serial}" in out.stdout
    assert f"model:  {config.model}" in out.stdout
    assert "CQE: cid 7, status sct 0 sc 0" in out.stdout
    assert "device DMA-writes 4096 B" in out.stdout


def test_the_printed_output_in_the_doc_is_what_the_example_prints():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, str(EXAMPLE)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    plain = [body for lang, body in fenced_blocks(DOC.read_text()) if lang == ""]
    assert out.stdout in plain


def test_the_driver_helpers_shown_in_the_doc_work():
    python = [body for lang, body in fenced_blocks(DOC.read_text()) if lang == "python"]
    helper = next(b for b in python if "submit_admin" in b)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", helper], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["success nvmescope NVMe Ctrl", "0x3f003f"]


def test_the_doc_says_to_run_the_example_with_the_venv_python():
    doc = DOC.read_text()
    assert ".venv/bin/python examples/identify_by_hand.py" in doc
    assert "python examples/identify_by_hand.py" not in doc.replace(".venv/bin/python ex", "")
    assert ".venv/bin/python examples/identify_by_hand.py" in EXAMPLE.read_text()
