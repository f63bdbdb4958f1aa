"""The ``.nvmetrace`` recording format: constants, framing, and the writer.

See docs/recording-format.md for the byte-level description. In short, a
binary recording is

    file header   MAGIC, u16 major, u16 minor, u32 header length, u32 CRC-32,
                  then the header: a MessagePack map (format, version, versions,
                  the machine configuration as plain data, scenario, seed, ...)
    frames        each: a 36-byte frame header (frame magic, type, payload
                  length, raw length, CRC-32 of the payload, first event, count,
                  CRC-32 of the frame header) and a zstd-compressed MessagePack
                  payload. Type E: a chunk of events (an array); type C: a
                  checkpoint (the serialized State after ``first`` events).
    index         type I frame: the table of every E and C frame
    trailer       TRAILER_MAGIC, u64 offset of the index frame

Every frame is written and flushed whole, so a recorder killed at any moment
leaves a file whose complete frames are all readable. Nothing in a file is
ever executed: decoding is msgspec into declared types, nothing else.

Every size a file states is checked against what the format allows before
anything is allocated: ``chunk_events`` is 1..MAX_CHUNK_EVENTS and an events
frame holds 1..chunk_events events (its MessagePack array length is compared
with the frame header before decoding); a frame decompresses to at most
``raw_bound(type, count)`` bytes (events MAX_EVENTS_RAW_BYTES, checkpoints
MAX_CHECKPOINT_RAW_BYTES, pages MAX_PAGE_RAW_BYTES per page) and never past its
header's raw length; a checkpoint's maps have the bounds in ``state.py``; the
version in the file header must be a known one and agree with the header map's
copy (which the header CRC covers).

``format='jsonl'`` writes the same content as JSON lines: the header object,
one line per event (``{"kind": ...}``), a ``{"checkpoint": ...}`` line per
checkpoint and a final ``{"end": ...}`` line.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Union

import msgspec
import zstandard

import nvmescope
from nvmescope.events import EVENT_TYPES, Event
from nvmescope.files import written_in_place
from nvmescope.trace.state import State, apply_all

FORMAT_NAME = "nvmetrace"
FORMAT_VERSION = (1, 0)  # (major, minor): a newer major cannot be read, a newer minor can
EXTENSION = ".nvmetrace"

MAGIC = b"\x89NVMETRC\r\n\x1a\n"  # 12 bytes; binary-safe like PNG's
FILE_HEADER = struct.Struct("<12sHHII")  # magic, major, minor, header length, header CRC
FRAME_MAGIC = b"NVF1"
#: frame magic, type, 3 pad, payload length, raw length, payload CRC, first, count, header CRC
FRAME_HEADER = struct.Struct("<4sB3xIIIQII")
TRAILER_MAGIC = b"NVMETRC-INDEX\x00\x00\x00"  # 16 bytes
TRAILER = struct.Struct("<16sQ")

FRAME_EVENTS = ord("E")
FRAME_CHECKPOINT = ord("C")
FRAME_INDEX = ord("I")
FRAME_PAGES = ord("P")
FRAME_TYPES = {
    FRAME_EVENTS: "events",
    FRAME_CHECKPOINT: "checkpoint",
    FRAME_INDEX: "index",
    FRAME_PAGES: "pages",
}

#: the versions this nvmescope knows: (major, minor). A file must say one of these
#: (or a newer minor of a known major), both in its file header and in the header map
#: (which is checksummed, so a damaged version field is caught by the disagreement)
KNOWN_VERSIONS = frozenset({(1, 0)})

#: no frame may claim more than this many bytes, compressed or raw
MAX_FRAME_BYTES = 256 * 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024 * 1024
#: bounds a reader checks before it allocates anything (see docs/recording-format.md):
#: a chunk holds at most ``chunk_events`` events, and ``chunk_events`` is at most this
MAX_CHUNK_EVENTS = 65536
#: an events frame never decompresses to more than this; the writer splits a chunk
#: that would (so a chunk can hold fewer than ``chunk_events`` events)
MAX_EVENTS_RAW_BYTES = 32 * 1024 * 1024
#: a checkpoint frame (the state without memory, and its page table) never
#: decompresses to more than this
MAX_CHECKPOINT_RAW_BYTES = 32 * 1024 * 1024
#: a pages frame decompresses to at most this many bytes per page it holds
#: (the address, two 4096-byte strings and their MessagePack framing)
MAX_PAGE_RAW_BYTES = 2 * 4096 + 32
#: a pages frame holds at most this many pages (64 MiB raw); the writer splits
MAX_PAGES_PER_FRAME = 8192
#: no recording may claim more events than this (2**48: far more than any file holds)
MAX_EVENTS = 1 << 48
#: ``checkpoint_every`` is at most this
MAX_CHECKPOINT_EVERY = 1 << 32


def raw_bound(ftype: int, count: int) -> int:
    """The most bytes a frame of type ``ftype`` with ``count`` in its header may
    decompress to. Checked against the frame header before any decompression."""
    if ftype == FRAME_EVENTS:
        return MAX_EVENTS_RAW_BYTES
    if ftype == FRAME_CHECKPOINT:
        return MAX_CHECKPOINT_RAW_BYTES
    if ftype == FRAME_PAGES:
        return 16 + min(count, MAX_PAGES_PER_FRAME) * MAX_PAGE_RAW_BYTES
    return MAX_FRAME_BYTES


DEFAULT_CHUNK_EVENTS = 1024
DEFAULT_CHECKPOINT_EVERY = 4096
#: every PROBE_EVERY-th events frame is compressed twice, with the level's own (fast)
#: match finder and with lazy matching, and the next frames use the one that won by
#: LAZY_WINS_PERCENT or more. Lazy matching finds what the fast one misses in data that
#: repeats in long patterns (io-load: 13.6 instead of 22.9 B/event) but costs 3 to 4
#: times as long where it finds nothing more (the bare loop's zeros): each run pays it
#: only where it buys something (benchmarks/bench_device.py). A chunk the fast finder
#: makes PROBE_ABOVE bytes per event or fewer is small already: no probe
PROBE_EVERY = 16
LAZY_WINS_PERCENT = 85
PROBE_ABOVE = 12

AnyEventType = Union[tuple(EVENT_TYPES.values())]  # type: ignore[valid-type]  # noqa: UP007
EVENT_ENCODER = msgspec.msgpack.Encoder()
EVENT_DECODER = msgspec.msgpack.Decoder(AnyEventType)
EVENTS_DECODER = msgspec.msgpack.Decoder(list[AnyEventType])  # type: ignore[valid-type]
PAGES_DECODER = msgspec.msgpack.Decoder(dict[int, tuple[bytes, bytes]])


class Checkpoint(msgspec.Struct, kw_only=True):
    """A checkpoint: the state without its memory, and where each memory page is.

    ``pages`` maps a page address to the number of the pages frame (P) that
    holds the page's content as of this checkpoint; a page unchanged since
    an earlier checkpoint points to an earlier frame, so each version of a
    page is stored once.
    """

    state: State
    pages: dict[int, int] = {}


CHECKPOINT_DECODER = msgspec.msgpack.Decoder(Checkpoint)
JSON_ENCODER = msgspec.json.Encoder()
JSON_EVENT_DECODER = msgspec.json.Decoder(AnyEventType)


class RecordingError(Exception):
    """A recording cannot be read. ``str()`` is one line: the file and what is wrong."""

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        self.path = str(path)
        self.what = " ".join(str(what).split())  # always one line
        super().__init__(self.path, self.what)

    def __str__(self) -> str:
        return f"{self.path}: {self.what}"


class Header(msgspec.Struct, kw_only=True):
    """What a recording says about itself (the file header, as plain data)."""

    format: str = FORMAT_NAME
    version: list[int] = msgspec.field(default_factory=lambda: list(FORMAT_VERSION))
    nvmescope: str = nvmescope.__version__
    #: the machine's ControllerConfig as plain data (field name -> value)
    config: dict[str, Any] = {}
    scenario: str | None = None
    seed: int | None = None
    encoding: str = "msgpack"
    chunk_events: int = DEFAULT_CHUNK_EVENTS
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    #: free-form plain data (e.g. where an imported trace came from)
    extra: dict[str, Any] = {}


HEADER_DECODER = msgspec.msgpack.Decoder(Header)


class IndexEntry(msgspec.Struct, array_like=True):
    """One frame in the index: type, file offset, first event, count (events) or 0."""

    type: int
    offset: int
    first: int
    count: int


class Index(msgspec.Struct, kw_only=True):
    events: int
    frames: list[IndexEntry]


INDEX_DECODER = msgspec.msgpack.Decoder(Index)


def config_to_data(config: Any) -> dict[str, Any]:
    """A configuration object (a dataclass such as ControllerConfig) as plain data."""
    if config is None:
        return {}
    if isinstance(config, dict):
        return dict(msgspec.to_builtins(config))
    data = msgspec.to_builtins(config)
    if not isinstance(data, dict):
        raise TypeError(f"configuration {config!r} is not a record of fields")
    if data.get("namespaces") in ((), []):
        # no [[namespace]] tables: the one namespace of namespace_size_bytes, flbas and
        # lba_formats, recorded as before namespaces could be configured
        del data["namespaces"]
    return data


def frame_bytes(ftype: int, payload: bytes, raw_len: int, first: int, count: int) -> bytes:
    """A whole frame: its header (with both CRCs) and the compressed payload."""
    head = FRAME_HEADER.pack(
        FRAME_MAGIC, ftype, len(payload), raw_len, zlib.crc32(payload), first, count, 0
    )
    crc = zlib.crc32(head[:-4])
    return head[:-4] + struct.pack("<I", crc) + payload


def file_header_bytes(header: Header) -> bytes:
    body = msgspec.msgpack.encode(header)
    major, minor = FORMAT_VERSION
    return FILE_HEADER.pack(MAGIC, major, minor, len(body), zlib.crc32(body)) + body


def _unrecordable(event: Event, exc: Exception) -> ValueError:
    return ValueError(f"event seq {event.seq} ({event.kind}) cannot be recorded: {exc}")


@dataclass
class WriterStats:
    events: int = 0
    chunks: int = 0
    checkpoints: int = 0
    bytes: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    kinds: Counter[str] = field(default_factory=Counter)


class TraceWriter:
    """Appends events to a recording, a chunk at a time, with checkpoints and an index.

    ``append(event)`` buffers; every ``chunk_events`` events the chunk is
    encoded, compressed, written and flushed, the running :class:`State` folds
    it, and every ``checkpoint_every`` events (at a chunk boundary) the state
    is written as a checkpoint. ``close()`` writes the rest, the index and the
    trailer. Works with any source of events (a Machine, an importer, a test).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        header: Header | None = None,
        *,
        fmt: str = "msgpack",
        chunk_events: int = DEFAULT_CHUNK_EVENTS,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        compression_level: int = 3,
        fsync: bool = False,
    ) -> None:
        if fmt not in ("msgpack", "jsonl"):
            raise ValueError(f"unknown recording format {fmt!r}: use 'msgpack' or 'jsonl'")
        if not 1 <= chunk_events <= MAX_CHUNK_EVENTS:
            raise ValueError(f"chunk_events must be 1..{MAX_CHUNK_EVENTS}, not {chunk_events}")
        if not 1 <= checkpoint_every <= MAX_CHECKPOINT_EVERY:
            raise ValueError(
                f"checkpoint_every must be 1..{MAX_CHECKPOINT_EVERY}, not {checkpoint_every}"
            )
        self.path = Path(path)
        self.fmt = fmt
        self.chunk_events = chunk_events
        # checkpoints fall on chunk boundaries
        self.checkpoint_every = max(chunk_events, checkpoint_every)
        self.header = header or Header()
        self.header.encoding = fmt
        self.header.chunk_events = chunk_events
        self.header.checkpoint_every = self.checkpoint_every
        self.fsync = fsync
        self.stats = WriterStats()
        self.state = State()
        # the writer's own state changes pages in place and lists the ones changed
        self.state.__dict__["_dirty"] = set()
        self._buffer: list[Event] = []
        self._since_checkpoint = 0
        self._index: list[IndexEntry] = []
        self._page_loc: dict[int, int] = {}
        self._pframes = 0
        self._cctx = zstandard.ZstdCompressor(level=compression_level)
        # lazy matching (strategy 4) with small tables and one search a position: most of
        # what level 6 finds in an event chunk, at a third of its time
        lazy = zstandard.ZstdCompressionParameters.from_level(
            compression_level, strategy=4, min_match=4, hash_log=14, chain_log=14,
            search_log=1,
        )  # fmt: skip
        self._lazy_cctx = zstandard.ZstdCompressor(compression_params=lazy)
        self._lazy = False
        self._probe_in = 0  # events frames until the next probe
        self._file: BinaryIO | None = open(self.path, "wb")  # noqa: SIM115
        self.closed = False
        if fmt == "msgpack":
            self._write(file_header_bytes(self.header))
        else:
            self._write(JSON_ENCODER.encode(msgspec.to_builtins(self.header)) + b"\n")

    # -- writing -------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        self.stats.bytes += len(data)

    def append(self, event: Event) -> None:
        """Add one event; writes a chunk when the buffer is full."""
        if self.closed:
            raise ValueError(f"{self.path}: the recording is closed")
        self._buffer.append(event)
        if len(self._buffer) >= self.chunk_events:
            self.flush()

    __call__ = append  # a writer is a bus subscriber

    def extend(self, events: Any) -> None:
        for event in events:
            self.append(event)

    def flush(self) -> None:
        """Write the buffered events as one chunk now (and a checkpoint if one is due)."""
        events, self._buffer = self._buffer, []
        if not events:
            return
        if self.fmt == "msgpack":
            self._write_chunk(events)
        else:
            lines = []
            for at, event in enumerate(events):
                try:
                    # what a binary recording cannot hold, a JSON one may not hold either
                    EVENT_ENCODER.encode(event)
                    lines.append(JSON_ENCODER.encode(event) + b"\n")
                except (OverflowError, TypeError, ValueError) as exc:
                    if at:  # the events before it are kept
                        self._write(b"".join(lines))
                        self._written(events[:at])
                    raise _unrecordable(event, exc) from exc
            self._write(b"".join(lines))
            self._written(events)
        if self._since_checkpoint >= self.checkpoint_every:
            self._checkpoint()

    def _written(self, events: list[Event]) -> None:
        """``events`` are in the file now: count them and fold them into the state."""
        stats = self.stats
        stats.events += len(events)
        stats.chunks += 1
        if stats.first_ts is None:
            stats.first_ts = events[0].ts
        stats.last_ts = events[-1].ts
        kinds = stats.kinds
        for cls, n in Counter(map(type, events)).items():  # counted per class, in C
            kinds[cls.__struct_config__.tag] += n  # type: ignore[attr-defined]
        apply_all(self.state, events)
        self._since_checkpoint += len(events)

    def _write_chunk(self, events: list[Event]) -> None:
        """Write ``events`` as one events frame, or as several when one would
        decompress to more than MAX_EVENTS_RAW_BYTES (which a reader refuses). An event
        that cannot be encoded at all (a number no recording holds) raises ValueError
        after the events before it are written, so none of those is lost."""
        try:
            raw: bytes | None = EVENT_ENCODER.encode(events)
        except (OverflowError, TypeError, ValueError) as exc:
            if len(events) == 1:
                raise _unrecordable(events[0], exc) from exc
            raw = None
        if raw is None or len(raw) > MAX_EVENTS_RAW_BYTES:
            if len(events) == 1:
                raise ValueError(
                    f"event seq {events[0].seq} takes {len(raw or b'')} bytes: more than the "
                    f"{MAX_EVENTS_RAW_BYTES} a recording's chunk may hold"
                )
            half = len(events) // 2
            self._write_chunk(events[:half])
            self._write_chunk(events[half:])
            return
        first = self.stats.events
        payload = self._compress_events(raw, len(events))
        self._index.append(IndexEntry(FRAME_EVENTS, self.stats.bytes, first, len(events)))
        self._write(frame_bytes(FRAME_EVENTS, payload, len(raw), first, len(events)))
        self._written(events)

    def _compress_events(self, raw: bytes, count: int) -> bytes:
        """The payload of an events frame of ``count`` events: see PROBE_EVERY (the choice
        depends on the events alone, so the same run writes the same file)."""
        if self._probe_in:
            self._probe_in -= 1
            return (self._lazy_cctx if self._lazy else self._cctx).compress(raw)
        self._probe_in = PROBE_EVERY - 1
        fast = self._cctx.compress(raw)
        if len(fast) <= PROBE_ABOVE * count:
            self._lazy = False
            return fast
        lazy = self._lazy_cctx.compress(raw)
        self._lazy = len(lazy) * 100 <= len(fast) * LAZY_WINS_PERCENT
        return lazy if self._lazy else fast

    def _checkpoint(self) -> None:
        self._since_checkpoint = 0
        n = self.stats.events
        state = self.state
        mem, known = state.mem, state.mem_known
        changed: set[int] = state.__dict__["_dirty"]
        dirty = {page: (bytes(mem[page]), bytes(known[page])) for page in sorted(changed)}
        changed.clear()
        items = list(dirty.items())
        for at in range(0, len(items), MAX_PAGES_PER_FRAME):
            group = dict(items[at : at + MAX_PAGES_PER_FRAME])  # a reader's bound per frame
            number = self._pframes
            self._pframes += 1
            for page in group:
                self._page_loc[page] = number
            if self.fmt == "msgpack":
                raw = msgspec.msgpack.encode(group)
                payload = self._cctx.compress(raw)
                self._index.append(IndexEntry(FRAME_PAGES, self.stats.bytes, number, len(group)))
                self._write(frame_bytes(FRAME_PAGES, payload, len(raw), number, len(group)))
            else:
                line = {"pages": {"id": number, "pages": msgspec.to_builtins(group)}}
                self._write(JSON_ENCODER.encode(line) + b"\n")
        table = {page: self._page_loc[page] for page in mem}
        state.mem, state.mem_known = {}, {}
        try:
            checkpoint = Checkpoint(state=state, pages=table)
            if self.fmt == "msgpack":
                raw = msgspec.msgpack.encode(checkpoint)
                if len(raw) > MAX_CHECKPOINT_RAW_BYTES:
                    return  # a reader would refuse it; readers fold from an earlier state
                payload = self._cctx.compress(raw)
                self._index.append(IndexEntry(FRAME_CHECKPOINT, self.stats.bytes, n, 0))
                self._write(frame_bytes(FRAME_CHECKPOINT, payload, len(raw), n, 0))
            else:
                body = msgspec.to_builtins(checkpoint)
                self._write(JSON_ENCODER.encode({"checkpoint": {"events": n, **body}}) + b"\n")
        finally:
            state.mem, state.mem_known = mem, known
        self.stats.checkpoints += 1

    def save_copy(self, dst: str | os.PathLike[str]) -> WriterStats:
        """Write everything so far to ``dst`` as a complete, closed recording; go on writing.

        The frames written so far are copied byte for byte, then an index and a
        trailer follow, so ``dst`` is what ``close()`` would have left had the
        recording ended now (a live session saves itself this way). ``dst`` is
        written beside itself under a temporary name and renamed into place, so a
        failure leaves neither a half-written file nor a damaged old one.
        """
        if self.fmt != "msgpack":
            raise ValueError("only a binary recording can be saved while it is written")
        if self.closed:
            raise ValueError(f"{self.path}: the recording is closed")
        target = Path(dst)
        try:
            same = os.path.samefile(target, self.path)
        except OSError:  # no such file yet (or none that can be looked at): not this one
            same = False
        if same:
            # renaming a copy over it would leave this writer writing to a deleted file
            raise ValueError(f"{target} is the file this recording is written to")
        self.flush()
        size = self.stats.bytes
        index = Index(events=self.stats.events, frames=list(self._index))
        raw = msgspec.msgpack.encode(index)
        index_frame = frame_bytes(
            FRAME_INDEX, self._cctx.compress(raw), len(raw), self.stats.events, 0
        )
        with written_in_place(target) as tmp, open(self.path, "rb") as src, open(tmp, "wb") as out:
            left = size
            while left:
                block = src.read(min(left, 1 << 20))
                if not block:
                    raise OSError(f"{self.path} is shorter than the {size} bytes written")
                out.write(block)
                left -= len(block)
            out.write(index_frame)
            out.write(TRAILER.pack(TRAILER_MAGIC, size))
            out.flush()
            os.fsync(out.fileno())
        return self.stats

    def close(self) -> WriterStats:
        """Write what is buffered, the index and the trailer; close the file."""
        if self.closed:
            return self.stats
        self.flush()
        if self.fmt == "msgpack":
            index = Index(events=self.stats.events, frames=self._index)
            raw = msgspec.msgpack.encode(index)
            payload = self._cctx.compress(raw)
            offset = self.stats.bytes
            self._write(frame_bytes(FRAME_INDEX, payload, len(raw), self.stats.events, 0))
            self._write(TRAILER.pack(TRAILER_MAGIC, offset))
        else:
            self._write(JSON_ENCODER.encode({"end": {"events": self.stats.events}}) + b"\n")
        assert self._file is not None
        self._file.close()
        self._file = None
        self.closed = True
        return self.stats

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class RecordingSummary:
    """What a finished recording holds (for the CLI to print)."""

    path: str
    format: str
    events: int
    bytes: int
    chunks: int
    checkpoints: int
    scenario: str | None = None
    virtual_ns: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def bytes_per_event(self) -> float:
        return self.bytes / self.events if self.events else 0.0
