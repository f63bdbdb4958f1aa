"""Reading recordings: lazily, safely, and to any moment.

``open_recording(path)`` reads the file header and the index (or, when the
recording was never closed, walks the frame headers without decoding any
event) and returns a :class:`Recording`. Events are decoded a chunk at a time
when asked for. ``state_at(n)`` starts from the nearest checkpoint (or a state
it computed recently) and folds events forward.

Nothing from the file is executed: every byte goes through a length check, a
CRC-32 and msgspec decoding into declared types. Whatever is wrong with a file
becomes a :class:`RecordingError` whose message is one line, or, when the data
before the damage is sound, a partial recording with ``warnings``.
"""

from __future__ import annotations

import bisect
import os
import re
import struct
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import zstandard

from nvmescope.events import Event
from nvmescope.files import DIRECTORY, MISSING, NOT_REGULAR, UserFileError, open_regular
from nvmescope.trace.format import (
    CHECKPOINT_DECODER,
    EVENTS_DECODER,
    FILE_HEADER,
    FORMAT_NAME,
    FORMAT_VERSION,
    FRAME_CHECKPOINT,
    FRAME_EVENTS,
    FRAME_HEADER,
    FRAME_INDEX,
    FRAME_MAGIC,
    FRAME_PAGES,
    FRAME_TYPES,
    HEADER_DECODER,
    INDEX_DECODER,
    JSON_EVENT_DECODER,
    KNOWN_VERSIONS,
    MAGIC,
    MAX_CHECKPOINT_EVERY,
    MAX_CHUNK_EVENTS,
    MAX_EVENTS,
    MAX_FRAME_BYTES,
    MAX_HEADER_BYTES,
    MAX_PAGES_PER_FRAME,
    PAGES_DECODER,
    TRAILER,
    TRAILER_MAGIC,
    Checkpoint,
    Header,
    RecordingError,
    raw_bound,
)
from nvmescope.trace.state import PAGE, State, apply

#: a state is kept in memory every this many events while folding (fast stepping back)
STEP_CACHE_EVERY = 128
STEP_CACHE_SIZE = 96
CHUNK_CACHE_SIZE = 8
#: decoded chunks kept in memory hold at most about this many (decompressed) bytes
CHUNK_CACHE_BYTES = 64 * 1024 * 1024
CHECKPOINT_CACHE_SIZE = 4
PAGE_FRAME_CACHE_SIZE = 8
JSONL_CHUNK = 1024

_DECODE_ERRORS = (
    msgspec.DecodeError,
    msgspec.ValidationError,
    zstandard.ZstdError,
    ValueError,
    TypeError,
    OverflowError,
    RecursionError,
    MemoryError,
    KeyError,
    UnicodeDecodeError,
)


class _Chunk(msgspec.Struct, array_like=True):
    offset: int  # file offset of the frame (binary) or index of the first line (jsonl)
    first: int
    count: int


class JsonCheckpoint(msgspec.Struct):
    events: int
    state: State
    pages: dict[int, int] = {}


class JsonPages(msgspec.Struct):
    id: int
    pages: dict[int, tuple[bytes, bytes]]


class _JsonLine(msgspec.Struct):
    checkpoint: JsonCheckpoint | None = None
    pages: JsonPages | None = None
    end: dict[str, Any] | None = None


