"""PCI configuration space layouts (PCI Local Bus 3.0, PCI Express Base 4.0), declared once.

- ``TYPE0_HEADER``: the 64-byte type 0 (endpoint) configuration header.
- ``PM_CAP``: the Power Management capability (8 bytes, ID 01h).
- ``MSIX_CAP``: the MSI-X capability (12 bytes, ID 11h).
- ``PCIE_CAP``: the PCI Express capability (60 bytes, ID 10h), endpoint form.
- ``MSIX_TABLE_ENTRY``: one MSI-X table entry in a BAR (16 bytes).

``CAP_LAYOUTS`` says where the emulator places the capabilities, by layout name
(``nvmescope``, the default, or ``qemu-7.2``). ``config_registers(layout)`` names
every register of the header and of the capabilities at those offsets
(``CONFIG_REGISTERS`` for the default layout), so a config access can be shown as
``command`` or ``msix.mc`` instead of a number.
"""

from __future__ import annotations

from dataclasses import dataclass

import construct as cs

CONFIG_SPACE_SIZE = 4096

# Capability IDs
CAP_ID_PM = 0x01
CAP_ID_MSI = 0x05
CAP_ID_PCIE = 0x10
CAP_ID_MSIX = 0x11

# Command register bits
CMD_IO_SPACE = 1 << 0
CMD_MEMORY_SPACE = 1 << 1
CMD_BUS_MASTER = 1 << 2
CMD_PARITY_ERROR_RESPONSE = 1 << 6
CMD_SERR_ENABLE = 1 << 8
CMD_INTX_DISABLE = 1 << 10

# Status register bits
STATUS_INTERRUPT = 1 << 3
STATUS_CAP_LIST = 1 << 4

# BAR bits (memory BAR)
BAR_MEM_TYPE_64 = 0b10 << 1
BAR_PREFETCHABLE = 1 << 3

#: the registers software sizes by writing all ones and reading back: BAR0 to BAR5, the
#: CardBus CIS Pointer (which QEMU's x-pci-proxy-dev sizes as a seventh BAR) and the
#: Expansion ROM Base Address
EXPANSION_ROM = 0x30
SIZED_REGISTERS = frozenset({0x10, 0x14, 0x18, 0x1C, 0x20, 0x24, 0x28, EXPANSION_ROM})
#: Expansion ROM Base Address: bits 31:11 the address, bit 0 the enable bit
ROM_ADDRESS_MASK = 0xFFFFF800
ROM_ENABLE = 1 << 0

# MSI-X Message Control bits
MSIX_MC_TABLE_SIZE = 0x07FF
MSIX_MC_FUNCTION_MASK = 1 << 14
MSIX_MC_ENABLE = 1 << 15
MSIX_ENTRY_SIZE = 16
MSIX_VECTOR_CTRL_MASK = 1 << 0

# PCI Express Device Control: Initiate Function Level Reset
PCIE_DEVCTL_BCR_FLR = 1 << 15
PCIE_DEVCAP_FLR = 1 << 28

TYPE0_HEADER = cs.Struct(
    "vendor_id" / cs.Int16ul,
    "device_id" / cs.Int16ul,
    "command" / cs.Int16ul,
    "status" / cs.Int16ul,
    "revision_id" / cs.Int8ul,
    "prog_if" / cs.Int8ul,
    "subclass" / cs.Int8ul,
    "class_code" / cs.Int8ul,
    "cache_line_size" / cs.Int8ul,
    "latency_timer" / cs.Int8ul,
    "header_type" / cs.Int8ul,
    "bist" / cs.Int8ul,
    "bar" / cs.Array(6, cs.Int32ul),
    "cardbus_cis" / cs.Int32ul,
    "subsystem_vendor_id" / cs.Int16ul,
    "subsystem_id" / cs.Int16ul,
    "expansion_rom" / cs.Int32ul,
    "capabilities_ptr" / cs.Int8ul,
    "reserved" / cs.Bytes(7),
    "interrupt_line" / cs.Int8ul,
    "interrupt_pin" / cs.Int8ul,
    "min_gnt" / cs.Int8ul,
    "max_lat" / cs.Int8ul,
)

PM_CAP = cs.Struct(
    "cap_id" / cs.Int8ul,
    "next" / cs.Int8ul,
    "pmc" / cs.Int16ul,  # version 2:0, PME clock, DSI, aux current, D1/D2 support, PME support
    "pmcsr" / cs.Int16ul,  # power state 1:0, no soft reset 3, PME enable 8, PME status 15
    "bse" / cs.Int8ul,
    "data" / cs.Int8ul,
)

MSIX_CAP = cs.Struct(
    "cap_id" / cs.Int8ul,
    "next" / cs.Int8ul,
    "mc" / cs.Int16ul,  # table size 10:0 (N-1), function mask 14, enable 15
    "table" / cs.Int32ul,  # BIR 2:0, table offset 31:3
    "pba" / cs.Int32ul,  # BIR 2:0, PBA offset 31:3
)

