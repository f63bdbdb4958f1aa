"""The PCI function: identity, BAR sizing, capabilities, command register."""

from __future__ import annotations

from emuhost import Rig

from nvmescope.nvme.pci import CAP_ID_MSIX, CAP_ID_PCIE, CAP_ID_PM


def test_identity_registers_read_back():
    c = Rig().ctrl
    assert c.config_read(0x00, 2) == 0x4E53
    assert c.config_read(0x02, 2) == 0x0001
    assert c.config_read(0x2C, 2) == 0x4E53
    assert c.config_read(0x2E, 2) == 0x0001
    assert c.config_read(0x08, 4) == 0x01080200  # class 01 08 02, revision 0
    assert c.config_read(0x0E, 1) == 0  # header type 0


def test_bar0_sizing_protocol_gives_16k_64bit():
    c = Rig().ctrl
    assert c.config_read(0x10, 4) & 0x7 == 0x4  # 64-bit memory, not prefetchable
    c.config_write(0x10, 4, 0xFFFFFFFF)
    c.config_write(0x14, 4, 0xFFFFFFFF)
    lo, hi = c.config_read(0x10, 4), c.config_read(0x14, 4)
    size = (~(((hi << 32) | lo) & ~0xF) & 0xFFFFFFFFFFFFFFFF) + 1
    assert size == 16 * 1024 == c.bar_size
    c.config_write(0x10, 4, 0xFEB00000)
    c.config_write(0x14, 4, 0x1)
    assert c.bar0_address == 0x1_FEB00000


def test_capability_list_walks_pm_msix_pcie():
    c = Rig().ctrl
    assert c.config_read(0x06, 2) & 0x10
    ptr, ids = c.config_read(0x34, 1), []
    while ptr:
        ids.append(c.config_read(ptr, 1))
        ptr = c.config_read(ptr + 1, 1)
    assert ids == [CAP_ID_PM, CAP_ID_MSIX, CAP_ID_PCIE]
    mc = c.config_read(0x52, 2)
    assert mc & 0x7FF == c.config.msix_vectors - 1
    assert c.config_read(0x54, 4) == 0x2000 and c.config_read(0x58, 4) == 0x3000
    assert c.config_read(0x62, 2) & 0xF0 == 0  # PCI Express endpoint


def test_read_only_config_register_write_is_ignored_with_ub():
    rig = Rig()
    rig.ctrl.config_write(0x00, 2, 0x1234)
    rig.run()
    assert rig.ctrl.config_read(0x00, 2) == 0x4E53
    assert "ub_cfg_ro" in rig.kinds()


def test_command_register_keeps_only_writable_bits():
    c = Rig().ctrl
    c.config_write(0x04, 2, 0xFFFF)
    assert c.config_read(0x04, 2) == 0x0546


def test_misaligned_config_access_is_ub():
    rig = Rig()
    assert rig.ctrl.config_read(0x01, 2) == 0xFFFF
    rig.run()
    assert rig.kinds() == ["config_read", "ub_cfg_access"]


def test_memory_space_off_bar0_reads_all_ones_and_drops_writes():
    rig = Rig()
    c = rig.ctrl
    assert c.mmio_read(0x08, 4) == 0xFFFFFFFF
    rig.run()
    c.mmio_write(0x24, 4, 0x1F001F)
    rig.run()
    assert rig.kinds() == ["mmio_read", "ub_mmio_disabled", "mmio_write", "ub_mmio_disabled"]
    c.config_write(0x04, 2, 0x2)
    assert c.mmio_read(0x08, 4) == 0x00010400
    assert c.mmio_read(0x24, 4) == 0


def test_function_level_reset_restores_config_space():
    rig = Rig()
    rig.enable()
    rig.ctrl.config_write(0x68, 2, 0x8000)
    rig.run()
    assert rig.ctrl.config_read(0x04, 2) == 0
    assert rig.ctrl.csts == 0
    assert any(e.kind == "ctrl_state" and e.state == "flr" for e in rig.events)