class Recording:
    """A recording opened for reading. ``len()``, ``event(n)``, ``events()``, ``state_at(n)``."""

    def __init__(self, path: Path, header: Header) -> None:
        self.path = path
        self.header = header
        #: what is odd about the file but did not stop it from opening, one line each
        self.warnings: list[str] = []
        #: True when the recording was closed properly (index and trailer present)
        self.complete = False
        self._chunks: list[_Chunk] = []
        self._firsts: list[int] = []
        #: checkpoint positions (number of events folded) -> frame offset / line
        self._checkpoints: dict[int, int] = {}
        self._cp_positions: list[int] = []
        #: pages frames: number -> frame offset / line
        self._pframes: dict[int, int] = {}
        self._chunk_cache: OrderedDict[int, list[Event]] = OrderedDict()
        #: chunk number -> its decompressed size, for the chunks in ``_chunk_cache``
        self._chunk_bytes: dict[int, int] = {}
        self._cp_cache: OrderedDict[int, Checkpoint] = OrderedDict()
        self._page_cache: OrderedDict[int, dict[int, tuple[bytes, bytes]]] = OrderedDict()
        self._state_cache: OrderedDict[int, State] = OrderedDict()
        self._length = 0
        #: the damage that made the reader stop early while opening (a chunk or an event
        #: out of sequence), one line; ``verify_frames`` raises it after checking the rest
        self.damage: str | None = None
        #: the decompressed size of the chunk decoded last (for the cache's budget)
        self._last_chunk_bytes = 0

    # -- plain facts -----------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        return self.header.config

    @property
    def scenario(self) -> str | None:
        return self.header.scenario

    @property
    def checkpoints(self) -> list[int]:
        """Positions of the checkpoints: each is the state after that many events."""
        return list(self._cp_positions)

    @property
    def chunk_count(self) -> int:
        return len(self._chunks)

    def __len__(self) -> int:
        return self._length

    def range_text(self, first: int = 0, stop: int | None = None) -> str:
        """``"events 0..41"`` (both ends included), or ``"no events"`` when there are none.

        ``first``/``stop`` (stop excluded, clamped to the recording) name a part of it.
        Made for ``f"the recording has {rec.range_text()}"``: never ``events 0..-1``.
        """
        stop = self._length if stop is None else min(stop, self._length)
        first = max(first, 0)
        if stop <= first:
            return "no events"
        return f"events {first}..{stop - 1}"

    def info(self) -> dict[str, Any]:
        """What the recording is, as plain data (for ``nvmescope info``)."""
        h = self.header
        return {
            "path": str(self.path),
            "format": f"{h.format} {h.version[0]}.{h.version[1]}"
            if len(h.version) == 2
            else h.format,
            "encoding": h.encoding,
            "written_by": f"nvmescope {h.nvmescope}",
            "scenario": h.scenario,
            "seed": h.seed,
            "events": self._length,
            "chunks": len(self._chunks),
            "checkpoints": len(self._cp_positions),
            "complete": self.complete,
            "warnings": list(self.warnings),
            "config": dict(h.config),
        }

    def __repr__(self) -> str:
        return f"<Recording {self.path} {self._length} events>"

    def _finish_tables(self) -> None:
        self._firsts = [c.first for c in self._chunks]
        self._length = self._chunks[-1].first + self._chunks[-1].count if self._chunks else 0
        self._cp_positions = sorted(p for p in self._checkpoints if 0 < p <= self._length)

    def _decoded_chunk(self, i: int) -> list[Event]:
        """Chunk ``i`` decoded and checked: its event count, and each event's ``seq`` its
        position in the recording (a chunk duplicated, reordered or missing is damage)."""
        events = self._decode_chunk(i)
        chunk = self._chunks[i]
        what = f"chunk {i} (events {chunk.first}..{chunk.first + chunk.count - 1})"
        if len(events) != chunk.count:
            raise RecordingError(
                self.path, f"{what} holds {len(events)} events, its header says {chunk.count}"
            )
        for k, event in enumerate(events):
            if event.seq != chunk.first + k:
                raise RecordingError(self.path, _sequence_damage(what, chunk.first + k, event.seq))
        return events

    # -- to be provided by the encoding ----------------------------------------
    def _decode_chunk(self, i: int) -> list[Event]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _decode_checkpoint(self, position: int) -> Checkpoint:  # pragma: no cover - abstract
        raise NotImplementedError

    def _decode_pages(self, number: int) -> dict[int, tuple[bytes, bytes]]:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        pass

    def grow(self) -> int:
        """Read what a recorder appended since the last look (see BinaryRecording)."""
        return 0

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- events ------------------------------------------------------------------
    def _chunk(self, i: int) -> list[Event]:
        cached = self._chunk_cache.get(i)
        if cached is not None:
            self._chunk_cache.move_to_end(i)
            return cached
        events = self._decoded_chunk(i)
        self._chunk_cache[i] = events
        self._chunk_bytes[i] = self._last_chunk_bytes
        while len(self._chunk_cache) > 1 and (
            len(self._chunk_cache) > CHUNK_CACHE_SIZE
            or sum(self._chunk_bytes.values()) > CHUNK_CACHE_BYTES
        ):
            old, _ = self._chunk_cache.popitem(last=False)
            self._chunk_bytes.pop(old, None)
        return events

    def _index(self, n: int) -> int:
        if n < 0:
            n += self._length
        if not 0 <= n < self._length:
            raise IndexError(f"event {n} is out of range: the recording has {self.range_text()}")
        return n

    def event(self, n: int) -> Event:
        """Event number ``n`` (0-based; negative counts from the end)."""
        n = self._index(n)
        i = bisect.bisect_right(self._firsts, n) - 1
        return self._chunk(i)[n - self._chunks[i].first]

    def __getitem__(self, n: int) -> Event:
        return self.event(n)

    def events(self, start: int = 0, stop: int | None = None) -> Iterator[Event]:
        """Events ``start`` up to (not including) ``stop``, decoded a chunk at a time."""
        for _, events in self.event_runs(start, stop):
            yield from events

    def event_runs(
        self, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, list[Event]]]:
        """``events(start, stop)`` a chunk at a time: (the first one's position, the list).
        A scan over millions of events loops over each list, not through a generator an
        event. A whole chunk's list is the reader's own cached one: read it, never change it."""
        stop = self._length if stop is None else min(max(stop, 0), self._length)
        start = max(start, 0)
        if start >= stop:
            return
        i = bisect.bisect_right(self._firsts, start) - 1
        n = start
        while n < stop:
            chunk = self._chunks[i]
            events = self._chunk(i)
            lo = n - chunk.first
            hi = min(stop - chunk.first, chunk.count)
            yield n, events[lo:hi] if lo or hi < len(events) else events
            n = chunk.first + hi
            i += 1

    def __iter__(self) -> Iterator[Event]:
        return self.events()

    # -- states ------------------------------------------------------------------
    def _checkpoint(self, position: int) -> Checkpoint:
        cached = self._cp_cache.get(position)
        if cached is None:
            cp = self._decode_checkpoint(position)
            _check_state(self.path, cp.state, position)
            missing = set(cp.pages.values()) - set(self._pframes)
            if missing:
                raise RecordingError(
                    self.path,
                    f"checkpoint at event {position} refers to pages frame {min(missing)}, "
                    "which the file does not have",
                )
            cached = self._cp_cache[position] = cp
            if len(self._cp_cache) > CHECKPOINT_CACHE_SIZE:
                self._cp_cache.popitem(last=False)
        else:
            self._cp_cache.move_to_end(position)
        return cached

    def checkpoint_state(self, position: int) -> State:
        """The state stored at a checkpoint (the state after ``position`` events)."""
        cp = self._checkpoint(position)
        state = cp.state.copy()
        state.set_lazy_pages(cp.pages, self._load_page)
        return state

    def _page_frame(self, number: int) -> dict[int, tuple[bytes, bytes]]:
        cached = self._page_cache.get(number)
        if cached is not None:
            self._page_cache.move_to_end(number)
            return cached
        pages = self._decode_pages(number)
        for page, (data, known) in pages.items():
            if page % PAGE or len(data) != PAGE or len(known) not in (0, PAGE):
                raise RecordingError(self.path, f"pages frame {number}: bad page {page:#x}")
        self._page_cache[number] = pages
        if len(self._page_cache) > PAGE_FRAME_CACHE_SIZE:
            self._page_cache.popitem(last=False)
        return pages

    def _load_page(self, page: int, number: int) -> tuple[bytes, bytes] | None:
        got = self._page_frame(number).get(page)
        if got is None:
            raise RecordingError(self.path, f"pages frame {number} does not hold page {page:#x}")
        return got

    def _remember(self, position: int, state: State) -> None:
        self._state_cache[position] = state
        self._state_cache.move_to_end(position)
        if len(self._state_cache) > STEP_CACHE_SIZE:
            self._state_cache.popitem(last=False)

    def state_at(self, n: int) -> State:
        """The state as of event ``n``: after event ``n`` was applied.

        Starts from the nearest checkpoint or cached state at or before ``n``
        and folds forward, keeping a state every ``STEP_CACHE_EVERY`` events
        so that stepping back (``state_at(n - 1)``) is cheap. The result is a
        copy the caller may keep or change.
        """
        n = self._index(n)
        target = n + 1  # events folded
        base_pos, base = 0, None
        k = bisect.bisect_right(self._cp_positions, target) - 1
        if k >= 0:
            base_pos = self._cp_positions[k]
        best_cached = max((p for p in self._state_cache if p <= target), default=-1)
        if best_cached >= base_pos and best_cached >= 0:
            base_pos = best_cached
            base = self._state_cache[best_cached]
            self._state_cache.move_to_end(best_cached)
        if base is not None:
            state = base.copy()
        elif base_pos > 0:
            state = self.checkpoint_state(base_pos)
        else:
            state = State()
        pos = base_pos
        for event in self.events(base_pos, target):
            apply(state, event)
            pos += 1
            if pos % STEP_CACHE_EVERY == 0 and pos != target:
                self._remember(pos, state.copy())
        if pos != target:  # pragma: no cover - events() always yields them all
            raise RecordingError(self.path, f"events {pos}..{target - 1} could not be read")
        self._remember(target, state)
        return state.copy()

    # -- checking ---------------------------------------------------------------
    def verify_all(self, *, partial: bool = False) -> int:
        """Decode every chunk and checkpoint (raises RecordingError on damage); returns events."""
        return self.verify_frames(partial=partial)

    def verify_frames(self, *, partial: bool = False) -> int:
        """Decode and checksum every frame the recording has; return the number of events.

        Every events chunk (its CRC, its decompressed size, its event count and
        its events' sequence numbers), every pages frame, every checkpoint (and
        every page it names) and, for a closed binary recording, the index; then
        the damage the reader stopped at while opening (``damage``: a chunk or an
        event out of sequence), if any; then the layout of the whole file: every
        byte after the file header is in a frame whose header and payload checksums
        are sound and which the recording reads, and a closed file ends with its
        index and a trailer pointing at it (a JSON-lines file with its ``end`` line,
        counting the events). A file cut short (a killed recorder) is damage too:
        ``cut short at byte B: events 0..N verified, the rest is missing``, unless
        ``partial`` (then only the part that is there is checked). Raises
        :class:`RecordingError` (one line) at the first damage. Chunks are decoded
        outside the chunk cache, so memory stays at about one frame's worth (pages
        frames and checkpoints go through their small caches).
        """
        total = 0
        for i in range(len(self._chunks)):
            events = self._decoded_chunk(i)
            total += len(events)
            del events
        for number in sorted(self._pframes):
            self._page_frame(number)
        for position in sorted(self._checkpoints):
            if not 0 < position <= self._length:
                continue
            self.checkpoint_state(position).materialize()
        if self.damage is not None:  # the index cannot fit a file damaged before its end
            raise RecordingError(self.path, self.damage)
        self._verify_index()
        self._verify_layout(total, partial)
        return total

    def _verify_index(self) -> None:
        """Check the index frame (binary recordings that were closed)."""
        return None

    def _verify_layout(self, verified: int, partial: bool) -> None:
        """Check that every byte of the file belongs to something sound that was read
        (``verified``: the events decoded so far); a file cut short is damage here
        unless ``partial``."""
        return None

    def _cut_short(self, where: str, verified: int, why: str) -> RecordingError:
        return RecordingError(
            self.path,
            f"cut short at {where}: {self.range_text(0, verified)} verified, the rest is "
            f"missing ({why})",
        )


