"""Protocol checks: each check fires on a stream that breaks its rule and stays quiet otherwise."""

from __future__ import annotations

from rich.console import Console
from streams import Rig

from nvmescope import events as ev
from nvmescope.nvme.commands import make_status
from nvmescope.trace.checks import format_findings, iter_checks, run_checks, summarize


def checks_of(rig: Rig, check: str) -> list:
    return [f for f in run_checks(rig.events) if f.check == check]


def setup(size: int = 8) -> Rig:
    rig = Rig()
    rig.enable(size=size)
    rig.create_queues(1, size, 0x30000, 0x40000, vector=1)
    return rig


def test_a_clean_run_has_no_findings():
    rig = setup()
    for cid in range(20):
        rig.command(1, cid, 0x02, "read")
        rig.command(0, cid, 0x06, "identify")
    assert run_checks(rig.events) == []


# -- CID reuse ------------------------------------------------------------------------
def test_cid_reused_while_outstanding_is_an_error_naming_the_second_fetch():
    rig = setup()
    rig.submit(1, 4, 0x02)
    rig.fetch(1, 4, 0x02)
    rig.submit(1, 4, 0x02)
    rig.fetch(1, 4, 0x02)
    second_fetch = rig.events[-1]
    [f] = checks_of(rig, "cid_reuse")
    assert f.severity == "error" and f.seq == second_fetch.seq
    assert (f.sqid, f.cid) == (1, 4)
    assert "CID 4" in f.message and "SQ1" in f.message


def test_cid_reused_after_completion_or_on_another_queue_is_fine():
    rig = setup()
    rig.command(1, 4, 0x02, "read")
    rig.command(1, 4, 0x02, "read")
    rig.submit(1, 5, 0x02)
    rig.fetch(1, 5, 0x02)
    rig.submit(0, 5, 0x06)
    rig.fetch(0, 5, 0x06)
    assert checks_of(rig, "cid_reuse") == []


# -- doorbell beyond the queue size -------------------------------------------------------
def test_sq_doorbell_beyond_the_queue_size_is_an_error():
    rig = setup(size=8)
    rig.write_sqe(1, 1, 0x02)
    rig.ring_sq(1, new_tail=8)
    [f] = checks_of(rig, "doorbell_range")
    assert f.severity == "error" and f.seq == rig.events[-1].seq
    assert "8 entries" in f.message


def test_cq_doorbell_beyond_the_queue_size_is_an_error_and_the_last_slot_is_fine():
    rig = setup(size=8)
    rig.emit(ev.DoorbellCq(cqid=1, addr=0x100C, old_head=0, new_head=9))
    assert len(checks_of(rig, "doorbell_range")) == 1
    ok = setup(size=8)
    ok.write_sqe(1, 1, 0x02)
    ok.ring_sq(1, new_tail=7)  # the last slot index is valid (7 entries published)
    assert checks_of(ok, "doorbell_range") == []


def test_doorbell_range_merges_with_the_devices_own_report():
    rig = setup(size=8)
    rig.ring_sq(1, new_tail=12)
    rig.emit(ev.condition("ub_db_invalid_value", detail="SQ1 tail 12"))
    findings = run_checks(rig.events)
    assert [f.check for f in findings] == ["doorbell_range"]
    assert findings[0].related == (rig.events[-1].seq,)
    assert "ub_db_invalid_value" in findings[0].message
    # without merging, both are there
    assert {f.check for f in iter_checks(rig.events)} == {"doorbell_range", "ub_db_invalid_value"}


def test_doorbell_for_a_queue_that_does_not_exist_is_a_warning():
    rig = setup()
    rig.emit(ev.DoorbellSq(sqid=3, addr=0x1018, old_tail=0, new_tail=1))
    [f] = checks_of(rig, "doorbell_unknown_queue")
    assert f.severity == "warning" and "SQ3" in f.message
    # after the SQ is deleted its doorbell is unknown too; before setup nothing is known
    rig2 = setup()
    rig2.emit(ev.QueueDeleted(qtype="sq", qid=1))
    rig2.emit(ev.DoorbellSq(sqid=1, addr=0x1008, old_tail=0, new_tail=1))
    assert len(checks_of(rig2, "doorbell_unknown_queue")) == 1
    rig3 = Rig()
    rig3.emit(ev.DoorbellSq(sqid=3, addr=0x1018, old_tail=0, new_tail=1))
    assert checks_of(rig3, "doorbell_unknown_queue") == []


