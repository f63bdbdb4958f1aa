"""The Copy and DULBE example of docs/host-api.md runs and prints what the doc says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_host_api_example import fenced_blocks

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "host-api.md"


def test_the_copy_example_prints_what_the_doc_says() -> None:
    text = DOC.read_text()
    blocks = [body for lang, body in fenced_blocks(text) if lang == "python"]
    example = next(body for body in blocks if "Copy (19h)" in body)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", example], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines == [
        "success",
        "success",
        "True",
        "cmd_size_limit_exceeded 1 0x83",
        "success",
        "deallocated_or_unwritten 2 0x87",
    ]
    said = "prints " + ", ".join(f"`{line}`" for line in lines)
    assert said in " ".join(text.split())
