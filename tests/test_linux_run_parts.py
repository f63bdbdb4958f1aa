"""`nvmescope linux run`'s parts that need no QEMU: the guest's scripts, and what it says
when there is nothing to boot or the options are wrong."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from nvmescope.qemu import guest as g
from nvmescope.qemu import run as r


def test_run_says_the_guest_is_missing(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "nvmescope", "linux", "run", "--cache", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "`nvmescope linux build`" in done.stderr


@pytest.mark.parametrize(
    "script",
    [g.INIT, r.default_script(), r.command_script(["nvme", "id-ctrl", "/dev/nvme0", "-o", "it's"]),
     r.file_script()],
    ids=["init", "default", "command", "file"],
)  # fmt: skip
def test_the_guest_scripts_are_shell(tmp_path, script):
    sh = shutil.which("sh")
    assert sh is not None
    (tmp_path / "s.sh").write_text(script)
    subprocess.run([sh, "-n", str(tmp_path / "s.sh")], check=True)


def test_the_default_script_runs_the_issue_s_steps():
    text = r.default_script()
    for words in ("probe", "nvme list", "nvme id-ctrl /dev/nvme0", "nvme id-ns /dev/nvme0n1",
                  "nvme smart-log /dev/nvme0", "write_read", "remove"):  # fmt: skip
        assert words in text
    assert "step command nvme id-ctrl /dev/nvme0 -o 'it'\"'\"'s'" in r.command_script(
        ["nvme", "id-ctrl", "/dev/nvme0", "-o", "it's"]
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--accel", "xen"], "--accel xen: expected tcg or kvm"),
        (["--timeout", "0"], "'--timeout': 0: expected 1..86400"),
        (["--probe-timeout", "x"], "'--probe-timeout': x: not a number"),
        (["--script", "s.sh", "--", "nvme", "list"], "--script and -- COMMAND: choose one"),
        (["-o", "run.txt"], "-o run.txt: a recording's name ends in .nvmetrace"),
        (["-c", "msix=maybe"], "--config msix=maybe: not a valid bool"),
        (["--script", "/no/such/script"], "/no/such/script: No such file or directory"),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, words):
    (tmp_path / "s.sh").write_text("nvme list\n")
    done = subprocess.run(
        [sys.executable, "-m", "nvmescope", "linux", "run", "--cache", str(tmp_path), *args],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode in (1, 2)
    assert done.stderr.count("\n") == 1 and words in done.stderr, done.stderr
    assert not list(tmp_path.glob("*.nvmetrace"))


# -- a recording made through the bridge opens like any other ------------------------------
@pytest.fixture(scope="module")
def bridged(tmp_path_factory):
    """A recording of a QEMU played by the test (tests/fakeqemu.py), written as
    `linux run` writes one: QEMU's probe, its reset, an Identify, wall-clock time."""
    from fakeqemu import FakeQemu, boot, identify

    from nvmescope.emulator import ControllerConfig

    path = tmp_path_factory.mktemp("bridged") / "bridged.nvmetrace"
    config = ControllerConfig(msix=False, bar0_64bit=False)
    recorder = r.recorder_for(path, config, kernel="test", qemu="played by the test")
    q = FakeQemu(config, subscribers=(recorder,))
    boot(q)
    identify(q)
    q.close()
    recorder.close()
    return path


def test_replay_verify_feeds_the_device_s_reads_back(bridged):
    from nvmescope.trace import open_recording, verify

    rec = open_recording(bridged)
    assert rec.header.extra["time_base"] == "wall_clock"
    assert rec.header.extra["guest_memory"] == "device_reads"
    assert not [e for e in rec.events() if e.kind in ("mem_write", "mem_read")]
    result = verify(bridged)
    assert result.ok, result.describe()


def test_a_changed_sqe_is_a_divergence_even_with_reads_fed_back(bridged, tmp_path):
    import msgspec

    from nvmescope.trace import TraceWriter, open_recording, verify

    rec = open_recording(bridged)
    out = tmp_path / "changed.nvmetrace"
    with TraceWriter(out, msgspec.structs.replace(rec.header)) as w:
        for e in rec.events():
            if e.kind == "sqe_fetch":
                data = bytearray(e.data)
                data[40] = 0x00  # CNS 01h (controller) -> 00h (namespace): other data
                e = msgspec.structs.replace(e, data=bytes(data))
            w.append(e)
    result = verify(out)
    assert not result.ok and result.divergence is not None
    # the device executed what the changed SQE says: the first event after it differs
    fetch = next(i for i, e in enumerate(rec.events()) if e.kind == "sqe_fetch")
    assert result.divergence.index == fetch + 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["stats"], "of wall-clock time; 1 commands"),
        (["show", "--checks"], "0 error(s)"),
        (["show", "--commands"], "identify"),
        (["show", "--filter", 'step == "qemu_probe"'], "QEMU realizes x-pci-proxy-dev"),
        (["replay", "--verify"], "identical"),
    ],
)
def test_show_checks_stats_and_replay_open_it(bridged, args, words):
    cmd, *rest = args
    done = subprocess.run(
        [sys.executable, "-m", "nvmescope", cmd, str(bridged), *rest],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert words in done.stdout + done.stderr


async def test_the_tui_opens_it(bridged):
    from tests.tui import press, recorded_app

    async with recorded_app(bridged) as (app, pilot):
        await press(pilot, "s", "s")
        assert app.cursor == 2 and len(app.source) > 40


def test_msix_messages_the_proxy_loses_are_lost_in_the_replay_too(tmp_path):
    from fakeqemu import FakeQemu, boot, identify

    from nvmescope.emulator import ControllerConfig
    from nvmescope.events import describe
    from nvmescope.trace import open_recording, verify

    path = tmp_path / "msix.nvmetrace"
    config = ControllerConfig(bar0_64bit=False)  # the MSI-X capability visible
    recorder = r.recorder_for(path, config)
    q = FakeQemu(config, subscribers=(recorder,))
    boot(q)
    q.bar_write(0x2000, 0xFEE01004)  # entry 0: address, data, unmasked
    q.bar_write(0x2008, 0x26)
    q.bar_write(0x200C, 0)
    q.cfg_write(0x52, 2, 0x8000)  # MSI-X Enable
    identify(q)
    q.close()
    recorder.close()
    sent = [e for e in open_recording(path).events() if e.kind == "irq_msix"]
    assert sent and not any(e.delivered for e in sent)
    assert "not delivered" in describe(sent[0])
    result = verify(path)
    assert result.ok, result.describe()
