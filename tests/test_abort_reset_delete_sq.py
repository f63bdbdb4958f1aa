"""Commands outstanding when the host aborts one, resets the controller or deletes their SQ
(NVMe 1.4 5.1 Abort, 5.6 Delete I/O SQ, 5.5 Delete I/O CQ, 7.3.2 Controller Reset): what
completes, with which status, in which order, and that nothing completes afterwards."""

from __future__ import annotations

from emuhost import Rig

from nvmescope.emulator import ControllerConfig
from nvmescope.nvme import status as st
from nvmescope.nvme.commands import pack_sqe

FLUSH, READ = 0x00, 0x02
ABORT, DELETE_SQ, DELETE_CQ = 0x08, 0x00, 0x04


def slow_rig(units: int = 1, **knobs) -> Rig:
    """I/O commands that take 1 ms each, on ``units`` parallel units."""
    rig = Rig(ControllerConfig(parallel_units=units, io_latency_ns=1_000_000, **knobs))
    rig.enable()
    rig.create_io_pair(1)
    return rig


def until(rig: Rig, pred) -> None:
    while not pred():
        assert rig.sched.run_one(), "the machine went idle first"


def started(rig: Rig, cid: int) -> bool:
    return any(e.kind == "cmd_start" and e.sqid == 1 and e.cid == cid for e in rig.events)


def posts(rig: Rig, start: int = 0, cqid: int | None = None) -> list:
    return [
        e for e in rig.events[start:] if e.kind == "cqe_post" and (cqid is None or e.cqid == cqid)
    ]


# -- Abort -------------------------------------------------------------------------------------
def test_abort_of_a_command_still_in_the_sq_completes_it_with_abort_requested_first():
    rig = slow_rig()
    rig.submit(1, pack_sqe(FLUSH, 101, nsid=1), ring=False)
    rig.submit(1, pack_sqe(FLUSH, 102, nsid=1))
    until(rig, lambda: started(rig, 101))  # 101 runs on the only unit, 102 waits in the SQ
    rig.submit(0, pack_sqe(ABORT, 700, cdw10=(102 << 16) | 1))
    rig.run()
    order = [
        (e.cqid, e.cid) for e in posts(rig) if (e.cqid, e.cid) in ((1, 101), (1, 102), (0, 700))
    ]
    assert order == [(1, 101), (1, 102), (0, 700)]  # the aborted command before the Abort
    first, second = rig.reap(1), rig.reap(1)
    assert first.sc == 0 and (second.sct, second.sc) == st.ABORT_REQUESTED
    assert second.dnr == 0
    abort = rig.reap(0)
    assert abort.sc == 0 and abort.dw0 & 1 == 0  # bit 0 clear: the command was aborted
    start = next(e for e in rig.events if e.kind == "cmd_start" and e.cid == 102)
    assert "aborted" in start.detail  # it never ran: completed in the step after its start
    post = next(e for e in posts(rig, cqid=1) if e.cid == 102)
    assert post.ts - start.ts < 1_000_000


def test_abort_of_a_command_already_executing_is_not_aborted_and_it_completes_normally():
    rig = slow_rig()
    rig.submit(1, pack_sqe(FLUSH, 5, nsid=1))
    until(rig, lambda: started(rig, 5))
    rig.submit(0, pack_sqe(ABORT, 701, cdw10=(5 << 16) | 1))
    rig.run()
    abort = rig.reap(0)
    assert abort.cid == 701 and abort.sc == 0 and abort.dw0 & 1 == 1  # not aborted
    done = rig.reap(1)
    assert done.cid == 5 and done.sc == 0


def test_abort_of_a_cid_that_already_completed_says_not_aborted():
    rig = slow_rig()
    rig.submit(1, pack_sqe(FLUSH, 6, nsid=1))
    rig.run()
    assert rig.reap(1).sc == 0
    abort = rig.admin(ABORT, cdw10=(6 << 16) | 1)
    assert abort.sc == 0 and abort.dw0 & 1 == 1
    assert rig.reap(1) is None  # nothing more for cid 6


def test_abort_naming_an_sq_that_does_not_exist_says_not_aborted():
    rig = slow_rig()
    abort = rig.admin(ABORT, cdw10=(1 << 16) | 9)
    assert abort.sc == 0 and abort.dw0 & 1 == 1


# -- controller reset --------------------------------------------------------------------------
def test_a_controller_reset_with_commands_outstanding_posts_no_completion_afterwards():
    rig = slow_rig(units=2)
    for cid in range(1, 5):  # two executing, two waiting in the SQ
        rig.submit(1, pack_sqe(FLUSH, cid, nsid=1), ring=False)
    rig.ring_sq(1)
    until(rig, lambda: started(rig, 2))
    rig.submit(0, pack_sqe(ABORT, 702, cdw10=(4 << 16) | 1))  # an Abort waiting too
    until(rig, lambda: 702 in [e.cid for e in rig.events if e.kind == "cmd_start"])
    start = len(rig.events)
    rig.ctrl.mmio_write(0x14, 4, 0)  # CC.EN = 0
    rig.run()
    assert posts(rig, start) == []  # not one CQE, on any queue
    assert rig.ctrl.csts & 1 == 0
    assert rig.ctrl.sqs == {} and rig.ctrl.cqs == {}
    assert not any(e.kind == "dma_write" for e in rig.events[start:])
    # the queues are gone: a doorbell of SQ1 is ignored
    rig.ctrl.mmio_write(0x1000 + 8, 4, 1)
    rig.run()
    assert rig.kinds()[-1] == "ub_db_while_disabled"


