"""Importing a real QEMU pci_nvme trace gives our events, with every line accounted for."""

from __future__ import annotations

from pathlib import Path
from typing import Union

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvmescope import events as ev
from nvmescope.nvme.commands import unpack_cqe
from nvmescope.trace.qemu_import import QemuTraceError, condition_kind, import_qemu_trace

REFERENCE = (
    Path(__file__).resolve().parents[1] / "reference/linux-6.1-on-qemu-7.2/qemu-trace-pci_nvme.log"
)
needs_reference = pytest.mark.skipif(not REFERENCE.exists(), reason="reference trace not present")


@pytest.fixture(scope="module")
def ref():
    if not REFERENCE.exists():
        pytest.skip("reference trace not present")
    return import_qemu_trace(REFERENCE)


def of(result, kind):
    return [e for e in result.events if e.kind == kind]


@needs_reference
def test_every_line_of_the_reference_log_is_accounted_for(ref):
    total = len(REFERENCE.read_text().splitlines())
    c = ref.lines
    assert c.total == total
    assert c.mapped + c.folded + c.unknown + c.blank == total
    assert sorted(ref.line_fate) == list(range(1, total + 1))
    assert c.unknown == 0
    assert ref.warnings == []


@needs_reference
def test_bring_up_register_sequence_is_linux_order(ref):
    regs = [
        (e.kind, getattr(e, "reg", None), getattr(e, "value", None))
        for e in ref.events
        if e.kind in ("mmio_read", "mmio_write", "ctrl_state")
    ][:21]
    kinds_regs = [(k, r) for k, r, _ in regs]
    assert kinds_regs[:6] == [
        ("ctrl_state", None),
        ("mmio_read", "csts"),
        ("mmio_read", "cap.lo"),
        ("mmio_read", "cap.hi"),
        ("mmio_read", "cmbsz"),
        ("mmio_read", "vs"),
    ]
    writes = [(r, v) for k, r, v in regs if k == "mmio_write"]
    assert writes == [
        ("cc", 0),
        ("aqa", 0x1F001F),
        ("asq.lo", 0x1FEAA000),
        ("asq.hi", 0),
        ("acq.lo", 0x1FEAB000),
        ("acq.hi", 0),
        ("cc", 0x460060),
        ("cc", 0x460061),
    ]
    ready = [e for e in of(ref, "ctrl_state") if e.state == "ready"]
    assert len(ready) == 1 and ready[0].csts_new & 1
    # the ready state comes right after the CC.EN=1 write
    cc_en = next(e for e in of(ref, "mmio_write") if e.value == 0x460061)
    assert ready[0].seq > cc_en.seq
    # QEMU does not trace the value read
    assert all(e.value == 0 and e.value_known is False for e in of(ref, "mmio_read"))


@needs_reference
def test_identify_commands_have_details_and_completions(ref):
    starts = [e for e in of(ref, "cmd_start") if e.opname == "identify"]
    assert len(starts) == 20
    assert all(e.admin and e.sqid == 0 and "cns=" in e.detail for e in starts)
    assert starts[0].cid == 0 and starts[0].detail.startswith("cns=0x1 (Identify Controller)")
    finishes = {(e.sqid, e.cid): e for e in of(ref, "cmd_finish")}
    posts = {(e.sqid, e.cid): e for e in of(ref, "cqe_post")}
    for s in starts:
        assert finishes[(0, s.cid)].status == 0
        assert posts[(0, s.cid)].cqid == 0
    # Identify Namespace names its namespace
    assert any(e.nsid == 1 and "cns=0x0" in e.detail for e in starts)
    # every identify mapped 4096 bytes of data towards the host
    prps = [e for e in of(ref, "map_prp") if (e.sqid, e.cid) in {(0, s.cid) for s in starts}]
    assert len(prps) == 20
    assert all(sum(n for _, n in p.segments) == p.length for p in prps)


