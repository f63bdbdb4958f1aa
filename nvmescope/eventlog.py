"""Every event of an in-memory run, kept compactly: :class:`EventLog`.

A Machine that keeps its events (``Machine.events``) keeps them here. The newest
events stay as they were emitted, in a list; every ``chunk_events`` of them are then
sealed: encoded to MessagePack in one call and compressed with zstd, the way a
recording stores them, and the objects let go. Reading an event of a sealed chunk
decodes that chunk again (the last few decoded chunks are kept), so a run of millions of
events takes a few tens of bytes per event instead of the objects' few hundred, and the
data bytes of its DMA and host memory events compress with the rest.

An EventLog is a read-only sequence (``len``, indexing, slices, iteration, ``==``
against a list) plus ``append``, which is what the bus calls. An event read back from a
sealed chunk is equal to the one emitted (the same kind, the same fields), not the
same object.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Union, overload

import msgspec
import zstandard

from nvmescope.events import EVENT_TYPES, Event

#: events per sealed chunk; the newest chunk's events stay objects until it is full.
#: 512 rather than more: the events held as objects (their data bytes included) stay
#: within the CPU's caches, which the run itself needs (a quarter of the chunks of 2,048
#: made a run that keeps its events 4 to 5 % faster, benchmarks/bench_device.py; each
#: sealed event takes a few bytes more)
CHUNK_EVENTS = 512
#: the compressor's window and match tables (log2): see EventLog.__init__
COMPRESS_WINDOW_LOG, COMPRESS_TABLE_LOG = 17, 13
#: decoded chunks kept for reading (a UI or a test walking back and forth): 8,192 events
CACHED_CHUNKS = 16

_AnyEvent = Union[tuple(EVENT_TYPES.values())]  # type: ignore[valid-type]  # noqa: UP007
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(list[_AnyEvent])  # type: ignore[valid-type]


class EventLog(Sequence[Event]):
    """The events of a run, oldest first; see the module docstring."""

    def __init__(self, chunk_events: int = CHUNK_EVENTS, level: int = 3) -> None:
        if chunk_events < 1:
            raise ValueError(f"chunk_events must be at least 1, not {chunk_events}")
        self._chunk = chunk_events
        self._sealed: list[bytes] = []
        self._hot: list[Event] = []
        # small match tables (8 KiB entries each, a 128 KiB window) rather than level 3's
        # own (hundreds of KiB): compressing a chunk then leaves the run's working set in
        # the CPU's caches (capture on, io-load: 146 -> 138 us per command, median of 10
        # alternating runs; 24.8 B per sealed event instead of 23.8)
        params = zstandard.ZstdCompressionParameters.from_level(
            level, window_log=COMPRESS_WINDOW_LOG, hash_log=COMPRESS_TABLE_LOG,
            chain_log=COMPRESS_TABLE_LOG,
        )  # fmt: skip
        self._cctx = zstandard.ZstdCompressor(compression_params=params)
        self._dctx = zstandard.ZstdDecompressor()
        self._cache: OrderedDict[int, list[Event]] = OrderedDict()

    # -- writing ---------------------------------------------------------------
    def append(self, event: Event) -> None:
        """Keep ``event`` (the bus calls this for every event)."""
        hot = self._hot
        hot.append(event)
        if len(hot) >= self._chunk:
            blob = self._cctx.compress(_ENCODER.encode(hot))
            # a copy of its length: the compressor's bytes keep the whole buffer it was
            # given (the bound for the input: as large as the input itself)
            self._sealed.append(bytes(memoryview(blob)))
            self._hot = []

    def clear(self) -> None:
        """Forget every event."""
        self._sealed.clear()
        self._hot = []
        self._cache.clear()

    # -- reading ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._sealed) * self._chunk + len(self._hot)

    def _chunk_events(self, n: int) -> list[Event]:
        """The events of chunk ``n`` (sealed: decoded, or from the cache; else the hot list)."""
        if n == len(self._sealed):
            return self._hot
        cached = self._cache.get(n)
        if cached is not None:
            self._cache.move_to_end(n)
            return cached
        events: list[Event] = _DECODER.decode(self._dctx.decompress(self._sealed[n]))
        self._cache[n] = events
        if len(self._cache) > CACHED_CHUNKS:
            self._cache.popitem(last=False)
        return events

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...
    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            out: list[Event] = []
            while start < stop:
                n, at = divmod(start, self._chunk)
                events = self._chunk_events(n)
                take = events[at : at + (stop - start)]
                out.extend(take)
                start += len(take)
            return out
        length = len(self)
        if index < 0:
            index += length
        if not 0 <= index < length:
            raise IndexError("event index out of range")
        n, at = divmod(index, self._chunk)
        return self._chunk_events(n)[at]

    def __iter__(self) -> Iterator[Event]:
        for n in range(len(self._sealed) + 1):
            yield from self._chunk_events(n)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EventLog | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a growing sequence: no hash

    def __repr__(self) -> str:
        return f"EventLog({len(self)} events, {len(self._sealed)} sealed chunks)"

    @property
    def sealed_bytes(self) -> int:
        """Bytes the sealed chunks take, compressed."""
        return sum(len(blob) for blob in self._sealed)
