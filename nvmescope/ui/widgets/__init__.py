"""The widgets of the TUI, one module each; import them from here."""

from nvmescope.ui.widgets._bars import PanelBar, StatusBar
from nvmescope.ui.widgets._checks import ChecksPanel
from nvmescope.ui.widgets._commands import CommandsPanel
from nvmescope.ui.widgets._detail import DetailPanel
from nvmescope.ui.widgets._fieldtree import FieldTree
from nvmescope.ui.widgets._hexview import HexRegion, HexView
from nvmescope.ui.widgets._input import InOrderInput
from nvmescope.ui.widgets._interrupts import InterruptsPanel
from nvmescope.ui.widgets._lesson import LessonBar, LessonRun
from nvmescope.ui.widgets._memory import MemoryPanel
from nvmescope.ui.widgets._panel import Panel
from nvmescope.ui.widgets._queues import QueuesPanel
from nvmescope.ui.widgets._registers import RegistersPanel, doorbell_value
from nvmescope.ui.widgets._rowview import RowView
from nvmescope.ui.widgets._timeline import Timeline, TimelinePanel

__all__ = [
    "ChecksPanel",
    "CommandsPanel",
    "DetailPanel",
    "FieldTree",
    "HexRegion",
    "HexView",
    "InOrderInput",
    "InterruptsPanel",
    "LessonBar",
    "LessonRun",
    "MemoryPanel",
    "Panel",
    "PanelBar",
    "QueuesPanel",
    "RegistersPanel",
    "RowView",
    "StatusBar",
    "Timeline",
    "TimelinePanel",
    "doorbell_value",
]
