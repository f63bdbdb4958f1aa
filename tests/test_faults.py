"""Faults the host arms make the device misbehave as real devices do: each one shows in the
events, clearing it restores normal behaviour, a recording with faults replays byte for
byte (and does not once the fault events are taken out or changed), bad arguments are
refused before anything is recorded, and the trace state knows what is armed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from test_host_api_example import fenced_blocks

from nvmescope import events as ev
from nvmescope.events import FAULTS, ArmedFault, FaultError
from nvmescope.machine import Machine
from nvmescope.nvme.commands import pack_sqe, unpack_cqe
from nvmescope.trace import Recorder, TraceWriter, open_recording, verify
from nvmescope.trace.checks import NOTE, WARNING, run_checks
from nvmescope.trace.commands import pair_commands
from nvmescope.trace.state import State, apply, fold

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "host-api.md"
NSID, IOQ = 1, 1
PBA = 0x3000  # BAR0 offset of the MSI-X Pending Bit Array (the default configuration)


def booted() -> Machine:
    """The Linux driver model's bring-up, finished: I/O queue pair 1 on MSI-X vector 1."""
    m = Machine(scenario="bringup")
    m.run()
    return m


def since(m: Machine, start: int, *kinds: str) -> list[ev.Event]:
    return [e for e in m.events[start:] if not kinds or e.kind in kinds]


def read(m: Machine, buf: int, lba: int = 0) -> Any:
    drv = m.driver
    assert drv is not None
    return drv.run(drv.nvme_read(IOQ, NSID, lba, 8, buf, 4096))


def write(m: Machine, buf: int, lba: int = 0) -> Any:
    drv = m.driver
    assert drv is not None
    return drv.run(drv.nvme_write(IOQ, NSID, lba, 8, buf, 4096))


def submit_nowait(m: Machine, buf: int) -> Any:
    """A Read on SQ 1 the script does not wait for (returns its Completion)."""
    drv = m.driver
    assert drv is not None
    return drv.run(drv.submit(IOQ, 0x02, nsid=NSID, cdw12=7, prp1=buf, wait=False))


# -- drop_interrupt ---------------------------------------------------------------------------
def notes(m: Machine, start: int, step: str) -> list[ev.Event]:
    return [e for e in since(m, start, "host_step") if getattr(e, "step", None) == step]


def test_drop_interrupt_loses_the_msix_message_and_the_driver_polls_the_cq_at_timeout() -> None:
    m = booted()
    buf = m.api.alloc(4096)
    armed = m.api.drop_interrupt()
    assert (armed.kind, armed.action, armed.armed, armed.count) == (
        "fault",
        "drop_interrupt",
        True,
        1,
    )
    assert armed.actor == ev.HOST
    start = len(m.events)
    c = read(m, buf)
    # as Linux 6.1 sees it: no interrupt; the timer fires, nvme_timeout reads CSTS and polls
    # the CQ, finds the CQE there: "I/O 0 QID 1 timeout, completion polled"
    assert c.ok and not c.timed_out and c.cqe is not None
    (polled,) = notes(m, start, "timeout_polled")
    assert f"I/O {c.cid} QID {IOQ} timeout, completion polled" in polled.text
    assert polled.ts - armed.ts >= 30_000_000_000  # Linux's io_timeout
    kinds = [e.kind for e in since(m, start)]
    post = kinds.index("cqe_post")
    assert kinds[post + 1] == "fault_irq_dropped"
    lost = since(m, start, "fault_irq_dropped")[0]
    assert (lost.vector, lost.remaining, lost.sqid, lost.cid) == (1, 0, IOQ, c.cid)
    assert lost.data == 1 and lost.address == 0xFEE0_0000
    assert "irq_msix" not in kinds and "host_irq" not in kinds
    assert m.api.armed_faults() == []  # used up
    # the next command is signalled as usual
    start = len(m.events)
    assert read(m, buf).ok
    assert [e.kind for e in since(m, start, "irq_msix", "fault_irq_dropped")] == ["irq_msix"]


