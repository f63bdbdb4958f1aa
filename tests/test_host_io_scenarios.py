"""The io and io-load scenarios: data goes to the namespace and comes back intact."""

from __future__ import annotations

import pytest

from nvmescope.host import SCENARIOS
from nvmescope.machine import Machine


@pytest.fixture(scope="module")
def io() -> Machine:
    m = Machine(scenario="io")
    m.run()
    return m


def commands(m: Machine, sqid: int) -> list[tuple[int, int]]:
    """(opcode, nsid) of every SQE the device fetched from ``sqid``."""
    return [
        (e.data[0], int.from_bytes(e.data[4:8], "little"))
        for e in m.events
        if e.kind == "sqe_fetch" and e.sqid == sqid
    ]


def test_io_writes_flushes_and_reads_back_lba_0_through_sq1(io):
    assert io.scenario.ok, [r for r in io.scenario.results if not r.ok]
    assert commands(io, 1) == [(0x01, 1), (0x00, 1), (0x02, 1), (0x01, 1), (0x02, 1)]
    block = io.ctrl.namespaces[1].read_blocks(0, 1)
    assert block == b"hello-nvme".ljust(512, b"\0")
    # the completions of SQ1 arrive on CQ1 and MSI-X vector 1
    posts = [e for e in io.events if e.kind == "cqe_post" and e.sqid == 1]
    assert posts and {e.cqid for e in posts} == {1}
    irqs = {e.vector for e in io.events if e.kind == "irq_msix" and e.seq > posts[0].seq - 1}
    assert 1 in irqs


def test_io_large_transfer_uses_an_offset_prp1_and_a_prp_list(io):
    maps = [e for e in io.events if e.kind == "map_prp" and e.sqid == 1 and e.length == 65536]
    assert len(maps) == 2
    for e in maps:
        assert e.prp1 % 4096 != 0  # PRP1 carries an offset
        assert e.list_pages == [e.prp2 - e.prp2 % 4096]  # PRP2 points at a PRP list
        assert sum(n for _, n in e.segments) == 65536
    pattern = bytes((i * 131 + (i >> 12)) & 0xFF for i in range(65536))
    assert io.ctrl.namespaces[1].read_blocks(8, 128) == pattern
    rows = {r.case: r for r in io.scenario.results}
    assert rows["read back 64 KiB"].ok and rows["read back LBA 0"].ok


def test_io_every_host_action_is_announced(io):
    announced = {"config_read", "config_write", "mmio_write", "doorbell_sq", "doorbell_cq",
                 "mem_write", "mem_read"}  # fmt: skip
    host = [e for e in io.events if e.actor == "host"]
    for prev, e in zip(host, host[1:], strict=False):
        if e.kind in announced and e.kind != "mem_read":
            assert prev.kind == "host_step", (e.seq, e.kind, prev.kind)


def test_io_load_keeps_many_commands_outstanding_on_several_queues():
    m = Machine(scenario="io-load")
    m.run()
    assert m.scenario.ok, [r for r in m.scenario.results if not r.ok]
    params = m.scenario.params
    assert params == {"count": 32, "queues": 4, "depth": 8}
    outstanding: dict[int, int] = {}
    most: dict[int, int] = {}
    for e in m.events:
        if e.kind == "doorbell_sq" and e.sqid:
            outstanding[e.sqid] = outstanding.get(e.sqid, 0) + 1
            most[e.sqid] = max(most.get(e.sqid, 0), outstanding[e.sqid])
        elif e.kind == "cqe_post" and e.sqid:
            outstanding[e.sqid] -= 1
    assert sorted(most) == [1, 2, 3, 4]
    # the device starts on the first commands while the host still submits the others
    assert all(n >= 2 for n in most.values()), most
    total = most_total = 0
    for e in m.events:
        if e.kind == "doorbell_sq" and e.sqid:
            total += 1
        elif e.kind == "cqe_post" and e.sqid:
            total -= 1
        most_total = max(most_total, total)
    assert most_total >= 8, most_total
    writes = [c for q in (1, 2, 3, 4) for c in commands(m, q) if c[0] == 0x01]
    reads = [c for q in (1, 2, 3, 4) for c in commands(m, q) if c[0] == 0x02]
    assert len(writes) == len(reads) == 32


def test_io_load_takes_its_parameters():
    m = Machine(scenario="io-load", params={"count": 5, "queues": 2, "depth": 2})
    m.run()
    assert m.scenario.ok
    assert sorted({e.sqid for e in m.events if e.kind == "doorbell_sq" and e.sqid}) == [1, 2]
    assert sum(e.kind == "cmd_start" and e.opname == "write" for e in m.events) == 5


def test_an_unknown_scenario_parameter_is_a_one_line_error():
    with pytest.raises(ValueError, match="has no parameter size"):
        Machine(scenario="io", params={"size": 1})
    assert "count" in SCENARIOS["io-load"].story and SCENARIOS["io-load"].defaults["count"] <= 64