def _msgpack_array_length(raw: bytes) -> int | None:
    """The length a MessagePack array at the start of ``raw`` declares (None: not an array)."""
    if not raw:
        return None
    b = raw[0]
    if 0x90 <= b <= 0x9F:
        return b & 0x0F
    if b == 0xDC and len(raw) >= 3:
        return int.from_bytes(raw[1:3], "big")
    if b == 0xDD and len(raw) >= 5:
        return int.from_bytes(raw[1:5], "big")
    return None


def _sequence_damage(what: str, n: int, seq: int) -> str:
    """Event ``n`` (of the chunk or line ``what``) has sequence number ``seq``, not ``n``."""
    how = "duplicated or moved back" if seq < n else "missing or moved forward"
    return (
        f"{what}: event {n} has seq {seq}: events are not consecutive "
        f"(events {how}): the recording is damaged there"
    )


def _check_state(path: Path, state: State, position: int) -> None:
    """A decoded checkpoint must be the state after ``position`` events and well formed."""
    if state.index != position - 1:
        raise RecordingError(
            path, f"checkpoint at event {position} says it is at event {state.index + 1}"
        )
    if set(state.mem) != set(state.mem_known):
        raise RecordingError(path, f"checkpoint at event {position}: memory pages do not match")
    for page, data in state.mem.items():
        if page % PAGE or len(data) != PAGE or len(state.mem_known[page]) not in (0, PAGE):
            raise RecordingError(path, f"checkpoint at event {position}: bad page {page:#x}")
    for table in (state.bar0, state.config):
        for value in table.values():
            if not 0 <= value <= 0xFF:
                raise RecordingError(path, f"checkpoint at event {position}: bad register byte")


