"""Recordings and everything that reads them.

The recording part (format, recorder, reader, state fold, replay) is
re-exported here; filters, exporters and importers live in their own modules.
"""

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
