"""Namespace Management (0Dh), Namespace Attachment (15h), Identify CNS 10h..13h, the
Changed Namespace List (log 04h) and the Namespace Attribute Changed notice."""

from __future__ import annotations

import os

import pytest
from emuhost import Rig

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.config import NamespaceConfig, profile_config
from nvmescope.emulator.namespace import open_namespace
from nvmescope.nvme import identify as idf
from nvmescope.nvme import logpages as lp
from nvmescope.nvme import status as st
from nvmescope.nvme.commands import pack_sqe

MIB = 1 << 20
NOTICE_NS_CHANGED = 0x02 | (0x00 << 8) | (0x04 << 16)
ALL = 0xFFFFFFFF


def mgmt_config(**kw) -> ControllerConfig:
    return ControllerConfig(**({"ns_mgmt": True, "nn": 4, "oaes": 0x100} | kw))


@pytest.fixture
def rig():
    r = Rig(mgmt_config())
    r.enable()
    return r


def status(cqe) -> tuple[int, int]:
    return (cqe.sct, cqe.sc)


def identify(rig, cns: int, nsid: int = 0, cntid: int = 0):
    buf = rig.host.alloc()
    cqe = rig.admin(0x06, nsid=nsid, prp1=buf, cdw10=cns | (cntid << 16))
    return cqe, rig.host.read(buf, 4096)


def ctrl_data(rig):
    cqe, data = identify(rig, 1)
    assert status(cqe) == st.SUCCESS
    return idf.IDENTIFY_CONTROLLER.parse(data)


def ns_list(rig, cns: int, nsid: int = 0) -> list[int]:
    cqe, data = identify(rig, cns, nsid)
    assert status(cqe) == st.SUCCESS, cqe
    return idf.parse_active_ns_list(data)


def create(rig, nsze: int, ncap: int | None = None, flbas: int = 0, **kw):
    buf = rig.host.alloc()
    fields = {"nsze": nsze, "ncap": nsze if ncap is None else ncap, "flbas": flbas}
    cdw11 = kw.pop("cdw11", 0)
    rig.host.write(buf, idf.build_identify_namespace(**fields, **kw))
    return rig.admin(0x0D, prp1=buf, cdw10=0, cdw11=cdw11)


def delete(rig, nsid: int):
    return rig.admin(0x0D, nsid=nsid, cdw10=1)


def attach(rig, nsid: int, ids=(0,), detach: bool = False, sel: int | None = None):
    buf = rig.host.alloc()
    rig.host.write(buf, idf.build_controller_list(list(ids)))
    return rig.admin(0x15, nsid=nsid, prp1=buf, cdw10=int(detach) if sel is None else sel)


def changed_log(rig, rae: bool = False) -> list[int]:
    buf = rig.host.alloc()
    cqe = rig.admin(0x02, nsid=ALL, prp1=buf, cdw10=0x04 | (int(rae) << 15) | (1023 << 16))
    assert status(cqe) == st.SUCCESS, cqe
    return list(lp.CHANGED_NS_LIST.parse(rig.host.read(buf, 4096)))


def enable_notices(rig, aec: int = 0x100) -> None:
    assert status(rig.admin(0x09, cdw10=0x0B, cdw11=aec)) == st.SUCCESS


def send_aer(rig, cid: int) -> None:
    rig.submit(0, pack_sqe(0x0C, cid))
    rig.run()


def reap_all(rig) -> list:
    out = []
    while (cqe := rig.reap(0)) is not None:
        out.append(cqe)
    return out


# -- capabilities ---------------------------------------------------------------------------
def test_ns_mgmt_sets_oacs_bit_3_and_reports_the_capacity(rig):
    data = ctrl_data(rig)
    assert data.oacs & idf.OACS_NS_MGMT
    # the default: twice the configured 64 MiB namespace, half of it unallocated
    assert (data.tnvmcap, data.unvmcap) == (128 * MIB, 64 * MIB)


def test_tnvmcap_knob_sets_the_total_capacity():
    r = Rig(mgmt_config(tnvmcap=256 * MIB))
    r.enable()
    data = ctrl_data(r)
    assert (data.tnvmcap, data.unvmcap) == (256 * MIB, 192 * MIB)