# -- the binary encoding ------------------------------------------------------------
class BinaryRecording(Recording):
    def __init__(
        self, path: Path, header: Header, file: BinaryIO, size: int, data_start: int
    ) -> None:
        super().__init__(path, header)
        self._file = file
        self._size = size
        self._data_start = data_start
        self._dctx = zstandard.ZstdDecompressor()
        #: where a walk of the frames stopped (``grow`` goes on from there)
        self._walked = data_start
        #: why a closed recording's index could not be used (verify_frames reports it)
        self._index_problem: str | None = None

    def close(self) -> None:
        self._file.close()

    def _read_at(self, offset: int, length: int) -> bytes:
        self._file.seek(offset)
        return self._file.read(length)

    def _frame_header(self, offset: int) -> tuple[int, int, int, int, int, int] | str:
        """(type, payload length, raw length, payload crc, first, count), or what is wrong."""
        if offset + FRAME_HEADER.size > self._size:
            return "ends inside a frame header"
        raw = self._read_at(offset, FRAME_HEADER.size)
        if len(raw) != FRAME_HEADER.size:
            return "ends inside a frame header"
        magic, ftype, plen, rlen, pcrc, first, count, hcrc = FRAME_HEADER.unpack(raw)
        if magic != FRAME_MAGIC:
            return "no frame starts here (bad frame magic)"
        if zlib.crc32(raw[:-4]) != hcrc:
            return "frame header checksum mismatch"
        if ftype not in FRAME_TYPES:
            return f"unknown frame type {ftype}"
        if plen > MAX_FRAME_BYTES or rlen > raw_bound(ftype, count):
            return (
                f"{FRAME_TYPES[ftype]} frame claims an absurd length ({plen} bytes, "
                f"{rlen} decompressed; at most {raw_bound(ftype, count)})"
            )
        if ftype == FRAME_EVENTS and not 0 < count <= self.header.chunk_events:
            return (
                f"events frame claims {count} events (the recording's chunks hold "
                f"1..{self.header.chunk_events})"
            )
        if ftype == FRAME_PAGES and count > MAX_PAGES_PER_FRAME:
            return f"pages frame claims {count} pages (at most {MAX_PAGES_PER_FRAME})"
        if first > MAX_EVENTS:
            return f"frame claims to start at event {first}"
        if offset + FRAME_HEADER.size + plen > self._size:
            return "ends inside a frame (truncated)"
        return ftype, plen, rlen, pcrc, first, count

    def _payload(self, offset: int, what: str, want_type: int) -> tuple[bytes, int, int]:
        head = self._frame_header(offset)
        if isinstance(head, str):
            raise RecordingError(self.path, f"{what} at byte {offset}: {head}")
        ftype, plen, rlen, pcrc, first, count = head
        if ftype != want_type:
            raise RecordingError(
                self.path, f"{what} at byte {offset}: expected a {FRAME_TYPES[want_type]} frame"
            )
        if want_type == FRAME_INDEX and rlen > _index_bound(self._size):
            # each entry stands for a frame of the file: no index of this file is that long
            raise RecordingError(
                self.path, f"{what} at byte {offset}: claims {rlen} bytes, more than an index "
                f"of a {self._size}-byte file can take",
            )  # fmt: skip
        payload = self._read_at(offset + FRAME_HEADER.size, plen)
        if len(payload) != plen:
            raise RecordingError(self.path, f"{what} at byte {offset}: truncated")
        if zlib.crc32(payload) != pcrc:
            raise RecordingError(
                self.path, f"{what} at byte {offset} is damaged: checksum mismatch"
            )
        try:
            # never more than the header says (which _frame_header bounded): a
            # decompression bomb stops at rlen bytes. (``decompress`` would allocate
            # whatever size the zstd frame itself declares, so read from a stream.)
            declared = zstandard.frame_content_size(payload)
            if declared > rlen:
                raise RecordingError(
                    self.path,
                    f"{what} at byte {offset}: decompresses to {declared} bytes, "
                    f"its header says {rlen}",
                )
            parts: list[bytes] = []
            got = 0
            with self._dctx.stream_reader(payload, read_across_frames=True) as reader:
                while got <= rlen:
                    part = reader.read(rlen + 1 - got)
                    if not part:
                        break
                    parts.append(part)
                    got += len(part)
            raw = b"".join(parts)
        except _DECODE_ERRORS as exc:
            raise RecordingError(self.path, f"{what} at byte {offset}: {exc}") from None
        if len(raw) != rlen:
            raise RecordingError(self.path, f"{what} at byte {offset}: wrong decompressed size")
        return raw, first, count

    def _decode_chunk(self, i: int) -> list[Event]:
        chunk = self._chunks[i]
        what = f"chunk {i} (events {chunk.first}..{chunk.first + chunk.count - 1})"
        raw, first, count = self._payload(chunk.offset, what, FRAME_EVENTS)
        if (first, count) != (chunk.first, chunk.count):
            raise RecordingError(
                self.path,
                f"{what}: the frame at byte {chunk.offset} holds events {first}.."
                f"{first + count - 1}: frame header disagrees with the index "
                "(chunks are not consecutive: the recording is damaged there)",
            )
        held = _msgpack_array_length(raw)
        if held != count:
            # checked before decoding: a chunk cannot unpack into more events than it says
            raise RecordingError(self.path, f"{what}: holds {held} events, its header says {count}")
        try:
            events = EVENTS_DECODER.decode(raw)
        except _DECODE_ERRORS as exc:
            raise RecordingError(self.path, f"{what}: cannot decode: {exc}") from None
        self._last_chunk_bytes = len(raw)
        return events

    def _decode_checkpoint(self, position: int) -> Checkpoint:
        what = f"checkpoint at event {position}"
        raw, first, _ = self._payload(self._checkpoints[position], what, FRAME_CHECKPOINT)
        if first != position:
            raise RecordingError(self.path, f"{what}: frame header disagrees with the index")
        try:
            return CHECKPOINT_DECODER.decode(raw)
        except _DECODE_ERRORS as exc:
            raise RecordingError(self.path, f"{what}: cannot decode: {exc}") from None

    def _decode_pages(self, number: int) -> dict[int, tuple[bytes, bytes]]:
        what = f"pages frame {number}"
        raw, first, count = self._payload(self._pframes[number], what, FRAME_PAGES)
        try:
            pages = PAGES_DECODER.decode(raw)
        except _DECODE_ERRORS as exc:
            raise RecordingError(self.path, f"{what}: cannot decode: {exc}") from None
        if first != number or count != len(pages):
            raise RecordingError(self.path, f"{what}: frame header disagrees with its content")
        return pages

    def _verify_index(self) -> None:
        if self._index_problem is not None:
            raise RecordingError(self.path, f"the index cannot be used: {self._index_problem}")
        if not self.complete:
            return
        _, offset = TRAILER.unpack(self._read_at(self._size - TRAILER.size, TRAILER.size))
        raw, total, _ = self._payload(offset, "index", FRAME_INDEX)
        try:
            index = INDEX_DECODER.decode(raw)
        except _DECODE_ERRORS as exc:
            raise RecordingError(self.path, f"index: cannot decode: {exc}") from None
        chunks = [e for e in index.frames if e.type == FRAME_EVENTS]
        if (
            total != self._length
            or index.events != self._length
            or [(e.offset, e.first, e.count) for e in chunks]
            != [(c.offset, c.first, c.count) for c in self._chunks]
        ):
            raise RecordingError(self.path, "the index disagrees with the frames it lists")

    def _verify_layout(self, verified: int, partial: bool) -> None:
        """Walk the whole file: every byte after the file header is in a frame whose
        header and payload checksums are sound and which the tables (from the index or
        the opening walk) read, and a closed file ends with its index frame and a
        trailer pointing at it. A file that ends inside a frame, or without its index,
        was cut short: that is damage too."""
        tables = {c.offset: FRAME_EVENTS for c in self._chunks}
        tables.update(
            (o, FRAME_CHECKPOINT) for p, o in self._checkpoints.items() if p in self._cp_positions
        )
        tables.update((o, FRAME_PAGES) for o in self._pframes.values())
        offset, number, index_at = self._data_start, 0, None
        closed = self._size - TRAILER.size >= self._data_start and (
            self._read_at(self._size - TRAILER.size, len(TRAILER_MAGIC)) == TRAILER_MAGIC
        )
        while offset < self._size:
            if index_at is not None:
                if self._size - offset != TRAILER.size:
                    raise RecordingError(
                        self.path,
                        f"frame {number} at byte {offset}: {self._size - offset} bytes follow "
                        f"the index frame, not the {TRAILER.size}-byte trailer: the recording "
                        "is damaged there",
                    )
                magic, points = TRAILER.unpack(self._read_at(offset, TRAILER.size))
                if magic != TRAILER_MAGIC or points != index_at:
                    raise RecordingError(
                        self.path,
                        f"the trailer at byte {offset} is damaged (it does not point at the "
                        f"index frame at byte {index_at})",
                    )
                return
            head = self._frame_header(offset)
            if isinstance(head, str):
                if not closed and head.startswith("ends inside a frame"):
                    if partial:
                        return
                    raise self._cut_short(f"byte {offset}", verified, f"the file {head}")
                raise RecordingError(
                    self.path,
                    f"frame {number} at byte {offset}: {head}: the recording is damaged there",
                )
            ftype, plen, _, pcrc, _, _ = head
            name = f"{FRAME_TYPES[ftype]} frame {number} at byte {offset}"
            if self._payload_crc(offset + FRAME_HEADER.size, plen) != pcrc:
                raise RecordingError(self.path, f"{name} is damaged: checksum mismatch")
            if ftype == FRAME_INDEX:
                end = offset + FRAME_HEADER.size + plen
                if partial and not closed and not self.complete and end == self._size:
                    return  # killed between writing the index and the trailer
                if not self.complete:
                    # the recorder closed the file (the index follows the last chunk), but
                    # what should follow the index is not its trailer: every event is
                    # there and was verified above; the file is still damaged
                    after = self._size - end
                    what = (
                        f"the file ends right after the {name}, without its trailer"
                        if after == 0
                        else f"the {after} bytes after the {name} are not its trailer"
                    )
                    raise RecordingError(
                        self.path,
                        f"{self.range_text(0, verified)} verified, none missing, but {what} "
                        f"({TRAILER.size} bytes): the recording is damaged there",
                    )
                index_at = offset
            elif tables.pop(offset, None) != ftype:
                raise RecordingError(
                    self.path,
                    f"{name} is not one the recording reads (out of sequence, or not in the "
                    "index): the recording is damaged there",
                )
            offset += FRAME_HEADER.size + plen
            number += 1
        if tables:
            at = min(tables)
            raise RecordingError(
                self.path, f"the index lists a frame at byte {at}, where none starts"
            )
        if not partial:
            raise self._cut_short(
                f"byte {offset}", verified, "the file ends without its index and trailer"
            )

    def _payload_crc(self, offset: int, length: int) -> int:
        """The CRC-32 of ``length`` bytes at ``offset``, read a block at a time."""
        crc = 0
        self._file.seek(offset)
        while length > 0:
            block = self._file.read(min(length, 1 << 20))
            if not block:
                break
            crc = zlib.crc32(block, crc)
            length -= len(block)
        return crc

    # -- opening ------------------------------------------------------------------
    def load_tables(self, follow: bool = False) -> None:
        why = self._load_index()
        self._index_problem = None if why in (None, "not closed") else why
        if why is None:
            self.complete = True
        else:
            self._scan(why, follow)
        self._finish_tables()

    def _load_index(self) -> str | None:
        """Read the trailer and the index frame; None on success, else why not."""
        if self._size < self._data_start + TRAILER.size:
            return "not closed"
        magic, offset = TRAILER.unpack(self._read_at(self._size - TRAILER.size, TRAILER.size))
        if magic != TRAILER_MAGIC:
            return "not closed"
        if not self._data_start <= offset < self._size - TRAILER.size:
            return "the trailer points outside the file"
        try:
            raw, total, _ = self._payload(offset, "index", FRAME_INDEX)
            index = INDEX_DECODER.decode(raw)
        except RecordingError as exc:
            return f"the index is damaged ({exc.what})"
        except _DECODE_ERRORS:
            return "the index is damaged"
        if not 0 <= index.events <= MAX_EVENTS:
            return f"the index is inconsistent (it claims {index.events} events)"
        events = 0
        last_offset = self._data_start - 1
        for entry in index.frames:
            if not (last_offset < entry.offset and entry.offset + FRAME_HEADER.size <= offset):
                return "the index is inconsistent (frame offsets)"
            last_offset = entry.offset
            if entry.type == FRAME_EVENTS:
                if entry.first != events or not 0 < entry.count <= self.header.chunk_events:
                    return "the index is inconsistent (event numbering)"
                self._chunks.append(_Chunk(entry.offset, entry.first, entry.count))
                events += entry.count
            elif entry.type == FRAME_CHECKPOINT:
                if not 0 < entry.first <= events:
                    return "the index is inconsistent (checkpoint position)"
                self._checkpoints[entry.first] = entry.offset
            elif entry.type == FRAME_PAGES:
                if entry.first != len(self._pframes) or not 0 <= entry.count <= MAX_PAGES_PER_FRAME:
                    return "the index is inconsistent (pages frames)"
                self._pframes[entry.first] = entry.offset
            else:
                return "the index names an unknown frame type"
        if events != index.events or events != total:
            return "the index is inconsistent (event count)"
        return None

    def _walk(self, offset: int, events: int) -> tuple[int, int, str | None, int | None]:
        """Add the sound frames from ``offset`` on (no decoding) to the tables.

        Returns (where the walk stopped, events so far, why it stopped early or
        None, where the frame after an index frame starts, if it saw one).
        """
        stop: str | None = None
        #: where the frame after an index frame starts (the index is written only at close)
        index_end: int | None = None
        while offset < self._size:
            rest = self._size - offset
            if rest == TRAILER.size and self._read_at(offset, 16) == TRAILER_MAGIC:
                break
            head = self._frame_header(offset)
            if isinstance(head, str):
                stop = f"{head} at byte {offset}; the {rest} bytes from there were ignored"
                break
            ftype, plen, _, _, first, count = head
            if ftype == FRAME_EVENTS:
                if first != events:
                    # a chunk duplicated, reordered or missing: damage, read up to it
                    how = "duplicated or moved back" if first < events else "missing or moved"
                    self.damage = (
                        f"chunk {len(self._chunks)} at byte {offset} holds events "
                        f"{first}..{first + count - 1}, not {events}..: chunks are not "
                        f"consecutive (a chunk {how}): the recording is damaged there"
                    )
                    stop = f"{self.damage}; the {rest} bytes from there were ignored"
                    break
                self._chunks.append(_Chunk(offset, first, count))
                events += count
            elif ftype == FRAME_CHECKPOINT and 0 < first <= events:
                self._checkpoints[first] = offset
            elif ftype == FRAME_PAGES and first == len(self._pframes):
                self._pframes[first] = offset
            offset += FRAME_HEADER.size + plen
            if ftype == FRAME_INDEX:
                index_end = offset
        return offset, events, stop, index_end

    def grow(self) -> int:
        """Read the frames a recorder appended since the last look; returns the new events.

        For a recording that is still being written (``follow_recording``): the
        writer appends whole frames, so every frame up to the end of the file is
        sound. A closed recording never grows.
        """
        if self.complete:
            return 0
        before = self._length
        self._size = os.fstat(self._file.fileno()).st_size
        self._walked, _, _, _ = self._walk(self._walked, before)
        self._finish_tables()
        return self._length - before

    def _scan(self, why: str, follow: bool = False) -> None:
        """Walk frame headers from the start (no decoding) up to the first damage.

        ``follow``: the recording is still being written; that it is not closed
        yet is no news (damage still is).
        """
        self._chunks.clear()
        self._checkpoints.clear()
        self._pframes.clear()
        offset, events, stop, index_end = self._walk(self._data_start, 0)
        self._walked = offset
        if follow and why == "not closed" and stop is None and index_end is None:
            return
        readable = f"{events} events in {len(self._chunks)} complete chunks are readable"
        if why == "not closed" and index_end is not None:
            # the recorder got as far as the index, so it closed the file: the trailer
            # after the index is what is damaged (or cut short)
            tail = self._size - index_end
            what = (
                f"its last {tail} bytes are not a valid {TRAILER.size}-byte trailer"
                if tail
                else f"the file ends right after its index, without the {TRAILER.size}-byte trailer"
            )
            msg = (
                f"the trailer is damaged (the recording was closed, but {what}): "
                f"read frame by frame, {readable}"
            )
            if offset == index_end:
                stop = None  # the stop is the damaged trailer itself
        elif why == "not closed":
            msg = f"recording was not closed (the recorder stopped early): {readable}"
        else:
            msg = f"the recording's index cannot be used ({why}): read frame by frame, {readable}"
        if stop:
            msg += f"; {stop}"
        self.warnings.append(msg)


