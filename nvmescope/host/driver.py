"""LinuxDriver: a model of Linux 6.1's NVMe PCI driver (``drivers/nvme/host/pci.c``).

The driver brings the controller up in the order the real driver does, as
recorded in ``reference/linux-6.1-on-qemu-7.2/qemu-trace-pci_nvme.log``, in
plain named steps a lesson can point at:

1. :meth:`LinuxDriver.nvme_pci_enable`: size and program BAR0, enable memory
   space and bus mastering, read CSTS, set up MSI-X vector 0, read CAP (two
   32-bit halves) and CMBSZ.
2. :meth:`LinuxDriver.nvme_pci_configure_admin_queue`: read VS (and, from VS 1.1
   with CAP.NSSRS = 1, CSTS, to clear NSSRO if it is set), disable the
   controller (CC = 0, wait for RDY = 0), program AQA, ASQ and ACQ (32-bit
   halves), then :meth:`LinuxDriver.nvme_enable_ctrl`: CAP, CC with IOCQES=4,
   IOSQES=6 and CSS from CAP.CSS, read back, CAP again (and CRTO when
   CAP.CRMS.CRWMS is set), CC.EN = 1, poll CSTS until RDY. Both waits are
   :meth:`LinuxDriver.nvme_wait_ready`: only RDY and an all-ones CSTS count, for
   (CAP.TO + 1) / 2 seconds.
3. :meth:`LinuxDriver.nvme_init_identify`: read VS, Identify Controller.
4. :meth:`LinuxDriver.nvme_setup_io_queues`: Set Features Number of Queues,
   MSI-X vector 1, Create I/O CQ 1, Create I/O SQ 1 (depth = min(CAP.MQES + 1, 1024)).
5. :meth:`LinuxDriver.nvme_enable_aen`: Set Features Async Event Configuration
   and one Asynchronous Event Request left outstanding.
6. :meth:`LinuxDriver.nvme_scan_ns`: Identify active namespace list (CNS 02h),
   then per namespace the descriptors (CNS 03h) and the namespace (CNS 00h).

Every host action is its own step and is preceded by a ``host_step`` event
that says what the host does and why. A command is: build the SQE in memory
(``mem_write``), a write barrier, ring the SQ tail doorbell (the device emits
``doorbell_sq``). The device's interrupt wakes :meth:`LinuxDriver.nvme_irq`
(``host_irq``), which reads CQEs while their phase tag is the expected one
(``mem_read`` each), then rings the CQ head doorbell once for the batch.

The driver is a set of generator tasks on the scheduler and uses
:class:`~nvmescope.host.api.HostAPI` and nothing else. Scripts can use
:meth:`LinuxDriver.submit_admin`, which runs the machine until the command's
completion was handled and returns it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nvmescope.events import NEW_IF_PHASE, plural
from nvmescope.nvme import identify as idf
from nvmescope.nvme import registers as r
from nvmescope.nvme import status as st
from nvmescope.nvme.commands import (
    CQE_SIZE,
    DSM_AD,
    DSM_MAX_RANGES,
    PRINFO_SHIFT,
    SGL_DATA_BLOCK,
    SQE_SIZE,
    WRITE_ZEROES_DEAC,
    Cqe,
    pack_dsm_ranges,
    pack_sgl_descriptor,
    pack_sqe,
    unpack_cqe,
)
from nvmescope.nvme.copy import COPY_MAX_RANGES, OPC_COPY, make_cdw12, pack_copy_ranges
from nvmescope.nvme.opcodes import (
    ADMIN_OPCODES,
    FEATURES,
    IDENTIFY_CNS,
    LOG_PAGES,
    NVM_OPCODES,
    opcode_name,
)
from nvmescope.nvme.pci import (
    CAP_ID_MSIX,
    CMD_BUS_MASTER,
    CMD_INTX_DISABLE,
    CMD_MEMORY_SPACE,
    MSIX_ENTRY_SIZE,
    MSIX_MC_ENABLE,
    MSIX_MC_TABLE_SIZE,
)
from nvmescope.nvme.status import describe_status, status_name
from nvmescope.sim import Signal, Task

from .api import HostAPI
from .memory import MSI_ADDRESS, PAGE_SIZE

# -- virtual time of host actions (ns) ------------------------------------------------
#: Create I/O SQ CDW11.QPRIO in words
QPRIO_WORDS = ("urgent", "high", "medium", "low")
#: between a host_step annotation and the action it announces
NOTE_NS = 50
#: after an action, before the next one
ACTION_NS = 200
#: from an MSI-X message to the interrupt handler's first instruction
IRQ_ENTRY_NS = 1_000
#: between two CSTS polls: Linux's nvme_wait_ready sleeps usleep_range(1000, 2000), 1 to
#: 2 ms; the model takes the shortest, 1 ms
POLL_NS = 1_000_000
#: admin command timeout (Linux's admin_timeout module parameter: 60 s)
ADMIN_TIMEOUT_NS = 60_000_000_000
#: I/O command timeout (Linux's io_timeout module parameter, nvme_io_timeout: 30 s)
IO_TIMEOUT_NS = 30_000_000_000

# -- Linux's constants ------------------------------------------------------------------
#: NVME_AQ_DEPTH: admin queue entries
ADMIN_QUEUE_DEPTH = 32
#: the admin tag reserved for the Asynchronous Event Request (NVME_AQ_BLK_MQ_DEPTH)
AER_CID = 31
#: admin tags blk-mq hands out (NVME_AQ_MQ_TAG_DEPTH): 0..29, below the AER's 31
ADMIN_TAG_DEPTH = 30
#: a command identifier is the blk-mq tag (bits 11:0) and a 4-bit generation counter
#: (bits 15:12) that counts the uses of that tag (nvme_cid): a late completion for an
#: earlier use of the tag then carries the wrong generation and is recognised
CID_GENCTR_SHIFT = 12
CID_GENCTR_MASK = 0xF
CID_TAG_MASK = (1 << CID_GENCTR_SHIFT) - 1
#: the io_queue_depth module parameter
IO_QUEUE_DEPTH = 1024
#: NVME_MAX_KB_SZ: the PCI driver's own cap on one request (max_hw_sectors), in KiB
MAX_KB_SZ = 4096
#: arguments of a read or write that make it go out whole, never split at MDTS
_WHOLE_KEYS = frozenset({"cid", "prp1", "prp2", "mptr"})
#: where the PCI core places BAR0 (as in the reference guest's /proc/iomem)
BAR0_ADDRESS = 0x1_0000_0000
#: where it places a 32-bit BAR0 (a BAR that cannot decode above 4 GiB): in the PCI hole
#: below 4 GiB
BAR0_ADDRESS_32 = 0xFEB0_0000
#: NVME_AEN_SUPPORTED: namespace attribute, firmware activation, ANA change, discovery change
AEN_SUPPORTED = (1 << 8) | (1 << 9) | (1 << 11) | (1 << 31)

CSTS_RDY = r.CSTS.field("rdy").mask
CSTS_CFS = r.CSTS.field("cfs").mask
CSTS_NSSRO = r.CSTS.field("nssro").mask
#: CAP.CRMS.CRWMS (bit 59, NVMe 2.0): the controller reports CRTO, its ready timeouts
CAP_CRWMS = r.CAP_CRWMS.mask
#: CRTO, Controller Ready Timeouts (NVMe 2.0), at 68h
CRTO_OFFSET = r.CRTO.offset
#: CAP.CSS bit 6: the controller supports I/O command sets (so CC.CSS may be 110b)
CAP_CSS_IOCS = 1 << 6
#: the host's wall clock when the machine starts, ms since 1970 (fixed: runs are deterministic)
HOST_EPOCH_MS = 1_700_000_000_000
#: NVMe 1.0 had only CNS 0/1; Linux sends other CNS values only from VS 1.1 on
VS_1_1 = 0x0001_0100
VS_1_3 = 0x0001_0300


@dataclass
class Completion:
    """One command as the host saw it: what was sent and what came back."""

    sqid: int
    cid: int
    opc: int
    name: str
    what: str
    cqe: Cqe | None = None
    data: bytes | None = None
    timed_out: bool = False
    aborted: bool = False
    #: the task waiting for it, woken when it completes
    done: bool = False
    #: a transfer larger than MDTS went as these commands (the block layer's split); this
    #: Completion is then no command of its own: :meth:`LinuxDriver.wait_for` fills it in
    #: from the parts (the first one that failed, else the last one)
    parts: list[Completion] = field(default_factory=list)
    #: the data buffer in host memory and its length (None, 0: the command moves no data)
    buf: int | None = None
    length: int = 0
    #: the SQ slot its SQE went into; the CQ and the slot its CQE was read from, and how
    #: many CQEs the host had consumed from that CQ before it (its place in the CQ's order)
    sq_slot: int | None = None
    cqid: int | None = None
    cq_slot: int | None = None
    cq_index: int | None = None
    #: sent without waiting: memory the driver allocated for it (data buffer, PRP list),
    #: freed by :meth:`LinuxDriver.wait_all`, which also reads the data back when
    #: ``read_back`` (the driver's own buffer of a command that returns data)
    owned: list[int] = field(default_factory=list, repr=False)
    read_back: bool = field(default=False, repr=False)
    #: sent while the driver was not up (the bring-up's commands): a bounded
    #: :attr:`LinuxDriver.history` keeps it (the bring-up's result rows read them)
    pinned: bool = field(default=False, repr=False)

    @property
    def status(self) -> int | None:
        """The 15-bit status field, or None if no completion arrived."""
        return self.cqe.status if self.cqe is not None else None

    @property
    def sct(self) -> int | None:
        return self.cqe.sct if self.cqe is not None else None

    @property
    def sc(self) -> int | None:
        return self.cqe.sc if self.cqe is not None else None

    @property
    def ok(self) -> bool:
        return self.cqe is not None and self.cqe.sct == 0 and self.cqe.sc == 0

    @property
    def dw0(self) -> int:
        return self.cqe.dw0 if self.cqe is not None else 0

    @property
    def status_name(self) -> str:
        if self.cqe is None:
            return "aborted_by_reset" if self.aborted else "timeout"
        return status_name(self.cqe.sct, self.cqe.sc)

    def describe(self) -> str:
        if self.cqe is None:
            return "no completion (aborted by reset)" if self.aborted else "no completion (timeout)"
        return describe_status(self.cqe.status)


@dataclass
class HostSQ:
    qid: int
    addr: int
    depth: int
    cqid: int
    tail: int = 0
    #: the head as last reported by a CQE's SQHD
    head: int = 0
    #: a task is between writing its SQE and ringing the doorbell (Linux's sq_lock)
    locked: bool = False
    #: fired when ``locked`` goes back to False
    unlocked: Any = None

    def slot_addr(self, slot: int) -> int:
        return self.addr + slot * SQE_SIZE


def _lowest_free(span: range, used: set[int], busy: dict[int, int]) -> int | None:
    """The lowest tag of ``span`` neither handed out since the word's last clear nor held."""
    for tag in span:
        if tag not in used and tag not in busy:
            return tag
    return None


@dataclass
class TagSet:
    """blk-mq's tags of one hardware queue (an sbitmap), with each request's generation
    counter: see :meth:`LinuxDriver._alloc_cid`. Like Linux's tag sets it outlives a
    controller reset."""

    #: the sbitmap word this CPU allocates from
    word: int = 0
    #: tags of that word handed out since its last deferred clear
    used: set[int] = field(default_factory=set)
    #: per tag: how often it was used (the low 4 bits go into the cid)
    genctr: dict[int, int] = field(default_factory=dict)
    #: the queue depth the words below were cut for, tags per word, and words
    depth: int = 0
    per_word: int = 1
    words: int = 1

    def cut(self, depth: int) -> None:
        """Cut ``depth`` tags into sbitmap words (4 for the 30 admin tags, at most 64)."""
        if depth == self.depth:
            return
        shift = 6
        if depth >= 4:
            while (4 << shift) > depth:
                shift -= 1
        self.depth, self.per_word = depth, 1 << shift
        self.words = (depth + self.per_word - 1) // self.per_word


@dataclass
class HostCQ:
    qid: int
    addr: int
    depth: int
    vector: int
    head: int = 0
    phase: int = 1
    #: interrupts enabled (Create I/O CQ IEN); False: a polled queue, which
    #: :meth:`LinuxDriver.wait_all` polls every ``LinuxDriver.poll_ns``
    ien: bool = True
    #: CQEs consumed from this queue since it was created
    consumed: int = 0

    def slot_addr(self, slot: int) -> int:
        return self.addr + slot * CQE_SIZE


class _PendingTable(dict):  # type: ignore[type-arg]  # (sqid, cid) -> _Pending
    """The commands outstanding, by (sqid, cid), with each SQ's tags in use counted as
    entries come and go (what :meth:`LinuxDriver._alloc_cid` and ``_tag_free`` ask per
    command, without walking every outstanding command). Entries change only through
    ``[key] = value``, ``del`` and ``pop``."""

    def __init__(self) -> None:
        super().__init__()
        #: per SQ: tag -> outstanding commands holding it (one, unless a caller chose cids)
        self.tags: dict[int, dict[int, int]] = {}
        #: per SQ: outstanding commands
        self.count: dict[int, int] = {}

    def __setitem__(self, key: tuple[int, int], value: Any) -> None:
        if key not in self:
            qid, tag = key[0], key[1] & CID_TAG_MASK
            held = self.tags.setdefault(qid, {})
            held[tag] = held.get(tag, 0) + 1
            self.count[qid] = self.count.get(qid, 0) + 1
        super().__setitem__(key, value)

    def __delitem__(self, key: tuple[int, int]) -> None:
        super().__delitem__(key)
        self._release(key)

    def pop(self, key: tuple[int, int], *default: Any) -> Any:
        if key in self:
            self._release(key)
            return super().pop(key)
        if default:
            return default[0]
        raise KeyError(key)

    def _release(self, key: tuple[int, int]) -> None:
        qid, tag = key[0], key[1] & CID_TAG_MASK
        held = self.tags[qid]
        if held[tag] > 1:
            held[tag] -= 1
        else:
            del held[tag]
        self.count[qid] -= 1


@dataclass
class _Pending:
    completion: Completion
    signal: Any
    timer: int | None = None
    #: the timer's length, for nvme_timeout to start it again
    timeout_ns: int = 0
    #: nvme_timeout sent an Abort for it already (Linux's iod->aborted)
    aborted: bool = False


@dataclass(frozen=True)
class IoCommand:
    """One command of a batch (:meth:`LinuxDriver.submit_batch`): the SQ it goes to, its
    opcode and its fields by their SQE names, and its data: ``buf`` (a buffer the caller
    owns, ``data_len`` bytes, mapped as it lies), ``data_out`` (bytes the driver puts in a
    buffer of its own) or ``data_len`` alone (a buffer of the driver's, read back when
    :meth:`LinuxDriver.wait_all` sees the command succeed)."""

    qid: int
    opc: int
    nsid: int = 0
    cdw10: int = 0
    cdw11: int = 0
    cdw12: int = 0
    cdw13: int = 0
    cdw14: int = 0
    cdw15: int = 0
    buf: int | None = None
    data_len: int = 0
    data_out: bytes | None = None
    why: str = ""

    @classmethod
    def rw(
        cls, opc: int, qid: int, nsid: int, slba: int, nlb: int, buf: int, length: int,
        why: str = "",
    ) -> IoCommand:  # fmt: skip
        """A Read (02h) or Write (01h) of ``nlb`` blocks at ``slba``, data at ``buf``."""
        return cls(
            qid, opc, nsid=nsid, cdw10=slba & 0xFFFFFFFF, cdw11=slba >> 32,
            cdw12=(nlb - 1) & 0xFFFF, buf=buf, data_len=length, why=why,
        )  # fmt: skip


@dataclass
class NamespaceInfo:
    nsid: int
    identify: bytes = b""
    descriptors: bytes = b""
    nsze: int = 0
    lba_size: int = 0


