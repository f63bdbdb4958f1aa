"""The PCI function: a 4 KiB configuration space with read-only, writable and
write-1-to-clear bits (PCI Local Bus 3.0 chapter 6, PCI Express Base 4.0 chapter 7).

Identity, from the configuration (``pci_vid``, ``pci_did``, ``pci_ssvid``,
``pci_ssid``, ``revision``). The defaults are not PCI-SIG assigned; they are for
emulation only:

- Vendor ID 4E53h, Device ID 0001h, Subsystem Vendor ID 4E53h, Subsystem ID 0001h
- Class code 01 08 02 (mass storage, Non-Volatile Memory controller, NVM Express)
- Revision 0, header type 0 (single function endpoint)

BAR0/BAR1 form one 64-bit non-prefetchable memory BAR. Sizing works as on real
hardware: write all ones, read back, and the bits that stayed zero give the
size (16 KiB by default: 0xFFFFC004 in BAR0, 0xFFFFFFFF in BAR1). With the knob
``bar0_64bit`` off, BAR0 is a 32-bit memory BAR (0xFFFFC000 after sizing) and BAR1
is unimplemented, as QEMU's x-pci-proxy-dev needs (it registers every BAR dword as
a BAR of its own).

The registers a function does not implement among the BARs (BAR1 of a 32-bit
BAR0, BAR2 to BAR5), the CardBus CIS Pointer (28h) and the Expansion ROM Base
Address (30h) are hardwired to 0 (PCI Local Bus 3.0, 6.2.5): software sizes them
like any BAR, writing all ones (the ROM's address mask FFFFF800h, with or without
its enable bit) and then the value it read, and reads 0 back, which says "not
implemented". Those writes are ordinary enumeration (QEMU's own probe of a proxied
function sizes 10h to 28h; Linux's pci_read_bases sizes the BARs and the ROM), so
they change nothing and are not ``ub_cfg_ro``; any other value written there is.

Capabilities, linked from offset 34h, placed as ``pci_layout`` says:

- ``nvmescope`` (default): Power Management at 40h, MSI-X at 50h, PCI Express
  (endpoint, Gen3 x4 link, FLR) at 60h.
- ``qemu-7.2``: MSI-X at 40h, PCI Express at 80h (version 2, Root Complex
  Integrated Endpoint, MPS 128 B, FLR, End-End TLP prefixes; no link registers
  shown), Power Management at 60h: the bytes of QEMU 7.2's nvme device in
  reference/linux-6.1-on-qemu-7.2/lspci-vvv-before-bind.txt.

There is no MSI capability: a host that does not enable MSI-X gets INTx. With the
knob ``msix`` off there is no MSI-X capability either (the list skips it, its
bytes read 0 and take no write): INTx is the only interrupt.
"""

from __future__ import annotations

import struct

from ..nvme import pci as p
from .config import ControllerConfig


