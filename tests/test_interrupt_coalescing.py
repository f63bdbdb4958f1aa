"""Interrupt coalescing (Feature 08h, with Feature 09h's per-vector Coalescing Disable):
an I/O vector's interrupt waits until THR + 1 completions or TIME x 100 us after the
first, each held completion an irq_coalesced event; the admin queue's never waits."""

from __future__ import annotations

from emuhost import Rig

from nvmescope.emulator import ControllerConfig
from nvmescope.nvme.commands import pack_sqe

COALESCING, VECTOR_CONFIG = 0x08, 0x09


def make_rig(thr: int, time: int, units: int = 1) -> Rig:
    rig = Rig(ControllerConfig(parallel_units=units))
    rig.enable()
    rig.create_io_pair()
    assert rig.admin(0x09, cdw10=COALESCING, cdw11=(time << 8) | thr).sc == 0
    return rig


def reads(rig: Rig, n: int) -> list:
    start = len(rig.events)
    buf = rig.host.alloc()
    for _ in range(n):
        rig.submit(1, pack_sqe(0x02, rig.next_cid(), nsid=1, prp1=buf), ring=False)
    rig.ring_sq(1)
    rig.run()
    return [e for e in rig.events[start:] if e.kind in ("cqe_post", "irq_coalesced", "irq_msix")]


def test_the_threshold_sends_one_interrupt_for_thr_plus_one_completions():
    rig = make_rig(thr=3, time=10)  # 4 entries, or 1 ms
    seen = [e.kind for e in reads(rig, 4)]
    assert seen == ["cqe_post", "irq_coalesced"] * 3 + ["cqe_post", "irq_msix"]
    held = [e.count for e in rig.events if e.kind == "irq_coalesced"]
    assert held == [1, 2, 3]


def test_the_aggregation_time_sends_what_the_threshold_did_not():
    rig = make_rig(thr=7, time=10)  # 8 entries, or 1 ms
    seen = reads(rig, 2)
    assert [e.kind for e in seen] == ["cqe_post", "irq_coalesced", "cqe_post", "irq_coalesced",
                                      "irq_msix"]  # fmt: skip
    first_held = seen[1].ts
    assert seen[-1].ts - first_held == 10 * 100_000  # TIME counts from the first one held


def test_time_0_or_coalescing_disabled_on_the_vector_means_no_delay():
    rig = make_rig(thr=3, time=0)
    assert "irq_coalesced" not in [e.kind for e in reads(rig, 2)]
    rig = make_rig(thr=3, time=10)
    assert rig.admin(0x09, cdw10=VECTOR_CONFIG, cdw11=(1 << 16) | 1).sc == 0  # CD for vector 1
    assert [e.kind for e in reads(rig, 2)] == ["cqe_post", "irq_msix"] * 2


def test_the_admin_queue_is_never_coalesced():
    rig = make_rig(thr=3, time=10)
    start = len(rig.events)
    assert rig.admin(0x06, prp1=rig.host.alloc(), cdw10=1).sc == 0
    kinds = [e.kind for e in rig.events[start:]]
    assert "irq_coalesced" not in kinds and "irq_msix" in kinds
