"""The observable state of a controller and its host memory, folded from events.

:class:`State` is plain data (msgspec Structs of ints, strings, dicts and
bytearrays): the checkpoints of a recording are serialized ``State`` values.
:func:`apply` is the fold: given a state and the next event it updates the
state as that event says. It looks at nothing but the event, so it works the
same on a recording of our emulator and on an imported QEMU trace; whatever no
event has told yet stays *unknown* (``None`` for a register, an unknown byte
in memory).

``apply`` changes the state in place and returns it (folding a million events
by copying the state each time would be far too slow); keep a moment with
:meth:`State.copy`.

What comes from where:

- registers (BAR0 bytes): ``mmio_read`` (the value read), ``mmio_write`` (the
  register value after the write, ``new``), ``ctrl_state`` (CSTS);
- PCI configuration space bytes: ``config_read``, ``config_write``;
- queues: ``queue_created``/``queue_deleted`` (I/O queues), AQA/ASQ/ACQ writes
  (the admin queue pair, when CC.EN goes 0 to 1 or ``ctrl_state`` is ready), ``doorbell_sq`` (tail), ``doorbell_cq`` (head),
  ``sqe_fetch`` (SQ head), ``cqe_post`` (CQ tail and phase); a controller reset
  (CC.EN or CSTS.RDY falling, FLR, NSSR) deletes every queue;
- host memory: ``mem_write``, ``mem_read``, ``dma_read``, ``dma_write``,
  ``sqe_fetch`` and ``cqe_post`` (their bytes, where the event carries them);
- interrupts: ``irq_msix`` (counts, pending bit, last message), ``irq_intx``,
  ``host_irq`` and the MSI-X table bytes in BAR0; ``fault_irq_dropped`` (messages
  lost to a fault, per vector);
- faults armed (``faults``, key -> ``events.ArmedFault``, in the order armed, as
  ``HostAPI.armed_faults()`` lists them): ``fault`` arms or clears one;
  ``fault_irq_dropped`` and ``fault_status_forced`` use up one strike of a counted one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

import msgspec

from nvmescope.events import ArmedFault, Event, fault_key
from nvmescope.nvme.registers import REGISTERS

PAGE = 4096
PAGE_MASK = ~(PAGE - 1)
_ONES = b"\x01" * PAGE
#: the known-flags value of a page whose every byte is known
ALL_KNOWN = b""
#: MSI/MSI-X messages land here on x86: interrupt controller, not memory
_MSI_LO, _MSI_HI = 0xFEE0_0000, 0xFEF0_0000
#: largest ring the views expand into entries
MAX_RING_VIEW = 65536

#: bounds a decoded state (a checkpoint read from a file) must keep, checked by the
#: decoder from each map's length before its entries are decoded: BAR0 bytes (registers,
#: doorbells and MSI-X table of the largest BAR0 a configuration describes), the 4 KiB
#: PCI Express configuration space, 64 Ki queue identifiers, 2048 MSI-X vectors
MAX_BAR0_BYTES = 1 << 20
MAX_CONFIG_BYTES = 4096
MAX_QUEUES = 65536
MAX_VECTORS = 2048
#: faults armed at once: one mask per vector, a stop and a forced status per SQ, and the
#: three that are armed once
MAX_FAULTS = MAX_VECTORS + 2 * MAX_QUEUES + 3
_Bar0 = Annotated[dict[int, int], msgspec.Meta(max_length=MAX_BAR0_BYTES)]
_Config = Annotated[dict[int, int], msgspec.Meta(max_length=MAX_CONFIG_BYTES)]

SQE_SIZE = 64
CQE_SIZE = 16

_OFF_CC, _OFF_CSTS, _OFF_AQA, _OFF_ASQ, _OFF_ACQ = 0x14, 0x1C, 0x24, 0x28, 0x30


class Queue(msgspec.Struct, kw_only=True):
    """One submission or completion queue ring as the events tell it."""

    qtype: str  # "sq" or "cq"
    qid: int
    addr: int | None = None
    qsize: int | None = None  # entries (1's based)
    head: int = 0
    tail: int = 0
    #: CQ: the phase tag the device writes with its next completion
    phase: int = 1
    #: SQ: the CQ its completions go to
    cqid: int | None = None
    #: CQ: interrupt vector and whether interrupts are enabled
    vector: int | None = None
    ien: bool | None = None
    pc: bool | None = None

    @property
    def entry_size(self) -> int:
        return SQE_SIZE if self.qtype == "sq" else CQE_SIZE


class Vector(msgspec.Struct, kw_only=True):
    """One MSI-X vector: messages sent, pending bit, last message."""

    count: int = 0
    pending: bool = False
    masked: bool | None = None
    address: int | None = None
    data: int | None = None
    #: messages a ``drop_interrupt`` fault lost (the host never saw them)
    dropped: int = 0


PageLoader = Callable[[int, int], tuple[bytes, bytes] | None]


class State(msgspec.Struct, kw_only=True, dict=True):
    """Everything observable as of one event of a recording.

    Host memory pages may be *lazy* in a state a reader returned: the page
    table of a checkpoint says where each page is in the file and a page is
    read when first looked at. Read memory through ``read_mem``, ``mem_bytes``,
    ``page`` and ``ring``; ``materialize()`` loads every page into ``mem``.
    """

    #: position of the last event applied (-1: none yet)
    index: int = -1
    seq: int | None = None
    ts: int = 0
    #: known bytes of BAR0 (registers, MSI-X table): offset -> byte
    bar0: _Bar0 = {}
    #: known bytes of PCI configuration space: offset -> byte
    config: _Config = {}
    #: the last controller state change (enabled, ready, reset, ...)
    ctrl_state: str = ""
    sqs: Annotated[dict[int, Queue], msgspec.Meta(max_length=MAX_QUEUES)] = {}
    cqs: Annotated[dict[int, Queue], msgspec.Meta(max_length=MAX_QUEUES)] = {}
    msix: Annotated[dict[int, Vector], msgspec.Meta(max_length=MAX_VECTORS)] = {}
    intx_asserted: bool | None = None
    intx_count: int = 0
    #: host interrupt handler runs per vector
    host_irqs: Annotated[dict[int, int], msgspec.Meta(max_length=MAX_VECTORS + 1)] = {}
    #: host memory: page address -> its 4096 bytes (immutable: a write replaces the page,
    #: so copies of the state share unchanged pages)
    mem: dict[int, bytes] = {}
    #: which bytes of a page are known: 4096 flags (1 known, 0 not), or b"" when all are
    mem_known: dict[int, bytes] = {}
    commands_started: int = 0
    commands_finished: int = 0
    err_count: int = 0
    ub_count: int = 0
    last_condition: str = ""
    #: the faults armed (``events.fault_key`` -> ``events.ArmedFault``), in the order armed
    faults: Annotated[dict[str, ArmedFault], msgspec.Meta(max_length=MAX_FAULTS)] = {}

    # -- lazy pages ----------------------------------------------------------
    def set_lazy_pages(self, table: dict[int, int], loader: PageLoader) -> None:
        """Pages not in ``mem`` that ``loader(page, where)`` reads when first needed.

        ``table`` (page -> where) is shared by copies of the state and never changed.
        """
        self.__dict__["_lazy"] = table
        self.__dict__["_loader"] = loader

    def page(self, page: int) -> tuple[bytes, bytes] | None:
        """(4096 bytes, known flags or b"" when all known) of a page, or None if unknown."""
        data = self.mem.get(page)
        if data is not None:
            return data, self.mem_known[page]
        lazy = self.__dict__.get("_lazy")
        if not lazy:
            return None
        where = lazy.get(page)
        if where is None:
            return None
        got = self.__dict__["_loader"](page, where)
        if got is None:
            return None
        self.mem[page], self.mem_known[page] = got
        return got

    def page_version(self, page: int) -> object:
        """Something that is the same object for two states exactly when they agree on the
        page (its bytes and which are known), without reading a lazy page: a view can key
        what it drew from that page on it."""
        data = self.mem.get(page)
        if data is not None:
            return data, self.mem_known.get(page)
        lazy = self.__dict__.get("_lazy")
        return None if not lazy else lazy.get(page)

    def materialize(self) -> State:
        """Load every lazy page into ``mem`` (for comparing or encoding); returns self."""
        lazy = self.__dict__.get("_lazy")
        if lazy:
            for page in lazy:
                if page not in self.mem:
                    self.page(page)
        return self

    # -- copies ------------------------------------------------------------
    def copy(self) -> State:
        """An independent copy (pages are immutable and shared; lazy pages stay lazy)."""
        new = self._copy()
        lazy = self.__dict__.get("_lazy")
        if lazy:
            new.__dict__["_lazy"] = lazy
            new.__dict__["_loader"] = self.__dict__["_loader"]
        return new

    def _copy(self) -> State:
        return State(
            index=self.index,
            seq=self.seq,
            ts=self.ts,
            bar0=dict(self.bar0),
            config=dict(self.config),
            ctrl_state=self.ctrl_state,
            sqs={k: msgspec.structs.replace(q) for k, q in self.sqs.items()},
            cqs={k: msgspec.structs.replace(q) for k, q in self.cqs.items()},
            msix={k: msgspec.structs.replace(v) for k, v in self.msix.items()},
            intx_asserted=self.intx_asserted,
            intx_count=self.intx_count,
            host_irqs=dict(self.host_irqs),
            mem=dict(self.mem),
            mem_known=dict(self.mem_known),
            commands_started=self.commands_started,
            commands_finished=self.commands_finished,
            err_count=self.err_count,
            ub_count=self.ub_count,
            last_condition=self.last_condition,
            faults=dict(self.faults),
        )

    # -- views -------------------------------------------------------------
    def bar0_value(self, offset: int, size: int) -> int | None:
        """The little-endian value of ``size`` BAR0 bytes at ``offset``, None if any is unknown."""
        return _value(self.bar0, offset, size)

    def config_value(self, offset: int, size: int) -> int | None:
        return _value(self.config, offset, size)

    def register(self, name: str) -> int | None:
        """A BAR0 register by spec name (cap, vs, cc, csts, aqa, asq, acq, ...)."""
        for reg in REGISTERS:
            if reg.name == name:
                return self.bar0_value(reg.offset, reg.size)
        raise KeyError(name)

    def registers(self) -> dict[str, int | None]:
        """Every BAR0 register by name, in offset order; None where unknown."""
        return {reg.name: self.bar0_value(reg.offset, reg.size) for reg in REGISTERS}

    def mem_bytes(self, addr: int, length: int) -> list[int | None]:
        """Host memory byte by byte, None where unknown."""
        out: list[int | None] = []
        for a in range(addr, addr + max(0, min(length, 1 << 24))):
            page = a & PAGE_MASK
            got = self.page(page)
            if got is not None and (not got[1] or got[1][a - page]):
                out.append(got[0][a - page])
            else:
                out.append(None)
        return out

    def read_mem(self, addr: int, length: int) -> bytes | None:
        """``length`` bytes of host memory at ``addr``, or None unless every byte is known."""
        if length < 0 or addr < 0:
            return None
        out = bytearray()
        end = addr + length
        while addr < end:
            page = addr & PAGE_MASK
            off = addr - page
            n = min(PAGE - off, end - addr)
            got = self.page(page)
            if got is None or (got[1] and got[1].find(0, off, off + n) != -1):
                return None
            out += got[0][off : off + n]
            addr += n
        return bytes(out)

    def ring(self, qtype: str, qid: int) -> list[bytes | None]:
        """The entries of a queue ring (bytes, or None where memory is unknown)."""
        q = (self.sqs if qtype == "sq" else self.cqs).get(qid)
        if q is None or q.addr is None or q.qsize is None:
            return []
        size = q.entry_size
        return [self.read_mem(q.addr + i * size, size) for i in range(min(q.qsize, MAX_RING_VIEW))]

    def pages(self) -> list[int]:
        """Addresses of every host memory page some event told something about."""
        return sorted(set(self.mem) | set(self.__dict__.get("_lazy") or ()))

    def to_builtins(self) -> dict[str, Any]:
        """The state as plain data (for JSON, tables and tests)."""
        return msgspec.to_builtins(self.materialize())


def _value(table: dict[int, int], offset: int, size: int) -> int | None:
    value = 0
    for i in range(size):
        b = table.get(offset + i)
        if b is None:
            return None
        value |= b << (8 * i)
    return value


def _put(table: dict[int, int], offset: int, size: int, value: int) -> None:
    if not (0 <= offset < 1 << 40) or not (0 < size <= 8):
        return
    for i in range(size):
        table[offset + i] = (value >> (8 * i)) & 0xFF


def _put_in_place(
    mem: dict[int, Any], known: dict[int, Any], dirty: set[int], page: int, off: int, data: Any
) -> None:
    """A writer's private state: its pages are bytearrays changed in place (their
    known-flags too, while a page is being filled), and the pages changed since the last
    checkpoint are listed in ``dirty``. A whole page of ``bytes`` (immutable: an event's
    own data) is kept as it is, not copied; a later part-page write copies it first."""
    dirty.add(page)
    n = len(data)
    if n == PAGE and type(data) is bytes:
        mem[page] = data
        known[page] = ALL_KNOWN
        return
    old = mem.get(page)
    if old is None:
        old = mem[page] = bytearray(PAGE)
    elif type(old) is not bytearray:
        old = mem[page] = bytearray(old)
    old[off : off + n] = data
    if n == PAGE:
        known[page] = ALL_KNOWN
        return
    flags = known.get(page)
    if flags is not ALL_KNOWN and flags != ALL_KNOWN:
        if not isinstance(flags, bytearray):
            flags = known[page] = bytearray(flags) if flags else bytearray(PAGE)
        flags[off : off + n] = _ONES[:n]
        if flags.find(0) == -1:
            known[page] = ALL_KNOWN


def mem_put(state: State, addr: int, data: bytes) -> None:
    """Record that host memory at ``addr`` holds ``data``."""
    if not data or addr < 0 or _MSI_LO <= addr < _MSI_HI:
        return
    mem, known = state.mem, state.mem_known
    lazy = state.__dict__.get("_lazy")
    dirty = state.__dict__.get("_dirty")
    page = addr & PAGE_MASK
    if dirty is not None and not lazy and addr - page + len(data) <= PAGE:
        _put_in_place(mem, known, dirty, page, addr - page, data)  # within one page
        return
    data = memoryview(data)  # slices below copy nothing until they land in a page
    end = addr + len(data)
    pos = 0
    while addr < end:
        page = addr & PAGE_MASK
        off = addr - page
        n = min(PAGE - off, end - addr)
        if lazy and n != PAGE and page in lazy and page not in mem:
            state.page(page)  # a partial write needs the rest of the page
        old = mem.get(page)
        if dirty is not None:
            _put_in_place(mem, known, dirty, page, off, data[pos : pos + n])
        elif n == PAGE:
            mem[page] = bytes(data[pos : pos + n])
            known[page] = ALL_KNOWN
        else:
            buf = bytearray(old) if old is not None else bytearray(PAGE)
            buf[off : off + n] = data[pos : pos + n]
            mem[page] = bytes(buf)
            flags = known.get(page)
            if flags != ALL_KNOWN:
                fbuf = bytearray(flags) if flags else bytearray(PAGE)
                fbuf[off : off + n] = _ONES[:n]
                known[page] = ALL_KNOWN if fbuf.find(0) == -1 else bytes(fbuf)
        addr += n
        pos += n


# -- the fold ------------------------------------------------------------------
def _sq(state: State, qid: int) -> Queue:
    q = state.sqs.get(qid)
    if q is None:
        q = state.sqs[qid] = Queue(qtype="sq", qid=qid)
        if qid == 0:
            _admin_queues(state, False)
    return q


def _cq(state: State, qid: int) -> Queue:
    q = state.cqs.get(qid)
    if q is None:
        q = state.cqs[qid] = Queue(qtype="cq", qid=qid)
        if qid == 0:
            _admin_queues(state, False)
    return q


def _admin_queues(state: State, create: bool) -> None:
    """The admin pair as AQA/ASQ/ACQ describe it (created when the controller is ready)."""
    aqa = state.bar0_value(_OFF_AQA, 4)
    asq = state.bar0_value(_OFF_ASQ, 8)
    acq = state.bar0_value(_OFF_ACQ, 8)
    if not create and 0 not in state.sqs and 0 not in state.cqs:
        return
    sq = state.sqs.get(0) or state.sqs.setdefault(0, Queue(qtype="sq", qid=0))
    cq = state.cqs.get(0) or state.cqs.setdefault(0, Queue(qtype="cq", qid=0))
    sq.cqid, cq.vector, cq.ien = 0, 0, True
    if aqa is not None:
        sq.qsize = (aqa & 0xFFF) + 1
        cq.qsize = ((aqa >> 16) & 0xFFF) + 1
    if asq is not None:
        sq.addr = asq & ~0xFFF
    if acq is not None:
        cq.addr = acq & ~0xFFF


def _reset_queues(state: State) -> None:
    """A controller reset: every queue is gone (the admin pair comes back when ready)."""
    state.sqs.clear()
    state.cqs.clear()


def _config_ok(e: Any) -> bool:
    """A well-formed config access (others are answered with all ones and a ub_* event)."""
    return e.size in (1, 2, 4) and e.offset % e.size == 0 and 0 <= e.offset <= 4096 - e.size


def _config_read(s: State, e: Any) -> None:
    if _config_ok(e):
        _put(s.config, e.offset, e.size, e.value)


def _config_write(s: State, e: Any) -> None:
    if _config_ok(e) and e.reg:
        _put(s.config, e.offset, e.size, e.new)


def _mmio_read(s: State, e: Any) -> None:
    # an access the device refused (no register name) tells nothing about the registers,
    # nor does a read whose value was not recorded (QEMU's trace)
    if e.reg and getattr(e, "value_known", True):
        _put(s.bar0, e.addr, e.size, e.value)


def _mmio_write(s: State, e: Any) -> None:
    if not e.reg:
        return
    addr = e.addr
    _put(s.bar0, addr, e.size, e.new)
    if addr == _OFF_CC and e.old & 1 and not e.new & 1:
        _reset_queues(s)
    elif addr == _OFF_CC and e.new & 1 and not e.old & 1:
        _admin_queues(s, True)  # enabling takes AQA/ASQ/ACQ as the admin pair
    if _OFF_AQA <= addr < _OFF_ACQ + 8:
        _admin_queues(s, False)
    elif e.reg.startswith("msix["):
        _msix_entry(s, e)


def _msix_entry(s: State, e: Any) -> None:
    """A write to an MSI-X table entry named ``msix[i].field`` (the emulator names them)."""
    index, _, name = e.reg[5:].partition("].")
    if not index.isdigit() or len(index) > 5:
        return
    vector = int(index)
    v = s.msix.get(vector)
    if v is None:
        v = s.msix[vector] = Vector()
    value = e.new & 0xFFFFFFFF
    if name == "ctrl":
        v.masked = bool(value & 1)
    elif name == "data":
        v.data = value
    elif name == "addr_lo" and e.size == 8:
        v.address = e.new
    elif name == "addr_lo":
        v.address = ((v.address or 0) & ~0xFFFFFFFF) | value
    elif name == "addr_hi":
        v.address = ((v.address or 0) & 0xFFFFFFFF) | (value << 32)


def _doorbell_sq(s: State, e: Any) -> None:
    # a doorbell the device ignored (it says so) leaves the queue as it was
    if e.sqid is not None and not getattr(e, "ignored", False):
        _sq(s, e.sqid).tail = e.new_tail


def _doorbell_cq(s: State, e: Any) -> None:
    if not getattr(e, "ignored", False):
        _cq(s, e.cqid).head = e.new_head


def _sqe_fetch(s: State, e: Any) -> None:
    mem_put(s, e.addr, e.data)
    if e.sqid is not None:
        _sq(s, e.sqid).head = e.new_head


def _cqe_post(s: State, e: Any) -> None:
    data = e.data
    if not data and e.sqid is not None and e.cid is not None:
        # the entry is fully described by the event's fields (an imported trace)
        dw2 = (e.sqhd & 0xFFFF) | ((e.sqid & 0xFFFF) << 16)
        dw3 = (e.cid & 0xFFFF) | ((((e.status & 0x7FFF) << 1) | (e.phase & 1)) << 16)
        data = b"".join((v & 0xFFFFFFFF).to_bytes(4, "little") for v in (e.dw0, e.dw1, dw2, dw3))
    mem_put(s, e.addr, data)
    cq = _cq(s, e.cqid)
    cq.tail = e.new_tail
    cq.phase = (e.phase & 1) if e.new_tail > e.slot else 1 - (e.phase & 1)


def _cq_full(s: State, e: Any) -> None:
    cq = _cq(s, e.cqid)
    cq.head, cq.tail = e.head, e.tail


def _dma(s: State, e: Any) -> None:
    if e.data:
        mem_put(s, e.addr, e.data)


def _mem(s: State, e: Any) -> None:
    mem_put(s, e.addr, e.data)


def _irq_msix(s: State, e: Any) -> None:
    v = s.msix.get(e.vector)
    if v is None:
        v = s.msix[e.vector] = Vector()
    if not getattr(e, "by_fault", False):  # a mask_vector fault leaves the Mask bit as it is
        v.masked = e.masked
    if e.masked or not e.delivered:
        v.pending = True
    else:
        v.pending = False
        v.count += 1
        v.address, v.data = e.address, e.data


def _fault(s: State, e: Any) -> None:
    """A fault armed (it replaces one with the same key) or cleared."""
    if not isinstance(e.action, str):
        return
    key = fault_key(e.action, e.sqid, e.vector)
    if not e.armed:
        s.faults.pop(key, None)
    elif key in s.faults or len(s.faults) < MAX_FAULTS:
        s.faults[key] = ArmedFault(
            action=e.action, sqid=e.sqid, vector=e.vector, delay_ns=e.delay_ns,
            status=e.status, count=e.count, seq=e.seq,
        )  # fmt: skip


def _fault_struck(s: State, key: str, remaining: Any) -> None:
    """A counted fault struck once: ``remaining`` strikes are left (none: it is cleared)."""
    fault = s.faults.get(key)
    if fault is None:
        return
    if isinstance(remaining, int) and remaining > 0:
        s.faults[key] = msgspec.structs.replace(fault, count=remaining)
    else:
        del s.faults[key]


def _fault_irq_dropped(s: State, e: Any) -> None:
    if e.vector is not None:
        v = s.msix.get(e.vector)
        if v is None:
            v = s.msix[e.vector] = Vector()
        v.dropped += 1
    _fault_struck(s, "drop_interrupt", e.remaining)


def _fault_status_forced(s: State, e: Any) -> None:
    _fault_struck(s, fault_key("force_status", None if e.any_sq else e.sqid), e.remaining)


def _irq_intx(s: State, e: Any) -> None:
    if e.asserted and not s.intx_asserted:
        s.intx_count += 1
    s.intx_asserted = e.asserted


def _host_irq(s: State, e: Any) -> None:
    s.host_irqs[e.vector] = s.host_irqs.get(e.vector, 0) + 1


def _ctrl_state(s: State, e: Any) -> None:
    s.ctrl_state = e.state
    if e.csts_old or e.csts_new:
        _put(s.bar0, _OFF_CSTS, 4, e.csts_new)
    falling = e.csts_old & 1 and not e.csts_new & 1
    if e.state in ("flr", "conventional_reset", "nssr"):
        # back to power-on values, which no event has told yet
        s.bar0.clear()
        if e.state in ("flr", "conventional_reset"):
            s.config.clear()
            s.msix.clear()
        if e.csts_old or e.csts_new:
            _put(s.bar0, _OFF_CSTS, 4, e.csts_new)
        s.sqs.clear()
        s.cqs.clear()
    elif falling or e.state in ("reset", "disabled"):
        _reset_queues(s)
    if e.state == "ready":
        _admin_queues(s, True)
    elif e.state == "fatal" and not e.csts_old & 1:
        _reset_queues(s)  # enabling failed: the controller never took the admin pair


def _queue_created(s: State, e: Any) -> None:
    if e.qtype == "sq":
        q = s.sqs[e.qid] = Queue(qtype="sq", qid=e.qid, addr=e.addr, qsize=e.qsize, cqid=e.cqid)
    else:
        q = s.cqs[e.qid] = Queue(
            qtype="cq", qid=e.qid, addr=e.addr, qsize=e.qsize, vector=e.vector, ien=e.ien
        )
    q.pc = e.pc


def _queue_deleted(s: State, e: Any) -> None:
    (s.sqs if e.qtype == "sq" else s.cqs).pop(e.qid, None)


def _cmd_start(s: State, e: Any) -> None:
    s.commands_started += 1


def _cmd_finish(s: State, e: Any) -> None:
    s.commands_finished += 1


_HANDLERS: dict[str, Callable[[State, Any], None]] = {
    "config_read": _config_read,
    "config_write": _config_write,
    "mmio_read": _mmio_read,
    "mmio_write": _mmio_write,
    "doorbell_sq": _doorbell_sq,
    "doorbell_cq": _doorbell_cq,
    "sqe_fetch": _sqe_fetch,
    "cqe_post": _cqe_post,
    "cq_full": _cq_full,
    "dma_read": _dma,
    "dma_write": _dma,
    "mem_write": _mem,
    "mem_read": _mem,
    "irq_msix": _irq_msix,
    "irq_intx": _irq_intx,
    "host_irq": _host_irq,
    "ctrl_state": _ctrl_state,
    "queue_created": _queue_created,
    "queue_deleted": _queue_deleted,
    "cmd_start": _cmd_start,
    "cmd_finish": _cmd_finish,
    "fault": _fault,
    "fault_irq_dropped": _fault_irq_dropped,
    "fault_status_forced": _fault_status_forced,
}


def _count_condition(kind: str) -> Callable[[State, Any], None] | None:
    if kind.startswith("err_"):

        def err(state: State, _e: Any) -> None:
            state.err_count += 1
            state.last_condition = kind

        return err
    if kind.startswith("ub_"):

        def ub(state: State, _e: Any) -> None:
            state.ub_count += 1
            state.last_condition = kind

        return ub
    return None


#: event class -> what folding it does (built on first sight of each class)
_BY_TYPE: dict[type, Callable[[State, Any], None] | None] = {}


def apply(state: State, event: Event) -> State:
    """Fold one event into ``state`` (in place) and return it.

    Deterministic and independent of the emulator: the result depends only on
    the state and the event. Events of kinds it does not know only move the
    position.
    """
    cls = type(event)
    try:
        handler = _BY_TYPE[cls]
    except KeyError:
        handler = _handler_of(cls)
    if handler is not None:
        handler(state, event)
    state.index += 1
    state.seq = event.seq
    state.ts = event.ts
    return state


def _handler_of(cls: type) -> Callable[[State, Any], None] | None:
    """What folding an event of ``cls`` does (looked up once per class)."""
    kind = cls.__struct_config__.tag  # type: ignore[attr-defined]
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None and isinstance(kind, str):
        handler = _count_condition(kind)
    _BY_TYPE[cls] = handler
    return handler


def apply_all(state: State, events: Sequence[Event]) -> State:
    """Fold ``events`` into ``state`` in order: what :func:`apply` of each does, with the
    position moved once at the end (no handler reads it), for a writer's or reader's
    chunk of events."""
    by_type = _BY_TYPE
    for event in events:
        cls = type(event)
        handler = by_type[cls] if cls in by_type else _handler_of(cls)
        if handler is not None:
            handler(state, event)
    if events:
        last = events[-1]
        state.index += len(events)
        state.seq = last.seq
        state.ts = last.ts
    return state


def fold(events: Any, state: State | None = None) -> State:
    """Apply every event of an iterable, starting from ``state`` or an empty one."""
    s = State() if state is None else state
    for event in events:
        apply(s, event)
    return s
