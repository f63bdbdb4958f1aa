"""Opening the TUI from the command line: what opens it, and bad input refused before it draws."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IDENTIFY = ROOT / "recordings" / "identify.nvmetrace"


def nvmescope(*args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nvmescope", *map(str, args)],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def _one_line_error(proc: subprocess.CompletedProcess, code: int, words: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nvmescope: error:"), proc.stderr
    assert words in lines[0]
    assert "Traceback" not in proc.stderr


def test_nvmescope_alone_in_a_pipe_still_prints_the_identify_story():
    proc = nvmescope()
    assert proc.returncode == 0
    assert "the story, every event" in proc.stdout
    assert "cqe_post" in proc.stdout


def test_the_tui_without_a_terminal_is_one_line_and_exit_2():
    _one_line_error(nvmescope("tui"), 2, "needs a terminal")
    _one_line_error(nvmescope("tui", IDENTIFY), 2, "needs a terminal")


def test_a_recording_as_the_first_argument_opens_the_tui():
    # no terminal here, so the TUI refuses: which proves the file was taken for `tui FILE`
    _one_line_error(nvmescope(IDENTIFY), 2, "needs a terminal")


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("tui", "nosuch"), 2, "no such scenario or recording"),
        (("tui", "missing.nvmetrace"), 1, "no such file"),
        (("tui", "identify", "--at", "99999"), 2, "ends at event"),
        (("tui", "identify", "--at", "-1"), 2, "--at"),
        (("tui", "identify", "--at", "1" * 400), 2, "--at"),
        (("tui", "identify", "-c", "mqes=0"), 2, "--config"),
        (("tui", "identify", "-c", "nosuchknob=1"), 2, "no such knob"),
        (("tui", "io-load", "-p", "count=0"), 2, "--param"),
        (("tui", IDENTIFY, "--at", "99999"), 2, "has events 0..398"),
        (("tui", IDENTIFY, "-c", "mqes=3"), 2, "a recording keeps its own"),
        (("tui", ROOT), 1, "is a directory"),
        (("tui", ROOT / "README.md"), 1, "not an nvmescope recording"),
    ],
)
def test_bad_input_is_refused_in_one_line_before_any_screen_is_drawn(args, code, words):
    _one_line_error(nvmescope(*args), code, words)


def test_a_damaged_recording_is_refused_before_the_screen(tmp_path):
    bad = tmp_path / "bad.nvmetrace"
    data = bytearray(IDENTIFY.read_bytes())
    data[20] ^= 0xFF  # inside the file header: its checksum no longer matches
    bad.write_bytes(bytes(data))
    _one_line_error(nvmescope("tui", bad), 1, "damaged")


def _run_on_a_terminal(args: list[str], keys: list[bytes], cols: int = 80, rows: int = 24):
    """Run nvmescope on a pseudo-terminal, type ``keys``, return (exit code, output)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: nvmescope on the terminal
        os.chdir(ROOT)
        os.environ["TERM"] = "xterm-256color"
        os.execv(sys.executable, [sys.executable, "-m", "nvmescope", *args])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out = bytearray()
    deadline = time.monotonic() + 60

    def read_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < min(end, deadline):
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                out.extend(chunk)

    try:
        read_for(6)
        for key in keys:
            os.write(fd, key)
            read_for(1)
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            read_for(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("nvmescope did not quit on q")
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


def test_nvmescope_on_a_terminal_opens_the_tui_live_and_q_quits():
    code, out = _run_on_a_terminal([], [b"s", b"s", b"q"])
    assert code == 0
    assert "Timeline" in out or "Time" in out
    assert "live" in out


def test_a_recording_opens_on_a_terminal_at_the_event_asked_for():
    code, out = _run_on_a_terminal(["tui", str(IDENTIFY), "--at", "379"], [b"q"], 160, 50)
    assert code == 0
    assert "ev 379/398" in out


def test_a_crash_inside_the_tui_is_exit_70_not_0():
    from textual.app import App

    from nvmescope import cli

    class Crashing(App):
        def on_mount(self) -> None:
            raise ValueError("a bug")

        def run(self):  # headless: this test has no terminal
            return super().run(headless=True)

    with pytest.raises(SystemExit) as exit_:
        cli._run_app(Crashing())
    assert exit_.value.code == 70