# -- JSON lines ----------------------------------------------------------------------
class JsonlRecording(Recording):
    """``first_line``: the 1-based line number in the file of ``lines[0]``."""

    def __init__(self, path: Path, header: Header, lines: list[bytes], first_line: int) -> None:
        super().__init__(path, header)
        self._lines = lines
        self._first_line = first_line
        #: the 1-based file line number of each event
        self._event_lines = array("L")
        #: the 1-based number of the first line the file does not have whole (None: closed)
        self._cut_line: int | None = None
        #: the line of the ``end`` object, and the events it says the recording has
        self._end: tuple[int, Any] | None = None

    def _decode_chunk(self, i: int) -> list[Event]:
        chunk = self._chunks[i]
        out: list[Event] = []
        for k in range(chunk.count):
            n = chunk.first + k
            try:
                event = JSON_EVENT_DECODER.decode(self._lines[chunk.offset + k])
            except _DECODE_ERRORS as exc:
                line = self._event_lines[n]
                raise RecordingError(
                    self.path, f"line {line} (event {n}): not a valid event: {exc}"
                ) from None
            if event.seq != n:
                raise RecordingError(self.path, _gap_damage(n, event.seq, self._event_lines[n]))
            out.append(event)
        return out

    def _decode_checkpoint(self, position: int) -> Checkpoint:
        line = self._checkpoints[position]
        try:
            parsed = msgspec.json.decode(self._cp_lines[line], type=_JsonLine)
        except _DECODE_ERRORS as exc:
            raise RecordingError(self.path, f"checkpoint line {line}: {exc}") from None
        if parsed.checkpoint is None or parsed.checkpoint.events != position:
            raise RecordingError(self.path, f"checkpoint line {line} is not at event {position}")
        return Checkpoint(state=parsed.checkpoint.state, pages=parsed.checkpoint.pages)

    def _decode_pages(self, number: int) -> dict[int, tuple[bytes, bytes]]:
        line = self._pframes[number]
        try:
            parsed = msgspec.json.decode(self._cp_lines[line], type=_JsonLine)
        except _DECODE_ERRORS as exc:
            raise RecordingError(self.path, f"pages line {line}: {exc}") from None
        if parsed.pages is None or parsed.pages.id != number:
            raise RecordingError(self.path, f"line {line} is not pages frame {number}")
        return parsed.pages.pages

    def load_tables(self, body: list[bytes], ended: bool) -> None:
        self._cp_lines: dict[int, bytes] = {}
        events: list[bytes] = []
        event_lines = self._event_lines
        for k, line in enumerate(body):
            lineno = self._first_line + k
            if line.startswith(b'{"kind":'):
                seq = _seq_of(line)
                if seq is not None and seq != len(events):
                    # an event line removed, duplicated or moved: damage, read up to it
                    # (a seq that cannot be read cheaply is checked when decoded)
                    self.damage = _gap_damage(len(events), seq, lineno)
                    self.warnings.append(
                        f"{self.damage}; read up to there: {len(events)} events are readable"
                    )
                    break
                events.append(line)
                event_lines.append(lineno)
            elif line.startswith(b'{"checkpoint":'):
                self._checkpoints[len(events)] = lineno
                self._cp_lines[lineno] = line
            elif line.startswith(b'{"pages":'):
                self._pframes[len(self._pframes)] = lineno
                self._cp_lines[lineno] = line
            elif line.startswith(b'{"end":'):
                try:
                    said = msgspec.json.decode(line).get("end", {}).get("events")
                except (*_DECODE_ERRORS, AttributeError):
                    said = None
                self._end = (lineno, said)
                if any(rest.strip() for rest in body[k + 1 :]):
                    # more lines after the end line (an end line put in, or the file's
                    # own one doubled): damage there, the events before it are readable
                    ended = False
                    self.damage = f"line {lineno}: the end line is not the last line"
                    self.warnings.append(
                        f"{self.damage}; read up to there: {len(events)} events are readable"
                    )
                break
            elif line.strip():
                raise RecordingError(
                    self.path, f"line {lineno} is not an event, a checkpoint or the end"
                )
        self._lines = events
        self._first_line = 0
        for first in range(0, len(events), JSONL_CHUNK):
            self._chunks.append(_Chunk(first, first, min(JSONL_CHUNK, len(events) - first)))
        self.complete = ended
        self._finish_tables()

    def _verify_layout(self, verified: int, partial: bool) -> None:
        """A closed JSON-lines recording ends with its ``end`` line, which counts the
        events; one without it was cut short (damage for ``verify_frames``)."""
        if self._end is not None:
            lineno, said = self._end
            if not self.complete:
                raise RecordingError(
                    self.path,
                    f"line {lineno}: the end line is not the last line of the file: "
                    "the recording is damaged there",
                )
            if said != self._length:
                raise RecordingError(
                    self.path,
                    f"line {lineno}: the end line says {str(said)[:40]} events, the file "
                    f"has {self._length}: the recording is damaged there",
                )
            return
        if self._cut_line is not None and not partial:
            raise self._cut_short(
                f"line {self._cut_line}", verified, "the file ends without its end line"
            )


