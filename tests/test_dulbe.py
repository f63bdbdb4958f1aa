"""DULBE, the Deallocated or Unwritten Logical Block error: NSFEAT bit 2 offers it,
Feature 05h Error Recovery (TLER 15:0, DULBE 16, per namespace, not saveable) turns
it on, and then a Read, Verify, Compare or Copy source touching a block deallocated
(Dataset Management, Write Zeroes with DEAC, Format NVM) or never written fails with
SCT 2h SC 87h. The namespace's allocation map knows the blocks (checked against a
set of blocks by hypothesis), on RAM and in a backing file across runs."""

from __future__ import annotations

import emuhost
import pytest
from emuhost import Rig
from hypothesis import given
from hypothesis import strategies as st_h

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.allocation import AllocationMap
from nvmescope.emulator.config import NamespaceConfig, profile_config
from nvmescope.nvme import features as f
from nvmescope.nvme import identify as idf
from nvmescope.nvme import status as st
from nvmescope.nvme.commands import pack_dsm_ranges
from nvmescope.nvme.copy import pack_copy_ranges

BLOCK = 512
DULBE = f.ERROR_RECOVERY_DULBE
SET_FEATURES, GET_FEATURES = 0x09, 0x0A


def make_rig(config: ControllerConfig | None = None, nsfeat: int = 0x14) -> Rig:
    rig = Rig(config or ControllerConfig(nsfeat=nsfeat))
    rig.enable()
    rig.create_io_pair()
    return rig


def io(rig: Rig, opc: int, nsid: int = 1, **fields: int):
    cqe, events = emuhost.io(rig, opc, nsid=nsid, **fields)
    return (cqe.sct, cqe.sc), events


def set_er(rig: Rig, value: int, nsid: int = 1, sv: bool = False):
    cqe = rig.admin(SET_FEATURES, nsid=nsid, cdw10=f.FID_ERROR_RECOVERY | sv << 31, cdw11=value)
    return (cqe.sct, cqe.sc)


def get_er(rig: Rig, nsid: int = 1, sel: int = 0):
    cqe = rig.admin(GET_FEATURES, nsid=nsid, cdw10=f.FID_ERROR_RECOVERY | sel << 8)
    return (cqe.sct, cqe.sc), cqe.dw0


def write(rig: Rig, slba: int, nlb: int, byte: int = 0xA5) -> None:
    buf = rig.host.alloc(2)
    rig.host.write(buf, bytes([byte]) * nlb * BLOCK)
    assert nlb * BLOCK <= 8192
    s, _ = io(rig, 0x01, prp1=buf, prp2=buf + 4096, cdw10=slba, cdw12=nlb - 1)
    assert s == st.SUCCESS


def read(rig: Rig, slba: int, nlb: int):
    buf = rig.host.alloc(2)
    return io(rig, 0x02, prp1=buf, prp2=buf + 4096, cdw10=slba, cdw12=nlb - 1)


def verify(rig: Rig, slba: int, nlb: int):
    return io(rig, 0x0C, cdw10=slba, cdw12=nlb - 1)


def compare(rig: Rig, slba: int, nlb: int, byte: int = 0xA5):
    buf = rig.host.alloc(2)
    rig.host.write(buf, bytes([byte]) * nlb * BLOCK)
    return io(rig, 0x05, prp1=buf, prp2=buf + 4096, cdw10=slba, cdw12=nlb - 1)


def copy(rig: Rig, sdlba: int, ranges: list[tuple[int, int]]):
    buf = rig.host.alloc()
    rig.host.write(buf, pack_copy_ranges(ranges))
    return io(rig, 0x19, prp1=buf, cdw10=sdlba, cdw12=len(ranges) - 1)


def kinds(events) -> list[str]:
    return [e.kind for e in events if e.kind.startswith("err_")]


def detail(events) -> str:
    (err,) = [e for e in events if e.kind.startswith("err_")]
    return err.detail


# -- the feature -----------------------------------------------------------------------------
def test_error_recovery_is_current_per_namespace_and_defaults_to_zero():
    rig = make_rig(
        ControllerConfig(nsfeat=0x14, nn=2, namespaces=(NamespaceConfig(1), NamespaceConfig(2)))
    )
    assert get_er(rig, 1) == (st.SUCCESS, 0)
    assert set_er(rig, DULBE | 30, nsid=1) == st.SUCCESS
    assert get_er(rig, 1) == (st.SUCCESS, DULBE | 30)
    assert get_er(rig, 2) == (st.SUCCESS, 0)  # another namespace's own value
    assert get_er(rig, 1, sel=1) == (st.SUCCESS, 0)  # default
    assert get_er(rig, 1, sel=2) == (st.SUCCESS, 0)  # saved: nothing is, so the default
    assert get_er(rig, 1, sel=3) == (st.SUCCESS, 0x6)  # namespace specific, changeable
    assert set_er(rig, 7, nsid=0xFFFFFFFF) == st.SUCCESS  # every namespace
    assert get_er(rig, 1)[1] == get_er(rig, 2)[1] == 7