# -- SQ more than full ----------------------------------------------------------------------
def test_sq_tail_doorbell_that_overfills_the_queue_is_an_error():
    rig = setup(size=4)
    rig.ring_sq(1, count=3)  # 3 of 4: full
    assert checks_of(rig, "sq_overfull") == []
    rig.fetch(1, 0, 0x02)  # one fetched: room for one more
    rig.ring_sq(1, count=1)
    assert checks_of(rig, "sq_overfull") == []
    # tail 0 -> 2 with head at 1: 3 waiting + 2 new > 3
    rig.ring_sq(1, count=2)
    [f] = checks_of(rig, "sq_overfull")
    assert f.severity == "error" and f.seq == rig.events[-1].seq
    assert "more than the 3" in f.message


# -- CQ head passes the tail ----------------------------------------------------------------
def test_cq_head_doorbell_past_the_posted_entries_is_an_error():
    rig = setup()
    rig.command(1, 1, 0x02, "read")  # one posted, one released: fine
    assert checks_of(rig, "cq_head_passes_tail") == []
    rig.submit(1, 2, 0x02)
    rig.fetch(1, 2, 0x02)
    rig.work(1, 2, 0x02, "read")
    rig.post(1, 2)
    rig.reap(1, count=2)  # only one posted
    [f] = checks_of(rig, "cq_head_passes_tail")
    assert f.severity == "error" and "releases 2 entries" in f.message and "only 1" in f.message


def test_cq_head_catching_up_with_several_completions_at_once_is_fine():
    rig = setup(size=4)
    for cid in range(3):
        rig.submit(1, cid, 0x02)
        rig.fetch(1, cid, 0x02)
        rig.post(1, cid)
    rig.reap(1, count=3)
    for cid in range(3, 6):  # across the wrap
        rig.submit(1, cid, 0x02)
        rig.fetch(1, cid, 0x02)
        rig.post(1, cid)
    rig.reap(1, count=3)
    assert run_checks(rig.events) == []


# -- SQE overwritten --------------------------------------------------------------------------
def test_writing_an_sq_slot_between_its_doorbell_and_its_fetch_is_an_error():
    rig = setup()
    slot = rig.write_sqe(1, 1, 0x02)
    rig.ring_sq(1)
    doorbell = rig.events[-1]
    rig.write_sqe(1, 2, 0x01, slot=slot)  # overwritten before the fetch
    [f] = checks_of(rig, "sqe_overwritten")
    assert f.seq == rig.events[-1].seq and f.related == (doorbell.seq,)
    assert f"slot {slot}" in f.message


def test_writing_an_sq_slot_after_its_fetch_or_before_its_doorbell_is_fine():
    rig = setup()
    slot = rig.write_sqe(1, 1, 0x02)
    rig.write_sqe(1, 1, 0x02, slot=slot)  # rewritten before publishing: fine
    rig.ring_sq(1)
    rig.fetch(1, 1, 0x02)
    rig.write_sqe(1, 2, 0x02, slot=slot)  # reused after the fetch: fine
    rig.emit(ev.MemWrite(addr=0x30000 + 64 * 8, data=b"\0" * 64))  # just past the ring
    assert checks_of(rig, "sqe_overwritten") == []


# -- PRP offsets -------------------------------------------------------------------------------
def test_prp2_second_page_with_an_offset_is_an_error():
    rig = setup()
    rig.emit(
        ev.MapPrp(prp1=0x5000, prp2=0x6010, length=8192, segments=[(0x5000, 4096), (0x6010, 4096)])
    )
    [f] = checks_of(rig, "prp_offset")
    assert "PRP2 0x6010" in f.message and f.severity == "error"


def test_prp_list_entry_with_an_offset_and_misaligned_prp1_are_errors():
    rig = setup()
    rig.emit(ev.MapPrp(prp1=0x5002, prp2=0x9000, length=4096, segments=[(0x5002, 4096)]))
    rig.emit(
        ev.MapPrp(
            prp1=0x5000,
            prp2=0x9008,
            length=3 * 4096,
            list_pages=[0x9008],
            segments=[(0x5000, 4096), (0x6000, 4096), (0x7800, 4096)],
        )
    )
    found = checks_of(rig, "prp_offset")
    assert len(found) == 2
    assert "dword" in found[0].message
    assert "0x7800" in found[1].message


