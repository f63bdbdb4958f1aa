"""Command arbitration (NVMe 1.4 Command Arbitration): which SQ the fetch engine takes each command
from, and why, as every sqe_fetch event says.

The controllers here have one parallel unit, so that every command waits for the
arbiter: each fetch is a fresh choice among the SQs with commands waiting.
"""

from __future__ import annotations

import pytest
from emuhost import Rig

from nvmescope.emulator import ControllerConfig
from nvmescope.nvme import registers as r
from nvmescope.nvme.commands import pack_sqe

FLUSH = 0x00
SET_FEATURES, FID_ARBITRATION = 0x09, 0x01
CC_RR = 0x460061
CC_WRR = CC_RR | (0b001 << 11)
URGENT, HIGH, MEDIUM, LOW = 0, 1, 2, 3


def rig_with(qprios: dict[int, int], *, wrr: bool = False, arbitration: int | None = None) -> Rig:
    """An enabled controller (one parallel unit) with an I/O queue pair per ``qprios`` key."""
    rig = Rig(ControllerConfig(parallel_units=1, ams=1 if wrr else 0))
    rig.enable(cc=CC_WRR if wrr else CC_RR)
    assert rig.ctrl.ready
    if arbitration is not None:
        assert rig.admin(SET_FEATURES, cdw10=FID_ARBITRATION, cdw11=arbitration).sc == 0
    for qid, qprio in qprios.items():
        rig.create_io_pair(qid, qsize=32, vector=qid % 4, qprio=qprio)
    return rig


def queue_up(rig: Rig, sqid: int, n: int) -> None:
    for _ in range(n):
        rig.submit(sqid, pack_sqe(FLUSH, rig.next_cid(), nsid=1), ring=False)


def fetches(rig: Rig, start: int) -> list[tuple[int, str]]:
    """(sqid, arbitration words) of every fetch since event ``start``, in order."""
    return [(e.sqid, e.arbitration) for e in rig.events[start:] if e.kind == "sqe_fetch"]


def run_fetches(rig: Rig, rings: list[int]) -> list[tuple[int, str]]:
    start = len(rig.events)
    for sqid in rings:  # every doorbell before the device takes a step
        rig.ring_sq(sqid)
    rig.run()
    return fetches(rig, start)


def test_round_robin_goes_round_the_sqs_in_id_order_whatever_the_doorbell_order():
    rig = rig_with({1: LOW, 2: LOW, 3: LOW})
    for sqid in (1, 2, 3):
        queue_up(rig, sqid, 2)
    got = run_fetches(rig, [3, 1, 2])
    assert [sqid for sqid, _ in got] == [1, 2, 3, 1, 2, 3]
    assert [why for _, why in got[:3]] == [
        "round robin: SQ1 after SQ0",  # the admin SQ's Create I/O SQ was the last before
        "round robin: SQ2 after SQ1",
        "round robin: SQ3 after SQ2",
    ]
    assert got[3][1] == "round robin: SQ1 after SQ3"


def test_round_robin_treats_the_admin_sq_as_one_more_sq():
    rig = rig_with({1: URGENT, 2: URGENT})
    queue_up(rig, 1, 2)
    queue_up(rig, 2, 2)
    rig.submit(0, pack_sqe(FLUSH, rig.next_cid()), ring=False)  # admin 00h: Delete I/O SQ 0
    got = run_fetches(rig, [1, 2, 0])
    # under round robin QPRIO means nothing: the admin SQ and both urgent SQs take turns;
    # SQ2, passed by while SQ1's command held the one unit, keeps its turn
    assert [sqid for sqid, _ in got] == [1, 0, 2, 1, 2]
    assert got[1][1] == "round robin: SQ0 after SQ1 (SQ2 waiting for room to run a command)"
    assert got[2][1] == "round robin: SQ2, whose turn was kept while it waited for room"


def test_arbitration_burst_takes_up_to_2_to_the_ab_commands_before_arbitrating_again():
    rig = rig_with({1: LOW, 2: LOW}, arbitration=0x01)  # AB 1: bursts of 2
    queue_up(rig, 1, 4)
    queue_up(rig, 2, 3)
    got = run_fetches(rig, [1, 2])
    assert [sqid for sqid, _ in got] == [1, 1, 2, 2, 1, 1, 2]
    assert got[1][1] == "burst: SQ1 again, command 2 of 2 (AB 1)"
    assert got[2][1] == "round robin: SQ2 after SQ1"


def test_arbitration_burst_111b_has_no_limit():
    rig = rig_with({1: LOW, 2: LOW}, arbitration=0x07)
    queue_up(rig, 1, 5)
    queue_up(rig, 2, 1)
    got = run_fetches(rig, [1, 2])
    assert [sqid for sqid, _ in got] == [1, 1, 1, 1, 1, 2]
    assert got[4][1] == "burst: SQ1 again, command 5 (AB 7: no limit)"


def test_wrr_gives_each_priority_level_its_weight_in_commands_per_round():
    # HPW 3, MPW 1, LPW 0 (0's based): 4 high, 2 medium, 1 low command per round
    rig = rig_with({1: HIGH, 2: MEDIUM, 3: LOW}, wrr=True, arbitration=0x03_01_00_00)
    for sqid in (1, 2, 3):
        queue_up(rig, sqid, 8)
    got = run_fetches(rig, [3, 2, 1])
    assert [sqid for sqid, _ in got[:14]] == [1, 1, 1, 1, 2, 2, 3] * 2
    assert got[0][1] == (
        "WRR: new round (high 4, medium 2, low 1 credits); high priority: SQ1, the only "
        "high priority SQ with a command waiting, 3 of 4 credits left"
    )
    assert got[3][1].endswith("0 of 4 credits left")
    assert got[4][1].startswith("WRR: medium priority: SQ2") and "1 of 2 credits" in got[4][1]
    assert got[6][1].startswith("WRR: low priority: SQ3")
    assert got[7][1].startswith("WRR: new round")
    # the rest: high until it runs dry, then medium and low share what is left
    assert [sqid for sqid, _ in got].count(1) == 8 and len(got) == 24


