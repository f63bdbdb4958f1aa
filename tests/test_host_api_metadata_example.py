"""The metadata and protection information example of docs/host-api.md runs and prints
what the doc says (PRACT, PRCHK, a reference tag error, Invalid Protection Information)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_host_api_example import fenced_blocks

from nvmescope.emulator.protection import crc16_t10dif

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "host-api.md"


def test_the_protection_information_example_prints_what_the_doc_says() -> None:
    text = DOC.read_text()
    blocks = [body for lang, body in fenced_blocks(text) if lang == "python"]
    example = next(body for body in blocks if "PRACT" in body)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", example], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    guard = f"{crc16_t10dif(b'Z' * 512):04x}"
    assert lines == [
        "success",
        "success",
        f"success {guard}00070000000a{guard}00070000000b",
        "success",
        "e2e_ref_tag_check 2 0x84",
        "invalid_protection_info 1 0x81",
    ]
    said = "prints " + ", ".join(f"`{line}`" for line in lines)
    assert said in " ".join(text.split())
