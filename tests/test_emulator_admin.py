"""Admin commands: data and status codes, DNR, the error log."""

from __future__ import annotations

import struct

import pytest
from emuhost import Rig

from nvmescope.emulator import ControllerConfig
from nvmescope.nvme import identify as idf
from nvmescope.nvme import logpages as lp
from nvmescope.nvme import status as st


@pytest.fixture
def rig():
    r = Rig()
    r.enable()
    return r


@pytest.fixture
def one_unit_rig():
    """One parallel unit: while one I/O command runs, the others stay in their SQ (Abort
    finds them there)."""
    r = Rig(ControllerConfig(parallel_units=1))
    r.enable()
    return r


def _error_count(rig):
    return rig.ctrl.state.error_count


def assert_fails(rig, code, kind, opc, **fields):
    """The command completes with ``code`` and DNR, logs an error and emits ``kind``."""
    before, start = _error_count(rig), len(rig.events)
    cqe = rig.admin(opc, **fields)
    assert (cqe.sct, cqe.sc) == code, cqe
    assert cqe.dnr == 1
    assert _error_count(rig) == before + 1
    entry = rig.ctrl.state.error_log[0]
    assert entry["cmdid"] == cqe.cid and entry["sqid"] == 0
    assert entry["status_field"]["status"] & 0x7FF == (code[0] << 8) | code[1]
    assert kind in rig.kinds(start)
    return cqe


def test_identify_controller_data(rig):
    buf = rig.host.alloc()
    cqe = rig.admin(0x06, prp1=buf, cdw10=1)
    assert cqe.sc == 0
    data = idf.IDENTIFY_CONTROLLER.parse(rig.host.read(buf, 4096))
    assert data.vid == 0x4E53 and data.ssvid == 0x4E53
    assert idf.ascii_field(data.mn) == "nvmescope NVMe Ctrl"
    assert data.ver == 0x10400 and data.sqes == 0x66 and data.cqes == 0x44
    assert data.elpe == rig.ctrl.config.elpe and data.mdts == 7


def test_identify_namespace_and_lists(rig):
    buf = rig.host.alloc()
    assert rig.admin(0x06, prp1=buf, nsid=1, cdw10=0).sc == 0
    ns = idf.IDENTIFY_NAMESPACE.parse(rig.host.read(buf, 4096))
    assert ns.nsze == 64 * 1024 * 1024 // 512 and ns.nlbaf == 7
    assert [(f.ms, f.ds) for f in ns.lbaf[:8]] == list(rig.ctrl.config.lba_formats)
    assert rig.admin(0x06, prp1=buf, cdw10=2).sc == 0
    assert idf.parse_active_ns_list(rig.host.read(buf, 4096)) == [1]
    assert rig.admin(0x06, prp1=buf, nsid=1, cdw10=3).sc == 0
    descs = idf.parse_ns_desc_list(rig.host.read(buf, 4096))
    assert [d.nidt for d in descs] == [idf.NIDT_UUID, idf.NIDT_CSI]


def test_identify_errors(rig):
    buf = rig.host.alloc()
    assert_fails(rig, st.INVALID_FIELD, "err_invalid_field", 0x06, prp1=buf, cdw10=0x10)
    assert_fails(rig, st.INVALID_NS_OR_FORMAT, "err_invalid_nsid", 0x06, prp1=buf, nsid=7)


def test_unknown_opcode_invalid_opcode(rig):
    assert_fails(rig, st.INVALID_OPCODE, "err_invalid_opcode", 0x7F)


def test_sgl_not_supported(rig):
    assert_fails(rig, st.INVALID_FIELD, "err_invalid_sgl", 0x06, cdw10=1, psdt=1)


def test_number_of_queues_answers_allocated(rig):
    cqe = rig.admin(0x09, cdw10=0x07, cdw11=0)
    assert cqe.sc == 0 and cqe.dw0 == 0x3F003F
    assert rig.admin(0x0A, nsid=0xFFFFFFFF, cdw10=0x07).dw0 == 0x3F003F
    rig.create_io_pair()
    assert_fails(rig, st.COMMAND_SEQUENCE_ERROR, "err_command_sequence", 0x09, cdw10=7)


