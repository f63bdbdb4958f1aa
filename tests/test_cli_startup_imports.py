"""The command line starts light: what `nvmescope --version`, `--help` and `show --state`
import.

Each check runs a fresh interpreter (this process has imported everything already) and
reads its ``sys.modules`` at exit. The emulator, the host model, the Machine, the UI,
Textual and pydantic are imported by the commands that use them, never at start-up; a
module-level import that pulls one of them into ``nvmescope.cli`` fails here. This is about
the structure of the imports, not about time: no figure here depends on the machine's speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IO_LOAD = ROOT / "recordings" / "io-load.nvmetrace"

#: what no start-up may import: the model's layers, the UI and the heavy libraries
HEAVY = (
    "nvmescope.emulator",
    "nvmescope.host",
    "nvmescope.machine",
    "nvmescope.ui",
    "nvmescope.qemu.bridge",
    "nvmescope.qemu.run",
    "textual",
    "pydantic",
)

#: a program that imports the CLI, runs the console script's entry point on the arguments
#: (if any) and prints, at exit, every module the process imported (JSON, stderr's last line)
PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
sys.argv = ["nvmescope", *json.loads(sys.argv[1])]
import nvmescope.cli
if sys.argv[1:]:
    nvmescope.cli.main()
"""


def imported_by(*args: str) -> tuple[int, set[str], str]:
    """Run ``nvmescope ARGS`` in a fresh interpreter: exit code, modules imported, stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    modules = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    return proc.returncode, modules, proc.stdout


def heavy_in(modules: set[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in heavy))


def test_the_probe_sees_a_heavy_import_when_there_is_one():
    # the probe itself must be able to fail: a command that runs a scenario imports the model
    code, modules, _ = imported_by("trace", "identify", "--filter", 'kind == "cqe_post"')
    assert code == 0
    assert "nvmescope.emulator" in heavy_in(modules)
    assert "nvmescope.machine" in heavy_in(modules)


def test_importing_the_cli_imports_no_model_no_ui_and_no_pydantic():
    _, modules, _ = imported_by()
    assert "nvmescope.cli" in modules
    assert heavy_in(modules) == []
    # nor the recordings' reader or the event records: no command has run yet
    assert heavy_in(modules, ("nvmescope.trace", "nvmescope.events")) == []


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("show", "--help")])
def test_version_and_help_import_no_model_no_ui_and_no_pydantic(args):
    code, modules, out = imported_by(*args)
    assert code == 0
    assert out.strip()
    assert heavy_in(modules) == []


def test_show_state_reads_the_recording_without_the_model_or_the_ui():
    code, modules, out = imported_by("show", str(IO_LOAD), "--state", "1000")
    assert code == 0
    assert out.startswith("state as of event 1000 ")
    assert "nvmescope.trace.reader" in modules
    assert heavy_in(modules) == []
