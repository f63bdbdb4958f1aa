"""The host driver's I/O API (docs/host-api.md, "I/O from a script"): a command to any I/O
queue, a batch that writes every SQE before one tail doorbell per SQ, and a wait for
given commands or for all outstanding ones, with polled queues and a full SQ."""

from __future__ import annotations

import pytest

from nvmescope.host import IoCommand
from nvmescope.machine import Machine
from nvmescope.nvme.commands import unpack_sqe
from nvmescope.trace.checks import run_checks

BLOCK = 4096


@pytest.fixture
def booted() -> Machine:
    # io-load's bring-up asks for two queue pairs; count 1 keeps the load itself short
    m = Machine(scenario="io-load", params={"count": 1, "queues": 2, "depth": 1})
    m.run()
    assert m.driver is not None and m.driver.up and sorted(m.driver.sqs) == [0, 1, 2]
    return m


def _writes(m: Machine, n: int, qids: tuple[int, ...] = (1, 2), slba0: int = 0):
    bufs = [m.api.alloc(BLOCK) for _ in range(n)]
    for i, b in enumerate(bufs):
        m.api.mem_write(b, bytes([i + 1]) * BLOCK, "test data")
    return [
        IoCommand.rw(0x01, qids[i % len(qids)], 1, slba0 + 8 * i, 8, b, BLOCK)
        for i, b in enumerate(bufs)
    ]


def _errors(m: Machine) -> list[str]:
    return [f.line() for f in run_checks(m.events) if f.severity == "error"]


def test_a_batch_writes_every_sqe_then_rings_each_sq_once(booted):
    m, drv = booted, booted.driver
    start = len(m.events)
    tails = {q: drv.sqs[q].tail for q in (1, 2)}
    comps = drv.run(drv.submit_batch(_writes(m, 6)))
    events = m.events[start:]
    sqe_writes = [
        i for i, e in enumerate(events) if e.kind == "mem_write" and e.purpose.startswith("SQE")
    ]
    doorbells = [i for i, e in enumerate(events) if e.kind == "doorbell_sq"]
    assert len(sqe_writes) == 6 and len(doorbells) == 2
    assert max(sqe_writes) < min(doorbells)
    rung = {events[i].sqid: events[i].new_tail for i in doorbells}
    depth = drv.sqs[1].depth
    assert rung == {q: (tails[q] + 3) % depth for q in (1, 2)}
    assert [c.sqid for c in comps] == [1, 2, 1, 2, 1, 2]


def test_wait_all_waits_for_every_outstanding_command_and_returns_them_in_order(booted):
    m, drv = booted, booted.driver
    comps = drv.run(drv.submit_batch(_writes(m, 5)))
    assert drv.outstanding == comps
    done = drv.run(drv.wait_all())
    assert done == comps and all(c.done and c.ok for c in done)
    assert drv.outstanding == []
    # the AER the controller holds is not a command wait_all waits for
    assert drv.outstanding_aer is not None and not drv.outstanding_aer.done
    assert _errors(m) == []


def test_wait_all_of_given_commands_leaves_the_others_outstanding(booted):
    m, drv = booted, booted.driver
    m.api.stop_fetch(2)
    comps = drv.run(drv.submit_batch(_writes(m, 4)))
    on_1 = [c for c in comps if c.sqid == 1]
    assert drv.run(drv.wait_all(on_1)) == on_1 and all(c.ok for c in on_1)
    assert drv.outstanding == [c for c in comps if c.sqid == 2]
    m.api.clear_fault("stop_fetch", sqid=2)
    assert all(c.ok for c in drv.run(drv.wait_all()))


def test_a_batch_reads_into_the_drivers_own_buffers_and_wait_all_reads_them_back(booted):
    m, drv = booted, booted.driver
    assert all(c.ok for c in drv.run(drv.wait_all(drv.run(drv.submit_batch(_writes(m, 4))))))
    reads = [
        IoCommand(1 + i % 2, 0x02, nsid=1, cdw10=8 * i, cdw12=7, data_len=BLOCK) for i in range(4)
    ]
    done = drv.run(drv.wait_all(drv.run(drv.submit_batch(reads))))
    assert [c.data for c in done] == [bytes([i + 1]) * BLOCK for i in range(4)]
    assert _errors(m) == []


def test_a_batch_larger_than_the_sq_rings_what_fits_and_waits_for_room(booted):
    m, drv = booted, booted.driver
    depth = 4
    assert drv.run(drv.create_io_cq(3, depth, 1)).ok
    assert drv.run(drv.create_io_sq(3, depth, 3)).ok
    start = len(m.events)
    comps = drv.run(drv.submit_batch(_writes(m, 7, qids=(3,))))
    done = drv.run(drv.wait_all(comps))
    assert all(c.ok for c in done)
    rung = [e for e in m.events[start:] if e.kind == "doorbell_sq" and e.sqid == 3]
    # at most depth - 1 commands outstanding: 3, then more as completions free slots
    assert len(rung) >= 3 and rung[0].new_tail == 3
    fetched = [
        unpack_sqe(e.data).cid for e in m.events[start:] if e.kind == "sqe_fetch" and e.sqid == 3
    ]
    assert sorted(fetched) == sorted(c.cid for c in comps)
    assert _errors(m) == []


def test_a_cq_without_interrupts_is_polled_and_raises_no_interrupt(booted):
    m, drv = booted, booted.driver
    assert drv.run(drv.create_io_cq(3, 8, 0, ien=False)).ok
    assert drv.run(drv.create_io_sq(3, 8, 3)).ok
    start = len(m.events)
    done = drv.run(drv.wait_all(drv.run(drv.submit_batch(_writes(m, 3, qids=(3,))))))
    assert all(c.ok for c in done)
    events = m.events[start:]
    assert not [e for e in events if e.kind in ("irq_msix", "irq_intx")]
    assert [e for e in events if e.kind == "host_step" and e.step == "poll_cq"]
    assert [e for e in events if e.kind == "doorbell_cq" and e.cqid == 3]


def test_a_command_for_a_queue_the_host_lacks_is_not_sent(booted):
    m, drv = booted, booted.driver
    start = len(m.events)
    (comp,) = drv.run(drv.submit_batch([IoCommand(9, 0x00, nsid=1)]))
    assert comp.aborted and comp.done
    assert not [e for e in m.events[start:] if e.kind == "doorbell_sq"]


def test_submit_without_waiting_then_wait_all_reads_the_data_back(booted):
    m, drv = booted, booted.driver
    assert drv.run(drv.wait_all(drv.run(drv.submit_batch(_writes(m, 1)))))[0].ok
    c = drv.run(drv.submit(2, 0x02, nsid=1, cdw10=0, cdw12=7, data_len=BLOCK, wait=False))
    assert not c.done and c.data is None
    (got,) = drv.run(drv.wait_all([c]))
    assert got.ok and got.data == b"\x01" * BLOCK


def test_the_io_example_in_the_doc_prints_what_the_doc_says():
    import os
    import subprocess
    import sys
    from pathlib import Path

    from test_host_api_example import fenced_blocks

    root = Path(__file__).resolve().parents[1]
    blocks = fenced_blocks((root / "docs" / "host-api.md").read_text())
    index = next(i for i, (lang, body) in enumerate(blocks) if "submit_batch(writes)" in body)
    code, printed = blocks[index][1], blocks[index + 1][1]
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == printed
