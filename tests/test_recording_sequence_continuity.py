"""Event n of a recording has seq n: a chunk (or, in JSON lines, an event line)
duplicated, reordered or missing is damage, in every reader. The reader reads up to
the damage and says where; ``verify_frames`` and ``replay --verify`` fail naming it
(issue 7)."""

from __future__ import annotations

from pathlib import Path

import pytest
import zstandard
from damaged import verify_cli
from test_hostile_recordings import assert_clean, frames, put, replace_frame
from typer.testing import CliRunner

from nvmescope.trace import RecordingError, open_recording
from nvmescope.trace.format import FRAME_EVENTS, FRAME_HEADER

runner = CliRunner()


def all_events(path: Path) -> list:
    with open_recording(path) as rec:
        return list(rec.events())


def test_the_pristine_recordings_verify(small_chunk_recordings):
    for path in small_chunk_recordings.values():
        with open_recording(path) as rec:
            assert rec.warnings == [] and rec.damage is None
            assert rec.verify_frames() == len(rec) > 300
        code, out = verify_cli(path)
        assert code == 0 and "verified" in out, out


# -- binary: frames rewritten with valid checksums and index (only seq tells) ----------
def _chunk_raw(data: bytes, offset: int) -> bytes:
    _, _, plen, rlen, _, _, _, _ = FRAME_HEADER.unpack_from(data, offset)
    return zstandard.ZstdDecompressor().decompress(
        data[offset + FRAME_HEADER.size : offset + FRAME_HEADER.size + plen],
        max_output_size=rlen,
    )


def _chunks(data: bytes) -> list[tuple[int, int, int, int]]:
    return [f for f in frames(data) if f[1] == FRAME_EVENTS]


@pytest.mark.parametrize("how", ["duplicated", "swapped"])
def test_a_chunk_holding_another_chunks_events_is_damage_named_by_its_number(
    tmp_path, small_chunk_recordings, how
):
    good = small_chunk_recordings["msgpack"].read_bytes()
    chunks = _chunks(good)
    a, b = chunks[2][0], chunks[3][0]
    data = replace_frame(good, b, _chunk_raw(good, a))  # chunk 3 holds chunk 2's events
    if how == "swapped":
        data = replace_frame(data, a, _chunk_raw(good, b))
    path = put(tmp_path, data)
    bad = 3 if how == "duplicated" else 2
    events = all_events(small_chunk_recordings["msgpack"])
    with open_recording(path) as rec:
        assert rec.warnings == []  # the frames are sound: the damage shows when read
        assert list(rec.events(0, 50 * bad)) == events[: 50 * bad]  # read up to it
        with pytest.raises(RecordingError) as err:
            list(rec.events())
        text = str(err.value)
        assert f"chunk {bad} (events {50 * bad}..{50 * bad + 49})" in text
        assert "not consecutive" in text and "\n" not in text
        with pytest.raises(RecordingError, match=f"chunk {bad} "):
            rec.verify_frames()
    code, out = verify_cli(path)
    assert code == 1 and f"chunk {bad} " in out and "verified" not in out, out
    assert assert_clean(path)[0] == 1  # a clean refusal under the memory limit


def _frame_span(data: bytes, offset: int) -> bytes:
    plen = FRAME_HEADER.unpack_from(data, offset)[2]
    return data[offset : offset + FRAME_HEADER.size + plen]


