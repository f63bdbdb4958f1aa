"""Replaying a recording's host inputs on a fresh device gives the same events, or says where not."""

from __future__ import annotations

import msgspec
import pytest

from nvmescope.host import SCENARIOS
from nvmescope.machine import Machine
from nvmescope.trace import Recorder, RecordingError, TraceWriter, open_recording, record, verify
from nvmescope.trace.format import Header
from nvmescope.trace.replay import fresh_machine


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    base = tmp_path_factory.mktemp("replay")
    out = {}
    for name in sorted(SCENARIOS):
        path = base / f"{name}.nvmetrace"
        record(name, path, chunk_events=64, checkpoint_every=256)
        out[name] = path
    return out


def rewrite(src, dst, change):
    """Copy a recording, passing each (n, event) through ``change``."""
    rec = open_recording(src)
    with TraceWriter(dst, msgspec.structs.replace(rec.header), chunk_events=64) as w:
        for n, e in enumerate(rec.events()):
            w.append(change(n, e))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_replays_identically(recordings, name):
    result = verify(recordings[name])
    assert result.ok, result.describe()
    assert result.checked == result.total == len(open_recording(recordings[name]))
    assert result.divergence is None


def test_jsonl_recording_replays_too(tmp_path):
    path = tmp_path / "i.nvmetrace"
    summary = record("identify", path, fmt="jsonl")
    result = verify(path)
    assert result.ok and result.checked == summary.events


def test_a_changed_device_event_is_the_divergence(recordings, tmp_path):
    src = recordings["identify"]
    events = list(open_recording(src).events())
    k = max(n for n, e in enumerate(events) if e.kind == "cqe_post")
    dst = tmp_path / "changed.nvmetrace"
    rewrite(src, dst, lambda n, e: msgspec.structs.replace(e, dw0=0xBAD) if n == k else e)
    result = verify(dst)
    assert not result.ok
    d = result.divergence
    assert d.index == k
    assert d.expected.dw0 == 0xBAD
    assert d.actual == events[k]
    assert d.fields == ["dw0"]
    assert f"event {k}" in result.describe()


def test_a_changed_host_input_diverges_where_the_device_answers_differently(recordings, tmp_path):
    src = recordings["bringup"]
    events = list(open_recording(src).events())
    # the host writes a different CC: the device's register value after the write differs
    k = next(n for n, e in enumerate(events) if e.kind == "mmio_write" and e.reg == "cc")
    dst = tmp_path / "cc.nvmetrace"
    rewrite(
        src, dst, lambda n, e: msgspec.structs.replace(e, value=e.value ^ 0x10) if n == k else e
    )
    d = verify(dst).divergence
    assert d is not None and d.index == k
    assert d.actual.kind == "mmio_write" and d.actual.value == events[k].value ^ 0x10


def test_another_configuration_diverges_at_the_first_register_it_changes(recordings, tmp_path):
    src = recordings["bringup"]
    rec = open_recording(src)
    header = msgspec.structs.replace(rec.header, config={**rec.config, "mqes": 63})
    dst = tmp_path / "mqes.nvmetrace"
    with TraceWriter(dst, header) as w:
        w.extend(rec.events())
    d = verify(dst).divergence
    first_cap = next(
        n for n, e in enumerate(rec.events()) if e.kind == "mmio_read" and e.reg.startswith("cap")
    )
    assert d is not None and d.index == first_cap
    assert d.expected.value != d.actual.value


def test_a_missing_device_event_is_reported(recordings, tmp_path):
    src = recordings["identify"]
    events = list(open_recording(src).events())
    k = next(n for n, e in enumerate(events) if e.kind == "dma_write")
    dst = tmp_path / "gap.nvmetrace"
    kept = events[:k] + events[k + 1 :]
    with TraceWriter(dst, open_recording(src).header) as w:  # renumbered: a gap is damage
        w.extend(msgspec.structs.replace(e, seq=n) for n, e in enumerate(kept))
    d = verify(dst).divergence
    assert d is not None and d.index == k