# -- opening ----------------------------------------------------------------------
def _check_header(path: Path, header: Header, major: int, minor: int) -> list[str]:
    warnings: list[str] = []
    if header.format != FORMAT_NAME:
        raise RecordingError(path, f"not an nvmescope recording (format {header.format!r})")
    if major > FORMAT_VERSION[0]:
        raise RecordingError(
            path,
            f"recording format version {major}.{minor} is newer than this nvmescope reads "
            f"({FORMAT_VERSION[0]}.x); upgrade nvmescope",
        )
    known_majors = {v[0] for v in KNOWN_VERSIONS}
    if major not in known_majors or (
        (major, minor) <= FORMAT_VERSION and (major, minor) not in KNOWN_VERSIONS
    ):
        known = ", ".join(f"{a}.{b}" for a, b in sorted(KNOWN_VERSIONS))
        raise RecordingError(
            path,
            f"recording format version {major}.{minor} does not exist (known: {known}); "
            "the file is damaged",
        )
    if list(header.version) != [major, minor]:
        # the version bytes have no checksum of their own; the header map's copy has
        # (a writer of a newer minor writes its version in both places)
        raise RecordingError(
            path,
            f"the file says format version {major}.{minor}, its header says "
            f"{'.'.join(str(v) for v in header.version)[:40]}: the file is damaged",
        )
    if not 1 <= header.chunk_events <= MAX_CHUNK_EVENTS:
        raise RecordingError(
            path, f"header: chunk_events {header.chunk_events} is not 1..{MAX_CHUNK_EVENTS}"
        )
    if not 1 <= header.checkpoint_every <= MAX_CHECKPOINT_EVERY:
        raise RecordingError(
            path,
            f"header: checkpoint_every {header.checkpoint_every} is not 1..{MAX_CHECKPOINT_EVERY}",
        )
    if (major, minor) > FORMAT_VERSION:
        warnings.append(
            f"recording format version {major}.{minor} is newer than {FORMAT_VERSION[0]}."
            f"{FORMAT_VERSION[1]}: parts this nvmescope does not know are ignored"
        )
    return warnings


