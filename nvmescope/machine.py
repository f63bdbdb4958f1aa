"""One Machine: host memory + controller + host API + driver/scenario + bus + clock.

    m = Machine()                    # the default controller, running the ``bringup`` scenario
    e = m.step()                     # exactly one more event
    m.run_until(lambda e: e.kind == "cqe_post")
    events = m.run()                 # to idle
    m.events                         # every event so far

``Machine(scenario="io-load", params={"count": 1000})`` passes a scenario its
parameters (see ``nvmescope.host.scenarios``); an unknown one is a ``ValueError``.

``Machine(..., keep_events=False)`` keeps no list of events (for long runs that
a recorder writes to a file), and its driver keeps only the newest
:data:`DRIVER_HISTORY` commands and interrupts (with every one still outstanding and
the bring-up's): such a run of any length stays in bounded memory.

``Machine(scenario=None)`` gives a machine with nothing running: drive it by
hand through ``m.api`` (see ``docs/host-api.md``).

A configuration with a file-backed namespace opens and locks that file when the
Machine is made (``emulator.namespace.BackingFileError`` when it cannot);
:meth:`Machine.close` lets it go.

A step is one event. :meth:`Machine.step` runs scheduled work until one more
event has been emitted and returns it; when one piece of work emitted more
than one event (a host access and the ``ub_*`` it caused, say), the extra
events wait in a FIFO and the next calls return them, one each, before any
more work runs. Same configuration + same scenario = the same events, byte
for byte.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from nvmescope.emulator import Controller, ControllerConfig
from nvmescope.eventlog import EventLog
from nvmescope.events import Event, EventBus
from nvmescope.host import SCENARIOS, HostAPI, HostMemory, InterruptController, ScenarioRun
from nvmescope.host.driver import LinuxDriver
from nvmescope.host.platform import Platform
from nvmescope.sim import Scheduler

#: commands (and interrupts) the driver of a Machine that keeps no events holds at least
DRIVER_HISTORY = 4096


class UnknownScenario(ValueError):
    """The scenario name is not in SCENARIOS."""


class Machine:
    """The whole emulated computer. See the module docstring."""

    def __init__(
        self,
        config: ControllerConfig | None = None,
        scenario: str | None = "bringup",
        params: dict[str, int] | None = None,
        *,
        keep_events: bool = True,
    ) -> None:
        if scenario is not None and scenario not in SCENARIOS:
            names = ", ".join(sorted(SCENARIOS))
            raise UnknownScenario(f"unknown scenario {scenario!r}; choose one of: {names}")
        if config is None:
            # a scenario that needs knobs of its own (``sgl``: SGLs) gets them by default
            wanted = SCENARIOS[scenario].knobs if scenario in SCENARIOS else {}
            config = ControllerConfig(**wanted)
        self.config = config
        self.sched = Scheduler()
        # the clock reads the scheduler's now with no Python frame of its own (every event)
        self.bus = EventBus(clock=functools.partial(getattr, self.sched, "now"))
        #: every event so far, kept compactly (``nvmescope.eventlog``); stays empty with
        #: ``keep_events=False`` (a recorder that writes them to a file is then the only
        #: copy, and memory stays bounded)
        self.events = EventLog()
        if keep_events:
            self.bus.subscribe(self.events.append)
        self.irq = InterruptController(self.sched)
        self.mem = HostMemory(self.bus, self.irq)
        self.ctrl = Controller(self.config, self.bus, self.sched, self.mem)
        self.api = HostAPI(self.ctrl, self.mem, self.sched, self.bus)
        self.scenario_name = scenario
        self.scenario: ScenarioRun | None = None
        if scenario is not None:
            platform = Platform(
                interrupt_line=self.config.interrupt_line, intx_irq=self.config.intx_irq
            )
            self.scenario = SCENARIOS[scenario].run(self.api, platform=platform, **(params or {}))
            if not keep_events:
                # a long run keeps neither every event nor every command and interrupt
                self.scenario.driver.history_limit = DRIVER_HISTORY

    @property
    def driver(self) -> LinuxDriver | None:
        """The scenario's driver (None for a hand-driven machine)."""
        return self.scenario.driver if self.scenario is not None else None

    @property
    def now(self) -> int:
        return self.sched.now

    @property
    def idle(self) -> bool:
        """Nothing left to run and no event waiting to be returned."""
        return self.sched.idle and not self.api.pending_events

    def step(self) -> Event | None:
        """Run work until exactly one more event was emitted; return it (None when idle)."""
        return self.api.step()

    def run_until(self, pred: Callable[[Event], bool]) -> Event | None:
        """Step until ``pred(event)``; return that event (None if the machine went idle)."""
        return self.api.run_until(pred)

    def run(self) -> list[Event]:
        """Run to idle; return the events this call stepped over (``events`` has them all)."""
        return self.api.run_until_idle()

    def close(self) -> None:
        """Let the device's backing stores go (a file-backed namespace's file is closed and
        unlocked, for another Machine or process to open). Idempotent; the machine is not
        to be run after it."""
        self.ctrl.close()

    def snapshot(self) -> dict[str, object]:
        """The device's observable state plus the virtual time."""
        return {"now": self.sched.now, "device": self.ctrl.snapshot()}
