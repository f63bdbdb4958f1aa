"""HostAPI: the public script API through which any host program drives the device.

A test, a notebook, a classroom exercise and the built-in Linux driver model
all reach the controller the same narrow way a real host does, and nothing
more:

- PCI configuration space: :meth:`HostAPI.config_read`, :meth:`HostAPI.config_write`;
  and the platform's resets of the function, :meth:`HostAPI.pci_reset`;
- BAR0 registers and doorbells, 4 or 8 bytes at a time: :meth:`HostAPI.mmio_read32`,
  :meth:`HostAPI.mmio_read64`, :meth:`HostAPI.mmio_write32`, :meth:`HostAPI.mmio_write64`
  (offsets are relative to BAR0; the device emits the ``mmio_*`` / ``doorbell_*`` events);
- host memory, which the device reaches by DMA: :meth:`HostAPI.alloc`,
  :meth:`HostAPI.mem_read`, :meth:`HostAPI.mem_write` (``mem_read`` / ``mem_write`` events);
- time: :meth:`HostAPI.step`, :meth:`HostAPI.run_until`, :meth:`HostAPI.run_until_idle`,
  :meth:`HostAPI.run_for`, :meth:`HostAPI.run_until_interrupt`, :meth:`HostAPI.run_task`;
- the event stream: :meth:`HostAPI.subscribe`; and :meth:`HostAPI.note` to say, as a
  ``host_step`` event, what the program does next and why;
- helpers for host *tasks* (generators on the scheduler): :meth:`HostAPI.sleep`,
  :meth:`HostAPI.wait_interrupt`, :meth:`HostAPI.take_interrupt`, :meth:`HostAPI.spawn`,
  :meth:`HostAPI.signal`, :meth:`HostAPI.call_after`;
- faults, the one thing beyond what a real host can do: :meth:`HostAPI.fault` arms or
  clears a fault of ``nvmescope.events.FAULTS`` that makes the device misbehave as real
  devices do (:meth:`HostAPI.drop_interrupt`, :meth:`HostAPI.delay_completions`,
  :meth:`HostAPI.mask_vector`, :meth:`HostAPI.force_status`, :meth:`HostAPI.stop_fetch`,
  :meth:`HostAPI.clear_fault`, :meth:`HostAPI.clear_faults`); :meth:`HostAPI.armed_faults`
  lists what is armed. Each arming or clearing is one ``fault`` event, an input to the
  device like a register write, so a replay performs it again.

A script calls the access methods directly; they happen at the current virtual
time. Nothing else moves until the script runs the machine (``step``,
``run_*``), except that an access that is an input to the device (config space,
BAR0, ``mem_write``) first lets the device finish the work it has due at this
very instant, so that the order of events depends on virtual time alone and a
replay reproduces it (``Scheduler.settle``). An access no host can make (an
address outside the 64-bit address space, say) raises :class:`HostAccessError`
before anything happens, and a fault the device cannot arm (an unknown one, an
argument outside its range) raises :class:`FaultError`, also before anything happens; a run that the host keeps busy for ever raises
:class:`DeviceBusyError` after ``DEFAULT_MAX_STEPS`` scheduler steps. See ``docs/host-api.md`` for a walk-through.

Events a script has caused but no ``step``/``run_*`` call has returned yet wait
in a FIFO: :meth:`step` returns exactly one event per call, oldest first, and
runs scheduled work only when the FIFO is empty.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any

from nvmescope.emulator import Controller
from nvmescope.events import (
    FAULTS,
    PCI_RESETS,
    ArmedFault,
    Event,
    EventBus,
    Fault,
    FaultError,
    HostStep,
    Interrupt,
    check_fault,
)
from nvmescope.sim import Scheduler, Signal, Task, TimeLimitError

from .memory import HostMemory, InterruptController

EventPredicate = Callable[[Event], bool]

#: the host's physical address space: 64-bit addresses
ADDRESS_LIMIT = 1 << 64


class HostAccessError(ValueError):
    """A host program asked for an access no host can make (an address outside the
    64-bit address space, a negative or over-long length, a size BAR0 or config space
    does not have). Raised before anything happens, so nothing is recorded."""


class DeviceBusyError(RuntimeError):
    """The device was still busy after the run's budget of scheduler steps: the host
    program keeps it going round (``run_until_idle(max_steps=...)``)."""


#: scheduler steps ``run_until_idle`` and the other ``run_*`` calls take at most by default
DEFAULT_MAX_STEPS = 10_000_000


class HostAPI:
    """The host's hands: config space, BAR0, memory, time and the event stream."""

    def __init__(self, ctrl: Controller, mem: HostMemory, sched: Scheduler, bus: EventBus) -> None:
        # the machine's parts, private: a host program reaches them only through the methods
        self._ctrl = ctrl
        self._mem = mem
        self._sched = sched
        self._bus = bus
        self.irq: InterruptController = (
            mem.irq if mem.irq is not None else InterruptController(sched)
        )
        if mem.irq is None:
            mem.irq = self.irq
        self._fifo: deque[Event] = deque()
        bus.subscribe(self._fifo.append)

    def _catch_up(self) -> None:
        """Before a host access: finish the device's work due at this instant, so that the
        access comes after all of it, whether a script or a host task makes it, as a
        replay re-performs it (``trace.replay``)."""
        if self._sched.settle(DEFAULT_MAX_STEPS) >= DEFAULT_MAX_STEPS:
            raise DeviceBusyError(
                f"the device is still busy at virtual time {self._sched.now} ns after "
                f"{DEFAULT_MAX_STEPS} scheduler steps"
            )

    @staticmethod
    def _check_access(where: str, offset: int, size: int, sizes: tuple[int, ...]) -> None:
        if not isinstance(offset, int) or not 0 <= offset < 1 << 32:
            raise HostAccessError(f"{where} offset {offset!r} outside 0..0xffffffff")
        if size not in sizes:
            raise HostAccessError(f"{where} access size {size!r}: one of {sizes}")

    # -- PCI configuration space ----------------------------------------------------
    def config_read(self, offset: int, size: int) -> int:
        """Read ``size`` (1, 2 or 4) bytes of PCI configuration space."""
        self._check_access("config space", offset, size, (1, 2, 4))
        self._catch_up()
        return self._ctrl.config_read(offset, size)

    def config_write(self, offset: int, size: int, value: int) -> None:
        """Write ``size`` (1, 2 or 4) bytes of PCI configuration space."""
        self._check_access("config space", offset, size, (1, 2, 4))
        self._catch_up()
        self._ctrl.config_write(offset, size, value & ((1 << (8 * size)) - 1))

    def pci_reset(self, kind: str = "conventional") -> Event:
        """Reset the whole function: ``"flr"`` (Function Level Reset) or ``"conventional"``
        (the platform's reset signal), ``Controller.reset``; one ``pci_reset`` event, a host
        input, then the device's ``ctrl_state``. Another name raises HostAccessError."""
        if kind not in PCI_RESETS:
            raise HostAccessError(f"PCI reset {kind!r}: one of {', '.join(PCI_RESETS)}")
        self._catch_up()
        return self._ctrl.reset(kind)

    # -- BAR0 ---------------------------------------------------------------------------
    def mmio_read32(self, offset: int) -> int:
        """Read the 32-bit BAR0 register at ``offset`` (relative to BAR0)."""
        self._check_access("BAR0", offset, 4, (4,))
        self._catch_up()
        return self._ctrl.mmio_read(offset, 4)

    def mmio_read64(self, offset: int) -> int:
        """Read 64 bits at ``offset`` in one access (where the device allows it)."""
        self._check_access("BAR0", offset, 8, (8,))
        self._catch_up()
        return self._ctrl.mmio_read(offset, 8)

    def mmio_write32(self, offset: int, value: int) -> None:
        """Write the 32-bit BAR0 register (or doorbell) at ``offset``."""
        self._check_access("BAR0", offset, 4, (4,))
        self._catch_up()
        self._ctrl.mmio_write(offset, 4, value & 0xFFFF_FFFF)

    def mmio_write64(self, offset: int, value: int) -> None:
        """Write 64 bits at ``offset`` in one access (where the device allows it)."""
        self._check_access("BAR0", offset, 8, (8,))
        self._catch_up()
        self._ctrl.mmio_write(offset, 8, value & 0xFFFF_FFFF_FFFF_FFFF)

    # -- host memory ------------------------------------------------------------------
    @property
    def ram_size(self) -> int:
        """The host's RAM, in bytes (from address 0; :meth:`alloc` hands out pages of it)."""
        return self._mem.ram_size

    def alloc(self, size: int = 4096) -> int:
        """Zeroed, page-aligned host memory for ``size`` bytes; returns its address."""
        return self._mem.alloc(size)

    def free(self, addr: int) -> None:
        """Give back memory from :meth:`alloc`; a later ``alloc`` of that size reuses it."""
        self._mem.free(addr)

    def _check_range(self, addr: int, length: int) -> None:
        """Refuse a host memory access no CPU can make (HostAccessError)."""
        if not isinstance(addr, int) or not isinstance(length, int):
            raise HostAccessError(f"address and length must be integers: {addr!r}, {length!r}")
        if not 0 <= addr < ADDRESS_LIMIT:
            raise HostAccessError(f"address {addr:#x} outside the 64-bit address space")
        if not 0 <= length <= self._mem.ram_size:
            raise HostAccessError(
                f"length {length} outside 0..{self._mem.ram_size} (the host's memory size)"
            )
        if addr + length > ADDRESS_LIMIT:
            raise HostAccessError(
                f"{length} bytes at {addr:#x} run past the end of the 64-bit address space"
            )

    def mem_write(self, addr: int, data: bytes, purpose: str = "") -> None:
        """The host CPU writes its memory (emits ``mem_write``); HostAccessError for an
        access outside the 64-bit address space or longer than the host's memory."""
        data = bytes(data)
        self._check_range(addr, len(data))
        self._catch_up()
        self._mem.cpu_write(addr, data, purpose)

    def mem_read(self, addr: int, length: int, purpose: str = "") -> bytes:
        """The host CPU reads its memory (emits ``mem_read``); HostAccessError as for
        :meth:`mem_write`."""
        self._check_range(addr, length)
        # no catch-up: a read of host memory is no input to the device (a replay performs
        # it where the recording has it, whatever the device still has due)
        return self._mem.cpu_read(addr, length, purpose)

    def peek(self, addr: int, length: int) -> bytes:
        """Look at host memory without an event (for checks and printing, not for drivers):
        what :meth:`mem_read` would return (all ones outside RAM, as a CPU reads there)."""
        self._check_range(addr, length)
        if not self._mem.is_ram(addr, length):
            return b"\xff" * length
        return self._mem.read(addr, length)

    # -- annotations and the event stream --------------------------------------------------
    def note(self, step: str, text: str) -> Event:
        """Emit a ``host_step`` event: what the host does next and why, in one sentence."""
        return self._bus.emit(HostStep(step=step, text=text))

    def subscribe(self, fn: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``fn`` with every event from now on; returns an unsubscribe function."""
        return self._bus.subscribe(fn)

    @property
    def pending_events(self) -> int:
        """Events emitted but not yet returned by ``step``/``run_*``."""
        return len(self._fifo)

    @property
    def now(self) -> int:
        """Virtual time in nanoseconds."""
        return self._sched.now

    # -- faults ----------------------------------------------------------------------------
    def fault(self, action: str, *, armed: bool = True, **args: int | None) -> Fault:
        """Arm the fault ``action`` (one of ``nvmescope.events.FAULTS``) with its arguments,
        or clear it (``armed=False``, with only the argument that names it: ``vector`` for
        mask_vector, ``sqid`` for stop_fetch and force_status). Returns the ``fault``
        event, emitted at the current virtual time after the device's work due now.

        Arming a fault armed already replaces it (a new count, a new delay). Raises
        :class:`FaultError` (a ValueError) before anything happens for an unknown action
        or an argument missing, unknown, not an integer or outside its range (the table's,
        and this controller's: a vector below ``msix_vectors``, an SQ up to
        ``max_io_queues``)."""
        values = check_fault(action, armed, args, self._ctrl.config)
        self._catch_up()
        return self._ctrl.inject_fault(action, armed, **values)

    def drop_interrupt(self, count: int = 1) -> Fault:
        """Lose the next ``count`` interrupt messages the device sends (MSI-X or the INTx
        assert): ``fault_irq_dropped`` each, and the host never sees them."""
        return self.fault("drop_interrupt", count=count)

    def delay_completions(self, us: int) -> Fault:
        """Hold every completion back ``us`` microseconds before its CQE is posted, until
        cleared (``clear_fault("delay_completions")``); the event stores nanoseconds."""
        if isinstance(us, bool) or not isinstance(us, int):
            raise FaultError(f"fault delay_completions: us must be an integer, not {us!r}")
        high = FAULTS["delay_completions"].arg("delay_ns").high // 1000
        if not 1 <= us <= high:
            raise FaultError(f"fault delay_completions: {us} us is outside 1..{high} us")
        return self.fault("delay_completions", delay_ns=us * 1000)

    def mask_vector(self, vector: int) -> Fault:
        """Make MSI-X vector ``vector`` behave as masked (its messages held, its Pending Bit
        set) until ``clear_fault("mask_vector", vector=vector)`` sends what is pending."""
        return self.fault("mask_vector", vector=vector)

    def force_status(self, status: int, sqid: int | None = None, count: int = 1) -> Fault:
        """Complete the next ``count`` commands fetched (from SQ ``sqid`` only, if given)
        with ``status``, the 15-bit Status Field (``SCT << 8 | SC``, DNR is bit 14), without
        executing them."""
        return self.fault("force_status", status=status, sqid=sqid, count=count)

    def stop_fetch(self, sqid: int) -> Fault:
        """Stop the device fetching from SQ ``sqid`` (doorbells are still taken) until
        ``clear_fault("stop_fetch", sqid=sqid)``, which makes it fetch what waits."""
        return self.fault("stop_fetch", sqid=sqid)

    def clear_fault(
        self, action: str, *, sqid: int | None = None, vector: int | None = None
    ) -> Fault:
        """Clear one armed fault: ``clear_fault("mask_vector", vector=2)``,
        ``clear_fault("stop_fetch", sqid=1)``, ``clear_fault("force_status")`` (the one for
        any SQ) or ``clear_fault("force_status", sqid=1)``. Clearing what is not armed
        changes nothing (the event is still recorded)."""
        return self.fault(action, armed=False, sqid=sqid, vector=vector)

    def clear_faults(self) -> list[Fault]:
        """Clear every armed fault, one ``fault`` event each, in the order they were armed."""
        return [self.fault(f.action, armed=False, **f.clear_args()) for f in self.armed_faults()]

    def armed_faults(self) -> list[ArmedFault]:
        """The faults armed now, in the order they were armed: each with its arguments,
        ``count`` the hits left of a counted fault, ``key`` its name (``mask_vector:2``),
        ``describe()`` its words, ``clear_args()`` what clears it. The trace state of any
        event of a recording has the same (``State.faults``: key -> ArmedFault)."""
        return self._ctrl.faults.current()

    # -- running the machine ---------------------------------------------------------------
    def step(self, max_steps: int = DEFAULT_MAX_STEPS) -> Event | None:
        """Return the next event: one already emitted and not yet returned, else run
        scheduled work until one more event is emitted. ``None`` when idle.

        Raises DeviceBusyError when ``max_steps`` scheduler steps emit no event (a host
        task that goes round without touching anything, say)."""
        steps = 0
        while not self._fifo:
            if steps >= max_steps and not self._sched.idle:
                raise DeviceBusyError(
                    f"no event after {max_steps} scheduler steps "
                    f"(virtual time {self._sched.now} ns): something goes round silently"
                )
            if not self._sched.run_one():
                return None
            steps += 1
        return self._fifo.popleft()

    def run_until(self, pred: EventPredicate, max_steps: int = DEFAULT_MAX_STEPS) -> Event | None:
        """Step until ``pred(event)`` is true; returns that event (``None`` if idle first).

        Raises DeviceBusyError after ``max_steps`` scheduler steps in all without it."""
        steps = 0
        while True:
            while not self._fifo:
                if steps >= max_steps and not self._sched.idle:
                    raise DeviceBusyError(
                        f"no event matched after {max_steps} scheduler steps (virtual time "
                        f"{self._sched.now} ns): the host keeps the device going round"
                    )
                if not self._sched.run_one():
                    return None
                steps += 1
            event = self._fifo.popleft()
            if pred(event):
                return event

    def run_until_idle(self, max_steps: int = DEFAULT_MAX_STEPS) -> list[Event]:
        """Step until nothing is left to do; returns the events stepped over.

        Raises DeviceBusyError after ``max_steps`` scheduler steps with work still
        queued (a host program that keeps the device going round for ever)."""
        out: list[Event] = []
        steps = 0
        while True:
            while not self._fifo:
                if steps >= max_steps and not self._sched.idle:
                    raise DeviceBusyError(
                        f"the device is still busy after {max_steps} scheduler steps "
                        f"(virtual time {self._sched.now} ns): the host keeps it going round"
                    )
                if not self._sched.run_one():
                    return out
                steps += 1
            out.append(self._fifo.popleft())

    def _run_while(
        self, busy: Callable[[], bool], max_steps: int = DEFAULT_MAX_STEPS
    ) -> list[Event]:
        out: list[Event] = []
        steps = 0
        while busy():
            if self._fifo:
                out.append(self._fifo.popleft())
                continue
            if steps >= max_steps and not self._sched.idle:
                raise DeviceBusyError(
                    f"still waiting after {max_steps} scheduler steps "
                    f"(virtual time {self._sched.now} ns)"
                )
            if not self._sched.run_one():
                break
            steps += 1
        out.extend(self._fifo)
        self._fifo.clear()
        return out

    @staticmethod
    def _check_delay(ns: int, what: str) -> None:
        """HostAccessError (nothing scheduled) for a delay that is not a whole number of
        nanoseconds or is negative. One that ends past MAX_TIME is the scheduler's
        TimeLimitError, which each caller gives as HostAccessError."""
        if isinstance(ns, bool) or not isinstance(ns, int):
            raise HostAccessError(f"{what}: {ns!r} is not a whole number of nanoseconds")
        if ns < 0:
            raise HostAccessError(f"{what}: {ns} ns is negative (time only moves forwards)")

    def run_for(self, ns: int) -> list[Event]:
        """Let ``ns`` nanoseconds of virtual time pass, running whatever is due
        (HostAccessError for a negative ``ns`` or one past MAX_TIME)."""
        fired = [False]

        def timer() -> None:
            fired[0] = True

        self._check_delay(ns, "run_for")
        try:
            self._sched.call_after(ns, timer, label="host.run_for", host=True)
        except TimeLimitError as exc:
            raise HostAccessError(f"run_for: {exc}") from None
        return self._run_while(lambda: not fired[0])

    def run_until_interrupt(self, vector: int) -> list[Event]:
        """Run until an MSI-X message for ``vector`` arrives (or the machine is idle)."""
        start = self.irq.count(vector)
        return self._run_while(lambda: self.irq.count(vector) == start)

    def run_task(self, task: Task) -> Any:
        """Run a host task (generator) to its end and return its value; for scripts."""
        box: dict[str, Any] = {}

        def wrapper() -> Generator[Any, None, None]:
            box["value"] = yield from task
            box["done"] = True

        self._sched.spawn(wrapper(), label="host.run_task", host=True)
        self._run_while(lambda: "done" not in box)
        return box.get("value")

    # -- helpers for tasks ----------------------------------------------------------------------
    @staticmethod
    def sleep(ns: int) -> int:
        """In a task: ``yield api.sleep(ns)`` lets ``ns`` of virtual time pass."""
        return max(0, int(ns))

    def wait_interrupt(self, vector: int) -> Signal:
        """In a task: ``yield api.wait_interrupt(v)`` resumes when vector ``v`` fires."""
        return self.irq.signal(vector)

    def take_interrupt(self, vector: int) -> Event:
        """The interrupt handler for ``vector`` starts running (emits ``host_irq``)."""
        return self._bus.emit(Interrupt(vector=vector))

    def spawn(self, task: Task, delay: int = 0, label: str = "") -> None:
        """Start a host task after ``delay`` ns (HostAccessError as for :meth:`run_for`)."""
        if type(delay) is not int or delay < 0:  # (the driver spawns one per interrupt)
            self._check_delay(delay, "spawn")
        try:
            self._sched.spawn(task, delay, label, host=True)
        except TimeLimitError as exc:
            raise HostAccessError(f"spawn: {exc}") from None

    def signal(self, name: str = "") -> Signal:
        """A fresh wake-up point for host tasks."""
        return self._sched.signal(name)

    def call_after(self, delay: int, work: Callable[[], None], label: str = "") -> int:
        """Run ``work`` after ``delay`` ns (a timer); returns a handle for :meth:`cancel`.
        A negative ``delay`` is now; one past MAX_TIME is a HostAccessError."""
        if type(delay) is not int:  # (the driver sets a timer for every command)
            self._check_delay(delay, "call_after")
        try:
            return self._sched.call_after(delay, work, label, host=True)
        except TimeLimitError as exc:
            raise HostAccessError(f"call_after: {exc}") from None

    def cancel(self, handle: int) -> None:
        self._sched.cancel(handle)