def test_after_a_reset_with_io_outstanding_a_new_bring_up_does_io_again():
    rig = slow_rig(units=2)
    for cid in range(1, 4):
        rig.submit(1, pack_sqe(FLUSH, cid, nsid=1), ring=False)
    rig.ring_sq(1)
    until(rig, lambda: started(rig, 1))
    rig.ctrl.mmio_write(0x14, 4, 0)
    rig.run()
    start = len(rig.events)
    rig.cq_head, rig.cq_phase, rig.sq_tail = {0: 0}, {0: 1}, {0: 0}
    rig.enable()
    rig.create_io_pair(1)
    buf = rig.host.alloc()
    rig.submit(1, pack_sqe(READ, 40, nsid=1, prp1=buf))
    rig.run()
    cqe = rig.reap(1)
    assert cqe.cid == 40 and cqe.sc == 0
    assert {e.cid for e in posts(rig, start, cqid=1)} == {40}  # none of the old commands


# -- Delete I/O SQ ------------------------------------------------------------------------------
def test_delete_sq_posts_aborted_commands_before_its_own_completion_and_drops_unfetched_ones():
    rig = slow_rig(units=2)
    for cid in range(1, 5):  # 1 and 2 executing, 3 and 4 still in the SQ
        rig.submit(1, pack_sqe(FLUSH, cid, nsid=1), ring=False)
    rig.ring_sq(1)
    until(rig, lambda: started(rig, 2))
    rig.submit(0, pack_sqe(DELETE_SQ, 800, cdw10=1))
    rig.run()
    order = [(e.cqid, e.cid) for e in posts(rig)]
    done = order.index((0, 800))
    io = [cid for q, cid in order if q == 1]
    assert set(io) == {1, 2} and all(order.index((1, c)) < done for c in io)
    statuses = {e.cid: e.status & 0x7FF for e in posts(rig, cqid=1)}
    # a command still executing is either completed or aborted by the deletion
    assert all(s in (0, 0x08) for s in statuses.values())
    assert not started(rig, 3) and not started(rig, 4)  # never fetched, never completed
    assert rig.reap(1) is not None and rig.reap(1) is not None and rig.reap(1) is None


def test_delete_sq_is_not_stalled_by_a_full_cq():
    rig = Rig(ControllerConfig(parallel_units=4))
    rig.enable()
    rig.create_io_pair(1, qsize=16, cq_size=2)  # the CQ holds one completion
    for cid in range(10, 14):
        rig.submit(1, pack_sqe(FLUSH, cid, nsid=1), ring=False)
    rig.ring_sq(1)
    rig.run()
    assert len(posts(rig, cqid=1)) == 1 and "cq_full" in rig.kinds()
    start = len(rig.events)
    rig.submit(0, pack_sqe(DELETE_SQ, 801, cdw10=1))
    rig.run()
    cqe = rig.reap(0)
    assert cqe is not None and cqe.cid == 801 and cqe.sc == 0
    assert "queue_deleted" in rig.kinds(start)
    # the host frees the CQ: the completions that waited for room never appear
    assert rig.reap(1).cid == 10
    rig.run()
    assert rig.reap(1) is None and posts(rig, start, cqid=1) == []
    assert rig.admin(DELETE_CQ, cdw10=1).sc == 0


def test_delete_cq_with_an_sq_still_attached_is_invalid_queue_deletion_and_changes_nothing():
    rig = slow_rig()
    cqe = rig.admin(DELETE_CQ, cdw10=1)
    assert (cqe.sct, cqe.sc) == st.INVALID_QUEUE_DELETION and cqe.dnr == 1
    assert 1 in rig.ctrl.cqs and 1 in rig.ctrl.sqs
    rig.submit(1, pack_sqe(FLUSH, 9, nsid=1))
    rig.run()
    assert rig.reap(1).sc == 0  # the pair still works
    assert rig.admin(DELETE_SQ, cdw10=1).sc == 0
    assert rig.admin(DELETE_CQ, cdw10=1).sc == 0


def test_no_completion_ever_appears_for_a_deleted_sq():
    rig = slow_rig(units=4)
    for cid in range(1, 4):
        rig.submit(1, pack_sqe(FLUSH, cid, nsid=1), ring=False)
    rig.ring_sq(1)
    until(rig, lambda: started(rig, 3))
    assert rig.admin(DELETE_SQ, cdw10=1).sc == 0
    deleted = next(e.seq for e in rig.events if e.kind == "queue_deleted")
    rig.sched.advance_to(rig.sched.now + 10_000_000, 10_000)
    rig.run()
    assert not [e for e in posts(rig) if e.sqid == 1 and e.seq > deleted]
