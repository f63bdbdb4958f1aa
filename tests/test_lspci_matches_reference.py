"""lspci of the emulated function against the real ``lspci -vvv -nn -xxxx`` of QEMU 7.2's
controller (pciutils 3.9, reference/linux-6.1-on-qemu-7.2/), before and after the nvme
driver binds.

First the printer alone: fed the bytes of each capture's own hex dump (and the host's
IRQ and driver), it must print that capture exactly. Then the command: with the
qemu-7.2 profile, `nvmescope lspci -vvv -nn -xxxx` must equal the after-bind capture
(and with --before-bind the before-bind one) line for line, every line: the IRQ and
Interrupt Line (byte 3Ch) too, which the platform the profile declares gives (its
firmware writes Interrupt Line 0Ah, its kernel routes INTx pin A to IRQ 23).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from captures import config_space
from typer.testing import CliRunner

from nvmescope.cli import app
from nvmescope.nvme.lspci import format_lspci, kernel_modules, subsystem_name

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "linux-6.1-on-qemu-7.2"
BEFORE = REFERENCE / "lspci-vvv-before-bind.txt"
AFTER = REFERENCE / "lspci-vvv-after-bind.txt"

runner = CliRunner()


@pytest.mark.parametrize(
    ("capture", "irq", "driver"), [(BEFORE, 10, None), (AFTER, 23, "nvme")], ids=["before", "after"]
)
def test_the_printer_prints_each_capture_from_its_bytes(
    capture: Path, irq: int, driver: str | None
) -> None:
    config = config_space(capture)
    text = format_lspci(
        config,
        verbose=2,
        numeric=2,
        dump=4096,
        irq=irq,
        driver=driver,
        modules=kernel_modules(config),
        bar_sizes={0: 16 * 1024},
    )
    assert text.splitlines() == capture.read_text().splitlines()
    assert text == capture.read_text()  # with the blank line that ends each function


def test_the_qemu_profile_looks_like_qemu_after_the_driver_binds() -> None:
    result = runner.invoke(app, ["lspci", "-vvv", "-nn", "-xxxx", "--profile", "qemu-7.2"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split("\n") == AFTER.read_text().split("\n")


def test_the_default_device_shows_its_own_ids_and_layout() -> None:
    result = runner.invoke(app, ["lspci", "-vv", "-nn", "-c", "pci_did=0x1234"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[0].startswith(
        "00:03.0 Non-Volatile memory controller [0108]: Device [4e53:1234] (prog-if 02"
    )
    assert "\tSubsystem: Device [4e53:0001]" in lines
    assert "\tCapabilities: [60] Express (v2) Endpoint, MSI 00" in lines
    assert any(line.startswith("\t\tLnkCap2: Supported Link Speeds: 2.5-8GT/s") for line in lines)
    assert any(line.startswith("\t\tDevCap2: Completion Timeout: Range ABCD") for line in lines)
    assert "\tKernel modules: nvme" in lines


def test_numeric_only_and_subsystem_names() -> None:
    config = config_space(AFTER)
    first = format_lspci(config, verbose=1, numeric=1).split("\n")
    assert first[0] == "00:03.0 0108: 1b36:0010 (rev 02) (prog-if 02)"
    assert first[1] == "\tSubsystem: 1af4:1100"
    assert subsystem_name(0x1B36, 0x0010, 0x1AF4, 0x1100) == "Red Hat, Inc. Device 1100"
    # a subsystem that repeats the device's IDs takes the device's name
    assert subsystem_name(0x1B36, 0x0010, 0x1B36, 0x0010) == (
        "Red Hat, Inc. QEMU NVM Express Controller"
    )


@pytest.mark.parametrize(("flag", "rows"), [("-x", 4), ("-xxx", 16), ("-xxxx", 256)])
def test_hex_dumps_follow_the_device_block(flag: str, rows: int) -> None:
    result = runner.invoke(app, ["lspci", flag])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.rstrip("\n").split("\n")
    assert len(lines) == 1 + rows
    assert lines[1].startswith("00: 53 4e 01 00 ")
    assert result.stdout.endswith("\n\n")


def _console_block(mark: str) -> list[str]:
    """00:03.0's lines in the ``=== MARK <mark>`` output of guest-console-2.log."""
    lines = (REFERENCE / "guest-console-2.log").read_text().splitlines()
    start = lines.index(f"=== MARK {mark}") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("=== MARK"))
    block = lines[start:end]
    first = next(i for i, line in enumerate(block) if line.startswith("00:03.0 "))
    rest = block[first + 1 :]
    n = next((i for i, line in enumerate(rest) if not line.startswith("\t")), len(rest))
    return block[first : first + 1 + n]


@pytest.mark.parametrize("flags", [["-nn"], ["-nnk"]])
def test_the_short_forms_are_qemus_lines(flags: list[str]) -> None:
    result = runner.invoke(app, ["lspci", *flags, "--profile", "qemu-7.2"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.rstrip("\n").split("\n") == _console_block(f"lspci {flags[0]}")


def test_before_the_driver_binds_looks_like_qemu_before_bind() -> None:
    args = ["lspci", "--before-bind", "-vvv", "-nn", "-xxxx", "--profile", "qemu-7.2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    ours = result.stdout.split("\n")
    assert ours == BEFORE.read_text().split("\n")
    assert "\tCapabilities: [40] MSI-X: Enable- Count=65 Masked-" in ours
    assert not any(line.startswith("\tKernel driver in use") for line in ours)


def test_before_bind_and_another_scenario_is_refused() -> None:
    result = runner.invoke(app, ["lspci", "--before-bind", "--after", "io"])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1


def _lspci(*args: str) -> list[str]:
    result = runner.invoke(app, ["lspci", "-vv", "-xxx", *args])
    assert result.exit_code == 0, result.stderr
    return result.stdout.split("\n")


def test_the_irq_lspci_shows_is_the_platforms_not_a_fixed_number() -> None:
    knobs = ["-c", "interrupt_line=11", "-c", "intx_irq=19"]
    before, after = _lspci("--before-bind", *knobs), _lspci(*knobs)
    # before the driver enables the function: the Interrupt Line its firmware wrote
    assert "\tInterrupt: pin A routed to IRQ 11" in before
    # after: the IRQ the kernel routed INTx to; the register still holds the firmware's
    assert "\tInterrupt: pin A routed to IRQ 19" in after
    for lines in (before, after):
        assert next(ln for ln in lines if ln.startswith("30: ")).split()[13] == "0b"
    # routing alone: Interrupt Line keeps its reset value, the kernel's IRQ is shown
    assert "\tInterrupt: pin A routed to IRQ 19" in _lspci("-c", "intx_irq=19")
    assert "\tInterrupt: pin A routed to IRQ 0" in _lspci("--before-bind", "-c", "intx_irq=19")


def test_the_default_machine_has_no_firmware_so_interrupt_line_stays_0() -> None:
    lines = _lspci()
    assert "\tInterrupt: pin A routed to IRQ 0" in lines
    assert next(ln for ln in lines if ln.startswith("30: ")).split()[13] == "00"


@pytest.mark.parametrize(
    ("knob", "words"),
    [
        ("interrupt_line=256", "interrupt_line=256 is out of range: Interrupt Line is one byte"),
        ("intx_irq=-1", "intx_irq=-1 is out of range: an INTx IRQ is 0 to 255"),
    ],
)
def test_an_irq_outside_its_range_is_one_line_and_exit_2(knob: str, words: str) -> None:
    result = runner.invoke(app, ["lspci", "-c", knob])
    assert result.exit_code == 2
    assert words in result.stderr and result.stderr.count("\n") == 1
