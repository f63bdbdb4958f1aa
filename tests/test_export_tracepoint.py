"""Tracepoint text has the layout Linux's nvme_setup_cmd / nvme_sq / nvme_complete_rq print."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nvmescope import events as ev
from nvmescope.nvme.commands import pack_sqe
from nvmescope.trace.export_tracepoint import decode_cmd, linux_opcode_name, to_tracepoint_text

REFERENCE = (
    Path(__file__).resolve().parents[1] / "reference/linux-6.1-on-qemu-7.2/qemu-trace-pci_nvme.log"
)
SETUP = "    kworker/u2:0-9       [000] ....."
IRQ = "    kworker/u2:0-9       [000] d.h1."
LINE = re.compile(
    r"^ {0,15}\S+-\d+ +\[\d{3}\] \S{5} +\d+\.\d{6}: (nvme_setup_cmd|nvme_sq|nvme_complete_rq): "
    r"nvme\d+: (disk=nvme\d+n\d+, )?qid=\d+, "
)


def command(sqid, cid, sqe, ts, status=0, dw0=0, dw1=0, sqhd=1, tail=1):
    return [
        ev.DoorbellSq(addr=0x1000, old_tail=tail - 1, new_tail=tail, sqid=sqid, ts=ts - 10),
        ev.SqeFetch(slot=0, addr=0x1000, data=sqe, new_head=1, sqid=sqid, cid=cid, ts=ts),
        ev.CmdStart(opcode=sqe[0], opname="x", sqid=sqid, cid=cid, ts=ts),
        ev.CqePost(cqid=sqid, slot=0, addr=0, phase=1, status=status, dw0=dw0, dw1=dw1,
                   sqhd=sqhd, sqid=sqid, cid=cid, ts=ts + 500_000),
    ]  # fmt: skip


def test_identify_prints_exactly_like_the_kernel():
    lines = list(to_tracepoint_text(command(0, 0, pack_sqe(0x06, 0, cdw10=1), 1_234_567_000)))
    assert lines == [
        f"{SETUP}     1.234567: nvme_setup_cmd: nvme0: qid=0, cmdid=0, nsid=0, flags=0x0, "
        "meta=0x0, cmd=(nvme_admin_identify cns=1, ctrlid=0)",
        f"{IRQ}     1.235067: nvme_sq: nvme0: qid=0, head=1, tail=1",
        f"{IRQ}     1.235067: nvme_complete_rq: nvme0: qid=0, cmdid=0, res=0x0, retries=0, "
        "flags=0x0, status=0x0",
    ]


def test_io_commands_name_their_disk_and_decode_slba_and_length():
    sqe = pack_sqe(0x02, 451, nsid=1, cdw10=0x10, cdw11=0x1, cdw12=7 | (0x4000 << 16))
    lines = list(
        to_tracepoint_text(
            command(1, 451, sqe, 2_000_000, status=0x4002, sqhd=4, tail=5), ctrl_id=1
        )
    )
    assert lines[0].endswith(
        "nvme_setup_cmd: nvme1: disk=nvme1n1, qid=1, cmdid=451, nsid=1, flags=0x0, meta=0x0, "
        f"cmd=(nvme_cmd_read slba={0x1_0000_0010}, len=7, ctrl=0x4000, dsmgmt=0, reftag=0)"
    )
    assert lines[1].endswith("nvme_sq: nvme1: disk=nvme1n1, qid=1, head=4, tail=5")
    assert lines[2].endswith(
        "nvme_complete_rq: nvme1: disk=nvme1n1, qid=1, cmdid=451, res=0x0, retries=0, "
        "flags=0x0, status=0x4002"
    )


@pytest.mark.parametrize(
    ("qid", "sqe", "expected"),
    [
        (0, pack_sqe(0x01, 1, cdw10=(1023 << 16) | 1, cdw11=(1 << 16) | 1),
         "nvme_admin_create_sq sqid=1, qsize=1023, sq_flags=0x1, cqid=1"),
        (0, pack_sqe(0x05, 1, cdw10=(1023 << 16) | 1, cdw11=(1 << 16) | 3),
         "nvme_admin_create_cq cqid=1, qsize=1023, cq_flags=0x3, irq_vector=1"),
        (0, pack_sqe(0x00, 1, cdw10=1), "nvme_admin_delete_sq sqid=1"),
        (0, pack_sqe(0x04, 1, cdw10=2), "nvme_admin_delete_cq cqid=2"),
        (0, pack_sqe(0x06, 1, cdw10=(5 << 16) | 3), "nvme_admin_identify cns=3, ctrlid=5"),
        (0, pack_sqe(0x09, 1, cdw10=0x0800_0007, cdw11=0x3F003F),  # Linux reads bit 27
         "nvme_admin_set_features fid=0x7, sv=0x8, cdw11=0x3f003f"),
        (0, pack_sqe(0x0A, 1, cdw10=0x206, cdw11=1),
         "nvme_admin_get_features fid=0x6, sel=0x2, cdw11=0x1"),
        (0, pack_sqe(0x02, 1, cdw10=0x007F_0002),
         "nvme_admin_get_log_page cdw10=02 00 7f 00" + " 00" * 20),
        (0, pack_sqe(0x80, 1, cdw10=0x2 | (1 << 4) | (1 << 9)),
         "nvme_admin_format_nvm lbaf=2, mset=1, pi=0, pil=0, ses=1"),
        (0, pack_sqe(0xC1, 1, cdw10=0xAB), "0xc1 cdw10=ab" + " 00" * 23),
        (1, pack_sqe(0x01, 9, nsid=1, cdw10=8, cdw12=0),
         "nvme_cmd_write slba=8, len=0, ctrl=0x0, dsmgmt=0, reftag=0"),
        (1, pack_sqe(0x09, 9, nsid=1, cdw10=3, cdw11=4), "nvme_cmd_dsm nr=3, attributes=4"),
        (1, pack_sqe(0x00, 9, nsid=1), "nvme_cmd_flush cdw10=" + " ".join(["00"] * 24)),
    ],
)  # fmt: skip
def test_cmd_decoding_per_opcode(qid, sqe, expected):
    assert decode_cmd(qid, sqe) == expected


def test_result_is_dw1_dw0_and_status_is_the_15_bit_field():
    lines = list(
        to_tracepoint_text(
            command(0, 2, pack_sqe(0x09, 2, cdw10=7), 10, status=0x4101, dw0=0x3F003F, dw1=0x1)
        )
    )
    assert lines[-1].endswith("res=0x1003f003f, retries=0, flags=0x0, status=0x4101")


def test_fabrics_opcode_is_named_by_its_type():
    assert linux_opcode_name(0, 0x7F, 0x04) == "nvme_fabrics_type_property_get"
    assert linux_opcode_name(0, 0x7F, 0x09) == "0x9"
    assert decode_cmd(0, pack_sqe(0x7F, 1, nsid=0x04, cdw11=0x1C)).startswith(
        "nvme_fabrics_type_property_get attrib=0, ofst=0x1c"
    )


@settings(max_examples=200, deadline=None)
@example(0, 0x0C, 31, [0] * 6)
@given(
    st.integers(0, 0xFFFF),
    st.integers(0, 255),
    st.integers(0, 0xFFFF),
    st.lists(st.integers(0, 2**32 - 1), min_size=6, max_size=6),
)
def test_any_sqe_gives_one_well_formed_setup_line(qid, opcode, cid, cdws):
    sqe = pack_sqe(opcode, cid, 1, cdw10=cdws[0], cdw11=cdws[1], cdw12=cdws[2], cdw13=cdws[3],
                   cdw14=cdws[4], cdw15=cdws[5])  # fmt: skip
    lines = list(to_tracepoint_text(command(qid, cid, sqe, 1000)))
    if qid == 0 and opcode == 0x0C:  # Linux traces nothing of an AER
        assert lines == []
        return
    assert len(lines) == 3
    assert all(LINE.match(line) for line in lines)
    assert f"cmdid={cid}," in lines[0] and f"qid={qid}," in lines[0]


@pytest.mark.skipif(not REFERENCE.exists(), reason="reference trace not present")
def test_a_qemu_import_gives_a_setup_line_per_command_and_a_completion_per_cqe():
    from nvmescope.trace.qemu_import import import_qemu_trace

    events = import_qemu_trace(REFERENCE).events
    lines = list(to_tracepoint_text(events))
    setups = [line for line in lines if ": nvme_setup_cmd: " in line]
    completes = [line for line in lines if ": nvme_complete_rq: " in line]
    starts = [e for e in events if e.kind == "cmd_start"]
    aers = [e for e in starts if e.admin and e.opcode == 0x0C]
    assert len(aers) == 1  # Linux submits its AER without a request: no setup line
    assert len(setups) == len(starts) - len(aers) == 42
    assert len(completes) == sum(e.kind == "cqe_post" for e in events) == 42
    assert all(LINE.match(line) for line in lines)
    assert not any("nvme_admin_async_event" in line for line in lines)
    # no SQE bytes in a QEMU trace: what QEMU traced is put back in Linux's layout
    assert setups[0].endswith("cmd=(nvme_admin_identify cns=1, ctrlid=0)")
    assert any("disk=nvme0n1, qid=1, cmdid=448" in line for line in setups)


def test_imported_commands_print_in_linux_layout_where_qemu_said_enough():
    from nvmescope.trace.qemu_import import import_qemu_trace

    lines = list(to_tracepoint_text(import_qemu_trace(REFERENCE).events))
    cmds = {
        m.group(1): m.group(2)
        for m in (re.search(r"cmdid=(\d+), .*cmd=\((.*)\)$", line) for line in lines)
        if m is not None
    }
    # each checked against decode_cmd of the SQE Linux 6.1 would have built
    assert cmds["4097"] == decode_cmd(0, pack_sqe(0x09, 4097, cdw10=0x7))
    assert cmds["4098"] == decode_cmd(0, pack_sqe(0x05, 4098, cdw10=(1023 << 16) | 1,
                                                  cdw11=(1 << 16) | 3))  # fmt: skip
    assert cmds["4099"] == decode_cmd(0, pack_sqe(0x01, 4099, cdw10=(1023 << 16) | 1,
                                                  cdw11=(1 << 16) | 1))  # fmt: skip
    assert cmds["32769"] == decode_cmd(0, pack_sqe(0x0A, 32769, cdw10=0x7))
    assert cmds["32770"] == "nvme_admin_delete_sq sqid=1"
    assert cmds["32771"] == "nvme_admin_delete_cq cqid=1"
    assert cmds["452"] == decode_cmd(1, pack_sqe(0x00, 452, nsid=1))  # flush: all zero
    # read: QEMU traces slba and the block count, not CDW12's control bits nor CDW13/14
    assert cmds["449"] == "nvme_cmd_read slba=8, len=7, ctrl=?, dsmgmt=?, reftag=?"
    # get log page: CDW10..13 rebuilt from lid/lsp/rae/len/off; LSI and CDW14/15 unknown
    assert cmds["1"] == (
        "nvme_admin_get_log_page cdw10=05 00 ff 03 00 00 ?? ?? "
        "00 00 00 00 00 00 00 00 ?? ?? ?? ?? ?? ?? ?? ??"
    )


def test_linux_traces_nothing_of_the_async_event_request():
    sqe = pack_sqe(0x0C, 31)
    aer = command(0, 31, sqe, 1000, dw0=0x10002)
    ident = command(0, 2, pack_sqe(0x06, 2, cdw10=1), 2_000_000)
    lines = list(to_tracepoint_text(aer[:3] + ident + aer[3:]))
    assert len(lines) == 3 and all("cmdid=2," in line for line in lines if "cmdid" in line)
    assert [line.split(": ")[1] for line in lines] == [
        "nvme_setup_cmd",
        "nvme_sq",
        "nvme_complete_rq",
    ]


def test_a_machine_run_lines_up_with_its_commands():
    from nvmescope.machine import Machine

    events = Machine(scenario="identify").run()
    lines = list(to_tracepoint_text(events))
    setups = [line for line in lines if ": nvme_setup_cmd: " in line]
    fetches = [e for e in events if e.kind == "sqe_fetch"]
    aers = [e for e in fetches if e.sqid == 0 and e.data[0] == 0x0C]
    assert aers and len(setups) == len(fetches) - len(aers)
    assert "cmd=(nvme_admin_identify cns=1, ctrlid=0)" in setups[0]
    assert all(LINE.match(line) for line in lines)