def test_number_of_queues_stays_refused_after_the_io_queues_are_deleted_until_a_reset(rig):
    """NVMe 1.4 section 5.21.1.7: the feature is for initialization, before any I/O queue
    is created; deleting the queues again does not reopen it, a controller reset does."""
    rig.create_io_pair()
    assert rig.admin(0x00, cdw10=1).sc == 0  # Delete I/O SQ 1
    assert rig.admin(0x04, cdw10=1).sc == 0  # Delete I/O CQ 1
    assert not set(rig.ctrl.sqs) - {0} and not set(rig.ctrl.cqs) - {0}
    assert_fails(rig, st.COMMAND_SEQUENCE_ERROR, "err_command_sequence", 0x09, cdw10=7)
    rig.ctrl.mmio_write(0x14, 4, 0)  # CC.EN 1 -> 0: a controller reset
    rig.run()
    rig.host.write(rig.acq, bytes(16 * rig.aqsize))
    rig.sq_tail[0], rig.cq_head[0], rig.cq_phase[0] = 0, 0, 1
    rig.enable()
    assert rig.admin(0x09, cdw10=0x07, cdw11=0x00030003).sc == 0


def test_features_set_then_get(rig):
    for fid, value in ((0x01, 0x3), (0x06, 0), (0x08, 0x0A05), (0x0B, 0x1F)):
        assert rig.admin(0x09, cdw10=fid, cdw11=value).sc == 0
        assert rig.admin(0x0A, cdw10=fid).dw0 == value
    assert rig.admin(0x09, cdw10=0x04, cdw11=350).sc == 0
    assert rig.admin(0x0A, cdw10=0x04).dw0 & 0xFFFF == 350
    assert rig.admin(0x09, cdw10=0x09, cdw11=(1 << 16) | 2).sc == 0
    assert rig.admin(0x0A, cdw10=0x09, cdw11=2).dw0 == (1 << 16) | 2


def test_feature_errors(rig):
    assert_fails(rig, st.INVALID_FIELD, "err_invalid_feature", 0x09, cdw10=0x7E)
    assert_fails(rig, st.FEATURE_NOT_SAVEABLE, "err_feature_not_saveable", 0x09,
                 cdw10=(1 << 31) | 0x06, cdw11=1)  # fmt: skip
    assert_fails(rig, st.INVALID_FIELD, "err_invalid_field", 0x09, cdw10=0x02, cdw11=3)
    assert_fails(rig, st.FEATURE_NOT_NS_SPECIFIC, "err_feature_not_ns_specific", 0x09,
                 nsid=1, cdw10=0x06, cdw11=1)  # fmt: skip


def test_timestamp_round_trip(rig):
    buf = rig.host.alloc()
    rig.host.write(buf, struct.pack("<Q", 1_700_000_000_000))
    assert rig.admin(0x09, prp1=buf, cdw10=0x0E).sc == 0
    assert rig.admin(0x0A, prp1=buf + 8, cdw10=0x0E).sc == 0
    value = struct.unpack("<Q", rig.host.read(buf + 8, 8))[0]
    assert value & 0xFFFFFFFFFFFF >= 1_700_000_000_000
    assert (value >> 49) & 0x7 == 1  # origin: set by the host


def test_get_log_pages(rig):
    buf = rig.host.alloc()
    rig.admin(0x7F)  # one error
    cqe = rig.admin(0x02, prp1=buf, nsid=0xFFFFFFFF, cdw10=(127 << 16) | 0x02)
    assert cqe.sc == 0
    smart = lp.SMART_LOG.parse(rig.host.read(buf, 512))
    assert smart.num_err_log_entries == 1 and smart.temperature == 313
    assert rig.admin(0x02, prp1=buf, cdw10=(15 << 16) | 0x01).sc == 0
    entry = lp.ERROR_INFORMATION_ENTRY.parse(rig.host.read(buf, 64))
    assert entry.error_count == 1 and entry.opcode == 0x7F
    assert entry.status_field.status & 0xFF == 0x01
    assert rig.admin(0x02, prp1=buf, cdw10=(127 << 16) | 0x03).sc == 0
    fw = lp.FIRMWARE_SLOT_LOG.parse(rig.host.read(buf, 512))
    assert fw.afi == 1 and idf.ascii_field(fw.frs1) == "0.1.0"


