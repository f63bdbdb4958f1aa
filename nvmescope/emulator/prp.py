"""Walking PRP entries into host address ranges (NVMe 1.4 section 4.3).

A command's data pointer is PRP Entry 1 and PRP Entry 2:

- PRP1 points at the first byte; it may carry an offset into its memory page
  (dword aligned).
- If the data fits in the rest of PRP1's page, PRP2 is unused.
- If it ends within one more page, PRP2 points at that page (offset 0).
- Otherwise PRP2 points at a PRP List (this pointer may have a qword-aligned
  offset into its page): 8-byte entries, each a page-aligned data page; when
  a list page fills up, its last entry points at the next list page, which
  must be page aligned (NVMe 1.4 Figure 108: only the first PRP entry and the
  PRP List pointer in the command may have an offset).

Any entry that breaks an offset rule gives PRP Offset Invalid; a list page the
host never mapped gives Data Transfer Error. The walk never raises.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..nvme import status as st
from .port import HostPort


@dataclass
class PrpMap:
    """The result of a walk: contiguous host ranges, or a status and the failing field."""

    segments: list[tuple[int, int]] = field(default_factory=list)
    list_pages: list[int] = field(default_factory=list)
    #: the entries read from each list page, in the order of ``list_pages``
    list_entries: list[tuple[int, ...]] = field(default_factory=list)
    error: tuple[int, int] | None = None
    #: byte offset of the failing field in the SQE (24 = PRP1, 32 = PRP2)
    error_location: int = 0xFFFF
    detail: str = ""


def _merge(segments: list[tuple[int, int]], addr: int, length: int) -> None:
    if segments and segments[-1][0] + segments[-1][1] == addr:
        segments[-1] = (segments[-1][0], segments[-1][1] + length)
    else:
        segments.append((addr, length))


def nvme_map_prp(
    port: HostPort, prp1: int, prp2: int, length: int, page_size: int, can_dma: bool = True
) -> PrpMap:
    """Turn ``prp1``/``prp2`` describing ``length`` bytes into address ranges."""
    out = PrpMap()
    if length <= 0:
        return out
    if prp1 & 0x3:
        out.error, out.error_location = st.PRP_OFFSET_INVALID, 24
        out.detail = f"PRP1 {prp1:#x} is not dword aligned"
        return out
    first = min(length, page_size - (prp1 % page_size))
    _merge(out.segments, prp1, first)
    remaining = length - first
    if remaining == 0:
        return out
    if remaining <= page_size:
        if prp2 % page_size:
            out.error, out.error_location = st.PRP_OFFSET_INVALID, 32
            out.detail = f"PRP2 {prp2:#x} has a non-zero offset"
            return out
        _merge(out.segments, prp2, remaining)
        return out
    # PRP2 is a PRP List pointer
    if prp2 & 0x7:
        out.error, out.error_location = st.PRP_OFFSET_INVALID, 32
        out.detail = f"PRP list pointer {prp2:#x} is not qword aligned"
        return out
    list_addr = prp2
    while remaining > 0:
        entries_left = (page_size - (list_addr % page_size)) // 8
        needed = -(-remaining // page_size)
        count = entries_left if needed > entries_left else needed
        out.list_pages.append(list_addr)
        raw = port.dma_read(list_addr, count * 8) if can_dma else None
        if raw is None or len(raw) != count * 8:
            out.error, out.error_location = st.DATA_TRANSFER_ERROR, 32
            out.detail = f"PRP list at {list_addr:#x} is not mapped"
            return out
        entries = struct.unpack(f"<{count}Q", raw)
        out.list_entries.append(entries)
        next_list = None
        for index, entry in enumerate(entries):
            if remaining > page_size and index == entries_left - 1:
                # the last entry of a full list page chains to the next list page; only
                # the first PRP entry and the list pointer in the command may carry an
                # offset, so this one must point at the start of a page
                if entry % page_size:
                    out.error, out.error_location = st.PRP_OFFSET_INVALID, 32
                    out.detail = f"PRP list chain pointer {entry:#x} has a non-zero offset"
                    return out
                next_list = entry
                break
            if entry % page_size:
                out.error, out.error_location = st.PRP_OFFSET_INVALID, 32
                out.detail = f"PRP list entry {index} ({entry:#x}) has a non-zero offset"
                return out
            n = min(page_size, remaining)
            _merge(out.segments, entry, n)
            remaining -= n
            if remaining == 0:
                break
        if remaining == 0:
            break
        if next_list is None:  # pragma: no cover - the loop above always chains
            break
        list_addr = next_list
    return out
