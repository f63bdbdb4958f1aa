"""recordings/linux-6.1-bringup*.nvmetrace: real Linux 6.1 guests' runs, shipped.

They were made by `nvmescope linux run` (docs/linux-guest.md says how) and cannot be made
again identically (a real kernel on the wall clock), so `regenerate-recordings` leaves
them alone. Every tool must open them, and `replay --verify` must pass on them with
today's device: a change of the device's answers shows up here as a divergence.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nvmescope.cli import app
from nvmescope.trace import open_recording

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
GUEST = ["linux-6.1-bringup.nvmetrace", "linux-6.1-bringup-msix.nvmetrace"]
runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(params=GUEST)
def path(request) -> Path:
    return RECORDINGS / request.param


def test_each_is_a_real_guest_s_run_with_the_wall_clock_and_is_small(path):
    rec = open_recording(path)
    assert rec.warnings == []
    extra = rec.header.extra
    assert extra["source"] == "linux-guest" and extra["time_base"] == "wall_clock"
    assert "6.1." in extra["kernel"]
    assert path.stat().st_size < 1_000_000
    msix = "msix" in path.name
    assert rec.config["msix"] is msix and rec.config["bar0_64bit"] is False
    markers = [e.text for e in rec.events() if e.kind == "host_step" and e.step == "guest"]
    assert any(m.startswith("guest: probe ok") for m in markers)
    assert any(m.startswith("guest: removed ") for m in markers)


def test_replay_verify_passes(path):
    code, out, err = run("replay", path, "--verify")
    assert code == 0, out[-2000:] + err
    assert f"verified: {len(open_recording(path))} of" in out and "identical" in out


def test_show_prints_every_event(path):
    code, out, _ = run("show", path)
    assert code == 0
    assert len(out.splitlines()) == len(open_recording(path))
    assert "nvme nvme0: pci function" in out


def test_show_commands_lists_linux_s_admin_commands_and_the_removal(path):
    code, out, _ = run("show", path, "--commands")
    assert code == 0
    for words in ("identify cns=0x06", "set_features fid=0x07", "create_io_sq", "delete_io_sq",
                  "delete_io_cq", "write", "read"):  # fmt: skip
        assert words in out, words
    assert "async_event" not in out  # Linux sends no AER while OAES is 0


def test_show_checks_finds_no_error(path):
    code, out, _ = run("show", path, "--checks")
    assert code == 0
    assert out.splitlines()[-1].startswith("0 error(s)")


def test_stats_says_wall_clock(path):
    code, out, _ = run("stats", path)
    assert code == 0 and "of wall-clock time" in out


async def test_the_tui_opens_each_and_steps(path):
    from tests.tui import press, recorded_app

    async with recorded_app(path) as (tui, pilot):
        await press(pilot, "G")
        assert tui.cursor == len(tui.source) - 1
        await press(pilot, "g", "s")
        assert tui.cursor == 1