PCIE_CAP = cs.Struct(
    "cap_id" / cs.Int8ul,
    "next" / cs.Int8ul,
    "pcie_cap" / cs.Int16ul,  # version 3:0, device/port type 7:4 (0 = PCIe endpoint)
    "dev_cap" / cs.Int32ul,
    "dev_ctl" / cs.Int16ul,
    "dev_sta" / cs.Int16ul,
    "link_cap" / cs.Int32ul,  # max speed 3:0, max width 9:4, port number 31:24
    "link_ctl" / cs.Int16ul,
    "link_sta" / cs.Int16ul,  # current speed 3:0, negotiated width 9:4
    "slot_cap" / cs.Int32ul,
    "slot_ctl" / cs.Int16ul,
    "slot_sta" / cs.Int16ul,
    "root_ctl" / cs.Int16ul,
    "root_cap" / cs.Int16ul,
    "root_sta" / cs.Int32ul,
    "dev_cap2" / cs.Int32ul,
    "dev_ctl2" / cs.Int16ul,
    "dev_sta2" / cs.Int16ul,
    "link_cap2" / cs.Int32ul,  # supported link speeds vector 7:1
    "link_ctl2" / cs.Int16ul,
    "link_sta2" / cs.Int16ul,
    "slot_cap2" / cs.Int32ul,
    "slot_ctl2" / cs.Int16ul,
    "slot_sta2" / cs.Int16ul,
)

MSIX_TABLE_ENTRY = cs.Struct(
    "msg_addr_lo" / cs.Int32ul,
    "msg_addr_hi" / cs.Int32ul,
    "msg_data" / cs.Int32ul,
    "vector_ctrl" / cs.Int32ul,  # bit 0: mask
)

assert TYPE0_HEADER.sizeof() == 64
assert PM_CAP.sizeof() == 8
assert MSIX_CAP.sizeof() == 12
assert PCIE_CAP.sizeof() == 60
assert MSIX_TABLE_ENTRY.sizeof() == MSIX_ENTRY_SIZE

#: Where the emulator places its capabilities in configuration space (the default
#: layout, ``nvmescope``; see ``CAP_LAYOUTS`` for the others).
PM_CAP_OFFSET = 0x40
MSIX_CAP_OFFSET = 0x50
PCIE_CAP_OFFSET = 0x60


@dataclass(frozen=True)
class CapLayout:
    """Where each capability sits, and the order of the list (capabilities pointer first)."""

    pm: int
    msix: int
    pcie: int
    order: tuple[str, ...]

    def offset(self, cap: str) -> int:
        return {"pm": self.pm, "msix": self.msix, "pcie": self.pcie}[cap]

    def without(self, cap: str) -> CapLayout:
        """This layout with ``cap`` left out of the list (its bytes stay zero)."""
        return CapLayout(self.pm, self.msix, self.pcie, tuple(c for c in self.order if c != cap))

    def next_of(self, cap: str) -> int:
        """The Next Capability Pointer of ``cap``: the one after it in the list, or 0."""
        i = self.order.index(cap)
        return self.offset(self.order[i + 1]) if i + 1 < len(self.order) else 0


#: The capability layouts by name (``ControllerConfig.pci_layout``):
#: ``nvmescope`` is ours; ``qemu-7.2`` is QEMU 7.2's nvme device, whose list runs
#: MSI-X (40h), PCI Express (80h), Power Management (60h), as lspci shows it in
#: reference/linux-6.1-on-qemu-7.2/lspci-vvv-before-bind.txt.
CAP_LAYOUTS: dict[str, CapLayout] = {
    "nvmescope": CapLayout(
        pm=PM_CAP_OFFSET, msix=MSIX_CAP_OFFSET, pcie=PCIE_CAP_OFFSET, order=("pm", "msix", "pcie")
    ),
    "qemu-7.2": CapLayout(pm=0x60, msix=0x40, pcie=0x80, order=("msix", "pcie", "pm")),
}


def _fields(prefix: str, base: int, layout: cs.Struct) -> list[tuple[int, int, str]]:
    """(offset, size, name) of each field of ``layout`` placed at ``base``."""
    out: list[tuple[int, int, str]] = []
    offset = base
    for sub in layout.subcons:
        size = sub.sizeof()
        name = sub.name or "reserved"
        if name == "bar":
            for i in range(6):
                out.append((offset + 4 * i, 4, f"bar{i}"))
        else:
            out.append((offset, size, f"{prefix}{name}"))
        offset += size
    return out


def config_registers(layout: str = "nvmescope") -> tuple[tuple[int, int, str], ...]:
    """(offset, size, name) of every named config register of ``layout``, in offset order."""
    where = CAP_LAYOUTS[layout]
    fields = (
        _fields("", 0, TYPE0_HEADER)
        + _fields("pm.", where.pm, PM_CAP)
        + _fields("msix.", where.msix, MSIX_CAP)
        + _fields("pcie.", where.pcie, PCIE_CAP)
    )
    return tuple(sorted(fields))


#: (offset, size, name) of every named config register, in offset order (default layout).
CONFIG_REGISTERS: tuple[tuple[int, int, str], ...] = config_registers()
_BY_LAYOUT = {name: config_registers(name) for name in CAP_LAYOUTS}


def config_register_name(offset: int, layout: str = "nvmescope") -> str:
    """The register of ``layout`` that contains config byte ``offset`` (``""`` if none)."""
    for start, size, name in _BY_LAYOUT.get(layout, CONFIG_REGISTERS):
        if start <= offset < start + size:
            return name
    return ""
