"""The PCI function: a 4 KiB configuration space with read-only, writable and
write-1-to-clear bits (PCI Local Bus 3.0 chapter 6, PCI Express Base 4.0 chapter 7).

Identity (none of these are PCI-SIG assigned; they are for emulation only):

- Vendor ID 4E53h, Device ID 0001h, Subsystem Vendor ID 4E53h, Subsystem ID 0001h
- Class code 01 08 02 (mass storage, Non-Volatile Memory controller, NVM Express)
- Revision 0, header type 0 (single function endpoint)

BAR0/BAR1 form one 64-bit non-prefetchable memory BAR. Sizing works as on real
hardware: write all ones, read back, and the bits that stayed zero give the
size (16 KiB by default: 0xFFFFC004 in BAR0, 0xFFFFFFFF in BAR1).

Capabilities, linked from offset 34h: Power Management at 40h, MSI-X at 50h,
PCI Express (endpoint, Gen3 x4 link, FLR) at 60h. There is no MSI capability:
a host that does not enable MSI-X gets INTx.
"""

from __future__ import annotations

import struct

from ..nvme import pci as p
from .config import DEVICE_ID, SUBSYSTEM_ID, SUBSYSTEM_VENDOR_ID, VENDOR_ID, ControllerConfig


class ConfigSpace:
    """Bytes of configuration space plus the masks that say what a write may change."""

    def __init__(
        self, config: ControllerConfig, bar_size: int, table_offset: int, pba_offset: int
    ) -> None:
        self.config = config
        self.bar_size = bar_size
        self.table_offset = table_offset
        self.pba_offset = pba_offset
        self.data = bytearray(p.CONFIG_SPACE_SIZE)
        self.wmask = bytearray(p.CONFIG_SPACE_SIZE)
        self.w1cmask = bytearray(p.CONFIG_SPACE_SIZE)
        self.reset()

    # -- helpers --------------------------------------------------------------
    def _put(self, offset: int, size: int, value: int) -> None:
        self.data[offset : offset + size] = value.to_bytes(size, "little")

    def _wm(self, offset: int, size: int, mask: int) -> None:
        self.wmask[offset : offset + size] = mask.to_bytes(size, "little")

    def _w1c(self, offset: int, size: int, mask: int) -> None:
        self.w1cmask[offset : offset + size] = mask.to_bytes(size, "little")

    def get(self, offset: int, size: int) -> int:
        return int.from_bytes(self.data[offset : offset + size], "little")

    def reset(self) -> None:
        """Conventional reset / FLR: every register to its power-on value."""
        cfg = self.config
        self.data[:] = bytes(p.CONFIG_SPACE_SIZE)
        self.wmask[:] = bytes(p.CONFIG_SPACE_SIZE)
        self.w1cmask[:] = bytes(p.CONFIG_SPACE_SIZE)
        header = p.TYPE0_HEADER.build(
            {
                "vendor_id": VENDOR_ID,
                "device_id": DEVICE_ID,
                "command": 0,
                "status": p.STATUS_CAP_LIST,
                "revision_id": cfg.revision & 0xFF,
                "prog_if": 0x02,
                "subclass": 0x08,
                "class_code": 0x01,
                "cache_line_size": 0,
                "latency_timer": 0,
                "header_type": 0,
                "bist": 0,
                "bar": [p.BAR_MEM_TYPE_64, 0, 0, 0, 0, 0],
                "cardbus_cis": 0,
                "subsystem_vendor_id": SUBSYSTEM_VENDOR_ID,
                "subsystem_id": SUBSYSTEM_ID,
                "expansion_rom": 0,
                "capabilities_ptr": p.PM_CAP_OFFSET,
                "reserved": bytes(7),
                "interrupt_line": 0,
                "interrupt_pin": 1,  # INTA#
                "min_gnt": 0,
                "max_lat": 0,
            }
        )
        self.data[0:64] = header
        pm = p.PM_CAP.build(
            {
                "cap_id": p.CAP_ID_PM,
                "next": p.MSIX_CAP_OFFSET,
                "pmc": 0x0003,  # version 1.2 of the PM interface; D0 and D3hot only
                "pmcsr": 0x0008,  # No_Soft_Reset: D3hot -> D0 keeps the function's state
                "bse": 0,
                "data": 0,
            }
        )
        self.data[p.PM_CAP_OFFSET : p.PM_CAP_OFFSET + len(pm)] = pm
        msix = p.MSIX_CAP.build(
            {
                "cap_id": p.CAP_ID_MSIX,
                "next": p.PCIE_CAP_OFFSET,
                "mc": (cfg.msix_vectors - 1) & p.MSIX_MC_TABLE_SIZE,
                "table": self.table_offset | 0,  # BIR 0
                "pba": self.pba_offset | 0,
            }
        )
        self.data[p.MSIX_CAP_OFFSET : p.MSIX_CAP_OFFSET + len(msix)] = msix
        pcie = p.PCIE_CAP.build(
            {
                "cap_id": p.CAP_ID_PCIE,
                "next": 0,
                "pcie_cap": 0x0002,  # capability version 2, PCI Express endpoint
                # max payload 256 B, extended tag, L0s/L1 acceptable latency, role-based
                # error reporting, function level reset
                "dev_cap": 0x1 | (1 << 5) | (0x7 << 6) | (0x7 << 9) | (1 << 15) | p.PCIE_DEVCAP_FLR,
                "dev_ctl": 0x2810,  # relaxed ordering, MPS 128 B, MRRS 512 B (reset default)
                "dev_sta": 0,
                "link_cap": 0x3 | (4 << 4),  # 8 GT/s, x4, port 0
                "link_ctl": 0,
                "link_sta": 0x3 | (4 << 4),  # trained at 8 GT/s, x4
                "slot_cap": 0,
                "slot_ctl": 0,
                "slot_sta": 0,
                "root_ctl": 0,
                "root_cap": 0,
                "root_sta": 0,
                "dev_cap2": 0x0000001F,  # completion timeout ranges A-D, disable supported
                "dev_ctl2": 0,
                "dev_sta2": 0,
                "link_cap2": 0x0E,  # 2.5, 5 and 8 GT/s supported
                "link_ctl2": 0x3,
                "link_sta2": 0,
                "slot_cap2": 0,
                "slot_ctl2": 0,
                "slot_sta2": 0,
            }
        )
        self.data[p.PCIE_CAP_OFFSET : p.PCIE_CAP_OFFSET + len(pcie)] = pcie
        # what the host may change
        self._wm(0x04, 2, p.CMD_MEMORY_SPACE | p.CMD_BUS_MASTER | p.CMD_PARITY_ERROR_RESPONSE
                 | p.CMD_SERR_ENABLE | p.CMD_INTX_DISABLE)  # fmt: skip
        self._w1c(0x06, 2, 0xF900)  # error bits of the status register
        self._wm(0x0C, 1, 0xFF)  # cache line size
        self._wm(0x0D, 1, 0xFF)  # latency timer (no effect on PCIe)
        self._wm(0x10, 4, (~(self.bar_size - 1)) & 0xFFFFFFF0)
        self._wm(0x14, 4, 0xFFFFFFFF)
        self._wm(0x3C, 1, 0xFF)  # interrupt line
        self._wm(p.PM_CAP_OFFSET + 4, 2, 0x0103)  # power state, PME enable
        self._w1c(p.PM_CAP_OFFSET + 4, 2, 0x8000)  # PME status
        self._wm(p.MSIX_CAP_OFFSET + 2, 2, p.MSIX_MC_ENABLE | p.MSIX_MC_FUNCTION_MASK)
        self._wm(p.PCIE_CAP_OFFSET + 8, 2, 0xFFFF)  # device control (FLR handled on write)
        self._w1c(p.PCIE_CAP_OFFSET + 10, 2, 0x000F)  # device status error bits
        self._wm(p.PCIE_CAP_OFFSET + 16, 2, 0x01C3)  # link control: ASPM, RCB, CCC, ES
        self._wm(p.PCIE_CAP_OFFSET + 40, 2, 0x041F)  # device control 2
        self._wm(p.PCIE_CAP_OFFSET + 48, 2, 0x0FFF)  # link control 2

    # -- accesses ----------------------------------------------------------------
    @staticmethod
    def access_ok(offset: int, size: int) -> bool:
        """Config accesses are 1, 2 or 4 bytes, naturally aligned, inside 4 KiB."""
        return (
            size in (1, 2, 4)
            and offset % size == 0
            and 0 <= offset
            and offset + size <= p.CONFIG_SPACE_SIZE
        )

    def read(self, offset: int, size: int) -> int:
        return self.get(offset, size)

    def write(self, offset: int, size: int, value: int) -> tuple[int, int, bool]:
        """Apply a write through the masks. Returns (old, new, any_bit_writable)."""
        old = self.get(offset, size)
        raw = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        writable = False
        for i in range(size):
            a = offset + i
            wm, w1c = self.wmask[a], self.w1cmask[a]
            if wm or w1c:
                writable = True
            b = (self.data[a] & ~wm) | (raw[i] & wm)
            b &= ~(raw[i] & w1c)
            self.data[a] = b & 0xFF
        return old, self.get(offset, size), writable

    # -- decoded state --------------------------------------------------------------
    @property
    def command(self) -> int:
        return self.get(0x04, 2)

    @property
    def memory_enabled(self) -> bool:
        return bool(self.command & p.CMD_MEMORY_SPACE)

    @property
    def bus_master(self) -> bool:
        return bool(self.command & p.CMD_BUS_MASTER)

    @property
    def intx_disabled(self) -> bool:
        return bool(self.command & p.CMD_INTX_DISABLE)

    @property
    def msix_control(self) -> int:
        return self.get(p.MSIX_CAP_OFFSET + 2, 2)

    @property
    def msix_enabled(self) -> bool:
        return bool(self.msix_control & p.MSIX_MC_ENABLE)

    @property
    def msix_function_masked(self) -> bool:
        return bool(self.msix_control & p.MSIX_MC_FUNCTION_MASK)

    @property
    def bar0_address(self) -> int:
        lo, hi = struct.unpack_from("<II", self.data, 0x10)
        return ((hi << 32) | lo) & ~0xF

    def set_interrupt_status(self, asserted: bool) -> None:
        status = self.get(0x06, 2)
        status = status | p.STATUS_INTERRUPT if asserted else status & ~p.STATUS_INTERRUPT
        self._put(0x06, 2, status)

    def snapshot(self) -> dict[str, int | bool]:
        return {
            "vendor_id": self.get(0, 2),
            "device_id": self.get(2, 2),
            "command": self.command,
            "status": self.get(0x06, 2),
            "bar0": self.get(0x10, 4),
            "bar1": self.get(0x14, 4),
            "bar0_address": self.bar0_address,
            "memory_enabled": self.memory_enabled,
            "bus_master": self.bus_master,
            "intx_disabled": self.intx_disabled,
            "msix_control": self.msix_control,
            "msix_enabled": self.msix_enabled,
            "msix_function_masked": self.msix_function_masked,
            "interrupt_line": self.get(0x3C, 1),
            "pmcsr": self.get(p.PM_CAP_OFFSET + 4, 2),
        }
