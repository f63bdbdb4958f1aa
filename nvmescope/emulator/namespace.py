"""A RAM-backed namespace: sparse 4 KiB pages of a byte-addressed medium.

Pages are created on first write; a page never written reads as zeros (the
namespace reports DLFEAT "deallocated blocks read as zeros"; Dataset Management
and Write Zeroes with DEAC release pages again). Only the pages
the host wrote cost memory, so a 64 MiB namespace costs nothing until used.
"""

from __future__ import annotations

from .config import ControllerConfig

PAGE = 4096


class Namespace:
    """Namespace ``nsid`` of ``nsze`` logical blocks of ``lba_size`` bytes."""

    def __init__(self, nsid: int, config: ControllerConfig) -> None:
        self.nsid = nsid
        self.lba_formats = tuple(config.lba_formats)
        self.flbas = config.flbas
        self.lba_size = config.lba_size
        self.nsze = config.nsze
        self._pages: dict[int, bytearray] = {}

    def format(self, flbas: int) -> None:
        """Format NVM: LBA format ``flbas`` from now on; every block reads as zeros again.

        The capacity in bytes stays; NSZE becomes what it holds in the new block size.
        """
        size = self.size_bytes
        self.flbas = flbas
        self.lba_size = 1 << self.lba_formats[flbas][1]
        self.nsze = size // self.lba_size
        self._pages.clear()

    @property
    def size_bytes(self) -> int:
        return self.nsze * self.lba_size

    @property
    def pages_used(self) -> int:
        return len(self._pages)

    def in_range(self, slba: int, nlb: int) -> bool:
        """True when blocks ``slba`` .. ``slba + nlb - 1`` all exist."""
        return 0 <= slba and nlb >= 0 and slba + nlb <= self.nsze

    def read(self, offset: int, length: int) -> bytes:
        out = bytearray(length)
        pos = 0
        while pos < length:
            page, within = divmod(offset + pos, PAGE)
            n = min(PAGE - within, length - pos)
            data = self._pages.get(page)
            if data is not None:
                out[pos : pos + n] = data[within : within + n]
            pos += n
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            page, within = divmod(offset + pos, PAGE)
            n = min(PAGE - within, len(data) - pos)
            buf = self._pages.get(page)
            if buf is None:
                buf = self._pages[page] = bytearray(PAGE)
            buf[within : within + n] = data[pos : pos + n]
            pos += n

    def zero(self, offset: int, length: int, deallocate: bool) -> None:
        """Make ``length`` bytes at ``offset`` read as zeros.

        ``deallocate``: the pages wholly inside the range are released (deallocated:
        they read as zeros, as DLFEAT says, and cost nothing); the others are zeroed in
        place. A page never written is already zeros and stays unallocated either way.
        """
        if length <= 0:
            return
        end = offset + length
        first, last = offset // PAGE, (end - 1) // PAGE
        if last - first + 1 > len(self._pages):
            pages = sorted(p for p in self._pages if first <= p <= last)
        else:
            pages = [p for p in range(first, last + 1) if p in self._pages]
        for page in pages:
            start = max(offset, page * PAGE) - page * PAGE
            stop = min(end, (page + 1) * PAGE) - page * PAGE
            if deallocate and start == 0 and stop == PAGE:
                del self._pages[page]
            else:
                self._pages[page][start:stop] = bytes(stop - start)

    def zero_blocks(self, slba: int, nlb: int, deallocate: bool) -> None:
        self.zero(slba * self.lba_size, nlb * self.lba_size, deallocate)

    def read_blocks(self, slba: int, nlb: int) -> bytes:
        return self.read(slba * self.lba_size, nlb * self.lba_size)

    def write_blocks(self, slba: int, data: bytes) -> None:
        self.write(slba * self.lba_size, data)
