"""Command arbitration (NVMe 1.4, Command Arbitration; 4.11 in revision 1.3): the next SQ.

The fetch engine (``Controller._nvme_fetch_engine``) asks :meth:`Arbiter.pick` each
time it may fetch, with the SQs that have a command waiting and room to run it, and
puts the answer's words in the ``sqe_fetch`` event (``arbitration``).

- Round robin (CC.AMS 000b): every SQ, the Admin SQ included, has the same priority;
  the arbiter goes round them in SQ ID order, starting after the SQ it chose last.
- Weighted round robin with urgent priority class (CC.AMS 001b, offered when CAP.AMS
  bit 0 is set): three strict priority classes, a higher one always served before a
  lower one: the Admin SQ (strict priority 1), the urgent I/O SQs (QPRIO 00b, strict
  priority 2) and the weighted round robin class (strict priority 3), whose high,
  medium and low SQs (QPRIO 01b, 10b, 11b) share it by weight: each arbitration round
  gives HPW + 1, MPW + 1 and LPW + 1 commands (credits, Feature 01h's 0's based
  weights) to the three, high first; a new round starts when no SQ with a command
  waiting has a credit left. Within one class or priority level, round robin.
- Arbitration Burst (Feature 01h AB): once an SQ is chosen, up to 2^AB commands (111b:
  no limit) are taken from it before arbitration takes place again. The controller
  may take fewer (the specification's "may"); this one ends a burst early when the SQ
  has no command ready, when its weighted class has no credit left, or when an SQ of
  a higher strict priority class has a command waiting.

Only the arbiter's own memory lives here (where each round robin stands, the credits
of the round, the burst under way); the controller resets it with the controller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..nvme import features as f

#: CC.AMS values (NVMe 1.4, Figure 78)
AMS_RR, AMS_WRR = 0b000, 0b001
#: CAP.AMS bit 0: Weighted Round Robin with Urgent Priority Class is supported
CAP_AMS_WRR = 0x1
#: Create I/O SQ CDW11.QPRIO (NVMe 1.4, Figure 154)
QPRIO_URGENT, QPRIO_HIGH, QPRIO_MEDIUM, QPRIO_LOW = 0, 1, 2, 3
QPRIO_NAMES = {QPRIO_URGENT: "urgent", QPRIO_HIGH: "high", QPRIO_MEDIUM: "medium", QPRIO_LOW: "low"}
#: the class of the Admin SQ in an arbiter's bookkeeping (it has no QPRIO)
ADMIN_CLASS = -1
AB_NO_LIMIT = 0b111


def burst_limit(arbitration: int) -> int | None:
    """Commands per burst that Feature 01h's AB allows (None: no limit)."""
    ab = arbitration & 0x7
    return None if ab == AB_NO_LIMIT else 1 << ab


def weights(arbitration: int) -> dict[int, int]:
    """Commands per round of each weighted priority level (HPW, MPW, LPW are 0's based)."""
    fields = f.ARBITRATION.parse(arbitration.to_bytes(4, "little"))
    return {QPRIO_HIGH: fields.hpw + 1, QPRIO_MEDIUM: fields.mpw + 1, QPRIO_LOW: fields.lpw + 1}


class Candidate(Protocol):
    """What the arbiter needs of an SQ (``SubmissionQueue`` has both)."""

    sqid: int
    qprio: int


