"""io-load takes any count: past the namespace's end it reuses LBAs, and every check stays exact."""

from __future__ import annotations

import pytest

from nvmescope.emulator import ControllerConfig
from nvmescope.host.scenarios import _load_pattern
from nvmescope.machine import Machine


def writes(m: Machine) -> list[int]:
    """The SLBA of every write SQE the device fetched, in fetch order."""
    return [
        int.from_bytes(e.data[40:48], "little")
        for e in m.events
        if e.kind == "sqe_fetch" and e.sqid and e.data[0] == 0x01
    ]


@pytest.mark.parametrize(
    ("ns_bytes", "count", "queues", "depth"),
    [(16 * 1024, 11, 2, 4), (16 * 1024, 37, 4, 8), (2048, 5, 1, 2), (64 * 1024, 40, 2, 3)],
)
def test_a_count_beyond_the_namespace_reuses_lbas_and_checks_every_block(
    ns_bytes, count, queues, depth
):
    m = Machine(
        ControllerConfig(namespace_size_bytes=ns_bytes),
        scenario="io-load",
        params={"count": count, "queues": queues, "depth": depth},
    )
    m.run()
    assert m.scenario.ok, m.scenario.failures()
    rows = {r.case: r.got for r in m.scenario.results}
    assert rows == {
        "writes": f"{count} succeeded",
        "reads": f"{count} succeeded",
        "data": f"{count} blocks as written",
    }
    nlb = min(4096, ns_bytes) // 512
    slots = ns_bytes // 512 // nlb
    assert writes(m) == [k % slots * nlb for k in range(count)]
    # the namespace holds each slot's last write
    ns = m.ctrl.namespaces[1]
    for slot in range(slots):
        last = max(k for k in range(count) if k % slots == slot)
        assert ns.read_blocks(slot * nlb, nlb) == _load_pattern(last, nlb * 512)
    # no two writes to one LBA are ever outstanding together
    outstanding: dict[tuple[int, int], int] = {}
    busy: set[int] = set()
    for e in m.events:
        if e.kind == "sqe_fetch" and e.sqid and e.data[0] == 0x01:
            slba = int.from_bytes(e.data[40:48], "little")
            assert slba not in busy
            busy.add(slba)
            outstanding[(e.sqid, e.cid)] = slba
        elif e.kind == "cqe_post" and (e.sqid, e.cid) in outstanding:
            busy.discard(outstanding.pop((e.sqid, e.cid)))
    said = [e.text for e in m.events if e.kind == "host_step" and e.step == "io_load_wrap"]
    assert len(said) == 1 and f"(k mod {slots})" in said[0]


def test_a_count_within_the_namespace_does_not_mention_reuse():
    m = Machine(scenario="io-load", params={"count": 6, "queues": 2, "depth": 2})
    m.run()
    assert m.scenario.ok
    assert writes(m) == [k * 8 for k in range(6)]
    assert not [e for e in m.events if e.kind == "host_step" and e.step == "io_load_wrap"]
