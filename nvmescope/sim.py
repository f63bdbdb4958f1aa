"""Virtual time and a deterministic scheduler for host and device work.

Nothing here reads the wall clock. Time is an integer count of nanoseconds
that only moves when the scheduler runs the next piece of work. Work is either
a plain callable or a *task*: a generator that runs until its next ``yield``.
A task yields

- an ``int``: sleep that many nanoseconds of virtual time, then resume;
- a :class:`Signal`: resume when somebody fires the signal;
- ``None``: resume at the same virtual time, after the work already queued.

Ties are broken first by whose work it is, then by the order in which work was
scheduled: at one virtual time the device's work runs before the host's (work
scheduled with ``host=True``, and every later step of a task spawned that way).
A host access therefore always comes after everything the device had due at
that instant (``HostAPI`` also finishes that work, with :meth:`Scheduler.settle`,
before each access), so the order of execution depends on virtual time alone
and a replay, which has no host work queued, reproduces it exactly.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

#: a task: a generator the scheduler advances (it may return a value to ``yield from``)
Task = Generator[Any, None, Any]

#: the latest virtual time there is (2**64 - 1 ns, about 584 years): an event's time is a
#: u64 in a recording, so no work may be scheduled later
MAX_TIME = (1 << 64) - 1


class TimeLimitError(ValueError):
    """Work was asked for later than :data:`MAX_TIME`. Raised before it is scheduled."""


def _too_late(when: int) -> TimeLimitError:
    return TimeLimitError(
        f"virtual time {when} ns is past {MAX_TIME} ns (2**64 - 1, about 584 years), the "
        "latest a recording holds"
    )


class Signal:
    """An auto-reset wake-up point that tasks wait on (``yield signal``).

    Firing with nobody waiting leaves the signal *pending*: the next task that
    waits on it resumes at once and clears it, so no wake-up is ever lost.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.pending = False
        #: the tasks waiting, each with whose work it is (device or host)
        self._waiters: list[tuple[Task, int]] = []
        self._scheduler: Scheduler | None = None

    def fire(self) -> None:
        """Resume every task waiting on this signal, at the current time."""
        if not self._waiters:
            self.pending = True
            return
        waiters, self._waiters = self._waiters, []
        for task, whose in waiters:
            assert self._scheduler is not None
            self._scheduler._resume_later(task, 0, whose)

    @property
    def waiting(self) -> int:
        return len(self._waiters)


#: a piece of work queued for later: (when, whose, order, work, task); ``whose`` is 0 for
#: the device and 1 for the host. ``order`` is unique, so tuples compare on (when, whose,
#: order) only and the heap never looks at work or task.
_Entry = tuple[int, int, int, Callable[[], None] | None, "Task | None"]
#: a piece of work queued for the current instant, in a FIFO of its own: (order, work, task)
_Now = tuple[int, Callable[[], None] | None, "Task | None"]
DEVICE_WORK, HOST_WORK = 0, 1
# where the next piece of work waits (``Scheduler._source``)
_NOTHING, _HEAP, _DEVICE_NOW, _HOST_NOW = range(4)


