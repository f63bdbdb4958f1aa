"""Command-line benchmark: whole `nvmescope` processes, as a user starts them.

    python benchmarks/bench_cli.py                       # the whole run (a few minutes)
    python benchmarks/bench_cli.py --record-events 1000000 --runs 3   # quicker
    python benchmarks/bench_cli.py --nvmescope /tmp/venv/bin/nvmescope  # another install

What it prints, each the median of --runs processes (wall time, and CPU time: the
child's user + system time from wait4):

- start-up: ``nvmescope --version`` and ``nvmescope --help``;
- ``nvmescope show FILE --state N`` on an ``io-load`` recording of --show-events events
  (made first with ``nvmescope record --max-events``), for N the first, middle and last
  event;
- memory: ``nvmescope record io-load -p queues=1 -p depth=32`` of each --record-events
  count, once each: the peak resident set (ru_maxrss of that process), its time and the
  file's bytes per event. A recording keeps a bounded set of events and commands in
  memory whatever its length, so the peak should not grow with the count.

The targets of issue 12 are printed beside the figures: start-up under 250 ms,
``show --state`` under 500 ms on one million events, a 10-million-event recording under
300 MiB. Measure from a normal install (``pip install .``, not ``-e``): an editable
install resolves its imports through a finder of its own, which this benchmark says
when it sees it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: io-load events per count at queues=1 depth=32 (a write and its read back), measured
EVENTS_PER_COUNT = 38.8
TARGETS = {"startup": 0.250, "show": 0.500, "record_mib": 300}


def run_process(argv: list[str]) -> tuple[float, float, int, int]:
    """Run ``argv`` to its end with its output thrown away: (wall s, CPU s, peak RSS in
    KiB, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)}: exit {proc.returncode}: {err.strip()[:200]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode


def timed(argv: list[str], runs: int) -> tuple[float, float]:
    """Medians of ``runs`` runs: (wall s, CPU s)."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu, _, _ = run_process(argv)
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def verdict(value: float, target: float) -> str:
    return "meets" if value < target else "MISSES"


def install_kind(exe: str) -> str:
    """'normal' or 'editable', from where that install's nvmescope package lives."""
    python = Path(exe).with_name("python")
    code = "import nvmescope, sys; print(nvmescope.__file__)"
    try:
        out = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=60, cwd="/"
        )  # not from here: a checkout's nvmescope/ would shadow the install
    except OSError:
        return "unknown"
    where = out.stdout.strip()
    return "normal" if "site-packages" in where else f"editable ({where or 'not found'})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--nvmescope",
        default=None,
        help="the nvmescope to run (default: beside this Python, else PATH)",
    )
    ap.add_argument("--runs", type=int, default=5, help="processes per timing (median)")
    ap.add_argument(
        "--show-events", type=int, default=1_000_000, help="events in the show --state recording"
    )
    ap.add_argument(
        "--record-events", type=int, nargs="+", default=[1_000_000, 10_000_000],
        help="io-load recordings to measure the peak memory of (events, about)",
    )  # fmt: skip
    ap.add_argument("--keep", type=Path, default=None, help="write the recordings here")
    args = ap.parse_args()
    if args.runs < 1 or args.show_events < 1 or any(n < 1 for n in args.record_events):
        ap.error("--runs, --show-events and --record-events take positive numbers")
    exe = args.nvmescope or str(Path(sys.executable).with_name("nvmescope"))
    if not Path(exe).exists():
        exe = shutil.which("nvmescope") or ""
    if not exe:
        raise SystemExit("no nvmescope to run: install it (pip install .) or give --nvmescope")
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="nvmescope-bench-cli-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"nvmescope CLI benchmark: {exe} ({install_kind(exe)} install)")
    print(f"  medians of {args.runs} processes; CPU = the child's user + system time\n")

    print("[start-up]")
    for argv in (["--version"], ["--help"]):
        wall, cpu = timed([exe, *argv], args.runs)
        print(
            f"  nvmescope {' '.join(argv):<10s} {wall * 1000:6.0f} ms wall {cpu * 1000:6.0f} ms CPU"
            f"   target < {TARGETS['startup'] * 1000:.0f} ms: {verdict(wall, TARGETS['startup'])}"
        )

    print(f"\n[show --state] on a {args.show_events:,}-event io-load recording")
    rec = workdir / "show.nvmetrace"
    count = int(args.show_events / EVENTS_PER_COUNT) + 100
    run_process([
        exe, "record", "io-load", "-p", f"count={min(count, 300_000)}", "-p", "queues=1",
        "-p", "depth=32", "--max-events", str(args.show_events), "-o", str(rec),
    ])  # fmt: skip
    last = args.show_events - 1
    for n in (0, last // 2, last):
        wall, cpu = timed([exe, "show", str(rec), "--state", str(n)], args.runs)
        print(
            f"  --state {n:<10,d} {wall * 1000:6.0f} ms wall {cpu * 1000:6.0f} ms CPU"
            f"   target < {TARGETS['show'] * 1000:.0f} ms: {verdict(wall, TARGETS['show'])}"
        )

    print("\n[record: peak memory] nvmescope record io-load -p queues=1 -p depth=32")
    for events in args.record_events:
        path = workdir / f"record-{events}.nvmetrace"
        count = min(300_000, max(1, int(events / EVENTS_PER_COUNT) + 1))
        wall, cpu, rss_kib, _ = run_process([
            exe, "record", "io-load", "-p", f"count={count}", "-p", "queues=1", "-p", "depth=32",
            "--max-events", str(events), "-o", str(path),
        ])  # fmt: skip
        size = path.stat().st_size
        mib = rss_kib / 1024
        target = ""
        if events >= 10_000_000:
            target = (
                f"   target < {TARGETS['record_mib']} MiB: {verdict(mib, TARGETS['record_mib'])}"
            )
        print(
            f"  {events:>11,d} events  peak RSS {mib:6.0f} MiB  {wall:6.1f} s wall  "
            f"{cpu:6.1f} s CPU  {size / events:5.1f} B/event{target}"
        )
        if args.keep is None:
            path.unlink()
    if args.keep is None:
        rec.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    main()
