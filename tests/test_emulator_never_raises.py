"""Whatever the host does, the model answers without a Python exception, and is not broken:
a function level reset and a fresh bring-up give a device that completes Identify."""

from __future__ import annotations

from emuhost import Rig, assert_works_after_flr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from nvmescope.events import EVENT_TYPES
from nvmescope.nvme.commands import pack_sqe

INTERESTING_BAR = [0x0, 0x4, 0x8, 0xC, 0x10, 0x14, 0x1C, 0x20, 0x24, 0x28, 0x2C, 0x30, 0x34,
                   0x1000, 0x1004, 0x1008, 0x100C, 0x2000, 0x200C, 0x3000]  # fmt: skip
INTERESTING_CFG = [0x04, 0x06, 0x10, 0x14, 0x3C, 0x44, 0x52, 0x68, 0xFFC]

offsets_bar = hs.one_of(hs.sampled_from(INTERESTING_BAR), hs.integers(-8, 0x5000))
offsets_cfg = hs.one_of(hs.sampled_from(INTERESTING_CFG), hs.integers(-4, 0x1010))
sizes = hs.sampled_from([0, 1, 2, 3, 4, 8, 16])
values = hs.one_of(hs.integers(0, 0xFFFFFFFF), hs.integers(0, (1 << 64) - 1),
                   hs.sampled_from([0, 1, 0x460061, 0x464061, 0x4E564D65, 0xFFFFFFFF]))  # fmt: skip


def fits(size: int) -> int:
    """A read returns at most the access's width (a size no bus has: at most 8 bytes)."""
    return 1 << 8 * (size if size in (1, 2, 4, 8) else 8)


def assert_device_still_works(rig: Rig) -> None:
    """Every event is a known kind; after an FLR and a fresh bring-up Identify succeeds."""
    assert {e.kind for e in rig.events} <= set(EVENT_TYPES)
    assert_works_after_flr(rig)


access = hs.tuples(
    hs.sampled_from(["mmio_w", "mmio_r", "cfg_w", "cfg_r", "run"]),
    offsets_bar,
    offsets_cfg,
    sizes,
    values,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.lists(access, max_size=40))
def test_random_register_accesses_never_raise(ops):
    rig = Rig()
    rig.enable()
    c = rig.ctrl
    for op, boff, coff, size, value in ops:
        if op == "mmio_w":
            c.mmio_write(boff, size, value)
        elif op == "mmio_r":
            assert 0 <= c.mmio_read(boff, size) < fits(size)
        elif op == "cfg_w":
            c.config_write(coff, size, value)
        elif op == "cfg_r":
            assert 0 <= c.config_read(coff, size) < fits(size)
        else:
            for _ in range(200):
                if not rig.sched.run_one():
                    break
        c.snapshot()
    for _ in range(5000):
        if not rig.sched.run_one():
            break
    assert_device_still_works(rig)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.lists(hs.binary(min_size=64, max_size=64), min_size=1, max_size=12), hs.booleans())
def test_random_sqes_never_raise(sqes, io):
    rig = Rig()
    rig.enable()
    if io:
        rig.create_io_pair()
    qid = 1 if io else 0
    for raw in sqes:
        rig.submit(qid, raw)
        for _ in range(2000):
            if not rig.sched.run_one():
                break
        while rig.reap(qid) is not None:
            pass
        while rig.reap(0) is not None:
            pass
    rig.ctrl.snapshot()
    assert_device_still_works(rig)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hs.lists(
        hs.tuples(
            hs.sampled_from([0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0A, 0x0C]),
            hs.integers(0, 0xFFFFFFFF),
            hs.integers(0, 0xFFFFFFFF),
            hs.integers(0, 0xFFFFFFFF),
            hs.sampled_from([0, 1, 2, 0xFFFFFFFF]),
            hs.sampled_from([0, 0x100000, 0x100008, 0x7000_0000, 0x101000]),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_random_admin_fields_never_raise(cmds):
    rig = Rig()
    rig.enable()
    for cid, (opc, cdw10, cdw11, cdw12, nsid, prp) in enumerate(cmds):
        rig.submit(0, pack_sqe(opc, cid, nsid=nsid, prp1=prp, prp2=prp, cdw10=cdw10,
                               cdw11=cdw11, cdw12=cdw12))  # fmt: skip
        for _ in range(2000):
            if not rig.sched.run_one():
                break
        while rig.reap(0) is not None:
            pass
    assert_device_still_works(rig)