def test_drop_interrupt_count_drops_that_many_and_clearing_it_restores_delivery() -> None:
    m = booted()
    buf = m.api.alloc(4096)
    m.api.drop_interrupt(count=3)
    start = len(m.events)
    assert read(m, buf).ok and read(m, buf).ok  # each found by nvme_timeout's poll
    assert len(notes(m, start, "timeout_polled")) == 2
    lost = since(m, start, "fault_irq_dropped")
    assert [e.remaining for e in lost] == [2, 1]
    (left,) = m.api.armed_faults()
    assert (left.action, left.count, left.key) == ("drop_interrupt", 1, "drop_interrupt")
    m.api.clear_fault("drop_interrupt")
    assert m.api.armed_faults() == []
    start = len(m.events)
    assert read(m, buf).ok
    assert not since(m, start, "fault_irq_dropped") and since(m, start, "host_irq")


def by_hand() -> tuple[Machine, int, int]:
    """A hand-driven machine (no driver): PCI on, a 4-entry admin queue pair, CC.EN=1, no
    MSI-X, so the device signals completions on its INTx pin."""
    m = Machine(scenario=None)
    api = m.api
    api.config_write(0x10, 4, 0)
    api.config_write(0x14, 4, 1)
    api.config_write(0x04, 2, 0x0006)
    asq, acq = api.alloc(4096), api.alloc(4096)
    api.mmio_write32(0x24, 0x0003_0003)
    api.mmio_write64(0x28, asq)
    api.mmio_write64(0x30, acq)
    api.mmio_write32(0x14, 0x0046_0001)
    while not api.mmio_read32(0x1C) & 1:
        api.run_for(100_000)
    return m, asq, acq


def identify(m: Machine, asq: int, slot: int, cid: int) -> None:
    buf = m.api.alloc(4096)
    m.api.mem_write(asq + 64 * slot, pack_sqe(opc=0x06, cid=cid, prp1=buf, cdw10=1), "SQE")
    m.api.mmio_write32(0x1000, slot + 1)
    m.api.run_until_idle()


def test_drop_interrupt_loses_the_intx_assert_and_the_pin_counts_as_asserted() -> None:
    m, asq, acq = by_hand()
    m.api.drop_interrupt()
    start = len(m.events)
    identify(m, asq, 0, cid=1)
    lost = since(m, start, "fault_irq_dropped")
    assert len(lost) == 1 and lost[0].vector is None
    assert not since(m, start, "irq_intx")
    assert m.irq.intx_count == 0 and not m.irq.intx_asserted  # the host never saw it
    assert unpack_cqe(m.api.peek(acq, 16)).cid == 1  # found by polling the CQ
    # the device believes its pin is asserted: consuming the CQE deasserts it
    start = len(m.events)
    m.api.mmio_write32(0x1004, 1)
    m.api.run_until_idle()
    assert [e.asserted for e in since(m, start, "irq_intx")] == [False]
    start = len(m.events)
    identify(m, asq, 1, cid=2)
    assert [e.asserted for e in since(m, start, "irq_intx")] == [True]
    assert m.irq.intx_count == 1


# -- delay_completions ----------------------------------------------------------------------
def test_delay_completions_holds_each_cqe_back_until_cleared() -> None:
    m = booted()
    buf = m.api.alloc(4096)
    armed = m.api.delay_completions(250)
    assert armed.delay_ns == 250_000
    for _ in range(2):
        start = len(m.events)
        assert read(m, buf).ok
        finish = since(m, start, "cmd_finish")[0]
        held = since(m, start, "fault_cqe_delayed")[0]
        post = since(m, start, "cqe_post")[0]
        assert (held.cqid, held.delay_ns, held.sqid, held.cid) == (IOQ, 250_000, IOQ, post.cid)
        assert held.ts == finish.ts and post.ts - finish.ts == 250_000
    assert [f.delay_ns for f in m.api.armed_faults()] == [250_000]
    m.api.clear_fault("delay_completions")
    start = len(m.events)
    assert read(m, buf).ok
    assert not since(m, start, "fault_cqe_delayed")
    assert since(m, start, "cqe_post")[0].ts == since(m, start, "cmd_finish")[0].ts


