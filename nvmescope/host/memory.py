"""Host physical memory and the host's interrupt controller.

:class:`HostMemory` is the RAM of the emulated host: sparse 4 KiB pages that
exist once something writes them (a page never written reads as zeros). It
plays two roles, as real RAM does:

- the host CPU reads and writes it (:meth:`HostMemory.cpu_read`,
  :meth:`HostMemory.cpu_write`); those accesses are events (``mem_read``,
  ``mem_write``, actor ``host``) because a student wants to see the driver
  build an SQE or read a CQE;
- the device reads and writes it by DMA through the emulator's ``HostPort``
  protocol (:meth:`HostMemory.dma_read`, :meth:`HostMemory.dma_write`). Those
  calls emit nothing: the device emits its own ``dma_read`` / ``dma_write``
  events, with the purpose it knows.

The address map is the one of a small x86 machine (like the reference QEMU
guest with ``-m 512``): RAM from 0 to :data:`RAM_SIZE`; anything else is not
backed by memory, so a DMA there fails (a master abort: ``None`` / ``False``)
and the device answers the command with Data Transfer Error. The one
exception is the MSI window FEE0_0000h..FEEF_FFFFh: a device write there is an
MSI or MSI-X message, which :class:`InterruptController` turns into an
interrupt on the vector named by the message data (the driver programs each
MSI-X table entry with data = vector number).

Buffers and queues come from a bump allocator starting at :data:`ALLOC_BASE`
and going up, so the same program always gets the same addresses.
"""

from __future__ import annotations

from nvmescope.events import MAX_DATA_EVENT_BYTES, EventBus, MemRead, MemWrite
from nvmescope.sim import Scheduler, Signal

PAGE_SIZE = 4096
PAGE_SHIFT = 12
#: bytes of RAM (512 MiB, like the reference guest)
RAM_SIZE = 0x2000_0000
#: the first page the allocator hands out
ALLOC_BASE = 0x1000_0000
#: the x86 MSI address window: a write here is an interrupt message
MSI_BASE = 0xFEE0_0000
MSI_END = 0xFF00_0000  # exclusive
#: the message address the driver programs into MSI-X entries (local APIC 0)
MSI_ADDRESS = MSI_BASE


class HostMemoryError(Exception):
    """A host program asked the allocator for more memory than the machine has."""


class InterruptController:
    """The host's interrupt controller: MSI/MSI-X messages and the INTx pin.

    Every vector has a :class:`~nvmescope.sim.Signal`; an interrupt handler
    task waits on it (``yield irq.signal(vector)``). A message that arrives
    while nobody waits leaves the signal pending, so no interrupt is lost.
    """

    def __init__(self, sched: Scheduler) -> None:
        self._sched = sched
        self._signals: dict[int, Signal] = {}
        #: messages received per vector
        self.counts: dict[int, int] = {}
        #: level of the INTx pin as the device drives it
        self.intx_asserted = False
        #: times the INTx pin went from deasserted to asserted
        self.intx_count = 0
        self.intx_signal = sched.signal("intx")

    def signal(self, vector: int) -> Signal:
        """The wake-up point of ``vector`` (created on first use)."""
        sig = self._signals.get(vector)
        if sig is None:
            sig = self._sched.signal(f"irq{vector}")
            self._signals[vector] = sig
        return sig

    def message(self, address: int, data: int) -> None:
        """An MSI/MSI-X message: ``data`` is the vector number."""
        vector = data & 0xFFFF_FFFF
        self.counts[vector] = self.counts.get(vector, 0) + 1
        self.signal(vector).fire()

    def count(self, vector: int) -> int:
        return self.counts.get(vector, 0)

    def intx(self, asserted: bool) -> None:
        if asserted and not self.intx_asserted:
            self.intx_count += 1
            self.intx_signal.fire()
        self.intx_asserted = asserted