@dataclass
class AsyncEvent:
    dw0: int

    @property
    def type(self) -> int:
        return self.dw0 & 0x7

    @property
    def info(self) -> int:
        return (self.dw0 >> 8) & 0xFF

    @property
    def log_page(self) -> int:
        return (self.dw0 >> 16) & 0xFF

    def describe(self) -> str:
        return st.describe_aer(self.dw0)


def nvme_dbbuf_need_event(event_idx: int, new_idx: int, old: int) -> bool:
    """Linux's rule: ring the MMIO doorbell only if the update from ``old`` to ``new_idx``
    moved past the controller's EventIdx (all 16-bit arithmetic)."""
    return (new_idx - event_idx - 1) & 0xFFFF < (new_idx - old) & 0xFFFF


def register_fields(offset: int, size: int) -> str:
    """The fields of the BAR0 register at ``offset`` that the ``size`` bytes accessed hold,
    from the register table: ``register_fields(0, 4)`` is "MQES, CQR, AMS and TO"."""
    hit = r.register_at(offset)
    if hit is None:
        return "no register fields"
    reg, within = hit
    lo_bit, hi_bit = 8 * within, 8 * (within + size) - 1
    names = [
        f.name.upper()
        for f in sorted(reg.fields, key=lambda f: f.lo)
        if f.lo >= lo_bit and f.hi <= hi_bit
    ]
    if not names:
        return "no defined fields"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def ready_timeout_s(units: int) -> int:
    """Linux's wait for CSTS.RDY, in whole seconds, from a timeout in 500 ms units (CAP.TO,
    CRTO.CRWMT): (units + 1) / 2, so 15 (7.5 s) waits 8 s and 1 (500 ms) waits 1 s."""
    return (units + 1) // 2


