"""The device against NVMe 1.4 (and QEMU 7.2 where the spec leaves room), one behaviour a test."""

from __future__ import annotations

import struct

import pytest
from emuhost import EmuHost, Rig

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.prp import nvme_map_prp
from nvmescope.nvme import identify as idf
from nvmescope.nvme import logpages as lp
from nvmescope.nvme import registers as r
from nvmescope.nvme import status as st
from nvmescope.nvme.commands import pack_sqe
from nvmescope.nvme.pci import CMD_INTX_DISABLE


@pytest.fixture
def rig():
    rg = Rig()
    rg.enable()
    return rg


# -- Delete I/O SQ (NVMe 1.4 5.6) ---------------------------------------------------------
def test_delete_sq_posts_the_aborted_inflight_command_before_completing(rig):
    """A command still in progress is aborted with Command Aborted due to SQ Deletion and its
    completion reaches the CQ (as QEMU posts cancelled requests) before Delete I/O SQ completes."""
    rig.create_io_pair()
    buf = rig.host.alloc()
    rig.submit(1, pack_sqe(0x02, 77, nsid=1, prp1=buf, cdw10=0, cdw12=0))
    rig.submit(0, pack_sqe(0x00, 900, cdw10=1))  # Delete I/O SQ 1 while the read is in flight
    rig.run()
    cqe = rig.reap(1)
    assert cqe is not None, "the aborted command's completion was lost"
    assert cqe.cid == 77 and cqe.sqid == 1
    assert (cqe.sct, cqe.sc) == st.ABORTED_SQ_DELETION
    done = rig.reap(0)
    assert done is not None and done.cid == 900 and done.sc == 0
    posts = [e for e in rig.events if e.kind == "cqe_post"]
    assert [(e.cqid, e.cid) for e in posts[-2:]] == [(1, 77), (0, 900)]


# -- Create I/O CQ (NVMe 1.4 5.3, Figure 153: IV shall be 0h with pin-based interrupts) ----
def test_create_cq_with_nonzero_vector_and_msix_disabled_is_invalid_vector():
    rig = Rig()
    rig.enable(msix=False)
    cqe = rig.admin(0x05, prp1=rig.host.alloc(), cdw10=(15 << 16) | 1, cdw11=(1 << 16) | 3)
    assert (cqe.sct, cqe.sc) == st.INVALID_VECTOR and cqe.dnr
    assert rig.ctrl.state.error_log[0]["parm_err_loc"] == 46  # CDW11 bits 31:16
    ok = rig.admin(0x05, prp1=rig.host.alloc(), cdw10=(15 << 16) | 1, cdw11=3)
    assert ok.sc == 0 and 1 in rig.ctrl.cqs


# -- Log page 05h and Identify LPA (NVMe 1.4 5.14.1.5, Figure 247 LPA bit 1) ------------------
def test_commands_supported_and_effects_log_matches_what_the_device_does(rig):
    buf = rig.host.alloc()
    assert rig.admin(0x06, prp1=buf, cdw10=1).sc == 0
    ctrl_data = idf.IDENTIFY_CONTROLLER.parse(rig.host.read(buf, 4096))
    assert ctrl_data.lpa & 0x2, "LPA must advertise the Commands Supported and Effects log"
    cqe = rig.admin(0x02, prp1=buf, cdw10=0x05 | (1023 << 16))
    assert cqe.sc == 0 and cqe.sct == 0
    log = lp.COMMANDS_SUPPORTED_EFFECTS_LOG.parse(rig.host.read(buf, 4096))
    supported_admin = [opc for opc in range(256) if log.acs[opc] & lp.CMD_EFFECTS_CSUPP]
    assert supported_admin == [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0A, 0x0C]
    assert log.iocs[0x01] == lp.CMD_EFFECTS_CSUPP | lp.CMD_EFFECTS_LBCC  # write
    assert log.iocs[0x02] == lp.CMD_EFFECTS_CSUPP  # read
    assert log.iocs[0x00] == lp.CMD_EFFECTS_CSUPP  # flush
    assert log.iocs[0x05] == lp.CMD_EFFECTS_CSUPP  # compare
    assert log.iocs[0x08] == lp.CMD_EFFECTS_CSUPP | lp.CMD_EFFECTS_LBCC  # write zeroes
    assert log.iocs[0x09] == lp.CMD_EFFECTS_CSUPP | lp.CMD_EFFECTS_LBCC  # dataset management
    assert log.iocs[0x0C] == lp.CMD_EFFECTS_CSUPP  # verify
    assert log.iocs[0x19] == lp.CMD_EFFECTS_CSUPP | lp.CMD_EFFECTS_LBCC  # copy
    assert sum(1 for v in log.iocs if v) == 8
    # every admin opcode the log calls unsupported really is Invalid Command Opcode
    for opc in (0x03, 0x10, 0x80):
        assert (rig.admin(opc).sct, rig.admin(opc).sc) == st.INVALID_OPCODE


