"""state_at(n) is the fold of events 0..n, however it is reached; the fold reads events right."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvmescope import events as ev
from nvmescope.trace import State, TraceWriter, apply, fold, open_recording
from nvmescope.trace.recorder import synthetic_admin_events

EVENTS = list(synthetic_admin_events(4000))


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("state") / "s.nvmetrace"
    with TraceWriter(path, chunk_events=100, checkpoint_every=500) as w:
        w.extend(EVENTS)
    return open_recording(path)


@pytest.fixture(scope="module")
def truth():
    """The state after every 97th event, folded from scratch."""
    states = {}
    s = State()
    for n, e in enumerate(EVENTS):
        apply(s, e)
        if n % 97 == 0 or n == len(EVENTS) - 1:
            states[n] = s.copy()
    return states


def test_state_at_matches_the_fold_from_the_start(recording, truth):
    for n in sorted(truth, reverse=True):
        assert recording.state_at(n).materialize() == truth[n], n


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, len(EVENTS) - 1), min_size=1, max_size=8))
def test_any_order_of_visits_gives_the_same_states(tmp_path_factory, visits):
    path = tmp_path_factory.getbasetemp() / "visits.nvmetrace"
    if not path.exists():
        with TraceWriter(path, chunk_events=64, checkpoint_every=256) as w:
            w.extend(EVENTS)
    rec = open_recording(path)
    for n in visits:
        got = rec.state_at(n)
        assert got.index == n
        assert got.materialize() == fold(EVENTS[: n + 1])
        if n:
            assert rec.state_at(n - 1).materialize() == fold(EVENTS[:n])


def test_returned_states_are_copies(recording):
    s = recording.state_at(1500)
    s.sqs.clear()
    s.mem.clear()
    assert recording.state_at(1500).materialize() == fold(EVENTS[:1501])


def test_registers_queues_memory_and_interrupts_follow_the_events():
    s = fold(EVENTS[:8])  # bring-up only
    regs = s.registers()
    assert regs["cc"] == 0x0046_0001 and regs["csts"] == 1 and regs["aqa"] == 0x001F_001F
    assert regs["intms"] is None  # never read or written: unknown
    assert (s.sqs[0].addr, s.sqs[0].qsize, s.cqs[0].addr, s.cqs[0].qsize) == (
        0x10000,
        32,
        0x11000,
        32,
    )
    first_cmd = next(n for n, e in enumerate(EVENTS) if e.kind == "doorbell_sq")
    s = fold(EVENTS[: first_cmd + 1])
    assert (s.sqs[0].head, s.sqs[0].tail) == (0, 1)
    sqe = s.ring("sq", 0)[0]
    assert sqe is not None and sqe[0] == 0x06  # Identify, from the host's mem_write
    assert s.ring("sq", 0)[1] is None  # never written
    post = next(n for n, e in enumerate(EVENTS) if e.kind == "cqe_post")
    s = fold(EVENTS[: post + 1])
    assert s.sqs[0].head == 1 and s.cqs[0].tail == 1 and s.cqs[0].phase == 1
    assert s.read_mem(0x12000, 4096) == EVENTS[post - 2].data  # the DMA-written buffer
    s = fold(EVENTS[: post + 2])
    assert s.msix[0].count == 1 and not s.msix[0].pending
    s = fold(EVENTS[: post + 3])
    assert s.host_irqs == {0: 1}


def test_cq_phase_flips_when_the_tail_wraps():
    s = State()
    for slot in range(4):
        apply(
            s,
            ev.CqePost(
                cqid=1,
                slot=slot,
                addr=0x5000 + 16 * slot,
                phase=1,
                status=0,
                new_tail=(slot + 1) % 4,
                sqid=1,
                cid=slot,
            ),
        )
    assert (s.cqs[1].tail, s.cqs[1].phase) == (0, 0)


def test_cqe_without_bytes_is_rebuilt_from_its_fields():
    s = apply(
        State(),
        ev.CqePost(
            cqid=0,
            slot=0,
            addr=0x8000,
            phase=1,
            status=0x4002,
            dw0=5,
            sqhd=3,
            new_tail=1,
            sqid=0,
            cid=0x1234,
        ),
    )
    cqe = s.read_mem(0x8000, 16)
    assert cqe == (5).to_bytes(4, "little") + bytes(4) + bytes([3, 0, 0, 0, 0x34, 0x12]) + (
        (0x4002 << 1) | 1
    ).to_bytes(2, "little")


def test_masked_vector_is_pending_until_delivered():
    s = apply(State(), ev.IrqMsix(vector=3, masked=True, pending=True, delivered=False))
    assert s.msix[3].pending and s.msix[3].count == 0
    apply(s, ev.IrqMsix(vector=3, address=0xFEE00000, data=0x41))
    assert not s.msix[3].pending and s.msix[3].count == 1 and s.msix[3].data == 0x41


def test_reset_deletes_queues_and_ready_brings_the_admin_pair_back():
    s = fold(EVENTS[:400])
    apply(s, ev.QueueCreated(qtype="cq", qid=1, addr=0x20000, qsize=64, vector=1))
    apply(s, ev.QueueCreated(qtype="sq", qid=1, addr=0x21000, qsize=64, cqid=1))
    assert 1 in s.sqs and 1 in s.cqs
    apply(s, ev.MmioWrite(addr=0x14, size=4, value=0, reg="cc", old=0x460001, new=0))
    assert s.sqs == {} and s.cqs == {}
    apply(s, ev.CtrlState(state="ready", csts_old=0, csts_new=1))
    assert set(s.sqs) == {0} and set(s.cqs) == {0}
    assert s.sqs[0].head == s.sqs[0].tail == 0 and s.cqs[0].phase == 1
    assert (s.sqs[0].addr, s.cqs[0].qsize) == (0x10000, 32)


def test_refused_accesses_tell_nothing():
    s = apply(State(), ev.MmioWrite(addr=0x14, size=4, value=1, reg=""))
    assert s.register("cc") is None
    s = apply(s, ev.ConfigRead(offset=3, size=4, value=0xFFFFFFFF))
    assert s.config == {}


def test_hostile_values_do_not_break_the_fold():
    hostile = [
        ev.MmioWrite(addr=-5, size=-1, value=1, reg="x", new=1 << 200),
        ev.MmioRead(addr=1 << 60, size=1000, value=-1, reg="x"),
        ev.DmaWrite(addr=-4096, length=8, data=b"12345678"),
        ev.MemWrite(addr=(1 << 64) - 2, data=b"abcd"),
        ev.QueueCreated(qtype="??", qid=-1, addr=-1, qsize=1 << 62),
        ev.CqePost(cqid=9, slot=-3, addr=0, phase=7, status=-1, new_tail=-8),
        ev.DoorbellSq(addr=0, old_tail=0, new_tail=1),  # no sqid
        ev.CtrlState(state="flr"),
    ]
    s = fold(hostile)
    assert s.index == len(hostile) - 1
    assert s.ring("cq", -1) == [] or len(s.ring("cq", -1)) <= 65536


@pytest.mark.parametrize("scenario", ["admin-tour", "errors"])
def test_folded_state_agrees_with_the_emulator_at_every_step(scenario):
    from nvmescope.machine import Machine

    m = Machine(None, scenario)
    s = State()
    compared = 0
    enabling = False
    while (e := m.step()) is not None:
        apply(s, e)
        # events cannot tell whether an enable succeeds until ready or fatal: not compared
        if e.kind == "mmio_write" and e.reg == "cc" and e.new & 1 and not e.old & 1:
            enabling = True
        elif e.kind == "ctrl_state":
            enabling = False
        if not m.api._fifo and not enabling:  # the device has finished the step that emitted e
            snap = m.ctrl.snapshot()
            for name, value in snap["registers"].items():
                known = s.registers().get(name)
                if known is not None and name not in ("intms",):
                    assert known == value, (e.seq, name)
            queues = {("sq", q["sqid"]): q for q in snap["sqs"]}
            queues |= {("cq", q["cqid"]): q for q in snap["cqs"]}
            mine = {("sq", k): q for k, q in s.sqs.items()} | {
                ("cq", k): q for k, q in s.cqs.items()
            }
            assert set(mine) == set(queues), e.seq
            for key, q in mine.items():
                theirs = queues[key]
                assert (q.addr, q.qsize, q.head, q.tail) == (
                    theirs["base"],
                    theirs["size"],
                    theirs["head"],
                    theirs["tail"],
                ), (e.seq, key)
                if key[0] == "cq":
                    assert q.phase == theirs["phase"], (e.seq, key)
            for vector, v in s.msix.items():
                entry = snap["msix"][vector]
                for name in ("address", "data", "masked"):
                    if getattr(v, name) is not None:  # None: no event told it yet
                        assert getattr(v, name) == entry[name], (e.seq, vector, name)
            compared += 1
    assert compared > 100


def test_a_read_whose_value_was_not_recorded_stays_unknown():
    e = ev.MmioRead(addr=0x1C, size=4, value=0, reg="csts")
    e.value_known = False
    assert apply(State(), e).register("csts") is None
    assert apply(State(), ev.MmioRead(addr=0x1C, size=4, value=0, reg="csts")).register("csts") == 0


#: host memory writes over three pages: whole pages (page-aligned 4 KiB of bytes, which the
#: writer keeps as they are), parts of pages, and runs across page boundaries
_WRITES = st.lists(
    st.one_of(
        st.tuples(st.sampled_from([0x20000, 0x21000, 0x22000]), st.just(4096)),
        st.tuples(st.integers(0x20000, 0x22FFF), st.integers(1, 300)),
        st.tuples(st.integers(0x20000, 0x21FFF), st.integers(1, 8192)),
    ),
    min_size=1,
    max_size=24,
)


@settings(max_examples=60, deadline=None)
@given(writes=_WRITES, every=st.integers(1, 5), fill=st.integers(0, 255))
def test_checkpointed_memory_is_every_write_in_order(tmp_path_factory, writes, every, fill):
    """Whatever mix of whole-page, part-page and page-crossing writes, the memory a
    recording's checkpoints hold is the writes applied in order, byte for byte."""
    events = []
    for n, (addr, length) in enumerate(writes):
        data = bytes((fill + n + i) & 0xFF for i in range(length))
        e = ev.MemWrite(addr=addr, data=data, purpose="test")
        e.seq, e.ts = n, n
        events.append(e)
    path = tmp_path_factory.getbasetemp() / f"mem-{every}.nvmetrace"
    with TraceWriter(path, chunk_events=1, checkpoint_every=every) as w:
        w.extend(events)
    rec = open_recording(path)
    model = bytearray(3 * 4096)
    for n, (addr, length) in enumerate(writes):
        model[addr - 0x20000 : addr - 0x20000 + length] = events[n].data
        got = rec.state_at(n)
        for a, k in writes[: n + 1]:  # every range written so far holds the latest bytes
            assert got.read_mem(a, k) == bytes(model[a - 0x20000 : a - 0x20000 + k]), (n, a, k)
