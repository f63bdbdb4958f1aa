"""Controller registers and state machine: reset values, RDY, CFS, reset, shutdown, NSSR."""

from __future__ import annotations

import pytest
from emuhost import Rig

from nvmescope.nvme import registers as r


def test_register_reset_values():
    rig = Rig()
    rig.pci_setup()
    c = rig.ctrl
    cap = c.mmio_read(0x00, 8)
    assert r.CAP.get(cap, "mqes") == 2047
    assert r.CAP.get(cap, "cqr") == 1
    assert r.CAP.get(cap, "nssrs") == 1
    assert r.CAP.get(cap, "css") == 0x41
    assert r.CAP.get(cap, "mpsmin") == 0 and r.CAP.get(cap, "mpsmax") == 4
    assert cap == c.mmio_read(0x00, 4) | (c.mmio_read(0x04, 4) << 32)
    assert c.mmio_read(0x08, 4) == 0x00010400
    assert c.mmio_read(0x14, 4) == 0 and c.mmio_read(0x1C, 4) == 0


def test_bring_up_reaches_ready_after_delay():
    rig = Rig()
    rig.enable()
    assert rig.ctrl.csts & 1
    last = rig.events[-1]
    assert last.kind == "ctrl_state" and last.state == "ready"
    write_cc = next(e for e in rig.events if e.kind == "mmio_write" and e.reg == "cc")
    assert last.ts - write_cc.ts == rig.ctrl.config.rdy_delay_ns


def test_read_only_and_reserved_bits_give_ub():
    rig = Rig()
    rig.pci_setup()
    c = rig.ctrl
    c.mmio_write(0x08, 4, 0)
    c.mmio_write(0x24, 4, 0xFFFFFFFF)
    rig.run()
    assert c.mmio_read(0x08, 4) == 0x00010400
    assert c.mmio_read(0x24, 4) == 0x0FFF0FFF
    assert "ub_mmio_ro" in rig.kinds() and "ub_mmio_reserved" in rig.kinds()


def test_64bit_register_as_two_halves():
    rig = Rig()
    rig.pci_setup()
    c = rig.ctrl
    c.mmio_write(0x28, 4, 0x12345000)
    c.mmio_write(0x2C, 4, 0x1)
    assert c.mmio_read(0x28, 8) == 0x1_12345000
    names = [e.reg for e in rig.events if e.kind == "mmio_write"][-2:]
    assert names == ["asq.lo", "asq.hi"]


@pytest.mark.parametrize(
    ("aqa", "asq", "cc", "why"),
    [
        (0x1F0000, 0x100000, 0x460061, "ASQS"),
        (0x00001F, 0x100000, 0x460061, "ACQS"),
        (0x1F001F, 0x101000, 0x460061 | (1 << 7), "ASQ"),  # 8 KiB pages, 4 KiB aligned ASQ
        (0x1F001F, 0x100000, 0x460061 | (5 << 7), "MPS"),
        (0x1F001F, 0x100000, 0x460011, "CSS"),
        (0x1F001F, 0x100000, 0x460061 | (1 << 11), "AMS"),
        # entry sizes outside Identify SQES/CQES (6, 4), as QEMU's nvme_start_ctrl refuses
        (0x1F001F, 0x100000, 0x450061, "IOSQES"),
        (0x1F001F, 0x100000, 0x000061, "IOSQES"),
        (0x1F001F, 0x100000, 0x560061, "IOCQES"),
    ],
)
def test_misprogrammed_enable_sets_cfs(aqa, asq, cc, why):
    rig = Rig()
    rig.pci_setup()
    c = rig.ctrl
    c.mmio_write(0x24, 4, aqa)
    c.mmio_write(0x28, 8, asq)
    c.mmio_write(0x30, 8, 0x200000)
    c.mmio_write(0x14, 4, cc)
    rig.run()
    assert c.csts & 0x2 and not c.csts & 1
    assert rig.kinds()[-2:] == ["ctrl_state", "err_startfail"]
    assert why.lower() in rig.events[-1].detail.lower()