# -- mask_vector -------------------------------------------------------------------------------
def test_mask_vector_sets_the_pending_bit_and_clearing_it_sends_the_message() -> None:
    m = booted()
    buf = m.api.alloc(4096)
    m.api.mask_vector(1)
    start = len(m.events)
    c = submit_nowait(m, buf)
    m.api.run_for(200_000)
    held = since(m, start, "irq_msix")
    assert len(held) == 1
    assert (held[0].masked, held[0].pending, held[0].delivered, held[0].by_fault) == (
        True, True, False, True,
    )  # fmt: skip
    assert not since(m, start, "host_irq") and not c.done
    assert m.api.mmio_read32(PBA) & 0b10  # the Pending Bit of vector 1
    assert m.api.mmio_read32(0x2000 + 16 + 12) & 1 == 0  # its Mask bit is still clear
    start = len(m.events)
    m.api.clear_fault("mask_vector", vector=1)
    m.driver.run(m.driver.wait_for(c))
    assert c.ok
    sent = since(m, start, "irq_msix")
    assert len(sent) == 1 and sent[0].delivered and not sent[0].masked and not sent[0].pending
    assert since(m, start, "host_irq")
    assert m.api.mmio_read32(PBA) & 0b10 == 0
    start = len(m.events)
    assert read(m, buf).ok  # back to normal
    assert [e.masked for e in since(m, start, "irq_msix")] == [False]


def test_mask_vector_takes_the_path_of_the_mask_bit_and_the_mask_bit_still_holds() -> None:
    """The fault and the host's own Mask bit are one path: the message is sent only when
    neither holds it, whichever goes first."""
    m = booted()
    buf = m.api.alloc(4096)
    ctrl_1 = 0x2000 + 16 + 12  # MSI-X table entry 1, Vector Control
    m.api.mask_vector(1)
    m.api.mmio_write32(ctrl_1, 1)  # the host masks it too
    c = submit_nowait(m, buf)
    m.api.run_for(200_000)
    start = len(m.events)
    m.api.clear_fault("mask_vector", vector=1)
    m.api.run_for(200_000)
    assert not since(m, start, "irq_msix") and not c.done  # the Mask bit holds it
    assert m.api.mmio_read32(PBA) & 0b10
    m.api.mmio_write32(ctrl_1, 0)
    m.driver.run(m.driver.wait_for(c))
    assert c.ok and [e.delivered for e in since(m, start, "irq_msix")] == [True]


def test_a_vector_masked_by_the_host_alone_is_not_called_a_fault() -> None:
    m = booted()
    m.api.mmio_write32(0x2000 + 16 + 12, 1)
    start = len(m.events)
    submit_nowait(m, m.api.alloc(4096))
    m.api.run_for(200_000)
    (held,) = since(m, start, "irq_msix")
    assert held.masked and not held.by_fault


# -- force_status -----------------------------------------------------------------------------
def test_force_status_completes_the_next_command_with_it_and_moves_no_data() -> None:
    m = booted()
    api = m.api
    buf = api.alloc(4096)
    api.mem_write(buf, b"A" * 4096, "data")
    assert write(m, buf).ok
    api.force_status(0x04, sqid=IOQ)  # Data Transfer Error
    api.mem_write(buf, b"B" * 4096, "data")
    start = len(m.events)
    c = write(m, buf)
    assert (c.sct, c.sc, c.status_name) == (0, 0x04, "data_transfer_error")
    kinds = [e.kind for e in since(m, start) if e.actor == ev.DEVICE]
    assert kinds[:4] == ["sqe_fetch", "cmd_start", "fault_status_forced", "cmd_finish"]
    assert not {"map_prp", "dma_read", "dma_write"} & set(kinds)
    forced = since(m, start, "fault_status_forced")[0]
    assert (forced.status, forced.remaining, forced.any_sq, forced.sqid) == (0x04, 0, False, IOQ)
    assert api.armed_faults() == []
    out = api.alloc(4096)
    assert read(m, out).ok and api.peek(out, 4096) == b"A" * 4096  # never written


def test_force_status_on_one_sq_spares_the_others_and_counts_down() -> None:
    m = booted()
    drv = m.driver
    buf = m.api.alloc(4096)
    m.api.force_status(0x4082, sqid=IOQ, count=2)  # DNR + Namespace Not Ready
    assert drv.submit_admin(0x06, cdw10=0x01, data_len=4096).ok  # SQ 0: untouched
    assert m.api.armed_faults()[0].count == 2
    first, second = read(m, buf), read(m, buf)
    assert first.status == second.status == 0x4082 and first.cqe.dnr == 1
    assert read(m, buf).ok


