"""docs/host-api.md in tests: its fenced code blocks, and running a Python example of it
(as a user would: the repository's root on PYTHONPATH, in the root)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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


def python_blocks(text: str) -> list[str]:
    return [body for lang, body in fenced_blocks(text) if lang == "python"]


def run_python(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python *args`` in the repository's root with it on PYTHONPATH."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def run_doc_example(marker: str, timeout: float = 120) -> tuple[str, list[str]]:
    """The text of docs/host-api.md and the lines printed by its first Python block that
    contains ``marker``, which must exit 0."""
    text = DOC.read_text()
    example = next(body for body in python_blocks(text) if marker in body)
    out = run_python("-c", example, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return text, out.stdout.splitlines()
