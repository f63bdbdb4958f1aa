"""Which logical blocks of a namespace hold data: the allocation map behind DULBE.

A block is *allocated* once a Write, a Copy or a Write Zeroes without DEAC wrote it,
and *deallocated* again by Dataset Management (Deallocate) or Write Zeroes with DEAC,
or by a Format NVM; a block never written is unwritten. A host that enabled DULBE
(Feature 05h Error Recovery bit 16, where Identify Namespace NSFEAT bit 2 offers it)
is told, with Deallocated or Unwritten Logical Block (SCT 2h, SC 87h), that a Read,
Verify, Compare or Copy source touched such a block, instead of reading the zeros
DLFEAT promises.

The map keeps disjoint, sorted, half-open runs ``[start, end)`` of allocated blocks
(a run per contiguous extent), so a namespace written in order costs one run.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right


class AllocationMap:
    """The allocated blocks of one namespace, as sorted runs of block numbers."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def clear(self) -> None:
        """Every block deallocated (a Format NVM)."""
        self._starts.clear()
        self._ends.clear()

    @property
    def runs(self) -> list[tuple[int, int]]:
        """The allocated runs ``(start, end)`` (end exclusive), lowest first."""
        return list(zip(self._starts, self._ends, strict=True))

    @property
    def blocks(self) -> int:
        """How many blocks are allocated."""
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def allocate(self, slba: int, nlb: int) -> None:
        """Blocks ``slba`` .. ``slba + nlb - 1`` hold data now."""
        if nlb <= 0:
            return
        start, end = slba, slba + nlb
        # the runs that touch or overlap [start, end) merge with it
        lo = bisect_left(self._ends, start)
        hi = bisect_right(self._starts, end)
        if lo < hi:
            start = min(start, self._starts[lo])
            end = max(end, self._ends[hi - 1])
        self._starts[lo:hi] = [start]
        self._ends[lo:hi] = [end]

    def deallocate(self, slba: int, nlb: int) -> None:
        """Blocks ``slba`` .. ``slba + nlb - 1`` are deallocated now."""
        if nlb <= 0:
            return
        start, end = slba, slba + nlb
        lo = bisect_right(self._ends, start)
        hi = bisect_left(self._starts, end)
        if lo >= hi:
            return
        keep_s: list[int] = []
        keep_e: list[int] = []
        if self._starts[lo] < start:
            keep_s.append(self._starts[lo])
            keep_e.append(start)
        if self._ends[hi - 1] > end:
            keep_s.append(end)
            keep_e.append(self._ends[hi - 1])
        self._starts[lo:hi] = keep_s
        self._ends[lo:hi] = keep_e

    def first_unallocated(self, slba: int, nlb: int) -> int | None:
        """The first block of ``slba`` .. ``slba + nlb - 1`` that is deallocated or
        unwritten, or None when every one of them is allocated."""
        if nlb <= 0:
            return None
        i = bisect_right(self._starts, slba) - 1
        if i < 0 or self._ends[i] <= slba:
            return slba
        end = self._ends[i]
        return end if end < slba + nlb else None