def test_effects_log_for_another_command_set_lists_no_io_commands(rig):
    """CC.CSS = 110b (all I/O command sets, as Linux enables it): CDW14.CSI picks the set."""
    assert r.CC.get(rig.ctrl.cc, "css") == 6
    buf = rig.host.alloc()
    assert rig.admin(0x02, prp1=buf, cdw10=0x05 | (1023 << 16), cdw14=2 << 24).sc == 0
    log = lp.COMMANDS_SUPPORTED_EFFECTS_LOG.parse(rig.host.read(buf, 4096))
    assert not any(log.iocs) and log.acs[0x06] & lp.CMD_EFFECTS_CSUPP


# -- SMART Critical Warning bit 1 and the Temperature Threshold event (1.4 5.14.1.2, 5.21.1.4)
def _smart(rig):
    buf = rig.host.alloc()
    assert rig.admin(0x02, nsid=0xFFFFFFFF, prp1=buf, cdw10=0x02 | (127 << 16) | (1 << 15)).sc == 0
    return lp.SMART_LOG.parse(rig.host.read(buf, 512))


def test_over_temperature_threshold_sets_critical_warning_and_raises_smart_event(rig):
    temp = rig.ctrl.config.temperature_k
    assert _smart(rig).critical_warning == 0
    assert rig.admin(0x09, cdw10=0x0B, cdw11=0x02).sc == 0  # AEC: temperature warnings
    rig.submit(0, pack_sqe(0x0C, 500))  # Asynchronous Event Request, held
    rig.run()
    assert rig.admin(0x09, cdw10=0x04, cdw11=temp - 10).sc == 0  # over threshold below now
    aer = rig.reap(0)
    assert aer is not None and aer.cid == 500
    assert aer.dw0 & 0xFF == 1 and (aer.dw0 >> 8) & 0xFF == 0x01 and (aer.dw0 >> 16) & 0xFF == 2
    assert _smart(rig).critical_warning & 0x02
    # back above the temperature: the warning goes away
    assert rig.admin(0x09, cdw10=0x04, cdw11=temp + 10).sc == 0
    assert _smart(rig).critical_warning & 0x02 == 0
    # the under threshold at or above the temperature warns too (THSEL 01b)
    assert rig.admin(0x09, cdw10=0x04, cdw11=(1 << 20) | temp).sc == 0
    assert _smart(rig).critical_warning & 0x02


def test_temperature_event_not_sent_when_not_enabled(rig):
    rig.submit(0, pack_sqe(0x0C, 501))
    rig.run()
    assert rig.admin(0x09, cdw10=0x04, cdw11=200).sc == 0
    assert rig.reap(0) is None and rig.ctrl.state.aer_queue == []


# -- Asynchronous events are not repeated without bound ----------------------------------------
def test_repeated_invalid_doorbells_queue_one_event(rig):
    for _ in range(50):
        rig.ctrl.mmio_write(0x1000 + 8 * 9, 4, 1)  # SQ 9 does not exist
    rig.run()
    assert rig.ctrl.state.aer_queue == [(0, 0x00, 0x01)]


