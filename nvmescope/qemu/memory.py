"""The device's window onto a QEMU guest: a :class:`~nvmescope.emulator.HostPort` over the
guest's shared RAM, and INTx through the irqfd QEMU hands over.

- RAM: QEMU's proxy sends SYNC_SYSMEM whenever the guest's memory map changes: up to 8
  regions (guest-physical address, size, offset) and one memfd each (the guest runs
  with ``-object memory-backend-memfd,share=on``). Each region is mmap'ed shared, so a
  DMA is a copy into or out of the guest's own RAM. An address outside every region
  (the legacy VGA hole 0xA0000..0xBFFFF, MMIO, above RAM) is a master abort: ``None`` /
  ``False``, and the device answers as it does to any unmapped address.
- Interrupts: QEMU's proxy has no MSI or MSI-X path at all: a message (a write into
  FEE0_0000h..FEEF_FFFFh) goes nowhere and the port says so (``False``: the device's
  ``irq_msix`` event says ``delivered`` False). INTx is level-triggered and wired as
  a KVM irqfd with a resample fd (SET_IRQFD): asserting the pin signals the irqfd;
  when the guest's interrupt controller takes the interrupt (EOI), KVM signals the
  resample fd and, if the pin is still asserted, the device signals the irqfd again
  (:meth:`GuestMemory.resample`). Under TCG nothing reads the irqfd: the guest kernel
  has to poll its shared handlers (``irqpoll``; docs/linux-guest.md).
"""

from __future__ import annotations

import mmap
import os

from .proxy import Region

#: the x86 MSI address window
MSI_BASE = 0xFEE0_0000
MSI_END = 0xFF00_0000


class GuestMemory:
    """Guest RAM as the device reaches it by DMA; implements ``HostPort``."""

    def __init__(self) -> None:
        self._maps: list[tuple[int, int, mmap.mmap]] = []
        #: the regions mapped now (guest-physical address, size)
        self.regions: list[tuple[int, int]] = []
        self.irqfd: int | None = None
        self.resample_fd: int | None = None
        #: the INTx pin's level as the device drives it
        self.intx_asserted = False
        #: times the irqfd was signalled
        self.irq_signals = 0

    # -- set-up by the bridge -------------------------------------------------------------
    def sync(self, regions: list[Region], fds: list[int]) -> None:
        """Map the regions of a SYNC_SYSMEM (replacing the earlier map); closes ``fds``."""
        maps: list[tuple[int, int, mmap.mmap]] = []
        try:
            for region, fd in zip(regions, fds, strict=False):
                if region.size <= 0:
                    continue
                m = mmap.mmap(
                    fd, region.size, flags=mmap.MAP_SHARED,
                    prot=mmap.PROT_READ | mmap.PROT_WRITE, offset=region.offset,
                )  # fmt: skip
                maps.append((region.gpa, region.size, m))
        finally:
            for fd in fds:
                os.close(fd)
        self.close_maps()
        self._maps = sorted(maps, key=lambda t: t[0])
        self.regions = [(gpa, size) for gpa, size, _ in self._maps]

    def set_irqfd(self, irqfd: int, resample_fd: int) -> None:
        for fd in (self.irqfd, self.resample_fd):
            if fd is not None:
                os.close(fd)
        self.irqfd, self.resample_fd = irqfd, resample_fd
        os.set_blocking(irqfd, False)
        os.set_blocking(resample_fd, False)

    def close_maps(self) -> None:
        for _, _, m in self._maps:
            m.close()
        self._maps = []
        self.regions = []

    def close(self) -> None:
        self.close_maps()
        for fd in (self.irqfd, self.resample_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.irqfd = self.resample_fd = None

    # -- where an address is ----------------------------------------------------------------
    def _pieces(self, addr: int, length: int) -> list[tuple[mmap.mmap, int, int]] | None:
        """(map, offset in it, bytes) covering ``[addr, addr + length)``, or None."""
        if addr < 0 or length < 0:
            return None
        out: list[tuple[mmap.mmap, int, int]] = []
        while length > 0:
            for gpa, size, m in self._maps:
                if gpa <= addr < gpa + size:
                    n = min(length, gpa + size - addr)
                    out.append((m, addr - gpa, n))
                    addr += n
                    length -= n
                    break
            else:
                return None
        return out

    # -- HostPort ---------------------------------------------------------------------------
    def dma_read(self, addr: int, length: int) -> bytes | None:
        pieces = self._pieces(addr, length)
        if pieces is None:
            return None
        return b"".join(m[off : off + n] for m, off, n in pieces)

    def dma_write(self, addr: int, data: bytes) -> bool:
        if MSI_BASE <= addr < MSI_END:
            return False  # no MSI through the proxy: the message is lost
        pieces = self._pieces(addr, len(data))
        if pieces is None:
            return False
        pos = 0
        for m, off, n in pieces:
            m[off : off + n] = data[pos : pos + n]
            pos += n
        return True

    def intx(self, asserted: bool) -> None:
        if asserted and not self.intx_asserted:
            self._signal()
        self.intx_asserted = asserted

    # -- the irqfd ---------------------------------------------------------------------------
    def _signal(self) -> None:
        if self.irqfd is None:
            return
        try:
            os.eventfd_write(self.irqfd, 1)
            self.irq_signals += 1
        except (BlockingIOError, OSError):
            pass

    def resample(self) -> None:
        """The resample fd is readable: the guest took the interrupt (EOI). While the pin
        stays asserted, signal the irqfd again (a level-triggered line)."""
        if self.resample_fd is None:
            return
        try:
            os.eventfd_read(self.resample_fd)
        except (BlockingIOError, OSError):
            return
        if self.intx_asserted:
            self._signal()