@needs_reference
def test_queue_creation_and_deletion(ref):
    created = of(ref, "queue_created")
    assert [(q.qtype, q.qid) for q in created] == [("cq", 1), ("sq", 1)]
    cq, sq = created
    assert (cq.addr, cq.qsize, cq.vector, cq.ien, cq.pc) == (0x1FA50000, 1024, 1, True, True)
    assert (sq.addr, sq.qsize, sq.cqid) == (0x2790000, 1024, 1)
    assert (cq.sqid, cq.cid) == (0, 4098)  # stamped with the Create I/O CQ command
    assert [(q.qtype, q.qid) for q in of(ref, "queue_deleted")] == [("sq", 1), ("cq", 1)]


@needs_reference
def test_io_commands_and_their_dma_direction(ref):
    io = [e for e in of(ref, "cmd_start") if not e.admin]
    assert [(e.opname, e.cid) for e in io] == [
        ("read", 448),
        ("read", 449),
        ("read", 450),
        ("write", 451),
        ("flush", 452),
        ("read", 453),
    ]
    assert io[0].detail == "slba=0x0 nlb=8 block(s), 4096 B"
    assert all(e.sqid == 1 and e.nsid == 1 for e in io)
    by_key = {(e.sqid, e.cid): e.opname for e in io}
    for d in of(ref, "dma_write") + of(ref, "dma_read"):
        name = by_key.get((d.sqid, d.cid))
        if name == "read":
            assert d.kind == "dma_write"  # the device writes the data it read into host memory
        elif name == "write":
            assert d.kind == "dma_read"
    posts = [e for e in of(ref, "cqe_post") if e.sqid == 1]
    assert len(posts) == 6 and all(p.cqid == 1 for p in posts)
    assert [p.slot for p in posts] == [0, 1, 2, 3, 4, 5]
    assert [p.addr for p in posts] == [0x1FA50000 + 16 * i for i in range(6)]


@needs_reference
def test_cq_tail_and_phase_are_tracked_and_the_cqe_bytes_agree(ref):
    admin = [e for e in of(ref, "cqe_post") if e.cqid == 0]
    assert len(admin) == 36
    # AQA.ACQS = 0x1f: 32 entries, so the 33rd completion wraps to slot 0 with phase 0
    assert [p.slot for p in admin[:33]] == list(range(32)) + [0]
    assert [p.phase for p in admin[:33]] == [1] * 32 + [0]
    for p in admin:
        cqe = unpack_cqe(p.data)
        assert (cqe.cid, cqe.sqid, cqe.p, cqe.status, cqe.sqhd, cqe.dw0) == (
            p.cid,
            p.sqid,
            p.phase,
            p.status,
            p.sqhd,
            p.dw0,
        )
    numq = next(e for e in of(ref, "cmd_finish") if e.cid == 4097)
    assert numq.dw0 == 0x3F003F


@needs_reference
def test_errors_get_our_kinds_and_the_status_of_their_completion(ref):
    errs = [e for e in ref.events if e.kind.startswith("err_")]
    assert [e.kind for e in errs] == ["err_invalid_opcode"]
    assert (errs[0].sqid, errs[0].cid, errs[0].status) == (0, 28672, 0x4001)
    fin = next(e for e in of(ref, "cmd_finish") if e.cid == 28672)
    assert (fin.status, fin.sct, fin.sc, fin.dnr, fin.status_name) == (
        0x4001,
        0,
        1,
        True,
        "invalid_opcode",
    )


@needs_reference
def test_time_is_virtual_ns_from_the_first_line_and_order_is_kept(ref):
    assert ref.events[0].ts == 0
    assert [e.seq for e in ref.events] == list(range(len(ref.events)))
    assert all(a.ts <= b.ts for a, b in zip(ref.events, ref.events[1:], strict=False))
    # first doorbell: 1795602943.725866 - 1795602938.689750 = 5.036116 s
    first_db = of(ref, "doorbell_sq")[0]
    assert first_db.ts == 5_036_116_000
    assert ref.config == {"dstrd": 0, "max_io_queues": 64}
    assert ref.info["msix_vectors_used"] == 2 and ref.info["admin_cq_entries"] == 32


