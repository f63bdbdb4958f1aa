"""The command view: every command of a recording, its events paired up.

One NVMe command leaves a trail of events::

    mem_write      the host writes the 64-byte SQE into an SQ slot       (host)
    doorbell_sq    the host rings the SQ tail doorbell that publishes it (host)
    sqe_fetch      the device reads the SQE                              (device)
    cmd_start, map_prp, dma_read/dma_write, err_*, cmd_finish             (device, stamped
                   with the command's (sqid, cid) by the bus)
    cqe_post       the device writes the completion into the CQ          (device)
    irq_msix / irq_intx  the interrupt that tells the host               (device)
    host_irq       the host's interrupt handler runs for that vector     (host)
    mem_read       the host reads the CQE                                (host)
    doorbell_cq    the host's CQ head doorbell that releases the CQE     (host)

and, before the SQE write, the host's ``mem_write`` of the data to be
written and of the PRP list, when the command's PRPs point at them.

:func:`pair_commands` walks the events once and ties them together into
:class:`Command` records (event positions, not the events, so a million-event
recording costs little memory). The tying rules:

- the SQE write is the last ``mem_write`` to the slot's address before the
  doorbell; the doorbell is the ``doorbell_sq`` whose tail range covers the slot
  the ``sqe_fetch`` names (SQ base addresses come from ``queue_created`` and,
  for the admin queue, from the host's AQA/ASQ writes);
- device events stamped with ``(sqid, cid)`` belong to the oldest open instance
  of that pair (``cqe_post`` and ``cmd_finish`` close it); stamped events that
  come after the completion belong to the most recent completed instance;
- the interrupt is the first ``irq_msix`` on the CQ's vector (or ``irq_intx``)
  after the ``cqe_post``; one interrupt may cover several completions; an
  interrupt a fault lost (``fault_irq_dropped``) is the command's interrupt too,
  one no host handler follows;
- the host's handler is the first ``host_irq`` on that vector after the
  interrupt; the CQE read is the first host ``mem_read`` of the CQE's address
  after the ``cqe_post``;
- the data and PRP list writes are the host ``mem_write`` events (not SQE
  writes) before the fetch that overlap a data segment or a PRP list page the
  ``map_prp`` names; each write belongs to one command, and a later write
  that covers an earlier one replaces it;
- the release is the ``doorbell_cq`` whose head range covers the CQE's slot.

A CID is reused over time: each use of a ``(sqid, cid)`` is an *instance*,
numbered from 1 in the order the device fetched them.

Two latencies, both in virtual nanoseconds and both ending at the ``cqe_post``
(the moment the completion is in host memory, not the interrupt nor the
host's reaping):

- ``latency_ns`` (host-visible latency): from the SQ tail doorbell that
  published the command. It includes the time the SQE waited in the queue
  before the device fetched it.
- ``service_ns`` (device service time): from the ``sqe_fetch``.

A command without a ``cqe_post`` is *outstanding*; ``lost`` says why in words
and ``lost_cause`` as one of :data:`LOST_CAUSES` (a controller reset, an SQ
deletion, or the recording ending before the device fetched it); a command
the device fetched and was still working on when the recording ends has
neither (:func:`outstanding_reason` names every case).
"""

from __future__ import annotations

import re
from bisect import insort
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table
from rich.text import Text

from nvmescope.events import Event
from nvmescope.nvme.commands import SQE_SIZE, unpack_sqe
from nvmescope.nvme.opcodes import (
    FEATURES,
    IDENTIFY_CNS,
    LOG_PAGES,
    NS_ATTACH_SEL,
    NS_MGMT_SEL,
    Name,
    opcode_name,
)
from nvmescope.nvme.status import status_name

#: BAR0 offsets of the registers the tracker watches.
CC_OFFSET, AQA_OFFSET, ASQ_OFFSET = 0x14, 0x24, 0x28
#: ctrl_state states after which no in-flight command will complete.
LOST_STATES = frozenset({"reset", "disabled", "fatal", "flr", "conventional_reset", "nssr"})
IRQ_KINDS = frozenset({"irq_msix", "irq_intx", "fault_irq_dropped"})
#: why an outstanding command never completed, by ``Command.lost_cause``
LOST_CAUSES = {
    "reset": "lost to a controller reset",
    "sq_deleted": "lost to an SQ deletion",
    "never_fetched": "published but never fetched (the recording ends)",
    "": "in flight when the recording ends",
}
#: conditions that say the device ignored the doorbell just written
IGNORED_DOORBELL_KINDS = frozenset(
    {"ub_db_invalid_value", "ub_db_invalid_queue", "ub_db_while_disabled", "ub_db_after_shutdown"}
)