def test_tnvmcap_below_the_configured_namespaces_is_a_problem():
    problems = mgmt_config(tnvmcap=MIB).problems()
    assert any("tnvmcap" in p for p in problems)


def test_without_ns_mgmt_the_commands_are_invalid_opcodes_and_nothing_is_claimed():
    r = Rig()
    r.enable()
    data = ctrl_data(r)
    assert not data.oacs & idf.OACS_NS_MGMT and data.tnvmcap == 0 and data.unvmcap == 0
    assert status(create(r, 8)) == st.INVALID_OPCODE
    assert status(attach(r, 1)) == st.INVALID_OPCODE
    for cns in (0x10, 0x11, 0x12, 0x13):
        assert status(identify(r, cns, nsid=1)[0]) == st.INVALID_FIELD
    assert status(identify(r, 0, nsid=ALL)[0]) == st.INVALID_NS_OR_FORMAT


def test_the_qemu_profile_claims_namespace_management():
    cfg = profile_config("qemu-7.2")
    assert cfg.ns_mgmt and cfg.oaes & 0x100
    r = Rig(cfg)
    r.enable()
    assert ctrl_data(r).oacs == 0x10A


def test_effects_log_lists_both_commands_as_changing_the_namespace_inventory(rig):
    buf = rig.host.alloc()
    assert status(rig.admin(0x02, prp1=buf, cdw10=0x05 | (1023 << 16))) == st.SUCCESS
    acs = lp.COMMANDS_SUPPORTED_EFFECTS_LOG.parse(rig.host.read(buf, 4096)).acs
    for opc in (0x0D, 0x15):
        assert acs[opc] & lp.CMD_EFFECTS_CSUPP and acs[opc] & lp.CMD_EFFECTS_NIC
    assert acs[0x0D] & lp.CMD_EFFECTS_CCC  # UNVMCAP changes


def test_identify_namespace_ffffffff_gives_the_formats_every_namespace_shares(rig):
    cqe, data = identify(rig, 0, nsid=ALL)
    assert status(cqe) == st.SUCCESS
    ns = idf.IDENTIFY_NAMESPACE.parse(data)
    assert ns.nsze == 0 and ns.nlbaf == len(rig.ctrl.config.lba_formats) - 1
    assert [(f.ms, f.ds) for f in list(ns.lbaf)[: ns.nlbaf + 1]] == list(
        rig.ctrl.config.lba_formats
    )


# -- create -----------------------------------------------------------------------------------
def test_create_gives_the_lowest_free_nsid_allocated_but_not_active(rig):
    cqe = create(rig, 4096, flbas=4)  # 4096 blocks of 4 KiB
    assert status(cqe) == st.SUCCESS and cqe.dw0 == 2
    assert ns_list(rig, 0x10) == [1, 2]
    assert ns_list(rig, 0x10, nsid=1) == [2]  # the list starts after NSID
    assert ns_list(rig, 0x02) == [1]
    cqe, data = identify(rig, 0x11, nsid=2)
    ns = idf.IDENTIFY_NAMESPACE.parse(data)
    assert status(cqe) == st.SUCCESS and (ns.nsze, idf.flbas_index(ns.flbas)) == (4096, 4)
    cqe, data = identify(rig, 0x00, nsid=2)  # inactive: zeros
    assert status(cqe) == st.SUCCESS and not any(data)
    assert status(identify(rig, 0x03, nsid=2)[0]) == st.INVALID_FIELD
    assert ctrl_data(rig).unvmcap == 48 * MIB


