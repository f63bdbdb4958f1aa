"""HostAPI: the public script API through which any host program drives the device.

A test, a notebook, a classroom exercise and the built-in Linux driver model
all reach the controller the same narrow way a real host does, and nothing
more:

- PCI configuration space: :meth:`HostAPI.config_read`, :meth:`HostAPI.config_write`;
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
  :meth:`HostAPI.signal`, :meth:`HostAPI.call_after`.

A script calls the access methods directly; they happen at the current virtual
time. Nothing else moves until the script runs the machine (``step``,
``run_*``). See ``docs/host-api.md`` for a walk-through.

Events a script has caused but no ``step``/``run_*`` call has returned yet wait
in a FIFO: :meth:`step` returns exactly one event per call, oldest first, and
runs scheduled work only when the FIFO is empty.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any

from nvmescope.emulator import Controller
from nvmescope.events import Event, EventBus, HostStep, Interrupt
from nvmescope.sim import Scheduler, Signal, Task

from .memory import HostMemory, InterruptController

EventPredicate = Callable[[Event], bool]


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

    # -- PCI configuration space ----------------------------------------------------
    def config_read(self, offset: int, size: int) -> int:
        """Read ``size`` (1, 2 or 4) bytes of PCI configuration space."""
        return self._ctrl.config_read(offset, size)

    def config_write(self, offset: int, size: int, value: int) -> None:
        """Write ``size`` (1, 2 or 4) bytes of PCI configuration space."""
        self._ctrl.config_write(offset, size, value)

    # -- BAR0 ---------------------------------------------------------------------------
    def mmio_read32(self, offset: int) -> int:
        """Read the 32-bit BAR0 register at ``offset`` (relative to BAR0)."""
        return self._ctrl.mmio_read(offset, 4)

    def mmio_read64(self, offset: int) -> int:
        """Read 64 bits at ``offset`` in one access (where the device allows it)."""
        return self._ctrl.mmio_read(offset, 8)

    def mmio_write32(self, offset: int, value: int) -> None:
        """Write the 32-bit BAR0 register (or doorbell) at ``offset``."""
        self._ctrl.mmio_write(offset, 4, value & 0xFFFF_FFFF)

    def mmio_write64(self, offset: int, value: int) -> None:
        """Write 64 bits at ``offset`` in one access (where the device allows it)."""
        self._ctrl.mmio_write(offset, 8, value & 0xFFFF_FFFF_FFFF_FFFF)

    # -- host memory ------------------------------------------------------------------
    def alloc(self, size: int = 4096) -> int:
        """Zeroed, page-aligned host memory for ``size`` bytes; returns its address."""
        return self._mem.alloc(size)

    def free(self, addr: int) -> None:
        """Give back memory from :meth:`alloc`; a later ``alloc`` of that size reuses it."""
        self._mem.free(addr)

    def mem_write(self, addr: int, data: bytes, purpose: str = "") -> None:
        """The host CPU writes its memory (emits ``mem_write``)."""
        self._mem.cpu_write(addr, data, purpose)

    def mem_read(self, addr: int, length: int, purpose: str = "") -> bytes:
        """The host CPU reads its memory (emits ``mem_read``)."""
        return self._mem.cpu_read(addr, length, purpose)

    def peek(self, addr: int, length: int) -> bytes:
        """Look at host memory without an event (for checks and printing, not for drivers)."""
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

    # -- running the machine ---------------------------------------------------------------
    def step(self) -> Event | None:
        """Return the next event: one already emitted and not yet returned, else run
        scheduled work until one more event is emitted. ``None`` when idle."""
        while not self._fifo:
            if not self._sched.run_one():
                return None
        return self._fifo.popleft()

    def run_until(self, pred: EventPredicate) -> Event | None:
        """Step until ``pred(event)`` is true; returns that event (``None`` if idle first)."""
        while True:
            event = self.step()
            if event is None or pred(event):
                return event

    def run_until_idle(self) -> list[Event]:
        """Step until nothing is left to do; returns the events stepped over."""
        out: list[Event] = []
        while (event := self.step()) is not None:
            out.append(event)
        return out

    def _run_while(self, busy: Callable[[], bool]) -> list[Event]:
        out: list[Event] = []
        while busy():
            if self._fifo:
                out.append(self._fifo.popleft())
            elif not self._sched.run_one():
                break
        out.extend(self._fifo)
        self._fifo.clear()
        return out

    def run_for(self, ns: int) -> list[Event]:
        """Let ``ns`` nanoseconds of virtual time pass, running whatever is due."""
        fired = [False]

        def timer() -> None:
            fired[0] = True

        self._sched.call_after(max(0, ns), timer, label="host.run_for")
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

        self._sched.spawn(wrapper(), label="host.run_task")
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
        """Start a host task after ``delay`` ns."""
        self._sched.spawn(task, delay, label)

    def signal(self, name: str = "") -> Signal:
        """A fresh wake-up point for host tasks."""
        return self._sched.signal(name)

    def call_after(self, delay: int, work: Callable[[], None], label: str = "") -> int:
        """Run ``work`` after ``delay`` ns (a timer); returns a handle for :meth:`cancel`."""
        return self._sched.call_after(delay, work, label)

    def cancel(self, handle: int) -> None:
        self._sched.cancel(handle)
