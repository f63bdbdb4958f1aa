"""Statistics: counts, latency percentiles and histograms, queue depth and errors are right."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.console import Console

from nvmescope import events as ev
from nvmescope.nvme.commands import pack_sqe
from nvmescope.nvme.opcodes import opcode_name
from nvmescope.trace.stats import (
    BUCKET_EDGES,
    SPARK,
    compute_stats,
    format_ns,
    histogram,
    percentile,
    render_stats,
    sparkline,
)

REFERENCE = (
    Path(__file__).resolve().parents[1] / "reference/linux-6.1-on-qemu-7.2/qemu-trace-pci_nvme.log"
)


class Run:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self.tail: dict[int, int] = {}
        self.head: dict[int, int] = {}
        self.cq_tail: dict[int, int] = {}

    def add(self, event: ev.Event, ts: int) -> None:
        event.seq, event.ts = len(self.events), ts
        self.events.append(event)

    def doorbell(self, sqid: int, ts: int, n: int = 1) -> None:
        old = self.tail.get(sqid, 0)
        self.tail[sqid] = old + n
        self.add(ev.DoorbellSq(addr=0x1000, old_tail=old, new_tail=old + n, sqid=sqid), ts)

    def fetch(self, sqid: int, cid: int, opcode: int, ts: int) -> None:
        slot = self.head.get(sqid, 0)
        self.head[sqid] = slot + 1
        self.add(
            ev.SqeFetch(slot=slot, addr=64 * slot, data=pack_sqe(opcode, cid), new_head=slot + 1,
                        sqid=sqid, cid=cid),
            ts,
        )  # fmt: skip
        name = opcode_name(opcode, sqid == 0)
        self.add(ev.CmdStart(opcode=opcode, opname=name, admin=sqid == 0, sqid=sqid, cid=cid), ts)

    def complete(self, sqid: int, cid: int, ts: int, status: int = 0) -> None:
        slot = self.cq_tail.get(sqid, 0)
        self.cq_tail[sqid] = slot + 1
        self.add(
            ev.CqePost(cqid=sqid, slot=slot, addr=16 * slot, phase=1, status=status, sqid=sqid,
                       cid=cid),
            ts,
        )  # fmt: skip


def test_latency_is_from_doorbell_to_cqe_and_percentiles_are_nearest_rank():
    run = Run()
    t = 0
    for cid, latency in enumerate([100, 200, 300, 400, 1000]):
        run.doorbell(1, t)
        run.fetch(1, cid, 0x02, t + 10)
        run.complete(1, cid, t + latency)
        t += 5000
    run.doorbell(0, t)
    run.fetch(0, 0, 0x06, t + 1)
    run.complete(0, 0, t + 7777, status=0x4002)
    s = compute_stats(run.events)
    read = s.opcodes["read"]
    assert (read.count, read.completed, read.failed, read.admin) == (5, 5, 0, False)
    assert read.latencies == [100, 200, 300, 400, 1000]
    assert (read.p50, read.p99, read.max) == (300, 1000, 1000)
    ident = s.opcodes["identify"]
    assert (ident.count, ident.failed, ident.max, ident.admin) == (1, 1, 7777, True)
    assert list(s.opcodes) == ["read", "identify"]  # most frequent first
    assert s.statuses == {"invalid_field": 1}
    assert s.commands == 6 and s.outstanding == 0
    assert s.kinds["cqe_post"] == 6 and s.events == len(run.events)
    assert s.duration_ns == t + 7777


def test_queue_depth_rises_at_the_doorbell_and_falls_at_each_completion():
    run = Run()
    run.doorbell(1, 100, n=3)
    for cid in range(3):
        run.fetch(1, cid, 0x01, 200 + cid)
    run.complete(1, 0, 500)
    run.complete(1, 1, 600)
    run.doorbell(1, 650)
    run.fetch(1, 3, 0x01, 660)
    run.complete(1, 2, 700)
    run.complete(1, 3, 800)
    s = compute_stats(run.events)
    assert s.depth[1] == [(100, 3), (500, 2), (600, 1), (650, 2), (700, 1), (800, 0)]
    assert s.max_depth(1) == 3


def test_a_reset_empties_the_queues_and_leaves_commands_outstanding():
    run = Run()
    run.doorbell(1, 100, n=2)
    run.fetch(1, 0, 0x02, 110)
    run.add(ev.CtrlState(state="reset", csts_old=1, csts_new=0), 300)
    s = compute_stats(run.events)
    assert s.depth[1][-1] == (300, 0)
    assert s.outstanding >= 1 and s.lost >= 1
    assert s.opcodes["read"].outstanding == 1 and s.opcodes["read"].latencies == []


def test_conditions_are_counted_by_kind():
    run = Run()
    run.add(ev.condition("err_invalid_qid", detail="x"), 1)
    run.add(ev.condition("err_invalid_qid"), 2)
    run.add(ev.condition("ub_mmio_ro"), 3)
    s = compute_stats(run.events)
    assert s.conditions == {"err_invalid_qid": 2, "ub_mmio_ro": 1}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=300), st.floats(1, 100))
def test_percentile_is_the_nearest_rank(values, p):
    values.sort()
    got = percentile(values, p)
    assert got in values
    below = sum(v <= got for v in values)
    assert below / len(values) >= p / 100 - 1e-9
    assert sum(v < got for v in values) / len(values) < p / 100 + 1e-9


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**11), min_size=1, max_size=300))
@example([*BUCKET_EDGES[:8], *(edge - 1 for edge in BUCKET_EDGES[1:8])])  # values on the edges
def test_histogram_buckets_hold_every_value_once(values):
    values.sort()
    buckets = histogram(values)
    assert sum(c for _, _, c in buckets) == len(values)
    for low, high, _ in buckets:
        assert low < high
    for (_, h1, _), (l2, _, _) in zip(buckets, buckets[1:], strict=False):
        assert h1 == l2
    for v in values:  # each value lies in exactly one bucket, and that bucket counted it
        hits = [c for lo, hi, c in buckets if lo <= v < hi or (v >= hi and hi == buckets[-1][1])]
        assert len(hits) == 1 and hits[0] > 0, (v, buckets)
    for lo, hi, c in buckets:
        last = hi == buckets[-1][1]
        assert c == sum(lo <= v < hi or (last and v >= hi) for v in values), (lo, hi, buckets)
    assert buckets[0][2] > 0 and buckets[-1][2] > 0


def test_sparkline_draws_the_peak_of_each_slice():
    points = [(0, 0), (10, 4), (20, 2), (30, 0)]
    line = sparkline(points, 0, 40, width=4)
    assert line == SPARK[0] + SPARK[-1] + SPARK[4] + SPARK[0]
    # a spike shorter than a slice still shows
    assert sparkline([(5, 1), (6, 0)], 0, 100, width=10)[0] == SPARK[-1]
    assert sparkline([], 0, 100, width=5) == SPARK[0] * 5


def test_format_ns_reads_well():
    assert [format_ns(n) for n in (850, 12_500, 999_999, 1_370_000, 6_900_000_000)] == [
        "850 ns",
        "12.5 µs",
        "1 ms",
        "1.37 ms",
        "6.9 s",
    ]
    assert BUCKET_EDGES[:4] == (100, 200, 500, 1000)


def test_render_draws_tables_histograms_and_sparklines():
    run = Run()
    for cid in range(4):
        run.doorbell(1, cid * 1000)
        run.fetch(1, cid, 0x02, cid * 1000 + 5)
        run.complete(1, cid, cid * 1000 + 300 + 100 * cid, status=0x4002 if cid == 3 else 0)
    run.add(ev.condition("err_invalid_field"), 5000)
    console = Console(record=True, width=100)
    console.print(render_stats(compute_stats(run.events)))
    text = console.export_text()
    assert "Commands by opcode" in text and "read" in text
    assert "latency histogram (4 commands)" in text and "█" in text
    assert "SQ1" in text and any(c in text for c in SPARK[1:])
    assert "err_invalid_field" in text and "status invalid_field" in text


def test_an_empty_stream_renders():
    console = Console(record=True, width=80)
    console.print(render_stats(compute_stats([])))
    assert "0 events" in console.export_text()


@pytest.mark.skipif(not REFERENCE.exists(), reason="reference trace not present")
def test_stats_of_a_real_qemu_session():
    from nvmescope.trace.qemu_import import import_qemu_trace

    s = compute_stats(import_qemu_trace(REFERENCE).events)
    assert s.opcodes["identify"].count == 20
    assert s.opcodes["read"].count == 4 and not s.opcodes["read"].admin
    assert s.opcodes["async_event_request"].outstanding == 1
    assert s.opcodes["fabrics"].failed == 1
    assert s.conditions == {"err_invalid_opcode": 1}
    # identify 0: doorbell at 5.036116 s, CQE at 5.036272 s
    assert s.opcodes["identify"].latencies[0] >= 1000
    assert 156_000 in s.opcodes["identify"].latencies
    assert s.commands == 43


def test_stats_of_machine_runs():
    from nvmescope.machine import Machine

    events = Machine(scenario="identify").run()
    s = compute_stats(events)
    posts = sum(e.kind == "cqe_post" for e in events)
    assert sum(op.completed for op in s.opcodes.values()) == posts
    assert s.opcodes["identify"].count == sum(
        e.kind == "cmd_start" and e.opname == "identify" for e in events
    )
    bad = Machine(scenario="errors").run()
    conditions = [e.kind for e in bad if e.kind.startswith(("err_", "ub_"))]
    assert len(conditions) > 10
    assert compute_stats(bad).conditions == {k: conditions.count(k) for k in set(conditions)}


def test_a_function_level_reset_also_empties_the_queue_depth():
    run = Run()
    run.doorbell(1, 100, n=2)
    run.add(ev.CtrlState(state="flr", csts_old=1, csts_new=0), 300)
    assert compute_stats(run.events).depth[1] == [(100, 2), (300, 0)]


def test_each_reason_a_command_never_completed_is_counted_and_labelled_apart():
    run = Run()
    run.doorbell(0, 100)
    run.fetch(0, 31, 0x0C, 110)  # the AER: waits by design
    run.doorbell(1, 200)
    run.fetch(1, 1, 0x02, 210)  # in flight when the recording ends
    run.doorbell(2, 300, n=3)  # published, never fetched: the recording ends first
    s = compute_stats(run.events)
    assert s.outstanding == 5 and s.lost == 0
    assert s.outstanding_by == {
        "published but never fetched (the recording ends)": 3,
        "Asynchronous Event Request(s) waiting for an event (by design)": 1,
        "in flight when the recording ends": 1,
    }
    console = Console(record=True, width=200)
    console.print(render_stats(s))
    text = console.export_text()
    assert "3 published but never fetched (the recording ends)" in text
    assert "lost to a reset" not in text


def test_commands_lost_to_a_reset_are_counted_as_lost():
    run = Run()
    run.doorbell(1, 100, n=2)
    run.fetch(1, 0, 0x02, 110)
    run.fetch(1, 1, 0x02, 120)
    run.add(ev.CtrlState(state="reset", csts_old=1, csts_new=0), 300)
    s = compute_stats(run.events)
    assert s.lost == 2 and s.outstanding_by == {"lost to a controller reset": 2}
