"""Long runs keep their events only where they go: `record()` and `nvmescope record`
write them to the file, `nvmescope trace` prints them, and each runs its Machine with
``keep_events=False``, so memory does not grow with every event (it did: about 0.8 KB
an event, 206 MB peak for a 220,000-event io-load recording). The recording still holds
every event, and is the same file as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import nvmescope.machine
from nvmescope.cli import app
from nvmescope.trace import open_recording, record


@pytest.fixture
def machines(monkeypatch) -> list[nvmescope.machine.Machine]:
    """Every Machine made while the test runs (the recorders make theirs inside)."""
    made: list[nvmescope.machine.Machine] = []

    class Seen(nvmescope.machine.Machine):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(nvmescope.machine, "Machine", Seen)
    return made


def check_only_the_file_has_them(machines, path: Path) -> None:
    assert len(machines) == 1
    machine = machines[0]
    assert machine.bus.seq > 2000  # the run made its events ...
    assert machine.events == []  # ... and kept none of them
    with open_recording(path) as rec:  # the file has every one, from 0
        assert len(rec) == machine.bus.seq
        assert rec.event(0).seq == 0 and rec.event(len(rec) - 1).seq == machine.bus.seq - 1


def test_record_keeps_the_events_in_the_file_only(machines, tmp_path):
    path = tmp_path / "io-load.nvmetrace"
    summary = record("io-load", path, params={"count": 64})
    check_only_the_file_has_them(machines, path)
    assert summary.events == machines[0].bus.seq


def test_the_record_command_keeps_the_events_in_the_file_only(machines, tmp_path):
    path = tmp_path / "io-load.nvmetrace"
    result = CliRunner().invoke(app, ["record", "io-load", "-p", "count=64", "-o", str(path)])
    assert result.exit_code == 0, result.stderr
    check_only_the_file_has_them(machines, path)


def test_a_recording_made_so_is_the_file_a_kept_list_gave(tmp_path):
    # the events a Machine keeps and the file a recorder writes of the same run agree
    path = tmp_path / "io.nvmetrace"
    record("io", path)
    kept = nvmescope.machine.Machine(scenario="io")
    kept.run()
    with open_recording(path) as rec:
        assert list(rec.events()) == kept.events


def test_the_trace_command_prints_every_event_and_keeps_none(machines):
    result = CliRunner().invoke(app, ["trace", "io-load", "-p", "count=64"])
    assert result.exit_code == 0, result.stderr
    assert len(machines) == 1
    machine = machines[0]
    assert machine.events == []
    lines = [x for x in result.stdout.splitlines() if not x.startswith("#")]
    assert len(lines) == machine.bus.seq > 2000
