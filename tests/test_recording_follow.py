"""A recording read back while it is written (a live session), and saved as a copy."""

from __future__ import annotations

import msgspec
import pytest

from nvmescope.machine import Machine
from nvmescope.trace import Recorder, RecordingError, open_recording, verify
from nvmescope.trace.recorder import synthetic_admin_events


def _builtins(events):
    return [msgspec.to_builtins(e) for e in events]


def test_a_followed_recording_sees_every_chunk_the_writer_flushes(tmp_path):
    machine = Machine(None, "identify", keep_events=False)
    rec = Recorder.attach(machine, tmp_path / "live.nvmetrace", chunk_events=16)
    for _ in range(5):
        machine.step()
    rec.writer.flush()
    reader = open_recording(tmp_path / "live.nvmetrace", follow=True)
    assert len(reader) == 5
    assert reader.warnings == []  # still being written is no news
    for _ in range(100):
        machine.step()
    assert reader.grow() == 96  # 6 full chunks of 16 were flushed by the writer on its own
    rec.writer.flush()
    assert reader.grow() == 4
    assert len(reader) == 105
    again = Machine(None, "identify")
    for _ in range(105):
        again.step()
    assert _builtins(reader.events()) == _builtins(again.events)
    reader.close()
    rec.close()


def test_states_of_a_followed_recording_match_a_closed_one(tmp_path):
    path = tmp_path / "live.nvmetrace"
    machine = Machine(None, "identify", keep_events=False)
    rec = Recorder.attach(machine, path, chunk_events=32, checkpoint_every=64)
    machine.step()
    rec.writer.flush()
    reader = open_recording(path, follow=True)
    while machine.step() is not None:
        if machine.sched.now % 7 == 0:
            rec.writer.flush()
    rec.writer.flush()
    reader.grow()
    rec.close()
    closed = open_recording(path)
    assert len(reader) == len(closed)
    assert reader.checkpoints == closed.checkpoints[: len(reader.checkpoints)]
    for n in (0, 63, 64, 200, len(closed) - 1):
        assert reader.state_at(n).to_builtins() == closed.state_at(n).to_builtins()


def test_a_closed_recording_does_not_grow(tmp_path):
    path = tmp_path / "done.nvmetrace"
    machine = Machine(None, "identify", keep_events=False)
    Recorder.attach(machine, path).close()
    rec = open_recording(path, follow=True)
    assert rec.complete and rec.grow() == 0


def test_a_json_lines_recording_cannot_be_followed(tmp_path):
    path = tmp_path / "x.nvmetrace"
    machine = Machine(None, "identify", keep_events=False)
    r = Recorder.attach(machine, path, fmt="jsonl")
    machine.step()
    r.close()
    with pytest.raises(RecordingError, match="only a binary recording"):
        open_recording(path, follow=True)


def test_a_saved_copy_is_a_complete_recording_that_verifies(tmp_path):
    machine = Machine(None, "identify", keep_events=False)
    rec = Recorder.attach(machine, tmp_path / "live.nvmetrace", scenario="identify")
    for _ in range(150):
        machine.step()
    stats = rec.writer.save_copy(tmp_path / "copy.nvmetrace")
    assert stats.events == 150
    copy = open_recording(tmp_path / "copy.nvmetrace")
    assert copy.complete and copy.warnings == [] and len(copy) == 150
    assert copy.scenario == "identify"
    assert verify(copy).ok
    # the writer goes on, and a later copy holds more
    for _ in range(50):
        machine.step()
    rec.writer.save_copy(tmp_path / "copy.nvmetrace")
    assert len(open_recording(tmp_path / "copy.nvmetrace")) == 200
    assert list(tmp_path.glob(".*partial")) == []
    rec.close()
    assert len(open_recording(tmp_path / "live.nvmetrace")) == 200


def test_a_failed_save_leaves_no_partial_file(tmp_path):
    from nvmescope.trace import TraceWriter

    writer = TraceWriter(tmp_path / "w.nvmetrace")
    writer.extend(synthetic_admin_events(100))
    with pytest.raises(OSError):
        writer.save_copy(tmp_path / "no-such-dir" / "x.nvmetrace")
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError):
        writer.save_copy(tmp_path / "d")  # a directory: the rename onto it fails
    assert (tmp_path / "d").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "w.nvmetrace"]
    writer.close()


def test_a_machine_that_keeps_no_events_still_records_them_all(tmp_path):
    machine = Machine(None, "identify", keep_events=False)
    rec = Recorder.attach(machine, tmp_path / "r.nvmetrace")
    machine.run()
    rec.close()
    assert machine.events == []
    assert len(open_recording(tmp_path / "r.nvmetrace")) == len(Machine(None, "identify").run())
