"""The platform around the function: its firmware writes Interrupt Line before the host
runs, its kernel routes INTx when the driver enables the function.

The reference machine (q35, its firmware, Linux 6.1 with ACPI) left Interrupt Line 0Ah
and routed INTx pin A to IRQ 23 (reference/linux-6.1-on-qemu-7.2/lspci-vvv-*.txt); the
qemu-7.2 profile declares both, and both show in the timeline as what the host did.
"""

from __future__ import annotations

from typing import Any

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.config import profile_config
from nvmescope.host.platform import Platform, firmware_pci_setup
from nvmescope.machine import Machine
from nvmescope.trace import open_recording, record, verify


def _up(config: ControllerConfig) -> Machine:
    m = Machine(config, scenario="bringup")
    m.run()
    assert m.driver is not None and m.driver.up
    return m


def _steps(m: Machine) -> list[str]:
    return [e.step for e in m.events if e.kind == "host_step"]


def test_the_firmware_writes_interrupt_line_before_the_driver_probes():
    m = _up(profile_config("qemu-7.2"))
    kinds = [(e.kind, getattr(e, "step", None)) for e in m.events]
    probe = kinds.index(("host_step", "probe"))
    writes = [
        (n, e) for n, e in enumerate(m.events) if e.kind == "config_write" and e.offset == 0x3C
    ]
    assert len(writes) == 1
    n, write = writes[0]
    assert n < probe and (write.size, write.value) == (1, 0x0A)
    # it read the Interrupt Pin first (INTA#), as firmware does before it routes one
    pin = [e for e in m.events[:n] if e.kind == "config_read" and e.offset == 0x3D]
    assert [e.value for e in pin] == [1]
    assert m.api.config_read(0x3C, 1) == 0x0A


def test_the_kernel_routes_intx_when_the_driver_enables_the_function():
    m = _up(profile_config("qemu-7.2"))
    steps = _steps(m)
    routed = steps.index("pcibios_enable_irq")
    # after Memory Space Enable (pci_enable_device_mem), before Bus Master (pci_set_master)
    assert steps[routed - 1] == "pci_enable_device_mem" and steps[routed + 1] == "pci_set_master"
    note = next(e for e in m.events if getattr(e, "step", "") == "pcibios_enable_irq")
    assert "IRQ 23" in note.text
    assert m.driver.irq == 23
    # nothing is written to the device for it: Interrupt Line keeps the firmware's value
    assert m.api.config_read(0x3C, 1) == 0x0A


def test_the_default_machine_has_no_firmware_step_and_no_routing():
    m = _up(ControllerConfig())
    steps = _steps(m)
    assert not [s for s in steps if s.startswith("firmware_") or s == "pcibios_enable_irq"]
    assert not [e for e in m.events if e.kind == "config_write" and e.offset == 0x3C]
    assert m.driver.irq is None and m.api.config_read(0x3C, 1) == 0


def test_a_function_without_an_intx_pin_gets_no_interrupt_line():
    class Api:
        def __init__(self) -> None:
            self.notes: list[str] = []
            self.writes: list[tuple[int, int, int]] = []

        def note(self, step: str, text: str) -> None:
            self.notes.append(step)

        def config_read(self, offset: int, size: int) -> int:
            assert (offset, size) == (0x3D, 1)
            return 0

        def config_write(self, offset: int, size: int, value: int) -> None:
            self.writes.append((offset, size, value))

    api: Any = Api()
    list(firmware_pci_setup(api, Platform(interrupt_line=10)))
    assert api.notes == ["firmware_read_interrupt_pin", "firmware_no_intx"]
    assert api.writes == []


def test_a_recording_of_the_profile_replays_the_firmware_write(tmp_path):
    path = tmp_path / "qemu.nvmetrace"
    record("bringup", path, config=profile_config("qemu-7.2"))
    rec = open_recording(path)
    assert rec.config["interrupt_line"] == 10 and rec.config["intx_irq"] == 23
    assert any(e.kind == "config_write" and e.offset == 0x3C for e in rec.events())
    result = verify(rec)
    assert result.ok, result.describe()