@needs_reference
def test_the_config_builds_a_controller_config(ref):
    from nvmescope.emulator.config import ControllerConfig

    cfg = ControllerConfig(**ref.config)
    assert cfg.max_io_queues == 64 and cfg.dstrd == 0


@needs_reference
def test_doorbell_write_and_qemus_doorbell_line_are_one_event(ref):
    dbs = of(ref, "doorbell_sq")
    assert len(dbs) == 43
    assert (dbs[0].sqid, dbs[0].addr, dbs[0].old_tail, dbs[0].new_tail) == (0, 0x1000, 0, 1)
    cqdbs = of(ref, "doorbell_cq")
    assert len(cqdbs) == 42 and cqdbs[0].addr == 0x1004
    # no mmio_write event for doorbell addresses: the doorbell event is the write
    assert all(e.addr < 0x1000 for e in of(ref, "mmio_write"))


@needs_reference
def test_imported_events_round_trip_through_messagepack(ref):
    decoder = msgspec.msgpack.Decoder(list[Union[tuple(ev.EVENT_TYPES.values())]])  # noqa: UP007
    back = decoder.decode(msgspec.msgpack.encode(ref.events))
    assert [ev.to_builtins(e) for e in back] == [ev.to_builtins(e) for e in ref.events]


def test_unknown_trace_points_are_counted_one_warning_per_name():
    lines = [
        "1@10.000000:pci_nvme_mmio_read addr 0x1c size 4",
        "1@10.000001:pci_nvme_brand_new_thing a 1",
        "1@10.000002:pci_nvme_brand_new_thing a 2",
        "1@10.000003:virtio_blk_req_complete req 0x1",
        "",
    ]
    r = import_qemu_trace(lines)
    assert (r.lines.total, r.lines.mapped, r.lines.unknown, r.lines.blank) == (5, 1, 3, 1)
    assert r.warnings == [
        "2 line(s) of unknown trace point pci_nvme_brand_new_thing skipped",
        "1 line(s) of unknown trace point virtio_blk_req_complete skipped",
    ]
    assert len(r.events) == 1


def test_a_line_that_is_not_a_trace_line_is_an_error_naming_it():
    lines = ["1@10.000000:pci_nvme_mmio_read addr 0x1c size 4", "1@10.1:ok", "hello world"]
    with pytest.raises(QemuTraceError) as info:
        import_qemu_trace(lines)
    assert str(info.value).startswith("line 3: ")
    assert "\n" not in str(info.value)


def test_a_known_trace_point_without_its_arguments_is_an_error_naming_the_line():
    with pytest.raises(QemuTraceError, match=r"^line 2: pci_nvme_mmio_write"):
        import_qemu_trace(["1@1.0:pci_nvme_pci_reset x", "1@1.1:pci_nvme_mmio_write addr 0x14"])


def test_a_binary_or_missing_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bin.log"
    bad.write_bytes(b"1@1.0:pci_nvme_pci_reset x\n\xff\xfe\x00garbage\n")
    with pytest.raises(QemuTraceError, match="line 2"):
        import_qemu_trace(bad)
    with pytest.raises(QemuTraceError, match="cannot read"):
        import_qemu_trace(tmp_path / "nope.log")