def test_disable_resets_and_clears_ready():
    rig = Rig()
    rig.enable()
    rig.create_io_pair()
    rig.ctrl.mmio_write(0x14, 4, 0x460060)
    rig.run()
    assert rig.ctrl.csts & 1 == 0
    assert rig.ctrl.sqs == {} and rig.ctrl.cqs == {}
    assert rig.events[-1].kind in ("ctrl_state", "irq_msix", "irq_intx")
    assert any(e.kind == "ctrl_state" and e.state == "disabled" for e in rig.events)


def test_shutdown_goes_occurring_then_complete():
    rig = Rig()
    rig.enable()
    rig.ctrl.mmio_write(0x14, 4, 0x464061)
    rig.run()
    states = [e.state for e in rig.events if e.kind == "ctrl_state"]
    assert states[-2:] == ["shutdown_occurring", "shutdown_complete"]
    assert r.CSTS.get(rig.ctrl.csts, "shst") == r.SHST_COMPLETE


def test_nssr_sets_nssro_and_resets():
    rig = Rig()
    rig.enable()
    rig.ctrl.mmio_write(0x20, 4, r.NSSR_RESET_VALUE)
    rig.run()
    assert rig.ctrl.csts == r.CSTS.field("nssro").mask
    assert rig.ctrl.cc == 0
    rig.ctrl.mmio_write(0x1C, 4, r.CSTS.field("nssro").mask)  # RW1C
    assert rig.ctrl.csts == 0


def test_intms_intmc_only_without_msix():
    rig = Rig()
    rig.pci_setup(msix=False)
    c = rig.ctrl
    c.mmio_write(0x0C, 4, 0x5)
    assert c.mmio_read(0x0C, 4) == 0x5
    c.mmio_write(0x10, 4, 0x1)
    assert c.mmio_read(0x10, 4) == 0x4
    rig2 = Rig()
    rig2.pci_setup(msix=True)
    rig2.ctrl.mmio_write(0x0C, 4, 1)
    rig2.run()
    assert rig2.ctrl.intms == 0 and "ub_intm_with_msix" in rig2.kinds()


@pytest.mark.parametrize(
    ("offset", "size", "kind"),
    [
        (0x15, 4, "ub_mmio_misaligned"),
        (0x14, 2, "ub_mmio_size"),
        (0x8000, 4, "ub_mmio_out_of_range"),
    ],
)
def test_bad_bar0_accesses_are_ignored(offset, size, kind):
    rig = Rig()
    rig.pci_setup()
    assert rig.ctrl.mmio_read(offset, size) == 0
    rig.run()
    rig.ctrl.mmio_write(offset, size, 1)
    rig.run()
    assert rig.kinds()[-4:] == ["mmio_read", kind, "mmio_write", kind]
    assert rig.ctrl.cc == 0


def test_cap_mqes_does_not_limit_the_admin_queue():
    # NVMe 1.4 3.1.1: over PCIe, MQES applies to the I/O queues the host creates; the
    # admin queues may have up to 4096 entries. Linux's 32-entry admin queue must start
    # on a controller whose I/O queues may have only 16 entries.
    from nvmescope.emulator import ControllerConfig
    from nvmescope.machine import Machine

    m = Machine(ControllerConfig(mqes=15), scenario="bringup")
    m.run()
    assert m.scenario.ok
    assert not [e for e in m.events if e.kind == "err_startfail"]
    created = [e for e in m.events if e.kind == "queue_created"]
    assert created and all(e.qsize <= 16 for e in created)


def test_admin_only_css_enables_with_the_io_entry_sizes_left_zero():
    # with CC.CSS 111b no I/O command set uses CC.IOSQES/IOCQES: a host may leave them 0
    from nvmescope.emulator import ControllerConfig

    rig = Rig(ControllerConfig(css=0xC1))
    rig.enable(cc=0x000071)  # CSS 111b, EN, IOSQES = IOCQES = 0
    assert rig.ctrl.csts & 1 and not rig.ctrl.csts & 2
