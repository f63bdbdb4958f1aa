"""Protocol checks ("expert info"): what in a recording breaks or bends the rules.

:func:`run_checks` walks the events once, keeps the state of every queue
(admin queues from the host's AQA/ASQ/ACQ writes and CC.EN, I/O queues from
``queue_created``/``queue_deleted``) and reports :class:`Finding` records,
each naming the event (``seq``), a severity and one sentence:

=====================  ========  ====================================================
check                  severity  what
=====================  ========  ====================================================
cid_reuse              error     a CID fetched again on the same SQ while a command
                                 with that CID is still outstanding (fetched, no CQE)
doorbell_range         error     a doorbell value beyond the queue size
doorbell_reserved      error     a doorbell write with reserved bits 31:16 set (the
                                 device ignores them and takes bits 15:0)
doorbell_unknown_queue warning   a doorbell for a queue that does not exist (only
                                 once the recording has shown the controller's setup)
sq_overfull            error     an SQ tail doorbell that makes the queue more than
                                 full (more than size-1 entries not yet fetched)
cq_head_passes_tail    error     a CQ head doorbell that releases entries the device
                                 has not posted
sqe_overwritten        error     a host ``mem_write`` to an SQ slot after the tail
                                 doorbell that published it and before its fetch
prp_offset             error     PRP1 not dword aligned, PRP2 (second data page) or a
                                 later PRP entry not page aligned, a PRP list pointer
                                 not qword aligned, a chained PRP list not page aligned
dma_page0              warning   the device reads or writes host memory page 0 (the
                                 first memory page, CC.MPS): a PRP, PRP list or queue
                                 address of 0 is the mark of a pointer the host never
                                 set; once per command
error_status           warning   a completion with a status other than success (a
                                 note for aborts the host asked for, and when an
                                 ``err_*`` of the same command already said why)
err_*                  warning   every ``err_*`` event of the device
ub_*                   error     every ``ub_*`` event of the device
data_mismatch          error     a Read delivered a block different from what the
                                 recording last wrote there (the scoreboard of
                                 ``trace/scoreboard.py``: a model of every block)
compare_mismatch       error     a Compare succeeded although the host's data differs
                                 from the model's blocks, or failed although it equals
fault_*                note      every time a fault the host armed changed what the
                                 device did (an interrupt lost, a CQE held back, a
                                 status forced, an SQ not fetched); a status forced
                                 by a fault makes its ``error_status`` a note
=====================  ========  ====================================================

When the device itself reports what one of our checks found (``ub_db_invalid_value``
next to a ``doorbell_range`` finding, for instance), the two become one finding
that names the host's event and mentions the device's in ``related``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from rich.table import Table

from nvmescope.events import ERR_KINDS, UB_KINDS, Event, describe
from nvmescope.nvme.commands import SQE_SIZE
from nvmescope.nvme.opcodes import opcode_name
from nvmescope.nvme.status import describe_status
from nvmescope.trace.scoreboard import Scoreboard

ERROR, WARNING, NOTE = "error", "warning", "note"
SEVERITIES = (ERROR, WARNING, NOTE)
_RANK = {ERROR: 0, WARNING: 1, NOTE: 2}

CC_OFFSET, AQA_OFFSET, ASQ_OFFSET, ACQ_OFFSET = 0x14, 0x24, 0x28, 0x30
RESET_STATES = frozenset({"reset", "disabled", "fatal", "flr", "conventional_reset", "nssr"})
#: statuses a host expects after asking for an abort: notes, not warnings
_EXPECTED_ABORTS = frozenset({0x007, 0x008})  # abort requested, aborted by SQ deletion

#: our check -> the device's condition that reports the same thing
CONFIRMED_BY: dict[str, str] = {
    "doorbell_range": "ub_db_invalid_value",
    "doorbell_reserved": "ub_mmio_reserved",
    "doorbell_unknown_queue": "ub_db_invalid_queue",
    "sq_overfull": "err_sq_full_doorbell",
    "cq_head_passes_tail": "ub_cq_head_passes_tail",
    "prp_offset": "err_invalid_prp_offset",
}
#: how far apart (in seq) a finding and the device's report of it may be
MERGE_WINDOW = 8


@dataclass(frozen=True)
class Finding:
    """One protocol finding about one event."""

    seq: int
    severity: str
    check: str
    message: str
    index: int = -1  # position in the event sequence given to run_checks
    sqid: int | None = None
    cid: int | None = None
    related: tuple[int, ...] = ()  # seqs of other events that say the same or explain it

    def line(self) -> str:
        """``seq 120 error cid_reuse: ...`` in one line."""
        return f"seq {self.seq} {self.severity} {self.check}: {self.message}"


@dataclass
class _Sq:
    size: int
    addr: int | None = None
    head: int = 0
    pending: dict[int, int] = field(default_factory=dict)  # slot -> seq of publishing doorbell


@dataclass
class _Cq:
    size: int
    addr: int | None = None
    tail: int = 0  # next slot the device posts to
    vector: int = 0


def _reserved_bits(e: Any, name: str, pointer: int, find: Any) -> None:
    """A doorbell write wider than 16 bits (``value``): bits 31:16 are reserved; the
    device ignores them and takes ``pointer``, bits 15:0, and so does the checker."""
    value = getattr(e, "value", None)
    if isinstance(value, int) and value > 0xFFFF:
        find(
            ERROR,
            "doorbell_reserved",
            f"{name} doorbell writes {value:#x}: bits 31:16 are reserved (the device "
            f"ignores them and takes {pointer}).",
        )


def _span(old: int, new: int, size: int) -> int:
    return (new - old) % size


class Checker:
    """The protocol checker, one event at a time: ``feed(event)`` returns new findings."""

    def __init__(self) -> None:
        self.sqs: dict[int, _Sq] = {}
        self.cqs: dict[int, _Cq] = {}
        self.page_size = 4096
        self.saw_setup = False
        self._aqa: int | None = None
        self._asq = 0
        self._acq = 0
        self._enabled = False
        self._outstanding: dict[tuple[int, int], int] = {}  # (sqid, cid) -> fetch seq
        self.scoreboard = Scoreboard()
        self._opnames: dict[tuple[int, int], str] = {}
        self._explained: dict[tuple[int, int], tuple[str, int]] = {}  # err_* seen for a command
        self._saw_fetch = False
        self._index = 0
        #: commands (sqid, cid) already warned about DMA to page 0, until their CQE
        self._page0: set[tuple[int | None, int | None]] = set()

    # -- state ------------------------------------------------------------------------
    def _admin_queues(self) -> None:
        if self._aqa is None:
            return
        asqs, acqs = (self._aqa & 0xFFF) + 1, ((self._aqa >> 16) & 0xFFF) + 1
        sq = self.sqs.get(0)
        if sq is None or sq.size != asqs or sq.addr != self._asq & ~0xFFF:
            self.sqs[0] = _Sq(asqs, self._asq & ~0xFFF)
        cq = self.cqs.get(0)
        if cq is None or cq.size != acqs or cq.addr != self._acq & ~0xFFF:
            self.cqs[0] = _Cq(acqs, self._acq & ~0xFFF)

    def _reset(self) -> None:
        for qid in [q for q in self.sqs if q != 0]:
            del self.sqs[qid]
        for qid in [q for q in self.cqs if q != 0]:
            del self.cqs[qid]
        if 0 in self.sqs:
            self.sqs[0] = _Sq(self.sqs[0].size, self.sqs[0].addr)
        if 0 in self.cqs:
            self.cqs[0] = _Cq(self.cqs[0].size, self.cqs[0].addr)
        self._outstanding.clear()
        self._explained.clear()

    def _on_mmio_write(self, e: Any) -> None:
        addr, size, value = e.addr, e.size, e.value
        if addr == CC_OFFSET:
            self.page_size = 1 << (12 + ((value >> 7) & 0xF))
            en = bool(value & 1)
            if en and not self._enabled:
                self.saw_setup = True
                self._admin_queues()
                self._reset()
            elif not en and self._enabled:
                self._reset()
            self._enabled = en
        elif addr == AQA_OFFSET:
            self._aqa = value
            self.saw_setup = True
            self._admin_queues()
        elif addr in (ASQ_OFFSET, ASQ_OFFSET + 4, ACQ_OFFSET, ACQ_OFFSET + 4):
            base = ASQ_OFFSET if addr < ACQ_OFFSET else ACQ_OFFSET
            old = self._asq if base == ASQ_OFFSET else self._acq
            if size == 8:
                new = value
            elif addr == base:
                new = (old & ~0xFFFFFFFF) | (value & 0xFFFFFFFF)
            else:
                new = (old & 0xFFFFFFFF) | ((value & 0xFFFFFFFF) << 32)
            if base == ASQ_OFFSET:
                self._asq = new
            else:
                self._acq = new
            self._admin_queues()

    # -- the checks -------------------------------------------------------------------
    def feed(self, event: Event) -> list[Finding]:
        index = self._index
        self._index += 1
        kind = event.kind
        e: Any = event
        out: list[Finding] = []

        def find(severity: str, check: str, message: str, **kw: Any) -> None:
            kw.setdefault("sqid", event.sqid)
            kw.setdefault("cid", event.cid)
            out.append(Finding(event.seq, severity, check, message, index, **kw))

        if kind == "mmio_write":
            self._on_mmio_write(e)
        elif kind == "ctrl_state":
            if e.state in RESET_STATES:
                self._enabled = False
                self._reset()
        elif kind == "queue_created":
            self.saw_setup = True
            if e.qtype == "sq":
                self.sqs[e.qid] = _Sq(e.qsize, e.addr)
            else:
                self.cqs[e.qid] = _Cq(e.qsize, e.addr, vector=e.vector)
        elif kind == "queue_deleted":
            if e.qtype == "sq":
                self.sqs.pop(e.qid, None)
                for key in [k for k in self._outstanding if k[0] == e.qid]:
                    del self._outstanding[key]
            else:
                self.cqs.pop(e.qid, None)
        elif kind == "doorbell_sq":
            self._check_sq_doorbell(e, find)
        elif kind == "doorbell_cq":
            self._check_cq_doorbell(e, find)
        elif kind == "mem_write":
            self._check_mem_write(e, find)
        elif kind == "sqe_fetch":
            self._saw_fetch = True
            self._on_fetch(e, find)
        elif kind == "cmd_start":
            if e.sqid is not None and e.cid is not None:
                key = (e.sqid, e.cid)
                self._opnames[key] = e.opname
                if not self._saw_fetch:
                    self._check_cid(key, e, find)
        elif kind == "cqe_post":
            self._on_cqe(e, find)
            self._page0.discard((e.sqid, e.cid))
        elif kind in ("dma_read", "dma_write"):
            self._check_page0(e, find)
        elif kind == "map_prp":
            self._check_prp(e, find)
        elif kind.startswith("err_"):
            words = ERR_KINDS.get(kind, kind.removeprefix("err_").replace("_", " "))
            find(WARNING, kind, _sentence(words, e.detail))
            if e.sqid is not None and e.cid is not None:
                self._explained[(e.sqid, e.cid)] = (kind, e.seq)
        elif kind.startswith("ub_"):
            words = UB_KINDS.get(kind, kind.removeprefix("ub_").replace("_", " "))
            find(ERROR, kind, _sentence(words, e.detail))
        elif kind.startswith("fault_"):
            # the host asked for this misbehaviour: worth knowing, not a protocol error
            find(NOTE, kind, _sentence(describe(event), ""))
            if kind == "fault_status_forced" and e.sqid is not None and e.cid is not None:
                self._explained[(e.sqid, e.cid)] = (kind, e.seq)
        self.scoreboard.feed(event, find, kind)
        return out

    def _check_sq_doorbell(self, e: Any, find: Any) -> None:
        sqid = e.sqid
        sq = self.sqs.get(sqid) if sqid is not None else None
        if sq is None:
            if self.saw_setup and sqid is not None:
                find(
                    WARNING,
                    "doorbell_unknown_queue",
                    f"SQ{sqid} tail doorbell rung, but SQ{sqid} does not exist.",
                )
            return
        _reserved_bits(e, f"SQ{sqid} tail", e.new_tail, find)
        new, old = e.new_tail, e.old_tail
        if new >= sq.size:
            find(
                ERROR,
                "doorbell_range",
                f"SQ{sqid} tail doorbell writes {new}, beyond the queue's {sq.size} entries (0..{sq.size - 1}).",
            )
            return
        old %= sq.size
        waiting = _span(sq.head, old, sq.size)
        added = _span(old, new, sq.size)
        if waiting + added > sq.size - 1:
            find(
                ERROR,
                "sq_overfull",
                f"SQ{sqid} tail doorbell {old} -> {new} adds {added} entries to {waiting} not yet fetched: "
                f"more than the {sq.size - 1} a {sq.size}-entry queue holds.",
            )
            return
        slot = old
        for _ in range(added):
            sq.pending[slot] = e.seq
            slot = (slot + 1) % sq.size

    def _check_cq_doorbell(self, e: Any, find: Any) -> None:
        cqid = e.cqid
        cq = self.cqs.get(cqid)
        if cq is None:
            if self.saw_setup:
                find(
                    WARNING,
                    "doorbell_unknown_queue",
                    f"CQ{cqid} head doorbell rung, but CQ{cqid} does not exist.",
                )
            return
        _reserved_bits(e, f"CQ{cqid} head", e.new_head, find)
        new, old = e.new_head, e.old_head % cq.size
        if new >= cq.size:
            find(
                ERROR,
                "doorbell_range",
                f"CQ{cqid} head doorbell writes {new}, beyond the queue's {cq.size} entries (0..{cq.size - 1}).",
            )
            return
        posted = _span(old, cq.tail, cq.size)
        released = _span(old, new, cq.size)
        if released > posted:
            find(
                ERROR,
                "cq_head_passes_tail",
                f"CQ{cqid} head doorbell {old} -> {new} releases {released} entries "
                f"but the device has posted only {posted} (tail {cq.tail}).",
            )

    def _check_mem_write(self, e: Any, find: Any) -> None:
        start, end = e.addr, e.addr + len(e.data)
        for sqid, sq in self.sqs.items():
            if not sq.pending or sq.addr is None:
                continue
            lo, hi = max(start, sq.addr), min(end, sq.addr + sq.size * SQE_SIZE)
            if lo >= hi:
                continue
            first, last = (lo - sq.addr) // SQE_SIZE, (hi - 1 - sq.addr) // SQE_SIZE
            hit = [s for s in range(first, last + 1) if s in sq.pending]
            if hit:
                more = f" (and {len(hit) - 1} more slot(s))" if len(hit) > 1 else ""
                doorbell = sq.pending[hit[0]]
                find(
                    ERROR,
                    "sqe_overwritten",
                    f"The host overwrote SQ{sqid} slot {hit[0]}{more} after the doorbell at seq "
                    f"{doorbell} published it and before the device fetched it.",
                    sqid=sqid,
                    related=(doorbell,),
                )

    def _on_fetch(self, e: Any, find: Any) -> None:
        sqid = e.sqid if e.sqid is not None else 0
        sq = self.sqs.get(sqid)
        if sq is not None:
            sq.pending.pop(e.slot, None)
            sq.head = e.new_head % sq.size if sq.size else e.new_head
        cid = e.cid
        if cid is None and len(e.data) >= 4:
            cid = int.from_bytes(e.data[2:4], "little")
        if cid is None:
            return
        key = (sqid, cid)
        if len(e.data) >= 1:
            self._opnames[key] = opcode_name(e.data[0], sqid == 0)
        self._check_cid(key, e, find)

    def _check_cid(self, key: tuple[int, int], e: Any, find: Any) -> None:
        before = self._outstanding.get(key)
        if before is not None:
            find(
                ERROR,
                "cid_reuse",
                f"CID {key[1]} reused on SQ{key[0]} while the command fetched at seq {before} "
                "with that CID is still outstanding.",
                sqid=key[0],
                cid=key[1],
                related=(before,),
            )
        self._outstanding[key] = e.seq
        self._explained.pop(key, None)

    def _on_cqe(self, e: Any, find: Any) -> None:
        cq = self.cqs.get(e.cqid)
        if cq is not None and cq.size:
            cq.tail = (e.slot + 1) % cq.size
        key = (e.sqid, e.cid) if e.sqid is not None and e.cid is not None else None
        if key is not None:
            self._outstanding.pop(key, None)
        if e.status & 0x7FF == 0:
            if key is not None:
                self._explained.pop(key, None)
            return
        what = self._opnames.get(key, "command") if key is not None else "command"
        who = f" (SQ{e.sqid} CID {e.cid})" if key is not None else ""
        explained = self._explained.pop(key, None) if key is not None else None
        sentence = f"{what}{who} completed with {describe_status(e.status)}."
        if e.status & 0x7FF in _EXPECTED_ABORTS:
            find(NOTE, "error_status", sentence)
        elif explained is not None:
            find(
                NOTE,
                "error_status",
                sentence[:-1] + f", as {explained[0]} at seq {explained[1]} said.",
                related=(explained[1],),
            )
        else:
            find(WARNING, "error_status", sentence)

    def _check_prp(self, e: Any, find: Any) -> None:
        page = self.page_size
        problems: list[str] = []
        prp1, prp2, length = e.prp1, e.prp2, e.length
        if prp1 & 3:
            problems.append(f"PRP1 {prp1:#x} is not dword aligned")
        first = page - (prp1 % page)
        if length > first:
            if length <= first + page:
                if prp2 % page:
                    problems.append(
                        f"PRP2 {prp2:#x} points to the second data page but has offset {prp2 % page:#x}"
                    )
            elif prp2 & 7:
                problems.append(f"PRP2 {prp2:#x}, a PRP list pointer, is not qword aligned")
        for number, (addr, _len) in enumerate(e.segments[1:], 2):
            if addr % page:
                problems.append(
                    f"data segment {number} at {addr:#x} does not start on a page boundary"
                )
        for addr in e.list_pages[1:]:
            if addr % page:
                problems.append(f"chained PRP list at {addr:#x} is not page aligned")
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            find(
                ERROR,
                "prp_offset",
                f"{problems[0]}{more}: only PRP1 and a PRP list pointer in the command may have an offset.",
            )

    def _check_page0(self, e: Any, find: Any) -> None:
        if e.addr >= self.page_size:
            return
        key = (e.sqid, e.cid)
        if e.cid is not None:
            if key in self._page0:
                return
            self._page0.add(key)
        verb = "reads" if e.kind == "dma_read" else "writes"
        way = "from" if e.kind == "dma_read" else "to"
        opname = self._opnames.get(key, "") if e.cid is not None else ""
        what = f" ({e.purpose})" if e.purpose and e.purpose != opname else ""
        whose = ""
        if e.sqid is not None and e.cid is not None:
            whose = f" for {opname or 'a command'} (SQ{e.sqid} CID {e.cid})"
        size = f"{e.length} byte{'s' if e.length != 1 else ''}"
        find(
            WARNING,
            "dma_page0",
            f"Device {verb} {size}{what} {way} host address {e.addr:#x}, in page 0{whose}: "
            "an address of 0 in a PRP entry or a queue base is almost always a pointer the "
            "host never set.",
        )

    def _findings(self, events: Iterable[Event]) -> Iterator[Finding]:
        for event in events:
            yield from self.feed(event)


def _sentence(words: str, detail: str) -> str:
    text = words[:1].upper() + words[1:]
    if detail:
        text += f" ({detail})"
    return text if text.endswith(".") else text + "."


def merge_confirmed(findings: list[Finding]) -> list[Finding]:
    """Fold a device condition into our finding that found the same thing nearby."""
    by_check: dict[str, list[int]] = {}
    for pos, f in enumerate(findings):
        by_check.setdefault(f.check, []).append(pos)
    drop: set[int] = set()
    out = list(findings)
    for check, kind in CONFIRMED_BY.items():
        ours = by_check.get(check, [])
        theirs = by_check.get(kind, [])
        used: set[int] = set()
        for pos in ours:
            mine = out[pos]
            for other in theirs:
                cond = findings[other]
                if other in used or abs(cond.seq - mine.seq) > MERGE_WINDOW:
                    continue
                used.add(other)
                drop.add(other)
                severity = min(mine.severity, cond.severity, key=_RANK.__getitem__)
                message = mine.message[:-1] + f"; the device reported {kind} at seq {cond.seq}."
                out[pos] = replace(
                    mine, severity=severity, message=message, related=mine.related + (cond.seq,)
                )
                break
    return [f for pos, f in enumerate(out) if pos not in drop]


def run_checks(events: Iterable[Event]) -> list[Finding]:
    """Every finding in ``events``, in event order (one pass over the events)."""
    return merge_confirmed(list(Checker()._findings(events)))


def iter_checks(events: Iterable[Event]) -> Iterator[Finding]:
    """Findings as they are found (no merging with the device's own reports)."""
    return Checker()._findings(events)


def summarize(findings: Iterable[Finding]) -> dict[str, int]:
    """How many findings of each severity: ``{"error": 2, "warning": 0, "note": 1}``."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return counts


_STYLE = {ERROR: "bold red", WARNING: "yellow", NOTE: "cyan"}


def format_findings(findings: Iterable[Finding], title: str = "Protocol checks") -> Table:
    """A rich Table of findings: seq, severity, check, sentence."""
    table = Table(title=title, header_style="bold")
    table.add_column("seq", justify="right")
    table.add_column("severity")
    table.add_column("check")
    table.add_column("finding")
    for f in findings:
        table.add_row(str(f.seq), f.severity, f.check, f.message, style=_STYLE.get(f.severity))
    return table
