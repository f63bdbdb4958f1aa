"""Hostile recordings: a crafted or damaged file is refused in one line or read up to
the damage, never an internal error, never a blow-up of memory.

Every read here runs in a forked child under ``RLIMIT_AS`` (its address space at the
fork plus ``HOSTILE_MEMORY_MIB``, 384 MiB unless set), so a blow-up fails the test
instead of taking the machine; and since a reader may turn a MemoryError into a clean
error, the child's peak resident memory must also stay within ``HOSTILE_PEAK_MIB``
(192 MiB unless set) of what it was at the fork.

The fuzzer (``test_fuzzed_recordings_*``) runs a modest number of examples. For a long
campaign raise it, e.g.::

    NVMESCOPE_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest -q \
        tests/test_hostile_recordings.py -k fuzzed -p no:cacheprovider
"""

from __future__ import annotations

import os
import resource
import struct
import sys
import traceback
import zlib
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvmescope import events as ev
from nvmescope.trace import RecordingError, TraceWriter, open_recording
from nvmescope.trace.checks import run_checks
from nvmescope.trace.commands import pair_commands
from nvmescope.trace.export_chrome import iter_chrome_events
from nvmescope.trace.export_tracepoint import to_tracepoint_text
from nvmescope.trace.format import (
    EVENT_ENCODER,
    FILE_HEADER,
    FRAME_CHECKPOINT,
    FRAME_EVENTS,
    FRAME_HEADER,
    FRAME_INDEX,
    FRAME_PAGES,
    TRAILER,
    frame_bytes,
)
from nvmescope.trace.qemu_import import import_qemu_trace
from nvmescope.trace.recorder import synthetic_admin_events
from nvmescope.trace.stats import compute_stats

EVENTS = list(synthetic_admin_events(600))
MEMORY_MIB = int(os.environ.get("HOSTILE_MEMORY_MIB", "384"))
PEAK_MIB = int(os.environ.get("HOSTILE_PEAK_MIB", "192"))
FUZZ_EXAMPLES = int(os.environ.get("NVMESCOPE_FUZZ_EXAMPLES", "60"))

# -- running under a memory limit ---------------------------------------------------
CLEAN, REFUSED, CRASHED = 0, 1, 2


def _status(field: str) -> int:
    """A size from /proc/self/status (VmSize, VmRSS, VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field}")  # pragma: no cover


def limited(fn: Callable[[], None]) -> tuple[int, str]:
    """Run ``fn`` in a forked child under RLIMIT_AS; (CLEAN | REFUSED | CRASHED, text).

    REFUSED: ``fn`` raised a one-line RecordingError. CRASHED: anything else escaped
    (MemoryError when the limit was hit), with its traceback as the text.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code, text = CRASHED, ""
        try:
            os.close(read_fd)
            limit = _status("VmSize") + MEMORY_MIB * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            Path("/proc/self/clear_refs").write_text("5")  # peak RSS := RSS now
            rss = _status("VmRSS")
            try:
                fn()
                code = CLEAN
            except RecordingError as exc:
                text = str(exc)
                code = REFUSED if "\n" not in text else CRASHED
            except BaseException:
                text = traceback.format_exc()[-3000:]
            peak = (_status("VmHWM") - rss) >> 20
            if peak > PEAK_MIB:
                code, text = CRASHED, f"peak memory grew by {peak} MiB (> {PEAK_MIB}): {text}"
        finally:
            os.write(write_fd, text.encode("utf-8", "replace"))
            os.close(write_fd)
            os._exit(code)
    os.close(write_fd)
    chunks = []
    while block := os.read(read_fd, 65536):
        chunks.append(block)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return (code if code in (CLEAN, REFUSED) else CRASHED), b"".join(chunks).decode()