def test_well_formed_prps_including_an_offset_list_pointer_are_fine():
    rig = setup()
    rig.emit(ev.MapPrp(prp1=0x5200, prp2=0, length=512, segments=[(0x5200, 512)]))
    rig.emit(
        ev.MapPrp(prp1=0x5200, prp2=0x6000, length=4096, segments=[(0x5200, 3584), (0x6000, 512)])
    )
    rig.emit(
        ev.MapPrp(
            prp1=0x5000,
            prp2=0x9010,  # a PRP list pointer in the command may have an offset
            length=3 * 4096,
            list_pages=[0x9010],
            segments=[(0x5000, 4096), (0x6000, 8192)],
        )
    )
    assert checks_of(rig, "prp_offset") == []


def test_page_size_follows_cc_mps():
    rig = Rig()
    rig.emit(ev.MmioWrite(addr=0x14, size=4, value=0x460001 | (1 << 7), reg="cc"))  # 8 KiB pages
    rig.emit(
        ev.MapPrp(prp1=0x4000, prp2=0x7000, length=16384, segments=[(0x4000, 8192), (0x7000, 8192)])
    )
    assert len(checks_of(rig, "prp_offset")) == 1  # 0x7000 is 4 KiB but not 8 KiB aligned
    rig2 = Rig()
    rig2.emit(ev.MmioWrite(addr=0x14, size=4, value=0x460001 | (1 << 7), reg="cc"))
    rig2.emit(ev.MapPrp(prp1=0x4000, prp2=0x8000, length=16384, segments=[(0x4000, 16384)]))
    assert checks_of(rig2, "prp_offset") == []


# -- error completions and conditions -------------------------------------------------------------
def test_a_completion_with_an_error_status_is_a_warning_success_is_not():
    rig = setup()
    rig.command(1, 1, 0x02, "read", status=make_status(0, 0x80, dnr=True))
    rig.command(1, 2, 0x02, "read")
    [f] = checks_of(rig, "error_status")
    assert f.severity == "warning" and (f.sqid, f.cid) == (1, 1)
    assert "LBA Out of Range" in f.message and "read" in f.message


def test_an_error_status_already_explained_by_an_err_event_is_a_note():
    rig = setup()
    rig.submit(0, 1, 0x7E)
    rig.fetch(0, 1, 0x7E)
    rig.emit(ev.condition("err_invalid_opcode", detail="opcode 0x7e"), ctx=(0, 1))
    rig.post(0, 1, status=make_status(0, 1, dnr=True))
    findings = run_checks(rig.events)
    assert [(f.check, f.severity) for f in findings] == [
        ("err_invalid_opcode", "warning"),
        ("error_status", "note"),
    ]
    assert findings[0].message.startswith("Opcode not supported")


def test_every_ub_event_is_an_error_with_its_sentence():
    rig = Rig()
    for kind in sorted(ev.UB_KINDS):
        rig.emit(ev.condition(kind))
    findings = run_checks(rig.events)
    assert [f.check for f in findings] == sorted(ev.UB_KINDS)
    assert all(f.severity == "error" for f in findings)
    assert summarize(findings)["error"] == len(ev.UB_KINDS)


def test_a_reset_forgets_outstanding_commands_and_io_queues():
    rig = setup()
    rig.submit(1, 4, 0x02)
    rig.fetch(1, 4, 0x02)
    rig.emit(ev.MmioWrite(addr=0x14, size=4, value=0, reg="cc", old=0x460001, new=0))
    rig.enable()
    rig.create_queues(1, 8, 0x30000, 0x40000, vector=1)
    rig.sq[1]["head"] = 0
    rig.submit(1, 4, 0x02)
    rig.fetch(1, 4, 0x02)
    assert checks_of(rig, "cid_reuse") == []


def test_findings_print_as_a_table():
    rig = setup()
    rig.emit(ev.condition("ub_mmio_ro", detail="CAP"))
    console = Console(width=120, record=True)
    console.print(format_findings(run_checks(rig.events)))
    assert "ub_mmio_ro" in console.export_text()


# -- on real machine runs -------------------------------------------------------------------
def test_machine_runs_of_well_behaved_scenarios_have_no_findings():
    from nvmescope.machine import Machine

    for scenario in ("bringup", "identify"):
        assert run_checks(Machine(scenario=scenario).run()) == [], scenario


def test_the_errors_scenario_reports_every_condition_and_error_completion():
    from nvmescope.machine import Machine

    events = Machine(scenario="errors").run()
    findings = run_checks(events)
    conditions = [e for e in events if e.kind.startswith(("err_", "ub_"))]
    reported = {f.seq for f in findings} | {s for f in findings for s in f.related}
    assert conditions and all(e.seq in reported for e in conditions)
    error_posts = [e for e in events if e.kind == "cqe_post" and e.status & 0x7FF]
    assert {e.seq for e in error_posts} <= {f.seq for f in findings if f.check == "error_status"}