def test_create_uses_sparse_ram(rig):
    assert status(create(rig, 8192)) == st.SUCCESS
    ns = rig.ctrl.allocated[2]
    assert ns.file == "" and ns.pages_used == 0 and ns.size_bytes == 8192 * 512


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"nsze": 0}, st.INVALID_FIELD),
        ({"nsze": 8, "ncap": 9}, st.INVALID_FIELD),
        ({"nsze": 8, "ncap": 4}, st.THIN_PROVISIONING_NOT_SUPPORTED),
        ({"nsze": 8, "dps": 1}, st.INVALID_FIELD),
        ({"nsze": 8, "nmic": 1}, st.INVALID_FIELD),
        ({"nsze": 8, "flbas": 8}, st.INVALID_FORMAT),  # 8 formats: 0..7
        ({"nsze": 8, "flbas": 1}, st.INVALID_FORMAT),  # 8 bytes of metadata
        ({"nsze": 64 * MIB // 512 + 1}, st.NS_INSUFFICIENT_CAPACITY),
        ({"nsze": 8, "cdw11": 1 << 24}, (st.SCT_COMMAND_SPECIFIC, 0x29)),  # CSI 1
    ],
    ids=["nsze-0", "ncap-above", "thin", "dps", "nmic", "no-format", "metadata", "capacity",
         "csi"],
)  # fmt: skip
def test_create_refuses_what_the_spec_refuses(rig, fields, code):
    cqe = create(rig, **fields)
    assert status(cqe) == code and cqe.dnr == 1
    assert ns_list(rig, 0x10) == [1] and ctrl_data(rig).unvmcap == 64 * MIB


