"""A namespace's metadata: each block's bytes in the format in use (MS, MSET, PI, PIL).

The store the namespace keeps (``namespace.py``); ``metadata.py`` moves it between the
host and the medium and checks its protection information (``protection.py``).
"""

from __future__ import annotations

from . import protection as pi


class MetadataStore:
    """The metadata of one namespace's blocks, in the format in use.

    ``ms`` bytes a block; ``extended`` (MSET 1) when it travels in the data buffer;
    ``pi`` the protection information format, or None."""

    def __init__(
        self, ms: int, lba_size: int, mset: int = 0, pi_type: int = 0, pil: int = 0
    ) -> None:
        self.ms = ms
        self.lba_size = lba_size
        self.extended = bool(mset) and ms > 0
        self.pi = pi.PiFormat(pi_type, bool(pil), lba_size, ms) if pi_type and ms else None
        self._blocks: dict[int, bytes] = {}
        unwritten = bytearray(ms)
        if self.pi is not None:
            off = self.pi.offset
            unwritten[off : off + pi.PI_SIZE] = b"\xff" * pi.PI_SIZE
        #: what a deallocated block's metadata reads as
        self.unwritten = bytes(unwritten)

    @property
    def dps(self) -> int:
        """Identify Namespace DPS: the PI type (2:0) and bit 3 when PI is first."""
        if self.pi is None:
            return 0
        return self.pi.pi_type | (pi.DPS_FIRST if self.pi.first else 0)

    def moves(self, pract: bool) -> bool:
        """True when a read or write moves metadata (not MS 8 under PI with PRACT)."""
        return self.ms > 0 and not (self.pi is not None and pract and self.ms == pi.PI_SIZE)

    def dptr_length(self, nlb: int, pract: bool) -> int:
        """Bytes the data pointer describes for ``nlb`` blocks (metadata in it if extended)."""
        extra = self.ms if self.extended and self.moves(pract) else 0
        return nlb * (self.lba_size + extra)

    def read(self, slba: int, nlb: int) -> bytes:
        get, blank = self._blocks.get, self.unwritten
        return b"".join(get(lba, blank) for lba in range(slba, slba + nlb))

    def write(self, slba: int, meta: bytes) -> None:
        ms = self.ms
        for i in range(len(meta) // ms):
            self._blocks[slba + i] = bytes(meta[i * ms : (i + 1) * ms])

    def deallocate(self, slba: int, nlb: int) -> None:
        if not self._blocks or nlb <= 0:
            return
        if nlb > len(self._blocks):
            for lba in [b for b in self._blocks if slba <= b < slba + nlb]:
                del self._blocks[lba]
        else:
            for lba in range(slba, slba + nlb):
                self._blocks.pop(lba, None)

    def clear(self) -> None:
        self._blocks.clear()

    @property
    def blocks_kept(self) -> int:
        return len(self._blocks)

    def split(self, buf: bytes) -> tuple[bytes, bytes]:
        """(data, metadata) of an extended-LBA buffer (each block's data, then its MS)."""
        step, lba = self.lba_size + self.ms, self.lba_size
        blocks = range(0, len(buf), step)
        return (
            b"".join(buf[at : at + lba] for at in blocks),
            b"".join(buf[at + lba : at + step] for at in blocks),
        )

    def interleave(self, data: bytes, meta: bytes) -> bytes:
        """The extended-LBA buffer of ``data`` and ``meta``."""
        lba, ms = self.lba_size, self.ms
        return b"".join(
            data[i * lba : (i + 1) * lba] + meta[i * ms : (i + 1) * ms]
            for i in range(len(data) // lba)
        )


__all__ = ["MetadataStore"]