#: the most bytes one index entry takes encoded (an array of four integers, three of them
#: up to 64 bits), and the index's own fields around them
INDEX_ENTRY_MAX_BYTES, INDEX_FIELDS_MAX_BYTES = 30, 64


def _index_bound(file_size: int) -> int:
    """The longest index a file of ``file_size`` bytes can have: one entry per frame, and
    every frame takes at least its header in the file."""
    frames = file_size // FRAME_HEADER.size + 1
    return INDEX_FIELDS_MAX_BYTES + INDEX_ENTRY_MAX_BYTES * frames


#: what open_recording says of a path that is no file to read (files.open_regular's kinds)
_OPEN_REFUSALS = {
    MISSING: "no such file",
    DIRECTORY: "is a directory, not a recording",
    NOT_REGULAR: "not a regular file: a recording is a file",
}


def open_recording(path: str | os.PathLike[str], *, follow: bool = False) -> Recording:
    """Open a ``.nvmetrace`` recording (binary or JSON lines) for reading.

    Reads the header and the index only. Raises :class:`RecordingError` with a
    one-line message for anything that cannot be read; a recording cut short
    (a killed recorder, a truncated copy) opens up to its last sound chunk and
    says so in ``warnings``.

    ``follow=True`` opens a binary recording that a recorder in this process is
    still writing: ``grow()`` then reads the frames it appends (a live session
    reads itself back this way).
    """
    p = Path(path)
    try:
        # a FIFO, a terminal or a device is refused, not waited on or read for ever
        fd, _ = open_regular(p)
    except UserFileError as exc:
        why = _OPEN_REFUSALS.get(exc.kind) or f"cannot open: {exc.reason}"
        raise RecordingError(p, why) from None
    file = os.fdopen(fd, "rb")
    try:
        size = os.fstat(file.fileno()).st_size
        if size == 0:
            raise RecordingError(p, "empty file (0 bytes): not a recording")
        start = file.read(FILE_HEADER.size)
        if start[:1] == b"{":
            file.close()
            if follow:
                raise RecordingError(p, "only a binary recording can be followed as it grows")
            return _open_jsonl(p)
        if len(start) < len(MAGIC) or start[: len(MAGIC)] != MAGIC:
            raise RecordingError(p, "not an nvmescope recording (wrong magic number)")
        if len(start) < FILE_HEADER.size:
            raise RecordingError(p, "truncated inside the file header")
        _, major, minor, hlen, hcrc = FILE_HEADER.unpack(start)
        if hlen > MAX_HEADER_BYTES or FILE_HEADER.size + hlen > size:
            if major > FORMAT_VERSION[0]:
                _check_header(p, Header(), major, minor)
            raise RecordingError(p, f"truncated or damaged file header (claims {hlen} bytes)")
        body = file.read(hlen)
        if zlib.crc32(body) != hcrc:
            raise RecordingError(p, "file header is damaged (checksum mismatch)")
        try:
            header = HEADER_DECODER.decode(body)
        except _DECODE_ERRORS as exc:
            if major > FORMAT_VERSION[0]:
                _check_header(p, Header(), major, minor)
            raise RecordingError(p, f"file header cannot be decoded: {exc}") from None
        warnings = _check_header(p, header, major, minor)
        rec = BinaryRecording(p, header, file, size, FILE_HEADER.size + hlen)
        rec.warnings.extend(warnings)
        rec.load_tables(follow)
        return rec
    except RecordingError:
        file.close()
        raise
    except (OSError, struct.error, *_DECODE_ERRORS) as exc:
        file.close()
        raise RecordingError(p, f"cannot read: {exc}") from None