@pytest.mark.parametrize("how", ["dropped", "duplicated", "swapped"])
def test_chunk_frames_moved_in_the_file_read_up_to_the_damage(
    tmp_path, small_chunk_recordings, how
):
    """Whole frames (headers and all) cut, copied or swapped: the index no longer fits,
    the frames are walked, and the walk stops at the chunk out of sequence."""
    good = small_chunk_recordings["msgpack"].read_bytes()
    chunks = _chunks(good)
    a, b = chunks[2][0], chunks[3][0]
    fa, fb = _frame_span(good, a), _frame_span(good, b)
    assert a + len(fa) == b  # adjacent (no checkpoint between them)
    if how == "dropped":
        data = good[:a] + fb + good[b + len(fb) :]
        holds = "150..199, not 100.."
    elif how == "duplicated":
        data = good[:b] + fa + good[b:]
        holds = "100..149, not 150.."
    else:
        data = good[:a] + fb + fa + good[b + len(fb) :]
        holds = "150..199, not 100.."
        # the index (at the same offset) is still used: found when chunk 2 is read
        with open_recording(put(tmp_path, data, "indexed.nvmetrace")) as rec:
            assert rec.damage is None and rec.warnings == []
            assert list(rec.events(0, 100)) == all_events(small_chunk_recordings["msgpack"])[:100]
            with pytest.raises(RecordingError, match="chunk 2 .*holds events 150..199"):
                rec.verify_frames()
        data = data[:-1]  # no trailer: the frames are walked
    path = put(tmp_path, data)
    events = all_events(small_chunk_recordings["msgpack"])
    with open_recording(path) as rec:
        readable = 150 if how == "duplicated" else 100
        assert len(rec) == readable
        assert list(rec.events()) == events[:readable]
        where = f"chunk {readable // 50} at byte"
        assert rec.damage is not None and where in rec.damage and holds in rec.damage
        assert any(where in w and "not consecutive" in w for w in rec.warnings), rec.warnings
        with pytest.raises(RecordingError, match=where):
            rec.verify_frames()
    code, out = verify_cli(path)
    assert code == 1 and where in out and "verified" not in out, out


# -- JSON lines ---------------------------------------------------------------------
def _event_line(lines: list[bytes], seq: int) -> int:
    key = b'"seq":%d,' % seq
    return next(i for i, ln in enumerate(lines) if ln.startswith(b'{"kind":') and key in ln)


@pytest.mark.parametrize("how", ["dropped", "duplicated", "swapped"])
def test_jsonl_event_lines_moved_by_hand_read_up_to_the_damage(
    tmp_path, small_chunk_recordings, how
):
    lines = small_chunk_recordings["jsonl"].read_bytes().split(b"\n")
    at = _event_line(lines, 123)
    if how == "dropped":
        del lines[at]
        said = "seq 122 is followed by 124"
    elif how == "duplicated":
        lines.insert(at + 1, lines[at])
        said = "seq 123 is followed by 123"
    else:
        nxt = _event_line(lines, 124)
        lines[at], lines[nxt] = lines[nxt], lines[at]
        said = "seq 122 is followed by 124"
    path = put(tmp_path, b"\n".join(lines))
    readable = 124 if how == "duplicated" else 123
    events = all_events(small_chunk_recordings["jsonl"])
    with open_recording(path) as rec:
        assert len(rec) == readable
        assert list(rec.events()) == events[:readable]
        assert rec.damage is not None and said in rec.damage
        [warning] = rec.warnings
        assert said in warning and f"{readable} events are readable" in warning
        with pytest.raises(RecordingError, match=said):
            rec.verify_frames()
    code, out = verify_cli(path)
    assert code == 1 and said in out and "verified" not in out, out


def test_jsonl_seq_the_quick_scan_cannot_read_is_checked_when_decoded(
    tmp_path, small_chunk_recordings
):
    lines = small_chunk_recordings["jsonl"].read_bytes().split(b"\n")
    at = _event_line(lines, 123)
    lines[at] = lines[at].replace(b'"seq":123,', b'"seq": 999,')  # valid JSON, odd spacing
    path = put(tmp_path, b"\n".join(lines))
    with open_recording(path) as rec:
        assert rec.damage is None  # the open-time scan could not tell
        assert len(rec) == len(all_events(small_chunk_recordings["jsonl"]))
        with pytest.raises(RecordingError, match="seq 122 is followed by 999"):
            rec.event(123)
        with pytest.raises(RecordingError, match="seq 122 is followed by 999"):
            rec.verify_frames()