def read_everything(path: Path) -> None:
    """Every reader entry point over the whole recording."""
    with open_recording(path) as rec:
        n = len(rec)
        events = list(rec.events())
        assert len(events) == n
        for k in {0, n // 3, n // 2, n - 1}:
            if 0 <= k < n:
                rec.state_at(k).materialize()
        rec.verify_frames()
        pair_commands(rec.events())
        compute_stats(rec.events())
        for _ in iter_chrome_events(rec.events(), include_reads=True):
            pass
        for _ in to_tracepoint_text(rec.events()):
            pass
        run_checks(rec.events())


def assert_clean(path: Path) -> tuple[int, str]:
    code, text = limited(lambda: read_everything(path))
    assert code != CRASHED, text
    if code == REFUSED:
        assert str(path) in text
    return code, text


# -- building files -----------------------------------------------------------------
def write(path: Path, fmt: str = "msgpack", events: list[ev.Event] | None = None) -> Path:
    with TraceWriter(path, fmt=fmt, chunk_events=50, checkpoint_every=100) as w:
        w.extend(EVENTS if events is None else events)
    return path


def frames(data: bytes) -> list[tuple[int, int, int, int]]:
    """(offset, type, first, count) of every frame of a binary recording."""
    _, _, _, hlen, _ = FILE_HEADER.unpack_from(data)
    offset, out = FILE_HEADER.size + hlen, []
    while offset + FRAME_HEADER.size <= len(data) - TRAILER.size:
        _, ftype, plen, _, _, first, count, _ = FRAME_HEADER.unpack_from(data, offset)
        out.append((offset, ftype, first, count))
        offset += FRAME_HEADER.size + plen
    return out


def replace_frame(
    data: bytes, offset: int, raw: bytes, *, first: int | None = None, count: int | None = None
) -> bytes:
    """``data`` with the frame at ``offset`` holding ``raw`` (valid CRCs), index fixed up."""
    _, ftype, plen, _, _, f0, c0, _ = FRAME_HEADER.unpack_from(data, offset)
    payload = zstandard.ZstdCompressor(level=1).compress(raw)
    new = frame_bytes(
        ftype, payload, len(raw), f0 if first is None else first, c0 if count is None else count
    )
    out = data[:offset] + new + data[offset + FRAME_HEADER.size + plen :]
    shift = len(new) - (FRAME_HEADER.size + plen)
    return _fix_index(out, offset, shift)


def _fix_index(data: bytes, changed_at: int, shift: int) -> bytes:
    """Move the index's offsets (and the trailer) after a frame changed size."""
    magic, ioff = TRAILER.unpack_from(data, len(data) - TRAILER.size)
    ioff += shift if ioff > changed_at else 0
    _, _, plen, _, _, first, count, _ = FRAME_HEADER.unpack_from(data, ioff)
    raw = zstandard.ZstdDecompressor().decompress(
        data[ioff + FRAME_HEADER.size : ioff + FRAME_HEADER.size + plen]
    )
    index = msgspec.msgpack.decode(raw)
    for entry in index["frames"]:
        if entry[1] > changed_at:
            entry[1] += shift
    raw = msgspec.msgpack.encode(index)
    new = frame_bytes(FRAME_INDEX, zstandard.ZstdCompressor().compress(raw), len(raw), first, count)
    return data[:ioff] + new + TRAILER.pack(magic, ioff)


def rewrite_index(data: bytes, change: Callable[[dict], None]) -> bytes:
    """``data`` with its index decoded, changed by ``change`` and re-encoded (valid CRCs);
    the index frame's header says the (changed) number of events, as the writer's does."""
    magic, ioff = TRAILER.unpack_from(data, len(data) - TRAILER.size)
    _, _, plen, _, _, first, count, _ = FRAME_HEADER.unpack_from(data, ioff)
    raw = zstandard.ZstdDecompressor().decompress(
        data[ioff + FRAME_HEADER.size : ioff + FRAME_HEADER.size + plen]
    )
    index = msgspec.msgpack.decode(raw)
    change(index)
    raw = msgspec.msgpack.encode(index)
    events = index["events"] if isinstance(index.get("events"), int) else first
    new = frame_bytes(
        FRAME_INDEX, zstandard.ZstdCompressor().compress(raw), len(raw), events % 2**64, count
    )
    return data[:ioff] + new + TRAILER.pack(magic, ioff)


def rewrite_header(
    data: bytes, change: Callable[[dict], None], version: tuple[int, int] | None = None
) -> bytes:
    magic, major, minor, hlen, _ = FILE_HEADER.unpack_from(data)
    header = msgspec.msgpack.decode(data[FILE_HEADER.size : FILE_HEADER.size + hlen])
    change(header)
    body = msgspec.msgpack.encode(header)
    if version is not None:
        major, minor = version
    head = FILE_HEADER.pack(magic, major, minor, len(body), zlib.crc32(body))
    rest = data[FILE_HEADER.size + hlen :]
    return (
        _shift_all(head + body + rest, FILE_HEADER.size + hlen, len(body) - hlen)
        if len(body) != hlen
        else head + body + rest
    )


def _shift_all(data: bytes, at: int, shift: int) -> bytes:
    return _fix_index(data, at - 1, shift)


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write(tmp_path_factory.mktemp("good") / "good.nvmetrace").read_bytes()


def put(tmp_path: Path, data: bytes, name: str = "x.nvmetrace") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_good_file_reads_whole_under_the_memory_limit(tmp_path, good):
    code, text = assert_clean(put(tmp_path, good))
    assert code == CLEAN, text
    kinds = {f[1] for f in frames(good)}
    assert {FRAME_EVENTS, FRAME_CHECKPOINT, FRAME_PAGES, FRAME_INDEX} <= kinds


# -- memory blow-ups from small files -------------------------------------------------
def _tiny_events_array(n: int, declared: int | None = None) -> bytes:
    one = EVENT_ENCODER.encode(EVENTS[0])
    return b"\xdd" + (n if declared is None else declared).to_bytes(4, "big") + one * n


def test_chunk_decompressing_past_the_format_bound_is_refused(tmp_path, good):
    """A 2.5 M-event chunk (about 100 MiB raw, a small file) claiming 50 events."""
    offset = next(f[0] for f in frames(good) if f[1] == FRAME_EVENTS)
    path = put(tmp_path, replace_frame(good, offset, _tiny_events_array(2_500_000)))
    assert path.stat().st_size < 2_000_000
    code, text = assert_clean(path)
    assert code == REFUSED and "chunk 0" in text, text


class _NoBigDecode:
    """Stands in for the events decoder: decoding a big chunk is the failure."""

    def __init__(self, real: object) -> None:
        self.real = real

    def decode(self, raw: bytes) -> object:
        if len(raw) > 1 << 20:
            raise AssertionError(f"decoded a {len(raw)}-byte chunk before checking its count")
        return self.real.decode(raw)  # type: ignore[attr-defined]


def test_chunk_unpacking_into_more_events_than_it_says_is_refused_before_decoding(
    tmp_path, good, monkeypatch
):
    """Within the byte bound, but its array holds 600 000 events where 50 are declared."""
    import nvmescope.trace.reader as reader_mod

    monkeypatch.setattr(reader_mod, "EVENTS_DECODER", _NoBigDecode(reader_mod.EVENTS_DECODER))
    offset = next(f[0] for f in frames(good) if f[1] == FRAME_EVENTS)
    path = put(tmp_path, replace_frame(good, offset, _tiny_events_array(600_000)))
    code, text = assert_clean(path)
    assert code == REFUSED and "holds 600000 events" in text, text


def test_decompression_bomb_that_lies_about_its_size_stops_at_the_declared_size(tmp_path, good):
    """The frame header says 1 KiB; the payload would expand to 200 MiB."""
    offset = next(f[0] for f in frames(good) if f[1] == FRAME_EVENTS)
    _, ftype, plen, _, _, first, count, _ = FRAME_HEADER.unpack_from(good, offset)
    bomb = zstandard.ZstdCompressor(level=1).compress(b"\x90" * (200 << 20))
    new = frame_bytes(ftype, bomb, 1024, first, count)
    data = _fix_index(
        good[:offset] + new + good[offset + FRAME_HEADER.size + plen :],
        offset,
        len(new) - FRAME_HEADER.size - plen,
    )
    code, text = assert_clean(put(tmp_path, data))
    assert code == REFUSED and "chunk 0" in text, text


def _checkpoint_with_registers(position: int, n: int) -> bytes:
    def s(text: str) -> bytes:
        return msgspec.msgpack.encode(text)

    entries = b"".join(struct.pack(">BIB", 0xCE, 0x10000 + i, 1) for i in range(n))
    return (
        b"\x82" + s("pages") + b"\x80" + s("state") + b"\x82" + s("index")
        + msgspec.msgpack.encode(position - 1) + s("bar0") + b"\xdf" + n.to_bytes(4, "big") + entries
    )  # fmt: skip


def test_checkpoint_claiming_millions_of_registers_is_refused(tmp_path, good):
    """4 M distinct BAR0 bytes (24 MiB raw, under the frame bound): refused from the map's length."""
    offset, _, first, _ = next(f for f in frames(good) if f[1] == FRAME_CHECKPOINT)
    path = put(tmp_path, replace_frame(good, offset, _checkpoint_with_registers(first, 4_000_000)))
    code, text = assert_clean(path)
    assert code == REFUSED and "checkpoint" in text, text


def test_checkpoint_claiming_40m_registers_is_refused_from_its_size(tmp_path, good):
    offset, _, first, _ = next(f for f in frames(good) if f[1] == FRAME_CHECKPOINT)
    path = put(tmp_path, replace_frame(good, offset, _checkpoint_with_registers(first, 6_000_000)))
    code, text = assert_clean(path)
    assert code == REFUSED and "checkpoint" in text, text


@pytest.mark.parametrize("fmt", ["msgpack", "jsonl"])
def test_pages_dirtied_between_checkpoints_are_split_into_bounded_frames(
    tmp_path, monkeypatch, fmt
):
    import nvmescope.trace.format as format_mod
    import nvmescope.trace.reader as reader_mod

    monkeypatch.setattr(format_mod, "MAX_PAGES_PER_FRAME", 7)
    monkeypatch.setattr(reader_mod, "MAX_PAGES_PER_FRAME", 7)
    events = [ev.MemWrite(seq=i, addr=0x100000 + 4096 * i, data=bytes([i]) * 10) for i in range(40)]
    path = tmp_path / "pages.nvmetrace"
    with TraceWriter(path, fmt=fmt, chunk_events=20, checkpoint_every=20) as w:
        w.extend(events)
    with open_recording(path) as rec:
        assert rec.warnings == []
        sizes = [len(rec._page_frame(k)) for k in sorted(rec._pframes)]
        assert sum(sizes) == 40 and max(sizes) <= 7
        assert rec.verify_frames() == 40
        assert rec.state_at(39).read_mem(0x100000 + 4096 * 33, 10) == bytes([33]) * 10


def _streamed_zeros(mib: int) -> bytes:
    """A zstd frame of ``mib`` MiB of zeros that does not declare its size (a few KiB)."""
    cobj = zstandard.ZstdCompressor(level=1).compressobj()
    block = bytes(1 << 20)
    return b"".join(cobj.compress(block) for _ in range(mib)) + cobj.flush()


def test_pages_frame_claiming_more_pages_than_a_frame_holds_is_refused(tmp_path, good):
    """A 250 MiB pages frame (under the old 256 MiB frame bound) claiming 4 G pages."""
    offset, ftype, first, _ = next(f for f in frames(good) if f[1] == FRAME_PAGES)
    _, _, plen, _, _, _, _, _ = FRAME_HEADER.unpack_from(good, offset)
    payload = _streamed_zeros(250)
    new = frame_bytes(ftype, payload, 250 << 20, first, 2**32 - 1)
    data = good[:offset] + new + good[offset + FRAME_HEADER.size + plen :]
    path = put(tmp_path, _fix_index(data, offset, len(new) - FRAME_HEADER.size - plen))
    code, text = assert_clean(path)
    assert code == REFUSED and "pages frame" in text, text


def _huge_doorbell_events(new_tail: int) -> list[ev.Event]:
    events = list(EVENTS[:200])
    events.append(
        ev.DoorbellSq(
            seq=len(events),
            ts=events[-1].ts + 1,
            sqid=7,
            addr=0x1038,
            old_tail=0,
            new_tail=new_tail,
        )
    )
    return events


@pytest.mark.parametrize("new_tail", [2**26, 2**31], ids=["2^26", "2^31"])
def test_doorbell_with_a_huge_tail_does_not_build_a_huge_list(tmp_path, new_tail):
    path = write(tmp_path / "db.nvmetrace", fmt="jsonl", events=_huge_doorbell_events(new_tail))
    code, text = assert_clean(path)
    assert code == CLEAN, text


def test_imported_qemu_doorbell_with_a_huge_tail_does_not_build_a_huge_list():
    lines = ["1@10.000000:pci_nvme_mmio_doorbell_sq sqid 7 new_tail 67108864"]

    def run() -> None:
        result = import_qemu_trace(lines)
        pair_commands(result.events)
        compute_stats(result.events)
        list(iter_chrome_events(result.events))

    code, text = limited(run)
    assert code == CLEAN, text


# -- internal errors on crafted files -----------------------------------------------
def test_index_claiming_2_63_events_is_not_used(tmp_path, good):
    def change(index: dict) -> None:
        last = [e for e in index["frames"] if e[0] == FRAME_EVENTS][-1]
        last[3] = 2**63 - last[2]
        index["events"] = 2**63

    path = put(tmp_path, rewrite_index(good, change))
    assert_clean(path)
    with open_recording(path) as rec:
        assert len(rec) == len(EVENTS)
        assert any("index" in w for w in rec.warnings)


@pytest.mark.parametrize("fmt", ["msgpack", "jsonl"])
@pytest.mark.parametrize("value", [-1, 0, 2**40])
def test_header_with_impossible_chunk_events_is_refused(tmp_path, good, fmt, value):
    if fmt == "msgpack":
        data = rewrite_header(good, lambda h: h.__setitem__("chunk_events", value))
    else:
        jsonl = write(tmp_path / "j.nvmetrace", fmt="jsonl").read_bytes()
        head, rest = jsonl.split(b"\n", 1)
        header = msgspec.json.decode(head)
        header["chunk_events"] = value
        data = msgspec.json.encode(header) + b"\n" + rest
    path = put(tmp_path, data)
    with pytest.raises(RecordingError, match="chunk_events") as err:
        open_recording(path)
    assert "\n" not in str(err.value)


# -- damage accepted in silence ------------------------------------------------------
@pytest.mark.parametrize("version", [(0, 0), (0, 1), (1, 0)], ids=["0.0", "0.1", "1.0-vs-header"])
def test_a_version_field_that_is_not_what_the_header_says_is_refused(tmp_path, good, version):
    """The file header's version bytes have no CRC: they must agree with the header map."""
    if version == (1, 0):
        data = rewrite_header(good, lambda h: h.__setitem__("version", [0, 0]))
    else:
        magic, _, _, hlen, hcrc = FILE_HEADER.unpack_from(good)
        data = FILE_HEADER.pack(magic, *version, hlen, hcrc) + good[FILE_HEADER.size :]
    with pytest.raises(RecordingError, match="version"):
        open_recording(put(tmp_path, data))


def test_jsonl_version_0_0_is_refused(tmp_path):
    jsonl = write(tmp_path / "j.nvmetrace", fmt="jsonl").read_bytes()
    head, rest = jsonl.split(b"\n", 1)
    header = msgspec.json.decode(head)
    header["version"] = [0, 0]
    with pytest.raises(RecordingError, match="version 0.0"):
        open_recording(put(tmp_path, msgspec.json.encode(header) + b"\n" + rest))


@pytest.mark.parametrize(
    "ftype", [FRAME_PAGES, FRAME_CHECKPOINT, FRAME_INDEX], ids=["pages", "checkpoint", "index"]
)
def test_verify_frames_finds_a_flipped_bit_in_every_kind_of_frame(tmp_path, good, ftype):
    offset = next(f[0] for f in frames(good) if f[1] == ftype)
    data = bytearray(good)
    data[offset + FRAME_HEADER.size + 5] ^= 0x10
    path = put(tmp_path, bytes(data))
    try:
        rec = open_recording(path)
    except RecordingError:
        return  # refused at open: also fine
    with rec, pytest.raises(RecordingError, match="damaged|checksum"):
        rec.verify_frames()


def test_verify_frames_counts_every_event_of_a_sound_file(tmp_path, good):
    with open_recording(put(tmp_path, good)) as rec:
        assert rec.verify_frames() == len(EVENTS)


@pytest.mark.parametrize("how", ["duplicated", "swapped"])
def test_chunks_duplicated_or_reordered_are_damage(tmp_path, good, how):
    """Frame headers and CRCs are all valid; only the events' sequence numbers tell.
    (tests/test_recording_sequence_continuity.py has the other cases and the CLI.)"""
    chunks = [f for f in frames(good) if f[1] == FRAME_EVENTS]
    dctx = zstandard.ZstdDecompressor()

    def raw_of(offset: int) -> bytes:
        _, _, plen, rlen, _, _, _, _ = FRAME_HEADER.unpack_from(good, offset)
        return dctx.decompress(
            good[offset + FRAME_HEADER.size : offset + FRAME_HEADER.size + plen],
            max_output_size=rlen,
        )

    a, b = chunks[1][0], chunks[2][0]
    raw_a, raw_b = raw_of(a), raw_of(b)
    data = replace_frame(good, b, raw_a)
    if how == "swapped":
        data = replace_frame(data, a, raw_b)
    bad = 2 if how == "duplicated" else 1
    path = put(tmp_path, data)
    with open_recording(path) as rec:
        assert list(rec.events(0, 50 * bad)) == EVENTS[: 50 * bad]  # read up to the damage
        with pytest.raises(RecordingError, match=f"chunk {bad} .*not consecutive"):
            list(rec.events())
    with open_recording(path) as rec, pytest.raises(RecordingError, match=f"chunk {bad} "):
        rec.verify_frames()
    assert assert_clean(path)[0] == REFUSED


def test_shipped_recordings_verify_every_frame():
    for path in sorted(Path("recordings").glob("*.nvmetrace")):
        with open_recording(path) as rec:
            assert rec.warnings == []
            assert rec.verify_frames() == len(rec)


# -- the fuzzer ----------------------------------------------------------------------
_FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
    derandomize=FUZZ_EXAMPLES <= 60,
)


