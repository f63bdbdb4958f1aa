"""Recordings of configured namespaces (issue 10): the header keeps the namespaces and a
replay rebuilds them; a file-backed namespace replays on RAM, and verifies only when the
run read nothing of it that the run had not written."""

from __future__ import annotations

import subprocess
import sys

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.config import NamespaceConfig
from nvmescope.machine import Machine
from nvmescope.trace import open_recording, record, verify
from nvmescope.trace.replay import build_config

MIB = 1 << 20


def spaces(file: str = "") -> ControllerConfig:
    return ControllerConfig(
        nn=4,
        namespaces=(
            NamespaceConfig(size=MIB),
            NamespaceConfig(nsid=3, size=4 * MIB, flbas=4, file=file),
        ),
    )


def test_several_ram_namespaces_round_trip_through_a_recording(tmp_path):
    path = tmp_path / "two.nvmetrace"
    record("io-persist", path, spaces(), params={"nsid": 3, "count": 4})
    rec = open_recording(path)
    assert build_config(rec.config) == spaces()
    assert [ns["nsid"] for ns in rec.config["namespaces"]] == [None, 3]
    result = verify(rec)
    assert result.ok and result.warnings == [] and result.refused is None, result.describe()
    assert result.checked == len(rec) > 500
    # without namespaces the header is what it always was: no namespaces key at all
    record("bringup", tmp_path / "one.nvmetrace", ControllerConfig())
    assert "namespaces" not in open_recording(tmp_path / "one.nvmetrace").config


def test_a_file_backed_run_that_wrote_before_reading_verifies_on_ram(tmp_path):
    image = tmp_path / "ns3.img"
    path = tmp_path / "write.nvmetrace"
    record("io-persist", path, spaces(str(image)), params={"nsid": 3, "count": 4})
    holder = Machine(spaces(str(image)), scenario=None)  # the replay never opens the file
    try:
        result = verify(open_recording(path))
    finally:
        holder.close()
    assert result.ok and result.refused is None, result.describe()
    assert result.warnings == [
        f"namespace 3 was file-backed ({image}): the replay runs it on RAM; the file's "
        "contents before the run are not in the recording"
    ]


def test_a_file_backed_run_that_read_what_the_file_held_is_refused_not_diverged(tmp_path):
    image = tmp_path / "ns3.img"
    record("io-persist", tmp_path / "w.nvmetrace", spaces(str(image)), params={"nsid": 3})
    path = tmp_path / "read.nvmetrace"
    record("io-persist", path, spaces(str(image)), params={"nsid": 3, "write": 0})
    result = verify(open_recording(path))
    assert not result.ok and result.divergence is None
    assert result.refused is not None and "\n" not in result.refused
    assert result.refused.startswith("cannot verify: namespace 3 was file-backed")
    assert "read LBA 0 of it before writing it" in result.refused
    done = subprocess.run(
        [sys.executable, "-m", "nvmescope", "replay", str(path), "--verify"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("nvmescope: warning: namespace 3 was file-backed")
    assert lines[1:] == [f"nvmescope: error: {path}: {result.refused}"]
    assert "divergence" not in done.stdout


def test_the_tracepoint_export_names_each_namespaces_disk(tmp_path):
    from typer.testing import CliRunner

    from nvmescope.cli import app

    path = tmp_path / "two.nvmetrace"
    record("io-persist", path, spaces(), params={"nsid": 3, "count": 2})
    result = CliRunner().invoke(app, ["export", "tracepoint", str(path)])
    assert result.exit_code == 0, result.output
    writes = [line for line in result.stdout.splitlines() if "nvme_cmd_write" in line]
    assert writes and all("disk=nvme0n3, qid=1" in line and "nsid=3" in line for line in writes)
