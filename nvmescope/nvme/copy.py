"""The Copy command (NVM opcode 19h; NVM Command Set 1.0 section 3.2.2) as data: its Command Dword 12 fields and its Source Range Entries, declared once.

A Copy reads NR + 1 source ranges of the namespace and writes them, one after the
other, to consecutive blocks from SDLBA (CDW10-11). The data pointer of the command
addresses the list of Source Range Entries, not data: the blocks themselves never
cross the link. CDW12: NR in bits 7:0 (0's based), the Descriptor Format (DESFMT) in
bits 11:8, PRINFOR 15:12, DTYPE 23:20, STCW 24, PRINFOW 29:26, FUA 30, LR 31.

Descriptor format 0h (32 bytes an entry) is the format of a namespace formatted with
16b Guard protection information (or none); format 1h (40 bytes) carries the 64b Guard
layout's 48-bit reference tag instead (the Expected Logical Block Storage Tag and
Reference Tag field, bytes 35:26). Both hold the SLBA (bytes 15:08) and the NLB
(bytes 17:16, 0's based) where the other does.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import NamedTuple

import construct as cs

OPC_COPY = 0x19
#: Identify Controller OCFS bits: Copy Descriptor Format 0h / 1h supported
OCFS_FORMAT_0, OCFS_FORMAT_1 = 1 << 0, 1 << 1
#: the formats this project knows how to read
DESCRIPTOR_FORMATS = (0, 1)
#: NR is 8 bits, 0's based: at most 256 Source Range Entries
COPY_MAX_RANGES = 256
#: the most blocks one Copy may move here (the MCL knob's ceiling): the emulator holds
#: a Copy's blocks in memory, 256 MiB at most with 4 KiB blocks
COPY_MAX_BLOCKS = 1 << 16

#: Source Range Entries Copy Descriptor Format 0h (32 bytes)
COPY_RANGE_FORMAT_0 = cs.Struct(
    "rsvd0" / cs.Bytes(8),
    "slba" / cs.Int64ul * "Starting LBA (SLBA)",
    "nlb" / cs.Int16ul * "Number of Logical Blocks (NLB), 0's based",
    "rsvd18" / cs.Bytes(6),
    "eilbrt" / cs.Int32ul * "Expected Initial Logical Block Reference Tag (EILBRT)",
    "elbat" / cs.Int16ul * "Expected Logical Block Application Tag (ELBAT)",
    "elbatm" / cs.Int16ul * "Expected Logical Block Application Tag Mask (ELBATM)",
)
#: Source Range Entries Copy Descriptor Format 1h (40 bytes: the 64b Guard layout)
COPY_RANGE_FORMAT_1 = cs.Struct(
    "rsvd0" / cs.Bytes(8),
    "slba" / cs.Int64ul * "Starting LBA (SLBA)",
    "nlb" / cs.Int16ul * "Number of Logical Blocks (NLB), 0's based",
    "rsvd18" / cs.Bytes(8),
    "elbt" / cs.Bytes(10) * "Expected Logical Block Storage Tag and Reference Tag (ELBT)",
    "elbat" / cs.Int16ul * "Expected Logical Block Application Tag (ELBAT)",
    "elbatm" / cs.Int16ul * "Expected Logical Block Application Tag Mask (ELBATM)",
)
COPY_RANGE_LAYOUTS = {0: COPY_RANGE_FORMAT_0, 1: COPY_RANGE_FORMAT_1}
#: the size of one Source Range Entry in each descriptor format
COPY_RANGE_SIZES = {0: 32, 1: 40}

#: the hot path's view of the two layouts: SLBA and NLB where both formats keep them
_SLBA_NLB = struct.Struct("<8xQH")
_FORMAT_0 = struct.Struct("<8xQH6xIHH")
_FORMAT_1 = struct.Struct("<8xQH8x10sHH")
assert _FORMAT_0.size == COPY_RANGE_SIZES[0] == COPY_RANGE_FORMAT_0.sizeof()
assert _FORMAT_1.size == COPY_RANGE_SIZES[1] == COPY_RANGE_FORMAT_1.sizeof()


class CopyRange(NamedTuple):
    """One Source Range Entry: the first LBA and the number of blocks (1-based here)."""

    slba: int
    nlb: int


class CopyCdw12(NamedTuple):
    """Copy's Command Dword 12, field by field (NR as the count of ranges, 1-based)."""

    nr: int
    desfmt: int
    prinfor: int
    dtype: int
    stcw: int
    prinfow: int
    fua: int
    lr: int


def split_cdw12(cdw12: int) -> CopyCdw12:
    """The fields of a Copy command's CDW12."""
    return CopyCdw12(
        (cdw12 & 0xFF) + 1,
        (cdw12 >> 8) & 0xF,
        (cdw12 >> 12) & 0xF,
        (cdw12 >> 20) & 0xF,
        (cdw12 >> 24) & 1,
        (cdw12 >> 26) & 0xF,
        (cdw12 >> 30) & 1,
        cdw12 >> 31,
    )


def make_cdw12(nr: int, desfmt: int = 0, fua: bool = False, lr: bool = False) -> int:
    """CDW12 of a Copy of ``nr`` ranges (1-based) in descriptor format ``desfmt``."""
    if not 1 <= nr <= COPY_MAX_RANGES:
        raise ValueError(f"a Copy takes 1 to {COPY_MAX_RANGES} ranges, not {nr}")
    return (nr - 1) | (desfmt & 0xF) << 8 | int(fua) << 30 | int(lr) << 31


def pack_copy_ranges(ranges: Iterable[tuple[int, int]], desfmt: int = 0) -> bytes:
    """The Source Range Entries for ``(slba, nlb)`` ranges (``nlb`` 1-based) in format
    ``desfmt`` (0h or 1h); the protection information fields are zero."""
    out = []
    for slba, nlb in ranges:
        if not 1 <= nlb <= 0x10000:
            raise ValueError(f"a Source Range Entry holds 1 to 65536 blocks, not {nlb}")
        if desfmt == 0:
            out.append(_FORMAT_0.pack(slba, nlb - 1, 0, 0, 0))
        elif desfmt == 1:
            out.append(_FORMAT_1.pack(slba, nlb - 1, bytes(10), 0, 0))
        else:
            raise ValueError(f"descriptor format {desfmt}: only 0h and 1h are known")
    return b"".join(out)


def unpack_copy_ranges(raw: bytes, count: int, desfmt: int) -> list[CopyRange]:
    """The first ``count`` Source Range Entries of ``raw`` in format ``desfmt``."""
    size = COPY_RANGE_SIZES.get(desfmt)
    if size is None:
        raise ValueError(f"descriptor format {desfmt}: only 0h and 1h are known")
    if not 0 <= count <= COPY_MAX_RANGES or len(raw) < count * size:
        raise ValueError(f"{count} Source Range Entries need {count * size} bytes")
    out = []
    for i in range(count):
        slba, nlb = _SLBA_NLB.unpack_from(raw, i * size)
        out.append(CopyRange(slba, nlb + 1))
    return out