def _open_jsonl(p: Path) -> Recording:
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise RecordingError(p, f"cannot read: {exc.strerror or exc}") from None
    lines = data.split(b"\n")
    warnings: list[str] = []
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        lines.pop()  # an unterminated last line is a write cut short
        warnings.append("the last line is incomplete (the recorder stopped early); it was ignored")
    if not lines:
        raise RecordingError(p, "empty JSON-lines recording")
    try:
        head = msgspec.json.decode(lines[0])
    except _DECODE_ERRORS:
        raise RecordingError(p, "not an nvmescope recording (first line is not JSON)") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT_NAME:
        raise RecordingError(p, "not an nvmescope recording (no nvmetrace header line)")
    version = head.get("version")
    if (
        not isinstance(version, list)
        or len(version) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in version)
    ):
        raise RecordingError(p, "header line has no valid format version")
    try:
        header = msgspec.convert(head, Header)
    except _DECODE_ERRORS as exc:
        _check_header(p, Header(), version[0], version[1])
        raise RecordingError(p, f"header line cannot be decoded: {exc}") from None
    warnings = _check_header(p, header, version[0], version[1]) + warnings
    rec = JsonlRecording(p, header, [], 2)
    ended = any(line.startswith(b'{"end":') for line in lines[-1:])
    rec.load_tables(lines[1:], ended)
    if not ended:
        rec._cut_line = len(lines) + 1
        warnings.append(
            f"recording was not closed (the recorder stopped early): {len(rec)} events are readable"
        )
    rec.warnings[:0] = warnings
    return rec


_SEQ_KEY = b'"seq":'
_DIGITS = re.compile(rb"\d{1,19}")


def _seq_of(line: bytes) -> int | None:
    """The ``seq`` of an event line without decoding it (0 when left out as the default).

    None when the number cannot be read cheaply; the event decoder judges the line later.
    """
    at = line.find(_SEQ_KEY)
    if at < 0:
        return 0
    m = _DIGITS.match(line, at + len(_SEQ_KEY))
    return int(m[0]) if m is not None else None


def _gap_damage(n: int, seq: int, lineno: int) -> str:
    """Events of a recording are numbered 0, 1, 2, ...: say where the numbering breaks
    (event ``n``, on file line ``lineno``, has sequence number ``seq``)."""
    if n == 0:
        where = f"the first event (line {lineno}) is seq {seq}, not 0"
    else:
        where = f"seq {n - 1} is followed by {seq} (line {lineno})"
    how = "duplicated or moved back" if seq < n else "removed or moved forward"
    return (
        f"events are not consecutive: {where}: an event line {how}? the recording is damaged there"
    )
