"""Recordings and everything that reads them.

The recording part (format, recorder, reader, state fold, replay) is
re-exported here; filters, exporters and importers live in their own modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each name and the module that defines it. They are imported on first use
# (PEP 562), so reading a recording does not import the recorder, replay and
# with them the whole emulator: the TUI's first paint waits on every import.
_HOME = {
    "EXTENSION": "format",
    "FORMAT_NAME": "format",
    "FORMAT_VERSION": "format",
    "Header": "format",
    "RecordingError": "format",
    "RecordingSummary": "format",
    "TraceWriter": "format",
    "Recording": "reader",
    "open_recording": "reader",
    "Recorder": "recorder",
    "convert": "recorder",
    "record": "recorder",
    "Divergence": "replay",
    "VerifyResult": "replay",
    "verify": "replay",
    "State": "state",
    "apply": "state",
    "fold": "state",
}

__all__ = [
    "EXTENSION",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Divergence",
    "Header",
    "Recorder",
    "Recording",
    "RecordingError",
    "RecordingSummary",
    "State",
    "TraceWriter",
    "VerifyResult",
    "apply",
    "convert",
    "fold",
    "open_recording",
    "record",
    "verify",
]

if TYPE_CHECKING:
    from nvmescope.trace.format import (
        EXTENSION,
        FORMAT_NAME,
        FORMAT_VERSION,
        Header,
        RecordingError,
        RecordingSummary,
        TraceWriter,
    )
    from nvmescope.trace.reader import Recording, open_recording
    from nvmescope.trace.recorder import Recorder, convert, record
    from nvmescope.trace.replay import Divergence, VerifyResult, verify
    from nvmescope.trace.state import State, apply, fold


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'nvmescope.trace' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"nvmescope.trace.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