# -- Identify CNS 03h for an NSID that is not active --------------------------------------------
def test_ns_descriptor_list_of_inactive_nsid_is_invalid_field():
    rig = Rig(ControllerConfig(nn=4))
    rig.enable()
    buf = rig.host.alloc()
    assert rig.admin(0x06, prp1=buf, nsid=3, cdw10=0).sc == 0  # CNS 00h: zero filled
    assert rig.host.read(buf, 4096) == bytes(4096)
    cqe = rig.admin(0x06, prp1=buf, nsid=3, cdw10=3)
    assert (cqe.sct, cqe.sc) == st.INVALID_FIELD


# -- Shutdown (NVMe 1.4 7.6.2): a reset is needed before commands run again -----------------------
def test_doorbells_after_shutdown_complete_are_dropped_until_reset(rig):
    rig.ctrl.mmio_write(0x14, 4, 0x464061)
    rig.run()
    assert r.CSTS.get(rig.ctrl.csts, "shst") == r.SHST_COMPLETE and rig.ctrl.csts & 1
    rig.submit(0, pack_sqe(0x06, 5, prp1=rig.host.alloc(), cdw10=1))
    rig.run()
    assert "ub_db_after_shutdown" in rig.kinds() and rig.reap(0, ring=False) is None
    assert "sqe_fetch" not in rig.kinds(len(rig.events) - 3)
    # CC.EN 1 -> 0 clears SHST; enabling again works
    rig.ctrl.mmio_write(0x14, 4, 0x460060)
    rig.run()
    assert rig.ctrl.csts == 0
    rig.sq_tail[0], rig.cq_head[0], rig.cq_phase[0] = 0, 0, 1
    rig.ctrl.mmio_write(0x14, 4, 0x460061)
    rig.run()
    assert rig.admin(0x06, prp1=rig.host.alloc(), cdw10=1).sc == 0


# -- Controller reset drops held AERs and admin queue state (NVMe 1.4 7.3.2) ---------------------
def test_disable_drops_outstanding_aers_and_admin_queue_state(rig):
    rig.submit(0, pack_sqe(0x0C, 600))
    rig.submit(0, pack_sqe(0x0C, 601))
    rig.run()
    assert [q.cid for q in rig.ctrl.state.aer_reqs] == [600, 601]
    rig.ctrl.mmio_write(0x14, 4, 0x460060)
    rig.run()
    assert rig.ctrl.state.aer_reqs == [] and rig.ctrl.sqs == {} and rig.ctrl.cqs == {}
    # AQA/ASQ/ACQ survive the reset
    assert rig.ctrl.aqa == ((31 << 16) | 31) and rig.ctrl.asq == rig.asq
    rig.sq_tail[0], rig.cq_head[0], rig.cq_phase[0] = 0, 0, 1
    rig.ctrl.mmio_write(0x14, 4, 0x460061)
    rig.run()
    assert rig.ctrl.sqs[0].head == 0 and rig.ctrl.sqs[0].tail == 0 and rig.ctrl.cqs[0].phase == 1
    # a fresh command completes normally, the old AERs never complete
    cqe = rig.admin(0x06, prp1=rig.host.alloc(), cdw10=1, cid=7)
    assert cqe.cid == 7 and cqe.sc == 0 and rig.reap(0) is None


# -- PCI Command register INTx Disable (PCI Local Bus 3.0 6.2.2, 6.2.3) -------------------------
def test_intx_disable_drops_the_pin_but_interrupt_status_still_shows():
    rig = Rig()
    rig.enable(msix=False)
    rig.submit(0, pack_sqe(0x06, 1, prp1=rig.host.alloc(), cdw10=1))
    rig.run()
    assert rig.host.intx_level
    rig.ctrl.config_write(0x04, 2, 0x0006 | CMD_INTX_DISABLE)
    rig.run()
    assert not rig.host.intx_level
    assert rig.ctrl.config_read(0x06, 2) & 0x8, "Interrupt Status ignores INTx Disable"
    rig.ctrl.config_write(0x04, 2, 0x0006)
    rig.run()
    assert rig.host.intx_level
    rig.reap(0)
    assert not rig.host.intx_level and not rig.ctrl.config_read(0x06, 2) & 0x8


