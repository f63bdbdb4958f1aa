"""Damaged files: a one-line RecordingError, or a partial load with a warning; nothing else."""

from __future__ import annotations

import random
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hostile_recordings import rewrite_header

from nvmescope.trace import RecordingError, TraceWriter, open_recording
from nvmescope.trace.format import FILE_HEADER, FRAME_HEADER, MAGIC
from nvmescope.trace.recorder import synthetic_admin_events

EVENTS = list(synthetic_admin_events(600))


def write(path, fmt="msgpack", n=600):
    with TraceWriter(path, fmt=fmt, chunk_events=50, checkpoint_every=100) as w:
        w.extend(EVENTS[:n])
    return path


def read_everything(path):
    """Open and touch every event and some states; returns the recording."""
    rec = open_recording(path)
    events = list(rec.events())
    assert len(events) == len(rec)
    if len(rec):
        rec.state_at(len(rec) - 1).materialize()
        rec.state_at(len(rec) // 2).materialize()
    return rec


def assert_one_line(err, path):
    text = str(err)
    assert "\n" not in text
    assert str(path) in text


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return write(tmp_path_factory.mktemp("good") / "good.nvmetrace").read_bytes()


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "empty file (0 bytes)"),
        (b"hello, world\n" * 10, "magic"),
        (random.Random(7).randbytes(1000), "magic"),
        (MAGIC, "truncated"),
        (b'{"not": "ours"}\n', "not an nvmescope recording"),
        (b"{\n", "not JSON"),
    ],
    ids=["empty", "text", "random", "magic-only", "other-json", "broken-json"],
)
def test_files_that_are_not_recordings(tmp_path, content, words):
    path = tmp_path / "x.nvmetrace"
    path.write_bytes(content)
    with pytest.raises(RecordingError) as err:
        read_everything(path)
    assert words in str(err.value)
    assert_one_line(err.value, path)


def test_missing_file_and_directory(tmp_path):
    for path, words in [(tmp_path / "nope.nvmetrace", "no such file"), (tmp_path, "directory")]:
        with pytest.raises(RecordingError) as err:
            open_recording(path)
        assert words in str(err.value)
        assert_one_line(err.value, path)


def test_newer_major_version_is_refused_newer_minor_is_read(tmp_path, good):
    _, major, minor, hlen, hcrc = FILE_HEADER.unpack(good[: FILE_HEADER.size])
    newer = tmp_path / "newer.nvmetrace"
    newer.write_bytes(FILE_HEADER.pack(MAGIC, 2, 0, hlen, hcrc) + good[FILE_HEADER.size :])
    with pytest.raises(RecordingError) as err:
        open_recording(newer)
    assert "version 2.0 is newer" in str(err.value)
    # a writer of a newer minor says its version in the file header and in the header map
    minor_up = tmp_path / "minor.nvmetrace"
    minor_up.write_bytes(rewrite_header(good, lambda h: h.__setitem__("version", [1, 7]), (1, 7)))
    rec = read_everything(minor_up)
    assert len(rec) == 600
    assert any("1.7" in w for w in rec.warnings)


def test_jsonl_newer_version_is_refused(tmp_path):
    path = write(tmp_path / "j.nvmetrace", fmt="jsonl")
    text = path.read_text().replace('"version":[1,0]', '"version":[3,1]', 1)
    path.write_text(text)
    with pytest.raises(RecordingError, match="newer"):
        open_recording(path)