def _size(n: int) -> str:
    """Bytes in the largest unit that divides them: 512 B, 8 KiB, 4 MiB."""
    for unit, name in ((1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= unit and n % unit == 0:
            return f"{n // unit} {name}"
    return f"{n} B"


def _cmd_title(opc: int, admin: bool) -> str:
    table = ADMIN_OPCODES if admin else NVM_OPCODES
    hit = table.get(opc)
    return hit.title if hit else f"{'Admin' if admin else 'I/O'} opcode {opc:02X}h"


class LinuxDriver:
    """The host driver model. See the module docstring for the order of bring-up."""

    def __init__(
        self,
        api: HostAPI,
        *,
        nr_io_queues: int = 1,
        io_queue_depth: int = IO_QUEUE_DEPTH,
        bar0_address: int = BAR0_ADDRESS,
        intx_irq: int = 0,
    ) -> None:
        self.api = api
        self.nr_io_queues = max(1, nr_io_queues)
        self.io_queue_depth = max(2, io_queue_depth)
        self.bar0_address = bar0_address
        #: the IRQ the platform's interrupt routing gives INTx when the function is
        #: enabled (0: none, Linux keeps the Interrupt Line value)
        self.intx_irq = intx_irq
        #: the function's IRQ as the kernel routed it in pcibios_enable_irq (lspci's
        #: "routed to IRQ N"); None before that, or when the platform routes nothing
        self.irq: int | None = None
        # what the driver learned
        self.cap = 0
        self.vs = 0
        self.cmbsz = 0
        self.dstrd = 0
        self.q_depth = 0
        self.ctrl_config = 0
        self.csts = 0
        self.bar_size = 0
        #: the PCI Command register as the driver last wrote it
        self.pci_command = 0
        self.msix_cap: int | None = None
        self.msix_table: int | None = None
        self.msix_vectors = 0
        self.id_ctrl: bytes = b""
        self.ns_list: list[int] = []
        self.namespaces: dict[int, NamespaceInfo] = {}
        self.async_events: list[AsyncEvent] = []
        #: Linux's NVME_AER_NOTICE_NS_CHANGED bit of ctrl->events: set by the notice, cleared
        #: by the scan that reads the Changed Namespace List
        self.ns_changed = False
        #: the NSIDs of the Changed Namespace List the last rescan read
        self.changed_ns_list: list[int] = []
        #: scans the notice started that have not ended (nvme_scan_work)
        self.scans_pending = 0
        #: every command the driver sent, in order (with :attr:`history_limit` set: the
        #: newest ones, every one still outstanding and the bring-up's)
        self.history: list[Completion] = []
        #: None: keep every command in :attr:`history` and every interrupt in
        #: :attr:`irq_log`. N: a long run in bounded memory (a Machine that keeps no
        #: events sets it): the older commands that completed after the bring-up, and the
        #: older interrupts, are let go once twice N are held, keeping the newest N
        self.history_limit: int | None = None
        #: completed commands let go from :attr:`history` (its count of done stays exact)
        self.history_dropped = 0
        self.ready = False
        self.up = False
        #: why the last nvme_wait_ready gave up ("" when it did not)
        self.wait_failure = ""
        #: the driver gave the controller up (a failed bring-up): no more doorbells
        self.dead = False
        self.dead_reason = ""
        #: Get Log Page 05h data, when the controller keeps that log
        self.effects_log: bytes = b""
        #: (shadow doorbell page, EventIdx page) after a successful Doorbell Buffer Config
        self.dbbuf: tuple[int, int] | None = None
        # queues
        self.sqs: dict[int, HostSQ] = {}
        self.cqs: dict[int, HostCQ] = {}
        self._pending = _PendingTable()
        #: blk-mq tags per queue ID (kept across resets, as Linux keeps its tag sets)
        self._tags: dict[int, TagSet] = {}
        self._isrs: set[int] = set()
        self._busy = 0
        #: CC.AMS the bring-up writes: 000b round robin (Linux 6.1 never selects anything
        #: else), 001b weighted round robin with urgent priority class
        self.cc_ams = 0
        #: how often :meth:`wait_all` polls a CQ created without interrupts (ns)
        self.poll_ns = 10_000
        #: (vector, virtual time in ns) of every interrupt the handlers took, in order
        #: (the newest ones when :attr:`history_limit` is set)
        self.irq_log: list[tuple[int, int]] = []
        #: interrupts the handlers took in all (:meth:`irqs_since` counts from it)
        self.irqs_taken = 0
        #: Abort commands nvme_timeout has outstanding (at most ACL + 1: ctrl->abort_limit)
        self._timeout_aborts = 0
        #: nvme_timeout is resetting the controller (nvme_dev_disable, nvme_reset_work)
        self._resetting = False

    # ==================================================================================
    # small steps: every one is a host_step annotation followed by one action
    # ==================================================================================
    def say(self, step: str, text: str) -> Task:
        self.api.note(step, text)
        yield NOTE_NS

    def _cfg_read(self, offset: int, size: int, step: str, text: str) -> Task:
        yield from self.say(step, text)
        value = self.api.config_read(offset, size)
        yield ACTION_NS
        return value

    def _cfg_write(self, offset: int, size: int, value: int, step: str, text: str) -> Task:
        yield from self.say(step, text)
        self.api.config_write(offset, size, value)
        yield ACTION_NS

    def _rd32(self, offset: int, step: str, text: str) -> Task:
        yield from self.say(step, text)
        value = self.api.mmio_read32(offset)
        yield ACTION_NS
        return value

    def _wr32(self, offset: int, value: int, step: str, text: str) -> Task:
        yield from self.say(step, text)
        self.api.mmio_write32(offset, value)
        yield ACTION_NS

    def _read_cap(self, why_lo: str, why_hi: str) -> Task:
        """CAP as two 32-bit reads; each note names the fields its half holds (from the
        register table) and why the driver wants them."""
        lo = yield from self._rd32(
            0x00, "read_cap_lo", f"Read CAP bits 31:0 at 0h ({register_fields(0x00, 4)}): {why_lo}."
        )
        hi = yield from self._rd32(
            0x04, "read_cap_hi", f"Read CAP bits 63:32 at 4h ({register_fields(0x04, 4)}): "
            f"{why_hi}. Linux reads 64-bit registers as two 32-bit halves, low first "
            "(lo_hi_readq).",
        )  # fmt: skip
        self.cap = lo | (hi << 32)
        self.dstrd = r.CAP.get(self.cap, "dstrd")
        return self.cap

    # ==================================================================================
    # 1. nvme_pci_enable
    # ==================================================================================
    def nvme_pci_enable(self) -> Task:
        """PCI set-up: BAR0, memory space, bus master, MSI-X vector 0; CSTS, CAP, CMBSZ."""
        ids = yield from self._cfg_read(
            0x00, 4, "pci_read_ids", "Read the PCI vendor and device ID: anything but FFFFFFFFh "
            "means a function answers at this address.",
        )  # fmt: skip
        if ids == 0xFFFFFFFF:
            yield from self.say("pci_absent", "Nothing answered: there is no device to drive.")
            return False
        bar = yield from self._cfg_read(
            0x10, 4, "pci_read_bar0", "Read BAR0: bit 0 clear means a memory BAR, bits 2:1 = 10b "
            "mean it is 64 bits wide (BAR0 and BAR1 together).",
        )  # fmt: skip
        is64 = (bar >> 1) & 0x3 == 0x2
        yield from self._cfg_write(
            0x10, 4, 0xFFFFFFFF, "pci_size_bar0", "Write all ones to BAR0 to learn its size: the "
            "address bits the device keeps at zero give it away.",
        )  # fmt: skip
        mask_lo = yield from self._cfg_read(
            0x10, 4, "pci_size_bar0", "Read BAR0 back: the low bits that stayed zero are the size."
        )
        mask_hi = 0xFFFFFFFF
        if is64:
            yield from self._cfg_write(
                0x14, 4, 0xFFFFFFFF, "pci_size_bar1", "Write all ones to BAR1, the upper half "
                "of the 64-bit BAR, as well.",
            )  # fmt: skip
            mask_hi = yield from self._cfg_read(0x14, 4, "pci_size_bar1", "Read BAR1 back.")
        mask = (mask_hi << 32) | (mask_lo & ~0xF)
        size = ((~mask) & 0xFFFF_FFFF_FFFF_FFFF) + 1 if mask else 0
        self.bar_size = size
        addr = self.bar0_address
        if not is64 and addr >> 32:
            addr = BAR0_ADDRESS_32
        if size and addr % size:
            addr = (addr + size - 1) // size * size
        yield from self._cfg_write(
            0x10, 4, addr & 0xFFFFFFFF, "pci_program_bar0", f"BAR0 is {size // 1024} KiB: place "
            f"it at {addr:#x} by writing the low half of the address.",
        )  # fmt: skip
        if is64:
            yield from self._cfg_write(
                0x14, 4, addr >> 32, "pci_program_bar1", "Write the high half of the BAR0 "
                "address into BAR1.",
            )  # fmt: skip
        cmd = yield from self._cfg_read(
            0x04, 2, "pci_enable_device_mem", "Read the PCI Command register before enabling the "
            "device (pci_enable_device_mem).",
        )  # fmt: skip
        cmd |= CMD_MEMORY_SPACE
        yield from self._cfg_write(
            0x04, 2, cmd, "pci_enable_device_mem", "Set Memory Space Enable so BAR0 answers: "
            "'enabling device (0000 -> 0002)' in dmesg.",
        )  # fmt: skip
        if self.intx_irq:
            yield from self.pcibios_enable_irq()
        cmd |= CMD_BUS_MASTER
        yield from self._cfg_write(
            0x04, 2, cmd, "pci_set_master", "Set Bus Master Enable so the controller may read "
            "and write host memory by DMA (pci_set_master).",
        )  # fmt: skip
        self.pci_command = cmd
        self.csts = yield from self._rd32(
            0x1C, "read_csts", "Read CSTS first: all ones would mean the device fell off the bus."
        )
        if self.csts == 0xFFFFFFFF:
            yield from self.say("device_gone", "CSTS reads all ones: the device is gone, give up.")
            return False
        yield from self.pci_alloc_irq_vectors()
        if self.msix_table is not None:
            yield from self.msix_program_vector(0)
            yield from self.msix_enable()
        yield from self._read_cap(
            "the queue depth (MQES) and how long to wait for ready (TO)",
            "the doorbell stride (DSTRD), how far apart the queues' doorbells sit, and "
            "whether NVM Subsystem Reset is supported (NSSRS)",
        )
        self.q_depth = min(r.CAP.get(self.cap, "mqes") + 1, self.io_queue_depth)
        self.cmbsz = yield from self._rd32(
            0x3C, "read_cmbsz", "Read CMBSZ (nvme_map_cmb): zero means the controller offers no "
            "memory buffer of its own, so queues live in host memory.",
        )  # fmt: skip
        return True

    def pcibios_enable_irq(self) -> Task:
        """Linux routes the function's INTx pin as it enables it (ACPI, on x86): the IRQ it
        keeps is the platform's, not a register of the device, and nothing is written."""
        irq = self.intx_irq
        yield from self.say(
            "pcibios_enable_irq", f"pcibios_enable_irq: the platform's interrupt routing (ACPI "
            f"_PRT) sends the function's INTx pin to IRQ {irq}; the kernel keeps IRQ {irq} as "
            f"the function's (lspci: 'routed to IRQ {irq}'). Nothing is written to the "
            "device, and nvme will use MSI-X instead.",
        )  # fmt: skip
        self.irq = irq

    def pci_alloc_irq_vectors(self) -> Task:
        """Walk the capability list to the MSI-X capability; learn where its table is."""
        ptr = yield from self._cfg_read(
            0x34, 1, "pci_find_capability", "Read the Capabilities Pointer: the PCI capability "
            "list starts there; the driver looks for MSI-X (ID 11h).",
        )  # fmt: skip
        seen: set[int] = set()
        while ptr and ptr not in seen and 0x40 <= ptr < 0x100:
            seen.add(ptr)
            head = yield from self._cfg_read(
                ptr & ~0x3, 2, "pci_find_capability", f"Read the capability header at "
                f"{ptr & ~0x3:#x}: its ID and the pointer to the next one.",
            )  # fmt: skip
            if head & 0xFF == CAP_ID_MSIX:
                self.msix_cap = ptr & ~0x3
                break
            ptr = head >> 8
        if self.msix_cap is None:
            yield from self.say(
                "no_msix", "No MSI-X capability: the driver stays on the INTx pin interrupt."
            )
            return
        mc = yield from self._cfg_read(
            self.msix_cap + 2, 2, "msix_read_control", "Read MSI-X Message Control: bits 10:0 "
            "are the table size minus one.",
        )  # fmt: skip
        self.msix_vectors = (mc & MSIX_MC_TABLE_SIZE) + 1
        table = yield from self._cfg_read(
            self.msix_cap + 4, 4, "msix_read_table", "Read the MSI-X Table Offset/BIR: which BAR "
            "holds the table and where in it.",
        )  # fmt: skip
        if table & 0x7:
            yield from self.say(
                "msix_not_bar0", "The MSI-X table is not in BAR0: this model only maps BAR0, "
                "so it stays on INTx.",
            )  # fmt: skip
            return
        self.msix_table = table & ~0x7

    def msix_program_vector(self, vector: int) -> Task:
        """Write MSI-X table entry ``vector``: address FEE0_0000h, data = vector, unmasked."""
        if self.msix_table is None or vector >= self.msix_vectors:
            return
        base = self.msix_table + vector * MSIX_ENTRY_SIZE
        yield from self._wr32(
            base, MSI_ADDRESS & 0xFFFFFFFF, "msix_entry_addr", f"MSI-X entry {vector}: message "
            f"address {MSI_ADDRESS:#x}, the local APIC, low half.",
        )  # fmt: skip
        yield from self._wr32(
            base + 4, MSI_ADDRESS >> 32, "msix_entry_addr", f"MSI-X entry {vector}: message "
            "address, high half.",
        )  # fmt: skip
        yield from self._wr32(
            base + 8, vector, "msix_entry_data", f"MSI-X entry {vector}: message data {vector}, "
            "the number the host's interrupt controller uses to pick the handler.",
        )  # fmt: skip
        yield from self._wr32(
            base + 12, 0, "msix_entry_unmask", f"MSI-X entry {vector}: clear the Mask bit so the "
            "device may send this message.",
        )  # fmt: skip

    def msix_enable(self) -> Task:
        if self.msix_cap is None:
            return
        yield from self._cfg_write(
            self.msix_cap + 2, 2, MSIX_MC_ENABLE, "msix_enable", "Set MSI-X Enable in Message "
            "Control: from now on the device signals completions with MSI-X messages, not INTx.",
        )  # fmt: skip
        self.pci_command |= CMD_INTX_DISABLE
        yield from self._cfg_write(
            0x04, 2, self.pci_command, "pci_intx_for_msi", "Set INTx Disable in the Command "
            "register: with MSI-X on, the INTx pin must stay quiet (pci_intx_for_msi).",
        )  # fmt: skip

    # ==================================================================================
    # 2. nvme_pci_configure_admin_queue, nvme_disable_ctrl, nvme_enable_ctrl
    # ==================================================================================
    def nvme_pci_configure_admin_queue(
        self, *, mps: int = 0, asq: int | None = None, acq: int | None = None
    ) -> Task:
        """Disable, give the controller the admin queues, enable. Returns True when ready.

        ``mps``, ``asq`` and ``acq`` exist so a scenario can misprogram the bring-up.
        """
        self.vs = yield from self._rd32(
            0x08, "read_vs", "Read VS (the NVMe version): from NVMe 1.1 on, CAP.NSSRS says "
            "whether the controller supports NVM Subsystem Reset, and Linux then checks "
            "CSTS.NSSRO before it resets the controller.",
        )  # fmt: skip
        nssrs = r.CAP.get(self.cap, "nssrs")
        if self.vs >= VS_1_1 and nssrs:
            csts = yield from self._rd32(
                0x1C, "read_nssro", f"VS = {self.vs:#x} (1.1 or later) and CAP.NSSRS = 1: read "
                "CSTS for NSSRO, which says an NVM Subsystem Reset happened since it was last "
                "cleared.",
            )  # fmt: skip
            if csts != 0xFFFFFFFF and csts & CSTS_NSSRO:
                yield from self._wr32(
                    0x1C, CSTS_NSSRO, "clear_nssro", "CSTS.NSSRO = 1: write 1 to it to clear it "
                    "(the bit is RW1C; the rest of CSTS is read-only), so the next subsystem "
                    "reset shows as a new 1.",
                )  # fmt: skip
        ok = yield from self.nvme_disable_ctrl()
        if not ok:
            return False
        depth = ADMIN_QUEUE_DEPTH
        if asq is None:
            asq = self.api.alloc(depth * SQE_SIZE)
        if acq is None:
            acq = self.api.alloc(depth * CQE_SIZE)
        self.sqs[0] = HostSQ(0, asq, depth, 0)
        self.cqs[0] = HostCQ(0, acq, depth, 0)
        aqa = (depth - 1) | ((depth - 1) << 16)
        yield from self._wr32(
            0x24, aqa, "write_aqa", f"Write AQA = {aqa:#x}: admin SQ and CQ of {depth} entries "
            "each (sizes are 0's based).",
        )  # fmt: skip
        yield from self._wr32(
            0x28, asq & 0xFFFFFFFF, "write_asq_lo", f"Write ASQ low half: the admin submission "
            f"queue is at {asq:#x} in host memory.",
        )  # fmt: skip
        yield from self._wr32(
            0x2C, asq >> 32, "write_asq_hi", f"Write ASQ bits 63:32 at 2Ch, the high half of "
            f"ASQB: {asq >> 32:#x}.",
        )  # fmt: skip
        yield from self._wr32(
            0x30, acq & 0xFFFFFFFF, "write_acq_lo", f"Write ACQ low half: the admin completion "
            f"queue is at {acq:#x}.",
        )  # fmt: skip
        yield from self._wr32(
            0x34, acq >> 32, "write_acq_hi", f"Write ACQ bits 63:32 at 34h, the high half of "
            f"ACQB: {acq >> 32:#x}.",
        )  # fmt: skip
        ok = yield from self.nvme_enable_ctrl(mps=mps)
        if not ok:
            return False
        yield from self.request_irq(0, "the admin queue")
        return True

    def nvme_disable_ctrl(self) -> Task:
        """CC.EN = 0 (and CC.SHN = 0), then wait until CSTS.RDY reads 0 (Linux 6.1's
        nvme_disable_ctrl): for (CAP.TO + 1) / 2 seconds, CAP.TO as nvme_pci_enable read it."""
        self.ready = False
        self.ctrl_config &= ~(1 | r.CC.field("shn").mask)
        yield from self._wr32(
            0x14, self.ctrl_config, "disable_ctrl", f"Write CC = {self.ctrl_config:#x} (EN=0): "
            "reset the controller before handing it the admin queue.",
        )  # fmt: skip
        timeout_s = ready_timeout_s(r.CAP.get(self.cap, "to"))
        return (yield from self.nvme_wait_ready(CSTS_RDY, 0, timeout_s, "reset"))

    def nvme_enable_ctrl(self, *, mps: int = 0) -> Task:
        """Program CC from CAP (CSS, MPS, entry sizes), then set EN and wait for RDY.

        As Linux 6.1 does it: CAP, CC without EN, CC read back, CAP again (it may change
        after the first CC write), the ready timeout from CAP.TO (or CRTO.CRWMT, when
        CAP.CRMS.CRWMS says the controller has CRTO and CRWMT is the larger), CC.EN = 1,
        and a wait of (timeout + 1) / 2 seconds for CSTS.RDY = 1. CC.CRIME stays 0.
        """
        yield from self._read_cap(
            "read again before CC is programmed (nvme_enable_ctrl)",
            "which command sets it supports (CSS) and its smallest memory page (MPSMIN): "
            "Linux uses 4 KiB pages and gives up on a controller whose MPSMIN asks for more",
        )
        css = 6 if r.CAP.get(self.cap, "css") & CAP_CSS_IOCS else 0
        ams = self.cc_ams & 0x7
        # CAP.AMS bit 0 offers CC.AMS 001b (weighted round robin), bit 1 111b (vendor specific)
        offered = {0b001: 0b01, 0b111: 0b10}.get(ams, 0)
        if ams and not r.CAP.get(self.cap, "ams") & offered:
            yield from self.say(
                "cc_ams_unsupported", f"CAP.AMS = {r.CAP.get(self.cap, 'ams'):02b}b does not offer "
                f"arbitration mechanism {ams:03b}b: keep round robin (CC.AMS 000b), the one every "
                "controller supports.",
            )  # fmt: skip
            ams = self.cc_ams = 0
        self.ctrl_config = r.CC.build(css=css, mps=mps, ams=ams, shn=0, iosqes=6, iocqes=4)
        sets = "all I/O command sets (CSS=6)" if css == 6 else "the NVM command set (CSS=0)"
        arbitration = (
            f", AMS={ams:03b}b: {'weighted round robin with urgent priority class' if ams == 1 else 'an arbitration mechanism'} "
            "(Linux 6.1 always leaves round robin, 000b; this host asks for it on purpose)"
            if ams
            else ""
        )
        yield from self._wr32(
            0x14, self.ctrl_config, "write_cc", f"Write CC = {self.ctrl_config:#x}, still EN=0: "
            f"{sets}, {4096 << mps}-byte pages, 64-byte SQEs (IOSQES=6), 16-byte CQEs "
            f"(IOCQES=4){arbitration}.",
        )  # fmt: skip
        self.ctrl_config = yield from self._rd32(
            0x14, "read_cc", "Read CC back to flush the posted write to the device."
        )
        yield from self._read_cap(
            "read again: CAP may change after the first CC write (from NVMe 2.0 the meaning of "
            "TO depends on CC.CRIME)",
            "read again, for the same reason; Linux looks at CRMS (bits 60:59, NVMe 2.0) to "
            "learn whether the controller has a CRTO register",
        )
        timeout = yield from self._ready_timeout()
        self.ctrl_config |= 1
        yield from self._wr32(
            0x14, self.ctrl_config, "enable_ctrl", f"Write CC = {self.ctrl_config:#x}: EN=1, "
            "start the controller.",
        )  # fmt: skip
        ok = yield from self.nvme_wait_ready(
            CSTS_RDY, CSTS_RDY, ready_timeout_s(timeout), "initialisation"
        )
        self.ready = ok
        return ok

    def _ready_timeout(self) -> Task:
        """How long to wait for CSTS.RDY = 1, in CAP.TO's 500 ms units: CAP.TO, or CRTO's
        CRWMT when CAP.CRMS.CRWMS is set and CRWMT is not smaller (Linux 6.1 never sets
        CC.CRIME, so CRIMT does not count)."""
        to = r.CAP.get(self.cap, "to")
        if not self.cap & CAP_CRWMS:
            return to
        crto = yield from self._rd32(
            CRTO_OFFSET, "read_crto", "CAP.CRMS.CRWMS = 1: the controller keeps CRTO (Controller "
            "Ready Timeouts). Read it: CRWMT is how long it may take to become ready with its "
            "media, the only mode Linux 6.1 uses (it leaves CC.CRIME at 0).",
        )  # fmt: skip
        crwmt = r.CRTO.get(crto, "crwmt")
        if crwmt < to:
            yield from self.say(
                "bad_crto", f"CRTO.CRWMT = {crwmt} is less than CAP.TO = {to}: the "
                "specification wants them to agree, so Linux keeps the larger, CAP.TO "
                f"(dmesg: 'bad crto:{crto:x} cap:{self.cap:x}').",
            )  # fmt: skip
            return to
        return crwmt

    def nvme_wait_ready(self, mask: int, val: int, timeout_s: int, op: str) -> Task:
        """Linux 6.1's nvme_wait_ready: read CSTS until (CSTS & ``mask``) == ``val``.

        An all-ones read means the device is gone; anything else, CSTS.CFS included,
        only keeps the wait going. Between reads the driver sleeps (1 to 2 ms in Linux,
        POLL_NS here); after ``timeout_s`` seconds it gives up with "Device not ready;
        aborting ``op``". Returns True when CSTS matched.

        Linux's shutdown (nvme_shutdown_ctrl, which this model does not perform) waits the
        same way for CSTS.SHST = 10b, for shutdown_timeout: the module parameter, 5 s, or
        RTD3E in whole seconds when that is larger, at most 60 s.
        """
        deadline = self.api.now + timeout_s * 1_000_000_000
        rdy = bool(val & CSTS_RDY)
        self.wait_failure = ""
        if rdy:
            yield from self.say(
                "wait_ready", f"Poll CSTS until RDY=1, sleeping 1 to 2 ms between reads (this "
                f"model: 1 ms), for at most {timeout_s} s (nvme_wait_ready). Only RDY and an "
                "all-ones read count: CFS does not end the wait.",
            )  # fmt: skip
        else:
            yield from self.say(
                "wait_not_ready", f"Read CSTS until RDY=0: the controller is ready to be "
                f"enabled again only then. Linux polls every 1 to 2 ms for at most {timeout_s} "
                "s and looks at RDY alone (nvme_wait_ready).",
            )  # fmt: skip
        while True:
            csts = self.api.mmio_read32(0x1C)
            self.csts = csts
            yield ACTION_NS
            if csts == 0xFFFFFFFF:
                self.wait_failure = "CSTS reads all ones, the device is gone"
                yield from self.say(
                    "device_gone", "CSTS reads all ones: no device answers any more; Linux "
                    "gives up (-ENODEV).",
                )  # fmt: skip
                return False
            if csts & mask == val:
                return True
            yield POLL_NS
            if self.api.now > deadline:
                dmesg = f"Device not ready; aborting {op}, CSTS={csts:#x}"
                self.wait_failure = (
                    f"CSTS.RDY did not become {int(rdy)} within {timeout_s} s ('{dmesg}')"
                )
                cfs = (
                    " CSTS.CFS is 1: the controller reported a fatal error, which the wait never "
                    "looked at."
                    if csts & CSTS_CFS
                    else ""
                )
                yield from self.say(
                    "ready_timeout", f"{timeout_s} s have passed and CSTS.RDY is still "
                    f"{int(not rdy)}: give up, as Linux does ('{dmesg}' in dmesg).{cfs}",
                )  # fmt: skip
                return False

    def request_irq(self, vector: int, what: str) -> Task:
        """Install the interrupt handler for ``vector`` (once)."""
        if vector in self._isrs:
            return
        self._isrs.add(vector)
        line = (
            "the INTx pin, shared by every queue" if self._on_intx(vector) else f"vector {vector}"
        )
        yield from self.say("request_irq", f"Install the interrupt handler for {line} ({what}).")
        self.api.spawn(self.nvme_irq(vector), label=f"nvme_irq{vector}")

    # ==================================================================================
    # 3. nvme_init_identify and the rest of nvme_init_ctrl_finish
    # ==================================================================================
    def nvme_init_identify(self) -> Task:
        """Identify Controller, then what Linux does with the answer (nvme_init_ctrl_finish).

        Each follow-up is sent only when the Identify data says the controller
        offers it, and a ``host_step`` says why it is or is not sent. Returns
        False when a command got no completion at all (Linux then gives up the
        probe); an error status is tolerated, as Linux tolerates it.
        """
        self.vs = yield from self._rd32(
            0x08, "read_vs", "Read VS again (nvme_init_ctrl_finish) before asking the controller "
            "about itself.",
        )  # fmt: skip
        c = yield from self.identify(
            1, why="learn the controller's serial, model, limits (MDTS) and number of namespaces"
        )
        if not c.ok:
            return False
        for step in (
            self.nvme_get_effects_log,
            self.nvme_configure_apst,
            self.nvme_configure_timestamp,
            self.nvme_configure_host_options,
            self.nvme_hwmon_init,
        ):
            if not (yield from step()):
                return False
        return True

    def _id_field(self, name: str) -> int:
        fields = self.id_ctrl_fields
        return int(getattr(fields, name)) if fields is not None else 0

    def _answered(self, c: Completion, what: str) -> Task:
        """After an optional bring-up command: False only if it got no completion."""
        if c.cqe is None:
            return False
        if not c.ok:
            yield from self.say(
                "tolerated_error", f"{what} failed ({c.describe()}); Linux carries on without it."
            )
        return True

    def nvme_get_effects_log(self) -> Task:
        lpa = self._id_field("lpa")
        if not lpa & idf.LPA_CMD_EFFECTS:
            yield from self.say(
                "skip_effects_log", f"LPA = {lpa:#x}, bit 1 clear: the controller keeps no "
                "Commands Supported and Effects log, so there is none to read.",
            )  # fmt: skip
            return True
        yield from self.say(
            "effects_log", f"LPA = {lpa:#x}, bit 1 set: the controller keeps a Commands Supported "
            "and Effects log; read it to learn which commands it supports and what each one "
            "changes (nvme_get_effects_log).",
        )  # fmt: skip
        c = yield from self.get_log_page(
            0x05, 4096, nsid=0, why="the commands the NVM command set supports, and their effects"
        )
        if c.ok and c.data is not None:
            self.effects_log = c.data
        return (yield from self._answered(c, "Get Log Page 05h"))

    def nvme_configure_apst(self) -> Task:
        apsta = self._id_field("apsta")
        if not apsta & idf.APSTA_APST:
            yield from self.say(
                "skip_apst", f"APSTA = {apsta:#x}: the controller has no autonomous power state "
                "transitions, so there is no APST table to send (nvme_configure_apst).",
            )  # fmt: skip
        else:
            yield from self.say(
                "skip_apst", f"APSTA = {apsta:#x}: Linux would send Set Features 0Ch with an "
                "APST table here; this model does not model power states and leaves APST off.",
            )  # fmt: skip
        return True

    def nvme_configure_timestamp(self) -> Task:
        oncs = self._id_field("oncs")
        if not oncs & idf.ONCS_TIMESTAMP:
            yield from self.say(
                "skip_timestamp", f"ONCS = {oncs:#x}, bit 6 clear: the controller keeps no "
                "timestamp, so the host does not send it the time.",
            )  # fmt: skip
            return True
        ms = self.host_time_ms()
        yield from self.say(
            "timestamp", f"ONCS = {oncs:#x}, bit 6 set: the controller keeps a timestamp; give it "
            f"the host's time, {ms} ms since 1970, in an 8-byte buffer (nvme_configure_timestamp).",
        )  # fmt: skip
        c = yield from self.set_features(
            0x0E, data_out=ms.to_bytes(8, "little"), why="the host's current time in milliseconds"
        )
        return (yield from self._answered(c, "Set Features 0Eh"))

    def host_time_ms(self) -> int:
        """The host's wall clock in ms: a fixed start plus virtual time (deterministic)."""
        return HOST_EPOCH_MS + self.api.now // 1_000_000

    def nvme_configure_host_options(self) -> Task:
        crdt1, ctratt = self._id_field("crdt1"), self._id_field("ctratt")
        acre, lbafee = int(crdt1 != 0), int(bool(ctratt & idf.CTRATT_ELBAS))
        if not acre and not lbafee:
            yield from self.say(
                "skip_host_behavior", f"CRDT1 = {crdt1} and CTRATT = {ctratt:#x} (bit 15, "
                "extended LBA formats, clear): nothing to switch on in Host Behavior Support, "
                "so no Set Features 16h (nvme_configure_host_options).",
            )  # fmt: skip
            return True
        turn_on = [
            words
            for on, words in (
                (acre, "the host honours its command retry delays (ACRE=1; CRDT1 is not 0)"),
                (lbafee, "the host uses extended LBA formats (LBAFEE=1; CTRATT bit 15 is set)"),
            )
            if on
        ]
        left = (
            "ACRE stays 0 (CRDT1 = 0: no retry delays to honour)" if not acre
            else "LBAFEE stays 0 (CTRATT bit 15 clear)" if not lbafee
            else ""
        )  # fmt: skip
        yield from self.say(
            "host_behavior", f"CRDT1 = {crdt1}, CTRATT = {ctratt:#x}: tell the controller with Set "
            f"Features 16h Host Behavior Support that {' and '.join(turn_on)}"
            f"{'; ' + left if left else ''} (nvme_configure_host_options).",
        )  # fmt: skip
        data = bytes([acre, 0, lbafee]) + bytes(509)
        c = yield from self.set_features(0x16, data_out=data, why="host behavior support")
        return (yield from self._answered(c, "Set Features 16h"))

    def nvme_hwmon_init(self) -> Task:
        yield from self.say(
            "hwmon", "Register the temperature sensor (nvme_hwmon_init): it reads the SMART / "
            "Health log once, for the composite temperature and the temperature sensors the "
            "controller reports; thresholds are read only when someone asks for them.",
        )  # fmt: skip
        c = yield from self.get_log_page(
            0x02, 512, why="SMART / Health information for the whole controller (NSID FFFFFFFFh)"
        )
        return (yield from self._answered(c, "Get Log Page 02h"))

    @property
    def id_ctrl_fields(self) -> Any:
        """The parsed Identify Controller data (a construct Container), or None.

        Parsed once per Identify the host received (parsing 4 KiB with construct
        costs milliseconds, and the I/O path asks for MDTS on every request).
        """
        if len(self.id_ctrl) < idf.IDENTIFY_SIZE:
            return None
        cached = self.__dict__.get("_id_ctrl_parsed")
        if cached is None or cached[0] is not self.id_ctrl:
            cached = (self.id_ctrl, idf.IDENTIFY_CONTROLLER.parse(self.id_ctrl))
            self.__dict__["_id_ctrl_parsed"] = cached
        return cached[1]

    # ==================================================================================
    # 4. nvme_setup_io_queues, nvme_dbbuf_set
    # ==================================================================================
    def nvme_setup_io_queues(self) -> Task:
        n = self.nr_io_queues
        c = yield from self.set_features(
            0x07, (n - 1) | ((n - 1) << 16),
            why=f"ask for {n} I/O submission and completion queue{'s' if n > 1 else ''}",
        )  # fmt: skip
        if not c.ok:
            return False
        nsqa, ncqa = (c.dw0 & 0xFFFF) + 1, (c.dw0 >> 16) + 1
        n = min(n, nsqa, ncqa)
        self.nr_io_queues = n
        for qid in range(1, n + 1):
            vector = qid if qid < max(1, self.msix_vectors) else 0
            if vector:
                yield from self.msix_program_vector(vector)
                yield from self.request_irq(vector, f"I/O queue {qid}")
            c = yield from self.create_io_cq(qid, self.q_depth, vector)
            if not c.ok:
                return False
            c = yield from self.create_io_sq(qid, self.q_depth, qid)
            if not c.ok:
                return False
        return (yield from self.nvme_dbbuf_set())

    def nvme_dbbuf_set(self) -> Task:
        """Doorbell Buffer Config (shadow doorbells), only if OACS bit 8 offers it."""
        oacs = self._id_field("oacs")
        if not oacs & idf.OACS_DBBUF:
            yield from self.say(
                "skip_dbbuf", f"OACS = {oacs:#x}, bit 8 clear: the controller has no Doorbell "
                "Buffer Config, so the host keeps ringing the MMIO doorbells only (no admin "
                "command 7Ch).",
            )  # fmt: skip
            return True
        dbs = self.api.alloc(PAGE_SIZE)
        eis = self.api.alloc(PAGE_SIZE)
        c = yield from self.submit(
            0, 0x7C, prp1=dbs, prp2=eis,
            why=f"OACS bit 8 offers shadow doorbells: shadow doorbell page at {dbs:#x}, "
            f"EventIdx page at {eis:#x}",
        )  # fmt: skip
        if c.ok:
            self.dbbuf = (dbs, eis)
        return (yield from self._answered(c, "Doorbell Buffer Config"))

    # ==================================================================================
    # 5. nvme_enable_aen and the Asynchronous Event Request
    # ==================================================================================
    def nvme_enable_aen(self) -> Task:
        oaes = self._id_field("oaes")
        supported = oaes & AEN_SUPPORTED
        if supported:
            yield from self.set_features(
                0x0B, supported, why=f"OAES = {oaes:#x}: turn on the asynchronous event notices "
                "the controller offers and Linux handles",
            )  # fmt: skip
        else:
            yield from self.say(
                "skip_aen_config", f"OAES = {oaes:#x}: the controller offers none of the optional "
                "notices Linux handles, so there is nothing to turn on (no Set Features 0Bh).",
            )  # fmt: skip
        yield from self.async_event_request()

    def async_event_request(self) -> Task:
        """Submit an AER with the reserved tag; it stays outstanding until an event happens."""
        return (
            yield from self.submit(
                0, 0x0C, cid=AER_CID, wait=False,
                why="the controller holds it and completes it only when something happens",
            )
        )  # fmt: skip

    # ==================================================================================
    # 6. nvme_scan_work: nvme_init_non_mdts_limits, nvme_scan_ns_list, nvme_scan_ns
    # ==================================================================================
    @property
    def multi_css(self) -> bool:
        """CC.CSS = 110b: the host enabled all I/O command sets (Linux's nvme_multi_css)."""
        return r.CC.get(self.ctrl_config, "css") == 6

    def nvme_scan_ns(self) -> Task:
        if self.vs >= VS_1_1:
            c = yield from self.identify(
                6, cdw11=0, why="VS is 1.1 or later, so CNS values beyond 0/1 work: read the "
                "NVM command set's controller limits (CSI 00h; nvme_init_non_mdts_limits)",
            )  # fmt: skip
            if c.cqe is None:
                return False
        else:
            yield from self.say(
                "skip_id_cs_ctrl", f"VS = {self.vs:#x} is older than 1.1: such controllers know "
                "only CNS 0 and 1, so no Identify CNS 06h and a sequential namespace scan.",
            )  # fmt: skip
        if self.ns_changed:
            self.ns_changed = False
            c = yield from self.get_log_page(
                0x04, 4096, why="rescanning namespaces: read the Changed Namespace List to clear "
                "the notice (RAE 0), though Linux scans every namespace rather than trust it "
                "(nvme_clear_changed_ns_log)",
            )  # fmt: skip
            if c.cqe is None:
                return False
            if c.ok and c.data is not None:
                self.changed_ns_list = idf.parse_active_ns_list(c.data)
        c = yield from self.identify(2, why="list the active namespaces")
        if not c.ok or c.data is None:
            return False
        self.ns_list = idf.parse_active_ns_list(c.data)
        for nsid in self.ns_list:
            if not (yield from self.nvme_scan_one_ns(nsid)):
                return False
        for nsid in sorted(set(self.namespaces) - set(self.ns_list)):
            del self.namespaces[nsid]
            yield from self.say(
                "ns_remove", f"Namespace {nsid} is no longer in the active list: its block "
                "device goes (nvme_ns_remove_by_nsid, nvme_remove_invalid_namespaces).",
            )  # fmt: skip
        return True

    def nvme_scan_work(self) -> Task:
        """The scan a Namespace Attribute Changed notice queued (Linux's nvme_scan_work):
        the controller limits, the Changed Namespace List, the active list, each namespace."""
        try:
            yield from self.say(
                "rescan", "Namespace Attribute Changed: rescan the namespaces "
                "(nvme_queue_scan -> nvme_scan_work).",
            )  # fmt: skip
            yield from self.nvme_scan_ns()
        finally:
            self._busy -= 1
            self.scans_pending -= 1

    def wait_for_scan(self) -> Task:
        """In a task: wait until no scan started by a notice is still running."""
        while self.scans_pending:
            yield ACTION_NS

    def nvme_scan_one_ns(self, nsid: int) -> Task:
        info = self.namespaces.setdefault(nsid, NamespaceInfo(nsid))
        if self.vs >= VS_1_3 or self.multi_css:
            c = yield from self.identify(
                3, nsid=nsid, why=f"read namespace {nsid}'s identifiers (EUI64, NGUID, UUID) "
                "and its command set (CSI)",
            )  # fmt: skip
            if c.cqe is None:
                return False
            if c.ok and c.data is not None:
                info.descriptors = c.data
        c = yield from self.identify(
            0, nsid=nsid, why=f"learn namespace {nsid}'s size and LBA format "
            "(nvme_ns_info_from_identify)",
        )  # fmt: skip
        if c.cqe is None:
            return False
        if not c.ok or c.data is None:
            return True
        c = yield from self.identify(
            0, nsid=nsid, why=f"Linux 6.1 reads it again when it sets up namespace {nsid}'s "
            "block device (nvme_update_ns_info_block)",
        )  # fmt: skip
        if c.cqe is None:
            return False
        if c.ok and c.data is not None:
            info.identify = c.data
            ns = idf.IDENTIFY_NAMESPACE.parse(c.data)
            info.nsze = ns.nsze
            lbaf = ns.lbaf[idf.flbas_index(ns.flbas)]
            info.lba_size = 1 << lbaf.ds if lbaf.ds else 0
        ctratt = self._id_field("ctratt")
        if ctratt & idf.CTRATT_ELBAS:
            c = yield from self.identify(
                5, nsid=nsid, cdw11=0, why=f"CTRATT bit 15 (extended LBA formats) is set: read "
                f"namespace {nsid}'s NVM command set data for its protection format (nvme_init_ms)",
            )  # fmt: skip
            if c.cqe is None:
                return False
        else:
            yield from self.say(
                "skip_id_cs_ns", f"CTRATT = {ctratt:#x}, bit 15 clear: no extended LBA formats, so "
                f"Linux skips Identify CNS 05h for namespace {nsid} and assumes 16-bit guard "
                "protection information (nvme_init_ms).",
            )  # fmt: skip
        return True

    # ==================================================================================
    # the whole bring-up
    # ==================================================================================
    def probe(self) -> Task:
        """nvme_probe + nvme_reset_work: from PCI enumeration to namespaces scanned.

        Returns False when the bring-up failed; the driver then abandons the
        controller (:meth:`nvme_remove_dead_ctrl`) and rings no doorbell again.
        """
        yield from self.say(
            "probe", "Probe: an NVMe controller (class 01 08 02) was found; bring it up the way "
            "Linux 6.1 does.",
        )  # fmt: skip
        ok = yield from self.nvme_pci_enable()
        if ok:
            ok = yield from self.start_ctrl()
        elif not self.dead:
            yield from self.nvme_remove_dead_ctrl("the PCI function could not be enabled")
        return ok

    def start_ctrl(self, scan: bool = True) -> Task:
        """Everything after PCI set-up: admin queue, identify, I/O queues, AER, scan."""
        ok = yield from self.nvme_pci_configure_admin_queue()
        failed = self.wait_failure or "the admin queue could not be configured"
        if self.csts != 0xFFFFFFFF and self.csts & CSTS_CFS:
            failed += "; CSTS.CFS=1, the controller reported a fatal status"
        if ok:
            ok = yield from self.nvme_init_identify()
            failed = "a command of nvme_init_ctrl_finish got no answer"
        if ok:
            ok = yield from self.nvme_setup_io_queues()
            failed = "the I/O queues could not be set up"
        if ok:
            yield from self.nvme_enable_aen()
            if scan:
                ok = yield from self.nvme_scan_ns()
                failed = "the namespace scan failed"
        self.up = bool(ok)
        if ok:
            n = self.nr_io_queues
            yield from self.say(
                "live", f"Bring-up complete: admin queue and {n} I/O queue "
                f"pair{'s' if n > 1 else ''} ready, namespaces {self.ns_list}.",
            )  # fmt: skip
        else:
            yield from self.nvme_remove_dead_ctrl(failed)
        return bool(ok)

    def nvme_remove_dead_ctrl(self, why: str) -> Task:
        """Linux gives up the probe: no more commands, no more doorbells, bus mastering off."""
        self.dead = True
        self.dead_reason = why
        yield from self.say(
            "probe_failed", f"Bring-up failed: {why} (CSTS = {self.csts:#x}). Linux abandons the "
            "probe ('Removing after probe failure'): it forgets the queues and never rings a "
            "doorbell of this controller again.",
        )  # fmt: skip
        self.forget_queues()
        cmd = yield from self._cfg_read(
            0x04, 2, "pci_disable_device", "Read the PCI Command register to disable the device."
        )
        yield from self._cfg_write(
            0x04, 2, cmd & ~CMD_BUS_MASTER, "pci_disable_device", "Clear Bus Master Enable "
            "(pci_disable_device): the dead controller may no longer reach host memory.",
        )  # fmt: skip

    def nvme_reset_ctrl(self, scan: bool = False) -> Task:
        """Reset the controller (CC.EN = 0) and bring it up again (nvme_reset_work)."""
        yield from self.say(
            "reset_ctrl", "Reset the controller: disable it, forget every queue and outstanding "
            "command, and bring it up again.",
        )  # fmt: skip
        self.forget_queues()
        return (yield from self.start_ctrl(scan=scan))

    def forget_queues(self) -> None:
        self.up = False
        if self.dbbuf is not None:
            # a controller reset forgets Doorbell Buffer Config: back to MMIO doorbells
            for addr in self.dbbuf:
                self.api.free(addr)
            self.dbbuf = None
        for key in sorted(self._pending):
            p = self._pending.pop(key)
            if p.timer is not None:
                self.api.cancel(p.timer)
            p.completion.aborted = True
            p.completion.done = True
            p.signal.fire()
        sqs = [self.sqs[q] for q in sorted(self.sqs)]
        self.sqs = {}
        self.cqs = {}
        for sq in sqs:
            if sq.unlocked is not None:
                sq.unlocked.fire()

    # ==================================================================================
    # commands
    # ==================================================================================
    def _alloc_cid(self, sq: HostSQ) -> int:
        """A command identifier as Linux 6.1 makes it: a blk-mq tag with the tag's
        generation counter in bits 15:12 (nvme_cid).

        blk-mq's tags live in an sbitmap cut into words (4 tags per word for the 30 admin
        tags, 64 for an I/O queue's depth - 1). A CPU allocates from one word, lowest free
        tag first; a freed tag is only marked "cleared" and is taken back when the word
        has no tag left (deferred clear). So synchronous admin commands use tags 0, 1, 2,
        3, then 0 again with the next generation: cids 0, 1, 2, 3, 4096, 4097, ... as the
        reference QEMU trace shows. Which word a CPU starts in is random in Linux; here it
        is word 0.
        """
        tags = self._tags.setdefault(sq.qid, TagSet())
        depth = ADMIN_TAG_DEPTH if sq.qid == 0 else max(1, sq.depth - 1)
        tags.cut(depth)
        per_word, words = tags.per_word, tags.words
        busy = self._pending.tags.get(sq.qid, {})  # tags outstanding commands hold
        for step in range(words):
            word = (tags.word + step) % words
            if step:
                tags.used = set()
            span = range(word * per_word, min(depth, (word + 1) * per_word))
            tag = _lowest_free(span, tags.used, busy)
            if tag is None:
                # deferred clear: take back the tags freed since the word filled up
                tags.used = {t for t in tags.used if t in busy}
                tag = _lowest_free(span, tags.used, busy)
            if tag is not None:
                tags.word = word
                tags.used.add(tag)
                gen = tags.genctr.get(tag, 0)
                tags.genctr[tag] = gen + 1
                return ((gen & CID_GENCTR_MASK) << CID_GENCTR_SHIFT) | tag
        return 0

    def _tag_free(self, sq: HostSQ) -> bool:
        """Whether SQ ``sq`` has a tag no outstanding command holds (what _alloc_cid takes)."""
        depth = ADMIN_TAG_DEPTH if sq.qid == 0 else max(1, sq.depth - 1)
        return self._pending.count.get(sq.qid, 0) < depth

    def _describe_cmd(
        self, qid: int, opc: int, nsid: int, cdw10: int, cdw11: int, cdw12: int = 0
    ) -> str:
        if qid != 0:
            title = _cmd_title(opc, False)
            if opc in (0x01, 0x02, 0x05, 0x08):  # Write, Read, Compare, Write Zeroes
                slba, nlb = (cdw11 << 32) | cdw10, (cdw12 & 0xFFFF) + 1
                return f"{title} of {plural(nlb, 'block')} at LBA {slba}, NSID {nsid}"
            if opc == 0x09:
                return f"{title} of {plural((cdw10 & 0xFF) + 1, 'range')}, NSID {nsid}"
            return f"{title} NSID {nsid:#x}" if nsid == 0xFFFFFFFF else f"{title} NSID {nsid}"
        title = _cmd_title(opc, True)
        if opc == 0x06:
            cns = cdw10 & 0xFF
            hit = IDENTIFY_CNS.get(cns)
            return f"Identify (CNS {cns:02X}h{', ' + hit.title if hit else ''})"
        if opc in (0x09, 0x0A):
            fid = cdw10 & 0xFF
            hit = FEATURES.get(fid)
            return f"{title} (FID {fid:02X}h{', ' + hit.title if hit else ''})"
        if opc == 0x02:
            lid = cdw10 & 0xFF
            hit = LOG_PAGES.get(lid)
            return f"{title} (LID {lid:02X}h{', ' + hit.title if hit else ''})"
        if opc in (0x00, 0x01, 0x04, 0x05):
            return f"{title} {cdw10 & 0xFFFF}"
        if opc == 0x0D:
            return f"{title} (delete NSID {nsid:#x})" if cdw10 & 0xF == 1 else f"{title} (create)"
        if opc == 0x15:
            return f"{title} ({'detach' if cdw10 & 0xF == 1 else 'attach'} NSID {nsid})"
        return title

    def _uses_sgl(self, qid: int, buf: int, length: int) -> bool:
        """Linux 6.1's nvme_map_data for a buffer in one physical segment (every buffer
        here): within two pages it is PRPs (nvme_setup_prp_simple); beyond, on an I/O
        queue of a controller whose Identify SGLS bits 1:0 say SGLs, one SGL Data Block
        descriptor (nvme_setup_sgl_simple); otherwise a PRP list."""
        return (
            qid != 0
            and buf % PAGE_SIZE + length > 2 * PAGE_SIZE
            and bool(self._id_field("sgls") & idf.SGLS_SUPPORT_MASK)
        )

    def _map_buffer(
        self, buf: int, length: int, what: str, owned: list[int] | None = None, qid: int = 0
    ) -> Task:
        """The data pointer (PRP1/PRP2, or SGL Descriptor 1 in the same 16 bytes) and PSDT
        for a buffer of ``length`` bytes at ``buf`` (any dword-aligned offset).

        PRP1 is the buffer's first byte; if the data crosses one page boundary
        PRP2 is the second page; if it crosses more, PRP2 points at a PRP list
        of every further page (nvme_pci_setup_prps). An I/O command whose buffer
        crosses more than two pages, to a controller with SGLs, gets one SGL Data Block
        descriptor instead (see :meth:`_uses_sgl`).
        """
        first = PAGE_SIZE - buf % PAGE_SIZE
        if length <= first:
            return buf, 0, 0
        page2 = buf - buf % PAGE_SIZE + PAGE_SIZE
        if length <= first + PAGE_SIZE:
            return buf, page2, 0
        if self._uses_sgl(qid, buf, length):
            yield from self.say(
                "setup_sgl", f"{what} is {length} bytes in one piece of memory, more than two "
                "pages, on an I/O queue, and the controller supports SGLs (Identify SGLS bits "
                "1:0): describe it with one SGL Data Block descriptor (its address and length) "
                "in the data pointer, PSDT 01b, instead of a PRP list (nvme_setup_sgl_simple).",
            )  # fmt: skip
            prp1, prp2 = struct.unpack("<QQ", pack_sgl_descriptor(SGL_DATA_BLOCK, buf, length))
            return prp1, prp2, 1
        count = (length - first + PAGE_SIZE - 1) // PAGE_SIZE
        pages = [page2 + i * PAGE_SIZE for i in range(count)]
        lst = self.api.alloc(len(pages) * 8)
        if owned is not None:
            owned.append(lst)
        offset = f" (PRP1 starts {buf % PAGE_SIZE:#x} into its page)" if buf % PAGE_SIZE else ""
        yield from self.say(
            "build_prp_list", f"{what} spans {len(pages) + 1} pages{offset}: write a PRP list of "
            f"{len(pages)} page addresses at {lst:#x} and point PRP2 at it.",
        )  # fmt: skip
        self.api.mem_write(lst, b"".join(p.to_bytes(8, "little") for p in pages), "PRP list")
        yield ACTION_NS
        return buf, lst, 0

    def submit(
        self,
        qid: int,
        opc: int,
        *,
        nsid: int = 0,
        cdw10: int = 0,
        cdw11: int = 0,
        cdw12: int = 0,
        cdw13: int = 0,
        cdw14: int = 0,
        cdw15: int = 0,
        prp1: int | None = None,
        prp2: int = 0,
        psdt: int = 0,
        mptr: int = 0,
        data_len: int = 0,
        data_out: bytes | None = None,
        cid: int | None = None,
        buf: int | None = None,
        why: str = "",
        wait: bool = True,
        timeout_ns: int | None = None,
        arm_timer: bool | None = None,
    ) -> Task:
        """Send one command on SQ ``qid`` and (with ``wait``) return its :class:`Completion`.

        ``data_len`` bytes come back from the device into a fresh buffer (read
        after the completion), or ``data_out`` goes to it; ``buf`` (with
        ``data_len``) is a buffer the caller owns, mapped as it lies (any offset:
        PRPs, or one SGL Data Block as Linux does); ``prp1``/``prp2`` given explicitly
        are used as they are, with ``psdt`` (01b: they hold SGL Descriptor 1). ``mptr`` is
        the Metadata Pointer (CDW4-5): a separate metadata buffer the caller owns.
        ``arm_timer`` (default: ``wait``) starts the ``timeout_ns`` timer (default: Linux's,
        60 s for an admin command, 30 s for an I/O command).
        """
        if timeout_ns is None:
            timeout_ns = ADMIN_TIMEOUT_NS if qid == 0 else IO_TIMEOUT_NS
        sq = self.sqs.get(qid)
        what = self._describe_cmd(qid, opc, nsid, cdw10, cdw11, cdw12)
        name = opcode_name(opc, qid == 0)
        if cid is None:
            cid = self._alloc_cid(sq) if sq is not None else 0
        comp = Completion(qid, cid, opc, name, what)
        self._keep(comp)
        if self.dead:
            yield from self.say(
                "dead", f"The driver gave this controller up ({self.dead_reason}): {what} is "
                "not sent, no doorbell is rung.",
            )  # fmt: skip
            comp.aborted = True
            comp.done = True
            return comp
        if sq is None:
            yield from self.say(
                "no_queue", f"SQ{qid} does not exist on the host side: cannot send {what}."
            )
            comp.aborted = True
            comp.done = True
            return comp
        length = len(data_out) if data_out is not None else data_len
        own_buffer = buf is None
        # PRPs unless the buffer is mapped with an SGL below, or the caller asks for SGLs
        # by hand (``psdt`` 01b/10b with an SGL descriptor in ``prp1``/``prp2``)
        #: memory this call allocated (data buffer, PRP list): freed when the command is done
        owned: list[int] = []
        if buf is not None:
            prp1, prp2, psdt = yield from self._map_buffer(buf, length, what, owned, qid)
        else:
            buf = prp1
        if prp1 is None:
            if length:
                buf = self.api.alloc(length)
                owned.append(buf)
                if data_out is not None:
                    yield from self.say(
                        "fill_buffer", f"Put the {length} bytes the command sends into a buffer "
                        f"at {buf:#x}.",
                    )  # fmt: skip
                    self.api.mem_write(buf, data_out, f"data for {what}")
                    yield ACTION_NS
                prp1, prp2, psdt = yield from self._map_buffer(buf, length, what, owned, qid)
            else:
                prp1 = 0
        sqe = pack_sqe(
            opc, cid, nsid=nsid, prp1=prp1, prp2=prp2, cdw10=cdw10, cdw11=cdw11,
            cdw12=cdw12, cdw13=cdw13, cdw14=cdw14, cdw15=cdw15, psdt=psdt, mptr=mptr,
        )  # fmt: skip
        # Linux's sq_lock: one task at a time writes an SQE and rings the doorbell
        if sq.unlocked is None:
            sq.unlocked = self.api.signal(f"sq{qid}.lock")
        while sq.locked and self.sqs.get(qid) is sq:
            yield sq.unlocked
        if self.sqs.get(qid) is not sq:
            comp.aborted = True
            comp.done = True
            return comp
        sq.locked = True
        slot = sq.tail
        new_tail = (slot + 1) % sq.depth
        while new_tail == sq.head and self.sqs.get(qid) is sq:
            yield from self.say(
                "sq_full", f"SQ{qid} is full: wait for a completion to free a slot."
            )
            yield POLL_NS
        reason = f": {why}" if why else ""
        data_words = f", data at {prp1:#x}" if length else ""
        gen = cid >> CID_GENCTR_SHIFT
        cid_words = (
            f"cid {cid}: tag {cid & CID_TAG_MASK}, generation {gen}" if gen else f"cid {cid}"
        )
        yield from self.say(
            "build_sqe", f"Build the SQE for {what} in SQ{qid} slot {slot} (opcode {opc:02X}h, "
            f"{cid_words}{data_words}){reason}.",
        )  # fmt: skip
        self.api.mem_write(sq.slot_addr(slot), sqe, f"SQE {name}")
        comp.sq_slot = slot
        yield ACTION_NS
        if self.dbbuf is not None and qid:
            barrier = (
                "Write barrier (wmb): with shadow doorbells the new tail goes to host memory "
                "first, so Linux orders the 64-byte SQE before that store with an explicit "
                "wmb() (nvme_dbbuf_update_and_check_event)."
            )
        else:
            barrier = (
                "No separate write barrier here: the 64-byte SQE must be in memory before the "
                "device can see the new tail, and writel(), the MMIO write that rings the "
                "doorbell, is ordered after the CPU's earlier stores, so Linux issues no wmb() "
                "of its own."
            )
        yield from self.say("wmb", barrier)
        pending = _Pending(comp, self.api.signal(f"cmd{qid}.{cid}"), timeout_ns=timeout_ns)
        self._pending[(qid, cid)] = pending
        if (wait if arm_timer is None else arm_timer) and timeout_ns > 0:
            pending.timer = self.api.call_after(
                timeout_ns, lambda: self._timeout(qid, cid), label="nvme_timeout"
            )
        ring = yield from self._shadow_doorbell(2 * qid, new_tail, slot, f"SQ{qid} tail")
        if ring:
            yield from self.say(
                "ring_sq", f"Ring the SQ{qid} tail doorbell: tail {slot} -> {new_tail}, one new "
                "command waits.",
            )  # fmt: skip
        sq.tail = new_tail
        if ring:
            self.api.mmio_write32(r.sq_tail_doorbell(qid, self.dstrd), new_tail)
        sq.locked = False
        sq.unlocked.fire()
        yield ACTION_NS
        comp.buf, comp.length = (buf, length) if length else (None, 0)
        if not wait:
            comp.owned = owned
            comp.read_back = bool(length) and data_out is None and own_buffer
            return comp
        while not comp.done:
            yield pending.signal
        if comp.timed_out:
            yield from self.say(
                "timeout", f"{what} (cid {cid}) timed out: no completion came within "
                f"{timeout_ns // 1_000_000_000} s (nor after the Abort, for an I/O command). "
                "The controller was reset, and the command fails: Linux ends the request with "
                "an error (host aborted) and leaves it to the block layer whether to try again.",
            )  # fmt: skip
            return comp
        if comp.aborted:
            return comp
        if comp.ok and length and data_out is None and buf is not None and own_buffer:
            yield from self.say(
                "read_data", f"{what} succeeded: read the {length} bytes the device wrote at "
                f"{buf:#x}.",
            )  # fmt: skip
            comp.data = self.api.mem_read(buf, length, f"data of {what}")
            yield ACTION_NS
            self._remember(comp, cdw10, nsid)
        # the device is done with the buffers: the next command may use them (as Linux's
        # request and DMA pools are reused); a command that timed out keeps them
        for addr in owned:
            self.api.free(addr)
        return comp

    def _shadow_doorbell(self, index: int, value: int, old: int, what: str) -> Task:
        """With shadow doorbells (Doorbell Buffer Config), an I/O queue's doorbell update goes
        to the shadow in host memory first; returns whether the MMIO doorbell must be rung
        too (nvme_dbbuf_update_and_check_event). Linux 6.1 uses shadows for I/O queues only:
        the admin queue (``index`` 0 and 1) always rings by MMIO."""
        if self.dbbuf is None or index < 2:
            return True
        offset = index * (4 << self.dstrd)
        yield from self.say(
            "shadow_doorbell", f"Write the {what} shadow doorbell in host memory ({old} -> "
            f"{value}), then read the EventIdx the controller keeps beside it: the MMIO "
            "doorbell is needed only if the update moved past it (nvme_dbbuf_need_event).",
        )  # fmt: skip
        self.api.mem_write(
            self.dbbuf[0] + offset, value.to_bytes(4, "little"), f"shadow {what} doorbell"
        )
        yield ACTION_NS
        raw = self.api.mem_read(self.dbbuf[1] + offset, 4, f"EventIdx {what}")
        yield ACTION_NS
        event_idx = int.from_bytes(raw[:4].ljust(4, b"\0"), "little") & 0xFFFF
        if nvme_dbbuf_need_event(event_idx, value, old):
            return True
        yield from self.say(
            "skip_doorbell", f"EventIdx {event_idx} is not between {old} and {value}: the "
            "controller is still working and will read the shadow itself, so no MMIO write.",
        )  # fmt: skip
        return False

    def _remember(self, comp: Completion, cdw10: int, nsid: int) -> None:
        """Keep what an Identify returned, for the CLI and later steps."""
        if comp.opc != 0x06 or comp.sqid != 0 or comp.data is None:
            return
        cns = cdw10 & 0xFF
        if cns == 0x01:
            self.id_ctrl = comp.data
        elif cns == 0x02:
            self.ns_list = idf.parse_active_ns_list(comp.data)

    def _timeout(self, qid: int, cid: int) -> None:
        """The command's timer fired: Linux's nvme_timeout runs (a host task)."""
        p = self._pending.get((qid, cid))
        if p is not None:
            p.timer = None
            self.api.spawn(self._nvme_timeout(qid, cid), label="nvme_timeout")

    def _nvme_timeout(self, qid: int, cid: int) -> Task:
        """Linux 6.1's nvme_timeout: read CSTS (a failed controller is reset at once), poll
        the command's CQ in case only the interrupt was lost; a command still outstanding is
        aborted (an Abort command, and the timer starts again) the first time, and the
        controller reset (nvme_dev_disable, then nvme_reset_work) the second time, or at
        once for an admin command."""
        if (qid, cid) not in self._pending:
            return None
        tag = cid & CID_TAG_MASK
        csts = yield from self._rd32(
            0x1C, "timeout_csts", f"cid {cid} on SQ{qid}: its timer fired with no completion "
            "(nvme_timeout). Read CSTS first: with CFS set (or NSSRO, when the controller "
            "supports NVM Subsystem Reset) Linux resets the controller at once, without "
            "polling.",
        )  # fmt: skip
        sq = self.sqs.get(qid)
        cq = self.cqs.get(sq.cqid) if sq is not None else None
        if csts & CSTS_CFS:
            gone = (
                " (all ones: nothing answered the read, and all ones has CFS set too)"
                if csts == 0xFFFFFFFF
                else ""
            )
            yield from self.say(
                "timeout_fatal", f"CSTS = {csts:#x}{gone}, CFS = 1: the controller is down; "
                f"will reset (Linux: 'controller is down; will reset: CSTS={csts:#x}').",
            )  # fmt: skip
            yield from self._timeout_reset(qid, cid, csts)
            return None
        if cq is not None:
            yield from self.say(
                "timeout_poll", f"Did an interrupt go missing? Poll CQ{cq.qid} as its handler "
                "would, with the interrupt disabled (nvme_poll_irqdisable).",
            )  # fmt: skip
            yield from self.nvme_process_cq(cq, polled=True)
        if (qid, cid) not in self._pending:
            yield from self.say(
                "timeout_polled", f"I/O {tag} QID {qid} timeout, completion "
                "polled: the command had completed and its CQE was in the queue; only the "
                "interrupt never came. (Linux names the request by its blk-mq tag, the cid's "
                "bits 11:0.)",
            )  # fmt: skip
            return None
        p = self._pending[(qid, cid)]
        if self._resetting:
            # nvme_timeout during the reset: Linux restarts the timer and the reset's own
            # wait gives up; here the command ends timed out and the reset goes on
            yield from self.say(
                "timeout_resetting", f"I/O {tag} QID {qid} timeout while the controller is "
                "being reset: the command is given up.",
            )  # fmt: skip
            self._pending.pop((qid, cid))
            p.completion.timed_out = True
            p.completion.done = True
            p.signal.fire()
            return None
        if qid == 0 or p.aborted:
            why = "an admin command" if qid == 0 else "it timed out again after its Abort"
            yield from self.say(
                "timeout_reset", f"I/O {tag} QID {qid} timeout, reset controller: {why}, so "
                "Linux disables the controller and resets it (nvme_dev_disable, "
                "nvme_reset_ctrl).",
            )  # fmt: skip
            yield from self._timeout_reset(qid, cid, csts)
            return None
        limit = self._id_field("acl") + 1 if self.id_ctrl else 1
        if self._timeout_aborts >= limit:
            yield from self.say(
                "timeout_abort_limit", f"I/O {tag} QID {qid} timeout: {self._timeout_aborts} "
                f"Aborts are outstanding already, as many as ACL + 1 = {limit} allows "
                "(ctrl->abort_limit): start the timer again and wait.",
            )  # fmt: skip
            self._rearm(qid, cid, p)
            return None
        p.aborted = True
        self._timeout_aborts += 1
        yield from self.say(
            "timeout_abort", f"I/O {tag} QID {qid} timeout, aborting: send an Abort for SQID "
            f"{qid} CID {cid}, and start the command's timer once more; if it fires again, the "
            "controller is reset.",
        )  # fmt: skip
        self._rearm(qid, cid, p)
        self.api.spawn(self._timeout_abort(qid, cid), label="nvme_timeout_abort")
        return None

    def _rearm(self, qid: int, cid: int, p: _Pending) -> None:
        """BLK_EH_RESET_TIMER: the command's timer starts again."""
        p.timer = self.api.call_after(
            p.timeout_ns, lambda: self._timeout(qid, cid), label="nvme_timeout"
        )

    def _timeout_abort(self, qid: int, cid: int) -> Task:
        """The Abort nvme_timeout sends, and abort_endio's note when it completes."""
        try:
            comp = yield from self.abort(qid, cid, why="nvme_timeout: the command timed out")
        finally:
            self._timeout_aborts -= 1
        if comp.cqe is not None:
            aborted = "aborted" if comp.ok and not comp.dw0 & 1 else "not aborted"
            yield from self.say(
                "abort_endio", f"Abort status: {comp.status:#x} (abort_endio): Dword 0 bit 0 "
                f"= {comp.dw0 & 1}, the command was {aborted}.",
            )  # fmt: skip

    def _timeout_reset(self, qid: int, cid: int, csts: int) -> Task:
        """nvme_dev_disable (delete the I/O queues and disable the controller unless it is
        dead, then cancel every outstanding command), then nvme_reset_work."""
        p = self._pending.get((qid, cid))
        if p is not None:
            p.completion.timed_out = True
        self._resetting = True
        try:
            dead = csts == 0xFFFFFFFF or bool(csts & CSTS_CFS) or not csts & CSTS_RDY
            if not dead:
                yield from self.say(
                    "dev_disable", "nvme_dev_disable: the controller still answers, so delete "
                    "the I/O queues first (nvme_disable_io_queues: every SQ, then every CQ), "
                    "then disable it.",
                )  # fmt: skip
                for q in sorted(q for q in self.sqs if q):
                    yield from self.delete_io_sq(q, why="nvme_disable_io_queues")
                for q in sorted(q for q in self.cqs if q):
                    yield from self.delete_io_cq(q, why="nvme_disable_io_queues")
            yield from self.say(
                "cancel_requests", "Cancel every command still outstanding "
                "(nvme_cancel_tagset): they end with no completion from the device.",
            )  # fmt: skip
            self.forget_queues()
            yield from self.nvme_reset_ctrl(scan=True)
        finally:
            self._resetting = False

    @property
    def outstanding_aer(self) -> Completion | None:
        """The Asynchronous Event Request the controller holds, if any."""
        p = self._pending.get((0, AER_CID))
        return p.completion if p is not None else None

    def wait_for(self, comp: Completion) -> Task:
        """In a task: wait until a command sent with ``wait=False`` has completed.

        For a split transfer (``comp.parts``): wait for every part, then fill ``comp`` in.
        """
        if comp.parts:
            for part in comp.parts:
                yield from self.wait_for(part)
            if not comp.done:
                yield from self._join_parts(comp)
            return comp
        p = self._pending.get((comp.sqid, comp.cid))
        while p is not None and not comp.done:
            yield p.signal
        return comp

    # -- the I/O API: batches, waiting, polling --------------------------------------------
    @property
    def outstanding(self) -> list[Completion]:
        """The commands sent and not yet completed, in the order they were sent (the
        Asynchronous Event Requests the controller holds left out)."""
        return [
            c for c in self.history
            if not c.done and (c.sqid, c.cid) in self._pending
            and not (c.sqid == 0 and c.opc == 0x0C)
        ]  # fmt: skip

    def submit_batch(self, commands: Sequence[IoCommand], *, why: str = "") -> Task:
        """Write the SQEs of ``commands`` (to any SQs, in order) into their queues' next
        slots, then ring each SQ's tail doorbell once, for all of its new commands, in the
        order the SQs first appear; returns a :class:`Completion` per command, in order,
        without waiting (:meth:`wait_all` waits). Each command's timer runs (Linux's I/O
        timeout) from its doorbell.

        An SQ the batch fills is rung at once with what it holds, and the batch waits for a
        completion of that SQ to free a slot (polling its CQ when it has no interrupts). A
        command for an SQ that does not exist is not sent (its Completion says aborted)."""
        comps: list[Completion] = []
        #: per SQ, in the order first used: the queue, the tail before the batch's SQEs not
        #: yet rung, and those commands' (qid, cid)
        rung_from: dict[int, tuple[HostSQ, int, list[tuple[int, int]]]] = {}
        held: list[HostSQ] = []
        reason = f" ({why})" if why else ""
        yield from self.say(
            "batch", f"A batch of {plural(len(commands), 'command')}{reason}: write every SQE "
            "first, then ring each SQ's tail doorbell once for all of its new commands.",
        )  # fmt: skip
        for cmd in commands:
            sq = self.sqs.get(cmd.qid)
            what = self._describe_cmd(cmd.qid, cmd.opc, cmd.nsid, cmd.cdw10, cmd.cdw11, cmd.cdw12)
            # every tag in use (commands fetched but not completed free SQ slots, not tags):
            # the command takes its tag once a completion frees one, as blk-mq waits for one
            late = sq is not None and not self._tag_free(sq)
            cid = self._alloc_cid(sq) if sq is not None and not late else 0
            comp = Completion(cmd.qid, cid, cmd.opc, opcode_name(cmd.opc, cmd.qid == 0), what)
            self._keep(comp)
            comps.append(comp)
            if self.dead or sq is None:
                why_not = (
                    f"the driver gave this controller up ({self.dead_reason})"
                    if self.dead
                    else f"SQ{cmd.qid} does not exist on the host side"
                )
                yield from self.say("no_queue", f"{why_not}: {what} is not sent.")
                comp.aborted = comp.done = True
                continue
            if sq not in held:
                if sq.unlocked is None:
                    sq.unlocked = self.api.signal(f"sq{sq.qid}.lock")
                while sq.locked and self.sqs.get(sq.qid) is sq:
                    yield sq.unlocked
                sq.locked = True
                held.append(sq)
                rung_from[sq.qid] = (sq, sq.tail, [])
            length = len(cmd.data_out) if cmd.data_out is not None else cmd.data_len
            buf = cmd.buf
            if length and buf is None:
                buf = self.api.alloc(length)
                comp.owned.append(buf)
                comp.read_back = cmd.data_out is None
                if cmd.data_out is not None:
                    yield from self.say(
                        "fill_buffer", f"Put the {length} bytes the command sends into a buffer "
                        f"at {buf:#x}.",
                    )  # fmt: skip
                    self.api.mem_write(buf, cmd.data_out, f"data for {what}")
                    yield ACTION_NS
            prp1, prp2, psdt = 0, 0, 0
            if length and buf is not None:
                prp1, prp2, psdt = yield from self._map_buffer(
                    buf, length, what, comp.owned, cmd.qid
                )
                comp.buf, comp.length = buf, length
            while (sq.tail + 1) % sq.depth == sq.head and self.sqs.get(sq.qid) is sq:
                _, first, keys = rung_from[sq.qid]
                if keys:
                    yield from self._ring_batch(sq, first, keys, "the queue is full")
                    rung_from[sq.qid] = (sq, sq.tail, [])
                yield from self.say(
                    "sq_full", f"SQ{sq.qid} is full ({sq.depth} slots, one always kept free): "
                    "wait for a completion to free a slot.",
                )  # fmt: skip
                if not (yield from self._await_progress(sq)):
                    yield from self.say(
                        "sq_stuck", f"SQ{sq.qid} is full and none of its commands is "
                        f"outstanding any more (they timed out): no completion will free a "
                        f"slot, so {what} is not sent.",
                    )  # fmt: skip
                    comp.aborted = comp.done = True
                    break
            while late and not comp.done and not self._tag_free(sq):
                _, first, keys = rung_from[sq.qid]
                if keys:
                    yield from self._ring_batch(sq, first, keys, "every tag is in use")
                    rung_from[sq.qid] = (sq, sq.tail, [])
                yield from self.say(
                    "tags_busy", f"Every tag of SQ{sq.qid} is in use ({sq.depth - 1}, the "
                    "queue's depth - 1): wait for a completion to free one.",
                )  # fmt: skip
                if self.sqs.get(sq.qid) is not sq or not (yield from self._await_progress(sq)):
                    comp.aborted = comp.done = True
            if late and not comp.done:
                cid = comp.cid = self._alloc_cid(sq)
            if comp.done or self.sqs.get(sq.qid) is not sq:
                comp.aborted = comp.done = True
                continue
            slot = sq.tail
            sqe = pack_sqe(
                cmd.opc, cid, nsid=cmd.nsid, prp1=prp1, prp2=prp2, cdw10=cmd.cdw10,
                cdw11=cmd.cdw11, cdw12=cmd.cdw12, cdw13=cmd.cdw13, cdw14=cmd.cdw14,
                cdw15=cmd.cdw15, psdt=psdt,
            )  # fmt: skip
            because = f": {cmd.why}" if cmd.why else ""
            yield from self.say(
                "build_sqe", f"Build the SQE for {what} in SQ{sq.qid} slot {slot} (opcode "
                f"{cmd.opc:02X}h, cid {cid}){because}.",
            )  # fmt: skip
            self.api.mem_write(sq.slot_addr(slot), sqe, f"SQE {comp.name}")
            comp.sq_slot = slot
            yield ACTION_NS
            sq.tail = (slot + 1) % sq.depth
            self._pending[(sq.qid, cid)] = _Pending(comp, self.api.signal(f"cmd{sq.qid}.{cid}"))
            rung_from[sq.qid][2].append((sq.qid, cid))
        for qid in list(rung_from):
            sq, first, keys = rung_from[qid]
            if self.sqs.get(qid) is sq and keys:
                yield from self._ring_batch(sq, first, keys, "")
        for sq in held:
            sq.locked = False
            if sq.unlocked is not None:
                sq.unlocked.fire()
        return comps

    def _ring_batch(self, sq: HostSQ, first: int, keys: list[tuple[int, int]], why: str) -> Task:
        """Ring SQ ``sq``'s tail doorbell once for the SQEs from slot ``first`` to its
        tail (the commands ``keys``), and start their timers."""
        count = len(keys)
        yield from self.say(
            "wmb", f"The {plural(count, 'SQE')} of SQ{sq.qid} are in memory; writel(), the "
            "MMIO write that rings the doorbell, is ordered after the CPU's earlier stores, so "
            "no separate barrier.",
        )  # fmt: skip
        for qid, cid in keys:
            p = self._pending.get((qid, cid))
            if p is not None and p.timer is None:
                p.timer = self.api.call_after(
                    IO_TIMEOUT_NS if qid else ADMIN_TIMEOUT_NS,
                    lambda q=qid, c=cid: self._timeout(q, c), label="nvme_timeout",
                )  # fmt: skip
        ring = yield from self._shadow_doorbell(2 * sq.qid, sq.tail, first, f"SQ{sq.qid} tail")
        if ring:
            because = f" ({why})" if why else ""
            yield from self.say(
                "ring_sq", f"Ring the SQ{sq.qid} tail doorbell once: tail {first} -> {sq.tail}, "
                f"{plural(count, 'new command')} wait{'s' if count == 1 else ''}{because}.",
            )  # fmt: skip
            self.api.mmio_write32(r.sq_tail_doorbell(sq.qid, self.dstrd), sq.tail)
        yield ACTION_NS

    def _await_progress(self, sq: HostSQ) -> Task:
        """Wait until a command of SQ ``sq`` completes (polling its CQ if it has no
        interrupts: every ``poll_ns``, twice as long after a poll that found nothing, up to
        1 ms); False at once when no command of the SQ is outstanding, so none can free a
        slot."""
        cq = self.cqs.get(sq.cqid)
        mine = [p for (qid, _), p in sorted(self._pending.items()) if qid == sq.qid]
        if not mine:
            return False
        if cq is not None and not cq.ien:
            interval = self.poll_ns
            while not any(p.completion.done for p in mine) and self.cqs.get(cq.qid) is cq:
                yield interval
                found = yield from self.poll_cq(cq.qid)
                if found:
                    break
                interval = min(2 * interval, POLL_NS)
            return True
        yield mine[0].signal
        return True

    def poll_cq(self, qid: int) -> Task:
        """Look at CQ ``qid`` without an interrupt (a polled queue, as Linux's poll
        queues): consume what is new, ring the head doorbell; returns the number of
        completions found."""
        cq = self.cqs.get(qid)
        if cq is None:
            return 0
        yield from self.say(
            "poll_cq", f"Poll CQ{qid}: {'it has no interrupts (IEN 0), so ' if not cq.ien else ''}"
            f"the host looks at slot {cq.head} itself.",
        )  # fmt: skip
        before = self._done_count()
        yield from self.nvme_process_cq(cq, polled=True, poll=True)
        return self._done_count() - before

    def _done_count(self) -> int:
        """Commands sent that are done (those let go from the history included)."""
        return self.history_dropped + sum(c.done for c in self.history)

    def _keep(self, comp: Completion) -> None:
        """Append ``comp`` to :attr:`history`, letting the older completed commands go
        when :attr:`history_limit` says so (amortised: once per ``limit`` commands)."""
        comp.pinned = not self.up
        history = self.history
        history.append(comp)
        limit = self.history_limit
        if limit is not None and len(history) > 2 * limit:
            old = history[:-limit]
            kept = [c for c in old if c.pinned or not c.done]
            self.history_dropped += len(old) - len(kept)
            history[:] = kept + history[-limit:]

    def irqs_since(self, mark: int) -> list[tuple[int, int]]:
        """The (vector, time) of the interrupts taken since :attr:`irqs_taken` was
        ``mark`` (at most the newest ones :attr:`irq_log` still holds)."""
        n = self.irqs_taken - mark
        return self.irq_log[-n:] if n > 0 else []

    def wait_all(self, comps: Iterable[Completion] | None = None) -> Task:
        """Wait until every command of ``comps`` (default: every one :attr:`outstanding`)
        has completed; returns them, in the same order.

        A command on a CQ without interrupts is found by polling it every ``poll_ns``. Then,
        for each command whose buffer the driver allocated: a successful one that returns
        data has it read into ``Completion.data``, and the memory is freed."""
        targets = list(comps) if comps is not None else self.outstanding
        for comp in targets:
            key = (comp.sqid, comp.cid)
            interval = self.poll_ns
            while not comp.done and not comp.parts and key in self._pending:
                sq = self.sqs.get(comp.sqid)
                cq = self.cqs.get(sq.cqid) if sq is not None else None
                if cq is not None and not cq.ien:
                    yield interval
                    found = yield from self.poll_cq(cq.qid)
                    # a poll that finds nothing waits twice as long next time (up to 1 ms),
                    # so a command that never completes costs polls until its timeout, not
                    # millions of them
                    interval = self.poll_ns if found else min(2 * interval, POLL_NS)
                else:
                    yield self._pending[key].signal
            if comp.parts:
                yield from self.wait_for(comp)
        for comp in targets:
            if comp.read_back and comp.ok and comp.data is None and comp.buf is not None:
                length = comp.length
                yield from self.say(
                    "read_data", f"{comp.what} succeeded: read the {length} bytes the device "
                    f"wrote at {comp.buf:#x}.",
                )  # fmt: skip
                comp.data = self.api.mem_read(comp.buf, length, f"data of {comp.what}")
                yield ACTION_NS
            if comp.done and not comp.timed_out:
                for addr in comp.owned:
                    self.api.free(addr)
                comp.owned = []
                comp.read_back = False
        return targets

    def submit_admin(self, opc: int, **fields: Any) -> Completion:
        """For scripts: send an admin command, run the machine until its completion was
        handled (interrupt, CQE, CQ head doorbell) and return the :class:`Completion`."""
        return self.api.run_task(self.submit(0, opc, **fields))

    def run(self, task: Task) -> Any:
        """For scripts: run any of the driver's task methods to its end."""
        return self.api.run_task(task)

    # -- admin commands by name ------------------------------------------------------------
    def identify(self, cns: int, *, nsid: int = 0, why: str = "", **kw: Any) -> Task:
        return (yield from self.submit(0, 0x06, nsid=nsid, cdw10=cns, data_len=4096, why=why, **kw))

    def get_features(
        self, fid: int, *, sel: int = 0, cdw11: int = 0, data_len: int = 0, why: str = "",
        nsid: int = 0,
    ) -> Task:  # fmt: skip
        """Get Features ``fid`` (``nsid``: the namespace of a namespace-specific feature)."""
        return (
            yield from self.submit(
                0, 0x0A, nsid=nsid, cdw10=(fid & 0xFF) | ((sel & 7) << 8), cdw11=cdw11,
                data_len=data_len, why=why,
            )
        )  # fmt: skip

    def set_features(
        self,
        fid: int,
        cdw11: int = 0,
        *,
        save: bool = False,
        data_out: bytes | None = None,
        why: str = "",
        nsid: int = 0,
    ) -> Task:
        """Set Features ``fid`` to ``cdw11`` (``nsid``: the namespace of a
        namespace-specific feature, FFFFFFFFh every namespace)."""
        return (
            yield from self.submit(
                0, 0x09, nsid=nsid, cdw10=(fid & 0xFF) | (int(save) << 31), cdw11=cdw11,
                data_out=data_out, why=why,
            )
        )  # fmt: skip

    def get_log_page(
        self,
        lid: int,
        length: int,
        *,
        nsid: int = 0xFFFFFFFF,
        lpo: int = 0,
        rae: bool = False,
        why: str = "",
        **kw: Any,
    ) -> Task:
        """Get Log Page: ``length`` bytes of log ``lid`` from byte ``lpo`` (LPOL/LPOU);
        ``rae`` (Retain Asynchronous Event) keeps the event the log reports outstanding."""
        numd = max(1, length // 4) - 1
        return (
            yield from self.submit(
                0, 0x02, nsid=nsid, cdw10=(lid & 0xFF) | (int(rae) << 15) | ((numd & 0xFFFF) << 16),
                cdw11=numd >> 16, cdw12=lpo & 0xFFFFFFFF, cdw13=lpo >> 32 & 0xFFFFFFFF,
                data_len=length, why=why, **kw,
            )
        )  # fmt: skip

    def ns_create(
        self,
        nsze: int,
        *,
        ncap: int | None = None,
        flbas: int = 0,
        dps: int = 0,
        nmic: int = 0,
        csi: int = 0,
        why: str = "",
    ) -> Task:
        """Namespace Management, create: ``nsze`` blocks of LBA format ``flbas`` (NCAP =
        NSZE unless given); the new NSID is the completion's Dword 0."""
        data = idf.build_identify_namespace(
            nsze=nsze, ncap=nsze if ncap is None else ncap, flbas=flbas, dps=dps, nmic=nmic
        )
        return (
            yield from self.submit(
                0, 0x0D, cdw10=0, cdw11=(csi & 0xFF) << 24, data_out=data,
                why=why or f"a namespace of {nsze} blocks in LBA format {flbas}",
            )
        )  # fmt: skip

    def ns_delete(self, nsid: int, *, why: str = "") -> Task:
        """Namespace Management, delete ``nsid`` (FFFFFFFFh: every namespace)."""
        return (yield from self.submit(0, 0x0D, nsid=nsid, cdw10=1, why=why))

    def ns_attach(
        self, nsid: int, cntlids: tuple[int, ...] = (0,), *, detach: bool = False, why: str = ""
    ) -> Task:
        """Namespace Attachment: attach ``nsid`` to (``detach``: detach it from) the
        controllers of ``cntlids`` (a Controller List)."""
        return (
            yield from self.submit(
                0, 0x15, nsid=nsid, cdw10=int(detach), data_out=idf.build_controller_list(
                    list(cntlids)), why=why,
            )
        )  # fmt: skip

    def create_io_cq(
        self,
        qid: int,
        depth: int,
        vector: int,
        *,
        ien: bool = True,
        zero: bool = False,
        why: str = "",
    ) -> Task:
        """Create I/O CQ ``qid`` of ``depth`` entries on MSI-X ``vector``; ``ien=False``
        makes it a polled queue (IEN 0: the device sends no interrupt for it).

        ``zero``: clear the queue's memory first with the CPU (one ``mem_write`` of zeros),
        as Linux's nvme_init_queue memsets every CQ, so no old byte there reads as a phase
        tag. Memory from ``alloc`` is zeroed already, but that zeroing is no event: a CQ in
        memory used before (a buffer freed) needs it for a replay to find the same bytes.
        The bring-up's CQs, in memory never used, skip it."""
        addr = self.api.alloc(depth * CQE_SIZE)
        if zero:
            yield from self.say(
                "clear_cq", f"Clear the {depth * CQE_SIZE} bytes of CQ{qid} at {addr:#x} "
                "(nvme_init_queue's memset): every phase tag starts at 0, so the first pass, "
                "phase 1, is new.",
            )  # fmt: skip
            self.api.mem_write(addr, bytes(depth * CQE_SIZE), f"clear CQ{qid}")
            yield ACTION_NS
        irq = f"interrupts on vector {vector}" if ien else "no interrupts (IEN 0): polled"
        c = yield from self.submit(
            0, 0x05, prp1=addr, cdw10=qid | ((depth - 1) << 16),
            cdw11=0x1 | (0x2 if ien else 0) | (vector << 16),
            why=why or f"a {depth}-entry completion queue at {addr:#x}, physically contiguous, "
            f"{irq}",
        )  # fmt: skip
        if c.ok:
            self.cqs[qid] = HostCQ(qid, addr, depth, vector, ien=ien)
        return c

    def create_io_sq(
        self, qid: int, depth: int, cqid: int, *, qprio: int | None = None, why: str = ""
    ) -> Task:
        """Create I/O SQ ``qid`` of ``depth`` entries completing into CQ ``cqid``;
        ``qprio`` (CDW11 bits 2:1: 0 urgent, 1 high, 2 medium, 3 low; None: 00b, unsaid,
        as Linux sends it) counts only under weighted round robin arbitration."""
        addr = self.api.alloc(depth * SQE_SIZE)
        prio = ""
        if qprio is not None:
            prio = f", priority class {QPRIO_WORDS[qprio & 3]} (QPRIO {qprio & 3:02b}b)"
        c = yield from self.submit(
            0, 0x01, prp1=addr, cdw10=qid | ((depth - 1) << 16),
            cdw11=0x1 | (((qprio or 0) & 3) << 1) | (cqid << 16),
            why=why or f"a {depth}-entry submission queue at {addr:#x} completing into "
            f"CQ{cqid}{prio}",
        )  # fmt: skip
        if c.ok:
            self.sqs[qid] = HostSQ(qid, addr, depth, cqid)
        return c

    def delete_io_sq(self, qid: int, *, why: str = "") -> Task:
        c = yield from self.submit(0, 0x00, cdw10=qid, why=why)
        if c.ok:
            self.sqs.pop(qid, None)
        return c

    def delete_io_cq(self, qid: int, *, why: str = "") -> Task:
        c = yield from self.submit(0, 0x04, cdw10=qid, why=why)
        if c.ok:
            self.cqs.pop(qid, None)
        return c

    def abort(self, sqid: int, cid: int, *, why: str = "") -> Task:
        return (yield from self.submit(0, 0x08, cdw10=(sqid & 0xFFFF) | (cid << 16), why=why))

    # -- NVM I/O commands ------------------------------------------------------------------------
    def nvme_write(
        self, qid: int, nsid: int, slba: int, nlb: int, buf: int, length: int, **kw: Any
    ) -> Task:
        """Write ``nlb`` blocks from the host buffer ``buf`` (any offset) to ``slba``."""
        return (yield from self._rw(0x01, qid, nsid, slba, nlb, buf, length, **kw))

    def nvme_read(
        self, qid: int, nsid: int, slba: int, nlb: int, buf: int, length: int, **kw: Any
    ) -> Task:
        """Read ``nlb`` blocks at ``slba`` into the host buffer ``buf`` (any offset)."""
        return (yield from self._rw(0x02, qid, nsid, slba, nlb, buf, length, **kw))

    def _rw(
        self, opc: int, qid: int, nsid: int, slba: int, nlb: int, buf: int, length: int,
        *, prinfo: int = 0, ilbrt: int = 0, lbat: int = 0, lbatm: int = 0, **kw: Any,
    ) -> Task:  # fmt: skip
        """``prinfo`` (PRACT 8h, PRCHK guard 4h, application tag 2h, reference tag 1h) goes
        to CDW12 bits 29:26, ``ilbrt`` to CDW14, ``lbat``/``lbatm`` to CDW15; with any of
        them or ``mptr`` the command is sent whole (never split at MDTS)."""
        pi = prinfo or ilbrt or lbat or lbatm
        if pi:
            kw.update(cdw14=ilbrt & 0xFFFFFFFF, cdw15=(lbatm & 0xFFFF) << 16 | (lbat & 0xFFFF))
        cdw12 = (nlb - 1) & 0xFFFF | (prinfo & 0xF) << PRINFO_SHIFT
        block = length // nlb if nlb > 0 and length % nlb == 0 else 0
        limit = self.max_transfer
        if block > limit and length > limit:
            yield from self.say(
                "block_beyond_mdts", f"One {_size(block)} logical block is more than the "
                f"{_size(limit)} a command may move (MDTS): no split can help, and Linux would "
                "not use such a namespace. Send the command anyway and see the device's answer.",
            )  # fmt: skip
        whole = pi or not _WHOLE_KEYS.isdisjoint(kw)
        if not block or length <= limit or block > limit or whole:
            return (
                yield from self.submit(
                    qid, opc, nsid=nsid, cdw10=slba & 0xFFFFFFFF, cdw11=slba >> 32,
                    cdw12=cdw12, buf=buf, data_len=length, **kw,
                )
            )  # fmt: skip
        return (yield from self._rw_split(opc, qid, nsid, slba, nlb, buf, block, **kw))

    @property
    def max_transfer(self) -> int:
        """The most bytes one command may move (Linux's max_hw_sectors, in bytes).

        2^MDTS pages of CAP.MPSMIN's size (nvme_mps_to_sectors), and never more than
        the PCI driver's own NVME_MAX_KB_SZ; MDTS = 0 (or no Identify yet) is no limit
        but that cap.
        """
        # the I/O path asks on every request: kept per Identify data and CAP
        cached = self.__dict__.get("_max_transfer")
        if cached is not None and cached[0] is self.id_ctrl and cached[1] == self.cap:
            return int(cached[2])
        limit = MAX_KB_SZ * 1024
        mdts = self._id_field("mdts")
        if mdts:
            page = 4096 << r.CAP.get(self.cap, "mpsmin")
            limit = min(limit, page << mdts)
        self.__dict__["_max_transfer"] = (self.id_ctrl, self.cap, limit)
        return limit

    def _rw_split(
        self, opc: int, qid: int, nsid: int, slba: int, nlb: int, buf: int, block: int, *,
        wait: bool = True, why: str = "", **kw: Any,
    ) -> Task:  # fmt: skip
        """The block layer's split: one command per ``max_transfer`` bytes, each with its PRPs.

        The parts go out back to back (outstanding together) and complete as one request.
        """
        limit = self.max_transfer
        per = limit // block
        spans = [(k, min(per, nlb - k)) for k in range(0, nlb, per)]
        verb = "write" if opc == 0x01 else "read"
        mdts = self._id_field("mdts")
        page = 4096 << r.CAP.get(self.cap, "mpsmin")
        if mdts:
            rule = f"MDTS = {mdts}: at most {_size(limit)} per command"
            rule += f" ({1 << mdts} pages of {_size(page)})"
        else:
            rule = f"MDTS = 0 (no limit), but Linux caps a request at {_size(limit)}"
            rule += " (NVME_MAX_KB_SZ)"
        yield from self.say(
            "split_io", f"{rule}, so {_size(nlb * block)} becomes {len(spans)} {verb}s of up to "
            f"{per} blocks, each with its own PRPs; the request completes when all of them have.",
        )  # fmt: skip
        title = _cmd_title(opc, False)
        whole = f"{title} of {plural(nlb, 'block')} at LBA {slba}, NSID {nsid}, in {len(spans)} commands"
        agg = Completion(qid, 0, opc, opcode_name(opc, False), whole)
        reason = f"{why}, " if why else ""
        for i, (k, n) in enumerate(spans):
            lba = slba + k
            part = yield from self.submit(
                qid, opc, nsid=nsid, cdw10=lba & 0xFFFFFFFF, cdw11=lba >> 32,
                cdw12=(n - 1) & 0xFFFF, buf=buf + k * block, data_len=n * block, wait=False,
                arm_timer=wait, why=f"{reason}part {i + 1} of {len(spans)}", **kw,
            )  # fmt: skip
            agg.parts.append(part)
        agg.cid = agg.parts[0].cid
        if wait:
            yield from self.wait_for(agg)
        return agg

    def _join_parts(self, agg: Completion) -> Task:
        """Every part of a split transfer completed: the request takes the first failure."""
        pick = next((p for p in agg.parts if not p.ok), agg.parts[-1])
        agg.cid, agg.cqe = pick.cid, pick.cqe
        agg.timed_out, agg.aborted, agg.done = pick.timed_out, pick.aborted, True
        n = len(agg.parts)
        if pick.ok:
            every = "Both parts" if n == 2 else f"All {n} parts"
            text = f"{every} of {agg.what} succeeded: the request is complete."
        else:
            text = (
                f"Part {agg.parts.index(pick) + 1} of {n} of {agg.what} (cid {pick.cid}) failed: "
                f"{pick.describe()}; the whole request fails."
            )
        yield from self.say("split_done", text)

    def nvme_flush(self, qid: int, nsid: int, **kw: Any) -> Task:
        return (yield from self.submit(qid, 0x00, nsid=nsid, **kw))

    def nvme_compare(
        self, qid: int, nsid: int, slba: int, nlb: int, data: bytes, *, prinfo: int = 0,
        **kw: Any,
    ) -> Task:  # fmt: skip
        """Compare ``nlb`` blocks at ``slba`` with ``data`` (which the device reads from
        host memory): Compare Failure when they differ. ``prinfo`` goes to CDW12 bits
        29:26 (``cdw14``/``cdw15`` and ``mptr`` pass through)."""
        return (
            yield from self.submit(
                qid, 0x05, nsid=nsid, cdw10=slba & 0xFFFFFFFF, cdw11=slba >> 32,
                cdw12=(nlb - 1) & 0xFFFF | (prinfo & 0xF) << PRINFO_SHIFT, data_out=data, **kw,
            )
        )  # fmt: skip

    def nvme_write_zeroes(
        self, qid: int, nsid: int, slba: int, nlb: int, *, deallocate: bool = False,
        prinfo: int = 0, **kw: Any,
    ) -> Task:  # fmt: skip
        """Write Zeroes over ``nlb`` blocks at ``slba``, no data moved; ``deallocate`` sets
        DEAC (the blocks may be deallocated, and read as zeroes either way); ``prinfo``
        (PRACT 8h: the device writes PI from ``cdw14`` ILBRT and ``cdw15`` LBAT)."""
        cdw12 = ((nlb - 1) & 0xFFFF) | (WRITE_ZEROES_DEAC if deallocate else 0)
        cdw12 |= (prinfo & 0xF) << PRINFO_SHIFT
        return (
            yield from self.submit(
                qid, 0x08, nsid=nsid, cdw10=slba & 0xFFFFFFFF, cdw11=slba >> 32, cdw12=cdw12, **kw
            )
        )

    def nvme_dsm(
        self, qid: int, nsid: int, ranges: list[tuple[int, int]], *, deallocate: bool = True,
        **kw: Any,
    ) -> Task:  # fmt: skip
        """Dataset Management of ``(slba, nlb)`` ranges (1 to 256), their list in host
        memory; ``deallocate`` sets AD, as Linux's discard does."""
        if not 1 <= len(ranges) <= DSM_MAX_RANGES:
            raise ValueError(
                f"Dataset Management takes 1 to {DSM_MAX_RANGES} ranges, not {len(ranges)}"
            )
        return (
            yield from self.submit(
                qid, 0x09, nsid=nsid, cdw10=len(ranges) - 1, cdw11=DSM_AD if deallocate else 0,
                data_out=pack_dsm_ranges(ranges), **kw,
            )
        )  # fmt: skip

    def nvme_copy(
        self, qid: int, nsid: int, sdlba: int, ranges: list[tuple[int, int]], *,
        desfmt: int = 0, **kw: Any,
    ) -> Task:  # fmt: skip
        """Copy (19h) of ``(slba, nlb)`` source ranges (1 to 256, ``nlb`` 1-based) to
        consecutive blocks from ``sdlba``; the Source Range Entries, in descriptor format
        ``desfmt`` (0h: 32 bytes each, 1h: 40), go in host memory. Linux 6.1 has no Copy
        (nothing in the kernel sends one): this is a command by hand, as ``nvme copy``
        sends it through the passthrough ioctl."""
        if not 1 <= len(ranges) <= COPY_MAX_RANGES:
            raise ValueError(f"Copy takes 1 to {COPY_MAX_RANGES} ranges, not {len(ranges)}")
        return (
            yield from self.submit(
                qid, OPC_COPY, nsid=nsid, cdw10=sdlba & 0xFFFFFFFF, cdw11=sdlba >> 32,
                cdw12=make_cdw12(len(ranges), desfmt), data_out=pack_copy_ranges(ranges, desfmt),
                **kw,
            )
        )  # fmt: skip

    # ==================================================================================
    # interrupts and completions
    # ==================================================================================
    def _irq_signal(self, vector: int) -> Signal:
        """What wakes the handler of ``vector``: its MSI-X message, or, on a function
        without MSI-X (the table not found), the INTx pin rising for vector 0, which every
        queue shares (Linux 6.1's pci_alloc_irq_vectors falls back to the legacy IRQ and
        each queue's handler is registered on it, shared)."""
        if self._on_intx(vector):
            return self.api.irq.intx_signal
        return self.api.wait_interrupt(vector)

    def _on_intx(self, vector: int) -> bool:
        return vector == 0 and self.msix_table is None

    def nvme_irq(self, vector: int) -> Task:
        """The interrupt handler of ``vector``: runs once per MSI-X message (or, on INTx,
        each time the pin rises)."""
        again = False
        while True:
            if not again:
                yield self._irq_signal(vector)
            self._busy += 1
            yield IRQ_ENTRY_NS
            self.api.take_interrupt(vector)
            self.irq_log.append((vector, self.api.now))
            self.irqs_taken += 1
            limit = self.history_limit
            if limit is not None and len(self.irq_log) > 2 * limit:
                del self.irq_log[:-limit]
            yield ACTION_NS
            heads = {qid: (cq.head, cq.phase) for qid, cq in self.cqs.items()}
            for qid in sorted(self.cqs):
                cq = self.cqs.get(qid)
                if cq is not None and cq.vector == vector:
                    yield from self.nvme_process_cq(cq)
            # INTx is level-triggered: a pin still asserted after the handler (a CQE posted
            # after its last look, while the pin was up: no new edge) interrupts again at
            # once; only if this pass did consume something, so a pin no handler can lower
            # does not spin
            consumed = any(
                (cq.head, cq.phase) != heads.get(qid) for qid, cq in self.cqs.items()
            )  # fmt: skip
            again = (
                self._on_intx(vector) and self.api.irq.intx_asserted and consumed
                and not self._irq_signal(vector).pending
            )  # fmt: skip
            if again:
                yield from self.say(
                    "intx_still_asserted", "The INTx pin is still asserted after the handler: "
                    "a completion came after its last look, and the level-triggered line "
                    "interrupts again.",
                )  # fmt: skip
            self._busy -= 1

    @property
    def busy(self) -> bool:
        """An interrupt handler runs or waits to run, or deferred driver work is queued."""
        return self._busy > 0 or any(self._irq_signal(v).pending for v in sorted(self._isrs))

    def quiesce(self) -> Task:
        """Wait until no interrupt is pending and no handler runs (before a scenario ends)."""
        while self.busy:
            yield ACTION_NS

    def nvme_process_cq(self, cq: HostCQ, polled: bool = False, poll: bool = False) -> Task:
        """Consume CQEs while the phase tag says they are new; one head doorbell per batch.
        ``polled``: not for an interrupt but for a command's timeout (nvme_timeout), or
        with ``poll``, for a poll of a queue (:meth:`poll_cq`)."""
        found: list[Completion] = []
        consumed = 0
        old_head = cq.head
        requeue_aer = False
        stale = (cq.phase ^ 1, cq.head)
        while self.cqs.get(cq.qid) is cq:
            slot = cq.head
            yield from self.say(
                "read_cqe", f"Read CQ{cq.qid} slot {slot}: it holds a new completion if its "
                f"phase tag is {cq.phase}.",
            )  # fmt: skip
            addr = cq.slot_addr(slot)
            purpose = f"CQE CQ{cq.qid} slot {slot}{NEW_IF_PHASE}{cq.phase}"
            cqe = unpack_cqe(self.api.mem_read(addr, CQE_SIZE, purpose))
            yield ACTION_NS
            if cqe.p != cq.phase:
                stale = (cqe.p, slot)
                break
            consumed += 1
            cq.consumed += 1
            cq.head = (slot + 1) % cq.depth
            if cq.head == 0:
                cq.phase ^= 1
                yield from self.say(
                    "cq_wrap", f"CQ{cq.qid} wraps: slot {slot} was its last ({cq.depth} "
                    f"entries), so the head goes back to slot 0. The device inverts the phase "
                    f"tag on every pass, so the expected phase flips from {cq.phase ^ 1} to "
                    f"{cq.phase}: the old entries still there carry {cq.phase ^ 1} and read as "
                    "not new.",
                )  # fmt: skip
            sq = self.sqs.get(cqe.sqid)
            if sq is not None:
                sq.head = cqe.sqhd
            comp = yield from self.nvme_handle_cqe(cq, slot, cqe)
            if comp is not None:
                found.append(comp)
                if comp.opc == 0x0C and comp.sqid == 0 and comp.ok:
                    requeue_aer = True
        if self.cqs.get(cq.qid) is not cq:
            return
        phase, slot = stale
        if consumed:
            were = "1 completion was" if consumed == 1 else f"{consumed} completions were"
            how = f"Ring the CQ{cq.qid} head doorbell"
            if self.dbbuf is not None and cq.qid:
                how = f"Publish the CQ{cq.qid} head"
            last = (cq.head - 1) % cq.depth
            back = f"slot {last}" if consumed == 1 else f"slots {old_head} to {last}"
            yield from self.say(
                "ring_cq", f"Slot {slot} has phase tag {phase}, not {cq.phase}: it is not new, "
                f"so {were} new. {how} with {cq.head} to hand {back} back.",
            )  # fmt: skip
            ring = yield from self._shadow_doorbell(
                2 * cq.qid + 1, cq.head, old_head, f"CQ{cq.qid} head"
            )
            if ring:
                if self.dbbuf is not None and cq.qid:
                    yield from self.say(
                        "ring_cq", f"Ring the CQ{cq.qid} head doorbell with {cq.head} as well."
                    )
                self.api.mmio_write32(r.cq_head_doorbell(cq.qid, self.dstrd), cq.head)
                yield ACTION_NS
        elif poll:
            yield from self.say(
                "poll_empty", f"Slot {slot} has phase tag {phase}, not {cq.phase}: nothing new "
                f"in CQ{cq.qid} yet.",
            )  # fmt: skip
        elif polled:
            yield from self.say(
                "timeout_poll_empty", f"Slot {slot} has phase tag {phase}, not {cq.phase}: "
                f"nothing new in CQ{cq.qid}, so the command has not completed.",
            )  # fmt: skip
        elif self._on_intx(cq.vector):
            yield from self.say(
                "intx_not_mine", f"Slot {slot} has phase tag {phase}, not {cq.phase}: no new "
                f"entry in CQ{cq.qid}. On INTx every queue's handler shares the one line, so "
                "the handler of a queue with nothing new returns IRQ_NONE.",
            )  # fmt: skip
        else:
            yield from self.say(
                "spurious_irq", f"Slot {slot} has phase tag {phase}, not {cq.phase}: no new entry "
                f"in CQ{cq.qid}. The device sends one message per completion, and the previous "
                "pass of the handler already consumed this one's completion: nothing to do.",
            )  # fmt: skip
        # wake the waiting tasks only now, as Linux completes requests after the handler
        for comp in found:
            p = self._pending.pop((comp.sqid, comp.cid), None)
            if p is not None:
                comp.done = True
                p.signal.fire()
        if requeue_aer and not self.dead:
            # Linux's nvme_async_event_work: a completed AER is replaced by a new one
            self._busy += 1
            self.api.spawn(self._requeue_aer(), label="nvme_async_event_work")

    def _requeue_aer(self) -> Task:
        self._busy -= 1
        if (0, AER_CID) in self._pending or self.sqs.get(0) is None or self.dead:
            return
        yield from self.say(
            "requeue_aer", "The Asynchronous Event Request completed: send a new one so the "
            "controller can report the next event (nvme_async_event_work).",
        )  # fmt: skip
        yield from self.async_event_request()

    def nvme_handle_cqe(self, cq: HostCQ, slot: int, cqe: Cqe) -> Task:
        """Match a CQE to its command by (SQ ID, command ID)."""
        p = self._pending.get((cqe.sqid, cqe.cid))
        status = describe_status(cqe.status)
        if p is None:
            tag = cqe.cid & CID_TAG_MASK
            same_tag = [c for (q, c) in self._pending if q == cqe.sqid and c & CID_TAG_MASK == tag]
            if same_tag and cqe.cid != AER_CID:
                why = (
                    f"tag {tag} is in use, but with generation {same_tag[0] >> CID_GENCTR_SHIFT}"
                    f", not {cqe.cid >> CID_GENCTR_SHIFT}: a stale or corrupted completion "
                    "(Linux: 'genctr mismatch')"
                )
            else:
                why = (
                    f"which the driver did not send (Linux: 'invalid id {cqe.cid} completed on "
                    f"queue {cqe.sqid}')"
                )
            yield from self.say(
                "unexpected_cqe", f"CQ{cq.qid} slot {slot}: completion for cid {cqe.cid} on "
                f"SQ{cqe.sqid}, {why}: ignored.",
            )  # fmt: skip
            return None
        comp = p.completion
        if p.timer is not None:
            self.api.cancel(p.timer)
            p.timer = None
        comp.cqe, comp.cqid, comp.cq_slot, comp.cq_index = cqe, cq.qid, slot, cq.consumed - 1
        if comp.opc == 0x0C and comp.sqid == 0:
            yield from self.say(
                "handle_cqe", f"CQ{cq.qid} slot {slot} completes cid {comp.cid} ({comp.what}): "
                f"{status}, SQ{cqe.sqid} head now {cqe.sqhd}.",
            )  # fmt: skip
            if comp.ok:
                event = AsyncEvent(cqe.dw0)
                self.async_events.append(event)
                yield from self.say("async_event", f"Asynchronous event: {event.describe()}.")
                if event.type == st.AER_TYPE_NOTICE and event.info == st.AER_INFO_NS_ATTR_CHANGED:
                    # nvme_handle_aen_notice: note the change and queue the scan (the AER is
                    # sent again after, by nvme_async_event_work)
                    self.ns_changed = True
                    self._busy += 1
                    self.scans_pending += 1
                    self.api.spawn(self.nvme_scan_work(), label="nvme_scan_work")
            return comp
        yield from self.say(
            "handle_cqe", f"CQ{cq.qid} slot {slot} completes cid {comp.cid} ({comp.what}): "
            f"{status}, dw0 {cqe.dw0:#x}, SQ{cqe.sqid} head now {cqe.sqhd}.",
        )  # fmt: skip
        return comp

    # ==================================================================================
    # for the CLI
    # ==================================================================================
    def completions(
        self, predicate: Callable[[Completion], bool] | None = None
    ) -> list[Completion]:
        return [c for c in self.history if predicate is None or predicate(c)]
