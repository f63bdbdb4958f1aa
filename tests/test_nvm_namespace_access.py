"""What stops an I/O command at its namespace (emulator/nsaccess.py): Capacity Exceeded on
a thin-provisioned namespace, Namespace Not Ready after CC.EN with DNR clear, and Namespace
Write Protection Config (Feature 84h) with Namespace is Write Protected."""

from __future__ import annotations

import pytest
from emuhost import Rig

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.config import NamespaceConfig
from nvmescope.emulator.configfile import load_config_file
from nvmescope.nvme import identify as idf
from nvmescope.nvme import status as st
from nvmescope.nvme.commands import pack_sqe

WRITE, READ, COMPARE, WRITE_ZEROES, DSM, FLUSH = 0x01, 0x02, 0x05, 0x08, 0x09, 0x00
SET_FEATURES, GET_FEATURES = 0x09, 0x0A
CAPACITY_EXCEEDED = (0, 0x81)
NS_NOT_READY = (0, 0x82)
NS_WRITE_PROTECTED = (0, 0x20)


def rig_with(**knobs) -> Rig:
    rig = Rig(ControllerConfig(**knobs))
    rig.enable()
    rig.create_io_pair(1)
    return rig


def io(rig: Rig, opc: int, slba: int = 0, nlb: int = 1, nsid: int = 1, **fields):
    buf = rig.host.alloc(max(1, nlb * 512 // 4096 + 1))
    fields.setdefault("cdw12", nlb - 1)
    rig.submit(1, pack_sqe(opc, rig.next_cid(), nsid=nsid, prp1=buf, cdw10=slba, **fields))
    rig.run()
    return rig.reap(1)


def id_ns(rig: Rig, nsid: int = 1):
    buf = rig.host.alloc()
    cqe = rig.admin(0x06, nsid=nsid, prp1=buf, cdw10=0)
    assert cqe.sc == 0
    return idf.IDENTIFY_NAMESPACE.parse(rig.host.read(buf, 4096))


# -- thin provisioning: NCAP, NUSE, Capacity Exceeded ----------------------------------------
def test_a_thin_namespace_reports_ncap_below_nsze_and_nsfeat_thin_provisioning():
    rig = rig_with(namespace_capacity_bytes=16 * 4096)
    ns = id_ns(rig)
    assert ns.nsze == 64 * 1024 * 1024 // 512 and ns.ncap == 16 * 4096 // 512
    assert ns.nsfeat & 0x01 and ns.nuse == 0


def test_a_fully_provisioned_namespace_keeps_nuse_equal_to_ncap_and_nsze():
    rig = rig_with()
    ns = id_ns(rig)
    assert ns.nsze == ns.ncap == ns.nuse and not ns.nsfeat & 0x01


def test_nuse_counts_the_blocks_of_the_pages_written_and_deallocation_gives_them_back():
    rig = rig_with(namespace_capacity_bytes=16 * 4096)
    assert io(rig, WRITE, slba=0, nlb=8).sc == 0  # one 4 KiB page
    assert io(rig, WRITE, slba=800, nlb=1).sc == 0  # a second page, partly
    assert id_ns(rig).nuse == 16
    assert io(rig, WRITE_ZEROES, slba=0, nlb=8, cdw12=7 | (1 << 25)).sc == 0  # DEAC
    assert id_ns(rig).nuse == 8


def test_a_write_that_would_allocate_past_ncap_is_capacity_exceeded_and_moves_no_data():
    rig = rig_with(namespace_capacity_bytes=2 * 4096)
    assert io(rig, WRITE, slba=0, nlb=8).sc == 0
    start = len(rig.events)
    cqe = io(rig, WRITE, slba=1000, nlb=16)  # two more pages: one too many
    assert (cqe.sct, cqe.sc) == CAPACITY_EXCEEDED and cqe.dnr == 1
    assert "err_capacity_exceeded" in rig.kinds(start)
    assert not any(e.kind == "dma_read" and e.cid == cqe.cid for e in rig.events[start:])
    # blocks already allocated are rewritten freely, and one more page still fits
    assert io(rig, WRITE, slba=0, nlb=8).sc == 0
    assert io(rig, WRITE, slba=1000, nlb=8).sc == 0
    cqe = io(rig, WRITE, slba=2000, nlb=1)  # a third page
    assert (cqe.sct, cqe.sc) == CAPACITY_EXCEEDED
    assert id_ns(rig).nuse == 16


def test_capacity_is_checked_after_the_lba_range():
    rig = rig_with(namespace_capacity_bytes=4096)
    nsze = 64 * 1024 * 1024 // 512
    cqe = io(rig, WRITE, slba=nsze, nlb=64)
    assert (cqe.sct, cqe.sc) == st.LBA_OUT_OF_RANGE


def test_a_capacity_that_is_not_whole_pages_is_refused_by_the_configuration():
    problems = ControllerConfig(namespace_capacity_bytes=6144).problems()
    assert any("namespace_capacity_bytes" in p and "4 KiB" in p for p in problems)
    assert ControllerConfig(namespace_capacity_bytes=1 << 30).problems()  # above the size


def test_a_namespace_table_takes_capacity_and_not_ready_ns(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('[[namespace]]\nsize = "1MiB"\ncapacity = "64KiB"\nnot_ready_ns = 5000\n')
    config, _ = load_config_file(path, ControllerConfig())
    ns = config.namespace_configs()[0]
    assert (ns.capacity, ns.not_ready_ns) == (64 * 1024, 5000)
    bad = ControllerConfig(namespaces=(NamespaceConfig(size=1 << 20, capacity=1 << 21),))
    assert any(key == "capacity" for _, key, _ in bad.namespace_problems())


# -- Namespace Not Ready ----------------------------------------------------------------------
def test_io_right_after_enable_is_namespace_not_ready_with_dnr_clear_and_later_succeeds():
    rig = rig_with(namespace_not_ready_ns=10_000_000)
    start = len(rig.events)
    cqe = io(rig, READ)
    assert (cqe.sct, cqe.sc) == NS_NOT_READY and cqe.dnr == 0
    assert "err_ns_not_ready" in rig.kinds(start)
    assert rig.admin(0x06, prp1=rig.host.alloc(), cdw10=1).sc == 0  # admin commands work
    rig.sched.advance_to(rig.ctrl.enabled_ns + 10_000_000, 1000)
    assert io(rig, READ).sc == 0


def test_namespace_not_ready_starts_again_at_every_enable():
    rig = rig_with(namespace_not_ready_ns=1_000_000)
    rig.sched.advance_to(rig.ctrl.enabled_ns + 1_000_000, 1000)
    assert io(rig, READ).sc == 0
    rig.ctrl.mmio_write(0x14, 4, 0)  # CC.EN = 0: reset
    rig.run()
    rig.cq_head, rig.cq_phase, rig.sq_tail = {0: 0}, {0: 1}, {0: 0}
    rig.enable()
    rig.create_io_pair(1)
    cqe = io(rig, READ)
    assert (cqe.sct, cqe.sc) == NS_NOT_READY


def test_a_namespace_that_is_ready_at_once_answers_every_command():
    rig = rig_with()
    assert io(rig, READ).sc == 0


# -- Namespace Write Protection Config (Feature 84h) ------------------------------------------
def set_wps(rig: Rig, wps: int, nsid: int = 1):
    return rig.admin(SET_FEATURES, nsid=nsid, cdw10=0x84, cdw11=wps)


def get_wps(rig: Rig, nsid: int = 1, sel: int = 0):
    return rig.admin(GET_FEATURES, nsid=nsid, cdw10=0x84 | (sel << 8))


def test_identify_controller_nwpc_says_which_states_are_offered():
    rig = rig_with(nwpc=0x7)
    buf = rig.host.alloc()
    assert rig.admin(0x06, prp1=buf, cdw10=1).sc == 0
    assert idf.IDENTIFY_CONTROLLER.parse(rig.host.read(buf, 4096)).nwpc == 0x7


def test_feature_84h_is_not_supported_without_nwpc():
    rig = rig_with()
    cqe = set_wps(rig, 1)
    assert (cqe.sct, cqe.sc) == st.INVALID_FIELD


def test_write_protect_refuses_every_command_that_changes_blocks_and_allows_the_rest():
    rig = rig_with(nwpc=0x1)
    assert io(rig, WRITE).sc == 0
    assert set_wps(rig, 1).sc == 0
    assert get_wps(rig).dw0 & 0x7 == 1
    assert id_ns(rig).nsattr & 0x01
    start = len(rig.events)
    for opc, fields in ((WRITE, {}), (WRITE_ZEROES, {}), (DSM, {"cdw11": 1 << 2})):
        cqe = io(rig, opc, **fields)
        assert (cqe.sct, cqe.sc) == NS_WRITE_PROTECTED and cqe.dnr == 1, hex(opc)
    assert rig.kinds(start).count("err_ns_write_protected") == 3
    for opc in (READ, FLUSH, COMPARE):  # the block holds zeros, as the buffers do
        assert io(rig, opc).sc == 0, hex(opc)
    assert io(rig, DSM).sc == 0  # no Deallocate attribute: a hint, nothing changes
    assert set_wps(rig, 0).sc == 0
    assert not id_ns(rig).nsattr & 0x01
    assert io(rig, WRITE).sc == 0


def test_reads_of_a_write_protected_namespace_succeed():
    rig = rig_with(nwpc=0x1)
    assert set_wps(rig, 1).sc == 0
    assert io(rig, READ).sc == 0 and io(rig, FLUSH).sc == 0


def test_write_protect_until_power_cycle_outlives_a_controller_reset_and_cannot_be_left():
    rig = rig_with(nwpc=0x3)
    assert set_wps(rig, 2).sc == 0
    cqe = set_wps(rig, 0)
    assert (cqe.sct, cqe.sc) == st.FEATURE_NOT_CHANGEABLE
    rig.ctrl.mmio_write(0x14, 4, 0)
    rig.run()
    rig.cq_head, rig.cq_phase, rig.sq_tail = {0: 0}, {0: 1}, {0: 0}
    rig.enable()
    rig.create_io_pair(1)
    assert get_wps(rig).dw0 & 0x7 == 2
    assert (io(rig, WRITE).sct, io(rig, WRITE).sc) == NS_WRITE_PROTECTED


def test_permanent_write_protect_cannot_be_left():
    rig = rig_with(nwpc=0x5)
    assert set_wps(rig, 3).sc == 0
    for wps in (0, 1, 3):
        cqe = set_wps(rig, wps)
        assert (cqe.sct, cqe.sc) == st.FEATURE_NOT_CHANGEABLE


@pytest.mark.parametrize(("nwpc", "wps"), [(0x1, 2), (0x1, 3), (0x3, 3), (0x7, 4), (0x7, 7)])
def test_a_state_nwpc_does_not_offer_or_a_reserved_one_is_invalid_field(nwpc, wps):
    rig = rig_with(nwpc=nwpc)
    cqe = set_wps(rig, wps)
    assert (cqe.sct, cqe.sc) == st.INVALID_FIELD and cqe.dnr == 1
    assert get_wps(rig).dw0 & 0x7 == 0


def test_feature_84h_names_one_active_namespace():
    rig = rig_with(nwpc=0x1, nn=4)
    assert (set_wps(rig, 1, nsid=0xFFFFFFFF).sct, set_wps(rig, 1, nsid=0xFFFFFFFF).sc) == (
        st.INVALID_FIELD
    )
    cqe = set_wps(rig, 1, nsid=3)  # inactive
    assert (cqe.sct, cqe.sc) == st.INVALID_FIELD
    cqe = set_wps(rig, 1, nsid=9)  # above NN
    assert (cqe.sct, cqe.sc) == st.INVALID_NS_OR_FORMAT
    cqe = get_wps(rig, nsid=0)
    assert (cqe.sct, cqe.sc) == st.INVALID_NS_OR_FORMAT


def test_get_features_84h_capabilities_say_namespace_specific_and_changeable():
    rig = rig_with(nwpc=0x1)
    assert get_wps(rig, sel=3).dw0 == 0x6
    assert set_wps(rig, 1).sc == 0
    assert get_wps(rig, sel=1).dw0 == 0  # the default


def test_format_nvm_of_a_write_protected_namespace_is_refused():
    rig = rig_with(nwpc=0x1, format_nvm=True)
    assert set_wps(rig, 1).sc == 0
    cqe = rig.admin(0x80, nsid=1, cdw10=4)
    assert (cqe.sct, cqe.sc) == NS_WRITE_PROTECTED
    assert set_wps(rig, 0).sc == 0
    assert rig.admin(0x80, nsid=1, cdw10=4).sc == 0


def test_saving_feature_84h_is_feature_identifier_not_saveable():
    rig = rig_with(nwpc=0x1)
    cqe = rig.admin(SET_FEATURES, nsid=1, cdw10=0x84 | (1 << 31), cdw11=1)
    assert (cqe.sct, cqe.sc) == st.FEATURE_NOT_SAVEABLE
    assert get_wps(rig).dw0 & 0x7 == 0