@pytest.mark.parametrize(
    ("qemu", "ours"),
    [
        ("err_invalid_admin_opc", "err_invalid_opcode"),
        ("err_invalid_create_cq_vector", "err_invalid_vector"),
        ("err_startfail_asq_misaligned", "err_startfail"),
        ("err_mdts", "err_too_large"),
        ("err_something_new", "err_qemu"),
        ("ub_mmiowr_misaligned32", "ub_mmio_misaligned"),
        ("ub_db_wr_invalid_sqtail", "ub_db_invalid_value"),
        ("ub_whatever", "ub_qemu"),
    ],
)
def test_qemu_condition_names_map_to_our_kinds(qemu, ours):
    assert condition_kind(qemu) == ours
    r = import_qemu_trace([f"1@1.0:pci_nvme_{qemu} some words=0x1"])
    assert [e.kind for e in r.events] == [ours]
    if ours.endswith("_qemu"):
        assert r.events[0].detail.startswith(f"pci_nvme_{qemu}:")


def test_an_irq_pin_becomes_intx_and_a_completion_without_start_warns():
    r = import_qemu_trace(
        [
            "1@1.0:pci_nvme_enqueue_req_completion cid 5 cqid 0 dw0 0x0 dw1 0x0 status 0x0",
            "1@1.5:pci_nvme_irq_pin pulsing IRQ pin",
        ]
    )
    assert [e.kind for e in r.events] == ["cmd_finish", "cqe_post", "irq_intx"]
    assert r.events[1].ts == 0 and r.events[2].ts == 500_000_000
    assert any("never started" in w for w in r.warnings)


NAMES = [
    "mmio_read", "mmio_write", "mmio_doorbell_sq", "mmio_doorbell_cq", "admin_cmd", "io_cmd",
    "identify", "get_log", "setfeat", "getfeat", "map_prp", "map_addr", "create_cq",
    "create_sq", "del_sq", "del_cq", "enqueue_req_completion", "irq_msix", "irq_pin",
    "mmio_start_success", "mmio_stopped", "mmio_shutdown_set", "shadow_doorbell_sq",
    "eventidx_cq", "err_invalid_opc", "ub_mmiowr_toosmall", "read", "write", "aer",
    "pci_reset", "mmio_cfg", "setfeat_numq",
]  # fmt: skip
KEYS = [
    "addr", "size", "data", "sqid", "cqid", "cid", "opc", "new_tail", "new_head", "cns",
    "lid", "fid", "trans_len", "len", "prp1", "prp2", "qsize", "vector", "status", "dw0",
    "nsid", "new_shadow_doorbell", "new_eventidx",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(NAMES),
            st.lists(
                st.tuples(
                    st.sampled_from(KEYS),
                    st.one_of(st.integers(0, 2**16), st.integers(-5, 2**70), st.just("'nvm'")),
                    st.booleans(),
                ),
                max_size=8,
            ),
        ),
        max_size=40,
    )
)
def test_any_sequence_of_trace_points_imports_or_fails_with_one_line(items):
    lines = []
    for i, (name, args) in enumerate(items):
        text = " ".join(
            f"{k}={v:#x}" if eq and isinstance(v, int) and v >= 0 else f"{k} {v}"
            for k, v, eq in args
        )
        lines.append(f"77@100.{i:06d}:pci_nvme_{name} {text}")
    try:
        r = import_qemu_trace(lines)
    except QemuTraceError as exc:
        assert "\n" not in str(exc)
        assert str(exc).startswith("line ") or (not lines and "no pci_nvme_*" in str(exc))
        return
    c = r.lines
    assert c.mapped + c.folded + c.unknown + c.blank == c.total == len(lines)
    assert [e.seq for e in r.events] == list(range(len(r.events)))
    msgspec.msgpack.encode(r.events)


