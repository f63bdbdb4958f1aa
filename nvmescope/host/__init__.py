"""The host side: host physical memory, the script API, the Linux driver model, scenarios.

Public API (see ``docs/architecture.md`` and ``docs/host-api.md``)::

    HostMemory, InterruptController   host RAM (implements the emulator's HostPort)
    HostAPI                           the script API every host program uses
    LinuxDriver, Completion           the driver model (uses HostAPI only)
    IoCommand                         one command of a batch (LinuxDriver.submit_batch)
    SCENARIOS, Scenario               named, documented host programs
"""

from .api import HostAPI
from .driver import Completion, IoCommand, LinuxDriver
from .memory import HostMemory, HostMemoryError, InterruptController
from .scenarios import SCENARIOS, ResultRow, Scenario, ScenarioRun

__all__ = [
    "SCENARIOS",
    "Completion",
    "HostAPI",
    "HostMemory",
    "HostMemoryError",
    "InterruptController",
    "IoCommand",
    "LinuxDriver",
    "ResultRow",
    "Scenario",
    "ScenarioRun",
]
