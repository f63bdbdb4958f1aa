"""The tracepoint export looks like the real ftrace capture in reference/: header, columns, disk."""

from __future__ import annotations

import re
from pathlib import Path

from nvmescope import events as ev
from nvmescope.machine import Machine
from nvmescope.nvme.commands import pack_sqe
from nvmescope.trace.export_tracepoint import ftrace_header, to_ftrace_text, to_tracepoint_text

CAPTURE = Path(__file__).resolve().parents[1] / "reference/linux-6.1-on-qemu-7.2/tracepoints.txt"
#: TASK-PID, CPU, flags, timestamp: the columns ftrace prints before the event name
COLUMNS = re.compile(r"^( {0,15}\S+-\d+ +)\[(\d{3})\] (\S{5}) +(\d+\.\d{6}): (\w+): ")


def capture_lines() -> list[str]:
    return CAPTURE.read_text().splitlines()


def test_the_header_is_ftrace_s_header_word_for_word():
    real = [line for line in capture_lines() if line.startswith("#")]
    ours = ftrace_header(235)
    assert ours == real


def test_the_whole_export_starts_with_the_header_and_counts_its_entries():
    out = to_ftrace_text(Machine(scenario="identify").run())
    body = [line for line in out if not line.startswith("#")]
    assert out[0] == "# tracer: nop"
    assert f"# entries-in-buffer/entries-written: {len(body)}/{len(body)}   #P:1" in out
    assert out[: len(out) - len(body)] == ftrace_header(len(body))


def _columns(line: str) -> tuple[int, str, str, int]:
    m = COLUMNS.match(line)
    assert m, line
    return len(m.group(1)), m.group(2), m.group(3), line.index(m.group(5))


def test_columns_line_up_with_the_real_capture_for_each_trace_point():
    real = {}
    for line in capture_lines():
        m = COLUMNS.match(line)
        if m and m.group(5).startswith("nvme_") and m.group(1).strip().startswith("kworker/"):
            real.setdefault((m.group(5), ": qid=0," in line), _columns(line))
    events = Machine(scenario="io").run()
    ours = {}
    for line in to_tracepoint_text(events):
        name = COLUMNS.match(line).group(5)
        ours.setdefault((name, ": qid=0," in line), _columns(line))
    assert set(real) <= set(ours)
    for key, value in real.items():
        assert ours[key] == value, key


def test_tasks_and_flags_are_the_capture_s():
    events = Machine(scenario="io").run()
    lines = list(to_tracepoint_text(events))
    admin_setup = next(x for x in lines if "nvme_setup_cmd" in x and ": qid=0," in x)
    io_setup = next(x for x in lines if "nvme_setup_cmd" in x and " qid=1, cmdid" in x)
    io_done = next(x for x in lines if "nvme_complete_rq" in x and " qid=1, cmdid" in x)
    assert admin_setup.startswith("    kworker/u2:0-9       [000] ..... ")
    assert io_setup.startswith("    kworker/0:1H-37      [000] ..... ")
    assert io_done.startswith("    kworker/0:1H-37      [000] d.h1. ")


def _io(nsid: int) -> list[ev.Event]:
    sqe = pack_sqe(0x02, 7, nsid=nsid, cdw10=0, cdw12=0)
    return [
        ev.SqeFetch(slot=0, addr=0x1000, data=sqe, new_head=1, sqid=1, cid=7, ts=1000),
        ev.CqePost(cqid=1, slot=0, addr=0, phase=1, status=0x400B, dw0=0, dw1=0,
                   sqhd=1, sqid=1, cid=7, ts=2000),
    ]  # fmt: skip


def test_an_inactive_nsid_names_no_disk_that_does_not_exist():
    lines = list(to_tracepoint_text(_io(2)))
    assert len(lines) == 3
    assert not any("nvme0n2" in line for line in lines)
    assert "disk=nvme0n1, qid=1, cmdid=7, nsid=2," in lines[0]
    assert all("disk=nvme0n1, qid=1," in line for line in lines)


def test_with_no_active_namespace_there_is_no_disk():
    lines = list(to_tracepoint_text(_io(1), active_nsids=()))
    assert not any("disk=" in line for line in lines)


def test_the_errors_scenario_never_names_nvme0n2():
    lines = list(to_tracepoint_text(Machine(scenario="errors").run()))
    assert any("nsid=2," in line for line in lines)
    assert not any("nvme0n2" in line for line in lines)