@dataclass
class Arbiter:
    """Where the round robins stand, the credits of this round, the burst under way."""

    #: per class (ADMIN_CLASS, a QPRIO, or None for plain round robin): the round's place,
    #: the SQ chosen last (or just before an SQ passed by for want of room)
    last: dict[int | None, int] = field(default_factory=dict)
    #: per class: the SQ passed by for want of room, whose turn is kept
    kept: dict[int | None, int] = field(default_factory=dict)
    #: weighted round robin: credits left in this round, by QPRIO level, and what the
    #: round started with
    credits: dict[int, int] = field(default_factory=dict)
    round_credits: dict[int, int] = field(default_factory=dict)
    #: the SQ whose burst is under way, and how many of its commands it has had
    burst_sqid: int | None = None
    burst_taken: int = 0

    def reset(self) -> None:
        self.last.clear()
        self.kept.clear()
        self.credits.clear()
        self.round_credits.clear()
        self.burst_sqid = None
        self.burst_taken = 0

    def pick(
        self,
        ready: Sequence[Candidate],
        wrr: bool,
        arbitration: int,
        blocked: Sequence[int] = (),
    ) -> tuple[Candidate, str]:
        """Choose from ``ready`` (SQs with a command to fetch and room to run it, in SQ ID
        order; never empty) and say why, in words for the ``sqe_fetch`` event.

        ``blocked``: the SQ IDs with a command waiting but no room to run it (the admin
        command slot or every I/O unit busy). Round robin passes them by without taking
        their turn: its place in the round stays before the first one it passed, so each
        is the next chosen once it has room."""
        limit = burst_limit(arbitration)
        burst = self.burst_sqid is not None and (limit is None or self.burst_taken < limit)
        if not wrr:
            if burst:
                current = next((sq for sq in ready if sq.sqid == self.burst_sqid), None)
                if current is not None:
                    return current, self._burst_words(current, limit, arbitration, "")
            sq, rr = self._round_robin(ready, None, "SQ", blocked)
            self._start_burst(sq)
            return sq, f"round robin: SQ{sq.sqid}{rr}"
        cls = {sq.sqid: self._class(sq) for sq in ready}
        top = min(self._strict(c) for c in cls.values())
        # the burst under way goes on unless a higher strict priority class waits, or its
        # weighted level has no credit left
        if burst:
            current = next((sq for sq in ready if sq.sqid == self.burst_sqid), None)
            if current is not None and self._strict(cls[current.sqid]) == top:
                level = cls[current.sqid]
                if level < QPRIO_HIGH or self.credits.get(level, 0) > 0:
                    credit = self._take(level)
                    return current, self._burst_words(current, limit, arbitration, credit)
        if top == 1:
            admin = next(sq for sq in ready if cls[sq.sqid] == ADMIN_CLASS)
            self._start_burst(admin)
            return admin, "WRR: admin SQ0, strict priority 1 (the highest class)"
        if top == 2:
            urgent = [sq for sq in ready if cls[sq.sqid] == QPRIO_URGENT]
            sq, rr = self._round_robin(urgent, QPRIO_URGENT, "urgent SQ")
            self._start_burst(sq)
            return sq, f"WRR: urgent, strict priority 2: SQ{sq.sqid}{rr}"
        renewed = ""
        levels = [lv for lv in (QPRIO_HIGH, QPRIO_MEDIUM, QPRIO_LOW) if lv in cls.values()]
        if not any(self.credits.get(lv, 0) > 0 for lv in levels):
            self.credits = weights(arbitration)
            self.round_credits = w = dict(self.credits)
            renewed = (
                f"new round (high {w[QPRIO_HIGH]}, medium {w[QPRIO_MEDIUM]}, "
                f"low {w[QPRIO_LOW]} credits); "
            )
        level = next(lv for lv in levels if self.credits.get(lv, 0) > 0)
        name = QPRIO_NAMES[level]
        members = [sq for sq in ready if cls[sq.sqid] == level]
        sq, rr = self._round_robin(members, level, f"{name} priority SQ")
        self._start_burst(sq)
        return sq, f"WRR: {renewed}{name} priority: SQ{sq.sqid}{rr}{self._take(level)}"

    # -- helpers ---------------------------------------------------------------------
    @staticmethod
    def _class(sq: Candidate) -> int:
        """ADMIN_CLASS for the Admin SQ, else the SQ's QPRIO."""
        return ADMIN_CLASS if sq.sqid == 0 else sq.qprio & 3

    @staticmethod
    def _strict(cls: int) -> int:
        """Strict priority class 1 (admin), 2 (urgent) or 3 (weighted round robin)."""
        if cls == ADMIN_CLASS:
            return 1
        return 2 if cls == QPRIO_URGENT else 3

    def _start_burst(self, sq: Candidate) -> None:
        self.burst_sqid, self.burst_taken = sq.sqid, 1

    def _burst_words(self, sq: Candidate, limit: int | None, arbitration: int, credit: str) -> str:
        self.burst_taken += 1
        ab = arbitration & 7
        of = f" of {limit} (AB {ab})" if limit is not None else f" (AB {ab}: no limit)"
        return f"burst: SQ{sq.sqid} again, command {self.burst_taken}{of}{credit}"

    def _take(self, level: int) -> str:
        """Spend a credit of a weighted level (none for admin or urgent): what is left."""
        if level < QPRIO_HIGH:
            return ""
        left = self.credits.get(level, 0) - 1
        self.credits[level] = left
        return f", {left} of {self.round_credits.get(level, 0)} credits left"

    def _round_robin(
        self, ready: Sequence[Candidate], cls: int | None, noun: str, blocked: Sequence[int] = ()
    ) -> tuple[Candidate, str]:
        """Round robin within one class: the first SQ after the one it chose last; the
        words that say so. An SQ of ``blocked`` it passes keeps its turn (see ``pick``)."""
        last = self.last.get(cls)
        sq = ready[0]
        if last is not None:
            for q in ready:
                if q.sqid > last:
                    sq = q
                    break
        kept = self.kept.pop(cls, None) if self.kept else None
        passed: list[int] = []
        if blocked:
            start = -1 if last is None else last

            def place(sqid: int) -> int:
                """How far round the ring ``sqid`` is from the place after ``last``."""
                return (sqid - start - 1) % 0x10000

            passed = sorted((b for b in blocked if place(b) < place(sq.sqid)), key=place)
        if passed:
            self.kept[cls] = passed[0]
            # the round's place stays just before the first SQ it passed by
            if passed[0] == 0:
                self.last.pop(cls, None)
            else:
                self.last[cls] = passed[0] - 1
            waiting = ", ".join(f"SQ{b}" for b in passed)
            after = f" after SQ{last}" if last is not None else ""
            return sq, f"{after} ({waiting} waiting for room to run a command)"
        self.last[cls] = sq.sqid
        if sq.sqid == kept:
            return sq, ", whose turn was kept while it waited for room"
        if len(ready) == 1:
            return sq, f", the only {noun} with a command waiting"
        if last is None:
            return sq, f", the first {noun} with a command waiting"
        return sq, f" after SQ{last}"
