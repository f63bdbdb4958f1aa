"""benchmarks/bench_cli.py keeps working: on a small recording it times whole nvmescope
processes (start-up, show --state) and reads a recording process's peak memory.

Nothing here has a time limit: the figures are only checked to be figures, and the
memory figure to come from the recording process (a few tens of MiB at least: the
interpreter and the 64 MiB namespace it writes into), not from the benchmark itself.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "bench_cli.py"


def test_the_cli_benchmark_prints_start_up_show_and_record_memory_figures(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable, str(BENCH), "--runs", "1", "--show-events", "3000",
            "--record-events", "4000", "--keep", str(tmp_path),
        ],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for what in ("--version", "--help"):
        assert re.search(rf"nvmescope {what}\s+\d+ ms wall\s+\d+ ms CPU\s+target < 250 ms", out)
    states = re.findall(r"--state (\d[\d,]*)\s+\d+ ms wall", out)
    assert states == ["0", "1,499", "2,999"]
    rss = re.search(r"4,000 events\s+peak RSS\s+(\d+) MiB.*?(\d+\.\d) B/event", out)
    assert rss is not None, out
    assert int(rss.group(1)) >= 20 and float(rss.group(2)) > 1
    assert (tmp_path / "show.nvmetrace").stat().st_size > 0
    assert (tmp_path / "record-4000.nvmetrace").stat().st_size > 0


def test_the_cli_benchmark_refuses_a_count_that_is_not_positive() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--record-events", "0"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "positive" in proc.stderr
