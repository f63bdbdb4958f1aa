"""What QEMU's x-pci-proxy-dev needs of the device, each on its own: no MSI-X capability
(knob ``msix``), a 32-bit BAR0 (knob ``bar0_64bit``), enumeration writes that are not
undefined behaviour, a public reset of the function that recordings replay, and a
scheduler driven from an outside clock."""

from __future__ import annotations

import pytest
from emuhost import Rig

from nvmescope.emulator import ControllerConfig
from nvmescope.host.api import HostAccessError
from nvmescope.machine import Machine
from nvmescope.nvme.pci import CAP_ID_MSIX, CAP_ID_PCIE, CAP_ID_PM
from nvmescope.sim import Scheduler
from nvmescope.trace import Recorder, open_recording, verify

PROXY = {"msix": False, "bar0_64bit": False}


def capability_ids(ctrl) -> list[int]:
    ptr, ids = ctrl.config_read(0x34, 1), []
    while ptr:
        ids.append(ctrl.config_read(ptr, 1))
        ptr = ctrl.config_read(ptr + 1, 1)
    return ids


# -- no MSI-X ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("layout", "ids", "hole"),
    [("nvmescope", [CAP_ID_PM, CAP_ID_PCIE], 0x50), ("qemu-7.2", [CAP_ID_PCIE, CAP_ID_PM], 0x40)],
)
def test_without_msix_the_capability_list_skips_it(layout, ids, hole):
    rig = Rig(ControllerConfig(msix=False, pci_layout=layout))
    c = rig.ctrl
    assert capability_ids(c) == ids
    assert all(c.config_read(hole + i, 1) == 0 for i in range(12))
    # nothing there takes a write, and the accesses name no MSI-X register
    c.config_write(hole + 2, 2, 0xC000)
    rig.run()
    assert c.config_read(hole + 2, 2) == 0 and not c.pci.msix_enabled
    assert "ub_cfg_ro" in rig.kinds()
    assert all(not e.reg.startswith("msix") for e in rig.events if e.kind.startswith("config"))


def test_without_msix_bar0_has_no_table_and_no_pba():
    rig = Rig(ControllerConfig(msix=False))
    rig.ctrl.config_write(0x04, 2, 0x6)
    table, pba = rig.ctrl.table_offset, rig.ctrl.pba_offset
    assert rig.ctrl.mmio_read(table + 12, 4) == 0  # an entry's Vector Control would read 1
    rig.ctrl.mmio_write(table, 4, 0xFEE00000)
    rig.run()
    assert rig.ctrl.mmio_read(table, 4) == 0 and rig.ctrl.mmio_read(pba, 4) == 0
    assert "ub_mmio_out_of_range" in rig.kinds()
    assert all(not e.reg.startswith(("msix", "pba")) for e in rig.events if e.kind == "mmio_read")


def test_the_driver_model_brings_the_intx_only_function_up_and_it_replays(tmp_path):
    m = Machine(ControllerConfig(**PROXY), "identify")
    rec = Recorder.attach(m, tmp_path / "intx.nvmetrace")
    m.run()
    rec.close()
    kinds = [e.kind for e in m.events]
    assert m.driver is not None and m.driver.up
    assert "irq_intx" in kinds and "irq_msix" not in kinds
    assert not [k for k in kinds if k.startswith(("ub_", "err_"))]
    steps = [e.step for e in m.events if e.kind == "host_step"]
    assert "no_msix" in steps and "pci_size_bar1" not in steps
    cq = next(e for e in m.events if e.kind == "queue_created" and e.qtype == "cq")
    assert cq.vector == 0
    result = verify(tmp_path / "intx.nvmetrace")
    assert result.ok, result.describe()


