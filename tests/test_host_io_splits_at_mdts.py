"""A transfer larger than MDTS goes as several commands, each within the limit, as Linux splits it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvmescope.emulator import ControllerConfig
from nvmescope.machine import Machine

BIG = 64 * 1024
PATTERN = bytes((i * 131 + (i >> 12)) & 0xFF for i in range(BIG))


def sq1_rw(m: Machine) -> list[tuple[int, int, int]]:
    """(opcode, slba, nlb) of every read/write SQE the device fetched from SQ1."""
    out = []
    for e in m.events:
        if e.kind == "sqe_fetch" and e.sqid == 1 and e.data[0] in (0x01, 0x02):
            slba = int.from_bytes(e.data[40:48], "little")
            nlb = int.from_bytes(e.data[48:50], "little") + 1
            out.append((e.data[0], slba, nlb))
    return out


@pytest.mark.parametrize("mdts", [1, 2, 7, 0])
def test_io_scenario_passes_and_splits_the_64k_transfer_by_mdts(mdts):
    m = Machine(ControllerConfig(mdts=mdts), scenario="io")
    m.run()
    assert m.scenario.ok, m.scenario.failures()
    limit = (1 << mdts) * 4096 if mdts else BIG
    parts = max(1, BIG // limit)
    per = min(limit, BIG) // 512
    big = [(opc, slba, nlb) for opc, slba, nlb in sq1_rw(m) if slba >= 8]
    want = [(opc, 8 + i * per, per) for opc in (0x01, 0x02) for i in range(parts)]
    assert big == want
    # every part maps its own PRPs, each within the limit, together the whole buffer
    maps = [e for e in m.events if e.kind == "map_prp" and e.sqid == 1 and e.length > 512]
    assert len(maps) == 2 * parts
    assert all(e.length == min(limit, BIG) for e in maps)
    writes = maps[:parts]
    assert [e.prp1 - writes[0].prp1 for e in writes] == [i * e.length for i, e in enumerate(writes)]
    assert len({e.cid for e in writes}) == parts
    assert m.ctrl.namespaces[1].read_blocks(8, 128) == PATTERN
    splits = [e.text for e in m.events if e.kind == "host_step" and e.step == "split_io"]
    if parts == 1:
        assert splits == []
    else:
        assert len(splits) == 2
        assert (
            splits[0].startswith(f"MDTS = {mdts}: at most {limit // 1024} KiB per command")
            and f"so 64 KiB becomes {parts} writes" in splits[0]
        )
        assert f"so 64 KiB becomes {parts} reads" in splits[1]


def test_the_parts_of_a_split_write_are_outstanding_together():
    m = Machine(ControllerConfig(mdts=1), scenario="io")
    m.run()
    outstanding = most = 0
    for e in m.events:
        if e.kind == "doorbell_sq" and e.sqid == 1:
            outstanding += 1
            most = max(most, outstanding)
        elif e.kind == "cqe_post" and e.sqid == 1:
            outstanding -= 1
    assert most >= 2


@pytest.fixture(scope="module")
def up() -> dict[int, Machine]:
    machines = {}
    for mdts in (1, 2, 3):
        m = Machine(ControllerConfig(mdts=mdts, namespace_size_bytes=1 << 20), scenario="bringup")
        m.run()
        assert m.scenario.ok
        machines[mdts] = m
    return machines


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mdts=st.sampled_from([1, 2, 3]),
    nlb=st.integers(1, 200),
    slba=st.integers(0, 1000),
    offset=st.integers(0, 1023).map(lambda n: n * 4),
    seed=st.integers(0, 255),
)
def test_any_transfer_goes_within_mdts_and_comes_back_intact(up, mdts, nlb, slba, offset, seed):
    m = up[mdts]
    drv = m.driver
    limit = (1 << mdts) * 4096
    length = nlb * 512
    data = bytes((seed + i * 7) & 0xFF for i in range(length))
    wbuf = m.api.alloc(length + 4096) + offset
    rbuf = m.api.alloc(length + 4096) + offset
    m.api.mem_write(wbuf, data, "test data")
    start = len(m.events)
    w = drv.run(drv.nvme_write(1, 1, slba, nlb, wbuf, length))
    r = drv.run(drv.nvme_read(1, 1, slba, nlb, rbuf, length))
    assert w.ok and r.ok, (w.describe(), r.describe())
    assert m.api.mem_read(rbuf, length, "check") == data
    fetched = [e for e in m.events[start:] if e.kind == "sqe_fetch"]
    sizes = [(int.from_bytes(e.data[48:50], "little") + 1) * 512 for e in fetched]
    assert all(s <= limit for s in sizes) and sum(sizes) == 2 * length
    assert len(fetched) == 2 * -(-length // limit)
    assert (len(w.parts) > 0) == (length > limit)


def test_a_failing_part_fails_the_whole_request_and_says_which():
    m = Machine(ControllerConfig(mdts=1, namespace_size_bytes=1 << 20), scenario="bringup")
    m.run()
    drv = m.driver
    nsze = (1 << 20) // 512
    buf = m.api.alloc(BIG)
    # 128 blocks from nsze - 40: the first two 16-block parts fit, the third runs past the end
    c = drv.run(drv.nvme_write(1, 1, nsze - 40, 128, buf, BIG))
    assert len(c.parts) == 8 and c.done and not c.ok
    assert c.status_name == "lba_out_of_range"
    assert c.cid == c.parts[2].cid and [p.ok for p in c.parts[:3]] == [True, True, False]
    said = [e.text for e in m.events if e.kind == "host_step" and e.step == "split_done"]
    assert said and said[-1].startswith("Part 3 of 8") and "LBA Out of Range" in said[-1]


def test_a_block_larger_than_mdts_is_sent_whole_and_refused():
    m = Machine(ControllerConfig(mdts=1, lba_formats=((0, 14),), flbas=0), scenario="io")
    m.run()
    assert not m.scenario.ok
    notes = [e for e in m.events if e.kind == "host_step" and e.step == "block_beyond_mdts"]
    assert notes and "16 KiB logical block is more than the 8 KiB" in notes[0].text
    assert m.scenario.failures()[0] == (
        "Write LBA 0: expected Successful Completion, got Invalid Field in Command"
    )
