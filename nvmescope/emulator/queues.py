"""Submission and completion queue rings as the controller sees them (NVMe 1.4 section 4.1).

The controller owns an SQ's *head* (how far it has fetched) and a CQ's *tail*
and *phase* (where the next completion goes and which phase tag it carries);
the host owns an SQ's *tail* and a CQ's *head* through the doorbells. A CQ is
full when advancing its tail would make it equal to its head; the phase tag
inverts every time the tail wraps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..nvme.commands import CQE_SIZE, SQE_SIZE
from ..sim import Signal


@dataclass
class SubmissionQueue:
    sqid: int
    base: int
    size: int  # entries (1's based)
    cqid: int
    qprio: int = 0
    pc: bool = True
    head: int = 0
    tail: int = 0
    deleted: bool = False
    #: commands fetched from this SQ whose execution has not ended yet
    inflight: int = 0
    #: left out of arbitration until kicked again (a doorbell write, Bus Master Enable,
    #: a fault cleared): its fetch failed, or bus mastering was off, or fetching is stopped
    stalled: bool = False
    #: with shadow doorbells: the fetch engine reads this SQ's shadow before it arbitrates
    shadow_due: bool = False
    #: cids marked by an Abort command, completed with Command Abort Requested when fetched
    abort_cids: set[int] = field(default_factory=set)
    drained: Signal | None = None
    #: with shadow doorbells (Doorbell Buffer Config): the tail the device last read from
    #: (or wrote into) this queue's shadow doorbell; None while shadow doorbells are off
    shadow: int | None = None

    def slot_addr(self, slot: int) -> int:
        return self.base + slot * SQE_SIZE

    @property
    def empty(self) -> bool:
        return self.head == self.tail

    def unfetched_slots(self) -> list[int]:
        """Slots between head and tail: the commands the host queued and we have not fetched."""
        out = []
        slot = self.head
        while slot != self.tail:
            out.append(slot)
            slot = (slot + 1) % self.size
        return out

    def snapshot(self) -> dict[str, Any]:
        return {
            "sqid": self.sqid,
            "base": self.base,
            "size": self.size,
            "head": self.head,
            "tail": self.tail,
            "cqid": self.cqid,
            "qprio": self.qprio,
            "pc": self.pc,
            **({"shadow": self.shadow} if self.shadow is not None else {}),
        }


@dataclass
class CompletionQueue:
    cqid: int
    base: int
    size: int
    vector: int = 0
    ien: bool = True
    pc: bool = True
    head: int = 0
    tail: int = 0
    phase: int = 1
    #: fired when the host frees entries (CQ head doorbell)
    space: Signal | None = None
    sqids: list[int] = field(default_factory=list)
    #: with shadow doorbells: the head the device last read from (or wrote into) the shadow
    shadow: int | None = None

    def slot_addr(self, slot: int) -> int:
        return self.base + slot * CQE_SIZE

    @property
    def full(self) -> bool:
        return (self.tail + 1) % self.size == self.head

    @property
    def pending(self) -> int:
        """Entries posted and not yet consumed by the host."""
        return (self.tail - self.head) % self.size

    def advance_tail(self) -> None:
        self.tail += 1
        if self.tail == self.size:
            self.tail = 0
            self.phase ^= 1

    def head_valid(self, new_head: int) -> bool:
        """A CQ head may move forward over posted entries only, up to the tail."""
        return (new_head - self.head) % self.size <= self.pending

    def snapshot(self) -> dict[str, Any]:
        return {
            "cqid": self.cqid,
            "base": self.base,
            "size": self.size,
            "head": self.head,
            "tail": self.tail,
            "phase": self.phase,
            "vector": self.vector,
            "ien": self.ien,
            "pc": self.pc,
            "sqids": sorted(self.sqids),
            **({"shadow": self.shadow} if self.shadow is not None else {}),
        }
