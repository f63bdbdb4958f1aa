"""The NVMe controller: BAR0 registers, the controller state machine, the queue engine.

How the host reaches it (see ``docs/architecture.md``): PCI configuration
accesses (:meth:`Controller.config_read` / :meth:`Controller.config_write`),
BAR0 accesses (:meth:`Controller.mmio_read` / :meth:`Controller.mmio_write`);
the controller reaches the host only through its :class:`HostPort`.

Events and steps
----------------

- Every host access emits exactly one access event (``config_*``, ``mmio_*``,
  ``doorbell_*``) carrying what the host did, so that a replay can re-perform
  it. A ``ub_*`` condition it caused (ignored write, read-only bits, a doorbell
  for a queue that does not exist, ...) follows as the next device step.
- A doorbell write only checks, records and schedules (QEMU's two-step
  shape). One fetch engine (``_nvme_fetch_engine``, a generator task) then
  fetches from every SQ: while some SQ has a command waiting and there is room
  to run it, the arbiter (``emulator/arbiter.py``: round robin, or weighted
  round robin with urgent priority class) chooses the SQ and the ``sqe_fetch``
  event says which and why. Each fetched command runs as a task of its own:
  ``cmd_start``, [``map_prp``, ``dma_read``/``dma_write``, ``err_*``],
  ``cmd_finish``, [``cq_full``], ``cqe_post``, ``irq_msix``/``irq_intx``, so
  commands overlap and complete in any order. Room: admin commands run one at a
  time, I/O commands on ``parallel_units`` units, each held from the fetch to
  the completion (a command waiting for CQ space keeps its unit; when every unit
  is held the commands stay in their SQs). Every task yields after every event
  it emits: one scheduler step, one event; the engine looks for work before it
  takes a step, so it never takes one that emits nothing.
- Virtual time follows the latency model (``emulator/timing.py``): the command
  overhead after ``cmd_start``, each DMA's transfer time at the link bandwidth,
  a Read's media time before its data moves, a Write's after.
- While working on a command the device stamps its events with
  ``(sqid, cid)`` through ``bus.context``.

Choices where the specification leaves room
-------------------------------------------

- Bus master disabled: the function cannot issue memory requests. An SQE fetch
  then emits ``ub_dma_disabled`` and leaves that queue out of arbitration (the SQ
  head does not move; the next doorbell write or setting Bus Master Enable retries);
  a data transfer fails with Data Transfer Error; an MSI-X message is not sent
  and its pending bit is set; a completion that cannot be written is lost
  (``err_dma``) and the controller sets CSTS.CFS.
- Memory space disabled: BAR0 does not decode. Reads return all ones, writes
  are dropped; each emits its ``mmio_*`` event and then ``ub_mmio_disabled``.
- BAR0 accesses are 4 or 8 bytes and naturally aligned; other sizes or
  misaligned offsets are ignored (reads 0). 8-byte accesses are two 32-bit
  halves, low first; doorbells take 4-byte writes only.
- AQA, ASQ and ACQ written while CC.EN = 1 are ignored (``ub_mmio_while_enabled``),
  as are changes of CC.MPS/AMS/CSS while enabled.
- CC.EN 0 -> 1 checks AQA sizes (non-zero; CAP.MQES limits I/O queues only),
  ASQ/ACQ alignment to the CC.MPS page, CC.MPS against CAP.MPSMIN/MPSMAX,
  CC.CSS against CAP.CSS, CC.AMS against CAP.AMS (round robin, and weighted
  round robin with urgent priority class where the ``ams`` knob offers it) and
  CC.IOSQES/IOCQES
  against Identify's SQES/CQES (6 and 4; not checked with CC.CSS 111b, Admin
  Command Set only), as QEMU's nvme_start_ctrl does. A failure sets CSTS.CFS
  after ``rdy_delay_ns`` (a fatal error detected during controller
  initialization) and CSTS.RDY stays 0. Entry sizes changed while enabled are
  refused when an I/O queue is created (Invalid Queue Size).
- CC.EN 1 -> 0 clears CSTS.RDY (and CFS) after ``rdy_delay_ns``; when RDY is 0
  already (the enable failed, or has not finished) the reset takes no time, since
  RDY = 0 is the only sign of its end a host can wait for.
- After a shutdown completes (CSTS.SHST = 10b) the specification requires a
  reset before commands are processed again; doorbell writes until then are
  dropped (``ub_db_after_shutdown``). CSTS.RDY stays 1. CC.EN 0 -> 1 always
  starts with CSTS.SHST = 00b: a CC.SHN written while CC.EN = 0
  (``ub_shutdown_while_disabled``) cannot outlive the next enable.
- The doorbell errors the specification lists for the Error asynchronous event
  (write to a doorbell of a queue that does not exist: info 00h; invalid value:
  info 01h; removing entries from an empty CQ is an invalid value) raise that
  event; doorbell writes while the controller is not ready are dropped
  (``ub_db_while_disabled``).

Shadow doorbells (Doorbell Buffer Config, ``ControllerConfig.dbbuf``)
---------------------------------------------------------------------

After a successful admin command 7Ch (``admin.nvme_dbbuf_config``) the two
host pages it named mirror the doorbell registers: the doorbell of SQ *y* is
at ``(2y) * (4 << CAP.DSTRD)`` in each page, that of CQ *y* one stride further.
Every queue is covered, the admin queue 0 included: the specification lays the
buffers out like the doorbell registers from SQ 0 on and sizes them for
``max(NSQA, NCQA) + 1`` queues (QEMU covers the admin queue since 7.2; earlier
QEMU and Linux 6.1's driver use shadows for I/O queues only, Linux rings the
admin doorbells by MMIO).

- The device reads a queue's shadow doorbell (``dma_read``, purpose ``shadow
  doorbell``): an SQ's after an MMIO doorbell write, before the fetch engine
  next fetches from it (once a command of that SQ could run), and after every
  command; a CQ's before every completion it posts. A value that did not change since the
  device last read (or wrote) that slot is not news, so a host that rings the
  MMIO doorbell instead of writing the shadow (Linux for the admin queue) keeps
  working; a changed value is taken like a doorbell write (a value beyond the
  queue is ignored with ``ub_db_invalid_value``, as an MMIO write would be).
- The device writes EventIdx (``dma_write``, purpose ``eventidx``), the index
  whose crossing makes the host ring the MMIO doorbell: an SQ's after every
  command (the tail it has seen, as QEMU does), so the host rings only when the
  device has caught up and may have stopped; a CQ's only when the device needs
  the head (the CQ is full, or pin-based interrupts must learn when to
  deassert), each time followed by a fresh read of the shadow so that no update
  slips between the two.
- 7Ch writes every existing queue's current tail/head into both pages, and a
  queue created later gets 0 in both, so stale page contents never count.
- A controller reset (CC.EN 1 -> 0), an NVM subsystem reset and a function
  level reset forget the buffers.
- Since the device reads doorbell values from host memory, a host whose own
  DMA (read data, a CQ ring, an MSI-X message address) lands on those pages
  can publish commands with no host work at all, for ever. The device does
  what it is told, but every command takes virtual time (``MIN_COMMAND_NS``
  when the latency is configured as 0) so host accesses, a reset among them,
  still come in between; the host API's step budgets end such a run
  (``DeviceBusyError``). The CQ head re-read after EventIdx is bounded too: at
  most one round per CQ entry, then the device waits for a doorbell.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Generator
from typing import Any

from .. import events as ev
from ..events import EventBus
from ..nvme import registers as r
from ..nvme import status as st
from ..nvme.commands import pack_cqe, split_status, unpack_sqe
from ..nvme.features import FID_ARBITRATION, FID_INTERRUPT_COALESCING
from ..nvme.pci import MSIX_CAP_OFFSET, PCIE_DEVCTL_BCR_FLR
from ..sim import Scheduler, Task
from . import admin, nvm
from .arbiter import AMS_WRR, CAP_AMS_WRR, Arbiter
from .config import ControllerConfig
from .faults import Faults
from .interrupts import MsixTable, bar_layout, msix_message
from .namespace import Namespace, open_namespace
from .pci import ConfigSpace
from .port import HostPort
from .prp import nvme_map_prp
from .queues import CompletionQueue, SubmissionQueue
from .request import Request
from .sgl import SGLS_SUPPORT_MASK, nvme_map_sgl, unpack_descriptor
from .state import ControllerState
from .timing import transfer_ns

CAP_CSS_NVM = 1 << 0
#: Interrupt Coalescing's Aggregation Time unit (Feature 08h bits 15:8): 100 microseconds
COALESCING_TIME_UNIT_NS = 100_000
CAP_CSS_IOCS = 1 << 6
CAP_CSS_ADMIN_ONLY = 1 << 7
CC_CSS_NVM = 0
CC_CSS_IOCS = 6
CC_CSS_ADMIN_ONLY = 7
CC_WRITABLE = r.CC.ro_mask ^ 0xFFFFFFFF
CC_LOCKED_WHILE_ENABLED = r.CC.field("mps").mask | r.CC.field("ams").mask | r.CC.field("css").mask
AQA_WRITABLE = 0x0FFF0FFF
ASQ_WRITABLE_LO = 0xFFFFF000
MPSMIN, MPSMAX = 0, 4
VS_1_4 = 0x00010400
#: the least virtual time a command takes from cmd_start to its data transfer (ns)
MIN_COMMAND_NS = 1
_CC_AMS = r.CC.field("ams")
_CC_MPS = r.CC.field("mps")


class _Cancelled(Exception):
    """The controller was reset while a task slept: the task ends quietly."""


class Controller:
    """An NVMe 1.4 controller behind a PCI function. See the module docstring."""

    def __init__(
        self, config: ControllerConfig, bus: EventBus, sched: Scheduler, port: HostPort
    ) -> None:
        self.config = config
        self.bus = bus
        self.sched = sched
        self.port = port
        config.msix_vectors = max(1, min(2048, config.msix_vectors))
        config.max_io_queues = max(1, min(0xFFFF, config.max_io_queues))
        config.dstrd = max(0, min(15, config.dstrd))
        config.mqes = max(1, min(0xFFFF, config.mqes))
        config.parallel_units = max(1, config.parallel_units)
        self.table_offset, self.pba_offset, self.bar_size = bar_layout(
            config.max_io_queues + 1, config.dstrd, config.msix_vectors
        )
        self.pci = ConfigSpace(config, self.bar_size, self.table_offset, self.pba_offset)
        self.msix = MsixTable(config.msix_vectors, in_bar=bool(config.msix))
        #: vector -> completions held back by interrupt coalescing (Feature 08h)
        self._coalesced: dict[int, int] = {}
        #: vector -> number of its latest aggregation: a timer counts only for its own
        self._coalesce_round: dict[int, int] = {}
        #: the active namespaces by NSID (an NSID up to NN missing here is inactive)
        self.namespaces: dict[int, Namespace] = {}
        #: every allocated namespace by NSID, attached or not (Namespace Management:
        #: emulator/nsmgmt.py); the configured ones start allocated and attached
        self.allocated: dict[int, Namespace] = self.namespaces.copy()
        #: NSIDs attached or detached since the host last read log page 04h
        self.changed_nsids: set[int] = set()
        try:
            for ns in config.namespace_configs():
                assert ns.nsid is not None
                self.namespaces[ns.nsid] = self.allocated[ns.nsid] = open_namespace(ns)
        except BaseException:
            self.close()
            raise
        #: the configured namespaces' bytes (TNVMCAP's default is twice this)
        self.configured_bytes = sum(ns.size_bytes for ns in self.allocated.values())
        self.state = ControllerState(config)
        self.cap = r.CAP.build(
            mqes=config.mqes,
            cqr=1,
            ams=config.ams & CAP_AMS_WRR,
            to=config.timeout & 0xFF,
            dstrd=config.dstrd,
            nssrs=1 if config.nssrs else 0,
            css=CAP_CSS_NVM | (config.css & (CAP_CSS_IOCS | CAP_CSS_ADMIN_ONLY)),
            mpsmin=MPSMIN,
            mpsmax=MPSMAX,
        )
        self.vs = VS_1_4
        self._gen = 0
        self._busy = 0
        self._emitted = False
        self._intx_pin = False
        #: virtual time of the last CC.EN 0 -> 1 (``nsaccess``: Namespace Not Ready)
        self.enabled_ns = 0
        #: faults armed by the host (emulator/faults.py); they outlive every reset
        self.faults = Faults()
        #: command arbitration: which SQ the fetch engine takes the next command from
        self.arbiter = Arbiter()
        self._reset_registers(nssr=False)

    def close(self) -> None:
        """Let the namespaces' backing stores go: a file-backed namespace's file is closed
        and unlocked (another controller may open it then). Idempotent."""
        for ns in self.allocated.values():
            ns.close()

    # =====================================================================
    # state
    # =====================================================================
    def _reset_registers(self, nssr: bool) -> None:
        self.cc = 0
        self.csts = r.CSTS.field("nssro").mask if nssr else 0
        self.aqa = 0
        self.asq = 0
        self.acq = 0
        self.intms = 0
        self.sqs: dict[int, SubmissionQueue] = {}
        self.cqs: dict[int, CompletionQueue] = {}
        self._enabling = False
        self._resetting = False
        #: bumped by every CC.EN 0 -> 1: a shutdown started before it cannot complete after it
        self._shutdown_epoch = 0
        #: (shadow doorbell page, EventIdx page) after Doorbell Buffer Config, else None
        self.dbbuf: tuple[int, int] | None = None
        #: the Identify Controller page built last, with what it was built from (admin.py)
        self.identify_cache: tuple[Any, bytes] | None = None
        self._reset_engine()

    def _reset_engine(self) -> None:
        """No fetch engine, no command running, the arbiter from the start."""
        self._fetching = False
        #: the SQs the fetch engine's last look found waiting for room to run a command
        self._blocked: list[int] = []
        #: admin commands and I/O commands running (fetched, not yet completed or held)
        self._admin_busy = 0
        self._io_busy = 0
        self.arbiter.reset()

    @property
    def _shut_down(self) -> bool:
        """CSTS.SHST = complete: only a reset (CC.EN 1 -> 0) makes the controller work again."""
        return r.CSTS.get(self.csts, "shst") == r.SHST_COMPLETE

    @property
    def ready(self) -> bool:
        return bool(self.cc & 1) and bool(self.csts & 1)

    @property
    def cc(self) -> int:
        """Controller Configuration as the host last wrote it (decoded once per write:
        the memory page size and the arbitration mechanism are asked for every command)."""
        return self._cc

    @cc.setter
    def cc(self, value: int) -> None:
        self._cc = value
        self._page_size = 1 << (12 + _CC_MPS.get(value))
        self.cc_wrr = _CC_AMS.get(value) == AMS_WRR

    @property
    def page_size(self) -> int:
        return self._page_size

    @property
    def bar0_address(self) -> int | None:
        """What the host programmed into BAR0/BAR1 (None until it did)."""
        addr = self.pci.bar0_address
        return addr if addr else None

    @property
    def busy(self) -> bool:
        """Device work is queued in the scheduler (tasks waiting on the host do not count)."""
        return self._busy > 0

    # =====================================================================
    # events and scheduled work
    # =====================================================================
    def _emit(self, event: ev.Event, req: Request | None = None) -> None:
        self.bus.emit(event, req.context if req is not None else None)

    def new_step(self) -> Task:
        """Start a new step if this one already has its event (one event per step)."""
        if self._emitted:
            gen = self._gen
            yield None
            if gen != self._gen:
                raise _Cancelled

    def emit_step(
        self, event: ev.Event, req: Request | None = None, delay: int | None = None
    ) -> Task:
        """Emit one event as this step's event (starting a new step first if needed).

        With ``delay`` the task then sleeps that long before its next step.
        """
        if self._emitted:  # new_step(), written out: this runs for every device event
            gen = self._gen
            yield None
            if gen != self._gen:
                raise _Cancelled
        self.bus.emit(event, req.context if req is not None else None)
        self._emitted = True
        if delay:
            gen = self._gen
            yield delay
            if gen != self._gen:
                raise _Cancelled

    def spawn(
        self, body: Task, delay: int = 0, label: str = "", done: Callable[[], None] | None = None
    ) -> None:
        """Run ``body`` as device work; ``done`` is called in the step where it ends (not
        when a reset cancelled it)."""
        self._busy += 1
        self.sched.spawn(self._task(body, self._gen, done), delay, label)

    def _task(self, body: Task, gen: int, done: Callable[[], None] | None = None) -> Task:
        """Drive ``body`` one step at a time; a step ends when ``body`` yields."""
        if gen == self._gen:
            while True:
                self._emitted = False
                try:
                    request = body.send(None)
                except StopIteration:
                    if done is not None:
                        done()
                    break
                except _Cancelled:
                    break
                yield request
        self._emitted = False
        self._busy -= 1

    def wait_signal(self, signal: Any) -> Task:
        """Wait on a signal the host fires; not counted as device work while waiting."""
        gen = self._gen
        self._busy -= 1
        yield signal
        self._busy += 1
        if gen != self._gen:
            raise _Cancelled

    def later(self, fn: Callable[[], None], delay: int = 0) -> None:
        """Run ``fn`` as its own step (it emits at most one event)."""
        gen = self._gen
        self._busy += 1

        def run() -> None:
            self._busy -= 1
            if gen == self._gen:
                fn()

        self.sched.call_after(delay, run)

    def _later_event(self, event: ev.Event) -> None:
        """Emit ``event`` as the next device step (ub_* after a host access)."""
        self._busy += 1

        def run() -> None:
            self._busy -= 1
            self._emit(event)

        self.sched.call_after(0, run)

    def _ub(self, name: str, detail: str) -> None:
        self._later_event(ev.condition(name, detail=detail))

    # =====================================================================
    # PCI configuration space
    # =====================================================================
    def config_read(self, offset: int, size: int) -> int:
        if not self.pci.access_ok(offset, size):
            value = (1 << (8 * max(1, min(size, 8)))) - 1 if size > 0 else 0
            self._emit(ev.ConfigRead(offset=offset, size=size, value=value, reg=""))
            self._ub("ub_cfg_access", f"config read of {size} bytes at {offset:#x}")
            return value
        value = self.pci.read(offset, size)
        self._emit(
            ev.ConfigRead(offset=offset, size=size, value=value, reg=self.pci.register_name(offset))
        )
        return value

    def config_write(self, offset: int, size: int, value: int) -> None:
        name = self.pci.register_name(offset) if self.pci.access_ok(offset, size) else ""
        if not self.pci.access_ok(offset, size):
            self._emit(ev.ConfigWrite(offset=offset, size=size, value=value, reg=name))
            self._ub("ub_cfg_access", f"config write of {size} bytes at {offset:#x}")
            return
        value &= (1 << (8 * size)) - 1
        before_mem, before_bme = self.pci.memory_enabled, self.pci.bus_master
        before_msix = self.pci.msix_control
        before_intx = self.pci.intx_disabled
        old, new, writable = self.pci.write(offset, size, value)
        self._emit(
            ev.ConfigWrite(offset=offset, size=size, value=value, reg=name, old=old, new=new)
        )
        if not writable:
            # sizing a BAR, the CardBus CIS Pointer or the ROM the function does not
            # implement is enumeration, not undefined behaviour (emulator/pci.py)
            if not self.pci.enumeration_write(offset, size, value):
                self._ub("ub_cfg_ro", f"{name or hex(offset)} is read-only")
            return
        # side effects, each as its own step
        devctl = self.pci.pcie_offset + 8
        if offset <= devctl + 1 and offset + size > devctl:
            if self.pci.get(devctl, 2) & PCIE_DEVCTL_BCR_FLR:
                self.later(self._nvme_flr)
                return
        if self.pci.bus_master and not before_bme:
            for sq in self._sorted_sqs():
                self._nvme_kick_sq(sq)
        if self.pci.msix_control != before_msix or self.pci.intx_disabled != before_intx:
            self.later(self.nvme_irq_recheck)
        del before_mem

    # =====================================================================
    # faults (emulator/faults.py): armed and cleared by the host, a host input
    # =====================================================================
    def inject_fault(self, action: str, armed: bool = True, **args: int | None) -> ev.Fault:
        """Arm (or clear) a fault of :data:`events.FAULTS`: check, record, schedule.

        The arguments are checked against the table and this controller's configuration
        first (:class:`events.FaultError`, and nothing happens); then one ``fault`` event;
        then what a clearing sets going: a vector no longer masked by a fault is rechecked
        for a pending message (as after the host clears its Mask bit), an SQ no longer
        stopped is scheduled to fetch what waits (as after a doorbell write)."""
        values = ev.check_fault(action, armed, args, self.config)
        event = ev.Fault(action=action, armed=armed, **values)
        self._emit(event)
        sqid, vector = values.get("sqid"), values.get("vector")
        if armed:
            self.faults.arm(ev.ArmedFault(action=action, seq=event.seq, **values))
            return event
        self.faults.clear(ev.fault_key(action, sqid, vector))
        if action == "mask_vector":
            self.later(self.nvme_irq_recheck)
        elif action == "stop_fetch" and sqid is not None:
            sq = self.sqs.get(sqid)
            if sq is not None:
                self._nvme_kick_sq(sq)
        return event

    def _fault_masked(self, vector: int) -> bool:
        """A ``mask_vector`` fault holds ``vector``'s messages back."""
        return self.faults.on and vector in self.faults.masked

    # =====================================================================
    # resets of the whole function, a host input
    # =====================================================================
    def reset(self, kind: str = "conventional") -> ev.PciReset:
        """Reset the function as the platform does: ``kind`` is ``"flr"`` (Function Level
        Reset) or ``"conventional"`` (Conventional Reset: the reset signal, QEMU's system
        reset), a name of :data:`events.PCI_RESETS` (a ValueError otherwise, and nothing
        happens). One ``pci_reset`` event, the input a replay performs again; the reset
        itself is the next device step: every register of the controller and of
        configuration space back to its power-on value, queues and work dropped, the INTx
        pin released, a ``ctrl_state`` event (``flr`` or ``conventional_reset``). The
        namespaces' data and armed faults stay."""
        if kind not in ev.PCI_RESETS:
            raise ValueError(f"no PCI reset {kind!r}: one of {', '.join(ev.PCI_RESETS)}")
        event = ev.PciReset(reset=kind)
        self._emit(event)
        self.later(lambda: self._nvme_flr(kind))
        return event

    def _nvme_flr(self, kind: str = "flr") -> None:
        """Function Level Reset (or a Conventional Reset, ``kind``): the controller and the
        PCI function back to power-on."""
        self._gen += 1
        self._coalesced.clear()
        self._reset_registers(nssr=False)
        self.state.reset_controller()
        self.pci.reset()
        self.msix.reset()
        if self._intx_pin:
            self._intx_pin = False
            self.port.intx(False)
        if kind == "conventional":
            state, detail = "conventional_reset", "conventional reset"
        else:
            state, detail = "flr", "function level reset"
        self._emit(ev.CtrlState(state=state, csts_old=0, csts_new=0, detail=detail))

    # =====================================================================
    # BAR0
    # =====================================================================
    def mmio_read(self, offset: int, size: int) -> int:
        dstrd = self.config.dstrd
        if not self.pci.memory_enabled:
            value = (1 << (8 * size)) - 1 if size in (1, 2, 4, 8) else 0xFFFFFFFF
            self._emit(ev.MmioRead(addr=offset, size=size, value=value, reg=""))
            self._ub("ub_mmio_disabled", "memory space enable is off: read returns all ones")
            return value
        problem = self._mmio_check(offset, size)
        if problem is not None:
            self._emit(ev.MmioRead(addr=offset, size=size, value=0, reg=""))
            self._ub(*problem)
            return 0
        if size == 8:
            lo, ub_lo = self._bar_read32(offset)
            hi, ub_hi = self._bar_read32(offset + 4)
            value, ub = lo | (hi << 32), ub_lo or ub_hi
        else:
            value, ub = self._bar_read32(offset)
        self._emit(
            ev.MmioRead(
                addr=offset, size=size, value=value, reg=self._bar_name(offset, size, dstrd)
            )
        )
        if ub is not None:
            self._ub(*ub)
        return value

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        dstrd = self.config.dstrd
        if not self.pci.memory_enabled:
            self._emit(ev.MmioWrite(addr=offset, size=size, value=value, reg=""))
            self._ub("ub_mmio_disabled", "memory space enable is off: write dropped")
            return
        problem = self._mmio_check(offset, size)
        if problem is not None:
            self._emit(ev.MmioWrite(addr=offset, size=size, value=value, reg=""))
            self._ub(*problem)
            return
        value &= (1 << (8 * size)) - 1
        if r.DOORBELL_BASE <= offset < self.table_offset:
            self._nvme_doorbell_write(offset, size, value)
            return
        if size == 8:
            old_lo, new_lo, ub_lo, act_lo = self._bar_write32(offset, value & 0xFFFFFFFF)
            old_hi, new_hi, ub_hi, act_hi = self._bar_write32(offset + 4, value >> 32)
            old, new, ub = old_lo | (old_hi << 32), new_lo | (new_hi << 32), ub_lo or ub_hi
            actions = act_lo + act_hi
        else:
            old, new, ub, actions = self._bar_write32(offset, value)
        self._emit(
            ev.MmioWrite(
                addr=offset,
                size=size,
                value=value,
                reg=self._bar_name(offset, size, dstrd),
                old=old,
                new=new,
            )
        )
        if ub is not None:
            self._ub(*ub)
        for action in actions:
            action()

    def _mmio_check(self, offset: int, size: int) -> tuple[str, str] | None:
        if size not in (4, 8):
            return ("ub_mmio_size", f"{size}-byte access at {offset:#x}")
        if offset % size:
            return ("ub_mmio_misaligned", f"{size}-byte access at {offset:#x}")
        if offset < 0 or offset + size > self.bar_size:
            return (
                "ub_mmio_out_of_range",
                f"access at {offset:#x} beyond BAR0 ({self.bar_size:#x})",
            )
        if size == 8 and r.DOORBELL_BASE <= offset < self.table_offset:
            return ("ub_mmio_size", f"8-byte access to doorbell space at {offset:#x}")
        return None

    def _bar_name(self, offset: int, size: int, dstrd: int) -> str:
        if self.table_offset <= offset < self.table_offset + self.msix.table_bytes:
            index, word = divmod(offset - self.table_offset, 16)
            field = ("addr_lo", "addr_hi", "data", "ctrl")[word // 4]
            return f"msix[{index}].{field}"
        if self.pba_offset <= offset < self.pba_offset + self.msix.pba_bytes:
            return f"pba[{(offset - self.pba_offset) // 4}]"
        return r.register_name(offset, size, dstrd)

    # -- 32-bit halves -----------------------------------------------------------
    def _bar_read32(self, offset: int) -> tuple[int, tuple[str, str] | None]:
        if offset < 0x40:
            if offset in (0x0C, 0x10):
                ub = None
                if self.pci.msix_enabled:
                    ub = ("ub_intm_with_msix", "INTMS/INTMC accessed while MSI-X is enabled")
                return self.intms, ub
            return self._reg32(offset), None
        if offset < r.DOORBELL_BASE:
            return 0, None
        if offset < self.table_offset:
            return 0, None  # doorbells are write-only; reads return 0
        if offset < self.table_offset + self.msix.table_bytes:
            return self.msix.read32(offset - self.table_offset), None
        if self.pba_offset <= offset < self.pba_offset + self.msix.pba_bytes:
            return self.msix.pba_read32(offset - self.pba_offset), None
        return 0, None

    def _reg32(self, offset: int) -> int:
        values = {
            0x00: self.cap & 0xFFFFFFFF,
            0x04: self.cap >> 32,
            0x08: self.vs,
            0x14: self.cc,
            0x1C: self.csts,
            0x20: 0,
            0x24: self.aqa,
            0x28: self.asq & 0xFFFFFFFF,
            0x2C: self.asq >> 32,
            0x30: self.acq & 0xFFFFFFFF,
            0x34: self.acq >> 32,
        }
        return values.get(offset, 0)

    def _bar_write32(
        self, offset: int, value: int
    ) -> tuple[int, int, tuple[str, str] | None, list[Callable[[], None]]]:
        """Apply one dword write. Returns (old, new, ub condition, follow-up actions)."""
        actions: list[Callable[[], None]] = []
        if offset in (0x00, 0x04, 0x08):
            cur = self._reg32(offset)
            return cur, cur, ("ub_mmio_ro", f"{r.register_name(offset, 4)} is read-only"), actions
        if offset in (0x0C, 0x10):
            old = self.intms
            if self.pci.msix_enabled:
                ub = ("ub_intm_with_msix", "INTMS/INTMC written while MSI-X is enabled: ignored")
                return old, old, ub, actions
            self.intms = old | value if offset == 0x0C else old & ~value
            actions.append(lambda: self.later(self.nvme_irq_recheck))
            return old, self.intms, None, actions
        if offset == 0x14:
            return self._nvme_write_cc(value, actions)
        if offset == 0x1C:
            old = self.csts
            nssro = r.CSTS.field("nssro").mask
            if value & nssro:
                self.csts &= ~nssro
            ub = None
            if value & ~nssro:
                ub = ("ub_mmio_ro", "CSTS bits other than NSSRO are read-only")
            return old, self.csts, ub, actions
        if offset == 0x20:
            if not r.CAP.get(self.cap, "nssrs"):
                return 0, 0, ("ub_nssr_unsupported", f"NSSR {value:#x} written"), actions
            if value == r.NSSR_RESET_VALUE:
                actions.append(lambda: self.later(self._nvme_nssr))
            return 0, 0, None, actions
        if offset in (0x24, 0x28, 0x2C, 0x30, 0x34):
            return self._write_admin_queue_reg(offset, value)
        if offset < r.DOORBELL_BASE:
            return 0, 0, ("ub_mmio_reserved", f"write to reserved BAR0 offset {offset:#x}"), actions
        if self.table_offset <= offset < self.table_offset + self.msix.table_bytes:
            rel = offset - self.table_offset
            _, old, new = self.msix.write32(rel, value)
            if rel % 16 == 12 and old & 1 and not new & 1:
                actions.append(lambda: self.later(self.nvme_irq_recheck))
            return old, new, None, actions
        if self.pba_offset <= offset < self.pba_offset + self.msix.pba_bytes:
            cur = self.msix.pba_read32(offset - self.pba_offset)
            return cur, cur, ("ub_mmio_ro", "the MSI-X PBA is read-only"), actions
        return 0, 0, ("ub_mmio_out_of_range", f"write to unused BAR0 offset {offset:#x}"), actions

    def _write_admin_queue_reg(
        self, offset: int, value: int
    ) -> tuple[int, int, tuple[str, str] | None, list[Callable[[], None]]]:
        old = self._reg32(offset)
        if self.cc & 1:
            name = r.register_name(offset, 4)
            return old, old, ("ub_mmio_while_enabled", f"{name.upper()}, ignored"), []
        ub = None
        if offset == 0x24:
            if value & ~AQA_WRITABLE:
                ub = ("ub_mmio_reserved", "AQA reserved bits written")
            self.aqa = value & AQA_WRITABLE
            return old, self.aqa, ub, []
        lo_mask = ASQ_WRITABLE_LO if offset in (0x28, 0x30) else 0xFFFFFFFF
        if value & ~lo_mask:
            ub = ("ub_mmio_reserved", "ASQ/ACQ bits 11:0 are reserved")
        value &= lo_mask
        reg = "asq" if offset in (0x28, 0x2C) else "acq"
        cur = getattr(self, reg)
        if offset in (0x28, 0x30):
            cur = (cur & ~0xFFFFFFFF) | value
        else:
            cur = (cur & 0xFFFFFFFF) | (value << 32)
        setattr(self, reg, cur)
        return old, value, ub, []

    # =====================================================================
    # controller state machine
    # =====================================================================
    def _nvme_write_cc(
        self, value: int, actions: list[Callable[[], None]]
    ) -> tuple[int, int, tuple[str, str] | None, list[Callable[[], None]]]:
        old = self.cc
        ub = None
        if value & ~CC_WRITABLE:
            ub = ("ub_mmio_reserved", "CC reserved bits written")
        new = value & CC_WRITABLE
        en_old, en_new = old & 1, new & 1
        if en_old and en_new and (new ^ old) & CC_LOCKED_WHILE_ENABLED:
            new = (new & ~CC_LOCKED_WHILE_ENABLED) | (old & CC_LOCKED_WHILE_ENABLED)
            ub = ("ub_mmio_while_enabled", "CC.MPS/AMS/CSS, the old values kept")
        self.cc = new
        shn_old, shn_new = r.CC.get(old, "shn"), r.CC.get(new, "shn")
        if not en_old and en_new:
            if self._resetting:
                ub = ("ub_cc_while_not_ready", "CC.EN set before CSTS.RDY cleared")
            else:
                actions.append(self._nvme_start_ctrl)
        elif en_old and not en_new:
            actions.append(self._nvme_ctrl_reset)
        if shn_new and shn_new != shn_old:
            if en_new:
                actions.append(self._nvme_start_shutdown)
            else:
                ub = ("ub_shutdown_while_disabled", "CC.SHN written while CC.EN=0")
                actions.append(self._nvme_start_shutdown)
        return old, new, ub, actions

    def _nvme_check_enable(self) -> str:
        """Why CC.EN = 1 cannot work with what the host programmed ('' when it can)."""
        cc = self.cc
        asqs, acqs = self.aqa & 0xFFF, (self.aqa >> 16) & 0xFFF
        mps = r.CC.get(cc, "mps")
        css = r.CC.get(cc, "css")
        cap_css = r.CAP.get(self.cap, "css")
        if asqs == 0 or acqs == 0:
            return f"AQA {self.aqa:#x}: an admin queue of one entry (ASQS/ACQS must be >= 1)"
        # CAP.MQES limits only the I/O queues the host creates (NVMe 1.4, 3.1.1): the admin
        # queues may have up to 4096 entries, all that AQA's 12-bit fields can say
        if mps < MPSMIN or mps > MPSMAX:
            return f"CC.MPS {mps} outside CAP.MPSMIN..MPSMAX ({MPSMIN}..{MPSMAX})"
        page = 1 << (12 + mps)
        if self.asq % page:
            return f"ASQ {self.asq:#x} not aligned to the {page}-byte memory page"
        if self.acq % page:
            return f"ACQ {self.acq:#x} not aligned to the {page}-byte memory page"
        if not (
            (css == CC_CSS_NVM and cap_css & CAP_CSS_NVM)
            or (css == CC_CSS_IOCS and cap_css & CAP_CSS_IOCS)
            or (css == CC_CSS_ADMIN_ONLY and cap_css & CAP_CSS_ADMIN_ONLY)
        ):
            return f"CC.CSS {css} not supported by CAP.CSS {cap_css:#x}"
        ams = r.CC.get(cc, "ams")
        if ams != 0 and not (ams == AMS_WRR and self.config.ams & CAP_AMS_WRR):
            offered = "round robin (0) and weighted round robin (1)"
            if not self.config.ams & CAP_AMS_WRR:
                offered = "only round robin (0)"
            return f"CC.AMS {ams}: CAP.AMS offers {offered}"
        # the I/O queue entry sizes must lie within Identify Controller's SQES/CQES (required
        # to maximum; here both 64-byte SQEs and 16-byte CQEs), as QEMU's nvme_start_ctrl and
        # Linux's nvmet_start_ctrl check them; with CC.CSS 111b (Admin Command Set only) no
        # I/O command set uses them, and a host may leave them 0
        if css != CC_CSS_ADMIN_ONLY:
            for qtype in ("sq", "cq"):
                name, wanted, entry = admin.ENTRY_SIZES[qtype]
                got = r.CC.get(cc, name)
                if got != wanted:
                    what = "SQES" if qtype == "sq" else "CQES"
                    return (
                        f"CC.{name.upper()} {got} ({1 << got} bytes): Identify {what} allows "
                        f"only {entry}-byte entries ({wanted})"
                    )
        return ""

    def _nvme_start_ctrl(self) -> None:
        """CC.EN 0 -> 1: check the programming now, report RDY or CFS after rdy_delay_ns."""
        why = self._nvme_check_enable()
        self._enabling = True
        self.enabled_ns = self.sched.now  # a namespace's not_ready_ns counts from here
        # a shutdown begun while the controller was disabled (CC.SHN with CC.EN=0) ends here:
        # it must not report SHST complete on the controller the host is now enabling
        self._shutdown_epoch += 1
        if not why:
            mqes_adm = self.aqa
            self.sqs[0] = SubmissionQueue(0, self.asq, (mqes_adm & 0xFFF) + 1, 0)
            self.cqs[0] = CompletionQueue(
                0, self.acq, ((mqes_adm >> 16) & 0xFFF) + 1, 0, True, True,
                space=self.sched.signal("cq0-space"), sqids=[0],
            )  # fmt: skip
        self.spawn(self._enable_task(why), self.config.rdy_delay_ns, "nvme_start_ctrl")

    def _enable_task(self, why: str) -> Task:
        yield from self.new_step()
        self._enabling = False
        old = self.csts
        if why:
            self.csts |= r.CSTS.field("cfs").mask
            yield from self.emit_step(
                ev.CtrlState(state="fatal", csts_old=old, csts_new=self.csts, detail=why)
            )
            yield from self.emit_step(ev.condition("err_startfail", detail=why))
            return
        # CSTS.SHST is 00b on an enabled controller: CC.EN 0 -> 1 leaves the shutdown state
        # behind (NVMe 1.4, 7.6.2; QEMU clears it too), whatever the host did while disabled
        self.csts = (self.csts & ~r.CSTS.field("shst").mask) | 1
        self.state.on_enable(self.sched.now)
        yield from self.emit_step(
            ev.CtrlState(state="ready", csts_old=old, csts_new=self.csts, detail="CSTS.RDY=1")
        )

    def _nvme_drop_queues(self) -> None:
        """Delete every queue and drop outstanding work (controller reset)."""
        self._gen += 1
        self._coalesced.clear()
        for cq in self.cqs.values():
            if cq.space is not None:
                cq.space.fire()
        for sq in self.sqs.values():
            sq.deleted = True
            if sq.drained is not None:
                sq.drained.fire()
        self.sqs = {}
        self.cqs = {}
        self.dbbuf = None
        self._reset_engine()
        self.state.reset_controller()

    def _nvme_ctrl_reset(self) -> None:
        """CC.EN 1 -> 0: queues deleted, work dropped; CSTS.RDY clears after rdy_delay_ns.

        A controller that never became ready (CSTS.RDY already 0: still enabling, or the
        enable failed with CSTS.CFS) resets at once: RDY = 0 is all a host can wait for
        before it enables again, and it reads 0 already (Linux's nvme_disable_ctrl then
        goes straight on)."""
        delay = self.config.rdy_delay_ns if self.csts & 1 else 0
        self._nvme_drop_queues()
        self._enabling = False
        self._resetting = True
        self.intms = 0
        self.spawn(self._reset_task(), delay, "nvme_ctrl_reset")
        self.later(self.nvme_irq_recheck)

    def _reset_task(self) -> Task:
        yield from self.new_step()
        old = self.csts
        self.csts &= ~(1 | r.CSTS.field("cfs").mask | r.CSTS.field("shst").mask)
        self._resetting = False
        yield from self.emit_step(
            ev.CtrlState(state="disabled", csts_old=old, csts_new=self.csts, detail="CSTS.RDY=0")
        )
        if self.cc & 1:  # the host set EN again before RDY cleared
            self._nvme_start_ctrl()

    def _nvme_start_shutdown(self) -> None:
        self.spawn(self._shutdown_task(), 0, "nvme_shutdown")

    def _shutdown_task(self) -> Task:
        epoch = self._shutdown_epoch
        yield from self.new_step()
        old = self.csts
        shst = r.CSTS.field("shst")
        self.csts = shst.put(self.csts, r.SHST_OCCURRING)
        yield from self.emit_step(
            ev.CtrlState(state="shutdown_occurring", csts_old=old, csts_new=self.csts),
            delay=self.config.shutdown_delay_ns,
        )
        yield from self.new_step()
        if epoch != self._shutdown_epoch:  # the host enabled the controller meanwhile
            return
        old = self.csts
        self.csts = shst.put(self.csts, r.SHST_COMPLETE)
        self.state.on_shutdown()
        yield from self.emit_step(
            ev.CtrlState(state="shutdown_complete", csts_old=old, csts_new=self.csts)
        )

    def _nvme_nssr(self) -> None:
        """NVM Subsystem Reset ('NVMe' written to NSSR): everything resets, CSTS.NSSRO = 1."""
        old = self.csts
        self._nvme_drop_queues()
        self._reset_registers(nssr=True)
        self._emit(
            ev.CtrlState(
                state="nssr", csts_old=old, csts_new=self.csts, detail="NVM subsystem reset"
            )
        )
        self.later(self.nvme_irq_recheck)

    # =====================================================================
    # doorbells
    # =====================================================================
    def _nvme_db_problem(
        self, name: str, pointer: str, qid: int, queue: Any, value: int
    ) -> tuple[str, str, int | None] | None:
        """Why the device does not take a doorbell write to ``queue`` (None when it does):
        the ub_* kind, the words, and the asynchronous event information to report."""
        if not self.ready:
            return (
                "ub_db_while_disabled",
                f"{name} {qid} {pointer} doorbell while not ready",
                None,
            )
        if self._shut_down:
            return ("ub_db_after_shutdown", f"{name} {qid} {pointer} doorbell after shutdown", None)
        if queue is None or (name == "SQ" and qid > self.config.max_io_queues):
            return (
                "ub_db_invalid_queue",
                f"{name} {qid} does not exist",
                admin.AER_INFO_INVALID_DB,
            )
        if value >= queue.size:
            return (
                "ub_db_invalid_value",
                f"{name} {qid} {pointer} {value} >= size {queue.size}",
                admin.AER_INFO_INVALID_DB_VALUE,
            )
        return None

    def _nvme_db_reserved(self, offset: int, name: str, qid: int, pointer: str, value: int) -> None:
        """A doorbell write with bits 31:16 (reserved) set: say that they were ignored."""
        self._ub(
            "ub_mmio_reserved",
            f"{name} {qid} {pointer} doorbell at {offset:#x}: {value:#x} written, bits "
            f"31:16 are reserved and ignored ({pointer} {value & 0xFFFF})",
        )

    def _nvme_db_ignored(self, kind: str, detail: str, aer_info: int | None) -> None:
        """The device did not take a doorbell write: say why, and tell the host by an
        asynchronous event (Error status, log page 01h) where the spec has one."""
        self._ub(kind, detail)
        if aer_info is not None:
            self.nvme_enqueue_event(admin.AER_TYPE_ERROR, aer_info, 0x01)

    def _nvme_doorbell_write(self, offset: int, size: int, value: int) -> None:
        stride = 4 << self.config.dstrd
        rel = offset - r.DOORBELL_BASE
        index, within = divmod(rel, stride)
        qid = index // 2
        if within:
            # inside the stride padding between two doorbells
            self._emit(ev.MmioWrite(addr=offset, size=size, value=value, reg=""))
            self._ub("ub_mmio_reserved", f"write between doorbells at {offset:#x}")
            return
        # bits 31:16 of a doorbell are reserved: ignored (said as ub_mmio_reserved), the
        # new tail or head is bits 15:0, as QEMU's controller takes it
        pointer = value & 0xFFFF
        if index % 2 == 0:
            sq = self.sqs.get(qid)
            old_tail = sq.tail if sq else 0
            why = self._nvme_db_problem("SQ", "tail", qid, sq, pointer)
            # the device decides at once whether it takes the write: the event says so
            self._emit(
                ev.DoorbellSq(
                    addr=offset,
                    old_tail=old_tail,
                    new_tail=pointer,
                    sqid=qid,
                    value=value if value > 0xFFFF else None,
                    ignored=why is not None,
                )  # fmt: skip
            )
            if value > 0xFFFF:  # (not a call per doorbell: every command rings one)
                self._nvme_db_reserved(offset, "SQ", qid, "tail", value)
            if why is not None:
                self._nvme_db_ignored(*why)
                return
            assert sq is not None
            sq.tail = pointer
            self._nvme_kick_sq(sq)
            return
        cq = self.cqs.get(qid)
        old_head = cq.head if cq else 0
        why = self._nvme_db_problem("CQ", "head", qid, cq, pointer)
        if why is None and cq is not None and not cq.head_valid(pointer):
            why = (
                "ub_cq_head_passes_tail",
                f"CQ {qid} head {pointer} passes the entries posted (head {cq.head}, "
                f"tail {cq.tail})",
                admin.AER_INFO_INVALID_DB_VALUE,
            )
        self._emit(
            ev.DoorbellCq(
                addr=offset,
                cqid=qid,
                old_head=old_head,
                new_head=pointer,
                value=value if value > 0xFFFF else None,
                ignored=why is not None,
            )  # fmt: skip
        )
        if value > 0xFFFF:
            self._nvme_db_reserved(offset, "CQ", qid, "head", value)
        if why is not None:
            self._nvme_db_ignored(*why)
            return
        assert cq is not None
        was_full = cq.full
        cq.head = pointer
        if was_full and cq.space is not None:
            cq.space.fire()
        if not self.pci.msix_enabled:
            self.later(self.nvme_irq_recheck)

    def _sorted_sqs(self) -> list[SubmissionQueue]:
        return [self.sqs[k] for k in sorted(self.sqs)]

    def _nvme_kick_sq(self, sq: SubmissionQueue) -> None:
        """``sq`` may have commands to fetch (a doorbell write, Bus Master Enable set, a
        fault cleared): it takes part in arbitration again, and the fetch engine runs."""
        if sq.deleted or sq.empty:
            return
        sq.stalled = False
        if self.dbbuf is not None:
            sq.shadow_due = True
        self._nvme_kick()

    def _nvme_kick(self) -> None:
        """Start the fetch engine if it is not running and has something to do."""
        if self._fetching or not self._nvme_may_fetch():
            return
        self._fetching = True
        self.spawn(self._nvme_fetch_engine(), 0, "fetch")

    # =====================================================================
    # the queue engine: one fetch engine and its arbiter; a task per command
    # =====================================================================
    def _nvme_fetch_work(self) -> SubmissionQueue | list[SubmissionQueue] | None:
        """What the fetch engine's next step is: an SQ that needs a step of its own (its
        shadow doorbell to read, or a condition that keeps it from being fetched), else
        the SQs the arbiter may choose from (a command waiting and room to run it: the
        admin queue's commands run one at a time, I/O commands on ``parallel_units``
        units), else None (nothing to do: the engine stops until it is kicked).
        ``self._blocked`` is left holding the SQs with a command waiting but no room."""
        if not self.ready:
            return None
        ready: list[SubmissionQueue] = []
        blocked = self._blocked
        blocked.clear()
        stopped = self.faults.stopped if self.faults.on else ()
        held = not self.pci.bus_master
        admin_room = self._admin_busy == 0
        io_room = self._io_busy < self.config.parallel_units
        for sqid in sorted(self.sqs):
            sq = self.sqs[sqid]
            if sq.stalled or sq.deleted:
                continue
            room = io_room if sqid else admin_room
            if sq.shadow_due and room:  # read when a command could run, not before
                return sq
            if sq.head == sq.tail:
                continue
            if held or sqid in stopped:
                return sq
            if room:
                ready.append(sq)
            else:
                blocked.append(sqid)
        return ready or None

    def _nvme_may_fetch(self) -> bool:
        """Whether ``_nvme_fetch_work`` would find something (yes or no only, quickly)."""
        if not self.ready:
            return False
        stopped = self.faults.stopped if self.faults.on else ()
        admin_room = self._admin_busy == 0
        io_room = self._io_busy < self.config.parallel_units
        held = None  # bus mastering off: looked up once, if it matters
        for sq in self.sqs.values():
            if sq.stalled or sq.deleted:
                continue
            waiting = sq.head != sq.tail
            if (io_room if sq.sqid else admin_room) and (waiting or sq.shadow_due):
                return True
            if waiting:
                if sq.sqid in stopped:
                    return True
                if held is None:
                    held = not self.pci.bus_master
                if held:
                    return True
        return False

    def _nvme_fetch_engine(self) -> Task:
        """Fetch commands while an SQ has one and there is room to run it: each step one
        event (a shadow doorbell read, a condition that stops one SQ, or a fetch, whose
        event says which SQ the arbiter chose and why). The command then runs as a task
        of its own (``_nvme_execute``), so commands overlap and complete in any order.
        The engine looks for work before it takes a step, so it never takes one that
        emits nothing, and stops when it finds none."""
        gen = self._gen
        try:
            while self._nvme_may_fetch():
                yield from self.new_step()
                work = self._nvme_fetch_work()
                if work is None:
                    break
                if isinstance(work, SubmissionQueue):
                    yield from self._nvme_sq_notice(work)
                    continue
                wrr = self.cc_wrr
                arbitration = self.state.features[FID_ARBITRATION]
                sq, why = self.arbiter.pick(work, wrr, arbitration, self._blocked)
                assert isinstance(sq, SubmissionQueue)
                yield from self._nvme_fetch(sq, why)
        finally:
            if gen == self._gen:
                self._fetching = False

    def _nvme_sq_notice(self, sq: SubmissionQueue) -> Task:
        """What keeps ``sq`` from being fetched, said as one step: its shadow doorbell to
        read first, or bus mastering off, or a stop_fetch fault (then the SQ stalls until
        it is kicked again, as a doorbell write does)."""
        if sq.shadow_due:
            yield from self._nvme_update_sq_tail(sq)
            return
        sq.stalled = True
        if not self.pci.bus_master:
            yield from self.emit_step(
                ev.condition("ub_dma_disabled", detail=f"SQ {sq.sqid}: cannot fetch")
            )
            return
        waiting = (sq.tail - sq.head) % sq.size
        yield from self.emit_step(ev.FaultFetchStopped(sqid=sq.sqid, waiting=waiting))

    def _nvme_fetch(self, sq: SubmissionQueue, why: str) -> Task:
        """Fetch the SQE at ``sq``'s head (one event, saying why this SQ) and start it."""
        slot = sq.head
        addr = sq.slot_addr(slot)
        raw = self.port.dma_read(addr, 64)
        if raw is None or len(raw) != 64:
            sq.stalled = True
            yield from self.emit_step(
                ev.condition("err_dma", detail=f"SQ {sq.sqid} entry {slot} at {addr:#x} not mapped")
            )
            return
        sq.head = (slot + 1) % sq.size
        cmd = unpack_sqe(raw)
        req = Request(
            sq.sqid, cmd, admin=sq.sqid == 0, cqid=sq.cqid, sq_head=sq.head, fetched_from=sq
        )
        sq.inflight += 1
        if req.admin:
            self._admin_busy += 1
        else:
            self._io_busy += 1
        yield from self.emit_step(
            ev.SqeFetch(slot=slot, addr=addr, data=bytes(raw), new_head=sq.head, arbitration=why),
            req,
        )
        self.spawn(self._nvme_execute(sq, req), 0, "cmd", lambda: self._nvme_cmd_done(sq, req))

    def _nvme_cmd_done(self, sq: SubmissionQueue, req: Request) -> None:
        """A command's task ended (it completed, or somebody else will complete it: an
        Asynchronous Event Request, an Abort): its unit is free. With shadow doorbells
        the SQ's EventIdx and shadow tail follow every command, as steps of their own."""
        sq.inflight -= 1
        if req.admin:
            self._admin_busy -= 1
        else:
            self._io_busy -= 1
        if sq.deleted and not sq.inflight and sq.drained is not None:
            sq.drained.fire()
        if self.dbbuf is not None and not sq.deleted and self.ready:
            self.spawn(self._nvme_sq_after_cmd(sq), 0, "eventidx")
            return
        self._nvme_kick()

    def _nvme_sq_after_cmd(self, sq: SubmissionQueue) -> Task:
        """After a command of ``sq`` with shadow doorbells: tell the host how far the
        device has seen (EventIdx), then look for more (the shadow tail; QEMU's order)."""
        yield from self.nvme_write_eventidx(sq.sqid, False, sq.tail)
        yield from self._nvme_update_sq_tail(sq)
        self._nvme_kick()

    def _nvme_execute(self, sq: SubmissionQueue, req: Request) -> Task:
        cmd = req.cmd
        # an Abort marked it while it waited in the SQ: it does not run (no latency, no
        # data), it completes with Command Abort Requested, then the Abort with bit 0 clear
        aborted = cmd.cid in sq.abort_cids
        latency = self.config.cmd_latency_ns if req.admin else self.config.io_latency_ns
        # no command takes no time (a latency of 0 counts as 1 ns): with shadow doorbells
        # a host's own reads can publish new commands by DMA, and a device that went round
        # at one virtual instant would hold back every host access, a reset included
        latency = max(latency, MIN_COMMAND_NS)
        detail = admin.describe(req)
        yield from self.emit_step(
            ev.CmdStart(
                opcode=cmd.opc,
                opname=req.opname,
                nsid=cmd.nsid,
                admin=req.admin,
                detail=f"{detail}; aborted by an Abort before it ran" if aborted else detail,
            ),
            req,
            delay=None if aborted else latency,
        )
        if aborted:
            sq.abort_cids.discard(cmd.cid)
            req.set_status(st.ABORT_REQUESTED, dnr=False)
            yield from self.nvme_complete(req)
            waiter = self.state.pending_aborts.pop((sq.sqid, cmd.cid), None)
            if waiter is not None:
                waiter.dw0 = 0  # bit 0 cleared: the command was aborted
                yield from self.nvme_complete(waiter)
            return
        if self.faults.on:
            forced = self.faults.take_force(sq.sqid)
            if forced is not None:
                req.status, left, any_sq = forced
                yield from self.emit_step(
                    ev.FaultStatusForced(status=req.status, remaining=left, any_sq=any_sq), req
                )
                yield from self.nvme_complete(req)
                return
        if sq.deleted:
            req.set_status(st.ABORTED_SQ_DELETION, dnr=False)
        elif cmd.fuse:
            yield from self.nvme_fail(req, st.INVALID_FIELD, "err_fused", "fused operations", 1)
        elif cmd.psdt and (why := self._sgl_refused(req)):
            yield from self.nvme_fail(
                req, st.INVALID_FIELD, "err_invalid_sgl", why,
                1 | (6 << 8),  # CDW0 bits 15:14: byte 1, bit 6
            )  # fmt: skip
        elif req.admin:
            yield from admin.nvme_admin_cmd(self, req)
        else:
            yield from nvm.nvme_io_cmd(self, req)
        if req.held:
            return
        yield from self.nvme_complete(req)

    def _sgl_refused(self, req: Request) -> str:
        """Why a command whose PSDT selects SGLs cannot have them ("" if it can)."""
        if req.admin:
            return "PSDT selects SGLs: over PCIe, admin commands use PRPs"
        if req.cmd.psdt == 3:
            return "PSDT 11b is reserved"
        if not self.config.sgls & SGLS_SUPPORT_MASK:
            return "PSDT selects SGLs: this controller has none (Identify SGLS bits 1:0 = 0)"
        return ""

    def nvme_fail(
        self, req: Request, code: tuple[int, int], kind: str, detail: str, loc: int = 0xFFFF,
        dnr: bool = True,
    ) -> Task:  # fmt: skip
        """Fail ``req``: set the status (DNR), log the error, emit the err_* event."""
        req.set_status(code, dnr=dnr)
        req.err_kind = kind
        req.parm_err_loc = loc
        yield from self.emit_step(ev.condition(kind, detail=detail, status=req.status), req)

    def nvme_complete(self, req: Request) -> Task:
        """cmd_finish, then post the CQE (waiting while the CQ is full), then the interrupt."""
        yield from self.new_step()
        sct, sc, dnr = split_status(req.status)
        if req.failed:
            self.state.log_error(req, self.sqs, self.cqs)
        yield from self.emit_step(
            ev.CmdFinish(
                opcode=req.opcode,
                opname=req.opname,
                status=req.status,
                sc=sc,
                sct=sct,
                dnr=dnr,
                dw0=req.dw0,
                dw1=req.dw1,
                status_name=st.status_name(sct, sc),
            ),
            req,
        )
        if self.faults.on and self.faults.delay_ns:
            delay = self.faults.delay_ns
            yield from self.emit_step(ev.FaultCqeDelayed(cqid=req.cqid, delay_ns=delay), req, delay)
        cqid = req.cqid
        cq = self.cqs.get(cqid)
        if cq is None:
            return
        if self.dbbuf is not None:
            yield from self._nvme_update_cq_head(cq, req)
            if self.cqs.get(cqid) is not cq:
                return
        # the CQ has room as of the step that posts: other commands complete to it too,
        # so the room is checked in that same step, never in one before it
        while True:
            yield from self.new_step()
            if self.cqs.get(cqid) is not cq:
                return
            if not cq.full:
                break
            if self.dbbuf is not None:
                yield from self._nvme_cq_ask_head(cq, req)
                if self.cqs.get(cqid) is not cq:
                    return
                if not cq.full:
                    continue
            yield from self.emit_step(ev.CqFull(cqid=cq.cqid, head=cq.head, tail=cq.tail), req)
            while cq.full:
                assert cq.space is not None
                yield from self.wait_signal(cq.space)
                if self.cqs.get(cqid) is not cq:
                    return
                if req.fetched_from is not None and req.fetched_from.deleted:
                    # Delete I/O SQ is not stalled by a full CQ (NVMe 1.4 section 5): the
                    # command is aborted by the deletion and its completion never posted
                    return
        sq = self.sqs.get(req.sqid)
        sqhd = sq.head if sq is not None else req.sq_head
        slot = cq.tail
        addr = cq.slot_addr(slot)
        data = pack_cqe(req.dw0, req.dw1, sqhd, req.sqid, req.cid, cq.phase, req.status)
        ok = self.pci.bus_master and self.port.dma_write(addr, data)
        if not ok:
            why = "bus master disabled" if not self.pci.bus_master else "not mapped"
            yield from self.emit_step(
                ev.condition("err_dma", detail=f"CQ {cq.cqid} entry {slot} at {addr:#x}: {why}"),
                req,
            )
            old = self.csts
            self.csts |= r.CSTS.field("cfs").mask
            yield from self.emit_step(
                ev.CtrlState(state="fatal", csts_old=old, csts_new=self.csts,
                             detail="a completion could not be posted"),
                req,
            )  # fmt: skip
            return
        phase = cq.phase
        cq.advance_tail()
        yield from self.emit_step(
            ev.CqePost(
                cqid=cq.cqid,
                slot=slot,
                addr=addr,
                phase=phase,
                status=req.status,
                dw0=req.dw0,
                dw1=req.dw1,
                sqhd=sqhd,
                data=data,
                new_tail=cq.tail,
            ),
            req,
        )
        if self.dbbuf is not None and cq.ien and not self.pci.msix_enabled:
            # pin-based: the level falls only when the device learns the new head
            yield from self._nvme_cq_ask_head(cq, req)
        yield from self.nvme_irq_assert(cq, req)

    # =====================================================================
    # shadow doorbells and EventIdx (Doorbell Buffer Config)
    # =====================================================================
    def shadow_slot(self, qid: int, cq: bool) -> tuple[int, int] | None:
        """(shadow doorbell address, EventIdx address) of a queue's doorbell, or None."""
        if self.dbbuf is None:
            return None
        offset = (2 * qid + int(cq)) * (4 << self.config.dstrd)
        return self.dbbuf[0] + offset, self.dbbuf[1] + offset

    def _nvme_read_shadow(
        self, qid: int, cq: bool, req: Request | None
    ) -> Generator[Any, None, int | None]:
        """Read one shadow doorbell (one event); None when it could not be read."""
        slot = self.shadow_slot(qid, cq)
        if slot is None or not self.pci.bus_master:
            return None
        yield from self.new_step()
        raw = self.port.dma_read(slot[0], 4)
        name = f"{'CQ' if cq else 'SQ'} {qid}"
        if raw is None or len(raw) != 4:
            yield from self.emit_step(
                ev.condition(
                    "err_dma", detail=f"{name} shadow doorbell at {slot[0]:#x} not mapped"
                ),
                req,
            )
            return None
        data = bytes(raw)
        yield from self.emit_step(
            ev.DmaRead(
                addr=slot[0], length=4, data=data, purpose="shadow doorbell",
                sqid=None if req is not None else qid,
            ),
            req,
        )  # fmt: skip
        return int.from_bytes(data, "little")

    def nvme_write_shadow(
        self, qid: int, cq: bool, value: int, eventidx: bool, req: Request | None = None
    ) -> Generator[Any, None, bool]:
        """Write a shadow doorbell or EventIdx slot (one event); False when it failed."""
        slot = self.shadow_slot(qid, cq)
        if slot is None:
            return False
        addr = slot[1] if eventidx else slot[0]
        data = (value & 0xFFFFFFFF).to_bytes(4, "little")
        yield from self.new_step()
        ok = self.pci.bus_master and self.port.dma_write(addr, data)
        if not ok:
            what = "EventIdx" if eventidx else "shadow doorbell"
            why = "bus master disabled" if not self.pci.bus_master else "not mapped"
            name = f"{'CQ' if cq else 'SQ'} {qid}"
            yield from self.emit_step(
                ev.condition("err_dma", detail=f"{name} {what} at {addr:#x}: {why}"), req
            )
            return False
        yield from self.emit_step(
            ev.DmaWrite(
                addr=addr, length=4, data=data, purpose="eventidx" if eventidx else "shadow doorbell",
                sqid=None if req is not None else qid,
            ),
            req,
        )  # fmt: skip
        return True

    def nvme_write_eventidx(
        self, qid: int, cq: bool, value: int, req: Request | None = None
    ) -> Generator[Any, None, bool]:
        return (yield from self.nvme_write_shadow(qid, cq, value, True, req))

    def nvme_refresh_sq_tail(self, sq: SubmissionQueue) -> Task:
        """With shadow doorbells, take the SQ's shadow tail now (an Abort looks for a
        command the host may have published only there); the fetch engine runs if it moved."""
        if self.dbbuf is None or sq.deleted:
            return
        yield from self._nvme_update_sq_tail(sq)
        self._nvme_kick()

    def _nvme_update_sq_tail(self, sq: SubmissionQueue) -> Task:
        """Take a new tail from the SQ's shadow doorbell, if the host wrote one."""
        sq.shadow_due = False
        value = yield from self._nvme_read_shadow(sq.sqid, False, None)
        if value is None or value == sq.shadow:
            return
        sq.shadow = value
        if value >= sq.size:
            yield from self.emit_step(
                ev.condition(
                    "ub_db_invalid_value",
                    detail=f"shadow SQ {sq.sqid} tail {value} >= size {sq.size}: ignored",
                    sqid=sq.sqid,
                )
            )
            self.nvme_enqueue_event(admin.AER_TYPE_ERROR, admin.AER_INFO_INVALID_DB_VALUE, 0x01)
            return
        sq.tail = value

    def _nvme_update_cq_head(self, cq: CompletionQueue, req: Request) -> Generator[Any, None, bool]:
        """Take a new head from the CQ's shadow doorbell; True when the head moved."""
        value = yield from self._nvme_read_shadow(cq.cqid, True, req)
        if value is None or value == cq.shadow:
            return False
        cq.shadow = value
        problem = None
        if value >= cq.size:
            problem = ("ub_db_invalid_value", f"shadow CQ {cq.cqid} head {value} >= size {cq.size}")
        elif not cq.head_valid(value):
            problem = (
                "ub_cq_head_passes_tail",
                f"shadow CQ {cq.cqid} head {value} passes the entries posted "
                f"(head {cq.head}, tail {cq.tail})",
            )
        if problem is not None:
            yield from self.emit_step(
                ev.condition(problem[0], detail=problem[1] + ": ignored"), req
            )
            self.nvme_enqueue_event(admin.AER_TYPE_ERROR, admin.AER_INFO_INVALID_DB_VALUE, 0x01)
            return False
        moved = value != cq.head
        was_full = cq.full
        cq.head = value
        if was_full and cq.space is not None:
            cq.space.fire()
        if moved and not self.pci.msix_enabled:
            self.later(self.nvme_irq_recheck)
        return moved

    def _nvme_cq_ask_head(self, cq: CompletionQueue, req: Request) -> Task:
        """EventIdx = the head we know (the host rings the MMIO doorbell when it moves past
        it), then read the shadow once more, until the shadow holds nothing newer."""
        cqid = cq.cqid
        # bounded: a host whose shadow keeps changing under the device (DMA landing on its
        # own shadow page, say) gets at most one re-read per entry, then the device waits
        # for an MMIO doorbell like any other
        for _ in range(cq.size + 1):
            if self.dbbuf is None or self.cqs.get(cqid) is not cq:
                return
            if not (yield from self.nvme_write_eventidx(cqid, True, cq.head, req)):
                return
            if not (yield from self._nvme_update_cq_head(cq, req)):
                return
            if not cq.full and self.pci.msix_enabled:
                return

    # =====================================================================
    # interrupts
    # =====================================================================
    def _coalescing(self, cq: CompletionQueue) -> tuple[int, int] | None:
        """(entries, ns) of Interrupt Coalescing (Feature 08h: THR + 1 entries, TIME in
        100 us units) for ``cq``'s vector, or None when its interrupts are not delayed: the
        admin CQ never is, nor a vector whose Feature 09h sets CD, nor any while TIME is 0
        ("no delay") or THR is 0 (one entry per interrupt)."""
        value = self.state.features.get(FID_INTERRUPT_COALESCING, 0)
        thr, time = value & 0xFF, (value >> 8) & 0xFF
        if cq.cqid == 0 or not thr or not time or self.state.irq_vector_cd.get(cq.vector, 0):
            return None
        return thr + 1, time * COALESCING_TIME_UNIT_NS

    def nvme_irq_assert(self, cq: CompletionQueue, req: Request | None = None) -> Task:
        if not cq.ien:
            return
        yield from self.new_step()
        if self.pci.msix_enabled:
            rule = self._coalescing(cq)
            if rule is not None:
                vector, (entries, delay) = cq.vector, rule
                count = self._coalesced.get(vector, 0) + 1
                if count < entries:
                    first = vector not in self._coalesced
                    self._coalesced[vector] = count
                    yield from self.emit_step(ev.IrqCoalesced(vector=vector, count=count), req)
                    if first:  # the aggregation time runs from the first entry held
                        turn = self._coalesce_round[vector] = (
                            self._coalesce_round.get(vector, 0) + 1
                        )
                        self.spawn(
                            self._nvme_coalesce_timer(vector, turn), delay, f"coalesce{vector}"
                        )
                    return
                self._coalesced.pop(vector, None)
            yield from self._nvme_msix_raise(cq.vector, req)
            return
        event = self._nvme_intx_update()
        if event is not None:
            yield from self.emit_step(event, req)

    def _nvme_coalesce_timer(self, vector: int, turn: int) -> Task:
        """The aggregation time of ``vector``'s aggregation ``turn`` ran out: send the
        interrupt it holds back, unless the threshold sent it already (a later
        aggregation, then, has its own timer)."""
        if (
            self._coalesce_round.get(vector) == turn
            and self._coalesced.pop(vector, None) is not None
        ):
            yield from self._nvme_msix_raise(vector, None)

    def _nvme_msix_raise(self, vector: int, req: Request | None) -> Task:
        if not 0 <= vector < self.msix.size:
            return
        v = self.msix.vectors[vector]
        held = v.masked or self.pci.msix_function_masked or not self.pci.bus_master
        # a mask_vector fault takes the masked path, and the event says it was the fault
        by_fault = not held and self.faults.on and vector in self.faults.masked
        if held or by_fault:
            self.msix.pending[vector] = True
            yield from self.emit_step(
                ev.IrqMsix(
                    vector=vector, address=v.address, data=v.data, masked=True, pending=True,
                    delivered=False, by_fault=by_fault,
                ),
                req,
            )  # fmt: skip
            return
        yield from self.emit_step(self._msix_send(vector), req)

    def _msix_send(self, vector: int) -> ev.Event:
        """Send ``vector``'s message; returns its event (``fault_irq_dropped`` when a
        ``drop_interrupt`` fault loses the message on the way)."""
        v = self.msix.vectors[vector]
        if self.faults.on and (left := self.faults.take_drop()) is not None:
            return ev.FaultIrqDropped(vector=vector, address=v.address, data=v.data, remaining=left)
        ok = self.port.dma_write(v.address, msix_message(v))
        return ev.IrqMsix(vector=vector, address=v.address, data=v.data, delivered=bool(ok))

    def _nvme_intx_level(self) -> bool:
        if self.pci.msix_enabled or self.intms & 1:
            return False
        return any(cq.ien and cq.pending for cq in self.cqs.values())

    def _nvme_intx_update(self) -> ev.Event | None:
        level = self._nvme_intx_level()
        self.pci.set_interrupt_status(level)
        pin = level and not self.pci.intx_disabled
        if pin == self._intx_pin:
            return None
        self._intx_pin = pin
        if pin and self.faults.on and (left := self.faults.take_drop()) is not None:
            # the Assert_INTx message is lost: the device counts its pin as asserted
            return ev.FaultIrqDropped(remaining=left)
        self.port.intx(pin)
        return ev.IrqIntx(asserted=pin, intms=self.intms)

    def nvme_irq_recheck(self) -> None:
        """After a mask change: deliver pending MSI-X vectors, or update the INTx level."""
        if self.pci.msix_enabled:
            if self._intx_pin:
                event = self._nvme_intx_update()
                if event is not None:
                    self._emit(event)
            if self.pci.msix_function_masked or not self.pci.bus_master:
                return
            ready = [
                i
                for i, pending in enumerate(self.msix.pending)
                if pending and not self.msix.vectors[i].masked and not self._fault_masked(i)
            ]
            if ready:
                self.spawn(self._msix_deliver_pending(ready), 0, "msix_pending")
            return
        event = self._nvme_intx_update()
        if event is not None:
            self._emit(event)

    def _msix_deliver_pending(self, vectors: list[int]) -> Task:
        for i in vectors:
            yield from self.new_step()
            v = self.msix.vectors[i]
            if (
                not self.msix.pending[i] or v.masked or self._fault_masked(i)
                or self.pci.msix_function_masked
            ):  # fmt: skip
                continue
            self.msix.pending[i] = False
            yield from self.emit_step(self._msix_send(i))

    # =====================================================================
    # asynchronous events
    # =====================================================================
    def nvme_enqueue_event(self, etype: int, info: int, lid: int) -> None:
        """Queue an asynchronous event (once: the same event already waiting is not repeated)."""
        if (etype, info, lid) not in self.state.aer_queue:
            self.state.aer_queue.append((etype, info, lid))
        self.nvme_process_aers()

    def nvme_take_aer_event(self) -> int | None:
        """The completion dword 0 of the next queued, unmasked asynchronous event (which
        is then masked until its log page is read), or None."""
        s = self.state
        hit = next((e for e in s.aer_queue if e[0] not in s.aer_masked), None)
        if hit is None:
            return None
        s.aer_queue.remove(hit)
        etype, info, lid = hit
        s.aer_masked.add(etype)
        return etype | (info << 8) | (lid << 16)

    def nvme_process_aers(self) -> None:
        """Complete held Asynchronous Event Requests with queued, unmasked events."""
        s = self.state
        while s.aer_reqs:
            dw0 = self.nvme_take_aer_event()
            if dw0 is None:
                return
            req = s.aer_reqs.pop(0)
            req.dw0 = dw0
            req.held = False
            self.spawn(self.nvme_complete(req), 0, "aer")

    # =====================================================================
    # data transfer
    # =====================================================================
    def nvme_map_and_transfer(
        self, req: Request, length: int, to_host: bytes | None, purpose: str, media_ns: int = 0
    ) -> Generator[Any, None, bytes | None]:
        """Walk the PRPs of ``req`` and move ``length`` bytes.

        ``to_host`` given: write it to the host (controller -> host). Otherwise
        read ``length`` bytes from the host and return them. Returns None (and
        has failed ``req``) when the transfer failed. Time (``emulator/timing.py``):
        each DMA takes its bytes' transfer time after its event; ``media_ns`` passes
        after the map event when data goes to the host, after the last DMA otherwise.
        """
        cmd = req.cmd
        media_before = media_ns if to_host is not None else 0
        yield from self.new_step()
        segments: list[tuple[int | None, int]]
        if cmd.psdt:
            sgl1 = struct.pack("<QQ", cmd.prp1, cmd.prp2)
            smap = nvme_map_sgl(
                self.port,
                sgl1,
                length,
                to_host is not None,
                self.config.sgls,
                self.pci.bus_master,
            )
            for seg in smap.reads:
                yield from self.emit_step(
                    ev.SglSegmentRead(addr=seg.addr, descriptors=list(seg.descriptors)), req
                )
            first = unpack_descriptor(sgl1)
            yield from self.emit_step(
                ev.MapSgl(
                    sgl_type=first[0],
                    addr=first[2],
                    sgl_length=first[3],
                    length=length,
                    segment_pages=[seg.addr for seg in smap.reads],
                    segments=list(smap.segments),
                ),
                req,
                media_before if smap.error is None and self.pci.bus_master else 0,
            )
            error, detail, where = smap.error, smap.detail, 24
            segments = smap.segments
            what, bad_kind = "SGL segment read", "err_invalid_sgl"
        else:
            pmap = nvme_map_prp(
                self.port, cmd.prp1, cmd.prp2, length, self.page_size, self.pci.bus_master
            )
            for addr, entries in zip(pmap.list_pages, pmap.list_entries, strict=False):
                yield from self.emit_step(ev.PrpListRead(addr=addr, entries=list(entries)), req)
            yield from self.emit_step(
                ev.MapPrp(
                    prp1=cmd.prp1,
                    prp2=cmd.prp2,
                    length=length,
                    list_pages=list(pmap.list_pages),
                    segments=list(pmap.segments),
                ),
                req,
                media_before if pmap.error is None and self.pci.bus_master else 0,
            )
            error, detail, where = pmap.error, pmap.detail, pmap.error_location
            segments = pmap.segments  # (the event has its own copy)
            what, bad_kind = "PRP list read", "err_invalid_prp_offset"
        if error is not None:
            if not self.pci.bus_master:
                yield from self.emit_step(ev.condition("ub_dma_disabled", detail=what), req)
            kind = "err_dma" if error == st.DATA_TRANSFER_ERROR else bad_kind
            yield from self.nvme_fail(req, error, kind, detail, where)
            return None
        if not self.pci.bus_master:
            yield from self.emit_step(ev.condition("ub_dma_disabled", detail=purpose), req)
            yield from self.nvme_fail(
                req, st.DATA_TRANSFER_ERROR, "err_dma", "bus master disabled", 24
            )
            return None
        pos = 0
        chunks: list[bytes] = []
        timed = self.config.link_mbps > 0 or media_ns > 0
        last = -1
        pieces = ev.dma_pieces(segments)  # each at most MAX_DATA_EVENT_BYTES
        if timed:  # the last piece that moves data (after it: a write's media time)
            last = max((i for i, (a, _) in enumerate(pieces) if a is not None), default=-1)
        for index, (addr, n) in enumerate(pieces):
            if addr is None:  # an SGL Bit Bucket: this part of the data is thrown away
                pos += n
                continue
            delay = 0
            if timed:
                delay = transfer_ns(self.config, n)
                if index == last and to_host is None:
                    delay += media_ns
            yield from self.new_step()
            if to_host is not None:
                piece = to_host[pos : pos + n]
                ok = self.port.dma_write(addr, piece)
                if ok:
                    yield from self.emit_step(
                        ev.DmaWrite(addr=addr, length=n, data=piece, purpose=purpose), req, delay
                    )
            else:
                got = self.port.dma_read(addr, n)
                ok = got is not None and len(got) == n
                if ok:
                    assert got is not None
                    chunks.append(bytes(got))
                    yield from self.emit_step(
                        ev.DmaRead(addr=addr, length=n, data=bytes(got), purpose=purpose),
                        req,
                        delay,
                    )
            if not ok:
                yield from self.nvme_fail(
                    req, st.DATA_TRANSFER_ERROR, "err_dma",
                    f"{purpose}: host address {addr:#x} (+{n}) not mapped", 24,
                )  # fmt: skip
                return None
            pos += n
        return to_host if to_host is not None else b"".join(chunks)

    # =====================================================================
    # snapshot
    # =====================================================================
    def snapshot(self) -> dict[str, Any]:
        """Every observable value as plain data (for the UI and recordings)."""
        return {
            "registers": {
                "cap": self.cap,
                "vs": self.vs,
                "intms": self.intms,
                "cc": self.cc,
                "csts": self.csts,
                "aqa": self.aqa,
                "asq": self.asq,
                "acq": self.acq,
            },
            "pci": self.pci.snapshot(),
            "bar": {
                "size": self.bar_size,
                "msix_table": self.table_offset,
                "msix_pba": self.pba_offset,
                "dstrd": self.config.dstrd,
            },
            "sqs": [sq.snapshot() for sq in self._sorted_sqs()],
            "cqs": [self.cqs[k].snapshot() for k in sorted(self.cqs)],
            "msix": self.msix.snapshot(),
            "intx_asserted": self._intx_pin,
            "features": self.state.features_snapshot(),
            "error_count": self.state.error_count,
            "error_log_entries": len(self.state.error_log),
            "aer_outstanding": [req.cid for req in self.state.aer_reqs],
            "aer_queued": [list(e) for e in self.state.aer_queue],
            "aer_masked": sorted(self.state.aer_masked),
            "smart": self.state.smart_counters(self.sched.now),
            "namespaces": [
                {
                    "nsid": ns.nsid,
                    "nsze": ns.nsze,
                    "lba_size": ns.lba_size,
                    "pages_used": ns.pages_used,
                }
                | ({"file": ns.file} if ns.file else {})
                for ns in (self.namespaces[k] for k in sorted(self.namespaces))
            ],
            "busy": self.busy,
            **({"allocated": sorted(self.allocated)} if self.config.ns_mgmt else {}),
        } | ({"dbbuf": list(self.dbbuf) if self.dbbuf else None} if self.config.dbbuf else {})


__all__ = ["Controller", "MSIX_CAP_OFFSET"]
