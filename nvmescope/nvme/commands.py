"""Submission and completion queue entries (NVMe 1.4 sections 4.2 and 4.6).

``SQE`` (64 bytes) and ``CQE`` (16 bytes) are the construct declarations; the
emulator's hot path uses the precompiled ``struct`` codecs beside them
(``unpack_sqe`` / ``pack_cqe``), and ``tests/test_nvme_commands_layout.py`` proves
the two agree on random inputs.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import NamedTuple

import construct as cs

SQE_SIZE = 64
CQE_SIZE = 16

#: Command Dword 0 as a little-endian bit field: opc, fuse, psdt, cid.
CDW0 = cs.ByteSwapped(
    cs.BitStruct(
        "cid" / cs.BitsInteger(16),
        "psdt" / cs.BitsInteger(2),
        cs.Padding(4),
        "fuse" / cs.BitsInteger(2),
        "opc" / cs.BitsInteger(8),
    )
)

SQE = cs.Struct(
    "cdw0" / CDW0,
    "nsid" / cs.Int32ul,
    "cdw2" / cs.Int32ul,
    "cdw3" / cs.Int32ul,
    "mptr" / cs.Int64ul,
    "prp1" / cs.Int64ul,
    "prp2" / cs.Int64ul,
    "cdw10" / cs.Int32ul,
    "cdw11" / cs.Int32ul,
    "cdw12" / cs.Int32ul,
    "cdw13" / cs.Int32ul,
    "cdw14" / cs.Int32ul,
    "cdw15" / cs.Int32ul,
)

#: The data pointer read as an SGL descriptor (PSDT 01b or 10b), 16 bytes.
SGL_DESCRIPTOR = cs.Struct(
    "addr" / cs.Int64ul,
    "length" / cs.Int32ul,
    "reserved" / cs.Bytes(3),
    "sgl_id"
    / cs.BitStruct(
        "type" / cs.BitsInteger(4),
        "subtype" / cs.BitsInteger(4),
    ),
)

#: SGL descriptor types (the SGL Identifier's bits 7:4), NVMe 1.4 Figure 117
SGL_DATA_BLOCK = 0x0
SGL_BIT_BUCKET = 0x1
SGL_SEGMENT = 0x2
SGL_LAST_SEGMENT = 0x3
SGL_TYPE_NAMES = {
    SGL_DATA_BLOCK: "SGL Data Block",
    SGL_BIT_BUCKET: "SGL Bit Bucket",
    SGL_SEGMENT: "SGL Segment",
    SGL_LAST_SEGMENT: "SGL Last Segment",
    0x4: "Keyed SGL Data Block",
    0x5: "Transport SGL Data Block",
    0xF: "Vendor Specific",
}


def sgl_type_name(sgl_type: int) -> str:
    """The name of SGL descriptor type ``sgl_type`` ("reserved type 0x6" if none)."""
    return SGL_TYPE_NAMES.get(sgl_type, f"reserved type {sgl_type:#x}")


def pack_sgl_descriptor(sgl_type: int, addr: int = 0, length: int = 0, subtype: int = 0) -> bytes:
    """One 16-byte SGL descriptor: address, length, SGL Identifier (type, sub type)."""
    return struct.pack("<QI3xB", addr, length, ((sgl_type & 0xF) << 4) | (subtype & 0xF))


def sgl_dptr(descriptor: bytes) -> dict[str, int]:
    """SGL Descriptor 1 as the SQE's two data-pointer quadwords (``prp1``, ``prp2`` of
    :func:`pack_sqe`, which are bytes 24 to 39 whatever PSDT says)."""
    prp1, prp2 = struct.unpack("<QQ", descriptor)
    return {"prp1": prp1, "prp2": prp2}


#: A PRP List page (NVMe 1.4 section 4.3, Figure 108): 8-byte PRP entries, each the
#: address of a memory page; when more entries follow than a list page holds, its
#: last entry points at the next list page. One list page of the smallest memory page
#: size (4 KiB) holds 512 entries.
PRP_ENTRY_SIZE = 8
PRP_LIST_ENTRIES = 512
PRP_LIST = cs.Array(PRP_LIST_ENTRIES, cs.Int64ul)

#: One Dataset Management range, the data of a Dataset Management command (NR + 1 of
#: them, at most 256): context attributes, the length in logical blocks (not 0's
#: based) and the starting LBA.
DSM_RANGE = cs.Struct(
    "cattr" / cs.Int32ul,
    "nlb" / cs.Int32ul,
    "slba" / cs.Int64ul,
)
DSM_RANGE_SIZE = 16
DSM_MAX_RANGES = 256
#: Dataset Management CDW11 bit 2: Attribute - Deallocate (AD)
DSM_AD = 1 << 2
#: Write Zeroes CDW12 bit 25: Deallocate (DEAC)
WRITE_ZEROES_DEAC = 1 << 25
#: CDW12 bits 29:26 of Read, Write, Compare, Write Zeroes and Verify: Protection
#: Information Field (PRINFO): PRACT (its bit 3), PRCHK guard, application tag,
#: reference tag (its bits 2, 1, 0); CDW14 is ILBRT, CDW15 LBAT (15:0) and LBATM (31:16)
PRINFO_SHIFT = 26
PRINFO_PRACT = 0x8
PRINFO_PRCHK_GUARD, PRINFO_PRCHK_APP, PRINFO_PRCHK_REF = 0x4, 0x2, 0x1
PRINFO_PRCHK_MASK = 0x7


def prinfo_words(prinfo: int) -> str:
    """PRINFO in words: ``PRACT 1, PRCHK guard + reference tag``."""
    checks = [
        name
        for bit, name in (
            (PRINFO_PRCHK_GUARD, "guard"),
            (PRINFO_PRCHK_APP, "application tag"),
            (PRINFO_PRCHK_REF, "reference tag"),
        )
        if prinfo & bit
    ]
    return f"PRACT {prinfo >> 3 & 1}, PRCHK {' + '.join(checks) or 'none'}"


#: Completion queue entry Status Field together with the Phase Tag (bits 15:0 of DW3 high half).
CQE_STATUS = cs.ByteSwapped(
    cs.BitStruct(
        "dnr" / cs.BitsInteger(1),
        "m" / cs.BitsInteger(1),
        "crd" / cs.BitsInteger(2),
        "sct" / cs.BitsInteger(3),
        "sc" / cs.BitsInteger(8),
        "p" / cs.BitsInteger(1),
    )
)

CQE = cs.Struct(
    "dw0" / cs.Int32ul,
    "dw1" / cs.Int32ul,
    "sqhd" / cs.Int16ul,
    "sqid" / cs.Int16ul,
    "cid" / cs.Int16ul,
    "status" / CQE_STATUS,
)

# -- hot path codecs -------------------------------------------------------------
_SQE_STRUCT = struct.Struct("<BBHIIIQQQIIIIII")
_CQE_STRUCT = struct.Struct("<IIHHHH")
assert _SQE_STRUCT.size == SQE_SIZE and _CQE_STRUCT.size == CQE_SIZE


class Sqe(NamedTuple):
    """A decoded SQE, flat, with the specification's names."""

    opc: int
    fuse: int
    psdt: int
    cid: int
    nsid: int
    cdw2: int
    cdw3: int
    mptr: int
    prp1: int
    prp2: int
    cdw10: int
    cdw11: int
    cdw12: int
    cdw13: int
    cdw14: int
    cdw15: int