#: a submission queue has at most 64 Ki entries (CAP.MQES is 16 bits, 0's based)
MAX_SQ_ENTRIES = 65536
#: host memory writes kept as candidates for a later command's data or PRP list
MAX_PENDING_WRITES = 256
#: the PRP list page size the tracker assumes when it reads list page addresses
PRP_LIST_PAGE = 4096
#: pages of one host write or data segment the tracker indexes (a 1 MiB transfer)
MAX_WRITE_PAGES = 256


def _pages(start: int, end: int) -> range:
    """The 4 KiB pages [start, end) touches (at most the first MAX_WRITE_PAGES of them)."""
    first = start // PRP_LIST_PAGE
    last = (max(end, start + 1) - 1) // PRP_LIST_PAGE
    return range(first, min(last, first + MAX_WRITE_PAGES - 1) + 1)


def _published_slots(old: int, new: int, entries: int) -> list[int]:
    """The SQ slots a tail doorbell moving ``old`` -> ``new`` publishes, in order.

    Clipped to the queue's size (or, when it is not known, to the largest queue
    the specification allows) before anything is built: a recording may hold any
    numbers, and a tail of 2**31 must not become a list of 2**31 slots.
    """
    bound = entries if 0 < entries <= MAX_SQ_ENTRIES else MAX_SQ_ENTRIES
    if old < 0 or new < 0:
        return []
    if old <= new:
        return list(range(old, min(new, old + bound)))
    if not entries:
        return []
    first = list(range(old, min(entries, old + bound)))
    return first + list(range(0, min(new, bound - len(first))))


#: admin opcodes whose CDW10 bits 7:0 say what they do: Identify's CNS, Get Log Page's
#: LID, Get/Set Features' FID
SELECTORS: dict[int, tuple[str, dict[int, Name]]] = {
    0x06: ("cns", IDENTIFY_CNS),
    0x02: ("lid", LOG_PAGES),
    0x09: ("fid", FEATURES),
    0x0A: ("fid", FEATURES),
    0x0D: ("sel", NS_MGMT_SEL),
    0x15: ("sel", NS_ATTACH_SEL),
}
_DETAIL_SELECTOR = re.compile(r"\b(cns|lid|fid)=(0x[0-9a-fA-F]+|\d+)\b")


def selector_text(opcode: int | None, admin: bool, value: int) -> str:
    """``cns=0x01 (ctrl)``: the CNS, LID or FID an admin command's CDW10 bits 7:0 hold."""
    if not admin or opcode not in SELECTORS:
        return ""
    label, table = SELECTORS[opcode]
    value &= 0xFF
    hit = table.get(value)
    return f"{label}={value:#04x}" + (f" ({hit.name})" if hit else "")


def selector_from_detail(opcode: int | None, admin: bool, detail: str) -> str:
    """The selector of an imported ``cmd_start`` (no SQE bytes) from its detail text."""
    if not admin or opcode not in SELECTORS:
        return ""
    for label, raw in _DETAIL_SELECTOR.findall(detail):
        if label == SELECTORS[opcode][0]:
            return selector_text(opcode, admin, int(raw, 0))
    return ""


@dataclass
class Command:
    """One command instance: its identity, key event positions, outcome and timing.

    Positions (``doorbell``, ``fetch``, ..., ``events``) are 0-based indexes into
    the event sequence given to :func:`pair_commands` (for a machine run or a
    whole recording that is also each event's ``seq``).
    """

    sqid: int
    cid: int | None
    instance: int = 1
    opcode: int | None = None
    opname: str = ""
    nsid: int | None = None
    slot: int | None = None
    sqe_write: int | None = None
    doorbell: int | None = None
    fetch: int | None = None
    start: int | None = None
    finish: int | None = None
    cqe: int | None = None
    irq: int | None = None
    #: the host's interrupt handler run and its read of the CQE
    host_irq: int | None = None
    cqe_read: int | None = None
    reaped: int | None = None
    cqid: int | None = None
    cq_slot: int | None = None
    status: int | None = None
    t_doorbell: int | None = None
    t_fetch: int | None = None
    t_cqe: int | None = None
    lost: str = ""
    #: "reset", "sq_deleted", "never_fetched" or "" (see LOST_CAUSES)
    lost_cause: str = ""
    #: what the opcode is asked for: ``cns=0x01 (ctrl)``, ``lid=0x02 (smart)``,
    #: ``fid=0x07 (number_of_queues)``; "" for other opcodes
    selector: str = ""
    events: list[int] = field(default_factory=list)

    @property
    def admin(self) -> bool:
        return self.sqid == 0

    @property
    def outstanding(self) -> bool:
        """True when no completion was posted for this command."""
        return self.cqe is None

    @property
    def status_name(self) -> str:
        if self.status is None:
            return "outstanding"
        return status_name((self.status >> 8) & 7, self.status & 0xFF)

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status & 0x7FF == 0

    @property
    def latency_ns(self) -> int | None:
        """From the SQ tail doorbell to the CQE post (host-visible latency)."""
        if self.t_doorbell is None or self.t_cqe is None:
            return None
        return self.t_cqe - self.t_doorbell

    @property
    def service_ns(self) -> int | None:
        """From the SQE fetch to the CQE post (device service time)."""
        if self.t_fetch is None or self.t_cqe is None:
            return None
        return self.t_cqe - self.t_fetch

    @property
    def what(self) -> str:
        """The opcode's name and its selector: ``identify cns=0x01 (ctrl)``."""
        name = self.opname or ("?" if self.opcode is None else f"{self.opcode:#04x}")
        return f"{name} {self.selector}" if self.selector else name

    @property
    def first(self) -> int:
        return self.events[0] if self.events else -1

    @property
    def label(self) -> str:
        """``SQ1:4#2``: SQ 1, CID 4, second instance."""
        cid = "?" if self.cid is None else str(self.cid)
        return f"SQ{self.sqid}:{cid}#{self.instance}"


