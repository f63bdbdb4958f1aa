"""The project's docs stand alone: a clone has no ../shared, so nothing may send a reader there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "reference").rglob("*.md")]
)


def test_no_doc_points_outside_the_project():
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\.\./shared|/work/shared|DESIGN\.md", text), path.name


def test_the_architecture_page_carries_the_layers_the_import_rule_and_the_principles():
    text = (ROOT / "docs/architecture.md").read_text(encoding="utf-8")
    for package in ("nvme/", "sim.py", "events.py", "emulator/", "host/", "machine.py",
                    "trace/", "ui/", "cli.py"):  # fmt: skip
        assert re.search(rf"^\| `{re.escape(package)}` \|", text, re.M), package
    assert "Imports point one way" in text
    principles = text.split("## Principles", 1)[1].split("\n## ", 1)[0]
    for words in ("One declaration per layout", "specification's names", "Determinism",
                  "Every step is an event", "never broken by its host", "Files are data",
                  "only observes and asks"):  # fmt: skip
        assert words in principles, words