def test_get_log_page_errors(rig):
    buf = rig.host.alloc()
    assert_fails(rig, st.INVALID_LOG_PAGE, "err_invalid_log_page", 0x02, prp1=buf,
                 cdw10=(127 << 16) | 0x70)  # fmt: skip
    assert_fails(rig, st.INVALID_FIELD, "err_invalid_field", 0x02, prp1=buf,
                 cdw10=(127 << 16) | 0x02, cdw12=4096)  # fmt: skip


def test_create_queue_errors(rig):
    q = rig.host.alloc()
    assert_fails(rig, st.INVALID_QID, "err_invalid_qid", 0x05, prp1=q, cdw10=(15 << 16) | 0,
                 cdw11=3)  # fmt: skip
    assert_fails(rig, st.INVALID_QID, "err_invalid_qid", 0x05, prp1=q, cdw10=(15 << 16) | 65,
                 cdw11=3)  # fmt: skip
    assert_fails(rig, st.INVALID_QSIZE, "err_invalid_qsize", 0x05, prp1=q, cdw10=1, cdw11=3)
    assert_fails(rig, st.INVALID_QSIZE, "err_invalid_qsize", 0x05, prp1=q,
                 cdw10=(4096 << 16) | 1, cdw11=3)  # fmt: skip
    assert_fails(rig, st.INVALID_VECTOR, "err_invalid_vector", 0x05, prp1=q,
                 cdw10=(15 << 16) | 1, cdw11=(200 << 16) | 3)  # fmt: skip
    assert_fails(rig, st.INVALID_FIELD, "err_invalid_field", 0x05, prp1=q,
                 cdw10=(15 << 16) | 1, cdw11=2)  # fmt: skip
    assert_fails(rig, st.PRP_OFFSET_INVALID, "err_invalid_prp_offset", 0x05, prp1=q + 8,
                 cdw10=(15 << 16) | 1, cdw11=3)  # fmt: skip
    assert_fails(rig, st.INVALID_CQ, "err_invalid_cqid", 0x01, prp1=q, cdw10=(15 << 16) | 1,
                 cdw11=(9 << 16) | 1)  # fmt: skip
    rig.create_io_pair(1)
    assert_fails(rig, st.INVALID_QID, "err_invalid_qid", 0x05, prp1=q, cdw10=(15 << 16) | 1,
                 cdw11=3)  # fmt: skip


def test_delete_queue_errors_and_success(rig):
    rig.create_io_pair(1)
    assert_fails(rig, st.INVALID_QUEUE_DELETION, "err_invalid_delete", 0x04, cdw10=1)
    assert_fails(rig, st.INVALID_QID, "err_invalid_qid", 0x00, cdw10=0)
    assert_fails(rig, st.INVALID_QID, "err_invalid_qid", 0x00, cdw10=5)
    assert rig.admin(0x00, cdw10=1).sc == 0
    assert rig.admin(0x04, cdw10=1).sc == 0
    assert 1 not in rig.ctrl.cqs and 1 not in rig.ctrl.sqs
    assert_fails(rig, st.INVALID_QID, "err_invalid_qid", 0x04, cdw10=1)


def test_aer_is_held_and_limited(rig):
    limit = rig.ctrl.config.aerl + 1
    for _ in range(limit):
        assert rig.admin(0x0C) is None  # held: no completion
    assert_fails(rig, st.AER_LIMIT, "err_aer_limit", 0x0C)