def test_force_status_for_any_sq_strikes_the_admin_queue_too() -> None:
    m = booted()
    m.api.force_status(0x06)
    (armed,) = m.api.armed_faults()
    assert (armed.key, armed.sqid, armed.clear_args()) == ("force_status", None, {})
    c = m.driver.submit_admin(0x06, cdw10=0x01, data_len=4096)
    assert c.status_name == "internal_error"
    forced = [e for e in m.events if e.kind == "fault_status_forced"]
    assert forced[-1].any_sq and forced[-1].sqid == 0


def test_a_cleared_force_status_does_not_strike() -> None:
    m = booted()
    m.api.force_status(0x06, sqid=IOQ)
    m.api.clear_fault("force_status", sqid=IOQ)
    assert read(m, m.api.alloc(4096)).ok


# -- stop_fetch ----------------------------------------------------------------------------
def test_stop_fetch_takes_doorbells_fetches_nothing_and_clearing_fetches_what_waits() -> None:
    m = booted()
    buf = m.api.alloc(4096)
    m.api.stop_fetch(IOQ)
    start = len(m.events)
    a, b = submit_nowait(m, buf), submit_nowait(m, buf)
    m.api.run_for(1_000_000)
    doorbells = since(m, start, "doorbell_sq")
    assert len(doorbells) == 2 and not any(d.ignored for d in doorbells)
    stopped = since(m, start, "fault_fetch_stopped")
    assert [(e.sqid, e.waiting) for e in stopped] == [(IOQ, 1), (IOQ, 2)]
    assert not [e for e in since(m, start, "sqe_fetch") if e.sqid == IOQ]
    sq1 = next(q for q in m.ctrl.snapshot()["sqs"] if q["sqid"] == IOQ)
    assert sq1["tail"] - sq1["head"] == 2  # taken, not fetched
    assert not a.done and not b.done
    start = len(m.events)
    m.api.clear_fault("stop_fetch", sqid=IOQ)
    m.driver.run(m.driver.wait_for(b))
    assert a.ok and b.ok
    kinds = [e.kind for e in since(m, start)]
    assert kinds[0] == "fault" and kinds[1] == "sqe_fetch"
    assert len(since(m, start, "sqe_fetch")) == 2


def test_a_command_never_fetched_times_out_after_the_poll_finds_nothing() -> None:
    m = booted()
    buf = m.api.alloc(4096)
    m.api.stop_fetch(IOQ)
    start = len(m.events)
    c = read(m, buf)
    assert c.timed_out and c.cqe is None
    steps = [e.step for e in since(m, start, "host_step")]
    at = steps.index("timeout_csts")
    assert steps[at : at + 4] == ["timeout_csts", "timeout_poll", "read_cqe", "timeout_poll_empty"]
    assert "timeout_polled" not in steps and "timeout" in steps
    assert steps.index("timeout_abort") < steps.index("timeout_reset") < steps.index("timeout")


def test_stop_fetch_on_one_sq_leaves_the_admin_queue_working() -> None:
    m = booted()
    m.api.stop_fetch(IOQ)
    assert m.driver.submit_admin(0x06, cdw10=0x01, data_len=4096).ok


def test_faults_outlive_a_controller_reset() -> None:
    m = booted()
    m.api.stop_fetch(0)
    m.api.mmio_write32(0x14, 0)  # CC.EN = 0
    m.api.run_until_idle()
    assert [f.key for f in m.api.armed_faults()] == ["stop_fetch:0"]


# -- the API: one table, arguments checked before anything is recorded ------------------------
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("no_such_fault", {}, "no fault 'no_such_fault'"),
    ("delay_completions", {"delay_ns": -1}, "delay_ns -1 is outside"),
    ("delay_completions", {"delay_ns": 0}, "delay_ns 0 is outside"),
    ("delay_completions", {}, "needs delay_ns"),
    ("mask_vector", {"vector": 65}, "vector 65 is outside 0..64"),  # 65 vectors by default
    ("mask_vector", {"vector": -1}, "is outside"),
    ("mask_vector", {}, "needs vector"),
    ("stop_fetch", {"sqid": 65}, "sqid 65 is outside 0..64"),  # max_io_queues 64
    ("stop_fetch", {"sqid": 1.0}, "must be an integer"),
    ("stop_fetch", {"sqid": True}, "must be an integer"),
    ("force_status", {"status": 0x8000}, "status 32768 is outside 0..32767"),
    ("force_status", {"status": -1}, "is outside"),
    ("force_status", {"status": 6, "sqid": 100}, "sqid 100 is outside"),
    ("force_status", {"status": 6, "count": 0}, "count 0 is outside"),
    ("drop_interrupt", {"count": -2}, "count -2 is outside"),
    ("drop_interrupt", {"vector": 1}, "takes count, not vector"),
]