def _check_partial(path: Path, good_events: list[ev.Event]) -> None:
    """Whatever opens must be a prefix of the original (a correct partial read)."""
    with open_recording(path) as rec:
        for k, event in enumerate(rec.events()):
            assert k < len(good_events) and event == good_events[k], f"event {k} differs"


@_FUZZ
@given(data=st.data())
def test_fuzzed_recordings_bit_flips_and_truncation(tmp_path_factory, good, data):
    blob = bytearray(good)
    for _ in range(data.draw(st.integers(1, 8), label="flips")):
        at = data.draw(st.integers(0, len(blob) - 1), label="at")
        blob[at] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    if data.draw(st.booleans(), label="truncate"):
        del blob[data.draw(st.integers(0, len(blob)), label="cut") :]
    path = put(tmp_path_factory.mktemp("fz"), bytes(blob))
    code, text = assert_clean(path)
    if code == CLEAN:
        assert limited(lambda: _check_partial(path, EVENTS))[0] != CRASHED


_HUGE = st.sampled_from(
    [-1, 0, 2**15, 2**16 + 1, 2**26, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1]
)


@_FUZZ
@given(data=st.data())
def test_fuzzed_recordings_crafted_sizes_with_valid_checksums(tmp_path_factory, good, data):
    """Frames, the index and the header rewritten with huge numbers and sound CRCs."""
    blob = good
    target = data.draw(
        st.sampled_from(["frame", "index", "header", "bomb", "doorbell"]), label="target"
    )
    if target == "frame":
        offset, ftype, first, count = data.draw(st.sampled_from(frames(good)), label="frame")
        _, _, plen, rlen, pcrc, _, _, _ = FRAME_HEADER.unpack_from(good, offset)
        field = data.draw(st.sampled_from(["rlen", "first", "count"]), label="field")
        value = data.draw(_HUGE, label="value")
        vals = {"rlen": rlen, "first": first, "count": count}
        vals[field] = value % (2**64 if field == "first" else 2**32)
        head = FRAME_HEADER.pack(
            b"NVF1", ftype, plen, vals["rlen"], pcrc, vals["first"], vals["count"], 0
        )
        head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
        blob = good[:offset] + head + good[offset + FRAME_HEADER.size :]
    elif target == "index":
        value = data.draw(_HUGE, label="value")
        slot = data.draw(st.integers(0, 3), label="slot")
        which = data.draw(st.integers(0, 30), label="entry")

        def change(index: dict) -> None:
            if slot == 0:
                index["events"] = value
            else:
                index["frames"][which % len(index["frames"])][slot] = value

        blob = rewrite_index(good, change)
    elif target == "header":
        key = data.draw(
            st.sampled_from(["chunk_events", "checkpoint_every", "version"]), label="key"
        )
        value = data.draw(_HUGE, label="value")
        blob = rewrite_header(
            good, lambda h: h.__setitem__(key, [value, 0] if key == "version" else value)
        )
    elif target == "bomb":
        offset, ftype, first, _ = data.draw(st.sampled_from(frames(good)[:-1]), label="frame")
        n = data.draw(st.sampled_from([10, 1000, 100_000, 1_000_000]), label="n")
        declared = data.draw(st.sampled_from([None, 50, 0, 2**32 - 1]), label="declared")
        blob = replace_frame(good, offset, _tiny_events_array(n, declared))
    else:
        tail = data.draw(_HUGE, label="tail")
        events = _huge_doorbell_events(abs(tail) % 2**63)
        path = write(
            tmp_path_factory.mktemp("fz") / "d.nvmetrace",
            fmt=data.draw(st.sampled_from(["msgpack", "jsonl"])),
            events=events,
        )
        blob = path.read_bytes()
    assert_clean(put(tmp_path_factory.mktemp("fz"), blob))


