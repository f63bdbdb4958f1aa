"""The device's one window onto the host: the PCI bus seen from the device.

A real NVMe controller reaches its host only by bus-master DMA (reads and
writes of host memory, and MSI/MSI-X messages, which are memory writes too)
and by its INTx pin. :class:`HostPort` is that window. The host layer provides
an implementation; the emulator never imports the host.
"""

from __future__ import annotations

from typing import Protocol


class HostPort(Protocol):
    def dma_read(self, addr: int, length: int) -> bytes | None:
        """Read host memory. ``None`` means the host never mapped some of it (master abort)."""
        ...

    def dma_write(self, addr: int, data: bytes) -> bool:
        """Write host memory. ``False`` means some of it is not mapped (master abort).

        An MSI or MSI-X message is a 4-byte write of the message data to the
        message address (FEEx_xxxxh on x86); the host routes it to its interrupt
        controller.
        """
        ...

    def intx(self, asserted: bool) -> None:
        """Drive the INTx pin (level-triggered)."""
        ...