@pytest.mark.parametrize(("action", "args", "words"), BAD)
def test_a_bad_fault_raises_before_anything_is_recorded(
    action: str, args: dict[str, Any], words: str
) -> None:
    m = booted()
    api = m.api
    # device work is due at this very instant (the fetch of a Get Features the host just
    # published): an accepted fault would let it run first, a refused one must not
    sq0 = m.ctrl.sqs[0]
    sqe = pack_sqe(opc=0x0A, cid=0x77, cdw10=0x07)
    api.mem_write(sq0.slot_addr(sq0.tail), sqe, "SQE get features")
    api.mmio_write32(0x1000, (sq0.tail + 1) % sq0.size)
    before, pending = len(m.events), api.pending_events
    with pytest.raises(FaultError, match="^fault|^no fault|^clearing") as info:
        api.fault(action, **args)
    assert words in str(info.value)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)
    assert len(m.events) == before and api.pending_events == pending
    assert api.armed_faults() == []


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda api: api.delay_completions(-5), "-5 us is outside"),
        (lambda api: api.delay_completions(0), "0 us is outside"),
        (lambda api: api.delay_completions(1.5), "must be an integer"),
        (lambda api: api.mask_vector(5000), "vector 5000 is outside"),
        (lambda api: api.stop_fetch(-1), "sqid -1 is outside"),
        (lambda api: api.force_status(1 << 15), "is outside 0..32767"),
        (lambda api: api.clear_fault("mask_vector"), "needs vector"),
        (lambda api: api.fault("drop_interrupt", armed=False, count=2), "clearing fault"),
        (lambda api: api.fault("drop_interrupt", armed=1), "armed must be True or False"),
    ],
)
def test_the_convenience_methods_check_the_same_ranges(call: Any, words: str) -> None:
    m = Machine(scenario=None)
    with pytest.raises(FaultError) as info:
        call(m.api)
    assert words in str(info.value)
    assert m.events == []


def test_the_ranges_come_from_the_controller_configuration() -> None:
    from nvmescope.emulator import ControllerConfig

    m = Machine(ControllerConfig(msix_vectors=4, max_io_queues=2), scenario=None)
    with pytest.raises(FaultError, match=r"vector 4 is outside 0\.\.3 \(msix_vectors - 1"):
        m.api.mask_vector(4)
    with pytest.raises(FaultError, match=r"sqid 3 is outside 0\.\.2"):
        m.api.stop_fetch(3)
    m.api.mask_vector(3)
    m.api.stop_fetch(2)
    assert [f.key for f in m.api.armed_faults()] == ["mask_vector:3", "stop_fetch:2"]
    assert FAULTS["mask_vector"].arg("vector").bounds(m.config) == (0, 3)
    assert FAULTS["mask_vector"].arg("vector").bounds() == (0, 2047)


def test_every_fault_and_argument_is_declared_once_with_its_range() -> None:
    assert list(FAULTS) == [
        "drop_interrupt", "delay_completions", "mask_vector", "force_status", "stop_fetch",
    ]  # fmt: skip
    fields = set(ev.Fault.__struct_fields__)
    for spec in FAULTS.values():
        assert spec.title and spec.device and spec.host
        for a in spec.args:
            assert a.name in ev.FAULT_ARGS and a.name in fields
            assert a.low <= a.high and a.help
            assert a.default is None or a.low <= a.default <= a.high
            for words, value in a.choices:
                assert words and a.low <= value <= a.high, (spec.name, a.name, words)
        assert spec.key is None or spec.key in [a.name for a in spec.args]