def test_truncation_opens_up_to_the_last_complete_chunk(tmp_path, good):
    path = tmp_path / "cut.nvmetrace"
    path.write_bytes(good[: len(good) // 2])
    rec = read_everything(path)
    assert 0 < len(rec) < 600 and len(rec) % 50 == 0
    assert list(rec.events()) == EVENTS[: len(rec)]
    assert len(rec.warnings) == 1
    assert f"{len(rec)} events" in rec.warnings[0]
    assert "not closed" in rec.warnings[0]


def test_corrupted_chunk_is_reported_when_read(tmp_path, good):
    data = bytearray(good)
    first_frame = FILE_HEADER.size + FILE_HEADER.unpack(good[: FILE_HEADER.size])[3]
    data[first_frame + FRAME_HEADER.size + 10] ^= 0x40
    path = tmp_path / "bad.nvmetrace"
    path.write_bytes(bytes(data))
    rec = open_recording(path)  # lazily: the index is sound
    assert rec.event(300) == EVENTS[300]
    with pytest.raises(RecordingError) as err:
        rec.event(3)
    assert "checksum" in str(err.value) and "chunk 0" in str(err.value)
    assert_one_line(err.value, path)
    assert pytest.raises(RecordingError, rec.verify_all)


def test_absurd_frame_length_stops_the_scan_with_a_warning(tmp_path, good):
    # drop the trailer so the reader walks the frames, and make frame 3 claim 2 GiB
    hlen = FILE_HEADER.unpack(good[: FILE_HEADER.size])[3]
    offset = FILE_HEADER.size + hlen
    data = bytearray(good[:-24])
    for _ in range(3):
        plen = FRAME_HEADER.unpack_from(data, offset)[2]
        offset += FRAME_HEADER.size + plen
    fields = list(FRAME_HEADER.unpack_from(data, offset))
    fields[2] = 0x7FFF_FFFF
    head = FRAME_HEADER.pack(*fields)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    data[offset : offset + FRAME_HEADER.size] = head
    path = tmp_path / "absurd.nvmetrace"
    path.write_bytes(bytes(data))
    rec = read_everything(path)
    assert 0 < len(rec) < 600
    assert "absurd" in rec.warnings[0]


def test_damaged_index_falls_back_to_reading_frame_by_frame(tmp_path, good):
    data = bytearray(good)
    data[-30] ^= 0xFF  # inside the index frame's payload
    path = tmp_path / "idx.nvmetrace"
    path.write_bytes(bytes(data))
    rec = read_everything(path)
    assert len(rec) == 600
    assert "index" in rec.warnings[0]
    assert list(rec.events()) == EVENTS


def test_jsonl_cut_mid_line(tmp_path):
    path = write(tmp_path / "j.nvmetrace", fmt="jsonl")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    rec = read_everything(path)
    assert 0 < len(rec) < 600
    assert list(rec.events()) == EVENTS[: len(rec)]
    assert any("not closed" in w for w in rec.warnings)


def mutate(data: bytes, kind: str, pos: int, value: int, length: int) -> bytes:
    if not data:
        return bytes([value])
    pos %= len(data)
    if kind == "flip":
        out = bytearray(data)
        out[pos] ^= 1 << (value % 8)
        return bytes(out)
    if kind == "truncate":
        return data[:pos]
    if kind == "insert":
        return data[:pos] + bytes([value]) * length + data[pos:]
    if kind == "delete":
        return data[:pos] + data[pos + length :]
    out = bytearray(data)  # overwrite
    out[pos : pos + length] = bytes([value]) * length
    return bytes(out)


MUTATION = st.tuples(
    st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite"]),
    st.integers(0, 1 << 30),
    st.integers(0, 255),
    st.integers(1, 64),
)


@pytest.mark.parametrize("fmt", ["msgpack", "jsonl"])
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_mutated_recordings_load_or_raise_recording_error(tmp_path_factory, fmt, mutations):
    base = tmp_path_factory.getbasetemp() / f"base-{fmt}.nvmetrace"
    if not base.exists():
        write(base, fmt=fmt, n=300)
    data = base.read_bytes()
    for m in mutations:
        data = mutate(data, *m)
    path = tmp_path_factory.getbasetemp() / f"mutant-{fmt}.nvmetrace"
    path.write_bytes(data)
    try:
        rec = read_everything(path)
    except RecordingError as err:
        assert_one_line(err, path)
        return
    # what loads is a prefix of the truth or says something is wrong
    events = list(rec.events())
    if events != EVENTS[: len(events)]:
        assert fmt == "jsonl" or rec.warnings, "changed events must not load silently"


def line_of(lines: list[bytes], seq: int) -> int:
    """The 0-based index in ``lines`` of the event with this seq."""
    return next(i for i, line in enumerate(lines) if line.startswith(b'{"kind":') and
                f'"seq":{seq},'.encode() in line)  # fmt: skip


def test_a_bad_jsonl_line_is_named_by_its_1_based_line_number(tmp_path):
    path = write(tmp_path / "j.nvmetrace", fmt="jsonl", n=300)
    lines = path.read_bytes().split(b"\n")
    bad_event, garbage = line_of(lines, 160), line_of(lines, 40)
    good_line = lines[bad_event]
    lines[bad_event] = b'{"kind":"mmio_read","seq":160,"ts":"soon"}'
    lines[garbage] = b"garbage"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(RecordingError) as err:
        open_recording(path)
    assert f"line {garbage + 1} is not an event" in str(err.value)
    lines[garbage] = good_line.replace(b'"seq":160,', b'"seq":40,')  # any valid event
    path.write_bytes(b"\n".join(lines))
    rec = open_recording(path)
    with pytest.raises(RecordingError) as err:
        list(rec.events())
    assert f"line {bad_event + 1} (event 160): not a valid event" in str(err.value)
    assert_one_line(err.value, path)


def test_a_jsonl_recording_with_an_event_removed_by_hand_reads_up_to_the_gap(tmp_path):
    path = write(tmp_path / "j.nvmetrace", fmt="jsonl", n=300)
    lines = path.read_bytes().split(b"\n")
    removed = line_of(lines, 123)
    del lines[removed]
    path.write_bytes(b"\n".join(lines))
    rec = open_recording(path)
    assert len(rec) == 123 and list(rec.events()) == EVENTS[:123]
    [warning] = rec.warnings
    assert warning.startswith(
        f"events are not consecutive: seq 122 is followed by 124 (line {removed + 1})"
    )
    assert warning.endswith("123 events are readable")
    with pytest.raises(RecordingError, match="seq 122 is followed by 124"):
        rec.verify_frames()
    untouched = open_recording(write(tmp_path / "ok.nvmetrace", fmt="jsonl", n=300))
    assert untouched.warnings == []


def test_a_damaged_trailer_is_told_apart_from_a_recording_never_closed(tmp_path, good):
    for cut, words in [(1, "the trailer is damaged"), (24, "the trailer is damaged")]:
        data = bytearray(good)
        if cut == 1:
            data[-5] ^= 0xFF  # inside the index offset: the trailer magic is intact
            data[-20] ^= 0xFF  # and now the magic too
        else:
            del data[-cut:]  # the trailer is gone but the index frame is there
        path = tmp_path / f"trailer{cut}.nvmetrace"
        path.write_bytes(bytes(data))
        rec = read_everything(path)
        assert len(rec) == 600
        assert rec.warnings[0].startswith(words), rec.warnings[0]
        assert "not closed" not in rec.warnings[0]
    never = tmp_path / "never.nvmetrace"
    w = TraceWriter(never, chunk_events=50)
    w.extend(EVENTS[:200])
    w.flush()  # killed before close(): no index, no trailer
    rec = open_recording(never)
    assert rec.warnings[0].startswith("recording was not closed (the recorder stopped early)")


def test_an_empty_recording_reads_no_events_not_0_to_minus_1(tmp_path):
    path = tmp_path / "empty.nvmetrace"
    TraceWriter(path).close()
    rec = open_recording(path)
    assert len(rec) == 0 and rec.range_text() == "no events"
    with pytest.raises(IndexError) as err:
        rec.event(0)
    assert "the recording has no events" in str(err.value) and "-1" not in str(err.value)
    some = open_recording(write(tmp_path / "some.nvmetrace", n=100))
    assert some.range_text(10, 20) == "events 10..19" and some.range_text() == "events 0..99"


@pytest.mark.parametrize("fmt", ["msgpack", "jsonl"])
def test_an_event_no_recording_can_hold_loses_none_of_the_events_before_it(tmp_path, fmt):
    """An event whose time is past 2**64 - 1 ns cannot be encoded: the writer says which
    one, in one line, and every event before it stays in the file, which still closes."""
    from nvmescope import events as ev
    from nvmescope.trace import TraceWriter, open_recording

    path = tmp_path / f"bad.{fmt}.nvmetrace"
    writer = TraceWriter(path, fmt=fmt, chunk_events=64)
    good = []
    for n in range(10):
        e = ev.MmioRead(addr=0, size=4, value=n, reg="cap")
        e.seq, e.ts = n, n
        good.append(e)
        writer.append(e)
    bad = ev.MmioRead(addr=0, size=4, value=0, reg="cap")
    bad.seq, bad.ts = 10, 1 << 64
    writer.append(bad)
    with pytest.raises(ValueError, match=r"event seq 10 \(mmio_read\) cannot be recorded"):
        writer.flush()
    writer.close()
    with open_recording(path) as rec:
        assert rec.complete and list(rec.events()) == good
