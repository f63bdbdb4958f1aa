"""Import a QEMU ``-trace 'pci_nvme_*'`` log as nvmescope events.

QEMU's NVMe controller reports what it does through trace points named
``pci_nvme_*``; with the ``log`` trace backend each one is a line::

    6733@1795602943.720570:pci_nvme_mmio_write addr 0x24 data 0x1f001f size 4

that is ``PID@SECONDS.MICROS:event_name args``. :func:`import_qemu_trace` turns
such a log into our typed events so that a real guest's session can be stepped
through like one of ours. QEMU says less than our model does, so the importer
fills gaps the way the specification says the device behaves:

- ``mmio_read`` carries no value: the event has ``value=0, value_known=False``.
- A doorbell write is one event (``doorbell_sq``/``doorbell_cq``) as in our
  model: the ``mmio_write`` to the doorbell and QEMU's ``mmio_doorbell_*`` line
  that confirms it become one event.
- ``admin_cmd``/``io_cmd`` become ``sqe_fetch`` (slot and address from the SQ
  head the importer keeps; ``data`` empty: QEMU does not trace the SQE bytes)
  and ``cmd_start``.
- ``enqueue_req_completion`` becomes ``cmd_finish`` and ``cqe_post``; QEMU does
  not say where the CQE went, so the importer keeps each CQ's tail and phase
  itself (sizes from AQA and Create I/O CQ, base addresses from ACQ and
  Create I/O CQ) and builds the 16-byte CQE.
- ``map_addr`` says neither direction nor bytes: it becomes a ``dma_write``
  (the device writes host memory: Identify, Get Log Page, Read, ...) or a
  ``dma_read`` (Set Features with data, Write, ...) chosen from the opcode,
  with ``data`` empty and only the length.
- Lines that only add detail to the command in progress (``identify``,
  ``get_log``, ``setfeat``, ``read``, ...) are folded into its ``cmd_start``
  detail; lines that only confirm what an earlier line said (``mmio_cfg``,
  ``mmio_aqattr``, ``rw_cb``, ...) are folded into it. Each line is counted
  as mapped, folded or unknown (:class:`LineCounts`); nothing is dropped
  silently.

Timestamps are virtual nanoseconds from the first line; the file's order is
kept (a line stamped earlier than the one before it keeps its place and gets
the previous time).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

from nvmescope import events as ev
from nvmescope.files import NOT_REGULAR, UserFileError, open_regular
from nvmescope.nvme.commands import CQE_SIZE, SQE_SIZE, pack_cqe
from nvmescope.nvme.opcodes import (
    FEATURES,
    IDENTIFY_CNS,
    LOG_PAGES,
    opcode_name,
)
from nvmescope.nvme.registers import (
    DOORBELL_BASE,
    cq_head_doorbell,
    doorbell_at,
    register_name,
    sq_tail_doorbell,
)
from nvmescope.nvme.status import status_name

PREFIX = "pci_nvme_"

_LINE = re.compile(r"^(\d+)@(\d+)\.(\d+):([A-Za-z_][A-Za-z0-9_]*)(?:\s(.*))?$")
# a key starts a word and is taken whole (no backtracking into it: a long word costs time
# in proportion to its length, not to its square)
_KV = re.compile(
    r"(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*+)(?:=|\s+)(0x[0-9a-fA-F]+|-?\d+|'[^']*')"
)
#: the longest line read (QEMU's trace lines are a few hundred characters at most): a
#: longer one is refused after reading only this much of it
MAX_LINE = 64 * 1024
#: the latest timestamp taken, in microseconds (its nanoseconds fit an event's 64 bits)
MAX_MICROS = (1 << 63) // 1000
#: the sizes of a register access
MMIO_SIZES = (1, 2, 4, 8)


class QemuTraceError(ValueError):
    """The file is not a QEMU trace log; the message is one line naming the file (when
    read from a path) and the line number: ``trace.log: line 3: not a QEMU trace line``."""

    def __init__(self, line_no: int, message: str, path: str | None = None) -> None:
        where = f"line {line_no}: " if line_no > 0 else ""
        text = f"{where}{message}"
        super().__init__(f"{path}: {text}" if path else text)
        self.line_no = line_no
        self.path = path
        self.message = message


@dataclass
class LineCounts:
    """How every line of the log was accounted for."""

    total: int = 0
    #: lines that became one or more events
    mapped: int = 0
    #: lines whose information was folded into an event of another line
    folded: int = 0
    #: well-formed lines of a trace point the importer does not know
    unknown: int = 0
    #: empty lines
    blank: int = 0


@dataclass
class ImportResult:
    events: list[ev.Event]
    warnings: list[str]
    #: ControllerConfig keyword arguments the trace reveals (``dstrd``, ``max_io_queues``)
    config: dict[str, Any]
    lines: LineCounts = field(default_factory=LineCounts)
    #: what each line became, by 1-based line number: "mapped", "folded", "unknown", "blank"
    line_fate: dict[int, str] = field(default_factory=dict)
    #: other facts about the session that are not controller knobs (vectors used, AQA sizes)
    info: dict[str, Any] = field(default_factory=dict)


# -- which way a command's data moves -----------------------------------------
#: admin opcodes whose data the device writes to host memory (controller -> host)
_ADMIN_TO_HOST = {0x02, 0x06, 0x0A, 0x1A, 0x1E, 0x82, 0x86}
#: admin opcodes whose data the device reads from host memory (host -> controller)
_ADMIN_FROM_HOST = {0x09, 0x0D, 0x11, 0x15, 0x19, 0x1D, 0x81}
#: NVM opcodes, likewise
_IO_TO_HOST = {0x02, 0x0E}
_IO_FROM_HOST = {0x01, 0x05, 0x09, 0x19}


def _direction(opcode: int | None, admin: bool) -> str | None:
    """``"to_host"`` (DMA write), ``"from_host"`` (DMA read) or None if unknown."""
    if opcode is None:
        return None
    to_host, from_host = (
        (_ADMIN_TO_HOST, _ADMIN_FROM_HOST) if admin else (_IO_TO_HOST, _IO_FROM_HOST)
    )
    if opcode in to_host:
        return "to_host"
    if opcode in from_host:
        return "from_host"
    return None


# -- QEMU err_*/ub_* trace names -> ours ------------------------------------------
_ERR_EXACT: dict[str, str] = {
    "err_invalid_opc": "err_invalid_opcode",
    "err_invalid_admin_opc": "err_invalid_opcode",
    "err_invalid_nsid": "err_invalid_nsid",
    "err_invalid_ns": "err_invalid_nsid",
    "err_inactive_ns": "err_invalid_nsid",
    "err_invalid_create_sq_cqid": "err_invalid_cqid",
    "err_invalid_create_sq_sqid": "err_invalid_qid",
    "err_invalid_create_sq_size": "err_invalid_qsize",
    "err_invalid_create_cq_cqid": "err_invalid_qid",
    "err_invalid_create_cq_size": "err_invalid_qsize",
    "err_invalid_create_cq_vector": "err_invalid_vector",
    "err_invalid_del_sq": "err_invalid_qid",
    "err_invalid_del_cq_cqid": "err_invalid_qid",
    "err_invalid_del_cq_notempty": "err_invalid_delete",
    "err_invalid_log_page": "err_invalid_log_page",
    "err_invalid_lba_range": "err_lba_range",
    "err_mdts": "err_too_large",
    "err_invalid_prplist_ent": "err_invalid_prp_offset",
    "err_invalid_prp2_align": "err_invalid_prp_offset",
    "err_invalid_prp2_missing": "err_invalid_prp_offset",
    "err_invalid_prp": "err_invalid_prp_offset",
    "err_addr_read": "err_dma",
    "err_addr_write": "err_dma",
    "err_invalid_getfeat": "err_invalid_feature",
    "err_invalid_setfeat": "err_invalid_feature",
    "err_invalid_identify_cns": "err_invalid_field",
    "err_invalid_field": "err_invalid_field",
}
_ERR_PREFIX: tuple[tuple[str, str], ...] = (
    ("err_startfail", "err_startfail"),
    ("err_invalid_sgl", "err_invalid_sgl"),
    ("err_invalid_num_sgld", "err_invalid_sgl"),
    ("err_invalid_sgld", "err_invalid_sgl"),
)
_UB_EXACT: dict[str, str] = {
    "ub_mmiowr_misaligned32": "ub_mmio_misaligned",
    "ub_mmiord_misaligned32": "ub_mmio_misaligned",
    "ub_db_wr_misaligned": "ub_mmio_misaligned",
    "ub_mmiowr_toosmall": "ub_mmio_size",
    "ub_mmiord_toosmall": "ub_mmio_size",
    "ub_mmiowr_ro_csts": "ub_mmio_ro",
    "ub_mmiowr_cmbsz_readonly": "ub_mmio_ro",
    "ub_mmiowr_pmrcap_readonly": "ub_mmio_ro",
    "ub_mmiowr_pmrsts_readonly": "ub_mmio_ro",
    "ub_mmiowr_pmrebs_readonly": "ub_mmio_ro",
    "ub_mmiowr_pmrswtp_readonly": "ub_mmio_ro",
    "ub_mmiowr_cmbloc_reserved": "ub_mmio_reserved",
    "ub_mmiowr_ssreset_unsupported": "ub_nssr_unsupported",
    "ub_mmiowr_ssreset_w1c_unsupported": "ub_nssr_unsupported",
    "ub_mmiowr_invalid": "ub_mmio_out_of_range",
    "ub_mmiord_invalid_ofs": "ub_mmio_out_of_range",
    "ub_db_wr_invalid_cq": "ub_db_invalid_queue",
    "ub_db_wr_invalid_sq": "ub_db_invalid_queue",
    "ub_db_wr_invalid_cqhead": "ub_db_invalid_value",
    "ub_db_wr_invalid_sqtail": "ub_db_invalid_value",
}


def condition_kind(qemu_name: str) -> str:
    """Our err_*/ub_* kind for a QEMU trace name (without ``pci_nvme_``)."""
    if qemu_name.startswith("err_"):
        hit = _ERR_EXACT.get(qemu_name)
        if hit is None:
            for prefix, kind in _ERR_PREFIX:
                if qemu_name.startswith(prefix):
                    hit = kind
                    break
        return hit if hit in ev.ERR_KINDS else "err_qemu"
    hit = _UB_EXACT.get(qemu_name)
    return hit if hit in ev.UB_KINDS else "ub_qemu"


# -- argument parsing --------------------------------------------------------------
#: the arguments narrower than 64 bits, as wide as the fields QEMU prints them from (a
#: queue identifier and its size are 16 bits in the SQE, a doorbell value 32 in BAR0,
#: an opcode, CNS, FID and LID 8, an NSID 32); a wider value is no QEMU trace's
ARG_BITS = {
    "sqid": 16, "cqid": 16, "qsize": 16, "qflags": 16, "vector": 16,
    "new_tail": 32, "new_head": 32, "new_eventidx": 32, "new_shadow_doorbell": 32,
    "opc": 8, "cns": 8, "fid": 8, "lid": 8, "csi": 8, "ien": 1, "nsid": 32,
    "status": 16,
}  # fmt: skip


def _args(text: str) -> dict[str, int]:
    """The numbers of ``cid 0 sqid 0 opc 0x6 opname 'X'`` or ``addr=0x1, cqid=1`` as a dict.

    Quoted words (QEMU's opcode names, block backend names) are left out: we name
    opcodes ourselves.
    """
    out: dict[str, int] = {}
    for key, raw in _KV.findall(text):
        if not raw.startswith("'"):
            value = int(raw, 0)
            bits = ARG_BITS.get(key, 64)
            if not 0 <= value < 1 << bits:
                raise ValueError(f"{key}={raw} is not a {bits}-bit unsigned number")
            out.setdefault(key, value)
    return out


class _Need(Exception):
    """A known trace point lacks an argument it always has."""


def _int(args: dict[str, int], key: str) -> int:
    value = args.get(key)
    if not isinstance(value, int):
        raise _Need(key)
    return value


#: the longest detail one event gathers from the lines folded into it; past it the rest is
#: left out (a log of thousands of detail lines for one command stays linear to import)
MAX_DETAIL = 4096


def _joined(detail: str, sep: str, text: str) -> str:
    """``detail`` with ``text`` added, up to MAX_DETAIL characters and an ellipsis."""
    if not detail:
        return text[:MAX_DETAIL]
    if len(detail) >= MAX_DETAIL:
        return detail if detail.endswith("…") else detail + "…"
    return (detail + sep + text)[:MAX_DETAIL]


def _queue_fits(addr: int, entries: int, entry_size: int) -> None:
    """A queue lies within the 64-bit address space (every entry's address is one)."""
    if addr + entries * entry_size > 1 << 64:
        raise ValueError(
            f"a queue of {entries} entries at {addr:#x} runs past the 64-bit address space"
        )


def _mmio_size(args: dict[str, int]) -> int:
    size = _int(args, "size")
    if size not in MMIO_SIZES:
        raise ValueError(f"size {size}: a register access is 1, 2, 4 or 8 bytes")
    return size


@dataclass
class _Cmd:
    start: ev.CmdStart
    admin: bool
    prp: ev.MapPrp | None = None
    conditions: list[ev.Condition] = field(default_factory=list)


@dataclass
class _Cq:
    size: int
    base: int
    tail: int = 0
    phase: int = 1


class _Importer:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self.warnings: list[str] = []
        self.counts = LineCounts()
        #: lines whose trace point is a pci_nvme_* one (known or not)
        self.nvme_lines = 0
        self.fate: dict[int, str] = {}
        self.unknown: dict[str, int] = {}
        self.config: dict[str, Any] = {"dstrd": 0}
        self.t0: int | None = None
        self.last_ts = 0
        self.ts = 0
        self.line_no = 0
        # register shadow values written by the host
        self.regs: dict[int, int] = {}
        self.csts = 0
        self.dstrd = 0
        # queues
        self.sq_size: dict[int, int] = {}
        self.sq_base: dict[int, int] = {}
        self.sq_cq: dict[int, int] = {0: 0}
        self.sq_tail: dict[int, int] = {}
        self.sq_head: dict[int, int] = {}
        self.cq_head: dict[int, int] = {}
        self.cqs: dict[int, _Cq] = {}
        self.pending_db: ev.Event | None = None
        # commands
        self.open: dict[tuple[int, int], _Cmd] = {}
        self.current: _Cmd | None = None
        self.last_done: tuple[int, int] | None = None
        self.dbs_addr: int | None = None
        self.eis_addr: int | None = None
        self.max_vector = -1
        #: detail lines waiting for the next controller state change
        self.notes: list[str] = []

    # -- helpers -------------------------------------------------------------
    def emit(self, event: ev.Event) -> ev.Event:
        event.seq = len(self.events)
        event.ts = self.ts
        self.events.append(event)
        return event

    def stamp(self, event: ev.Event, cmd: _Cmd | None) -> ev.Event:
        if cmd is not None:
            event.sqid, event.cid = cmd.start.sqid, cmd.start.cid
        return event

    def warn(self, text: str) -> None:
        self.warnings.append(f"line {self.line_no}: {text}")

    def add_detail(self, cmd: _Cmd | None, text: str) -> bool:
        if cmd is not None:
            start = cmd.start
            start.detail = _joined(start.detail, ", ", text)
            return True
        if self.events and hasattr(self.events[-1], "detail"):
            last: Any = self.events[-1]
            last.detail = _joined(last.detail, "; ", text)
            return True
        # no command and nothing to attach to yet (QEMU resets the timestamp feature while
        # it enables the controller): keep it for the next controller state change
        self.notes.append(text)
        return True

    def find_cmd(self, cid: int, sqid: int | None = None, cqid: int | None = None) -> _Cmd | None:
        if sqid is not None:
            return self.open.get((sqid, cid))
        best: _Cmd | None = None
        for (s, c), cmd in self.open.items():
            if c != cid:
                continue
            if cqid is not None and self.sq_cq.get(s) != cqid:
                continue
            if best is None or cmd.start.seq > best.start.seq:
                best = cmd
        return best

    def cmd_for(self, args: dict[str, int]) -> _Cmd | None:
        cid = args.get("cid")
        if isinstance(cid, int):
            return self.find_cmd(cid) or self.current
        return self.current

    def cq(self, cqid: int) -> _Cq:
        hit = self.cqs.get(cqid)
        if hit is None:
            if cqid == 0:
                aqa = self.regs.get(0x24, 0)
                size = ((aqa >> 16) & 0xFFF) + 1 if 0x24 in self.regs else 0
                base = (self.regs.get(0x30, 0) | (self.regs.get(0x34, 0) << 32)) & ~0xFFF
                hit = _Cq(size=size, base=base)
            else:
                self.warn(f"completion on CQ{cqid}, which the trace never created")
                hit = _Cq(size=0, base=0)
            self.cqs[cqid] = hit
        return hit

    # -- one line ----------------------------------------------------------------
    def line(self, line_no: int, raw: str) -> None:
        self.line_no = line_no
        text = raw.rstrip("\r\n")
        if not text.strip():
            self.counts.blank += 1
            self.fate[line_no] = "blank"
            return
        m = _LINE.match(text)
        if m is None:
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise QemuTraceError(
                line_no, f"not a QEMU trace line (want PID@SECONDS.MICROS:name args): {shown!r}"
            )
        _pid, secs, frac, name, rest = m.groups()
        micros = int(secs[:20]) * 1_000_000 + int((frac + "000000")[:6])
        if len(secs) > 20 or micros > MAX_MICROS:
            shown = secs if len(secs) <= 20 else f"{secs[:12]}... ({len(secs)} digits)"
            raise QemuTraceError(line_no, f"timestamp {shown} s is out of range")
        if self.t0 is None:
            self.t0 = micros
        self.ts = max((micros - self.t0) * 1000, self.last_ts)
        self.last_ts = self.ts
        rest = rest or ""
        fate = "unknown"
        if name.startswith(PREFIX):
            self.nvme_lines += 1
            short = name[len(PREFIX) :]
            try:
                fate = self.dispatch(short, rest)
            except (_Need, ValueError) as exc:
                what = f"missing {exc}" if isinstance(exc, _Need) else str(exc)
                raise QemuTraceError(
                    line_no, f"{name}: cannot read its arguments ({what})"
                ) from None
        if fate == "unknown":
            self.unknown[name] = self.unknown.get(name, 0) + 1
            self.counts.unknown += 1
        elif fate == "mapped":
            self.counts.mapped += 1
        else:
            self.counts.folded += 1
        self.fate[line_no] = fate

    def dispatch(self, name: str, rest: str) -> str:
        if name.startswith(("err_", "ub_")):
            return self.on_condition(name, rest)
        handler = getattr(self, "on_" + name, None)
        if handler is not None:
            return handler(rest, _args(rest))
        if name.startswith("identify_"):
            return self.on_identify_detail(name, rest)
        return "unknown"

    # -- registers ---------------------------------------------------------------------
    def on_mmio_read(self, rest: str, a: dict[str, int]) -> str:
        addr, size = _int(a, "addr"), _mmio_size(a)
        self.emit(
            ev.MmioRead(
                addr=addr,
                size=size,
                value=0,
                value_known=False,
                reg=register_name(addr, size, self.dstrd),
            )
        )
        return "mapped"

    def on_mmio_write(self, rest: str, a: dict[str, int]) -> str:
        addr, size, data = _int(a, "addr"), _mmio_size(a), _int(a, "data")
        if addr >= DOORBELL_BASE:
            db = doorbell_at(addr, self.dstrd)
            if db is not None:
                kind, qid = db
                if kind == "sq":
                    old = self.sq_tail.get(qid, 0)
                    self.sq_tail[qid] = data
                    event: ev.Event = ev.DoorbellSq(addr=addr, old_tail=old, new_tail=data)
                    event.sqid = qid
                else:
                    old = self.cq_head.get(qid, 0)
                    self.cq_head[qid] = data
                    event = ev.DoorbellCq(addr=addr, cqid=qid, old_head=old, new_head=data)
                self.pending_db = self.emit(event)
                return "mapped"
        old = self.regs.get(addr, 0)
        self.regs[addr] = data
        self.emit(
            ev.MmioWrite(
                addr=addr,
                size=size,
                value=data,
                reg=register_name(addr, size, self.dstrd),
                old=old,
                new=data,
            )
        )
        if addr == 0x24:
            self.config_admin_sizes(data)
        return "mapped"

    def config_admin_sizes(self, aqa: int) -> None:
        self.sq_size[0] = (aqa & 0xFFF) + 1
        if 0 in self.cqs:
            self.cqs[0].size = ((aqa >> 16) & 0xFFF) + 1

    def _confirm(self, rest: str, a: dict[str, int]) -> str:
        return "folded"

    # QEMU echoes of register writes: their content is in the mmio_write before them
    on_mmio_aqattr = _confirm
    on_mmio_asqaddr = _confirm
    on_mmio_asqaddr_hi = _confirm
    on_mmio_acqaddr = _confirm
    on_mmio_acqaddr_hi = _confirm
    on_mmio_cfg = _confirm
    on_mmio_intm_set = _confirm
    on_mmio_intm_clr = _confirm

    def _doorbell_line(self, kind: str, qid: int, value: int) -> str:
        pending = self.pending_db
        self.pending_db = None
        if pending is not None:
            if kind == "sq" and isinstance(pending, ev.DoorbellSq):
                if pending.sqid == qid and pending.new_tail == value:
                    return "folded"
            if kind == "cq" and isinstance(pending, ev.DoorbellCq):
                if pending.cqid == qid and pending.new_head == value:
                    return "folded"
            self.warn(f"QEMU's {kind}{qid} doorbell ({value}) differs from the write before it")
        # a doorbell with no MMIO write before it: make the doorbell event here
        if kind == "sq":
            old = self.sq_tail.get(qid, 0)
            self.sq_tail[qid] = value
            event: ev.Event = ev.DoorbellSq(
                addr=sq_tail_doorbell(qid, self.dstrd), old_tail=old, new_tail=value
            )
            event.sqid = qid
        else:
            old = self.cq_head.get(qid, 0)
            self.cq_head[qid] = value
            event = ev.DoorbellCq(
                addr=cq_head_doorbell(qid, self.dstrd), cqid=qid, old_head=old, new_head=value
            )
        self.emit(event)
        return "mapped"

    def on_mmio_doorbell_sq(self, rest: str, a: dict[str, int]) -> str:
        return self._doorbell_line("sq", _int(a, "sqid"), _int(a, "new_tail"))

    def on_mmio_doorbell_cq(self, rest: str, a: dict[str, int]) -> str:
        return self._doorbell_line("cq", _int(a, "cqid"), _int(a, "new_head"))

    # -- controller state -----------------------------------------------------------
    def ctrl(self, state: str, csts_new: int, detail: str) -> str:
        if self.notes:
            detail = "; ".join([detail, *self.notes])
            self.notes.clear()
        self.emit(ev.CtrlState(state=state, csts_old=self.csts, csts_new=csts_new, detail=detail))
        self.csts = csts_new
        return "mapped"

    def reset_queues(self) -> None:
        self.cqs.clear()
        self.sq_tail.clear()
        self.sq_head.clear()
        self.cq_head.clear()
        self.sq_cq = {0: 0}
        self.sq_size = {k: v for k, v in self.sq_size.items() if k == 0}
        self.open.clear()
        self.current = None

    def on_pci_reset(self, rest: str, a: dict[str, int]) -> str:
        self.reset_queues()
        return self.ctrl("flr", 0, rest.strip() or "PCI Function Level Reset")

    def on_mmio_start_success(self, rest: str, a: dict[str, int]) -> str:
        self.reset_queues()
        if 0x24 in self.regs:
            self.config_admin_sizes(self.regs[0x24])
        return self.ctrl("ready", (self.csts & ~0x3) | 0x1, "CC.EN=1 accepted: CSTS.RDY=1")

    def on_mmio_stopped(self, rest: str, a: dict[str, int]) -> str:
        self.reset_queues()
        return self.ctrl("disabled", self.csts & ~0x1, "CC.EN=0: controller reset, CSTS.RDY=0")

    def on_mmio_shutdown_set(self, rest: str, a: dict[str, int]) -> str:
        # QEMU completes a shutdown at once: CSTS.SHST = 2 (complete)
        return self.ctrl(
            "shutdown_complete", (self.csts & ~0xC) | 0x8, "CC.SHN set: QEMU completes it at once"
        )

    def on_mmio_shutdown_cleared(self, rest: str, a: dict[str, int]) -> str:
        return self.ctrl("shutdown_cleared", self.csts & ~0xC, "CC.SHN cleared")

    # -- commands ------------------------------------------------------------------------
    def start(self, sqid: int, cid: int, opcode: int, admin: bool, nsid: int) -> str:
        key = (sqid, cid)
        if key in self.open:
            self.warn(f"command cid {cid} on SQ{sqid} started again before it completed")
        # QEMU read the SQE before it traced the command: a fetch whose bytes were not recorded
        size = self.sq_size.get(sqid)
        slot = self.sq_head.get(sqid, 0)
        head = slot + 1
        self.sq_head[sqid] = head % size if size else head
        if sqid == 0:
            base = (self.regs.get(0x28, 0) | (self.regs.get(0x2C, 0) << 32)) & ~0xFFF
        else:
            base = self.sq_base.get(sqid, 0)
        fetch = ev.SqeFetch(
            slot=slot, addr=base + slot * SQE_SIZE, data=b"", new_head=self.sq_head[sqid]
        )
        fetch.sqid, fetch.cid = sqid, cid
        self.emit(fetch)
        start = ev.CmdStart(
            opcode=opcode, opname=opcode_name(opcode, admin), nsid=nsid, admin=admin
        )
        start.sqid, start.cid = sqid, cid
        self.emit(start)
        cmd = _Cmd(start=start, admin=admin)
        self.open[key] = cmd
        self.current = cmd
        self.last_done = None
        return "mapped"

    def on_admin_cmd(self, rest: str, a: dict[str, int]) -> str:
        return self.start(_int(a, "sqid"), _int(a, "cid"), _int(a, "opc"), True, 0)

    def on_io_cmd(self, rest: str, a: dict[str, int]) -> str:
        nsid = a.get("nsid")
        return self.start(
            _int(a, "sqid"),
            _int(a, "cid"),
            _int(a, "opc"),
            False,
            nsid if isinstance(nsid, int) else 0,
        )

    def detail(self, a: dict[str, int], text: str, nsid: int | None = None) -> str:
        cmd = self.cmd_for(a)
        if cmd is not None and nsid is not None:
            cmd.start.nsid = nsid
        return "folded" if self.add_detail(cmd, text) else "unknown"

    def on_identify(self, rest: str, a: dict[str, int]) -> str:
        cns = _int(a, "cns")
        hit = IDENTIFY_CNS.get(cns)
        title = f" ({hit.title})" if hit else ""
        csi = a.get("csi", 0)
        return self.detail(a, f"cns={cns:#x}{title} ctrlid={a.get('ctrlid', 0)} csi={csi:#x}")

    def on_identify_detail(self, name: str, rest: str) -> str:
        a = _args(rest)
        nsid = a.get("nsid")
        cmd = self.current
        if cmd is not None and isinstance(nsid, int):
            cmd.start.nsid = nsid
        return "folded" if cmd is not None else "unknown"

    def on_get_log(self, rest: str, a: dict[str, int]) -> str:
        lid = _int(a, "lid")
        hit = LOG_PAGES.get(lid)
        title = f" ({hit.title})" if hit else ""
        return self.detail(
            a,
            f"lid={lid:#x}{title} lsp={a.get('lsp', 0):#x} rae={a.get('rae', 0)} "
            f"len={a.get('len', 0)} off={a.get('off', 0)}",
        )

    def _feature(self, a: dict[str, int], sel_key: str) -> str:
        fid = _int(a, "fid")
        hit = FEATURES.get(fid)
        title = f" ({hit.title})" if hit else ""
        nsid = a.get("nsid")
        extra = f" {sel_key}={a.get(sel_key, 0)}" if sel_key in a else ""
        return self.detail(
            a,
            f"fid={fid:#x}{title}{extra} cdw11={a.get('cdw11', 0):#x}",
            nsid if isinstance(nsid, int) else None,
        )

    def on_setfeat(self, rest: str, a: dict[str, int]) -> str:
        return self._feature(a, "save")

    def on_getfeat(self, rest: str, a: dict[str, int]) -> str:
        return self._feature(a, "sel")

    def _words(self, rest: str, a: dict[str, int]) -> str:
        return self.detail(a, rest.strip())

    on_setfeat_timestamp = _words
    on_getfeat_timestamp = _words
    on_getfeat_vwcache = _words
    on_dsm = _words
    on_dsm_deallocate = _words
    on_write_zeroes = _words
    on_compare = _words
    on_copy = _words
    on_verify = _words

    def on_setfeat_numq(self, rest: str, a: dict[str, int]) -> str:
        m = re.search(r"responding with cq_count=(\d+) sq_count=(\d+)", rest)
        if m:
            self.config["max_io_queues"] = min(int(m.group(1)), int(m.group(2)))
        return self.detail(a, rest.strip())

    on_getfeat_numq = _words

    def _rw(self, rest: str, a: dict[str, int]) -> str:
        nlb = a.get("nlb", 0)
        count = a.get("count", 0)
        lba = a.get("lba", 0)
        nsid = a.get("nsid")
        return self.detail(
            a,
            f"slba={lba:#x} nlb={nlb} block(s), {count} B",
            nsid if isinstance(nsid, int) else None,
        )

    on_read = _rw
    on_write = _rw

    def on_flush_ns(self, rest: str, a: dict[str, int]) -> str:
        return self.detail(a, f"flush nsid {a.get('nsid', 0)}")

    def on_aer(self, rest: str, a: dict[str, int]) -> str:
        return self.detail(a, "held until an asynchronous event occurs")

    def on_dbbuf_config(self, rest: str, a: dict[str, int]) -> str:
        self.dbs_addr = _int(a, "dbs_addr")
        self.eis_addr = _int(a, "eis_addr")
        return self.detail(
            a, f"shadow doorbells @{self.dbs_addr:#x}, event indexes @{self.eis_addr:#x}"
        )

    # completions of the block backend and other callbacks: the CQE says it all
    on_rw_cb = _confirm
    on_rw_complete_cb = _confirm
    on_misc_cb = _confirm
    on_dsm_cb = _confirm
    on_dsm_single_range_limit_exceeded = _confirm

    def on_map_prp(self, rest: str, a: dict[str, int]) -> str:
        event = ev.MapPrp(
            prp1=_int(a, "prp1"), prp2=_int(a, "prp2"), length=_int(a, "len"), segments=[]
        )
        cmd = self.current
        self.emit(self.stamp(event, cmd))
        if cmd is not None:
            cmd.prp = event
        return "mapped"

    def on_map_sgl(self, rest: str, a: dict[str, int]) -> str:
        return self.detail(a, "data described by SGL: " + rest.strip())

    def on_map_addr(self, rest: str, a: dict[str, int]) -> str:
        addr, length = _int(a, "addr"), _int(a, "len")
        cmd = self.current
        direction = _direction(cmd.start.opcode, cmd.admin) if cmd else None
        what = f"{cmd.start.opname} data" if cmd else "data"
        event: ev.Event
        if direction == "to_host":
            event = ev.DmaWrite(addr=addr, length=length, purpose=what)
        elif direction == "from_host":
            event = ev.DmaRead(addr=addr, length=length, purpose=what)
        else:
            event = ev.DmaRead(
                addr=addr,
                length=length,
                purpose=f"{what} (direction unknown: QEMU's map_addr does not say)",
            )
        self.emit(self.stamp(event, cmd))
        if cmd is not None and cmd.prp is not None:
            cmd.prp.segments.append((addr, length))
        return "mapped"

    def on_create_cq(self, rest: str, a: dict[str, int]) -> str:
        cqid, addr, qsize = _int(a, "cqid"), _int(a, "addr"), _int(a, "qsize")
        qflags = a.get("qflags", 1)
        vector, ien = a.get("vector", 0), a.get("ien", 1)
        entries = qsize + 1  # QEMU prints the 0's based QSIZE of CDW10
        _queue_fits(addr, entries, CQE_SIZE)
        self.cqs[cqid] = _Cq(size=entries, base=addr)
        self.max_vector = max(self.max_vector, vector)
        event = ev.QueueCreated(
            qtype="cq", qid=cqid, addr=addr, qsize=entries, vector=vector, ien=bool(ien),
            pc=bool(qflags & 1),
        )  # fmt: skip
        self.emit(self.stamp(event, self.current))
        return "mapped"

    def on_create_sq(self, rest: str, a: dict[str, int]) -> str:
        sqid, addr, qsize, cqid = (
            _int(a, "sqid"),
            _int(a, "addr"),
            _int(a, "qsize"),
            _int(a, "cqid"),
        )
        qflags = a.get("qflags", 1)
        _queue_fits(addr, qsize + 1, SQE_SIZE)
        self.sq_size[sqid] = qsize + 1
        self.sq_base[sqid] = addr
        self.sq_cq[sqid] = cqid
        self.sq_head[sqid] = 0
        self.sq_tail[sqid] = 0
        event = ev.QueueCreated(
            qtype="sq", qid=sqid, addr=addr, qsize=qsize + 1, cqid=cqid, pc=bool(qflags & 1)
        )
        self.emit(self.stamp(event, self.current))
        return "mapped"

    def on_del_sq(self, rest: str, a: dict[str, int]) -> str:
        qid = _int(a, "sqid")
        for key in [k for k in self.open if k[0] == qid]:
            del self.open[key]
        self.sq_cq.pop(qid, None)
        self.sq_size.pop(qid, None)
        self.emit(self.stamp(ev.QueueDeleted(qtype="sq", qid=qid), self.current))
        return "mapped"

    def on_del_cq(self, rest: str, a: dict[str, int]) -> str:
        qid = _int(a, "cqid")
        self.cqs.pop(qid, None)
        self.emit(self.stamp(ev.QueueDeleted(qtype="cq", qid=qid), self.current))
        return "mapped"

    def on_enqueue_req_completion(self, rest: str, a: dict[str, int]) -> str:
        cid, cqid, status = _int(a, "cid"), _int(a, "cqid"), _int(a, "status")
        dw0, dw1 = a.get("dw0", 0), a.get("dw1", 0)
        cmd = self.find_cmd(cid, cqid=cqid)
        if cmd is None:
            self.warn(f"completion of cid {cid} on CQ{cqid} for a command the trace never started")
            sqid, opcode, opname = None, 0, "unknown"
        else:
            sqid, opcode, opname = cmd.start.sqid, cmd.start.opcode, cmd.start.opname
        sct, sc = (status >> 8) & 0x7, status & 0xFF
        finish = ev.CmdFinish(
            opcode=opcode, opname=opname, status=status, sc=sc, sct=sct,
            dnr=bool(status >> 14 & 1), dw0=dw0, dw1=dw1, status_name=status_name(sct, sc),
        )  # fmt: skip
        finish.sqid, finish.cid = sqid, cid
        self.emit(finish)
        q = self.cq(cqid)
        slot, phase = q.tail, q.phase
        sqhd = self.sq_head.get(sqid, 0) if sqid is not None else 0
        if q.size:
            q.tail += 1
            if q.tail == q.size:
                q.tail, q.phase = 0, q.phase ^ 1
        else:
            q.tail += 1
        data = pack_cqe(dw0, dw1, sqhd & 0xFFFF, (sqid or 0) & 0xFFFF, cid & 0xFFFF, phase, status)
        post = ev.CqePost(
            cqid=cqid, slot=slot, addr=q.base + slot * CQE_SIZE, phase=phase, status=status,
            dw0=dw0, dw1=dw1, sqhd=sqhd, data=data, new_tail=q.tail,
        )  # fmt: skip
        post.sqid, post.cid = sqid, cid
        self.emit(post)
        if cmd is not None:
            for cond in cmd.conditions:
                if not cond.status:
                    cond.status = status
            key = (cmd.start.sqid or 0, cid)
            self.open.pop(key, None)
            if self.current is cmd:
                self.current = None
            self.last_done = key
        return "mapped"

    def on_irq_msix(self, rest: str, a: dict[str, int]) -> str:
        m = re.search(r"vector (\d+)", rest)
        if m is None:
            raise _Need("vector")
        vector = int(m.group(1))
        self.max_vector = max(self.max_vector, vector)
        # QEMU's pci_nvme_irq_msix names only the vector: the message it wrote is unknown
        event = ev.IrqMsix(vector=vector, address=None, data=None)
        if self.last_done is not None:
            event.sqid, event.cid = self.last_done
        self.emit(event)
        return "mapped"

    def on_irq_pin(self, rest: str, a: dict[str, int]) -> str:
        event = ev.IrqIntx(asserted=True, intms=self.regs.get(0x0C, 0))
        if self.last_done is not None:
            event.sqid, event.cid = self.last_done
        self.emit(event)
        return "mapped"

    # -- shadow doorbells (Doorbell Buffer Config) --------------------------------------
    def _shadow(self, kind: str, qid: int, value: int, eventidx: bool) -> str:
        index = 2 * qid + (1 if kind == "cq" else 0)
        base = self.eis_addr if eventidx else self.dbs_addr
        addr = (base or 0) + index * 4
        name = f"{kind.upper()}{qid}"
        data = (value & 0xFFFFFFFF).to_bytes(4, "little")
        if eventidx:
            event: ev.Event = ev.DmaWrite(
                addr=addr, length=4, data=data, purpose=f"{name} event index = {value}"
            )
        else:
            head_or_tail = "tail" if kind == "sq" else "head"
            event = ev.DmaRead(
                addr=addr,
                length=4,
                data=data,
                purpose=f"shadow {name} {head_or_tail} doorbell = {value}",
            )
            if kind == "sq":
                self.sq_tail[qid] = value
            else:
                self.cq_head[qid] = value
        if kind == "sq":
            event.sqid = qid
        self.emit(event)
        return "mapped"

    def on_shadow_doorbell_sq(self, rest: str, a: dict[str, int]) -> str:
        return self._shadow("sq", _int(a, "sqid"), _int(a, "new_shadow_doorbell"), False)

    def on_shadow_doorbell_cq(self, rest: str, a: dict[str, int]) -> str:
        return self._shadow("cq", _int(a, "cqid"), _int(a, "new_shadow_doorbell"), False)

    def on_eventidx_sq(self, rest: str, a: dict[str, int]) -> str:
        return self._shadow("sq", _int(a, "sqid"), _int(a, "new_eventidx"), True)

    def on_eventidx_cq(self, rest: str, a: dict[str, int]) -> str:
        return self._shadow("cq", _int(a, "cqid"), _int(a, "new_eventidx"), True)

    # -- err_* and ub_* ------------------------------------------------------------------
    def on_condition(self, name: str, rest: str) -> str:
        a = _args(rest)
        if name == "err_req_status":
            # QEMU's summary of a failed command: the CQE already carries the status
            cid = a.get("cid")
            done = self.last_done
            if isinstance(cid, int) and done is not None and done[1] == cid:
                return "folded"
        kind = condition_kind(name)
        detail = rest.strip()
        if kind in ("err_qemu", "ub_qemu"):
            detail = f"{PREFIX}{name}: {detail}" if detail else PREFIX + name
        status = a.get("status", 0)
        cond = ev.condition(kind, detail=detail, status=status if isinstance(status, int) else 0)
        cmd = None if name.startswith("ub_") else self.cmd_for(a)
        self.emit(self.stamp(cond, cmd))
        if cmd is not None:
            cmd.conditions.append(cond)
        if kind == "err_startfail":
            self.csts &= ~0x1
        return "mapped"

    # -- the end -----------------------------------------------------------------------------
    def finish(self) -> ImportResult:
        for note in self.notes:
            self.warnings.append(f"a detail line belongs to no command: {note}")
        for name in sorted(self.unknown):
            n = self.unknown[name]
            self.warnings.append(f"{n} line(s) of unknown trace point {name} skipped")
        for (sqid, cid), cmd in sorted(self.open.items()):
            if cmd.start.opcode == 0x0C and cmd.admin:
                continue  # an Asynchronous Event Request waits for an event by design
            self.warnings.append(
                f"command {cmd.start.opname} cid {cid} on SQ{sqid} never completed in the trace"
            )
        info: dict[str, Any] = {"source": "qemu pci_nvme trace"}
        if self.max_vector >= 0:
            info["msix_vectors_used"] = self.max_vector + 1
        if 0x24 in self.regs:
            aqa = self.regs[0x24]
            info["admin_sq_entries"] = (aqa & 0xFFF) + 1
            info["admin_cq_entries"] = ((aqa >> 16) & 0xFFF) + 1
        if 0x14 in self.regs:
            info["last_cc"] = self.regs[0x14]
        return ImportResult(
            events=self.events,
            warnings=self.warnings,
            config=self.config,
            lines=self.counts,
            line_fate=self.fate,
            info=info,
        )


def _lines(source: str | PathLike[str] | Iterable[str]) -> Iterable[str | bytes]:
    if isinstance(source, (str, PathLike)):
        try:
            fd, _ = open_regular(source)  # a FIFO with no writer would wait for ever
        except UserFileError as exc:
            what = "not a regular file" if exc.kind == NOT_REGULAR else f"cannot read: {exc}"
            raise QemuTraceError(0, what, str(source)) from None
        return _read_file(os.fdopen(fd, "rb"))
    return source


def _read_file(fh: Any) -> Iterable[bytes]:
    """The file's lines, each cut at MAX_LINE + 1 bytes (so a longer one is seen as such
    without reading it whole)."""
    with fh:
        while line := fh.readline(MAX_LINE + 1):
            yield line


def import_qemu_trace(path_or_lines: str | PathLike[str] | Iterable[str]) -> ImportResult:
    """Read a QEMU ``pci_nvme_*`` trace log (a path, or an iterable of lines) into events.

    Raises :class:`QemuTraceError` (one line, naming the file when given a path, and the
    line number) when a line is not a QEMU trace line at all, a known trace point lacks
    its arguments, or no line is a ``pci_nvme_*`` trace point. Trace points the importer
    does not know are counted and reported in ``warnings``, one line per name.
    """
    path = str(path_or_lines) if isinstance(path_or_lines, (str, PathLike)) else None
    imp = _Importer()
    n = 0
    try:
        for n, raw in enumerate(_lines(path_or_lines), start=1):
            if len(raw) > MAX_LINE:
                raise QemuTraceError(n, f"longer than {MAX_LINE} bytes: not a QEMU trace line")
            if isinstance(raw, bytes):
                try:
                    raw = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise QemuTraceError(n, "not text (not UTF-8)") from None
            imp.line(n, raw)
    except QemuTraceError as exc:
        if path is None or exc.path is not None:
            raise
        raise QemuTraceError(exc.line_no, exc.message, path) from None
    imp.counts.total = n
    if imp.nvme_lines == 0:
        what = "it is empty" if n == imp.counts.blank else f"{n} lines, none of them pci_nvme_*"
        raise QemuTraceError(
            0,
            f"no pci_nvme_* trace lines found ({what}): run QEMU with -trace 'pci_nvme_*'",
            path,
        )
    if not imp.events:
        imp.warnings.append("the trace has no pci_nvme_* events")
    return imp.finish()