def test_force_status_offers_the_common_statuses_by_name_with_their_sct_and_sc() -> None:
    status = FAULTS["force_status"].arg("status")
    named = dict(status.choices)
    assert len(named) == len(status.choices)  # no name twice
    assert named["Internal Error (SCT 0h SC 06h)"] == 0x006
    assert named["Data Transfer Error (SCT 0h SC 04h)"] == 0x004
    assert named["Namespace Not Ready (SCT 0h SC 82h)"] == 0x082
    assert named["Invalid Field in Command (SCT 0h SC 02h)"] == 0x002
    assert named["Invalid Namespace or Format (SCT 0h SC 0bh)"] == 0x00B
    assert named["LBA Out of Range (SCT 0h SC 80h)"] == 0x080
    assert named["Unrecovered Read Error (SCT 2h SC 81h)"] == 0x281
    assert status.words is not None and status.words(0x4006).endswith("(SCT 0h SC 06h, DNR)")


def test_arming_again_replaces_and_armed_faults_lists_them_in_order() -> None:
    m = Machine(scenario=None)
    api = m.api
    api.mask_vector(2)
    api.drop_interrupt(count=2)
    api.force_status(0x06, sqid=1)
    api.force_status(0x82)
    api.drop_interrupt(count=5)  # replaces the first, keeps its place
    keys = [f.key for f in api.armed_faults()]
    assert keys == ["mask_vector:2", "drop_interrupt", "force_status:1", "force_status"]
    assert api.armed_faults()[1].count == 5
    assert all(isinstance(f, ArmedFault) and str(f) == f.describe() for f in api.armed_faults())
    cleared = api.clear_faults()
    assert [e.armed for e in cleared] == [False] * 4
    assert [(e.action, e.sqid, e.vector) for e in cleared] == [
        ("mask_vector", None, 2), ("drop_interrupt", None, None), ("force_status", 1, None),
        ("force_status", None, None),
    ]  # fmt: skip
    assert api.armed_faults() == []
    assert [e.kind for e in m.events] == ["fault"] * 9


def test_the_hot_path_check_is_off_while_nothing_is_armed() -> None:
    m = Machine(scenario=None)
    assert m.ctrl.faults.on is False
    m.api.stop_fetch(1)
    assert m.ctrl.faults.on is True
    m.api.clear_fault("stop_fetch", sqid=1)
    assert m.ctrl.faults.on is False


# -- recordings: replay --verify, and the state as of any event ------------------------------
def faulty_session(path: Path) -> Machine:
    """A recorded session that arms and clears every fault, each one striking."""
    m = Machine(scenario="bringup")
    rec = Recorder.attach(m, path, chunk_events=32, checkpoint_every=64)
    m.run()
    api = m.api
    buf = api.alloc(4096)
    api.drop_interrupt()
    read(m, buf)
    api.delay_completions(40)
    read(m, buf)
    api.clear_fault("delay_completions")
    api.mask_vector(1)
    c = submit_nowait(m, buf)
    api.run_for(100_000)
    api.clear_fault("mask_vector", vector=1)
    m.driver.run(m.driver.wait_for(c))
    api.force_status(0x06, sqid=IOQ)
    write(m, buf)
    api.stop_fetch(IOQ)
    c = submit_nowait(m, buf)
    api.run_for(100_000)
    api.clear_fault("stop_fetch", sqid=IOQ)
    m.driver.run(m.driver.wait_for(c))
    api.force_status(0x06, count=3)  # left armed at the end
    rec.close()
    return m


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Machine]:
    path = tmp_path_factory.mktemp("faults") / "faults.nvmetrace"
    return path, faulty_session(path)


def rewrite(src: Path, dst: Path, events: list[ev.Event]) -> None:
    with TraceWriter(dst, open_recording(src).header, chunk_events=32) as w:
        w.extend(msgspec.structs.replace(e, seq=n) for n, e in enumerate(events))


def test_a_recording_with_faults_replays_byte_for_byte(recorded: tuple[Path, Machine]) -> None:
    path, m = recorded
    kinds = {e.kind for e in open_recording(path).events()}
    assert {"fault", "fault_irq_dropped", "fault_cqe_delayed", "fault_status_forced",
            "fault_fetch_stopped"} <= kinds  # fmt: skip
    result = verify(path)
    assert result.ok, result.describe()
    assert result.checked == result.total == len(m.events)