def test_wrr_with_a_burst_takes_the_burst_from_one_sq_before_the_next_of_its_level():
    # HPW 3 (4 credits), AB 1 (bursts of 2): two high SQs take two each, then medium
    rig = rig_with({1: HIGH, 4: HIGH, 2: MEDIUM}, wrr=True, arbitration=0x03_00_00_01)
    for sqid in (1, 4, 2):
        queue_up(rig, sqid, 4)
    got = run_fetches(rig, [1, 4, 2])
    assert [sqid for sqid, _ in got[:6]] == [1, 1, 4, 4, 2, 1]
    assert got[1][1] == "burst: SQ1 again, command 2 of 2 (AB 1), 2 of 4 credits left"
    assert got[2][1] == "WRR: high priority: SQ4 after SQ1, 1 of 4 credits left"


def test_wrr_serves_every_urgent_sq_before_any_weighted_one():
    rig = rig_with({1: HIGH, 2: URGENT, 3: URGENT}, wrr=True, arbitration=0xFF_FF_FF_00)
    for sqid in (1, 2, 3):
        queue_up(rig, sqid, 3)
    got = run_fetches(rig, [1, 2, 3])
    assert [sqid for sqid, _ in got] == [2, 3, 2, 3, 2, 3, 1, 1, 1]
    assert got[0][1] == "WRR: urgent, strict priority 2: SQ2, the first urgent SQ with a " \
        "command waiting"  # fmt: skip
    assert got[1][1] == "WRR: urgent, strict priority 2: SQ3 after SQ2"


def test_wrr_serves_the_admin_sq_first_of_all():
    rig = rig_with({1: URGENT, 2: HIGH}, wrr=True)
    queue_up(rig, 1, 2)
    queue_up(rig, 2, 2)
    for _ in range(2):
        rig.submit(0, pack_sqe(0x0A, rig.next_cid(), cdw10=FID_ARBITRATION), ring=False)
    got = run_fetches(rig, [2, 1, 0])
    # admin commands run one at a time beside the I/O units: the admin SQ is chosen
    # whenever it has one waiting and its command can run
    assert [sqid for sqid, _ in got][:2] == [0, 1]
    assert got[0][1] == "WRR: admin SQ0, strict priority 1 (the highest class)"
    assert [sqid for sqid, _ in got if sqid] == [1, 1, 2, 2]


def test_qprio_is_honoured_under_wrr_and_recorded_in_queue_created():
    rig = rig_with({1: LOW, 2: HIGH, 3: MEDIUM}, wrr=True, arbitration=0x00_00_00_00)
    created = {e.qid: e.qprio for e in rig.events if e.kind == "queue_created" and e.qtype == "sq"}
    assert created == {1: LOW, 2: HIGH, 3: MEDIUM}
    for sqid in (1, 2, 3):
        queue_up(rig, sqid, 2)
    got = run_fetches(rig, [1, 2, 3])
    # weights 1 each: high, medium, low in every round, whatever the SQ IDs
    assert [sqid for sqid, _ in got] == [2, 3, 1, 2, 3, 1]


def test_qprio_means_nothing_under_round_robin():
    rig = rig_with({1: LOW, 2: HIGH, 3: URGENT})
    for sqid in (1, 2, 3):
        queue_up(rig, sqid, 2)
    got = run_fetches(rig, [3, 2, 1])
    assert [sqid for sqid, _ in got] == [1, 2, 3, 1, 2, 3]


def test_set_features_arbitration_takes_effect_at_the_next_round():
    rig = rig_with({1: HIGH, 2: LOW}, wrr=True, arbitration=0x00_00_00_00)
    queue_up(rig, 1, 4)
    queue_up(rig, 2, 4)
    got = run_fetches(rig, [1, 2])
    assert [sqid for sqid, _ in got] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert rig.admin(SET_FEATURES, cdw10=FID_ARBITRATION, cdw11=0x02_00_00_00).sc == 0
    queue_up(rig, 1, 6)
    queue_up(rig, 2, 2)
    got = run_fetches(rig, [1, 2])
    assert [sqid for sqid, _ in got] == [1, 1, 1, 2, 1, 1, 1, 2]


def test_cap_ams_advertises_wrr_only_with_the_knob():
    for ams, bit in ((0, 0), (1, 1)):
        rig = Rig(ControllerConfig(ams=ams))
        rig.pci_setup()
        cap = rig.ctrl.mmio_read(0x00, 8)
        assert r.CAP.get(cap, "ams") == bit


@pytest.mark.parametrize(("ams", "ready"), [(0, False), (1, True)])
def test_cc_ams_wrr_enables_only_where_cap_ams_offers_it(ams, ready):
    rig = Rig(ControllerConfig(ams=ams))
    rig.enable(cc=CC_WRR)
    assert rig.ctrl.ready is ready
    fatal = [e for e in rig.events if e.kind == "ctrl_state" and e.state == "fatal"]
    if ready:
        assert not fatal
    else:
        assert fatal and fatal[0].detail == "CC.AMS 1: CAP.AMS offers only round robin (0)"


def test_the_ams_knob_takes_bit_0_only():
    assert ControllerConfig(ams=1).problems() == []
    assert any("Weighted Round Robin" in p for p in ControllerConfig(ams=2).problems())
