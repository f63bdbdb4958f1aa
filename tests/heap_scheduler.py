"""The scheduler as it was before same-instant FIFOs: every piece of work in one heap
keyed by (virtual time, whose, order). Kept as the reference model that
tests/test_sim_scheduler_model.py runs beside ``nvmescope.sim.Scheduler``: both must run
any program's work in the same order at the same virtual times.
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Callable, Generator
from typing import Any

#: a task: a generator the scheduler advances (it may return a value to ``yield from``)
Task = Generator[Any, None, Any]


class Signal:
    """An auto-reset wake-up point that tasks wait on (``yield signal``).

    Firing with nobody waiting leaves the signal *pending*: the next task that
    waits on it resumes at once and clears it, so no wake-up is ever lost.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.pending = False
        self._waiters: list[Task] = []
        self._scheduler: Scheduler | None = None

    def fire(self) -> None:
        """Resume every task waiting on this signal, at the current time."""
        if not self._waiters:
            self.pending = True
            return
        waiters, self._waiters = self._waiters, []
        for task in waiters:
            assert self._scheduler is not None
            self._scheduler._resume_later(task, 0)

    @property
    def waiting(self) -> int:
        return len(self._waiters)


#: a queued piece of work: (when, whose, order, work, task); ``whose`` is 0 for the
#: device and 1 for the host. ``order`` is unique, so tuples compare on (when, whose,
#: order) only and the heap never looks at work or task.
_Entry = tuple[int, int, int, Callable[[], None] | None, "Task | None"]
DEVICE_WORK, HOST_WORK = 0, 1


class Scheduler:
    """A priority queue of work keyed by (virtual time, order of scheduling)."""

    def __init__(self) -> None:
        self.now: int = 0
        self._queue: list[_Entry] = []
        self._order = 0
        #: orders of the entries still queued and not cancelled
        self._live: set[int] = set()
        #: True while a piece of work runs (a host access then comes from a task)
        self.running = False
        #: tasks spawned as host work: their every step is host work
        self._host_tasks: weakref.WeakSet[Task] = weakref.WeakSet()

    # -- scheduling -------------------------------------------------------
    def call_at(
        self, when: int, work: Callable[[], None], label: str = "", *, host: bool = False
    ) -> int:
        """Run ``work`` at virtual time ``when`` (never earlier than now)."""
        self._order += 1
        whose = HOST_WORK if host else DEVICE_WORK
        heapq.heappush(self._queue, (max(when, self.now), whose, self._order, work, None))
        self._live.add(self._order)
        return self._order

    def call_after(
        self, delay: int, work: Callable[[], None], label: str = "", *, host: bool = False
    ) -> int:
        return self.call_at(self.now + max(0, delay), work, label, host=host)

    def cancel(self, handle: int) -> None:
        """Forget queued work (a no-op if it already ran or was cancelled)."""
        self._live.discard(handle)

    def spawn(self, task: Task, delay: int = 0, label: str = "", *, host: bool = False) -> None:
        """Start a generator task after ``delay`` ns (``host``: it is the host's work)."""
        if host:
            self._host_tasks.add(task)
        self._resume_later(task, delay, label)

    def _resume_later(self, task: Task, delay: int, label: str = "") -> None:
        self._order += 1
        whose = HOST_WORK if task in self._host_tasks else DEVICE_WORK
        heapq.heappush(self._queue, (self.now + max(0, delay), whose, self._order, None, task))
        self._live.add(self._order)

    # -- running ----------------------------------------------------------
    @property
    def idle(self) -> bool:
        return not self._live

    def _drop_cancelled(self) -> None:
        queue, live = self._queue, self._live
        while queue and queue[0][2] not in live:
            heapq.heappop(queue)

    def next_time(self) -> int | None:
        self._drop_cancelled()
        return self._queue[0][0] if self._queue else None

    def run_one(self) -> bool:
        """Run the earliest piece of work. Returns False when nothing is queued."""
        self._drop_cancelled()
        if not self._queue:
            return False
        when, _whose, order, work, task = heapq.heappop(self._queue)
        self._live.discard(order)
        if when > self.now:
            self.now = when
        self.running = True
        try:
            if work is not None:
                work()
            elif task is not None:
                self._advance(task)
        finally:
            self.running = False
        return True

    def settle(self, max_steps: int) -> int:
        """Run the device's work due at or before now (no host work, nothing later);
        returns how many pieces ran.

        The host calls this before each access (from a script or from inside a host
        task: device work never resumes a host task directly, only queues it), so that
        its access always comes after everything the device had due at that instant.
        Stops after ``max_steps`` (the caller decides whether that is an error).
        """
        ran = 0
        while ran < max_steps:
            self._drop_cancelled()
            if not self._queue:
                break
            when, whose = self._queue[0][0], self._queue[0][1]
            if when > self.now or whose != DEVICE_WORK:
                break
            running = self.running
            self.run_one()
            self.running = running
            ran += 1
        return ran

    def advance_to(self, when: int, max_steps: int) -> int:
        """Drive the scheduler from an outside clock: run every piece of work due at or
        before ``when`` (device and host work, in their usual order, each at its own
        virtual time), then move ``now`` to ``when`` (never backwards). Returns how many
        pieces ran.

        A bridge to a real host (``nvmescope.qemu``) calls this with the wall clock's
        instant before each access the host makes and whenever :meth:`next_time` comes
        due, so the device's virtual clock follows the wall clock. Stops after
        ``max_steps`` pieces without moving ``now`` past the last of them (the caller
        decides whether that is an error: more work may be due).
        """
        ran = 0
        while True:
            due = self.next_time()
            if due is None or due > when:
                break
            if ran >= max_steps:
                return ran
            self.run_one()
            ran += 1
        if when > self.now:
            self.now = when
        return ran

    def _advance(self, task: Task) -> None:
        try:
            request = next(task)
        except StopIteration:
            return
        if request is None:
            self._resume_later(task, 0)
        elif isinstance(request, Signal):
            request._scheduler = self
            if request.pending:
                request.pending = False
                self._resume_later(task, 0)
            else:
                request._waiters.append(task)
        elif isinstance(request, int):
            self._resume_later(task, request)
        else:  # pragma: no cover - a programming error in a task
            raise TypeError(f"task yielded {request!r}; expected int, Signal or None")

    def signal(self, name: str = "") -> Signal:
        s = Signal(name)
        s._scheduler = self
        return s
