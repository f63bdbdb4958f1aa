"""The Textual TUI: one screen to watch, step and search every event, live or recorded.

``NvmeScopeApp(source)`` is the app; ``LiveSource`` and ``open_source`` make its
source (a live session or a recording). ``docs/tui.md`` describes how state
reaches the panels.
"""

from nvmescope.ui.app import NvmeScopeApp
from nvmescope.ui.source import LiveSource, Moment, Source, open_source

__all__ = ["LiveSource", "Moment", "NvmeScopeApp", "Source", "open_source"]