class Scheduler:
    """A priority queue of work keyed by (virtual time, whose, order of scheduling).

    Work due later waits in a heap; work queued for the current instant (a task that
    yields ``None``, a signal's waiters, ``call_after(0, ...)``) waits in one FIFO for the
    device and one for the host, which give the same order as the heap would at a
    fraction of its cost. Everything the heap holds for the current instant was queued
    before the clock got there, so it comes before the FIFO of the same ``whose``; the
    device's FIFO comes before the host's heap entries of that instant.
    """

    def __init__(self) -> None:
        self.now: int = 0
        self._queue: list[_Entry] = []
        self._device_now: deque[_Now] = deque()
        self._host_now: deque[_Now] = deque()
        self._order = 0
        #: orders of the callables still queued and not cancelled
        self._live: set[int] = set()
        #: cancelled callables still queued (dropped when they come to the front)
        self._dead = 0
        #: tasks queued (a task waiting on a signal is not queued)
        self._tasks = 0
        #: whose work is running (the task that yields next is queued as that one's)
        self._whose = DEVICE_WORK
        #: True while a piece of work runs (a host access then comes from a task)
        self.running = False

    # -- scheduling -------------------------------------------------------
    def call_at(
        self, when: int, work: Callable[[], None], label: str = "", *, host: bool = False
    ) -> int:
        """Run ``work`` at virtual time ``when`` (never earlier than now)."""
        if when > MAX_TIME:
            raise _too_late(when)
        self._order += 1
        order = self._order
        whose = HOST_WORK if host else DEVICE_WORK
        self._live.add(order)
        if when <= self.now:
            (self._host_now if host else self._device_now).append((order, work, None))
        else:
            heapq.heappush(self._queue, (when, whose, order, work, None))
        return order

    def call_after(
        self, delay: int, work: Callable[[], None], label: str = "", *, host: bool = False
    ) -> int:
        return self.call_at(self.now + max(0, delay), work, label, host=host)

    def cancel(self, handle: int) -> None:
        """Forget queued work (a no-op if it already ran or was cancelled)."""
        if handle in self._live:
            self._live.discard(handle)
            self._dead += 1

    def spawn(self, task: Task, delay: int = 0, label: str = "", *, host: bool = False) -> None:
        """Start a generator task after ``delay`` ns (``host``: it is the host's work)."""
        self._resume_later(task, delay, HOST_WORK if host else DEVICE_WORK)

    def _resume_later(self, task: Task, delay: int, whose: int) -> None:
        if delay <= 0:
            self._order += 1
            self._tasks += 1
            (self._host_now if whose else self._device_now).append((self._order, None, task))
        else:
            when = self.now + delay
            if when > MAX_TIME:
                close = getattr(task, "close", None)  # it never resumes
                if close is not None:
                    close()
                raise _too_late(when)
            self._order += 1
            self._tasks += 1
            heapq.heappush(self._queue, (when, whose, self._order, None, task))

    # -- running ----------------------------------------------------------
    @property
    def idle(self) -> bool:
        return not self._live and not self._tasks

    def _drop_cancelled(self) -> None:
        live = self._live
        queue = self._queue
        while queue and queue[0][3] is not None and queue[0][2] not in live:
            heapq.heappop(queue)
            self._dead -= 1
        for fifo in (self._device_now, self._host_now):
            while fifo and fifo[0][1] is not None and fifo[0][0] not in live:
                fifo.popleft()
                self._dead -= 1

    def _source(self) -> int:
        """Where the earliest piece of work waits (cancelled work dropped first)."""
        if self._dead:
            self._drop_cancelled()
        queue = self._queue
        if self._device_now:
            if queue and queue[0][0] == self.now and queue[0][1] == DEVICE_WORK:
                return _HEAP
            return _DEVICE_NOW
        if queue and queue[0][0] == self.now:
            return _HEAP
        if self._host_now:
            return _HOST_NOW
        return _HEAP if queue else _NOTHING

    def next_time(self) -> int | None:
        source = self._source()
        if source == _NOTHING:
            return None
        return self._queue[0][0] if source == _HEAP else self.now

    def run_one(self) -> bool:
        """Run the earliest piece of work. Returns False when nothing is queued."""
        source = self._source()
        if source == _HEAP:
            when, whose, order, work, task = heapq.heappop(self._queue)
            if when > self.now:
                self.now = when
        elif source == _DEVICE_NOW:
            order, work, task = self._device_now.popleft()
            whose = DEVICE_WORK
        elif source == _HOST_NOW:
            order, work, task = self._host_now.popleft()
            whose = HOST_WORK
        else:
            return False
        if work is not None:
            self._live.discard(order)
        else:
            self._tasks -= 1
        self._whose = whose
        self.running = True
        try:
            if work is not None:
                work()
            elif task is not None:
                self._advance(task, whose)
        finally:
            self.running = False
        return True

    def _device_due(self) -> bool:
        """The earliest piece of work is the device's, due now."""
        source = self._source()
        if source == _DEVICE_NOW:
            return True
        if source != _HEAP:
            return False
        when, whose = self._queue[0][0], self._queue[0][1]
        return when <= self.now and whose == DEVICE_WORK

    def settle(self, max_steps: int) -> int:
        """Run the device's work due at or before now (no host work, nothing later);
        returns how many pieces ran.

        The host calls this before each access (from a script or from inside a host
        task: device work never resumes a host task directly, only queues it), so that
        its access always comes after everything the device had due at that instant.
        Stops after ``max_steps`` (the caller decides whether that is an error).
        """
        ran = 0
        while ran < max_steps and self._device_due():
            running, whose = self.running, self._whose
            self.run_one()
            self.running, self._whose = running, whose
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

    def _advance(self, task: Task, whose: int) -> None:
        try:
            request = next(task)
        except StopIteration:
            return
        if request is None:
            self._resume_later(task, 0, whose)
        elif isinstance(request, int):
            self._resume_later(task, request, whose)
        elif isinstance(request, Signal):
            request._scheduler = self
            if request.pending:
                request.pending = False
                self._resume_later(task, 0, whose)
            else:
                request._waiters.append((task, whose))
        else:  # pragma: no cover - a programming error in a task
            raise TypeError(f"task yielded {request!r}; expected int, Signal or None")

    def signal(self, name: str = "") -> Signal:
        s = Signal(name)
        s._scheduler = self
        return s