class HostMemory:
    """Sparse host RAM; implements the emulator's ``HostPort``."""

    def __init__(
        self,
        bus: EventBus | None = None,
        irq: InterruptController | None = None,
        ram_size: int = RAM_SIZE,
        alloc_base: int = ALLOC_BASE,
    ) -> None:
        self.bus = bus
        self.irq = irq
        self.ram_size = ram_size
        self.alloc_base = alloc_base
        self._pages: dict[int, bytearray] = {}
        #: a device write into the MSI window reaches the interrupt controller; False: it
        #: is lost (``dma_write`` says False), as through QEMU's x-pci-proxy-dev, which
        #: has no MSI path (a replay of a QEMU guest's recording sets this)
        self.deliver_msi = True
        self._next = alloc_base
        #: (address, bytes) of every allocation, in order
        self.allocations: list[tuple[int, int]] = []
        #: live allocations: address -> pages; freed runs of n pages, by n (a LIFO each)
        self._live: dict[int, int] = {}
        self._free: dict[int, list[int]] = {}

    # -- the address map ---------------------------------------------------------
    def is_ram(self, addr: int, length: int) -> bool:
        """True if ``[addr, addr + length)`` lies inside RAM."""
        return 0 <= addr and addr + length <= self.ram_size and length >= 0

    @staticmethod
    def is_msi(addr: int) -> bool:
        return MSI_BASE <= addr < MSI_END

    @property
    def pages(self) -> list[int]:
        """Addresses of the pages that hold data, in ascending order."""
        return [n << PAGE_SHIFT for n in sorted(self._pages)]

    # -- raw access (no events) ------------------------------------------------------
    def read(self, addr: int, length: int) -> bytes:
        """Bytes at ``addr``; pages never written read as zeros (no RAM check)."""
        page, off = divmod(addr, PAGE_SIZE)
        if 0 < length <= PAGE_SIZE - off:  # inside one page (an SQE, a CQE, a buffer)
            data = self._pages.get(page)
            return bytes(data[off : off + length]) if data is not None else bytes(length)
        out = bytearray()
        while length > 0:
            page, off = divmod(addr, PAGE_SIZE)
            n = min(length, PAGE_SIZE - off)
            data = self._pages.get(page)
            out += data[off : off + n] if data is not None else bytes(n)
            addr += n
            length -= n
        return bytes(out)

    def write(self, addr: int, data: bytes) -> None:
        """Store ``data`` at ``addr`` (no RAM check, no events)."""
        page, off = divmod(addr, PAGE_SIZE)
        if 0 < len(data) <= PAGE_SIZE - off:  # inside one page
            buf = self._pages.get(page)
            if buf is None:
                buf = self._pages[page] = bytearray(PAGE_SIZE)
            buf[off : off + len(data)] = data
            return
        view = memoryview(bytes(data))
        pos = 0
        while pos < len(view):
            page, off = divmod(addr + pos, PAGE_SIZE)
            n = min(len(view) - pos, PAGE_SIZE - off)
            buf = self._pages.get(page)
            if buf is None:
                buf = self._pages[page] = bytearray(PAGE_SIZE)
            buf[off : off + n] = view[pos : pos + n]
            pos += n

    # -- the allocator -------------------------------------------------------------
    def alloc_pages(self, n: int = 1) -> int:
        """``n`` zeroed, contiguous pages; returns the address of the first.

        Pages given back with :meth:`free` are used again first (the last freed run of
        ``n`` pages first, as an allocator's free list does), so a host that frees its
        buffers keeps touching the same few pages.
        """
        n = max(1, n)
        runs = self._free.get(n)
        if runs:
            addr = runs.pop()
            for i in range(n):
                self._pages.pop((addr >> PAGE_SHIFT) + i, None)
            self._live[addr] = n
            return addr
        addr = self._next
        if addr + n * PAGE_SIZE > self.ram_size:
            pages = "1 page" if n == 1 else f"{n} pages"
            raise HostMemoryError(f"host memory exhausted: cannot allocate {pages}")
        self._next += n * PAGE_SIZE
        for i in range(n):
            self._pages.pop((addr >> PAGE_SHIFT) + i, None)
        self.allocations.append((addr, n * PAGE_SIZE))
        self._live[addr] = n
        return addr

    def free(self, addr: int) -> None:
        """Give back what :meth:`alloc` returned at ``addr`` (anything else is ignored)."""
        n = self._live.pop(addr, None)
        if n is not None:
            self._free.setdefault(n, []).append(addr)

    def alloc(self, size: int = PAGE_SIZE) -> int:
        """Enough zeroed, page-aligned, contiguous pages for ``size`` bytes."""
        return self.alloc_pages((max(1, size) + PAGE_SIZE - 1) // PAGE_SIZE)

    # -- the host CPU (events) ----------------------------------------------------------
    def cpu_write(self, addr: int, data: bytes, purpose: str = "", *, whole: bool = False) -> None:
        """The CPU stores ``data``; emits ``mem_write`` (one per MAX_DATA_EVENT_BYTES, or
        with ``whole`` one in all, as a replay re-performs a recorded one). Outside RAM the
        store is lost."""
        data = bytes(data)
        if self.bus is not None:
            self._tell(MemWrite, addr, data, purpose, whole)
        if self.is_ram(addr, len(data)):
            self.write(addr, data)

    def cpu_read(self, addr: int, length: int, purpose: str = "", *, whole: bool = False) -> bytes:
        """The CPU loads ``length`` bytes; emits ``mem_read`` (as many as ``cpu_write``
        would). Outside RAM reads all ones."""
        length = max(0, length)
        data = self.read(addr, length) if self.is_ram(addr, length) else b"\xff" * length
        if self.bus is not None:
            self._tell(MemRead, addr, data, purpose, whole)
        return data

    def _tell(
        self, kind: type[MemRead | MemWrite], addr: int, data: bytes, purpose: str, whole: bool
    ) -> None:
        """Emit the CPU's access as ``kind`` events: one, or (longer than
        MAX_DATA_EVENT_BYTES, and not ``whole``) one per piece of at most that."""
        assert self.bus is not None
        if whole or len(data) <= MAX_DATA_EVENT_BYTES:
            self.bus.emit(kind(addr=addr, data=data, purpose=purpose))
            return
        limit = MAX_DATA_EVENT_BYTES
        for at in range(0, len(data), limit):
            self.bus.emit(kind(addr=addr + at, data=data[at : at + limit], purpose=purpose))

    # -- the device (HostPort) -----------------------------------------------------------
    def dma_read(self, addr: int, length: int) -> bytes | None:
        """Device read; ``None`` if any byte is outside RAM (master abort)."""
        if length < 0 or not self.is_ram(addr, length):
            return None
        return self.read(addr, length)

    def dma_write(self, addr: int, data: bytes) -> bool:
        """Device write; MSI window writes are interrupts; ``False`` outside RAM."""
        if self.is_msi(addr):
            if not self.deliver_msi:
                return False
            if self.irq is not None and len(data) >= 1:
                value = int.from_bytes(bytes(data[:4]).ljust(4, b"\0"), "little")
                self.irq.message(addr, value)
            return True
        if not self.is_ram(addr, len(data)):
            return False
        self.write(addr, data)
        return True

    def intx(self, asserted: bool) -> None:
        """The device drives its INTx pin."""
        if self.irq is not None:
            self.irq.intx(asserted)
