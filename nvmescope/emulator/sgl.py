"""Walking a Scatter Gather List into host address ranges (NVMe 1.4 section 4.4).

An I/O command with PSDT 01b or 10b carries, in its data pointer (SQE bytes 24 to
39), SGL Descriptor 1: 16 bytes of address, length and an SGL Identifier whose
upper nibble is the descriptor type and lower nibble its sub type.

- A **Data Block** descriptor (0h) names a piece of host memory: address, length.
- A **Bit Bucket** descriptor (1h) names a length and no memory: in a read, that
  many bytes of the data are thrown away instead of being written to the host.
  In a write (the host is the source) it describes nothing to read; it is
  skipped, as QEMU skips it.
- A **Segment** descriptor (2h) points at the next SGL segment: an array of
  descriptors, qword aligned, whose length is a non-zero multiple of 16. Only the
  last descriptor of a segment may point at another segment.
- A **Last Segment** descriptor (3h) points at the last segment, which points at
  no other.

Keyed (4h) and Transport (5h) Data Block descriptors belong to NVMe over Fabrics; a
sub type other than 0h (Address) is also a fabrics matter. Either is SGL Descriptor
Type Invalid here, as is a reserved type.

The descriptors must describe at least the command's data; more is Data SGL Length
Invalid unless the controller says (Identify SGLS bit 18) that it accepts an SGL
longer than the data. With SGLS bits 1:0 = 10b (Dword alignment and granularity)
every Data Block's address and length must have their low two bits clear (SGL Data
Block Granularity Invalid otherwise).

The walk never raises and is bounded: an SGL whose segments point back at one
another, or one that goes on and on, ends after ``MAX_SGL_SEGMENTS`` segments or
``MAX_SGL_DESCRIPTORS`` descriptors with Invalid Number of SGL Descriptors.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..nvme import status as st
from ..nvme.commands import (
    SGL_BIT_BUCKET,
    SGL_DATA_BLOCK,
    SGL_LAST_SEGMENT,
    SGL_SEGMENT,
    sgl_type_name,
)
from ..nvme.identify import (
    SGLS_BIT_BUCKET,
    SGLS_DWORD_ALIGNED,
    SGLS_EXCESS_LENGTH,
    SGLS_SUPPORT_MASK,
)
from .port import HostPort

#: the size of one SGL descriptor
SGL_DESCRIPTOR_SIZE = 16
#: the bounds of one walk (our choice: the specification sets none)
MAX_SGL_SEGMENTS = 256
MAX_SGL_DESCRIPTORS = 16384

#: where the data pointer's fields sit in the SQE, for the error's location
_LOC_DPTR = 24


@dataclass
class SglSegment:
    """One SGL segment the walk read from host memory: where, and what it held as
    (type, sub type, address, length) tuples."""

    addr: int
    descriptors: list[tuple[int, int, int, int]]


@dataclass
class SglMap:
    """The result of a walk: (address, length) ranges in data order, an address of
    None being a bit bucket; the segments read; or a status and why."""

    segments: list[tuple[int | None, int]] = field(default_factory=list)
    reads: list[SglSegment] = field(default_factory=list)
    error: tuple[int, int] | None = None
    detail: str = ""


def unpack_descriptor(raw: bytes) -> tuple[int, int, int, int]:
    """(type, sub type, address, length) of a 16-byte SGL descriptor."""
    addr, length, ident = struct.unpack_from("<QI3xB", raw)
    return ident >> 4, ident & 0xF, addr, length


def nvme_map_sgl(
    port: HostPort,
    sgl1: bytes,
    length: int,
    to_host: bool,
    sgls: int,
    can_dma: bool = True,
) -> SglMap:
    """Walk SGL Descriptor 1 (``sgl1``, 16 bytes) describing ``length`` bytes.

    ``to_host``: the data goes from the controller to the host (a read), where a Bit
    Bucket throws data away. ``sgls`` is Identify Controller SGLS.
    """
    out = SglMap()
    walk = _Walk(out, length, to_host, sgls)
    first = unpack_descriptor(sgl1)
    kind = first[0]
    if kind in (SGL_DATA_BLOCK, SGL_BIT_BUCKET):
        walk.data([first], "SGL Descriptor 1")
        return walk.finish()
    if kind not in (SGL_SEGMENT, SGL_LAST_SEGMENT):
        return walk.fail_type(first, "SGL Descriptor 1")
    pointer = first
    descriptors = 0
    for number in range(MAX_SGL_SEGMENTS):
        ptype, psub, addr, seg_len = pointer
        where = f"segment {number}"
        if psub != 0:
            return walk.fail_type(pointer, f"the descriptor pointing at {where}")
        if seg_len == 0 or seg_len % SGL_DESCRIPTOR_SIZE or addr % 8:
            return walk.fail(
                st.INVALID_SGL_SEGMENT_DESCRIPTOR,
                f"{where} at {addr:#x}: {seg_len} bytes (a segment is qword aligned, "
                "a non-zero multiple of 16 bytes)",
            )
        count = seg_len // SGL_DESCRIPTOR_SIZE
        descriptors += count
        if descriptors > MAX_SGL_DESCRIPTORS:
            return walk.fail(
                st.INVALID_NUM_SGL_DESCRIPTORS,
                f"more than {MAX_SGL_DESCRIPTORS} SGL descriptors",
            )
        raw = port.dma_read(addr, seg_len) if can_dma else None
        if raw is None or len(raw) != seg_len:
            return walk.fail(
                st.DATA_TRANSFER_ERROR, f"{where} at {addr:#x} (+{seg_len}) is not mapped"
            )
        entries = [
            unpack_descriptor(raw[i : i + SGL_DESCRIPTOR_SIZE])
            for i in range(0, seg_len, SGL_DESCRIPTOR_SIZE)
        ]
        out.reads.append(SglSegment(addr, entries))
        last = entries[-1]
        if last[0] in (SGL_SEGMENT, SGL_LAST_SEGMENT):
            if ptype == SGL_LAST_SEGMENT:
                return walk.fail(
                    st.INVALID_SGL_SEGMENT_DESCRIPTOR,
                    f"the last segment ({where}) points at another segment",
                )
            if not walk.data(entries[:-1], where):
                return out
            if walk.left == 0 and sgls & SGLS_EXCESS_LENGTH:
                return out  # the data is described; the rest of the SGL is not read
            pointer = last
            continue
        walk.data(entries, where)
        return walk.finish()
    return walk.fail(
        st.INVALID_NUM_SGL_DESCRIPTORS,
        f"more than {MAX_SGL_SEGMENTS} SGL segments (a list that loops or never ends)",
    )


class _Walk:
    """The data descriptors seen so far, against the length still to describe."""

    def __init__(self, out: SglMap, length: int, to_host: bool, sgls: int) -> None:
        self.out = out
        self.left = length
        self.to_host = to_host
        self.sgls = sgls

    def fail(self, code: tuple[int, int], detail: str) -> SglMap:
        if self.out.error is None:
            self.out.error, self.out.detail = code, detail
        return self.out

    def fail_type(self, desc: tuple[int, int, int, int], where: str) -> SglMap:
        kind, sub = desc[0], desc[1]
        what = sgl_type_name(kind) if sub == 0 else f"sub type {sub:#x}"
        return self.fail(st.SGL_DESCRIPTOR_TYPE_INVALID, f"{where}: {what} is not supported")

    def data(self, descs: list[tuple[int, int, int, int]], where: str) -> bool:
        """Take data descriptors in order; False (and the map failed) on a bad one."""
        for index, desc in enumerate(descs):
            kind, sub, addr, dlen = desc
            at = f"{where}, descriptor {index}"
            if kind in (SGL_SEGMENT, SGL_LAST_SEGMENT):
                self.fail(
                    st.INVALID_NUM_SGL_DESCRIPTORS,
                    f"{at}: a {sgl_type_name(kind)} descriptor that is not its segment's last",
                )
                return False
            bucket_ok = kind == SGL_BIT_BUCKET and self.sgls & SGLS_BIT_BUCKET
            if (kind != SGL_DATA_BLOCK and not bucket_ok) or sub != 0:
                self.fail_type(desc, at)
                return False
            if dlen == 0:
                continue
            if kind == SGL_BIT_BUCKET and not self.to_host:
                continue  # nothing to read from: the host is the source
            if self.left == 0:
                if self.sgls & SGLS_EXCESS_LENGTH:
                    return True
                self.fail(
                    st.DATA_SGL_LENGTH_INVALID,
                    f"{at}: the SGL describes more than the command's data",
                )
                return False
            if kind == SGL_DATA_BLOCK:
                if self.sgls & SGLS_SUPPORT_MASK == SGLS_DWORD_ALIGNED and (addr | dlen) & 3:
                    self.fail(
                        st.SGL_DATA_BLOCK_GRANULARITY_INVALID,
                        f"{at}: address {addr:#x} or length {dlen} is not dword aligned",
                    )
                    return False
                if addr + dlen > 1 << 64:
                    self.fail(st.DATA_SGL_LENGTH_INVALID, f"{at}: {addr:#x} + {dlen} wraps")
                    return False
            n = min(dlen, self.left)
            self._add(addr if kind == SGL_DATA_BLOCK else None, n)
            self.left -= n
        return True

    def _add(self, addr: int | None, n: int) -> None:
        segs = self.out.segments
        if segs and addr is not None and segs[-1][0] is not None:
            prev, plen = segs[-1]
            if prev + plen == addr:
                segs[-1] = (prev, plen + n)
                return
        segs.append((addr, n))

    def finish(self) -> SglMap:
        if self.out.error is None and self.left:
            self.fail(
                st.DATA_SGL_LENGTH_INVALID,
                f"the SGL describes {self.left} bytes fewer than the command's data",
            )
        return self.out


__all__ = [
    "MAX_SGL_DESCRIPTORS",
    "MAX_SGL_SEGMENTS",
    "SGLS_BIT_BUCKET",
    "SGLS_DWORD_ALIGNED",
    "SGLS_EXCESS_LENGTH",
    "SglMap",
    "SglSegment",
    "nvme_map_sgl",
    "unpack_descriptor",
]
