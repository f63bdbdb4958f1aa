"""benchmarks/bench_device.py keeps working: its quick mode runs both works and prints its
tables, and its qtest client drives QEMU's controller where QEMU is installed.

Nothing here has a time limit or checks a speed: the figures are only checked to be
figures (positive rates, events per command in the range the works produce, a phase
split that adds up).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "bench_device.py"
NUMBER = r"[\d,]+(?:\.\d+)?"


def bench(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def number(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.fixture(scope="module")
def quick() -> str:
    return bench("--quick")


def table_rows(out: str) -> dict[tuple[str, str], list[str]]:
    """The [table] section's rows by (work, mode): the columns after them."""
    section = out.split("[table]", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"(bare|io-load)\s+(nvmescope|qemu)\s+(capture on|capture off|recorded|trace on|trace off)\s+(.*)", line)  # fmt: skip
        if m:
            rows[(m.group(1), m.group(3))] = m.group(4).split()
    return rows


def test_quick_mode_says_qemu_is_left_out_and_prints_both_works(quick):
    assert "QEMU: not measured (--no-qemu)" in quick
    rows = table_rows(quick)
    assert set(rows) == {
        (work, mode)
        for work in ("bare", "io-load")
        for mode in ("capture on", "capture off", "recorded")
    }
    for (work, mode), cols in rows.items():
        wall, cpu, events_s, per_cmd, us = (number(c) for c in cols[:5])
        assert wall > 0 and cpu > 0 and events_s > 0 and us > 0
        # bare: 7 device and host events per read, plus the batch's doorbells; io-load:
        # the driver's notes, the data's memory accesses, the MSI-X message and its handler
        low, high = (7, 9) if work == "bare" else (12, 30)
        assert low <= per_cmd <= high, (work, per_cmd)
        assert cols[6] == "MiB"  # peak RSS
        if mode == "recorded":
            assert 5 < number(cols[8]) < 100  # the file's bytes per event
        else:
            assert cols[8] == "-"
        assert cols[-2:] == ["-", "-"]  # no QEMU, no ratios
    assert re.search(r"recording overhead, bare: -?\d+ %", quick)
    assert re.search(r"recording overhead, io-load: -?\d+ %", quick)


def test_quick_mode_splits_each_command_by_phase(quick):
    section = quick.split("per-command CPU cost by phase", 1)[1]
    header = section.splitlines()[1].split()
    assert header == ["work", "fetch", "PRP+DMA", "CQE", "interrupt", "host", "other", "total"]
    for work in ("bare", "io-load"):
        line = next(x for x in section.splitlines() if x.startswith(work + " "))
        values = [number(v) for v in line.split()[1:]]
        *phases, total = values
        assert total > 0
        assert abs(sum(phases) - total) <= 0.01 * total + 0.5
        fetch, prp_dma, cqe, interrupt, host, _other = phases
        assert fetch > 0 and prp_dma > 0 and cqe > 0 and host > 0
        if work == "bare":
            assert interrupt < 0.05 * total  # the bare loop's I/O CQ has interrupts off
        else:
            assert interrupt > 0


@pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86_64 is not installed"
)
@pytest.mark.parametrize("trace", [True, False])
def test_the_qtest_client_runs_the_bare_loop_on_qemus_controller(trace):
    spec = {
        "work": "bare",
        "device": "qemu",
        "mode": "on" if trace else "off",
        "commands": 96,
        "qemu": shutil.which("qemu-system-x86_64"),
    }
    result = json.loads(bench("--child", json.dumps(spec)).strip().splitlines()[-1])
    assert result["commands"] == 96
    assert result["seconds"] > 0 and result["cpu"] > 0
    if trace:
        # QEMU 7.2 traces about 7 pci_nvme_* events per read (io_cmd, read, map_prp,
        # map_addr, rw_cb, rw_complete_cb, enqueue_req_completion) and the doorbells
        assert 6 <= result["events"] / 96 <= 9
    else:
        assert result["events"] == 0