def test_feature_save_bit_gives_not_saveable_with_sv_location(rig):
    cqe = rig.admin(0x09, cdw10=0x07 | (1 << 31), cdw11=0)
    assert (cqe.sct, cqe.sc) == st.FEATURE_NOT_SAVEABLE
    assert rig.ctrl.state.error_log[0]["parm_err_loc"] == 43 | (7 << 8)


def test_get_features_sel_3_reports_capabilities(rig):
    cqe = rig.admin(0x0A, cdw10=0x07 | (3 << 8))
    assert cqe.sc == 0 and cqe.dw0 == 0x4  # changeable, not saveable, not per namespace
    assert (rig.admin(0x0A, cdw10=0x07 | (4 << 8)).sc, 0) == (st.INVALID_FIELD[1], 0)


def test_timestamp_get_reports_host_origin_after_set(rig):
    buf = rig.host.alloc()
    assert rig.admin(0x0A, prp1=buf, cdw10=0x0E).sc == 0
    assert (struct.unpack("<Q", rig.host.read(buf, 8))[0] >> 49) & 0x7 == 0  # reset origin
    rig.host.write(buf, struct.pack("<Q", 123_456))
    assert rig.admin(0x09, prp1=buf, cdw10=0x0E).sc == 0
    assert rig.admin(0x0A, prp1=buf, cdw10=0x0E).sc == 0
    value = struct.unpack("<Q", rig.host.read(buf, 8))[0]
    assert (value >> 49) & 0x7 == 1 and value & 0xFFFFFFFFFFFF >= 123_456


# -- PRP lists (NVMe 1.4 4.3, Figure 108) ------------------------------------------------------
def _list_with_chain(host, chain_offset: int):
    """4 pages: PRP1 a page, PRP2 a list pointer 16 bytes before the end of its page
    (one data entry + the chain pointer), then a second list page with two entries."""
    data = [host.alloc() for _ in range(4)]
    list1 = host.alloc() + 4096 - 16
    list2 = host.alloc()
    host.write(list1, struct.pack("<QQ", data[1], list2 + chain_offset))
    host.write(list2 + chain_offset, struct.pack("<QQ", data[2], data[3]))
    return data, list1, list2


def test_prp_list_pointer_in_command_may_have_an_offset_but_chain_pointer_may_not():
    host = EmuHost()
    data, list1, list2 = _list_with_chain(host, 0)
    good = nvme_map_prp(host, data[0], list1, 4 * 4096, 4096)
    assert good.error is None and good.list_pages == [list1, list2]
    assert [a for a, _ in good.segments][:1] == [data[0]]
    assert sum(n for _, n in good.segments) == 4 * 4096
    host2 = EmuHost()
    data, list1, list2 = _list_with_chain(host2, 8)
    bad = nvme_map_prp(host2, data[0], list1, 4 * 4096, 4096)
    assert bad.error == st.PRP_OFFSET_INVALID and bad.error_location == 32
    # a list entry (not the chain) with an offset is invalid as well
    host3 = EmuHost()
    data, list1, list2 = _list_with_chain(host3, 0)
    host3.write(list2, struct.pack("<Q", data[2] + 0x200))
    assert nvme_map_prp(host3, data[0], list1, 4 * 4096, 4096).error == st.PRP_OFFSET_INVALID


def test_transfer_beyond_mdts_is_invalid_field(rig):
    rig.create_io_pair()
    mdts_bytes = (1 << rig.ctrl.config.mdts) * 4096
    nlb = mdts_bytes // 512 + 1
    buf = rig.host.alloc()
    rig.submit(1, pack_sqe(0x02, 9, nsid=1, prp1=buf, cdw12=nlb - 1))
    rig.run()
    cqe = rig.reap(1)
    assert (cqe.sct, cqe.sc) == st.INVALID_FIELD and cqe.dnr
    assert not any(e.kind == "map_prp" and e.cid == 9 for e in rig.events)


