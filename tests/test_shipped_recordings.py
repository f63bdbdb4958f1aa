"""recordings/ ships a recording of every scenario; each replays identically today.

A change to the emulator or the host model that changes behaviour shows up
here as a divergence. If the change is intended, regenerate the recordings on
purpose with `nvmescope regenerate-recordings` and commit them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nvmescope.host import SCENARIOS
from nvmescope.trace import open_recording, verify
from nvmescope.trace.qemu_import import import_qemu_trace

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = ROOT / "recordings"
QEMU_LOG = ROOT / "reference/linux-6.1-on-qemu-7.2/qemu-trace-pci_nvme.log"


def test_every_scenario_has_a_shipped_recording():
    shipped = {
        p.stem for p in RECORDINGS.glob("*.nvmetrace")
        if not p.stem.startswith(("qemu-", "linux-"))  # an import, real guests' runs
    }  # fmt: skip
    assert shipped == set(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_shipped_recording_replays_identically(name):
    rec = open_recording(RECORDINGS / f"{name}.nvmetrace")
    assert rec.warnings == []
    assert rec.scenario == name
    result = verify(rec)
    assert result.ok, result.describe()
    assert result.checked == len(rec) > 100


def test_the_shipped_qemu_import_is_what_importing_the_reference_gives_today():
    rec = open_recording(RECORDINGS / "qemu-linux-6.1-bringup.nvmetrace")
    fresh = import_qemu_trace(QEMU_LOG)
    assert list(rec.events()) == fresh.events