def test_error_recovery_keeps_only_tler_and_dulbe():
    rig = make_rig()
    assert set_er(rig, 0xFFFFFFFF) == st.SUCCESS
    assert get_er(rig)[1] == 0x1FFFF


def test_error_recovery_cannot_be_saved():
    rig = make_rig()
    assert set_er(rig, DULBE, sv=True) == st.FEATURE_NOT_SAVEABLE
    assert get_er(rig)[1] == 0


def test_dulbe_where_nsfeat_does_not_offer_it_is_invalid_field():
    rig = make_rig(nsfeat=0x10)
    assert set_er(rig, DULBE) == st.INVALID_FIELD
    assert set_er(rig, 50) == st.SUCCESS  # TLER alone is fine
    assert get_er(rig)[1] == 50


def test_error_recovery_names_one_active_namespace():
    rig = make_rig(ControllerConfig(nsfeat=0x14, nn=4))
    assert get_er(rig, 0xFFFFFFFF)[0] == st.INVALID_NS_OR_FORMAT
    assert get_er(rig, 0)[0] == st.INVALID_NS_OR_FORMAT
    assert get_er(rig, 9)[0] == st.INVALID_NS_OR_FORMAT  # above NN
    assert get_er(rig, 3)[0] == st.INVALID_FIELD  # inactive
    assert set_er(rig, DULBE, nsid=3) == st.INVALID_FIELD
    assert set_er(rig, DULBE, nsid=0) == st.INVALID_NS_OR_FORMAT


def test_a_controller_reset_clears_error_recovery():
    rig = make_rig()
    set_er(rig, DULBE)
    rig.ctrl.mmio_write(0x14, 4, 0)  # CC.EN 1 -> 0
    rig.run()
    assert rig.ctrl.state.err_rec == {}


def test_nsfeat_bit_2_is_in_identify_namespace_where_configured():
    for nsfeat in (0x10, 0x14):
        rig = make_rig(nsfeat=nsfeat)
        buf = rig.host.alloc()
        rig.admin(0x06, nsid=1, prp1=buf, cdw10=0)
        assert idf.IDENTIFY_NAMESPACE.parse(rig.host.read(buf, 4096)).nsfeat == nsfeat
    assert profile_config("qemu-7.2").nsfeat & idf.NSFEAT_DULBE
    assert ControllerConfig(nsfeat=0x1).problems()  # thin provisioning: not implemented


# -- the error -------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [read, verify, compare])
def test_with_dulbe_on_a_read_of_an_unwritten_block_is_deallocated_or_unwritten(command):
    rig = make_rig()
    write(rig, 0, 4)
    assert command(rig, 0, 4)[0] == st.SUCCESS  # DULBE off: zeros, no error
    # DULBE off: blocks 4 and 5 read as zeros (a Compare of 0xA5 then miscompares)
    assert command(rig, 2, 4)[0] != st.DEALLOCATED_OR_UNWRITTEN
    set_er(rig, DULBE)
    assert command(rig, 0, 4)[0] == st.SUCCESS
    status, events = command(rig, 2, 4)
    assert status == st.DEALLOCATED_OR_UNWRITTEN == (2, 0x87)
    assert kinds(events) == ["err_dulbe"] and "LBA 4" in detail(events)
    assert not any(e.kind in ("map_prp", "dma_write") for e in events)  # checked first


def test_with_dulbe_on_a_read_of_a_block_dsm_deallocated_fails():
    rig = make_rig()
    write(rig, 0, 8)
    set_er(rig, DULBE)
    buf = rig.host.alloc()
    rig.host.write(buf, pack_dsm_ranges([(5, 1)]))
    assert io(rig, 0x09, prp1=buf, cdw10=0, cdw11=4)[0] == st.SUCCESS
    assert read(rig, 0, 5)[0] == st.SUCCESS
    assert read(rig, 4, 2)[0] == st.DEALLOCATED_OR_UNWRITTEN
    write(rig, 5, 1)  # written again: allocated again
    assert read(rig, 0, 8)[0] == st.SUCCESS