@_FUZZ
@given(data=st.data())
def test_fuzzed_recordings_chunks_dropped_duplicated_or_moved(tmp_path_factory, good, data):
    """Whole frames cut, copied or moved (headers and CRCs intact), or one chunk's events
    put in another chunk's frame (index and CRCs fixed up), with or without the trailer:
    whatever reads must be the original's prefix, nothing out of sequence."""
    spans = [(f[0], _frame_len(good, f[0])) for f in frames(good)[:-1]]  # not the index
    chunks = [f[0] for f in frames(good) if f[1] == FRAME_EVENTS]
    if data.draw(st.booleans(), label="payload"):
        dst, src = (data.draw(st.sampled_from(chunks), label=w) for w in ("dst", "src"))
        raw = zstandard.ZstdDecompressor().decompress(
            good[src + FRAME_HEADER.size : src + _frame_len(good, src)], max_output_size=1 << 24
        )
        good = replace_frame(good, dst, raw)
        spans = [(f[0], _frame_len(good, f[0])) for f in frames(good)[:-1]]
    blob = bytearray(good)
    for _ in range(data.draw(st.integers(0, 3), label="edits")):
        k = data.draw(st.integers(0, len(spans) - 1), label="frame")
        at, n = spans[k]
        piece = bytes(good[at : at + n])
        op = data.draw(st.sampled_from(["drop", "copy", "move"]), label="op")
        if op in ("drop", "move") and at + n <= len(blob):
            del blob[at : at + n]
        if op in ("copy", "move"):
            dest = data.draw(st.sampled_from(spans), label="to")[0]
            blob[min(dest, len(blob)) : min(dest, len(blob))] = piece
    if data.draw(st.booleans(), label="cut trailer"):
        del blob[-TRAILER.size :]
    path = put(tmp_path_factory.mktemp("fz"), bytes(blob))
    code, _ = assert_clean(path)
    if code == CLEAN:
        assert limited(lambda: _check_partial(path, EVENTS))[0] != CRASHED