def _prp_chain_to_one_page(rig: Rig, pages: int) -> tuple[int, int]:
    """PRP1 and PRP2 for a ``pages``-page transfer whose every page is one host page: PRP
    lists of 511 entries and a chain pointer each (a host may name a page twice)."""
    page = rig.host.alloc()
    entries = [page] * (pages - 1)
    first = prev = None
    while entries:
        lst = rig.host.alloc()
        take, entries = (entries, []) if len(entries) <= 512 else (entries[:511], entries[511:])
        rig.host.write(lst, struct.pack(f"<{len(take)}Q", *take))
        if prev is not None:
            rig.host.write(prev + 511 * 8, struct.pack("<Q", lst))
        first, prev = first or lst, lst
    return page, first


def test_mdts_0_sets_no_maximum_a_32_mib_read_succeeds():
    """NVMe 1.4 section 5.15.2.2: MDTS 0h, no maximum data transfer size."""
    rg = Rig(ControllerConfig(mdts=0))
    rg.enable()
    rg.create_io_pair()
    buf = rg.host.alloc()
    assert rg.admin(0x06, prp1=buf, cdw10=1).sc == 0
    assert idf.IDENTIFY_CONTROLLER.parse(rg.host.read(buf, 4096)).mdts == 0
    prp1, prp2 = _prp_chain_to_one_page(rg, 65536 * 512 // 4096)
    rg.submit(1, pack_sqe(0x02, 9, nsid=1, prp1=prp1, prp2=prp2, cdw12=0xFFFF))  # 32 MiB
    rg.run()
    cqe = rg.reap(1)
    assert (cqe.sct, cqe.sc) == st.SUCCESS
    moved = sum(e.length for e in rg.events if e.kind == "dma_write" and e.cid == 9)
    assert moved == 65536 * 512


def test_mdts_0_get_log_page_of_16_gib_moves_only_the_log():
    """With no MDTS a Get Log Page may ask for NUMD 2^32 dwords: the device moves the log's
    own bytes (past its end the data is undefined) and allocates nothing more."""
    rg = Rig(ControllerConfig(mdts=0))
    rg.enable()
    buf = rg.host.alloc()
    rg.host.write(buf, b"\xaa" * 4096)
    cqe = rg.admin(0x02, prp1=buf, prp2=buf + 4096, cdw10=0x02 | 0xFFFF << 16, cdw11=0xFFFF)
    assert (cqe.sct, cqe.sc) == st.SUCCESS
    moved = [e for e in rg.events if e.kind == "dma_write" and e.cid == cqe.cid]
    assert sum(e.length for e in moved) == 512  # the SMART / Health log
    assert rg.host.read(buf + 512, 16) == b"\xaa" * 16  # the rest of the buffer untouched


# -- Error Information log entry (NVMe 1.4 Figure 195) -------------------------------------------
def test_error_log_entry_names_the_command_and_the_field_in_error(rig):
    before = rig.ctrl.state.error_count
    cqe = rig.admin(0x06, cdw10=1, psdt=1, cid=0x1234)
    assert (cqe.sct, cqe.sc) == st.INVALID_FIELD
    buf = rig.host.alloc()
    assert rig.admin(0x02, prp1=buf, cdw10=0x01 | (15 << 16)).sc == 0  # newest entry, 64 bytes
    entry = lp.ERROR_INFORMATION_ENTRY.parse(rig.host.read(buf, 64))
    assert entry.error_count == before + 1 and entry.sqid == 0 and entry.cmdid == 0x1234
    assert entry.status_field.status & 0x7FF == (0 << 8) | 0x02 and entry.status_field.status >> 14
    assert entry.status_field.phase_tag == cqe.p
    assert entry.parm_err_loc == 1 | (6 << 8)  # PSDT: CDW0 byte 1, bits 7:6
    assert entry.opcode == 0x06