def test_out_of_range_numbers_are_a_one_line_error_and_wide_cids_do_not_break_the_cqe():
    with pytest.raises(QemuTraceError, match="^line 1: .*64-bit"):
        import_qemu_trace(["1@1.0:pci_nvme_mmio_read addr 0x1ffffffffffffffffff size 4"])
    r = import_qemu_trace(
        ["1@1.0:pci_nvme_enqueue_req_completion cid 70000 cqid 0 dw0 0x0 dw1 0x0 status 0x0"]
    )
    assert len(r.events[1].data) == 16


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("1@1.0:pci_nvme_mmio_write addr 0x28 data 0x1 size 200000000", "1, 2, 4 or 8 bytes"),
        ("1@1.0:pci_nvme_mmio_read addr 0x28 size 0", "1, 2, 4 or 8 bytes"),
        (
            "1@" + "9" * 26 + ".5:pci_nvme_mmio_read addr 0x1c size 4",
            "(26 digits) s is out of range",
        ),
        ("1@" + "9" * 17 + ".5:pci_nvme_mmio_read addr 0x1c size 4", "s is out of range"),
    ],
    ids=["huge-size", "zero-size", "timestamp-digits", "timestamp-ns-overflow"],
)
def test_a_register_size_or_a_timestamp_no_trace_has_is_refused_at_its_line(line, words):
    with pytest.raises(QemuTraceError) as info:
        import_qemu_trace(["1@0.5:pci_nvme_pci_reset x", line])
    assert str(info.value).startswith("line 2: ") and words in str(info.value)


def test_a_line_longer_than_any_trace_line_is_refused_without_reading_it_whole(tmp_path):
    from nvmescope.trace.qemu_import import MAX_LINE

    log = tmp_path / "long.log"
    word = "A" * (MAX_LINE * 40)  # 2.6 MB in one line
    log.write_text(f"1@1.0:pci_nvme_pci_reset x\n1@1.1:pci_nvme_admin_cmd opname {word}\n")
    with pytest.raises(QemuTraceError, match=f"line 2: longer than {MAX_LINE} bytes"):
        import_qemu_trace(log)


def test_a_long_word_within_a_line_costs_time_in_proportion_to_its_length():
    """The key=value scanner takes a key whole from the start of a word: no backtracking
    into it (before, each position of a long word was tried again: the square of it)."""
    from nvmescope.trace import qemu_import

    assert qemu_import._KV.pattern.startswith("(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*+)")
    r = import_qemu_trace(["1@1.0:pci_nvme_admin_cmd cid 3 sqid 0 opc 0x6 opname " + "A" * 60_000])
    assert "cmd_start" in [e.kind for e in r.events]


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    import os

    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    with pytest.raises(QemuTraceError, match="not a regular file"):
        import_qemu_trace(fifo)


def test_errors_reading_a_file_name_the_file_and_the_line(tmp_path):
    log = tmp_path / "guest.log"
    log.write_text("1@1.0:pci_nvme_pci_reset x\nhello world\n")
    with pytest.raises(QemuTraceError) as info:
        import_qemu_trace(log)
    assert str(info.value).startswith(f"{log}: line 2: not a QEMU trace line")
    assert info.value.path == str(log) and info.value.line_no == 2
    with pytest.raises(QemuTraceError) as info:
        import_qemu_trace(tmp_path / "nope.log")
    assert str(info.value).startswith(f"{tmp_path / 'nope.log'}: cannot read")


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "it is empty"),
        ("\n\n", "it is empty"),
        ("1@1.0:virtio_blk_req_complete req 0x1\n1@1.1:kvm_exit reason 1\n", "2 lines, none"),
    ],
    ids=["empty", "blank", "other-trace-points"],
)
def test_a_log_without_pci_nvme_lines_is_an_error(tmp_path, text, words):
    log = tmp_path / "other.log"
    log.write_text(text)
    with pytest.raises(QemuTraceError) as info:
        import_qemu_trace(log)
    message = str(info.value)
    assert message.startswith(f"{log}: no pci_nvme_* trace lines found") and words in message
    assert "\n" not in message


def test_msix_messages_qemu_did_not_trace_are_unknown_not_zero():
    from nvmescope.events import describe
    from nvmescope.trace.qemu_import import import_qemu_trace

    irqs = [e for e in import_qemu_trace(REFERENCE).events if e.kind == "irq_msix"]
    assert irqs
    assert all(e.address is None and e.data is None for e in irqs)
    text = describe(irqs[0])
    assert "unknown" in text and "0x0" not in text