class Cqe(NamedTuple):
    dw0: int
    dw1: int
    sqhd: int
    sqid: int
    cid: int
    p: int
    sc: int
    sct: int
    crd: int
    m: int
    dnr: int

    @property
    def status(self) -> int:
        """The status field without the phase tag: bits 15:1 shifted down by one."""
        return (self.dnr << 14) | (self.m << 13) | (self.crd << 11) | (self.sct << 8) | self.sc


def unpack_sqe(raw: bytes) -> Sqe:
    (opc, flags, cid, nsid, cdw2, cdw3, mptr, prp1, prp2, c10, c11, c12, c13, c14, c15) = (
        _SQE_STRUCT.unpack(raw)
    )
    return Sqe(
        opc, flags & 0x3, flags >> 6, cid, nsid, cdw2, cdw3, mptr, prp1, prp2,
        c10, c11, c12, c13, c14, c15,
    )  # fmt: skip


def pack_sqe(
    opc: int,
    cid: int,
    nsid: int = 0,
    prp1: int = 0,
    prp2: int = 0,
    cdw10: int = 0,
    cdw11: int = 0,
    cdw12: int = 0,
    cdw13: int = 0,
    cdw14: int = 0,
    cdw15: int = 0,
    fuse: int = 0,
    psdt: int = 0,
    mptr: int = 0,
    cdw2: int = 0,
    cdw3: int = 0,
) -> bytes:
    flags = (fuse & 0x3) | ((psdt & 0x3) << 6)
    return _SQE_STRUCT.pack(
        opc & 0xFF, flags, cid & 0xFFFF, nsid, cdw2, cdw3, mptr, prp1, prp2,
        cdw10, cdw11, cdw12, cdw13, cdw14, cdw15,
    )  # fmt: skip


