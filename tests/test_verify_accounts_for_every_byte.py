"""``verify_frames`` and ``replay --verify`` pass only when every byte of the file
belongs to a sound frame the recording reads, the index and trailer included; any
other damage, and a recording cut short, fails (exit 1) with one line naming the
frame, its byte offset and what is wrong (issue 7). Reading without ``--verify``
still goes up to the damage with a warning."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import msgspec
import pytest
import zstandard
from damaged import verify_cli
from test_hostile_recordings import frames, put
from typer.testing import CliRunner

from nvmescope.cli import app
from nvmescope.trace import RecordingError, open_recording
from nvmescope.trace.format import (
    FILE_HEADER,
    FRAME_CHECKPOINT,
    FRAME_EVENTS,
    FRAME_HEADER,
    FRAME_PAGES,
    TRAILER,
    frame_bytes,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def good(small_chunk_recordings: dict[str, Path]) -> bytes:
    return small_chunk_recordings["msgpack"].read_bytes()


def refused(path: Path, *words: str) -> str:
    """verify_frames and replay --verify both fail, one line holding ``words``."""
    with open_recording(path) as rec, pytest.raises(RecordingError) as err:
        rec.verify_frames()
    text = str(err.value)
    assert "\n" not in text and all(w in text for w in words), text
    code, out = verify_cli(path)
    assert code == 1 and "verified:" not in out and all(w in out for w in words), out
    *warnings, error = out.strip().splitlines()  # warnings from opening, then one error
    assert error.startswith("nvmescope: error: ") and all(w in error for w in words), out
    assert all(w.startswith("nvmescope: warning: ") for w in warnings), out
    return text


def without_trailer(data: bytes) -> bytes:
    """The file as a recorder killed after writing its last frame would leave it."""
    _, ioff = TRAILER.unpack_from(data, len(data) - TRAILER.size)
    return data[:ioff]


def nth(data: bytes, ftype: int, k: int = 0) -> int:
    return [f[0] for f in frames(data) if f[1] == ftype][k]


def test_the_pristine_recordings_verify(small_chunk_recordings):
    for path in small_chunk_recordings.values():
        with open_recording(path) as rec:
            assert rec.verify_frames() == len(rec) > 300
        code, out = verify_cli(path)
        assert code == 0 and "verified" in out, out


# -- cut short -------------------------------------------------------------------------
def test_a_recording_cut_inside_a_frame_is_cut_short_for_verify_only(tmp_path, good):
    at = nth(good, FRAME_EVENTS, 4)
    path = put(tmp_path, good[: at + 50])  # a killed recorder: the last frame incomplete
    with open_recording(path) as rec:
        assert len(rec) == 200 and "not closed" in rec.warnings[0]
    refused(path, f"cut short at byte {at}", "events 0..199 verified, the rest is missing")
    result = runner.invoke(app, ["replay", str(path)])  # without --verify: read up to it
    assert result.exit_code == 0 and "not closed" in result.output, result.output


@pytest.mark.parametrize(
    "command", [["show"], ["show", "--commands"], ["stats"], ["replay"], ["replay", "--verify"]]
)
def test_a_recording_cut_before_its_first_chunk_is_an_error_not_an_empty_success(
    tmp_path, good, command
):
    path = put(tmp_path, good[: nth(good, FRAME_EVENTS, 0) + 50])
    result = runner.invoke(app, [*command, str(path)])
    *warnings, error = result.output.strip().splitlines()
    assert result.exit_code == 1, result.output
    want = f"{path}: no event is readable (damaged or cut short before its first chunk)"
    assert error == f"nvmescope: error: {want}", result.output
    assert all(w.startswith("nvmescope: warning: ") for w in warnings), result.output


def test_a_recording_cut_between_frames_is_cut_short(tmp_path, good):
    data = without_trailer(good)
    data = data[: max(f[0] for f in frames(good) if f[1] == FRAME_EVENTS)]
    refused(put(tmp_path, data), f"cut short at byte {len(data)}", "the rest is missing")


@pytest.mark.parametrize("keep", [0, 1, 14, 23])
def test_an_index_without_its_trailer_is_damage_with_every_event_verified(tmp_path, good, keep):
    """The recorder closed the file but its trailer is missing, or only ``keep`` of its 24
    bytes are there: every event is checked and said to be there, and the file fails."""
    ioff = TRAILER.unpack_from(good, len(good) - TRAILER.size)[1]
    path = put(tmp_path, good[: len(good) - TRAILER.size + keep])
    with open_recording(path) as rec:
        events = len(rec)
    what = "ends right after the index frame" if keep == 0 else f"the {keep} bytes after"
    refused(path, f"events 0..{events - 1} verified, none missing", what, f"at byte {ioff}")
    if keep == 0:
        with open_recording(path) as rec:  # a recorder killed before the trailer: cut short
            assert rec.verify_frames(partial=True) == len(rec) > 300


def test_partial_accepts_a_file_cut_short_and_nothing_else(tmp_path, good):
    at = nth(good, FRAME_EVENTS, 4)
    with open_recording(put(tmp_path, good[: at + 50])) as rec:
        assert rec.verify_frames(partial=True) == 200
    data = bytearray(without_trailer(good))
    data[nth(good, FRAME_EVENTS, 3)] ^= 0x01
    with open_recording(put(tmp_path, bytes(data), "bad.nvmetrace")) as rec:
        with pytest.raises(RecordingError, match="bad frame magic"):
            rec.verify_frames(partial=True)


# -- damage in the middle, after which the opening walk stopped ---------------------------
@pytest.mark.parametrize("where", ["header-checksum", "magic"])
def test_a_damaged_frame_header_in_the_middle_is_named(tmp_path, good, where):
    at = nth(good, FRAME_EVENTS, 3)
    data = bytearray(without_trailer(good))
    if where == "magic":
        data[at] ^= 0x01
        what = "bad frame magic"
    else:
        data[at + 9] ^= 0x40  # the payload length: the frame header's CRC tells
        what = "frame header checksum mismatch"
    number = [f[0] for f in frames(good)].index(at)
    refused(put(tmp_path, bytes(data)), f"frame {number} at byte {at}", what)


def test_a_frame_claiming_bytes_past_the_end_is_damage(tmp_path, good):
    """A frame header (valid CRC) whose payload length runs past the end of the file."""
    at = nth(good, FRAME_EVENTS, 3)
    magic, ftype, plen, rlen, pcrc, first, count, _ = FRAME_HEADER.unpack_from(good, at)
    head = FRAME_HEADER.pack(magic, ftype, len(good), rlen, pcrc, first, count, 0)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    data = good[:at] + head + good[at + FRAME_HEADER.size :]
    refused(put(tmp_path, data), f"at byte {at}", "ends inside a frame")  # closed: the index
    # not closed: nothing tells a frame that claims too much from one cut short
    refused(put(tmp_path, without_trailer(data), "y.nvmetrace"), f"cut short at byte {at}")


def test_a_checkpoint_frame_the_walk_skips_is_damage(tmp_path, good):
    """A checkpoint whose header (valid CRC) puts it past the events: the opening walk
    leaves it out of the tables, so nothing decodes it; verify names it. (A pages
    frame left out is missed by the checkpoint that names it.)"""
    at = nth(good, FRAME_CHECKPOINT, 1)
    magic, t, plen, rlen, pcrc, first, count, _ = FRAME_HEADER.unpack_from(good, at)
    head = FRAME_HEADER.pack(magic, t, plen, rlen, pcrc, first + 10_000, count, 0)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    data = without_trailer(good[:at] + head + good[at + FRAME_HEADER.size :])
    number = [f[0] for f in frames(good)].index(at)
    refused(put(tmp_path, data), f"frame {number} at byte {at}", "not one the recording reads")


@pytest.mark.parametrize("ftype", [FRAME_PAGES, FRAME_CHECKPOINT], ids=["pages", "checkpoint"])
def test_a_bad_payload_checksum_in_a_pages_or_checkpoint_frame_is_named(tmp_path, good, ftype):
    at = nth(good, ftype, 1)
    data = bytearray(without_trailer(good))
    data[at + FRAME_HEADER.size + 4] ^= 0x08
    refused(put(tmp_path, bytes(data)), f"at byte {at}", "checksum mismatch")


# -- closed files: bytes the index does not account for --------------------------------
def _move_index(data: bytes, junk: bytes) -> bytes:
    """``junk`` put just before the index frame; the trailer points at the moved index."""
    magic, ioff = TRAILER.unpack_from(data, len(data) - TRAILER.size)
    return data[:ioff] + junk + data[ioff : -TRAILER.size] + TRAILER.pack(magic, ioff + len(junk))


def test_junk_bytes_before_the_index_are_damage(tmp_path, good):
    ioff = TRAILER.unpack_from(good, len(good) - TRAILER.size)[1]
    path = put(tmp_path, _move_index(good, b"\x00" * 16))
    with open_recording(path) as rec:
        assert rec.complete and rec.warnings == []  # the index is sound and used
    refused(path, f"at byte {ioff}", "bad frame magic")


def test_a_sound_frame_the_index_does_not_list_is_damage(tmp_path, good):
    ioff = TRAILER.unpack_from(good, len(good) - TRAILER.size)[1]
    raw = msgspec.msgpack.encode({})
    extra = frame_bytes(FRAME_PAGES, zstandard.ZstdCompressor().compress(raw), len(raw), 99, 0)
    path = put(tmp_path, _move_index(good, extra))
    with open_recording(path) as rec:
        assert rec.complete
    refused(path, f"pages frame {len(frames(good)) - 1} at byte {ioff}", "not in the index")


def test_a_trailer_pointing_elsewhere_is_damage(tmp_path, good):
    magic, ioff = TRAILER.unpack_from(good, len(good) - TRAILER.size)
    data = good[: -TRAILER.size] + TRAILER.pack(magic, nth(good, FRAME_EVENTS, 1))
    refused(put(tmp_path, data))


# -- the version bytes ------------------------------------------------------------------
@pytest.mark.parametrize("bit", range(32))
def test_every_flipped_version_bit_is_refused(tmp_path, good, bit):
    data = bytearray(good)
    data[12 + bit // 8] ^= 1 << (bit % 8)
    path = put(tmp_path, bytes(data))
    with pytest.raises(RecordingError, match="version"):
        with open_recording(path) as rec:
            rec.verify_frames()
    code, out = verify_cli(path)
    assert code == 1 and "version" in out, out
    assert FILE_HEADER.unpack_from(good)[1:3] == (1, 0)


# -- JSON lines ---------------------------------------------------------------------------
def test_jsonl_without_its_end_line_is_cut_short(tmp_path, small_chunk_recordings):
    lines = small_chunk_recordings["jsonl"].read_bytes().split(b"\n")
    assert lines[-1] == b"" and lines[-2].startswith(b'{"end":')
    kept = lines[:200]
    events = sum(1 for ln in kept if ln.startswith(b'{"kind":'))
    path = put(tmp_path, b"\n".join(kept) + b"\n" + kept[-1][:20])
    with open_recording(path) as rec:
        assert len(rec) == events
    refused(path, "cut short at line 201", f"events 0..{events - 1} verified")


def test_jsonl_end_line_not_last_or_miscounting_is_damage(tmp_path, small_chunk_recordings):
    lines = small_chunk_recordings["jsonl"].read_bytes().split(b"\n")
    end = len(lines) - 2
    moved = lines[:100] + [lines[end]] + lines[100:end] + [b""]
    refused(put(tmp_path, b"\n".join(moved)), "line 101", "not the last line")
    wrong = [*lines[:end], b'{"end":{"events":7}}', b""]
    refused(put(tmp_path, b"\n".join(wrong), "w.nvmetrace"), f"line {end + 1}", "says 7 events")