def test_create_fits_exactly_the_unallocated_capacity(rig):
    assert status(create(rig, 64 * MIB // 512)) == st.SUCCESS
    assert ctrl_data(rig).unvmcap == 0
    assert status(create(rig, 1)) == st.NS_INSUFFICIENT_CAPACITY


def test_create_with_every_nsid_in_use_is_namespace_identifier_unavailable():
    r = Rig(mgmt_config(nn=2))
    r.enable()
    assert status(create(r, 8)) == st.SUCCESS
    assert status(create(r, 8)) == st.NS_ID_UNAVAILABLE


def test_management_sel_other_than_create_or_delete_is_invalid_field(rig):
    assert status(rig.admin(0x0D, nsid=1, cdw10=2)) == st.INVALID_FIELD


# -- delete -----------------------------------------------------------------------------------
def test_delete_frees_the_nsid_and_the_capacity(rig):
    create(rig, 8192)
    assert status(delete(rig, 2)) == st.SUCCESS
    assert ns_list(rig, 0x10) == [1] and ctrl_data(rig).unvmcap == 64 * MIB
    assert create(rig, 8).dw0 == 2


@pytest.mark.parametrize(
    ("nsid", "code"),
    [(0, st.INVALID_NS_OR_FORMAT), (5, st.INVALID_NS_OR_FORMAT), (3, st.INVALID_FIELD)],
    ids=["nsid-0", "above-nn", "unallocated"],
)
def test_delete_refuses_an_nsid_that_names_no_allocated_namespace(rig, nsid, code):
    assert status(delete(rig, nsid)) == code


def test_delete_of_every_namespace_with_ffffffff(rig):
    create(rig, 8)
    assert status(delete(rig, ALL)) == st.SUCCESS
    assert ns_list(rig, 0x10) == [] and ns_list(rig, 0x02) == []
    data = ctrl_data(rig)
    assert data.unvmcap == data.tnvmcap == 128 * MIB


def test_delete_of_an_attached_namespace_detaches_it_with_a_notice(rig):
    enable_notices(rig)
    send_aer(rig, 100)
    assert status(delete(rig, 1)) == st.SUCCESS
    aer = [c for c in reap_all(rig) if c.cid == 100]
    assert aer and aer[0].dw0 == NOTICE_NS_CHANGED
    assert ns_list(rig, 0x02) == [] and changed_log(rig)[:2] == [1, 0]


def test_deleting_a_file_backed_namespace_lets_the_file_go_and_keeps_it(tmp_path):
    path = tmp_path / "ns1.img"
    space = NamespaceConfig(nsid=1, size=MIB, file=str(path))
    r = Rig(mgmt_config(namespaces=[space]))
    r.enable()
    r.ctrl.allocated[1].write(0, b"kept")
    assert status(delete(r, 1)) == st.SUCCESS
    assert path.exists() and os.path.getsize(path) == MIB
    # the lock is released: another controller may open the file now, and the data stayed
    again = open_namespace(NamespaceConfig(1, MIB, 0, ((0, 9),), str(path)))
    try:
        assert again.read(0, 4) == b"kept"
    finally:
        again.close()


# -- attach / detach --------------------------------------------------------------------------
def test_attach_makes_the_namespace_active_and_detach_inactive(rig):
    create(rig, 8192)
    assert status(attach(rig, 2)) == st.SUCCESS
    assert ns_list(rig, 0x02) == [1, 2]
    cqe, data = identify(rig, 0x00, nsid=2)
    assert idf.IDENTIFY_NAMESPACE.parse(data).nsze == 8192
    assert status(attach(rig, 2, detach=True)) == st.SUCCESS
    assert ns_list(rig, 0x02) == [1] and ns_list(rig, 0x10) == [1, 2]


def test_io_reaches_an_attached_namespace_and_not_a_detached_one(rig):
    create(rig, 8192)
    attach(rig, 2)
    rig.create_io_pair()
    buf = rig.host.alloc()
    rig.host.write(buf, b"N2" * 256)
    rig.submit(1, pack_sqe(0x01, 7, nsid=2, prp1=buf, cdw10=5))
    rig.run()
    assert status(rig.reap(1)) == st.SUCCESS
    assert rig.ctrl.allocated[2].read(5 * 512, 4) == b"N2N2"
    attach(rig, 2, detach=True)
    rig.submit(1, pack_sqe(0x01, 8, nsid=2, prp1=buf, cdw10=5))
    rig.run()
    assert status(rig.reap(1)) == st.INVALID_FIELD  # valid but inactive NSID
    attach(rig, 2)  # the data outlives the detach
    assert rig.ctrl.namespaces[2].read(5 * 512, 4) == b"N2N2"


@pytest.mark.parametrize(
    ("ids", "why"), [((), "empty"), ((1,), "no such controller"), ((0, 0), "twice")]
)
def test_a_controller_list_not_naming_controller_0_once_is_invalid(rig, ids, why):
    create(rig, 8)
    assert status(attach(rig, 2, ids)) == st.CONTROLLER_LIST_INVALID
    assert ns_list(rig, 0x02) == [1]


def test_attaching_an_attached_namespace_is_namespace_already_attached(rig):
    assert status(attach(rig, 1)) == st.NS_ALREADY_ATTACHED


def test_detaching_a_detached_namespace_is_namespace_not_attached(rig):
    create(rig, 8)
    assert status(attach(rig, 2, detach=True)) == st.NS_NOT_ATTACHED


@pytest.mark.parametrize(
    ("nsid", "code"),
    [(0, st.INVALID_NS_OR_FORMAT), (ALL, st.INVALID_NS_OR_FORMAT), (5, st.INVALID_NS_OR_FORMAT),
     (3, st.INVALID_FIELD)],
    ids=["nsid-0", "broadcast", "above-nn", "unallocated"],
)  # fmt: skip
def test_attach_refuses_an_nsid_that_names_no_allocated_namespace(rig, nsid, code):
    assert status(attach(rig, nsid)) == code


def test_attachment_sel_other_than_attach_or_detach_is_invalid_field(rig):
    assert status(attach(rig, 1, sel=2)) == st.INVALID_FIELD


def test_attachment_outlives_a_controller_reset(rig):
    create(rig, 8)
    attach(rig, 2)
    rig.ctrl.mmio_write(0x14, 4, 0)
    rig.run()
    rig.cq_head[0], rig.cq_phase[0], rig.sq_tail[0] = 0, 1, 0
    rig.enable()
    assert ns_list(rig, 0x02) == [1, 2]


# -- Identify controller lists ---------------------------------------------------------------
def test_identify_cns_12h_lists_controller_0_only_while_attached(rig):
    create(rig, 8)
    cqe, data = identify(rig, 0x12, nsid=2)
    assert status(cqe) == st.SUCCESS and idf.parse_controller_list(data) == []
    attach(rig, 2)
    assert idf.parse_controller_list(identify(rig, 0x12, nsid=2)[1]) == [0]
    assert idf.parse_controller_list(identify(rig, 0x12, nsid=2, cntid=1)[1]) == []
    assert status(identify(rig, 0x12, nsid=3)[0]) == st.INVALID_FIELD
    assert status(identify(rig, 0x12, nsid=0)[0]) == st.INVALID_NS_OR_FORMAT


def test_identify_cns_13h_lists_the_subsystems_one_controller(rig):
    assert idf.parse_controller_list(identify(rig, 0x13)[1]) == [0]
    assert idf.parse_controller_list(identify(rig, 0x13, cntid=1)[1]) == []


def test_identify_cns_10h_and_11h_refuse_invalid_nsids(rig):
    assert status(identify(rig, 0x10, nsid=0xFFFFFFFE)[0]) == st.INVALID_NS_OR_FORMAT
    assert status(identify(rig, 0x11, nsid=0)[0]) == st.INVALID_NS_OR_FORMAT
    assert status(identify(rig, 0x11, nsid=5)[0]) == st.INVALID_NS_OR_FORMAT
    cqe, data = identify(rig, 0x11, nsid=3)  # valid, unallocated: zeros
    assert status(cqe) == st.SUCCESS and not any(data)


# -- the notice and its masking ---------------------------------------------------------------
def test_attach_completes_an_outstanding_aer_with_the_notice(rig):
    enable_notices(rig)
    send_aer(rig, 100)
    create(rig, 8)
    attach(rig, 2)
    aer = [c for c in reap_all(rig) if c.cid == 100]
    assert aer and aer[0].dw0 == NOTICE_NS_CHANGED and status(aer[0]) == st.SUCCESS


def test_no_notice_unless_feature_0bh_bit_8_is_set_but_the_log_still_lists_the_change(rig):
    send_aer(rig, 100)
    create(rig, 8)
    attach(rig, 2)
    assert all(c.cid != 100 for c in reap_all(rig))
    assert rig.ctrl.state.aer_queue == []
    assert changed_log(rig)[:2] == [2, 0]


def test_create_alone_sends_no_notice(rig):
    enable_notices(rig)
    send_aer(rig, 100)
    create(rig, 8)
    assert all(c.cid != 100 for c in reap_all(rig))
    assert changed_log(rig)[0] == 0


def test_notices_stay_masked_until_log_04h_is_read_with_rae_clear(rig):
    enable_notices(rig)
    create(rig, 8)
    send_aer(rig, 100)
    attach(rig, 2)
    assert [c.cid for c in reap_all(rig) if c.cid == 100] == [100]
    send_aer(rig, 101)
    attach(rig, 2, detach=True)  # masked: the AER stays outstanding
    assert all(c.cid != 101 for c in reap_all(rig))
    assert changed_log(rig, rae=True)[:2] == [2, 0]  # RAE 1: still masked
    attach(rig, 2)
    assert all(c.cid != 101 for c in reap_all(rig))
    assert changed_log(rig)[:2] == [2, 0]  # RAE 0: unmasked, the queued event dropped
    assert all(c.cid != 101 for c in reap_all(rig))
    attach(rig, 2, detach=True)  # a change after the read: a new notice
    aer = [c for c in reap_all(rig) if c.cid == 101]
    assert aer and aer[0].dw0 == NOTICE_NS_CHANGED


def test_a_notice_with_no_aer_outstanding_waits_once_for_the_next_aer(rig):
    enable_notices(rig)
    create(rig, 8)
    attach(rig, 2)
    attach(rig, 2, detach=True)
    assert rig.ctrl.state.aer_queue == [(2, 0, 4)]  # queued once, not twice
    send_aer(rig, 100)
    aer = [c for c in reap_all(rig) if c.cid == 100]
    assert aer and aer[0].dw0 == NOTICE_NS_CHANGED


def test_reading_the_changed_list_empties_it(rig):
    create(rig, 8)
    create(rig, 8)
    attach(rig, 3)
    attach(rig, 2)
    assert changed_log(rig)[:3] == [2, 3, 0]
    assert not any(changed_log(rig))


def test_the_changed_list_holds_1024_nsids_and_ffffffff_beyond(rig):
    from nvmescope.emulator import nsmgmt

    rig.ctrl.changed_nsids.update(range(1, 1025))
    assert list(lp.CHANGED_NS_LIST.parse(nsmgmt.changed_ns_log(rig.ctrl))) == list(range(1, 1025))
    rig.ctrl.changed_nsids.add(1025)
    log = list(lp.CHANGED_NS_LIST.parse(nsmgmt.changed_ns_log(rig.ctrl)))
    assert log[0] == 0xFFFFFFFF and not any(log[1:])


def test_log_04h_exists_only_with_oaes_bit_8():
    r = Rig(mgmt_config(oaes=0))
    r.enable()
    buf = r.host.alloc()
    cqe = r.admin(0x02, prp1=buf, cdw10=0x04 | (1023 << 16))
    assert status(cqe) == st.INVALID_LOG_PAGE


# -- decoders and names ------------------------------------------------------------------------
def test_the_sqe_decoder_names_sel_and_csi_and_the_cqe_the_nsid_created():
    from nvmescope.nvme import commands
    from nvmescope.nvme.decode import decode

    tree = decode("sqe", commands.pack_sqe(0x0D, 1, nsid=2, cdw10=1), {"admin": True})
    assert tree.find("cdw0.opc").meaning.endswith("Namespace Management")
    assert "SEL 1h (Delete)" in tree.find("cdw10").meaning
    assert "CSI 00h" in tree.find("cdw11").meaning
    tree = decode("sqe", commands.pack_sqe(0x15, 1, nsid=2, cdw10=0), {"admin": True})
    assert "SEL 0h (Controller Attach)" in tree.find("cdw10").meaning
    cqe = decode("cqe", commands.pack_cqe(3, 0, 1, 0, 2, 1, 0), {"admin": True, "opc": 0x0D})
    assert "NSID 3 created" in cqe.find("dw0").meaning


def test_the_command_view_shows_sel_beside_the_opcode():
    from nvmescope.trace.commands import selector_text

    assert selector_text(0x0D, True, 0x1) == "sel=0x01 (delete)"
    assert selector_text(0x15, True, 0x0) == "sel=0x00 (attach)"


def test_a_namespace_deleted_while_a_dsm_reads_its_ranges_fails_the_dsm_not_the_device():
    # 1 MB/s: the 16-byte range list takes 16 us to arrive; the delete (no data) lands
    # in between, so the DSM checks its ranges against a namespace that is gone
    rig = Rig(mgmt_config(link_mbps=1))
    rig.enable()
    rig.create_io_pair()
    create(rig, 64)
    attach(rig, 2)
    rig.submit(1, pack_sqe(0x09, 5, nsid=2, prp1=rig.host.alloc(), cdw10=0, cdw11=4))
    while not any(e.kind == "map_prp" and e.cid == 5 for e in rig.events):
        assert rig.sched.run_one()
    rig.submit(0, pack_sqe(0x0D, 77, nsid=2, cdw10=1))
    rig.run()
    assert status(rig.reap(1)) == st.INVALID_FIELD  # now an inactive NSID
    assert status(rig.reap(0)) == st.SUCCESS


def test_the_ns_mgmt_scenario_on_a_controller_without_namespace_attribute_notices():
    """OAES bit 8 clear: the device must send no notice for the attach or the detach (a
    notice would fail the check), and the host's rescan by hand still finds the namespace
    and then loses it."""
    from nvmescope.host.scenario_ns import NS_MGMT_KNOBS
    from nvmescope.machine import Machine

    m = Machine(ControllerConfig(**dict(NS_MGMT_KNOBS, oaes=0)), scenario="ns-mgmt")
    m.run()
    assert m.scenario.ok, m.scenario.failures()
    rows = {row.case: row for row in m.scenario.results}
    assert rows["notice after attach"].got == "no notice"
    assert rows["rescan found it"].ok and rows["rescan removed it"].ok
    assert "Changed Namespace List" not in rows