def test_nvmescope_replay_verify_passes_on_it_and_fails_without_its_faults(
    recorded: tuple[Path, Machine], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from nvmescope.cli import app

    path, _ = recorded
    result = CliRunner().invoke(app, ["replay", str(path), "--verify"])
    assert result.exit_code == 0, result.stderr
    assert "identical" in result.stdout
    dst = tmp_path / "no-faults.nvmetrace"
    rewrite(path, dst, [e for e in open_recording(path).events() if e.kind != "fault"])
    assert CliRunner().invoke(app, ["replay", str(dst), "--verify"]).exit_code != 0


@pytest.mark.parametrize(
    "action", ["drop_interrupt", "delay_completions", "mask_vector", "force_status", "stop_fetch"]
)
def test_replay_fails_without_the_fault_events(
    recorded: tuple[Path, Machine], tmp_path: Path, action: str
) -> None:
    path, _ = recorded
    events = list(open_recording(path).events())
    gone = [n for n, e in enumerate(events) if e.kind == "fault" and e.action == action]
    dst = tmp_path / "without.nvmetrace"
    rewrite(path, dst, [e for n, e in enumerate(events) if n not in gone])
    result = verify(dst)
    assert not result.ok
    assert result.divergence.index >= gone[0]


@pytest.mark.parametrize(
    ("action", "change"),
    [
        ("drop_interrupt", {"count": 2}),
        ("delay_completions", {"delay_ns": 41_000}),
        ("mask_vector", {"vector": 0}),
        ("force_status", {"status": 0x04}),
        ("stop_fetch", {"sqid": 2}),
    ],
)
def test_replay_fails_when_a_fault_event_is_changed(
    recorded: tuple[Path, Machine], tmp_path: Path, action: str, change: dict[str, int]
) -> None:
    path, _ = recorded
    events = list(open_recording(path).events())
    k = next(n for n, e in enumerate(events) if e.kind == "fault" and e.action == action)
    events[k] = msgspec.structs.replace(events[k], **change)
    dst = tmp_path / "changed.nvmetrace"
    rewrite(path, dst, events)
    result = verify(dst)
    assert not result.ok
    assert result.divergence.index > k  # the fault is taken as recorded; the device differs


def test_a_recorded_fault_no_device_takes_is_the_divergence(
    recorded: tuple[Path, Machine], tmp_path: Path
) -> None:
    path, _ = recorded
    events = list(open_recording(path).events())
    k = next(n for n, e in enumerate(events) if e.kind == "fault" and e.action == "mask_vector")
    events[k] = msgspec.structs.replace(events[k], vector=4096)
    dst = tmp_path / "bad.nvmetrace"
    rewrite(path, dst, events)
    result = verify(dst)
    assert not result.ok and result.divergence.index == k
    assert result.divergence.reason.startswith("the recorded fault cannot be armed: fault mask")


def test_the_state_of_every_event_has_the_faults_armed_then(
    recorded: tuple[Path, Machine],
) -> None:
    path, m = recorded
    rec = open_recording(path)
    s = fold(rec.events())
    assert list(s.faults.values()) == m.api.armed_faults()
    assert [str(f) for f in s.faults.values()] == [
        "the next 3 commands from any SQ complete with Internal Error (SCT 0h SC 06h), not executed"
    ]
    events = list(rec.events())
    first_drop = next(n for n, e in enumerate(events) if e.kind == "fault")
    lost = next(n for n, e in enumerate(events) if e.kind == "fault_irq_dropped")
    assert list(rec.state_at(first_drop - 1).faults) == []
    assert list(rec.state_at(first_drop).faults) == ["drop_interrupt"]
    assert list(rec.state_at(lost).faults) == []  # used up
    assert rec.state_at(lost).msix[1].dropped == 1
    # checkpoints carry the faults: every state a reader builds equals the fold from 0
    for n in range(0, len(events), 37):
        assert rec.state_at(n).faults == fold(events[: n + 1]).faults, n


def test_the_folded_faults_agree_with_the_device_at_every_step() -> None:
    m = Machine(scenario="bringup")
    s = State()
    done: list[bool] = []

    def host() -> Any:
        api, drv = m.api, m.driver
        buf = api.alloc(4096)
        api.drop_interrupt(count=2)
        api.force_status(0x06, sqid=IOQ, count=2)
        api.mask_vector(0)
        for _ in range(3):
            yield from drv.nvme_read(IOQ, NSID, 0, 8, buf, 4096)
        api.clear_fault("mask_vector", vector=0)
        done.append(True)

    m.run()
    m.api.spawn(host())
    compared = 0
    while (e := m.step()) is not None:
        apply(s, e)
        if not m.api.pending_events:
            assert list(s.faults.values()) == m.api.armed_faults(), e.seq
            compared += 1
    assert done and compared > 20


def test_checks_note_each_fault_and_a_forced_status_is_no_warning(
    recorded: tuple[Path, Machine],
) -> None:
    path, _ = recorded
    findings = run_checks(open_recording(path).events())
    notes = {f.check for f in findings if f.severity == NOTE}
    assert {"fault_irq_dropped", "fault_cqe_delayed", "fault_status_forced",
            "fault_fetch_stopped"} <= notes  # fmt: skip
    statuses = [f for f in findings if f.check == "error_status"]
    assert statuses and all(f.severity == NOTE for f in statuses)
    assert "as fault_status_forced at seq" in statuses[0].message
    assert not [f for f in findings if f.severity == WARNING and f.check.startswith("fault")]


def test_the_command_view_names_the_lost_interrupt_as_the_commands_interrupt(
    recorded: tuple[Path, Machine],
) -> None:
    path, _ = recorded
    events = list(open_recording(path).events())
    lost = next(n for n, e in enumerate(events) if e.kind == "fault_irq_dropped")
    cmds = pair_commands(events)
    cmd = next(c for c in cmds if c.irq == lost)
    assert (cmd.sqid, cmd.cid) == (events[lost].sqid, events[lost].cid)
    assert cmd.host_irq is None  # no handler ran for it


def test_every_fault_kind_has_words_and_replays_as_a_host_input() -> None:
    assert "fault" in ev.HOST_INPUT_KINDS
    for kind in ("fault_irq_dropped", "fault_cqe_delayed", "fault_status_forced",
                 "fault_fetch_stopped"):  # fmt: skip
        assert kind in ev.EVENT_TYPES and kind not in ev.HOST_INPUT_KINDS
    words = ev.describe(ev.Fault(action="stop_fetch", armed=False, sqid=3))
    assert words == "host clears fault stop_fetch (sqid 3)"
    words = ev.describe(ev.Fault(action="delay_completions", delay_ns=2_000_000))
    assert words == "host arms fault delay_completions: every CQE is held back 2 ms"


def test_the_driver_never_hangs_whatever_is_armed_at_bring_up() -> None:
    for action, args in [
        ("drop_interrupt", {"count": 1000}),
        ("stop_fetch", {"sqid": 0}),
        ("stop_fetch", {"sqid": 1}),
        ("force_status", {"status": 0x06, "count": 1000}),
        ("mask_vector", {"vector": 1}),
        ("delay_completions", {"delay_ns": 1_000_000}),
    ]:
        m = Machine(scenario="io")
        m.api.fault(action, **args)
        m.run()  # no exception, no DeviceBusyError: timeouts end every wait
        assert m.idle, action
        assert m.scenario is not None


# -- docs/host-api.md -------------------------------------------------------------------------
def doc_example() -> str:
    blocks = [body for lang, body in fenced_blocks(DOC.read_text()) if lang == "python"]
    return next(body for body in blocks if "api.drop_interrupt()" in body)


def test_the_faults_example_in_the_doc_prints_what_the_doc_shows() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", doc_example()], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    text = DOC.read_text()
    section = text.split("## Faults", 1)[1]
    printed = [body for lang, body in fenced_blocks(section) if lang == "text"][0]
    assert out.stdout == printed


def test_the_doc_lists_every_fault_with_its_arguments_and_ranges() -> None:
    section = DOC.read_text().split("## Faults", 1)[1].split("\n## ", 1)[0]
    for spec in FAULTS.values():
        assert f"`{spec.name}`" in section, spec.name
        for a in spec.args:
            assert f"`{a.name}` {a.range_words()}" in section, (spec.name, a.name)
    for method in ("drop_interrupt(count=1)", "delay_completions(us)", "mask_vector(vector)",
                   "force_status(status, sqid=None, count=1)", "stop_fetch(sqid)",
                   "clear_fault(action", "clear_faults()", "armed_faults()", "FaultError"):  # fmt: skip
        assert method in section, method