def pack_cqe(dw0: int, dw1: int, sqhd: int, sqid: int, cid: int, phase: int, status: int) -> bytes:
    """``status`` is the 15-bit status field (dnr, m, crd, sct, sc) without the phase."""
    return _CQE_STRUCT.pack(
        dw0 & 0xFFFFFFFF, dw1 & 0xFFFFFFFF, sqhd, sqid, cid, ((status & 0x7FFF) << 1) | (phase & 1)
    )


def unpack_cqe(raw: bytes) -> Cqe:
    dw0, dw1, sqhd, sqid, cid, sf = _CQE_STRUCT.unpack(raw)
    return Cqe(
        dw0, dw1, sqhd, sqid, cid,
        sf & 1, (sf >> 1) & 0xFF, (sf >> 9) & 0x7, (sf >> 12) & 0x3, (sf >> 14) & 1, sf >> 15,
    )  # fmt: skip


_DSM_RANGE_STRUCT = struct.Struct("<IIQ")
assert _DSM_RANGE_STRUCT.size == DSM_RANGE_SIZE == DSM_RANGE.sizeof()


class DsmRange(NamedTuple):
    """One Dataset Management range, with the specification's names."""

    cattr: int
    nlb: int
    slba: int


def pack_dsm_ranges(ranges: Iterable[tuple[int, int]], cattr: int = 0) -> bytes:
    """The data of a Dataset Management command for ``(slba, nlb)`` ranges."""
    return b"".join(_DSM_RANGE_STRUCT.pack(cattr, nlb, slba) for slba, nlb in ranges)


def unpack_dsm_ranges(raw: bytes, count: int) -> list[DsmRange]:
    """The first ``count`` ranges of a Dataset Management command's data."""
    if not 0 <= count <= DSM_MAX_RANGES or len(raw) < count * DSM_RANGE_SIZE:
        raise ValueError(f"{count} DSM ranges need {count * DSM_RANGE_SIZE} bytes")
    return [DsmRange(*_DSM_RANGE_STRUCT.unpack_from(raw, i * DSM_RANGE_SIZE)) for i in range(count)]


def make_status(sct: int, sc: int, dnr: bool = False, m: bool = False, crd: int = 0) -> int:
    """The 15-bit status field value: DNR(14) M(13) CRD(12:11) SCT(10:8) SC(7:0)."""
    return (int(dnr) << 14) | (int(m) << 13) | ((crd & 3) << 11) | ((sct & 7) << 8) | (sc & 0xFF)


def split_status(status: int) -> tuple[int, int, bool]:
    """(sct, sc, dnr) of a 15-bit status field value."""
    return (status >> 8) & 7, status & 0xFF, bool(status >> 14 & 1)
