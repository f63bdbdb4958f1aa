"""Before it resets the controller, Linux 6.1's nvme_pci_configure_admin_queue reads VS;
from VS 1.1 on, with CAP.NSSRS = 1, it reads CSTS too and clears NSSRO (RW1C) if an NVM
Subsystem Reset set it. On QEMU 7.2 (CAP.NSSRS = 0) no such read happens."""

from __future__ import annotations

from typing import Any

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.config import profile_config
from nvmescope.machine import Machine
from nvmescope.nvme import registers as r

NSSRO = r.CSTS.field("nssro").mask


def _after_vs(m: Machine, since: int = 0) -> list[Any]:
    """The BAR0 accesses from the first VS read after event ``since`` to the CC write."""
    accesses = [e for e in m.events[since:] if e.kind in ("mmio_read", "mmio_write")]
    start = next(i for i, e in enumerate(accesses) if e.addr == 0x08)
    end = next(i for i, e in enumerate(accesses) if i > start and e.addr == 0x14)
    return accesses[start:end]


def test_with_nssrs_the_driver_reads_csts_after_vs() -> None:
    m = Machine(ControllerConfig(nssrs=True), scenario="bringup")
    m.run()
    assert m.scenario.ok
    vs, csts = _after_vs(m)
    assert (vs.kind, csts.kind, csts.addr) == ("mmio_read", "mmio_read", 0x1C)
    note = m.events[csts.seq - 1]
    assert note.step == "read_nssro" and "NSSRO" in note.text and "CAP.NSSRS = 1" in note.text
    # NSSRO is 0 after power-on: nothing to clear
    assert not [e for e in m.events if e.kind == "mmio_write" and e.addr == 0x1C]


def test_without_nssrs_vs_is_followed_by_the_reset_as_on_qemu() -> None:
    m = Machine(profile_config("qemu-7.2"), scenario="bringup")
    m.run()
    assert m.scenario.ok
    assert [e.addr for e in _after_vs(m)] == [0x08]


def test_after_a_subsystem_reset_the_driver_clears_nssro() -> None:
    m = Machine(ControllerConfig(nssrs=True), scenario="bringup")
    m.run()
    api, drv = m.api, m.driver
    api.mmio_write32(0x20, r.NSSR_RESET_VALUE)
    api.run_until_idle()
    assert api.mmio_read32(0x1C) & NSSRO
    before = len(m.events)
    assert drv.run(drv.nvme_reset_ctrl())
    vs, csts, clear = _after_vs(m, before)
    assert csts.value & NSSRO
    assert (clear.kind, clear.addr, clear.value) == ("mmio_write", 0x1C, NSSRO)
    assert m.events[clear.seq - 1].step == "clear_nssro"
    assert not api.mmio_read32(0x1C) & NSSRO
