"""A recorder killed with SIGKILL leaves a file that opens up to its last complete chunk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nvmescope.trace import RecordingError, open_recording, verify
from nvmescope.trace.recorder import synthetic_admin_events

ROOT = Path(__file__).resolve().parent.parent

SYNTHETIC = """
    from nvmescope import events as ev
    from nvmescope.trace import Recorder
    from nvmescope.trace.recorder import synthetic_admin_events
    bus = ev.EventBus(lambda: 0)
    rec = Recorder(PATH, chunk_events=256, checkpoint_every=1024)
    bus.subscribe(rec)
    for e in synthetic_admin_events(10**9):
        bus._clock = lambda ts=e.ts: ts
        bus.emit(e)
"""

MACHINE = """
    from nvmescope.host.driver import LinuxDriver
    from nvmescope.machine import Machine
    from nvmescope.trace import Recorder

    def admin_loop(drv):
        yield from drv.probe()
        while True:
            yield from drv.identify(1)
            yield from drv.get_log_page(2, 512)
            yield from drv.get_features(7)

    m = Machine(None, None)
    m.api.spawn(admin_loop(LinuxDriver(m.api)))
    rec = Recorder.attach(m, PATH, chunk_events=256, checkpoint_every=1024)
    while m.step() is not None:
        m.events.clear()  # keep memory flat: the recording has them
    raise SystemExit("the run ended before it was killed")
"""


def kill_while_recording(path: Path, program: str, scenario: str | None = None) -> None:
    code = textwrap.dedent(program).replace("PATH", repr(str(path)))
    code = code.replace("SCENARIO", repr(scenario))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"recorder exited early: {proc.stderr.read().decode()[-2000:]}")
            if path.exists() and path.stat().st_size > 200_000:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the recorder wrote too little in 60 s")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def test_sigkilled_recorder_leaves_a_readable_prefix(tmp_path):
    path = tmp_path / "killed.nvmetrace"
    kill_while_recording(path, SYNTHETIC)
    rec = open_recording(path)
    n = len(rec)
    assert n > 0 and n % 256 == 0
    assert not rec.complete
    assert len(rec.warnings) == 1
    assert "not closed" in rec.warnings[0] and f"{n} events" in rec.warnings[0]
    expected = list(synthetic_admin_events(n))
    assert [e.seq for e in rec.events()] == list(range(n))
    assert list(rec.events(n - 300, n)) == expected[n - 300 :]
    assert rec.state_at(n - 1).index == n - 1
    assert rec.verify_all(partial=True) == n
    # for a full verification, a recording cut short is damage (issue 7)
    with pytest.raises(RecordingError, match=rf"cut short at byte \d+: events 0..{n - 1} verified"):
        rec.verify_all()


def test_sigkilled_machine_recording_opens_and_replays(tmp_path):
    path = tmp_path / "machine.nvmetrace"
    kill_while_recording(path, MACHINE)
    rec = open_recording(path)
    n = len(rec)
    assert n > 1000 and n % 256 == 0
    assert "not closed" in rec.warnings[0] and f"{n} events" in rec.warnings[0]
    kinds = {e.kind for e in rec.events(n - 256, n)}
    assert {"sqe_fetch", "cqe_post", "irq_msix"} <= kinds
    state = rec.state_at(n - 1)
    assert state.sqs[0].qsize == 32 and state.msix[0].count > 10
    result = verify(rec, stop=3000, partial=True)
    assert result.ok, result.describe()
    with pytest.raises(RecordingError, match="cut short at byte"):
        verify(rec, stop=3000)


def test_ctrl_c_to_a_recording_process_keeps_a_recording_that_verifies(tmp_path):
    """SIGINT, as a terminal's Ctrl+C sends it, to ``nvmescope record``: exit 130, one line
    saying what was kept, and a recording that opens complete and replays identically."""
    path = tmp_path / "interrupted.nvmetrace"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nvmescope", "record", "io-load", "-p", "count=100000"]
        + ["-o", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if path.exists() and path.stat().st_size > 200_000:  # a few chunks written
                break
            time.sleep(0.05)
        else:
            pytest.fail("the recorder wrote nothing in 60 s")
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted: kept" in out + err
    rec = open_recording(path)
    try:
        assert rec.complete and not rec.warnings
        n = len(rec)
        assert n > 0
    finally:
        rec.close()
    result = verify(path)
    assert result.ok, result.describe()


def test_ctrl_c_while_a_chunk_is_being_written_loses_none_of_it(tmp_path, monkeypatch):
    """Ctrl+C landing in the middle of a chunk the recorder writes (the moment a real
    terminal's SIGINT can hit) is taken between two events: exit 130 and a recording that
    is complete and replays identically, no chunk cut and no events dropped."""
    from typer.testing import CliRunner

    from nvmescope.cli import app
    from nvmescope.trace.format import TraceWriter

    real = TraceWriter._write
    calls = {"n": 0}

    def interrupted_write(self, data):
        calls["n"] += 1
        if calls["n"] != 4:
            return real(self, data)
        # the first half of a frame is in the file when Ctrl+C comes
        self._file.write(data[: len(data) // 2])
        signal.raise_signal(signal.SIGINT)
        self._file.write(data[len(data) // 2 :])
        self._file.flush()
        self.stats.bytes += len(data)

    monkeypatch.setattr(TraceWriter, "_write", interrupted_write)
    path = tmp_path / "mid-chunk.nvmetrace"
    got = CliRunner().invoke(
        app, ["record", "io-load", "-p", "count=20000", "-o", str(path)], catch_exceptions=False
    )
    assert got.exit_code == 130, got.output
    assert "interrupted: kept" in got.output
    assert calls["n"] > 4
    rec = open_recording(path)
    try:
        assert rec.complete and not rec.warnings
        assert [e.seq for e in rec.events(0, len(rec))] == list(range(len(rec)))
    finally:
        rec.close()
    result = verify(path)
    assert result.ok, result.describe()