def test_replay_stops_where_asked_and_rebuilds_the_recorded_machine(recordings):
    rec = open_recording(recordings["admin-tour"])
    result = verify(rec, stop=100)
    assert result.ok and result.checked == 100
    m = fresh_machine(rec)
    assert m.config == Machine().config
    assert m.events == []


def test_recorder_attached_late_still_starts_at_event_zero(tmp_path):
    m = Machine(None, "identify")
    for _ in range(50):
        m.step()
    path = tmp_path / "late.nvmetrace"
    rec = Recorder.attach(m, path)
    m.run()
    summary = rec.close()
    assert summary.events == len(m.events)
    assert list(open_recording(path).events()) == m.events
    assert verify(path).ok


def test_empty_recording_verifies(tmp_path):
    path = tmp_path / "empty.nvmetrace"
    TraceWriter(path, Header()).close()
    result = verify(path)
    assert result.ok and result.total == 0


@pytest.mark.parametrize(
    "config, words",
    [
        ({"msix_vectors": 10**9}, "msix_vectors"),
        ({"mqes": -1}, "mqes"),
        ({"serial": 5}, "serial"),
        ({"lba_formats": "nonsense"}, "lba_formats"),
    ],
)
def test_a_hostile_configuration_is_a_recording_error(tmp_path, config, words):
    path = tmp_path / "hostile.nvmetrace"
    TraceWriter(path, Header(config=config)).close()
    with pytest.raises(RecordingError) as err:
        verify(path)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_bytes_divergence_names_the_first_byte_and_shows_a_short_hexdump(recordings, tmp_path):
    src = recordings["identify"]
    events = list(open_recording(src).events())
    k = next(n for n, e in enumerate(events) if e.kind == "dma_write" and len(e.data) == 4096)

    def change(n, e):
        if n != k:
            return e
        data = bytearray(e.data)
        for at in (77, 80, 4000):
            data[at] ^= 0x06
        return msgspec.structs.replace(e, data=bytes(data))

    dst = tmp_path / "data.nvmetrace"
    rewrite(src, dst, change)
    d = verify(dst).divergence
    assert d is not None and d.index == k and d.fields == ["data"]
    text = d.describe()
    lines = text.splitlines()
    want, got = events[k].data[77] ^ 0x06, events[k].data[77]
    assert (
        f"data differs at offset 0x4d (byte 77): expected {want:02x}, actual {got:02x}; "
        "3 bytes differ\n  offset 0x4d is in field mdts, Maximum Data Transfer Size (MDTS)\n"
        in text
    )
    dump = [line for line in lines if "  expected  " in line or "  actual    " in line]
    assert len(dump) == 6  # 3 rows of 16 bytes, each as expected and actual
    assert [line.split()[0] for line in dump[::2]] == ["0030", "0040", "0050"]
    assert len(text) < 1500 and max(len(line) for line in lines) < 120
    # the events themselves are printed once each
    assert sum("expected:" in line for line in lines) == 1
    assert sum("actual:" in line for line in lines) == 1
    assert "expected:" not in d.describe(events=False)


def test_a_length_difference_and_a_difference_in_the_last_row_are_described():
    from nvmescope.trace.replay import describe_bytes

    lines = describe_bytes("data", bytes(20), bytes(19) + b"\x05")
    assert (
        lines[0] == "data differs at offset 0x13 (byte 19): expected 00, actual 05; 1 byte differs"
    )
    assert [line.split()[0] for line in lines[1::2]] == ["0000", "0010"]
    lines = describe_bytes("data", bytes(8), bytes(4))
    assert lines[0] == "data length differs: expected 8 bytes, actual 4 bytes"
    assert lines[1].startswith("data differs at offset 0x4 (byte 4): expected 00, actual (none)")


