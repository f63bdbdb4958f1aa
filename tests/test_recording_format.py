"""A recording holds exactly what was recorded, in both encodings, and opens lazily."""

from __future__ import annotations

import msgspec
import pytest
from samples import sample_event

from nvmescope import events as ev
from nvmescope.sim import Scheduler
from nvmescope.trace import Header, Recorder, TraceWriter, convert, fold, open_recording
from nvmescope.trace import reader as reader_mod
from nvmescope.trace.format import MAGIC, TRAILER_MAGIC
from nvmescope.trace.recorder import synthetic_admin_events


def every_kind() -> list[ev.Event]:
    out = []
    for i, kind in enumerate(sorted(ev.EVENT_TYPES)):
        e = sample_event(ev.EVENT_TYPES[kind], i)
        e.seq, e.ts = i, 100 * i
        out.append(e)
    return out


@pytest.mark.parametrize("fmt", ["msgpack", "jsonl"])
def test_every_event_kind_comes_back_equal(tmp_path, fmt):
    events = [msgspec.structs.replace(e, seq=n) for n, e in enumerate(every_kind() * 3)]
    path = tmp_path / f"all.{fmt}.nvmetrace"
    with TraceWriter(path, Header(scenario="all"), fmt=fmt, chunk_events=7) as w:
        w.extend(events)
    rec = open_recording(path)
    assert rec.warnings == []
    assert rec.complete
    assert len(rec) == len(events)
    assert list(rec.events()) == events
    assert [rec.event(n) for n in range(len(events))] == events
    assert rec.event(-1) == events[-1]


@pytest.mark.parametrize("fmt", ["msgpack", "jsonl"])
def test_header_keeps_configuration_scenario_and_seed(tmp_path, fmt):
    config = {"serial": "ABC", "mqes": 63, "lba_formats": [[0, 9], [8, 12]]}
    path = tmp_path / "h.nvmetrace"
    rec = Recorder(path, config=config, scenario="identify", seed=42, fmt=fmt)
    rec.writer.append(ev.HostStep(step="a", text="b"))
    summary = rec.close()
    assert summary.events == 1 and summary.format == fmt
    assert summary.kinds == {"host_step": 1}
    r = open_recording(path)
    assert r.header.config == config
    assert r.header.scenario == "identify"
    assert r.header.seed == 42
    assert r.header.format == "nvmetrace" and r.header.version[0] == 1
    assert r.header.encoding == fmt


def test_binary_file_has_magic_and_index_trailer(tmp_path):
    path = tmp_path / "t.nvmetrace"
    with TraceWriter(path) as w:
        w.extend(synthetic_admin_events(100))
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    assert data[-24:-8] == TRAILER_MAGIC


def test_same_events_give_the_same_bytes(tmp_path):
    paths = [tmp_path / "a.nvmetrace", tmp_path / "b.nvmetrace"]
    for p in paths:
        with TraceWriter(p, chunk_events=64, checkpoint_every=256) as w:
            w.extend(synthetic_admin_events(3000))
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_jsonl_holds_the_same_content_as_binary(tmp_path):
    events = list(synthetic_admin_events(2500))
    for fmt in ("msgpack", "jsonl"):
        with TraceWriter(tmp_path / fmt, fmt=fmt, chunk_events=100, checkpoint_every=500) as w:
            w.extend(events)
    a, b = open_recording(tmp_path / "msgpack"), open_recording(tmp_path / "jsonl")
    assert list(a.events()) == list(b.events()) == events
    assert a.checkpoints == b.checkpoints == [500, 1000, 1500, 2000, 2500]
    assert a.state_at(1234).materialize() == b.state_at(1234).materialize()
    lines = (tmp_path / "jsonl").read_text().splitlines()
    assert msgspec.json.decode(lines[0])["format"] == "nvmetrace"
    assert msgspec.json.decode(lines[1])["kind"] == events[0].kind


def test_slices_of_events(tmp_path):
    events = list(synthetic_admin_events(1000))
    path = tmp_path / "s.nvmetrace"
    with TraceWriter(path, chunk_events=33) as w:
        w.extend(events)
    rec = open_recording(path)
    for start, stop in [(0, 0), (0, 1), (32, 34), (33, 99), (500, 2000), (999, 1000), (5, 3)]:
        assert list(rec.events(start, stop)) == events[start:stop]
    with pytest.raises(IndexError):
        rec.event(1000)


def test_opening_decodes_no_event(tmp_path, monkeypatch):
    path = tmp_path / "lazy.nvmetrace"
    with TraceWriter(path, chunk_events=50) as w:
        w.extend(synthetic_admin_events(5000))
    calls = []
    real = reader_mod.BinaryRecording._decode_chunk

    def counting(self, i):
        calls.append(i)
        return real(self, i)

    monkeypatch.setattr(reader_mod.BinaryRecording, "_decode_chunk", counting)
    rec = open_recording(path)
    assert len(rec) == 5000 and rec.chunk_count == 100
    assert calls == []
    rec.event(4321)
    assert calls == [86]


