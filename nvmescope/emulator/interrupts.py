"""MSI-X table and Pending Bit Array, and the INTx mask (NVMe 1.4 section 7.5).

MSI-X (PCI Local Bus 3.0 section 6.8.2): the table lives in BAR0 at
:data:`MSIX_TABLE_OFFSET` and the PBA at :data:`MSIX_PBA_OFFSET` (both 4 KiB
aligned after the doorbells). Each entry holds a message address, message data
and a vector control dword whose bit 0 masks the vector. Every vector is masked
after reset. Raising a masked vector (or any vector while the function mask in
the MSI-X capability is set) sets its pending bit instead of sending the
message; unmasking a vector whose pending bit is set sends the message and
clears the bit. A message is a 4-byte memory write of the message data to the
message address, done through the host port like any DMA.

INTx (pin-based, used when MSI-X is disabled): the pin is level-triggered and
asserted while any completion queue with interrupts enabled holds entries the
host has not consumed, unless INTMS masks the interrupt (bit 0: in pin mode all
completion queues share vector 0).

Interrupt Coalescing (Feature 08h) is accepted and stored but does not
aggregate: every completion raises its vector at once.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..nvme.pci import MSIX_ENTRY_SIZE, MSIX_VECTOR_CTRL_MASK

#: BAR0 layout of MSI-X structures (for the default configuration; see bar_layout()).
MSIX_TABLE_OFFSET = 0x2000
MSIX_PBA_OFFSET = 0x3000


@dataclass
class MsixVector:
    addr_lo: int = 0
    addr_hi: int = 0
    data: int = 0
    ctrl: int = MSIX_VECTOR_CTRL_MASK

    @property
    def address(self) -> int:
        return (self.addr_hi << 32) | self.addr_lo

    @property
    def masked(self) -> bool:
        return bool(self.ctrl & MSIX_VECTOR_CTRL_MASK)


class MsixTable:
    """The MSI-X table entries and pending bits of one function."""

    def __init__(self, vectors: int, in_bar: bool = True) -> None:
        self.size = vectors
        #: the table and PBA decode in BAR0; False when the function has no MSI-X
        #: capability (knob ``msix`` off): their offsets then answer as unused BAR0
        self.in_bar = in_bar
        self.vectors = [MsixVector() for _ in range(vectors)]
        self.pending = [False] * vectors

    def reset(self) -> None:
        self.vectors = [MsixVector() for _ in range(self.size)]
        self.pending = [False] * self.size

    # -- the table as 32-bit words ----------------------------------------------
    def read32(self, offset: int) -> int:
        """Read the dword at ``offset`` bytes into the table."""
        index, word = divmod(offset, MSIX_ENTRY_SIZE)
        if not 0 <= index < self.size:
            return 0
        v = self.vectors[index]
        return (v.addr_lo, v.addr_hi, v.data, v.ctrl)[word // 4]

    def write32(self, offset: int, value: int) -> tuple[str, int, int]:
        """Write the dword at ``offset``; returns (field name, old, new)."""
        index, word = divmod(offset, MSIX_ENTRY_SIZE)
        if not 0 <= index < self.size:
            return ("", 0, 0)
        v = self.vectors[index]
        value &= 0xFFFFFFFF
        if word == 0:
            old, v.addr_lo = v.addr_lo, value & ~0x3  # dword aligned: bits 1:0 read 0
            return (f"msix[{index}].addr_lo", old, v.addr_lo)
        if word == 4:
            old, v.addr_hi = v.addr_hi, value
            return (f"msix[{index}].addr_hi", old, v.addr_hi)
        if word == 8:
            old, v.data = v.data, value
            return (f"msix[{index}].data", old, v.data)
        old, v.ctrl = v.ctrl, value & MSIX_VECTOR_CTRL_MASK
        return (f"msix[{index}].ctrl", old, v.ctrl)

    def pba_read32(self, offset: int) -> int:
        """Read the dword at ``offset`` bytes into the Pending Bit Array."""
        out = 0
        base = offset * 8
        for bit in range(32):
            vec = base + bit
            if vec < self.size and self.pending[vec]:
                out |= 1 << bit
        return out

    @property
    def table_bytes(self) -> int:
        """The bytes of BAR0 the table decodes (0 without the MSI-X capability)."""
        return self.size * MSIX_ENTRY_SIZE if self.in_bar else 0

    @property
    def pba_bytes(self) -> int:
        """The PBA is made of qwords: one bit per vector, rounded up to 8 bytes (0 without
        the MSI-X capability)."""
        return ((self.size + 63) // 64) * 8 if self.in_bar else 0

    def snapshot(self) -> list[dict[str, int | bool]]:
        return [
            {
                "vector": i,
                "address": v.address,
                "data": v.data,
                "masked": v.masked,
                "pending": self.pending[i],
            }
            for i, v in enumerate(self.vectors)
        ]


def msix_message(vector: MsixVector) -> bytes:
    """The 4 bytes an MSI-X message writes: the message data, little endian."""
    return struct.pack("<I", vector.data & 0xFFFFFFFF)


def bar_layout(queue_pairs: int, dstrd: int, msix_vectors: int) -> tuple[int, int, int]:
    """(MSI-X table offset, PBA offset, BAR0 size) for this many doorbells and vectors.

    The doorbells of ``queue_pairs`` queue pairs start at 1000h; the table starts
    at the next 4 KiB boundary after them, the PBA at the next one after the
    table, and BAR0 is the next power of two (at least 16 KiB) that holds both.
    With the default configuration: table 2000h, PBA 3000h, BAR0 16 KiB.
    """

    def up(x: int) -> int:
        return (x + 0xFFF) & ~0xFFF

    doorbells_end = 0x1000 + 2 * queue_pairs * (4 << dstrd)
    table = up(max(doorbells_end, 0x2000))
    pba = up(table + msix_vectors * MSIX_ENTRY_SIZE)
    end = pba + ((msix_vectors + 63) // 64) * 8
    size = 0x4000
    while size < end:
        size <<= 1
    return table, pba, size