def test_write_zeroes_allocates_without_deac_and_deallocates_with_it():
    rig = make_rig()
    set_er(rig, DULBE)
    assert io(rig, 0x08, cdw10=10, cdw12=3)[0] == st.SUCCESS  # zeros written: allocated
    assert read(rig, 10, 4)[0] == st.SUCCESS
    assert io(rig, 0x08, cdw10=11, cdw12=0 | 1 << 25)[0] == st.SUCCESS  # DEAC
    assert read(rig, 10, 1)[0] == st.SUCCESS
    assert read(rig, 11, 1)[0] == st.DEALLOCATED_OR_UNWRITTEN


def test_format_nvm_deallocates_every_block():
    rig = make_rig(ControllerConfig(nsfeat=0x14, format_nvm=True))
    write(rig, 0, 4)
    set_er(rig, DULBE)
    assert read(rig, 0, 4)[0] == st.SUCCESS
    assert rig.admin(0x80, nsid=1, cdw10=0).sc == 0
    assert read(rig, 0, 1)[0] == st.DEALLOCATED_OR_UNWRITTEN


def test_with_dulbe_on_a_copy_source_touching_an_unwritten_block_fails_and_writes_nothing():
    rig = make_rig()
    write(rig, 0, 4)
    write(rig, 100, 2, byte=0x11)
    set_er(rig, DULBE)
    status, events = copy(rig, 100, [(0, 2), (3, 2)])  # LBA 4 was never written
    assert status == st.DEALLOCATED_OR_UNWRITTEN and kinds(events) == ["err_dulbe"]
    assert "range 1" in detail(events)
    assert not any(e.kind in ("copy_range", "copy_write") for e in events)
    assert rig.ctrl.namespaces[1].read_blocks(100, 2) == b"\x11" * 2 * BLOCK
    # the destination need not be written before: a Copy writes it, and allocates it
    assert copy(rig, 500, [(0, 4)])[0] == st.SUCCESS
    assert read(rig, 500, 4)[0] == st.SUCCESS


def test_dulbe_is_per_namespace():
    cfg = ControllerConfig(nsfeat=0x14, nn=2, namespaces=(NamespaceConfig(1), NamespaceConfig(2)))
    rig = make_rig(cfg)
    set_er(rig, DULBE, nsid=2)
    assert read(rig, 0, 1)[0] == st.SUCCESS  # namespace 1: DULBE off
    buf = rig.host.alloc()
    assert io(rig, 0x02, nsid=2, prp1=buf, cdw10=0, cdw12=0)[0] == st.DEALLOCATED_OR_UNWRITTEN


def test_a_file_backed_namespace_remembers_what_was_written_across_runs(tmp_path):
    path = str(tmp_path / "ns.img")
    cfg = ControllerConfig(nsfeat=0x14, namespaces=(NamespaceConfig(1, 1 << 20, file=path),))
    rig = make_rig(cfg)
    write(rig, 64, 8)  # 4 KiB at 32 KiB: a file system block of its own
    rig.ctrl.close()
    rig = make_rig(cfg)
    set_er(rig, DULBE)
    assert read(rig, 64, 8)[0] == st.SUCCESS
    assert read(rig, 0, 1)[0] == st.DEALLOCATED_OR_UNWRITTEN
    rig.ctrl.close()


# -- the allocation map against a set of blocks ----------------------------------------------
@given(
    st_h.lists(
        st_h.tuples(st_h.booleans(), st_h.integers(0, 200), st_h.integers(0, 40)), max_size=40
    ),
    st_h.integers(0, 220),
    st_h.integers(0, 40),
)
def test_the_allocation_map_agrees_with_a_set_of_blocks(ops, slba, nlb):
    amap, blocks = AllocationMap(), set()
    for allocate, start, n in ops:
        if allocate:
            amap.allocate(start, n)
            blocks |= set(range(start, start + n))
        else:
            amap.deallocate(start, n)
            blocks -= set(range(start, start + n))
        runs = amap.runs
        assert all(s < e for s, e in runs)
        assert all(runs[i][1] < runs[i + 1][0] for i in range(len(runs) - 1))  # merged
        assert {b for s, e in runs for b in range(s, e)} == blocks
    missing = [b for b in range(slba, slba + nlb) if b not in blocks]
    assert amap.first_unallocated(slba, nlb) == (missing[0] if missing else None)
    assert amap.blocks == len(blocks)