def _frame_len(data: bytes, offset: int) -> int:
    return FRAME_HEADER.size + FRAME_HEADER.unpack_from(data, offset)[2]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


@pytest.mark.parametrize("size", [0, 9, 200_000_000, 99_999_999_999])
def test_a_register_access_of_a_size_no_device_has_is_described_in_a_short_line(size):
    """A crafted recording may claim any size: the value is padded to 8 bytes at most, so
    one line stays a line (it was padded to 2 * size digits: gigabytes)."""
    for event in (
        ev.MmioWrite(addr=0x28, size=size, value=1, old=0, new=1, reg="asq"),
        ev.MmioRead(addr=0x28, size=size, value=1, value_known=True, reg="asq"),
        ev.ConfigWrite(offset=4, size=size, value=6, old=0, new=6, reg="command"),
    ):
        assert len(ev.describe(event)) < 300


@pytest.mark.parametrize("where", ["middle", "doubled"])
def test_a_json_lines_end_line_before_the_last_line_is_damage(tmp_path, where):
    """An end line put in among the events (counting the events before it), or the file's
    own end line doubled: the file is damaged there, not complete, and verify_frames says
    so; the events before it are still readable (before, the rest was dropped silently)."""
    lines = write(tmp_path / "j.nvmetrace", fmt="jsonl").read_bytes().splitlines()
    if where == "middle":
        event_lines = [k for k, line in enumerate(lines) if line.startswith(b'{"kind":')]
        at = event_lines[99]
        lines = lines[:at] + [b'{"end":{"events":99}}'] + lines[at:]
        readable = 99
    else:
        lines = lines + [lines[-1]]
        readable = len(EVENTS)
    path = tmp_path / f"{where}.nvmetrace"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with open_recording(path) as rec:
        assert not rec.complete and len(rec) == readable
        assert any("the end line is not the last line" in w for w in rec.warnings)
        with pytest.raises(RecordingError, match="the end line is not the last line"):
            rec.verify_frames()