def test_a_host_that_misbehaves_on_a_real_machine_is_caught():
    from nvmescope.machine import Machine

    m = Machine(scenario="bringup")
    m.run()
    m.api.mmio_write32(0x1000 + 8 * 1, 0xFFF)  # SQ1 tail far beyond its size
    m.run()
    findings = run_checks(m.events)
    [f] = [f for f in findings if f.check == "doorbell_range"]
    assert f.severity == "error" and "ub_db_invalid_value" in f.message
    assert m.events[f.seq].kind == "doorbell_sq"
    assert not [f for f in findings if f.check == "ub_db_invalid_value"]  # merged into ours


def test_a_doorbell_with_reserved_bits_set_is_caught_and_the_device_takes_bits_15_to_0():
    from nvmescope.machine import Machine

    m = Machine(scenario="bringup")
    m.run()
    m.api.mmio_write32(0x1000 + 8 * 1 + 4, 0x5_0000)  # CQ1 head 0, bits 31:16 set
    m.run()
    findings = run_checks(m.events)
    [f] = [f for f in findings if f.check == "doorbell_reserved"]
    assert f.severity == "error" and "0x50000" in f.message and "takes 0" in f.message
    assert "ub_mmio_reserved" in f.message and m.events[f.seq].kind == "doorbell_cq"
    assert not [f for f in findings if f.check in ("doorbell_range", "ub_mmio_reserved")]
    assert not [e for e in m.events if e.kind == "ub_db_invalid_value"]


def test_an_sqe_overwritten_in_a_real_run_is_caught():
    from nvmescope.machine import Machine

    events = Machine(scenario="identify").run()
    pos = next(i for i, e in enumerate(events) if e.kind == "doorbell_sq" and e.sqid == 0)
    sqe_write = next(e for e in reversed(events[:pos]) if e.kind == "mem_write")
    tampered = list(events[: pos + 1]) + [
        ev.MemWrite(seq=10**6, addr=sqe_write.addr, data=sqe_write.data)
    ]
    tampered += events[pos + 1 :]
    [f] = [f for f in run_checks(tampered) if f.check == "sqe_overwritten"]
    assert f.seq == 10**6 and f.related == (events[pos].seq,)


# -- DMA to host page 0 ---------------------------------------------------------------------------
def test_dma_into_host_page_0_is_a_warning_once_per_command():
    rig = setup()
    rig.submit(1, 9, 0x02)
    rig.fetch(1, 9, 0x02)
    rig.emit(ev.MapPrp(prp1=0, prp2=0, length=8192, segments=[(0, 8192)]), ctx=(1, 9))
    rig.emit(ev.DmaWrite(addr=0, length=4096, purpose="read data"), ctx=(1, 9))
    rig.emit(ev.DmaWrite(addr=0x1000, length=4096, purpose="read data"), ctx=(1, 9))
    rig.emit(ev.DmaWrite(addr=0x200, length=512, purpose="read data"), ctx=(1, 9))
    [f] = checks_of(rig, "dma_page0")
    assert f.severity == "warning" and (f.sqid, f.cid) == (1, 9)
    assert "host address 0x0" in f.message and "page 0" in f.message and "writes" in f.message


def test_dma_beyond_page_0_is_fine():
    rig = setup()
    rig.emit(ev.DmaRead(addr=0x1000, length=4096, purpose="write data"), ctx=(1, 3))
    rig.emit(ev.DmaRead(addr=0x5000, length=8, purpose="PRP list"), ctx=(1, 3))
    assert checks_of(rig, "dma_page0") == []


def test_a_real_identify_with_prp1_0_is_caught():
    from nvmescope.machine import Machine
    from nvmescope.nvme.commands import pack_sqe

    m = Machine(scenario="bringup")
    m.run()
    assert not [f for f in run_checks(m.events) if f.check == "dma_page0"]
    asq = next(e.value for e in reversed(m.events) if e.kind == "mmio_write" and e.addr == 0x28)
    tail = next(e.new_tail for e in reversed(m.events) if e.kind == "doorbell_sq" and e.sqid == 0)
    m.api.mem_write(asq + 64 * tail, pack_sqe(0x06, 0x77, prp1=0, cdw10=1))
    m.api.mmio_write32(0x1000, tail + 1)
    m.run()
    [f] = [f for f in run_checks(m.events) if f.check == "dma_page0"]
    assert (f.sqid, f.cid) == (0, 0x77)
    assert m.events[f.seq].kind == "dma_write"
