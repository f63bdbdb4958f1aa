"""The queue engine: one event per step, PRPs, DMA failures, full CQs, interrupts."""

from __future__ import annotations

import struct

from emuhost import Rig

from nvmescope.nvme import status as st
from nvmescope.nvme.commands import pack_sqe
from nvmescope.nvme.pci import MSIX_CAP_OFFSET


def test_each_step_of_command_processing_emits_one_event():
    rig = Rig()
    rig.enable()
    buf = rig.host.alloc()
    rig.submit(0, pack_sqe(0x06, 5, prp1=buf, cdw10=1))
    assert rig.kinds()[-1] == "doorbell_sq"
    kinds = []
    while True:
        before = len(rig.events)
        if not rig.sched.run_one():
            break
        assert len(rig.events) - before == 1
        kinds.append(rig.events[-1].kind)
    assert kinds == ["sqe_fetch", "cmd_start", "map_prp", "dma_write", "cmd_finish", "cqe_post",
                     "irq_msix"]  # fmt: skip
    assert all(e.sqid == 0 and e.cid == 5 for e in rig.events[-7:])
    assert rig.bus.context is None


def test_prp_list_across_pages():
    rig = Rig()
    rig.enable()
    rig.create_io_pair()
    data = bytes(range(256)) * 64 * 3  # 48 KiB: 12 pages, PRP1 at an offset
    n = len(data) // 512
    pages = [rig.host.alloc() for _ in range(14)]
    prp1 = pages[0] + 0x200
    chain = pages[1:]
    # the list: two list pages chained (the first has room for 2 entries + chain pointer)
    list1 = rig.host.alloc() + 4096 - 24
    list2 = rig.host.alloc()
    rig.host.map(list1, 24)
    first = 4096 - 0x200
    left = len(data) - first
    need = -(-left // 4096)
    entries = chain[:need]
    rig.host.write(list1, struct.pack("<QQQ", entries[0], entries[1], list2))
    rig.host.write(list2, struct.pack(f"<{need - 2}Q", *entries[2:]))
    pos = 0
    rig.host.write(prp1, data[:first])
    pos = first
    for page in entries:
        rig.host.write(page, data[pos : pos + 4096])
        pos += 4096
    rig.submit(1, pack_sqe(0x01, 1, nsid=1, prp1=prp1, prp2=list1, cdw10=0, cdw12=n - 1))
    rig.run()
    assert rig.reap(1).sc == 0
    mp = next(e for e in rig.events if e.kind == "map_prp")
    assert mp.list_pages == [list1, list2]
    assert sum(length for _, length in mp.segments) == len(data)
    assert rig.ctrl.namespaces[1].read_blocks(0, n) == data


def test_prp2_with_offset_is_prp_offset_invalid():
    rig = Rig()
    rig.enable()
    rig.create_io_pair()
    a, b = rig.host.alloc(), rig.host.alloc()
    rig.submit(1, pack_sqe(0x02, 3, nsid=1, prp1=a + 0x800, prp2=b + 0x10, cdw12=7))
    rig.run()
    cqe = rig.reap(1)
    assert (cqe.sct, cqe.sc) == st.PRP_OFFSET_INVALID and cqe.dnr
    assert "err_invalid_prp_offset" in rig.kinds()


def test_dma_to_unmapped_memory_is_data_transfer_error():
    rig = Rig()
    rig.enable()
    cqe = rig.admin(0x06, prp1=0x7000_0000, cdw10=1)
    assert (cqe.sct, cqe.sc) == st.DATA_TRANSFER_ERROR and cqe.dnr
    assert "err_dma" in rig.kinds()
    assert rig.ctrl.state.error_count == 1


def test_bus_master_off_fetch_waits_and_data_fails():
    rig = Rig()
    rig.enable()
    rig.ctrl.config_write(0x04, 2, 0x0002)  # memory only
    rig.submit(0, pack_sqe(0x06, 9, prp1=rig.host.alloc(), cdw10=1))
    rig.run()
    assert rig.kinds()[-1] == "ub_dma_disabled"
    assert rig.ctrl.sqs[0].head == 0
    rig.ctrl.config_write(0x04, 2, 0x0006)  # bus master back on: processing resumes
    rig.run()
    assert rig.reap(0).sc == 0


def test_msix_masked_vector_sets_pba_and_fires_on_unmask():
    rig = Rig()
    rig.enable()
    c = rig.ctrl
    c.mmio_write(c.table_offset + 12, 4, 1)  # mask vector 0
    sent = len(rig.host.msi)
    rig.submit(0, pack_sqe(0x06, 1, prp1=rig.host.alloc(), cdw10=1))
    rig.run()
    irq = [e for e in rig.events if e.kind == "irq_msix"][-1]
    assert irq.masked and irq.pending and not irq.delivered
    assert len(rig.host.msi) == sent
    assert c.mmio_read(c.pba_offset, 4) & 1
    c.mmio_write(c.table_offset + 12, 4, 0)  # unmask
    rig.run()
    assert len(rig.host.msi) == sent + 1 and rig.host.msi[-1][1] == 0x40
    assert c.mmio_read(c.pba_offset, 4) & 1 == 0


def test_msix_function_mask_holds_messages():
    rig = Rig()
    rig.enable()
    c = rig.ctrl
    c.config_write(MSIX_CAP_OFFSET + 2, 2, 0xC000)
    sent = len(rig.host.msi)
    rig.submit(0, pack_sqe(0x06, 1, prp1=rig.host.alloc(), cdw10=1))
    rig.run()
    assert len(rig.host.msi) == sent and c.msix.pending[0]
    c.config_write(MSIX_CAP_OFFSET + 2, 2, 0x8000)
    rig.run()
    assert len(rig.host.msi) == sent + 1


def test_full_cq_holds_completions_until_head_moves():
    rig = Rig()
    rig.enable()
    rig.create_io_pair(qsize=4)  # 3 usable CQ entries

    def posts():
        return [e for e in rig.events if e.kind == "cqe_post" and e.cqid == 1]

    for cid in range(3):
        rig.submit(1, pack_sqe(0x00, cid, nsid=1))
    rig.run()
    assert len(posts()) == 3 and rig.ctrl.cqs[1].full
    rig.submit(1, pack_sqe(0x00, 3, nsid=1))
    rig.run()
    assert rig.kinds()[-1] == "cq_full" and len(posts()) == 3
    assert rig.reap(1).cid == 0  # consume one; the CQ head doorbell frees a slot
    assert len(posts()) == 4 and posts()[-1].slot == 3 and posts()[-1].phase == 1
    rig.submit(1, pack_sqe(0x00, 4, nsid=1))
    rig.run()
    assert len(posts()) == 4
    assert rig.reap(1).cid == 1
    assert len(posts()) == 5 and posts()[-1].slot == 0 and posts()[-1].phase == 0


def test_invalid_cq_head_doorbell_is_ub_and_ignored():
    rig = Rig()
    rig.enable()
    rig.ctrl.mmio_write(0x1004, 4, 5)  # nothing was posted
    rig.run()
    assert "ub_cq_head_passes_tail" in rig.kinds()
    assert rig.ctrl.cqs[0].head == 0


def test_sq_doorbell_beyond_size_is_ub():
    rig = Rig()
    rig.enable()
    rig.ctrl.mmio_write(0x1000, 4, 1000)
    rig.run()
    assert "ub_db_invalid_value" in rig.kinds() and rig.ctrl.sqs[0].tail == 0


def test_doorbell_bits_31_to_16_are_reserved_and_ignored():
    """SQyTDBL/CQyHDBL hold the new tail/head in bits 15:0; bits 31:16 are reserved: the
    device takes bits 15:0 (as QEMU 7.2 does) and says the rest was ignored."""
    rig = Rig()
    rig.enable()
    rig.host.write(rig.asq, pack_sqe(0x06, 7, prp1=rig.host.alloc(), cdw10=1))
    rig.ctrl.mmio_write(0x1000, 4, 0x3_0001)  # SQ0 tail 1, bits 31:16 set
    rig.run()
    kinds = rig.kinds()
    assert "ub_mmio_reserved" in kinds and "ub_db_invalid_value" not in kinds
    assert rig.ctrl.sqs[0].tail == 1 and "cqe_post" in kinds  # the command was taken
    [db] = [e for e in rig.events if e.kind == "doorbell_sq"]
    assert (db.new_tail, db.value, db.ignored) == (1, 0x3_0001, False)


def test_intx_asserted_while_entries_unconsumed():
    rig = Rig()
    rig.enable(msix=False)
    rig.submit(0, pack_sqe(0x06, 1, prp1=rig.host.alloc(), cdw10=1))
    rig.run()
    assert rig.host.intx_level and rig.kinds()[-1] == "irq_intx"
    assert rig.ctrl.config_read(0x06, 2) & 0x8  # interrupt status
    rig.reap(0)
    assert not rig.host.intx_level
    # INTMS masks the level
    rig.submit(0, pack_sqe(0x06, 2, prp1=rig.host.alloc(), cdw10=1))
    rig.run()
    assert rig.host.intx_level
    rig.ctrl.mmio_write(0x0C, 4, 1)
    rig.run()
    assert not rig.host.intx_level
    rig.ctrl.mmio_write(0x10, 4, 1)
    rig.run()
    assert rig.host.intx_level


def test_io_read_write_and_lba_range():
    rig = Rig()
    rig.enable()
    rig.create_io_pair()
    buf = rig.host.alloc()
    rig.host.write(buf, b"\xab" * 512)
    rig.submit(1, pack_sqe(0x01, 1, nsid=1, prp1=buf, cdw10=5))
    rig.run()
    assert rig.reap(1).sc == 0
    rig.submit(1, pack_sqe(0x02, 2, nsid=1, prp1=buf + 512, cdw10=5))
    rig.run()
    assert rig.reap(1).sc == 0 and rig.host.read(buf + 512, 512) == b"\xab" * 512
    nsze = rig.ctrl.namespaces[1].nsze
    rig.submit(1, pack_sqe(0x02, 3, nsid=1, prp1=buf, cdw10=nsze))
    rig.run()
    cqe = rig.reap(1)
    assert (cqe.sct, cqe.sc) == st.LBA_OUT_OF_RANGE and cqe.dnr
    assert rig.ctrl.state.error_log[0]["lba"] == nsze
    smart = rig.ctrl.state.smart_counters(rig.sched.now)
    assert smart["host_write_commands"] == 1 and smart["host_read_commands"] == 1


def test_snapshot_is_plain_data():
    import json

    rig = Rig()
    rig.enable()
    rig.create_io_pair()
    snap = rig.ctrl.snapshot()
    json.dumps(snap)
    assert snap["registers"]["csts"] & 1
    assert [q["sqid"] for q in snap["sqs"]] == [0, 1]
    assert snap["cqs"][1]["vector"] == 1
    assert snap["msix"][0]["masked"] is False
