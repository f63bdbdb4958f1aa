"""Commands run as tasks of their own on ``parallel_units`` units: they overlap, complete
out of order, report the SQ head as of their completion, and still wait while their CQ is
full; the same run gives the same events, byte for byte."""

from __future__ import annotations

import msgspec
from emuhost import Rig

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.config import profile_config
from nvmescope.machine import Machine
from nvmescope.nvme.commands import pack_sqe

FLUSH, READ = 0x00, 0x02
BLOCKS_4K = 8  # 512-byte LBAs


def read(rig: Rig, cid: int, nblocks: int, buf: int) -> bytes:
    """A Read of ``nblocks`` at LBA 0 into ``buf`` (contiguous pages: PRP2 a list if needed)."""
    size = nblocks * 512
    prp2 = 0
    if size > 8192:
        pages = [buf + 4096 * i for i in range(1, -(-size // 4096))]
        prp2 = rig.host.alloc()
        rig.host.write(prp2, b"".join(p.to_bytes(8, "little") for p in pages))
    elif size > 4096:
        prp2 = buf + 4096
    return pack_sqe(READ, cid, nsid=1, prp1=buf, prp2=prp2, cdw12=nblocks - 1)


def rig_for(**knobs: int) -> Rig:
    rig = Rig(ControllerConfig(**knobs))
    rig.enable()
    rig.create_io_pair(1, qsize=16)
    return rig


def completions(rig: Rig, cqid: int = 1) -> list:
    return [e for e in rig.events if e.kind == "cqe_post" and e.cqid == cqid]


def test_a_short_read_behind_a_long_one_completes_first_with_two_units():
    rig = rig_for(media_read_ns=50_000, parallel_units=2)
    big, small = rig.host.alloc(17), rig.host.alloc()
    rig.submit(1, read(rig, 1, 16 * BLOCKS_4K, big), ring=False)  # 64 KiB: 16 x 50 us
    rig.submit(1, read(rig, 2, BLOCKS_4K, small))  # 4 KiB: 50 us
    rig.run()
    posts = completions(rig)
    assert [e.cid for e in posts] == [2, 1]
    assert [e.status for e in posts] == [0, 0]
    # the SQ head each CQE reports is the head when it was posted: both already fetched
    assert [e.sqhd for e in posts] == [2, 2]
    fetched = [e.cid for e in rig.events if e.kind == "sqe_fetch" and e.sqid == 1]
    assert fetched == [1, 2]
    # both ran at once: the second started before the first finished
    start2 = next(e.ts for e in rig.events if e.kind == "cmd_start" and e.sqid == 1 and e.cid == 2)
    finish1 = next(
        e.ts for e in rig.events if e.kind == "cmd_finish" and e.sqid == 1 and e.cid == 1
    )
    assert start2 < finish1


def test_one_unit_runs_the_same_two_reads_one_after_the_other_in_order():
    rig = rig_for(media_read_ns=50_000, parallel_units=1)
    big, small = rig.host.alloc(17), rig.host.alloc()
    rig.submit(1, read(rig, 1, 16 * BLOCKS_4K, big), ring=False)
    rig.submit(1, read(rig, 2, BLOCKS_4K, small))
    rig.run()
    posts = completions(rig)
    assert [e.cid for e in posts] == [1, 2]
    # the second was still in the SQ when the first completed
    assert [e.sqhd for e in posts] == [1, 2]
    finish1 = next(
        e.ts for e in rig.events if e.kind == "cmd_finish" and e.sqid == 1 and e.cid == 1
    )
    fetch2 = next(e.ts for e in rig.events if e.kind == "sqe_fetch" and e.sqid == 1 and e.cid == 2)
    assert fetch2 >= finish1


def test_no_more_commands_run_at_once_than_there_are_units():
    rig = rig_for(parallel_units=3, io_latency_ns=10_000)
    for cid in range(8):
        rig.submit(1, pack_sqe(FLUSH, cid, nsid=1), ring=False)
    rig.ring_sq(1)
    running = peak = 0
    seen = 0
    while rig.sched.run_one():
        for e in rig.events[seen:]:
            if e.kind == "sqe_fetch" and e.sqid == 1:
                running += 1
            elif e.kind == "cqe_post" and e.cqid == 1:
                running -= 1
            peak = max(peak, running)
        seen = len(rig.events)
        while rig.reap(1, ring=True) is not None:
            pass
    assert peak == 3 and len(completions(rig)) == 8


def test_a_full_cq_holds_concurrent_completions_and_the_sq_keeps_what_has_no_unit():
    rig = Rig(ControllerConfig(parallel_units=2))
    rig.enable()
    rig.create_io_pair(1, qsize=8, cq_size=4)  # 3 usable CQ entries
    for cid in range(6):
        rig.submit(1, pack_sqe(FLUSH, cid, nsid=1), ring=False)
    rig.ring_sq(1)
    rig.run()
    posts = completions(rig)
    assert [e.cid for e in posts] == [0, 1, 2] and rig.ctrl.cqs[1].full
    # two commands wait for CQ space, each holding its unit; the sixth stays in the SQ
    held = [e.cid for e in rig.events if e.kind == "cq_full"]
    assert held == [3, 4]
    assert rig.ctrl.sqs[1].head == 5 and rig.ctrl._io_busy == 2
    assert not any(e.kind == "sqe_fetch" and e.cid == 5 for e in rig.events)
    # consuming one entry lets exactly one held completion through, in the order they waited
    assert rig.reap(1).cid == 0
    posts = completions(rig)
    assert [e.cid for e in posts] == [0, 1, 2, 3]
    assert [e.slot for e in posts] == [0, 1, 2, 3]
    # then the rest, as the host frees entries; no entry is written before it is consumed
    got = [rig.reap(1).cid for _ in range(3)]
    got += [rig.reap(1).cid for _ in range(2)]
    assert got == [1, 2, 3, 4, 5]
    posts = completions(rig)
    assert [(e.slot, e.phase) for e in posts] == [(0, 1), (1, 1), (2, 1), (3, 1), (0, 0), (1, 0)]


def test_deleting_an_sq_waits_for_every_command_it_has_running():
    rig = rig_for(io_latency_ns=50_000, parallel_units=4)
    for cid in range(3):
        rig.submit(1, pack_sqe(FLUSH, cid, nsid=1), ring=False)
    rig.ring_sq(1)
    while sum(e.kind == "cmd_start" and e.sqid == 1 for e in rig.events) < 3:
        assert rig.sched.run_one()
    cqe = rig.admin(0x00, cdw10=1)  # Delete I/O SQ 1 while three commands run
    assert cqe.sc == 0
    deleted = next(e.seq for e in rig.events if e.kind == "queue_deleted")
    posted = [e for e in completions(rig) if e.sqid == 1]
    # each of the three completed (aborted by the deletion) before the SQ was gone
    assert len(posted) == 3 and all(e.seq < deleted for e in posted)
    assert all(e.status & 0xFF == 0x08 for e in posted)  # Command Aborted due to SQ Deletion


def run_bytes(config: ControllerConfig, scenario: str, params: dict[str, int]) -> list[bytes]:
    m = Machine(config, scenario, params)
    m.run()
    return [msgspec.msgpack.encode(e) for e in m.events]


def test_the_same_concurrent_run_gives_the_same_events_byte_for_byte():
    params = {"count": 48, "queues": 3, "depth": 8}
    first = run_bytes(profile_config("ssd"), "io-load", params)
    second = run_bytes(profile_config("ssd"), "io-load", params)
    assert first == second
    # and in that run commands really ran at once
    m = Machine(profile_config("ssd"), "io-load", params)
    m.run()
    running = peak = 0
    for e in m.events:
        if e.kind == "cmd_start" and e.sqid:
            running += 1
        elif e.kind == "cmd_finish" and e.sqid:
            running -= 1
        peak = max(peak, running)
    assert peak > 3
    assert m.scenario is not None and m.scenario.ok


def test_the_same_out_of_order_run_gives_the_same_events_byte_for_byte():
    def once() -> list[bytes]:
        rig = rig_for(media_read_ns=50_000, parallel_units=2)
        big, small = rig.host.alloc(17), rig.host.alloc()
        rig.submit(1, read(rig, 1, 16 * BLOCKS_4K, big), ring=False)
        rig.submit(1, read(rig, 2, BLOCKS_4K, small))
        rig.run()
        return [msgspec.msgpack.encode(e) for e in rig.events]

    assert once() == once()