def test_lspci_shows_a_32_bit_bar0_and_no_msix(capsys):
    from nvmescope.cli import app

    with pytest.raises(SystemExit) as done:
        app(["lspci", "-vv", "-c", "msix=0", "-c", "bar0_64bit=0"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "Region 0: Memory at feb00000 (32-bit, non-prefetchable) [size=16K]" in text
    assert "MSI-X" not in text
    assert "Capabilities: [40] Power Management" in text and "[60] Express" in text


# -- a 32-bit BAR0 ---------------------------------------------------------------------------
def test_a_32_bit_bar0_sizes_alone_and_bar1_is_absent():
    rig = Rig(ControllerConfig(bar0_64bit=False))
    c = rig.ctrl
    assert c.config_read(0x10, 4) & 0x7 == 0  # memory, 32-bit, not prefetchable
    c.config_write(0x10, 4, 0xFFFFFFFF)
    assert c.config_read(0x10, 4) == 0xFFFFC000 == (~(c.bar_size - 1)) & 0xFFFFFFFF
    c.config_write(0x14, 4, 0xFFFFFFFF)
    assert c.config_read(0x14, 4) == 0  # unimplemented: size 0 says so
    c.config_write(0x14, 4, 0)
    c.config_write(0x10, 4, 0xFEB00000)
    rig.run()
    assert c.bar0_address == 0xFEB00000
    assert "ub_cfg_ro" not in rig.kinds()


# -- enumeration is not undefined behaviour ------------------------------------------------
def qemu_probe(ctrl) -> None:
    """QEMU 7.2's probe_pci_info: each of the seven 'BARs' 10h..28h read, all ones written,
    read back, the first value written back."""
    for i in range(7):
        offset = 0x10 + 4 * i
        orig = ctrl.config_read(offset, 4)
        ctrl.config_write(offset, 4, 0xFFFFFFFF)
        ctrl.config_read(offset, 4)
        ctrl.config_write(offset, 4, orig)


def linux_pci_read_bases(ctrl) -> None:
    """Linux's __pci_read_base for BARs 2..5 and the Expansion ROM (address mask)."""
    for offset, mask in [(0x18, ~0), (0x1C, ~0), (0x20, ~0), (0x24, ~0), (0x30, 0xFFFFF800)]:
        orig = ctrl.config_read(offset, 4)
        ctrl.config_write(offset, 4, mask & 0xFFFFFFFF)
        ctrl.config_read(offset, 4)
        ctrl.config_write(offset, 4, orig)


@pytest.mark.parametrize("knobs", [{}, PROXY], ids=["default", "proxy"])
def test_sizing_unimplemented_registers_is_enumeration(knobs):
    rig = Rig(ControllerConfig(**knobs))
    qemu_probe(rig.ctrl)
    linux_pci_read_bases(rig.ctrl)
    rig.run()
    assert not [k for k in rig.kinds() if k.startswith("ub_")]
    for offset in (0x18, 0x1C, 0x20, 0x24, 0x28, 0x30):
        assert rig.ctrl.config_read(offset, 4) == 0


def test_other_writes_to_them_are_still_read_only_writes():
    rig = Rig()
    rig.ctrl.config_write(0x20, 4, 0x12345678)
    rig.ctrl.config_write(0x30, 2, 0xFFFF)  # not a dword: not the sizing protocol
    rig.ctrl.config_write(0x00, 4, 0xFFFFFFFF)  # the IDs are not sized
    rig.run()
    assert rig.kinds().count("ub_cfg_ro") == 3


# -- resets of the function ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "state"), [("conventional", "conventional_reset"), ("flr", "flr")]
)
def test_a_reset_is_an_input_then_the_device_goes_back_to_power_on(kind, state):
    rig = Rig()
    rig.enable()
    power_on = bytes(Rig().ctrl.pci.data)
    rig.ctrl.config_write(0x3C, 1, 11)
    event = rig.ctrl.reset(kind)
    assert event.kind == "pci_reset" and event.reset == kind and event.actor == "host"
    rig.run()
    kinds = rig.kinds()
    assert kinds[kinds.index("pci_reset") + 1] == "ctrl_state"
    assert rig.events[kinds.index("pci_reset") + 1].state == state
    assert bytes(rig.ctrl.pci.data) == power_on
    assert rig.ctrl.csts == 0 and not rig.ctrl.sqs and rig.ctrl.cc == 0


def test_an_unknown_reset_does_nothing():
    rig = Rig()
    with pytest.raises(ValueError, match="no PCI reset 'warm'"):
        rig.ctrl.reset("warm")
    m = Machine(scenario=None)
    with pytest.raises(HostAccessError):
        m.api.pci_reset("cold")
    assert m.events == [] and rig.events == []


def test_a_recording_with_resets_replays_and_its_state_is_power_on(tmp_path):
    m = Machine(scenario="identify")
    rec = Recorder.attach(m, tmp_path / "reset.nvmetrace")
    m.run()
    m.api.pci_reset("conventional")
    m.run()
    m.api.config_write(0x04, 2, 0x6)
    m.api.pci_reset("flr")
    m.run()
    rec.close()
    result = verify(tmp_path / "reset.nvmetrace")
    assert result.ok, result.describe()
    recording = open_recording(tmp_path / "reset.nvmetrace")
    states = [e.state for e in recording.events() if e.kind == "ctrl_state"]
    assert states[-2:] == ["conventional_reset", "flr"]
    end = recording.state_at(len(recording) - 1)
    assert end.ctrl_state == "flr" and not end.sqs and not end.cqs


def test_show_reads_a_reset(tmp_path, capsys):
    from nvmescope.cli import app

    m = Machine(scenario="identify")
    rec = Recorder.attach(m, tmp_path / "r.nvmetrace")
    m.run()
    m.api.pci_reset()
    m.run()
    rec.close()
    with pytest.raises(SystemExit) as done:
        app(["show", str(tmp_path / "r.nvmetrace"), "--filter", 'kind == "pci_reset"'])
    assert done.value.code == 0
    assert "host resets the PCI function: Conventional Reset" in capsys.readouterr().out


# -- an outside clock ------------------------------------------------------------------------
def test_advance_to_runs_what_is_due_and_moves_the_clock():
    s = Scheduler()
    ran: list[tuple[str, int]] = []
    s.call_at(100, lambda: ran.append(("a", s.now)))
    s.call_at(250, lambda: ran.append(("b", s.now)))
    s.call_at(250, lambda: s.call_after(0, lambda: ran.append(("c", s.now))))
    assert s.advance_to(50, 10) == 0 and s.now == 50
    assert s.advance_to(250, 10) == 4 and s.now == 250
    assert ran == [("a", 100), ("b", 250), ("c", 250)]
    # never backwards
    assert s.advance_to(10, 10) == 0 and s.now == 250
    assert s.next_time() is None


def test_advance_to_stops_at_its_budget_without_passing_the_work():
    s = Scheduler()

    def again() -> None:
        s.call_after(10, again)

    s.call_at(0, again)
    assert s.advance_to(1_000_000, 5) == 5
    assert s.now == 40  # the fifth piece ran at 40; the clock did not jump to the instant
    assert s.next_time() == 50


def test_the_device_follows_an_outside_clock():
    m = Machine(scenario=None)
    api, ctrl = m.api, m.ctrl
    api.config_write(0x10, 4, 0xFEB00000)
    api.config_write(0x14, 4, 0)
    api.config_write(0x04, 2, 0x6)
    api.mmio_write32(0x24, 0x001F001F)
    api.mmio_write32(0x28, 0x10000)
    api.mmio_write32(0x30, 0x11000)
    t0 = m.sched.now
    api.mmio_write32(0x14, 0x460001)
    delay = ctrl.config.rdy_delay_ns
    m.sched.advance_to(t0 + delay - 1, 1000)
    assert not ctrl.csts & 1
    m.sched.advance_to(t0 + delay, 1000)
    assert ctrl.csts & 1
    ready = next(e for e in m.events if e.kind == "ctrl_state" and e.state == "ready")
    assert ready.ts == t0 + delay


@pytest.mark.parametrize(("knobs", "absent"), [(PROXY, True), ({}, False)])
def test_the_interrupts_panel_knows_a_function_without_msix(knobs, absent):
    from nvmescope.trace.state import fold
    from nvmescope.ui.widgets._interrupts import capability_list_ends_without

    m = Machine(ControllerConfig(**knobs), "bringup")
    m.run()
    assert capability_list_ends_without(fold(m.events), CAP_ID_MSIX) is absent
    # before the driver walked the list, nothing is known
    assert not capability_list_ends_without(fold(m.events[:3]), CAP_ID_MSIX)