def test_a_divergence_keeps_the_three_events_before_it(recordings, tmp_path):
    src = recordings["identify"]
    events = list(open_recording(src).events())
    k = max(n for n, e in enumerate(events) if e.kind == "cqe_post")
    dst = tmp_path / "ctx.nvmetrace"
    rewrite(src, dst, lambda n, e: msgspec.structs.replace(e, dw0=7) if n == k else e)
    d = verify(dst).divergence
    assert d.context == events[k - 3 : k]
    assert d.context_first == k - 3
    assert "dw0: expected 7, actual " in d.describe()


def test_configuration_knobs_a_replay_ignores_are_warned_about(recordings, tmp_path):
    rec = open_recording(recordings["bringup"])
    header = msgspec.structs.replace(rec.header, config={**rec.config, "warp_drive": 9})
    dst = tmp_path / "knob.nvmetrace"
    with TraceWriter(dst, header) as w:
        w.extend(rec.events())
    result = verify(dst)
    assert result.ok
    [warning] = result.warnings
    assert "warp_drive=9" in warning and "ignores" in warning
    assert verify(recordings["bringup"]).warnings == []


def test_an_empty_recording_says_it_has_no_events(tmp_path):
    path = tmp_path / "empty.nvmetrace"
    TraceWriter(path, Header()).close()
    result = verify(path)
    assert "no events" in result.describe() and "0 of 0" not in result.describe()
    assert open_recording(path).range_text() == "no events"


def test_a_recorded_configuration_no_controller_could_have_is_refused(tmp_path):
    from nvmescope.trace import RecordingError, TraceWriter, open_recording, record, verify

    good = tmp_path / "good.nvmetrace"
    record("bringup", good)
    rec = open_recording(good)
    header = rec.header
    header.config = dict(header.config, serial="A" * 40)
    bad = tmp_path / "bad.nvmetrace"
    writer = TraceWriter(bad, header)
    for event in rec.events():
        writer.append(event)
    writer.close()
    with pytest.raises(RecordingError, match="serial is at most 20 characters"):
        verify(open_recording(bad))


def test_an_sqe_divergence_names_the_field_from_the_decoders(recordings, tmp_path):
    src = recordings["identify"]
    events = list(open_recording(src).events())
    k = next(n for n, e in enumerate(events) if e.kind == "sqe_fetch" and e.sqid == 0)

    def change(n, e):
        if n != k:
            return e
        data = bytearray(e.data)
        data[4] ^= 0x02  # NSID
        return msgspec.structs.replace(e, data=bytes(data))

    dst = tmp_path / "sqe.nvmetrace"
    rewrite(src, dst, change)
    text = verify(dst).divergence.describe()
    assert "data differs at offset 0x4 (byte 4): expected" in text
    assert "offset 0x4 is in field nsid, Namespace Identifier (NSID)" in text


def test_log_entries_and_unknown_bytes_are_described():
    from nvmescope import events as ev
    from nvmescope.trace.replay import bytes_layout, field_at

    log = ev.DmaWrite(addr=0, length=128, data=bytes(128), purpose="log 0x01", sqid=0, cid=1)
    layout, ctx = bytes_layout(log)
    assert layout == "error_log_entry"
    assert field_at(layout, ctx, log.data, 64 + 8).startswith("entry 1: ")
    cqe = ev.MemRead(addr=0, data=bytes(16), purpose="CQE CQ0 slot 0: phase 1")
    assert field_at(*bytes_layout(cqe), cqe.data, 12).startswith("cid")
    assert bytes_layout(ev.DmaWrite(addr=0, length=4, data=bytes(4), purpose="read data")) is None
    # Identify data needs the CNS of its SQE
    ident = ev.DmaWrite(addr=0, length=4096, data=bytes(4096), purpose="identify", sqid=0, cid=1)
    assert bytes_layout(ident) is None
    sqe = bytearray(64)
    sqe[40] = 0x00
    assert bytes_layout(ident, bytes(sqe))[0] == "identify_ns"