class ConfigSpace:
    """Bytes of configuration space plus the masks that say what a write may change."""

    def __init__(
        self, config: ControllerConfig, bar_size: int, table_offset: int, pba_offset: int
    ) -> None:
        self.config = config
        self.bar_size = bar_size
        self.table_offset = table_offset
        self.pba_offset = pba_offset
        layout = p.CAP_LAYOUTS.get(config.pci_layout, p.CAP_LAYOUTS["nvmescope"])
        #: the MSI-X capability is in the list (knob ``msix``)
        self.has_msix = bool(config.msix)
        #: BAR0 is 64-bit and BAR1 its upper half (knob ``bar0_64bit``)
        self.bar0_64bit = bool(config.bar0_64bit)
        if not self.has_msix:
            layout = layout.without("msix")
        self.layout = layout
        self.layout_name = config.pci_layout if config.pci_layout in p.CAP_LAYOUTS else "nvmescope"
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
        lay = self.layout
        self.data[:] = bytes(p.CONFIG_SPACE_SIZE)
        self.wmask[:] = bytes(p.CONFIG_SPACE_SIZE)
        self.w1cmask[:] = bytes(p.CONFIG_SPACE_SIZE)
        header = p.TYPE0_HEADER.build(
            {
                "vendor_id": cfg.pci_vid & 0xFFFF,
                "device_id": cfg.pci_did & 0xFFFF,
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
                "bar": [p.BAR_MEM_TYPE_64 if self.bar0_64bit else 0, 0, 0, 0, 0, 0],
                "cardbus_cis": 0,
                "subsystem_vendor_id": cfg.pci_ssvid & 0xFFFF,
                "subsystem_id": cfg.pci_ssid & 0xFFFF,
                "expansion_rom": 0,
                "capabilities_ptr": lay.offset(lay.order[0]),
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
                "next": lay.next_of("pm"),
                "pmc": 0x0003,  # version 1.2 of the PM interface; D0 and D3hot only
                "pmcsr": 0x0008,  # No_Soft_Reset: D3hot -> D0 keeps the function's state
                "bse": 0,
                "data": 0,
            }
        )
        self.data[lay.pm : lay.pm + len(pm)] = pm
        if self.has_msix:
            msix = p.MSIX_CAP.build(
                {
                    "cap_id": p.CAP_ID_MSIX,
                    "next": lay.next_of("msix"),
                    "mc": (cfg.msix_vectors - 1) & p.MSIX_MC_TABLE_SIZE,
                    "table": self.table_offset | 0,  # BIR 0
                    "pba": self.pba_offset | 0,
                }
            )
            self.data[lay.msix : lay.msix + len(msix)] = msix
        pcie_fields = {
            "cap_id": p.CAP_ID_PCIE,
            "next": lay.next_of("pcie"),
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
        if self.layout_name == "qemu-7.2":
            # QEMU 7.2: version 2, Root Complex Integrated Endpoint; MPS 128 B, RBE, FLR;
            # a 2.5 GT/s x1 link (L0s) that lspci does not show for this type;
            # Extended TLP Format and End-End TLP Prefixes supported; controls at reset 0
            pcie_fields.update(
                pcie_cap=0x0092,
                dev_cap=(1 << 15) | p.PCIE_DEVCAP_FLR,
                dev_ctl=0,
                link_cap=0x1 | (1 << 4) | (1 << 10),
                link_sta=0x1 | (1 << 4),
                dev_cap2=(1 << 20) | (1 << 21),
                link_cap2=0,
                link_ctl2=0,
            )
        pcie = p.PCIE_CAP.build(pcie_fields)
        self.data[lay.pcie : lay.pcie + len(pcie)] = pcie
        # what the host may change
        self._wm(0x04, 2, p.CMD_MEMORY_SPACE | p.CMD_BUS_MASTER | p.CMD_PARITY_ERROR_RESPONSE
                 | p.CMD_SERR_ENABLE | p.CMD_INTX_DISABLE)  # fmt: skip
        self._w1c(0x06, 2, 0xF900)  # error bits of the status register
        self._wm(0x0C, 1, 0xFF)  # cache line size
        self._wm(0x0D, 1, 0xFF)  # latency timer (no effect on PCIe)
        self._wm(0x10, 4, (~(self.bar_size - 1)) & 0xFFFFFFF0)
        if self.bar0_64bit:
            self._wm(0x14, 4, 0xFFFFFFFF)
        self._wm(0x3C, 1, 0xFF)  # interrupt line
        self._wm(lay.pm + 4, 2, 0x0103)  # power state, PME enable
        self._w1c(lay.pm + 4, 2, 0x8000)  # PME status
        if self.has_msix:
            self._wm(lay.msix + 2, 2, p.MSIX_MC_ENABLE | p.MSIX_MC_FUNCTION_MASK)
        self._wm(lay.pcie + 8, 2, 0xFFFF)  # device control (FLR handled on write)
        self._w1c(lay.pcie + 10, 2, 0x000F)  # device status error bits
        self._wm(lay.pcie + 16, 2, 0x01C3)  # link control: ASPM, RCB, CCC, ES
        self._wm(lay.pcie + 40, 2, 0x041F)  # device control 2
        self._wm(lay.pcie + 48, 2, 0x0FFF)  # link control 2

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

    def register_name(self, offset: int) -> str:
        """The config register of this layout that holds byte ``offset`` (``""`` if none)."""
        name = p.config_register_name(offset, self.layout_name)
        if not self.has_msix and name.startswith("msix."):
            return ""
        return name

    def enumeration_write(self, offset: int, size: int, value: int) -> bool:
        """A write that sizes (or restores) a BAR, CardBus CIS Pointer or Expansion ROM
        register this function hardwires to 0: all ones (the ROM: its address mask, with
        or without the enable bit), or the value the register holds. Ordinary
        enumeration, not undefined behaviour (see the module docstring)."""
        if size != 4 or offset not in p.SIZED_REGISTERS:
            return False
        if any(self.wmask[offset : offset + 4]):
            return False  # implemented: the write goes through the masks
        if value == self.get(offset, 4) or value == 0xFFFFFFFF:
            return True
        return offset == p.EXPANSION_ROM and value & ~p.ROM_ENABLE == p.ROM_ADDRESS_MASK

    @property
    def pcie_offset(self) -> int:
        """Where the PCI Express capability starts in this layout."""
        return self.layout.pcie

    # -- decoded state --------------------------------------------------------------
    @property
    def command(self) -> int:
        return self.get(0x04, 2)

    # the Command register's bits, read from its low byte (bits 7:0) or high byte (15:8):
    # the device asks for bus mastering several times a command
    @property
    def memory_enabled(self) -> bool:
        return bool(self.data[0x04] & p.CMD_MEMORY_SPACE)

    @property
    def bus_master(self) -> bool:
        return bool(self.data[0x04] & p.CMD_BUS_MASTER)

    @property
    def intx_disabled(self) -> bool:
        return bool(self.data[0x05] & (p.CMD_INTX_DISABLE >> 8))

    @property
    def msix_control(self) -> int:
        return self.get(self.layout.msix + 2, 2)

    # MSI-X Enable (bit 15) and Function Mask (bit 14), from Message Control's high byte:
    # asked for at every interrupt
    @property
    def msix_enabled(self) -> bool:
        return bool(self.data[self.layout.msix + 3] & (p.MSIX_MC_ENABLE >> 8))

    @property
    def msix_function_masked(self) -> bool:
        return bool(self.data[self.layout.msix + 3] & (p.MSIX_MC_FUNCTION_MASK >> 8))

    @property
    def bar0_address(self) -> int:
        lo, hi = struct.unpack_from("<II", self.data, 0x10)
        if not self.bar0_64bit:
            hi = 0
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
            "pmcsr": self.get(self.layout.pm + 4, 2),
        }