def test_recorder_subscribes_to_a_bus_and_checkpoints_fold_the_state(tmp_path):
    sched = Scheduler()
    bus = ev.EventBus(lambda: sched.now)
    path = tmp_path / "bus.nvmetrace"
    rec = Recorder(path, chunk_events=16, checkpoint_every=64)
    bus.subscribe(rec)
    sent = []
    for e in synthetic_admin_events(300):
        sched.now = e.ts
        sent.append(bus.emit(e))
    summary = rec.close()
    assert summary.events == 300 and summary.checkpoints == 4
    r = open_recording(path)
    assert list(r.events()) == sent
    # a checkpoint is the fold of the events before it
    assert r.checkpoint_state(256).materialize() == fold(sent[:256])


def test_memory_pages_are_stored_once_and_read_when_needed(tmp_path, monkeypatch):
    # 50 pages written once at the start, then a loop that rewrites 3 pages
    events = [
        ev.MemWrite(seq=i, addr=0x100000 + 4096 * i, data=bytes([i]) * 100) for i in range(50)
    ]
    events += list(synthetic_admin_events(2950, first_seq=50))  # event n has seq n
    path = tmp_path / "pages.nvmetrace"
    with TraceWriter(path, chunk_events=100, checkpoint_every=100) as w:
        w.extend(events)
    rec = open_recording(path)
    pages_stored = sum(len(rec._page_frame(k)) for k in rec._pframes)
    assert len(fold(events).mem) == 53 and len(rec.checkpoints) == 30
    assert pages_stored == 50 + 3 * 30  # each version of a page once, not 53 per checkpoint
    rec = open_recording(path)
    loads = []
    real = reader_mod.BinaryRecording._decode_pages
    monkeypatch.setattr(
        reader_mod.BinaryRecording,
        "_decode_pages",
        lambda self, k: loads.append(k) or real(self, k),
    )
    state = rec.state_at(1999)  # exactly a checkpoint: nothing to fold
    assert loads == []  # registers and queues need no page
    assert state.sqs[0].qsize == 32
    truth = fold(events[:2000])
    assert state.read_mem(0x12000, 4096) == truth.read_mem(0x12000, 4096)
    assert loads
    assert state.ring("cq", 0) == truth.ring("cq", 0)
    assert state.read_mem(0x100000 + 4096 * 7, 100) == bytes([7]) * 100
    assert state.read_mem(0x100000 + 4096 * 7, 101) is None  # byte 100 was never written
    assert rec.state_at(2900).materialize() == fold(events[:2901])


@pytest.mark.parametrize("to", ["jsonl", "msgpack"])
def test_convert_keeps_header_and_events(tmp_path, to):
    events = list(synthetic_admin_events(700))
    src = tmp_path / "src.nvmetrace"
    with TraceWriter(src, Header(scenario="s", seed=3, config={"mqes": 7}), chunk_events=64) as w:
        w.extend(events)
    summary = convert(src, tmp_path / "dst.nvmetrace", to)
    assert summary.events == 700 and summary.format == to
    dst = open_recording(tmp_path / "dst.nvmetrace")
    assert list(dst.events()) == events
    assert (dst.header.scenario, dst.header.seed, dst.config) == ("s", 3, {"mqes": 7})
    info = dst.info()
    assert info["events"] == 700 and info["encoding"] == to and info["complete"]


def _io_load_events(count: int) -> list[ev.Event]:
    from nvmescope.machine import Machine

    m = Machine(scenario="io-load", params={"count": count, "queues": 1, "depth": 32})
    m.run()
    return list(m.events)


def _bare_reads(commands: int) -> list[ev.Event]:
    """The device benchmark's bare loop: 4 KiB reads at QD32 of a namespace never written
    (every data byte zero), by hand through the host API."""
    import importlib.util
    from pathlib import Path

    where = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_device.py"
    spec = importlib.util.spec_from_file_location("bench_device", where)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    port = bench.NvmescopePort(capture=True)
    bench.bare_loop(port, bench.bring_up(port, 0x1_0000_0000), commands)
    return list(port.machine.events)


def _write(path, events, chunk_events=1024) -> bytes:
    with TraceWriter(path, Header(scenario="x"), chunk_events=chunk_events) as w:
        w.extend(events)
    return path.read_bytes()


def test_data_that_repeats_in_long_patterns_is_compressed_with_lazy_matching(tmp_path, monkeypatch):
    from nvmescope.trace import format as fmt

    events = _io_load_events(400)
    adaptive = _write(tmp_path / "a.nvmetrace", events)
    monkeypatch.setattr(fmt, "LAZY_WINS_PERCENT", 0)  # never lazy: level 3's fast finder
    fast = _write(tmp_path / "f.nvmetrace", events)
    assert len(adaptive) < 0.8 * len(fast)
    assert list(open_recording(tmp_path / "a.nvmetrace").events()) == events


def test_data_lazy_matching_finds_nothing_more_in_stays_with_the_fast_finder(tmp_path, monkeypatch):
    from nvmescope.trace import format as fmt

    events = _bare_reads(4000)
    adaptive = _write(tmp_path / "a.nvmetrace", events)
    monkeypatch.setattr(fmt, "LAZY_WINS_PERCENT", 0)
    assert _write(tmp_path / "f.nvmetrace", events) == adaptive
    # and the same run writes the same file, probes and all
    monkeypatch.undo()
    events = _io_load_events(200)
    assert _write(tmp_path / "b.nvmetrace", events) == _write(tmp_path / "c.nvmetrace", events)
