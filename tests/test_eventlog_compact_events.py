"""Machine.events keeps a run's events compactly (nvmescope.eventlog.EventLog): sealed
chunks read back as the very events emitted, and it behaves as the list it replaced."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvmescope.eventlog import CHUNK_EVENTS, EventLog
from nvmescope.events import Event, HostStep
from nvmescope.machine import Machine


def note(n: int, ts: int = 0) -> Event:
    return HostStep(step="note", text=f"note {n}", seq=n, ts=ts)


def io_load_events(count: int = 200) -> tuple[Machine, list[Event]]:
    """An io-load run whose events were also kept, as emitted, in a plain list."""
    m = Machine(scenario="io-load", params={"count": count, "queues": 1, "depth": 8})
    emitted: list[Event] = []
    m.bus.subscribe(emitted.append)
    m.run()
    return m, emitted


def test_a_run_reads_back_from_its_sealed_chunks_as_the_events_it_emitted():
    m, emitted = io_load_events()
    assert len(m.events) == len(emitted) > 2 * CHUNK_EVENTS  # several chunks sealed
    assert m.events == emitted
    assert list(m.events) == emitted
    for i in (0, CHUNK_EVENTS - 1, CHUNK_EVENTS, len(emitted) - 1, -1, -CHUNK_EVENTS - 1):
        assert m.events[i] == emitted[i]
        assert m.events[i].kind == emitted[i].kind
    # the DMA data survives the round trip byte for byte
    dma = [e for e in emitted[: CHUNK_EVENTS * 2] if e.kind in ("dma_read", "dma_write")]
    assert dma and all(m.events[e.seq].data == e.data for e in dma)


def test_a_run_keeps_its_events_in_a_few_tens_of_bytes_each():
    m, emitted = io_load_events()
    sealed = (len(m.events) // CHUNK_EVENTS) * CHUNK_EVENTS
    # io-load moves 4 KiB per command, 19 or so events each: ~200 B/event as objects' data
    assert m.events.sealed_bytes / sealed < 64


def test_an_event_changed_before_its_chunk_is_sealed_is_kept_as_changed():
    log = EventLog(chunk_events=4)
    events = [note(n) for n in range(6)]
    for e in events[:3]:
        log.append(e)
    events[1].ts = 99  # still in the newest chunk: the log holds the object itself
    for e in events[3:]:
        log.append(e)
    assert log[1].ts == 99 and log[1] is not events[1]  # sealed: a decoded copy


def test_reading_outside_the_log_is_an_index_error():
    log = EventLog(chunk_events=3)
    for n in range(5):
        log.append(note(n))
    with pytest.raises(IndexError):
        log[5]
    with pytest.raises(IndexError):
        log[-6]
    assert log[-5].seq == 0 and log[4].seq == 4


def test_a_log_equals_a_list_only_of_the_same_events():
    log = EventLog(chunk_events=2)
    events = [note(n) for n in range(5)]
    for e in events:
        log.append(e)
    assert log == events and log == tuple(events)
    assert log != events[:4] and log != [*events[:4], note(7)]
    assert EventLog() == [] and log != "events"
    log.clear()
    assert log == [] and len(log) == 0


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(0, 40),
    st.lists(st.one_of(st.integers(-50, 50), st.tuples(st.integers(-50, 50) | st.none(),
             st.integers(-50, 50) | st.none(), st.sampled_from([None, 1, 2, 3, -1, -2])))),
)  # fmt: skip
def test_indexes_slices_and_iteration_match_a_list(chunk, n, reads):
    log = EventLog(chunk_events=chunk)
    model = [note(i, ts=i * 10) for i in range(n)]
    for e in model:
        log.append(e)
    assert len(log) == n and list(log) == model
    for read in reads:
        if isinstance(read, int):
            if -n <= read < n:
                assert log[read] == model[read]
            else:
                with pytest.raises(IndexError):
                    log[read]
        else:
            assert log[slice(*read)] == model[slice(*read)]


def test_a_chunk_needs_at_least_one_event():
    with pytest.raises(ValueError, match="chunk_events"):
        EventLog(chunk_events=0)
