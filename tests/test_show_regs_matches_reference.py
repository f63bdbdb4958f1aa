"""`nvmescope show-regs [-H]`: BAR0 as the host reads it, in nvme-cli 2.3's layout.

The printer is checked line for line against the real ``nvme show-regs`` and
``nvme show-regs -H`` of QEMU 7.2's controller (reference/), and the command
against the same captures with the qemu-7.2 profile: every line must be equal
except the few listed below, each with its reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nvmescope.cli import app
from nvmescope.emulator import ControllerConfig
from nvmescope.machine import Machine
from nvmescope.nvme import registers as r
from nvmescope.nvme.showregs import (
    HOST_READ_ORDER,
    SHOW_REGS_ORDER,
    format_show_regs,
    read_registers,
    register_by_name,
)

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference" / "linux-6.1-on-qemu-7.2"
PLAIN = REFERENCE / "nvme-show-regs.txt"
HUMAN = REFERENCE / "nvme-show-regs-H.txt"

runner = CliRunner()

#: Lines of the qemu-7.2 profile's output allowed to differ from QEMU's, and why.
ALLOWED = {
    # host memory: the host model's allocator places the admin queues elsewhere than
    # Linux's DMA allocator did in that boot (an address, not a register's meaning)
    "asq     : ": "admin SQ base address chosen by our host model's allocator",
    "acq     : ": "admin CQ base address chosen by our host model's allocator",
    "\tAdmin Submission Queue Base (ASQB): ": "the same address, decoded",
    "\tAdmin Completion Queue Base (ACQB): ": "the same address, decoded",
}


def _reference_values() -> dict[str, int]:
    values = {}
    for line in PLAIN.read_text().splitlines():
        name, _, value = line.partition(":")
        name = name.strip()
        values["vs" if name == "version" else name] = int(value, 16)
    return values


def _allowed(line: str) -> bool:
    return any(line.startswith(prefix) for prefix in ALLOWED)


def test_the_printer_reproduces_both_captures_exactly() -> None:
    values = _reference_values()
    assert list(values) == list(SHOW_REGS_ORDER)
    assert format_show_regs(values) == PLAIN.read_text()
    assert format_show_regs(values, human=True) == HUMAN.read_text()


def test_the_printer_follows_the_values() -> None:
    values = _reference_values()
    values["csts"] = 0x9  # RDY, SHST = 2 (shutdown complete)
    values["cc"] = 0x464061  # SHN = 1, EN = 1
    text = format_show_regs(values, human=True)
    assert "csts    : 9\n" in text
    assert "(SHST): Shutdown processing complete" in text
    assert "(SHN): Normal shutdown notification" in text
    values["cmbsz"] = 0x1005  # SZ 1, SQS, LISTS: the CMB absent line must go
    text = format_show_regs(values, human=True)
    assert "cmbsz   : 1005\n\tSize                      (SZ): 1\n" in text
    assert text.count("Controller Memory Buffer feature is not supported") == 0


@pytest.mark.parametrize(("flag", "capture"), [((), PLAIN), (("-H",), HUMAN)])
def test_the_qemu_profile_reads_like_qemu(flag: tuple[str, ...], capture: Path) -> None:
    result = runner.invoke(app, ["show-regs", *flag, "--profile", "qemu-7.2"])
    assert result.exit_code == 0, result.stderr
    ours = result.stdout.splitlines()
    theirs = capture.read_text().splitlines()
    assert len(ours) == len(theirs)
    differ = [(a, b) for a, b in zip(ours, theirs, strict=True) if a != b]
    unexplained = [(a, b) for a, b in differ if not (_allowed(a) and _allowed(b))]
    assert unexplained == []
    # every listed difference is real (CAP, say, matches since CAP.NSSRS and CAP.CSS
    # became knobs): the list cannot go stale
    used = {p for a, b in differ for p in ALLOWED if a.startswith(p) or b.startswith(p)}
    shown = {p for p in ALLOWED if any(line.startswith(p) for line in theirs)}
    assert used == shown
    # the live values are the device's, not a copy of the capture
    assert "asq     : 10f72000" not in ours


def test_the_host_reads_bar0_as_nvme_cli_did() -> None:
    machine = Machine(ControllerConfig(), scenario="bringup")
    machine.run()
    offsets: list[int] = []

    def read32(offset: int) -> int:
        offsets.append(offset)
        return machine.api.mmio_read32(offset)

    values = read_registers(read32)
    assert offsets == list(HOST_READ_ORDER)
    assert values["cc"] & 1 and values["csts"] & 1
    assert values["cap"] == machine.api.mmio_read64(0)
    covered = {o for name in SHOW_REGS_ORDER for o in _dwords(name)}
    assert covered == set(HOST_READ_ORDER)


def _dwords(name: str) -> list[int]:
    reg = register_by_name(name)
    return [reg.offset + 4 * i for i in range(reg.size // 4)]


def test_a_configured_device_shows_its_own_values() -> None:
    result = runner.invoke(app, ["show-regs", "-H", "-c", "mqes=63", "-c", "dstrd=2"])
    assert result.exit_code == 0, result.stderr
    assert "(MQES): 64\n" in result.stdout
    assert "(DSTRD): 16 bytes\n" in result.stdout


def test_show_regs_on_a_recording_at_an_event() -> None:
    rec = ROOT / "recordings" / "bringup.nvmetrace"
    early = runner.invoke(app, ["show-regs", str(rec), "--at", "0"])
    assert early.exit_code == 0, early.stderr
    assert "cc      : ?" in early.stdout
    last = runner.invoke(app, ["show-regs", str(rec)])
    assert last.exit_code == 0, last.stderr
    assert "csts    : 1\n" in last.stdout
    assert "version : 10400\n" in last.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["show-regs", "--at", "3"],
        ["show-regs", "recordings/bringup.nvmetrace", "--at", "999999999"],
        ["show-regs", "recordings/bringup.nvmetrace", "-c", "mqes=3"],
        ["show-regs", "no-such-file.nvmetrace"],
    ],
)
def test_bad_input_is_one_line(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_every_printed_register_is_declared_once() -> None:
    names = [reg.name for reg in r.REGISTERS + r.OPTIONAL_REGISTERS]
    assert len(names) == len(set(names))
    assert set(SHOW_REGS_ORDER) <= set(names)


def test_the_read_order_is_the_one_qemu_traced() -> None:
    """QEMU's trace of the show-regs boot: three runs of show-regs (plain, -H, json), each
    the same 30 reads; ours is that order."""
    trace = (REFERENCE / "qemu-trace-pci_nvme-2-iomem-relaxed.log").read_text().splitlines()
    reads = [
        int(line.split("addr ")[1].split()[0], 16)
        for line in trace
        if ":pci_nvme_mmio_read addr " in line
    ]
    n = len(HOST_READ_ORDER)
    start = next(i for i in range(len(reads)) if reads[i : i + n] == list(HOST_READ_ORDER))
    assert reads[start + n : start + 2 * n] == list(HOST_READ_ORDER)
    assert reads[start + 2 * n : start + 3 * n] == list(HOST_READ_ORDER)