def test_aer_completes_on_invalid_doorbell(rig):
    rig.admin(0x0C, cid=99)
    rig.ctrl.mmio_write(0x1000 + 8 * 5, 4, 1)  # SQ 5 does not exist
    rig.run()
    cqe = rig.reap(0)
    assert cqe is not None and cqe.cid == 99
    assert cqe.dw0 & 0x7 == 0 and (cqe.dw0 >> 8) & 0xFF == 0 and (cqe.dw0 >> 16) & 0xFF == 1
    assert "ub_db_invalid_queue" in rig.kinds()


def test_an_aer_sent_when_an_event_is_already_waiting_completes_once(rig):
    # the event comes first (no request outstanding: it waits), then the request
    rig.ctrl.mmio_write(0x1000 + 8 * 5, 4, 1)  # SQ 5 does not exist
    rig.run()
    start = len(rig.events)
    cqe = rig.admin(0x0C, cid=98)
    assert cqe is not None and cqe.cid == 98 and (cqe.dw0 >> 16) & 0xFF == 1
    posts = [e for e in rig.events[start:] if e.kind == "cqe_post" and e.cid == 98]
    assert len(posts) == 1, f"{len(posts)} CQEs for one Asynchronous Event Request"


def test_abort_of_queued_command(one_unit_rig):
    from nvmescope.nvme.commands import pack_sqe

    rig = one_unit_rig
    rig.create_io_pair(1)
    buf = rig.host.alloc()
    rig.submit(1, pack_sqe(0x00, 76, nsid=1), ring=False)
    rig.submit(1, pack_sqe(0x02, 77, nsid=1, prp1=buf))
    while rig.kinds()[-1] != "cmd_start":  # cid 76 is being executed, 77 still queued
        assert rig.sched.run_one()
    rig.submit(0, pack_sqe(0x08, 500, cdw10=(77 << 16) | 1))
    rig.run()
    io = [rig.reap(1), rig.reap(1)]
    assert io[0].cid == 76 and io[0].sc == 0
    assert (io[1].sct, io[1].sc) == st.ABORT_REQUESTED and io[1].cid == 77
    abort = rig.reap(0)
    assert abort.cid == 500 and abort.sc == 0 and abort.dw0 & 1 == 0
    assert not any(e.kind == "dma_write" and e.cid == 77 for e in rig.events)


def test_abort_of_unknown_command_reports_not_aborted(rig):
    cqe = rig.admin(0x08, cdw10=(1234 << 16) | 0)
    assert cqe.sc == 0 and cqe.dw0 & 1 == 1


def test_failed_commands_fill_error_log_newest_first(rig):
    for _ in range(3):
        rig.admin(0x7F)
    counts = [e["error_count"] for e in rig.ctrl.state.error_log]
    assert counts == [3, 2, 1]


def test_abort_limit(one_unit_rig):
    from nvmescope.nvme.commands import pack_sqe

    rig = one_unit_rig
    rig.create_io_pair(1)
    acl = rig.ctrl.config.acl + 1
    rig.submit(1, pack_sqe(0x00, 100, nsid=1), ring=False)
    for cid in range(acl + 1):
        rig.submit(1, pack_sqe(0x00, 200 + cid, nsid=1), ring=False)
    rig.ring_sq(1)
    while rig.kinds()[-1] != "cmd_start":
        assert rig.sched.run_one()
    for cid in range(acl):
        rig.submit(0, pack_sqe(0x08, 300 + cid, cdw10=((200 + cid) << 16) | 1))
    rig.submit(0, pack_sqe(0x08, 399, cdw10=((200 + acl) << 16) | 1))
    while rig.sched.run_one():
        if any(e.kind == "cqe_post" and e.cid == 399 for e in rig.events):
            break
    posted = [e for e in rig.events if e.kind == "cqe_post" and e.cqid == 0 and e.cid == 399]
    assert posted and posted[0].status & 0x7FF == 0x103 and posted[0].status >> 14 & 1
    assert "err_abort_limit" in rig.kinds()