class _Range:
    """SQ slots published by one tail doorbell and not yet fetched: [old, new) mod size."""

    __slots__ = ("old", "new", "index", "event", "shadow")

    def __init__(self, old: int, new: int, index: int, event: Event, shadow: bool = False) -> None:
        self.old, self.new, self.index, self.event = old, new, index, event
        #: published by a shadow doorbell in host memory (Doorbell Buffer Config)
        self.shadow = shadow

    def covers(self, slot: int) -> bool:
        if self.old <= self.new:
            return self.old <= slot < self.new
        return slot >= self.old or slot < self.new


def _covers(old: int, new: int, slot: int) -> bool:
    if old <= new:
        return old <= slot < new
    return slot >= old or slot < new


Hook = Callable[[Command, int, Event], None]


class CommandTracker:
    """Pairs events into commands, one event at a time (``feed``), then ``finish``.

    ``hook(command, index, event)`` is called for every event assigned to a
    command, including earlier events assigned later (the SQE write and the
    doorbell are tied at fetch time), so a caller can keep exactly the events it
    wants without holding the whole recording.
    """

    def __init__(self, hook: Hook | None = None) -> None:
        self.hook = hook
        self.commands: list[Command] = []
        self.sq_base: dict[int, tuple[int, int]] = {}  # sqid -> (addr, entries)
        self.cq_vector: dict[int, int | None] = {0: 0}
        self._asq = 0
        self._aqa: int | None = None
        self._sqe_writes: dict[tuple[int, int], tuple[int, Event]] = {}
        self._published: dict[int, deque[_Range]] = {}
        #: Doorbell Buffer Config: the shadow doorbell page, CAP.DSTRD, the last tail per SQ
        self._shadow_page: int | None = None
        self._dstrd = 0
        self._tail: dict[int, int] = {}
        self._open: dict[tuple[int, int], deque[Command]] = {}
        self._recent: dict[tuple[int, int], Command] = {}
        self._instances: dict[tuple[int, int], int] = {}
        self._await_irq: list[Command] = []
        self._await_host_irq: list[tuple[int | None, Command]] = []  # (vector, command)
        self._await_cqe_read: dict[int, Command] = {}  # CQE address -> command
        #: host data/PRP-list writes not yet tied to a command, oldest first:
        #: index -> (event, start, end), and the 4 KiB pages each one touches
        self._pending_writes: dict[int, tuple[Event, int, int]] = {}
        self._pending_pages: dict[int, set[int]] = {}
        self._await_reap: dict[int, deque[Command]] = {}
        self._last_range: tuple[int, _Range] | None = None
        self._index = 0

    # -- bookkeeping ------------------------------------------------------------------
    def _assign(self, cmd: Command, index: int, event: Event) -> None:
        if not cmd.events or index > cmd.events[-1]:
            cmd.events.append(index)
        elif index not in cmd.events:
            insort(cmd.events, index)
        if self.hook is not None:
            self.hook(cmd, index, event)

    def _new(self, sqid: int, cid: int | None) -> Command:
        instance = 1
        if cid is not None:
            key = (sqid, cid)
            instance = self._instances.get(key, 0) + 1
            self._instances[key] = instance
        cmd = Command(sqid=sqid, cid=cid, instance=instance)
        self.commands.append(cmd)
        if cid is not None:
            self._open.setdefault((sqid, cid), deque()).append(cmd)
        return cmd

    def _close(self, cmd: Command) -> None:
        if cmd.cid is None:
            return
        key = (cmd.sqid, cmd.cid)
        q = self._open.get(key)
        if q is not None and cmd in q:
            q.remove(cmd)
            if not q:
                del self._open[key]
        self._recent[key] = cmd

    def _lose(self, why: str, sqid: int | None = None) -> None:
        for key in list(self._open):
            if sqid is not None and key[0] != sqid:
                continue
            for cmd in self._open.pop(key):
                if cmd.cqe is None and not cmd.lost:
                    cmd.lost = why
                    cmd.lost_cause = "reset" if sqid is None else "sq_deleted"
        if sqid is None:
            self._published.clear()
            self._sqe_writes.clear()
        else:
            self._published.pop(sqid, None)

    def _set_admin_sq(self) -> None:
        if self._aqa is not None:
            self.sq_base[0] = (self._asq & ~0xFFF, (self._aqa & 0xFFF) + 1)

    # -- the events -------------------------------------------------------------------
    def feed(self, event: Event) -> None:
        index = self._index
        self._index += 1
        kind = event.kind
        e: Any = event
        if kind == "sqe_fetch":
            self._on_fetch(index, e)
        elif kind == "doorbell_sq":
            self._on_sq_doorbell(index, e)
        elif kind in IGNORED_DOORBELL_KINDS:
            # the device ignored the doorbell just rung: it published nothing
            if self._last_range is not None:
                sqid, rng = self._last_range
                ranges = self._published.get(sqid)
                if ranges and ranges[-1] is rng:
                    ranges.pop()
                self._last_range = None
        elif kind == "mem_write":
            self._on_mem_write(index, e)
        elif kind == "mem_read":
            cmd = self._await_cqe_read.pop(e.addr, None)
            if cmd is not None:
                cmd.cqe_read = index
                self._assign(cmd, index, e)
        elif kind == "host_irq":
            self._on_host_irq(index, e)
        elif kind in IRQ_KINDS:
            self._on_irq(index, e)
        elif kind == "doorbell_cq":
            self._on_cq_doorbell(index, e)
        elif kind == "mmio_write":
            self._on_mmio_write(e)
        elif kind == "mmio_read" and getattr(e, "value_known", True):
            # CAP.DSTRD (bits 35:32) says where each queue's shadow doorbell sits
            if e.addr == 0x4 and e.size == 4:
                self._dstrd = e.value & 0xF
            elif e.addr == 0x0 and e.size == 8:
                self._dstrd = (e.value >> 32) & 0xF
        elif kind == "ctrl_state":
            if e.state in LOST_STATES:
                self._lose(f"controller {e.state} at seq {e.seq}")
        elif kind == "queue_created":
            if e.qtype == "sq":
                self.sq_base[e.qid] = (e.addr, e.qsize)
            else:
                self.cq_vector[e.qid] = e.vector if e.ien else None
        elif kind == "queue_deleted":
            if e.qtype == "sq":
                self.sq_base.pop(e.qid, None)
                self._lose(f"SQ{e.qid} deleted at seq {e.seq}", sqid=e.qid)
        if kind in ("sqe_fetch", "doorbell_sq") or kind in IRQ_KINDS:
            return
        if event.sqid is not None and event.cid is not None:
            self._on_stamped(index, event)

    def published_by(self, e: Any) -> int:
        """How many SQEs a ``doorbell_sq`` makes visible (its tail move, modulo the size;
        1 for a backward move when the queue's size is not known)."""
        size = self.sq_base.get(e.sqid, (0, 0))[1]
        if size:
            return (e.new_tail - e.old_tail) % size
        return e.new_tail - e.old_tail if e.new_tail >= e.old_tail else 1

    def _on_sq_doorbell(self, index: int, e: Any) -> None:
        self._last_range = None
        sqid = e.sqid
        if sqid is None:
            return
        ranges = self._published.setdefault(sqid, deque())
        if ranges and ranges[-1].shadow and ranges[-1].new == e.new_tail:
            return  # the shadow doorbell already published these slots; this rings it in
        self._tail[sqid] = e.new_tail
        if ranges and ranges[-1].new != e.old_tail:
            ranges.pop()  # the device did not take the previous value: it published nothing
        size = self.sq_base.get(sqid, (0, 0))[1]
        value = e.value if getattr(e, "value", None) is not None else e.new_tail
        if e.new_tail == e.old_tail or (size and value >= size):
            return
        rng = _Range(e.old_tail, e.new_tail, index, e)
        ranges.append(rng)
        self._last_range = (sqid, rng)

    def _on_mmio_write(self, e: Any) -> None:
        addr, size, value = e.addr, e.size, e.value
        if addr == CC_OFFSET:
            if e.old & 1 and not e.new & 1:
                self._lose(f"controller reset (CC.EN=0) at seq {e.seq}")
        elif addr == AQA_OFFSET:
            self._aqa = value
            self._set_admin_sq()
        elif addr == ASQ_OFFSET:
            if size == 8:
                self._asq = value
            else:
                self._asq = (self._asq & ~0xFFFFFFFF) | (value & 0xFFFFFFFF)
            self._set_admin_sq()
        elif addr == ASQ_OFFSET + 4 and size == 4:
            self._asq = (self._asq & 0xFFFFFFFF) | ((value & 0xFFFFFFFF) << 32)
            self._set_admin_sq()

    def _on_mem_write(self, index: int, e: Any) -> None:
        addr = e.addr
        page = self._shadow_page
        if page is not None and page <= addr < page + 4096 and len(e.data) == 4:
            stride = 4 << self._dstrd
            slot, rest = divmod(addr - page, stride)
            if not rest and slot % 2 == 0:
                self._on_shadow_sq_doorbell(index, e, slot // 2)
            return
        for sqid, (base, entries) in self.sq_base.items():
            rel = addr - base
            if 0 <= rel < entries * SQE_SIZE and rel % SQE_SIZE == 0:
                self._sqe_writes[(sqid, rel // SQE_SIZE)] = (index, e)
                return
        end = addr + len(e.data)
        if end <= addr:
            return
        pending = self._pending_writes
        covered = {
            i
            for page in _pages(addr, end)
            for i in self._pending_pages.get(page, ())
            if addr <= pending[i][1] and pending[i][2] <= end
        }
        for i in covered:  # a later write of the same bytes replaces an earlier one
            self._drop_write(i)
        pending[index] = (e, addr, end)
        for page in _pages(addr, end):
            self._pending_pages.setdefault(page, set()).add(index)
        if len(pending) > MAX_PENDING_WRITES:
            self._drop_write(next(iter(pending)))

    def _drop_write(self, index: int) -> None:
        _, start, end = self._pending_writes.pop(index)
        for page in _pages(start, end):
            held = self._pending_pages.get(page)
            if held is not None:
                held.discard(index)
                if not held:
                    del self._pending_pages[page]

    def _on_map_prp(self, cmd: Command, e: Any) -> None:
        """Tie the host's writes of this command's data and PRP list to it."""
        if not self._pending_writes:
            return
        ranges = [(a, a + n) for a, n in e.segments if n > 0]
        ranges += [(a, (a // PRP_LIST_PAGE + 1) * PRP_LIST_PAGE) for a in e.list_pages]
        before = cmd.fetch if cmd.fetch is not None else cmd.start
        pending = self._pending_writes
        mine = sorted(
            {
                i
                for lo, hi in ranges
                for page in _pages(lo, hi)
                for i in self._pending_pages.get(page, ())
                if (before is None or i < before) and pending[i][1] < hi and lo < pending[i][2]
            }
        )
        for i in mine:
            event = pending[i][0]
            self._drop_write(i)
            self._assign(cmd, i, event)

    def _on_host_irq(self, index: int, e: Any) -> None:
        keep: list[tuple[int | None, Command]] = []
        for vector, cmd in self._await_host_irq:
            if vector is None or vector == e.vector:
                cmd.host_irq = index
                self._assign(cmd, index, e)
            else:
                keep.append((vector, cmd))
        self._await_host_irq = keep

    def _on_shadow_sq_doorbell(self, index: int, e: Any, sqid: int) -> None:
        """The host wrote SQ ``sqid``'s shadow tail doorbell: it publishes like an MMIO one."""
        new = int.from_bytes(e.data[:4], "little") & 0xFFFF
        old = self._tail.get(sqid, 0)
        size = self.sq_base.get(sqid, (0, 0))[1]
        if new == old or (size and new >= size):
            return
        self._tail[sqid] = new
        rng = _Range(old, new, index, e, shadow=True)
        self._published.setdefault(sqid, deque()).append(rng)

    def _on_fetch(self, index: int, e: Any) -> None:
        sqid = e.sqid if e.sqid is not None else 0
        data: bytes = e.data or b""
        sqe = unpack_sqe(data[:SQE_SIZE]) if len(data) >= SQE_SIZE else None
        cid = e.cid if e.cid is not None else (sqe.cid if sqe is not None else None)
        cmd = self._new(sqid, cid)
        cmd.fetch, cmd.t_fetch, cmd.slot = index, e.ts, e.slot
        if sqe is not None:
            cmd.opcode, cmd.nsid = sqe.opc, sqe.nsid
            cmd.opname = opcode_name(sqe.opc, sqid == 0)
            cmd.selector = selector_text(sqe.opc, sqid == 0, sqe.cdw10)
            if sqid == 0 and sqe.opc == 0x7C:  # Doorbell Buffer Config: PRP1 is the shadow page
                self._shadow_page = sqe.prp1 & ~0xFFF
        ranges = self._published.get(sqid)
        if ranges:
            for pos, rng in enumerate(ranges):
                if rng.covers(e.slot):
                    for _ in range(pos):
                        ranges.popleft()
                    cmd.doorbell, cmd.t_doorbell = rng.index, rng.event.ts
                    self._assign(cmd, rng.index, rng.event)
                    rng.old = e.slot + 1
                    if rng.old == rng.new:
                        ranges.popleft()
                    break
        written = self._sqe_writes.pop((sqid, e.slot), None)
        if written is not None and (cmd.doorbell is None or written[0] < cmd.doorbell):
            cmd.sqe_write = written[0]
            self._assign(cmd, written[0], written[1])
        self._assign(cmd, index, e)

    def _on_stamped(self, index: int, event: Event) -> None:
        e: Any = event
        key = (event.sqid, event.cid)
        kind = event.kind
        q = self._open.get(key)  # type: ignore[arg-type]
        cmd: Command | None = None
        if kind == "cmd_start":
            cmd = next((c for c in q if c.start is None), None) if q else None
            if cmd is None:
                cmd = self._new(event.sqid, event.cid)  # type: ignore[arg-type]
            cmd.start = index
            cmd.opcode, cmd.opname, cmd.nsid = e.opcode, e.opname, e.nsid
            if not cmd.selector:
                cmd.selector = selector_from_detail(e.opcode, event.sqid == 0, e.detail)
        elif kind == "cmd_finish":
            cmd = next((c for c in q if c.finish is None), None) if q else None
            if cmd is None:
                cmd = self._recent.get(key) or self._new(event.sqid, event.cid)  # type: ignore[arg-type]
            cmd.finish = index
            if cmd.status is None:
                cmd.status = e.status
            if cmd.opcode is None:
                cmd.opcode, cmd.opname = e.opcode, e.opname
        elif kind == "cqe_post":
            cmd = q[0] if q else self._new(event.sqid, event.cid)  # type: ignore[arg-type]
            cmd.cqe, cmd.t_cqe, cmd.status = index, e.ts, e.status
            cmd.cqid, cmd.cq_slot = e.cqid, e.slot
            self._close(cmd)
            self._await_cqe_read[e.addr] = cmd
            if self.cq_vector.get(e.cqid, -1) is not None:
                self._await_irq.append(cmd)
            self._await_reap.setdefault(e.cqid, deque()).append(cmd)
        else:
            cmd = q[0] if q else self._recent.get(key)  # type: ignore[arg-type]
            if cmd is not None and kind == "map_prp":
                self._on_map_prp(cmd, e)
        if cmd is not None:
            self._assign(cmd, index, event)

    def _on_irq(self, index: int, e: Any) -> None:
        if not self._await_irq:
            return
        if e.kind == "irq_intx" and not e.asserted:
            return
        lost = e.kind == "fault_irq_dropped"  # the host never saw it: no handler follows
        intx = e.kind == "irq_intx" or (lost and e.vector is None)
        keep: list[Command] = []
        for cmd in self._await_irq:
            vector = self.cq_vector.get(cmd.cqid, -1) if cmd.cqid is not None else -1
            if intx or vector == -1 or vector == e.vector:
                cmd.irq = index
                self._assign(cmd, index, e)
                if not getattr(e, "masked", False) and not lost:
                    self._await_host_irq.append((getattr(e, "vector", None), cmd))
            else:
                keep.append(cmd)
        self._await_irq = keep

    def _on_cq_doorbell(self, index: int, e: Any) -> None:
        waiting = self._await_reap.get(e.cqid)
        while waiting and _covers(e.old_head, e.new_head, waiting[0].cq_slot):  # type: ignore[arg-type]
            cmd = waiting.popleft()
            cmd.reaped = index
            self._assign(cmd, index, e)

    def finish(self) -> list[Command]:
        """Add the published-but-never-fetched commands; every command in submission order."""
        for sqid, ranges in sorted(self._published.items()):
            entries = self.sq_base.get(sqid, (0, 0))[1]
            for rng in ranges:
                for slot in _published_slots(rng.old, rng.new, entries):
                    written = self._sqe_writes.pop((sqid, slot), None)
                    data: bytes = written[1].data if written is not None else b""  # type: ignore[attr-defined]
                    sqe = unpack_sqe(data[:SQE_SIZE]) if len(data) >= SQE_SIZE else None
                    cmd = self._new(sqid, sqe.cid if sqe is not None else None)
                    cmd.slot, cmd.doorbell, cmd.t_doorbell = slot, rng.index, rng.event.ts
                    cmd.lost = "published but never fetched (the recording ends)"
                    cmd.lost_cause = "never_fetched"
                    if sqe is not None:
                        cmd.opcode, cmd.nsid = sqe.opc, sqe.nsid
                        cmd.opname = opcode_name(sqe.opc, sqid == 0)
                        cmd.selector = selector_text(sqe.opc, sqid == 0, sqe.cdw10)
                    if written is not None:
                        cmd.sqe_write = written[0]
                        self._assign(cmd, written[0], written[1])
                    self._assign(cmd, rng.index, rng.event)
                    self._close(cmd)
        self._published.clear()
        self.commands.sort(key=lambda c: c.first)
        return self.commands


def pair_commands(events: Iterable[Event]) -> list[Command]:
    """Every command in ``events`` with its events paired, in submission order (one pass)."""
    tracker = CommandTracker()
    for event in events:
        tracker.feed(event)
    return tracker.finish()


@dataclass
class FollowedCommand:
    """One instance of a followed ``(sqid, cid)`` and its events, in order."""

    command: Command
    events: list[Event]
    of: int = 1  # how many instances the recording holds


def follow_instances(
    events: Iterable[Event], sqid: int, cid: int, instance: int | None = None
) -> list[FollowedCommand]:
    """Every instance of command ``sqid:cid`` with its own events (one pass).

    ``instance`` (1 = the first the device fetched) keeps only that one; ``of``
    still counts every instance, so a caller can say "SQ1:4 has 2 instances".
    """
    kept: dict[int, list[tuple[int, Event]]] = {}

    def hook(cmd: Command, index: int, event: Event) -> None:
        if cmd.sqid == sqid and cmd.cid == cid and instance in (None, cmd.instance):
            kept.setdefault(id(cmd), []).append((index, event))

    tracker = CommandTracker(hook)
    for event in events:
        tracker.feed(event)
    commands = [c for c in tracker.finish() if c.sqid == sqid and c.cid == cid]
    out: list[FollowedCommand] = []
    for cmd in commands:
        if instance is not None and cmd.instance != instance:
            continue
        pairs = sorted(kept.get(id(cmd), []), key=lambda p: p[0])
        seen: set[int] = set()
        evs = []
        for index, event in pairs:
            if index not in seen:
                seen.add(index)
                evs.append(event)
        out.append(FollowedCommand(cmd, evs, len(commands)))
    return out


def follow(
    events: Iterable[Event], sqid: int, cid: int, instance: int | None = None
) -> list[Event]:
    """Every event of every instance (or of one ``instance``) of ``sqid:cid``, in order."""
    merged: list[Event] = []
    for item in follow_instances(events, sqid, cid, instance):
        merged.extend(item.events)
    merged.sort(key=lambda ev: ev.seq)
    return merged


_FOLLOW_SPEC = re.compile(
    r"^\s*(?:sq)?\s*(?P<sqid>0x[0-9a-f]+|\d+)\s*:\s*(?P<cid>0x[0-9a-f]+|\d+)"
    r"\s*(?:#\s*(?P<instance>\d+))?\s*$",
    re.IGNORECASE,
)


def parse_follow_spec(spec: str) -> tuple[int, int, int | None]:
    """A command as the table labels it -> ``(sqid, cid, instance or None)``.

    Accepts ``SQ2:500#3`` (the label the command table prints), ``2:500#3``,
    ``sq2:500``, ``2:500`` and hex numbers (``0x2:0x1f4``); case does not matter.
    ValueError with one line if it is none of these.
    """
    m = _FOLLOW_SPEC.match(spec)
    if m is None:
        raise ValueError(
            f"expected SQID:CID or SQID:CID#INSTANCE as the command table labels them "
            f"(e.g. 1:4, SQ1:4#2), got {spec!r}"
        )
    sqid, cid = int(m["sqid"], 0), int(m["cid"], 0)
    if not (0 <= sqid <= 0xFFFF and 0 <= cid <= 0xFFFF):
        raise ValueError(f"SQID and CID are 16-bit numbers, got {spec!r}")
    instance = int(m["instance"]) if m["instance"] is not None else None
    if instance is not None and instance < 1:
        raise ValueError(f"instances are numbered from 1, got {spec!r}")
    return sqid, cid, instance


def parse_follow(spec: str) -> tuple[int, int]:
    """``"1:4"`` or ``"SQ1:4"`` -> (1, 4) for ``--follow SQID:CID``; ValueError with one line.

    A ``#INSTANCE`` suffix is refused here (it would be dropped): use
    :func:`parse_follow_spec`, which returns it.
    """
    sqid, cid, instance = parse_follow_spec(spec)
    if instance is not None:
        raise ValueError(
            f"{spec!r} names instance {instance}: SQID:CID here (parse_follow_spec takes #N)"
        )
    return sqid, cid


# -- words and tables ---------------------------------------------------------------
def format_ns(ns: int | None) -> str:
    """Virtual nanoseconds for a table column, always in microseconds: ``12.500 us``.

    One unit with a fixed 3 decimals, so a column of them lines up and sorts.
    """
    if ns is None:
        return "-"
    return f"{ns / 1000:.3f} us"


def format_nsid(nsid: int | None) -> str:
    """An NSID for people: decimal, or hex for the broadcast/reserved values (``0xffffffff``)."""
    if nsid is None:
        return "-"
    return str(nsid) if nsid < 0xFFFF0000 else f"{nsid:#x}"


COLUMNS = ("#", "command", "opcode", "nsid", "status", "latency", "service", "events", "seq")
#: columns printed flush right
RIGHT_COLUMNS = frozenset({"#", "nsid", "latency", "service", "events"})


#: the widest cell of a command row: a name or status a crafted recording makes longer is cut
#: (every row of a table is padded to its widest cell)
MAX_CELL = 96


def command_row(number: int, cmd: Command) -> list[str]:
    """One table row as plain strings, in the order of ``COLUMNS``."""
    if cmd.outstanding:
        status = f"outstanding ({cmd.lost})" if cmd.lost else "outstanding"
    else:
        status = cmd.status_name
    first = cmd.events[0] if cmd.events else "-"
    last = (cmd.cqe if cmd.cqe is not None else cmd.events[-1]) if cmd.events else "-"
    cells = [
        str(number),
        cmd.label,
        cmd.what,
        format_nsid(cmd.nsid),
        status,
        format_ns(cmd.latency_ns),
        format_ns(cmd.service_ns),
        str(len(cmd.events)),
        f"{first}..{last}",
    ]
    return [c if len(c) <= MAX_CELL else c[: MAX_CELL - 1] + "…" for c in cells]


def format_command_table(commands: Iterable[Command], title: str = "Commands") -> Table:
    """A rich Table of commands: errors red, outstanding yellow."""
    table = Table(title=title, header_style="bold")
    for name in COLUMNS:
        table.add_column(name, justify="right" if name in RIGHT_COLUMNS else "left")
    for number, cmd in enumerate(commands, 1):
        row = command_row(number, cmd)
        style = "yellow" if cmd.outstanding else ("" if cmd.ok else "red")
        table.add_row(*row, style=style or None)
    return table


def format_command_text(commands: Iterable[Command]) -> str:
    """The command table as aligned plain text, one line per row, each ending in a newline."""
    rows = [list(COLUMNS)] + [command_row(n, c) for n, c in enumerate(commands, 1)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = []
    for r in rows:
        cells = [
            cell.rjust(w) if name in RIGHT_COLUMNS else cell.ljust(w)
            for name, cell, w in zip(COLUMNS, r, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip() + "\n")
    return "".join(lines)


def format_follow_line(event: Event, describe: Callable[[Event], str]) -> str:
    """One ``--follow`` event line: seq, time in us (3 decimals), H/D, kind, words."""
    who = "H" if event.actor == "host" else "D"
    return f"  {event.seq:>7} {event.ts / 1000:12.3f}us  {who}  {event.kind:<14} {describe(event)}"


def format_follow(
    followed: list[FollowedCommand], describe: Callable[[Event], str] | None = None
) -> Text:
    """``--follow`` output: each instance with a heading, then one line per event."""
    if describe is None:
        from nvmescope.events import describe as describe_event

        describe = describe_event
    out = Text()
    if not followed:
        out.append("no such command in this recording\n", style="yellow")
        return out
    for item in followed:
        cmd = item.command
        head = (
            f"{cmd.label}: instance {cmd.instance} of {item.of}, "
            f"{cmd.what}, {cmd.status_name if not cmd.outstanding else 'outstanding'}"
        )
        if cmd.latency_ns is not None:
            head += f", latency {format_ns(cmd.latency_ns)}"
        if cmd.service_ns is not None:
            head += f", service {format_ns(cmd.service_ns)}"
        if cmd.lost:
            head += f" ({cmd.lost})"
        out.append(head + "\n", style="bold")
        for event in item.events:
            out.append(format_follow_line(event, describe) + "\n")
    return out
