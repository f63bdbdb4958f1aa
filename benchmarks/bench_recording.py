"""Recording benchmark: throughput, overhead, size, open, state at an event, step back.

    python benchmarks/bench_recording.py                 # 1,000,000 events (a few minutes)
    python benchmarks/bench_recording.py --events 50000  # a quick run

Two sources of events, and every figure says which it comes from:

- machine: the real Machine running a long admin workload (bring-up, then
  Identify / Get Log Page / Get Features in a loop), with and without a
  Recorder attached. The emulator runs at roughly ten thousand events per
  second, so this part uses ``--machine-events`` (default: the smaller of
  --events and 100,000).
- synthetic: ``trace.recorder.synthetic_admin_events``, the same admin loop
  as events (SQE, doorbell, fetch, PRP, 4 KiB DMA, CQE, MSI-X, handler, CQ
  doorbell), built without the emulator, so that the file-format figures
  are for the full --events count.

Each timing is the median of --runs runs (the sample counts are printed); the
machine part measures CPU time (time.process_time) so that other processes on
the computer do not skew the overhead, the reader figures wall time.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nvmescope.host.driver import LinuxDriver  # noqa: E402
from nvmescope.machine import Machine  # noqa: E402
from nvmescope.trace import Recorder, TraceWriter, open_recording  # noqa: E402
from nvmescope.trace.recorder import synthetic_admin_events  # noqa: E402

TARGETS = {
    "open": 0.5,
    "state_at": 0.050,
    "step_back": 0.016,
    "overhead": 0.30,
}


def admin_loop(drv):
    yield from drv.probe()
    while True:
        yield from drv.identify(1)
        yield from drv.get_log_page(2, 512)
        yield from drv.get_features(7)


def run_machine(n: int, path: Path | None) -> tuple[float, int]:
    """Step a Machine through n events (recording to path if given); (seconds, file bytes)."""
    m = Machine(None, None)
    m.api.spawn(admin_loop(LinuxDriver(m.api)))
    rec = Recorder.attach(m, path) if path is not None else None
    step = m.step
    # CPU time of this process: other work on the machine does not count
    t = time.process_time()
    for _ in range(n):
        step()
    if rec is not None:
        rec.close()
    dt = time.process_time() - t
    return dt, (path.stat().st_size if path is not None else 0)


def fmt_s(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} us"


def verdict(value: float, target: float, label: str | None = None) -> str:
    return f"(target < {label or fmt_s(target)}: {'ok' if value < target else 'MISSED'})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000, help="events in the file-format part")
    ap.add_argument("--machine-events", type=int, default=None, help="events in the machine part")
    ap.add_argument("--runs", type=int, default=3, help="runs per timing (median)")
    ap.add_argument("--samples", type=int, default=20, help="random events for state_at")
    ap.add_argument("--keep", type=Path, default=None, help="write the recordings here")
    args = ap.parse_args()
    n = args.events
    mn = args.machine_events if args.machine_events is not None else min(n, 100_000)
    runs = max(1, args.runs)
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="nvmescope-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1234)

    print(f"nvmescope recording benchmark: medians of {runs} runs")
    print()

    # -- machine: the cost of recording a real run ---------------------------------------
    print(f"[machine] real Machine, admin loop, {mn:,} events (CPU time)")
    plain, recorded, sizes = [], [], []
    for i in range(runs):
        plain.append(run_machine(mn, None)[0])
        dt, size = run_machine(mn, tmp / f"machine-{i}.nvmetrace")
        recorded.append(dt)
        sizes.append(size)
    p, r = statistics.median(plain), statistics.median(recorded)
    overhead = r / p - 1
    print(f"  without recording      {fmt_s(p):>10}   {mn / p:,.0f} events/s")
    print(f"  with recording         {fmt_s(r):>10}   {mn / r:,.0f} events/s")
    print(
        f"  recording overhead     {overhead * 100:9.1f} %   "
        f"{verdict(overhead, TARGETS['overhead'], '30 %')}"
    )
    print(f"  bytes per event        {sizes[0] / mn:10.1f}     ({sizes[0]:,} bytes)")
    print()

    # the machines above leave millions of objects for the cyclic collector: collect them now
    # so that a collection does not land inside a reader timing below
    gc.collect()

    # -- synthetic: the file format at full size --------------------------------------------
    print(f"[synthetic] {n:,} synthetic admin-loop events (no emulator)")
    path = tmp / "synthetic.nvmetrace"
    gen_times, write_times = [], []
    for _ in range(runs):
        t = time.perf_counter()
        for _e in synthetic_admin_events(n):
            pass
        gen_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        with TraceWriter(path) as w:
            append = w.append
            for e in synthetic_admin_events(n):
                append(e)
        write_times.append(time.perf_counter() - t)
    g, wt = statistics.median(gen_times), statistics.median(write_times)
    write_only = max(wt - g, 1e-9)
    size = path.stat().st_size
    print(
        f"  writer throughput      {n / write_only:12,.0f} events/s "
        f"({write_only / n * 1e6:.2f} us/event: encode, compress, fold, checkpoints)"
    )
    print(f"  file size              {size:12,} bytes, {size / n:.1f} bytes/event")

    opens = []
    for _ in range(runs * 3):
        t = time.perf_counter()
        rec = open_recording(path)
        first = list(rec.events(0, 20))
        opens.append(time.perf_counter() - t)
        rec.close()
    o = statistics.median(opens)
    assert len(first) == 20
    print(
        f"  open + first 20 events {fmt_s(o):>10}   {verdict(o, TARGETS['open'])} "
        f"[{len(opens)} samples]"
    )

    rec = open_recording(path)
    length = len(rec)
    rec.close()
    picks = [rng.randrange(1, length) for _ in range(args.samples)]
    cold, back, forward = [], [], []
    for k in picks:
        rec = open_recording(path)  # a fresh reader: nothing cached
        t = time.perf_counter()
        rec.state_at(k)
        cold.append(time.perf_counter() - t)
        for j in range(1, 6):
            t = time.perf_counter()
            rec.state_at(k - j)
            back.append(time.perf_counter() - t)
        t = time.perf_counter()
        rec.state_at(min(k + 1, length - 1))
        forward.append(time.perf_counter() - t)
        rec.close()
    sa, sb, sf = statistics.median(cold), statistics.median(back), statistics.median(forward)
    print(
        f"  state at random event  {fmt_s(sa):>10}   max {fmt_s(max(cold))} "
        f"{verdict(max(cold), TARGETS['state_at'])} [{len(cold)} events, fresh reader each]"
    )
    print(
        f"  step back one event    {fmt_s(sb):>10}   max {fmt_s(max(back))} "
        f"{verdict(max(back), TARGETS['step_back'])} [{len(back)} steps]"
    )
    print(f"  step forward one event {fmt_s(sf):>10}   max {fmt_s(max(forward))}")

    # the real recording too (smaller, but real data)
    mpath = tmp / "machine-0.nvmetrace"
    rec = open_recording(mpath)
    mlen = len(rec)
    ks = [rng.randrange(1, mlen) for _ in range(min(args.samples, 10))]
    rec.close()
    mcold, mback = [], []
    for k in ks:
        rec = open_recording(mpath)
        t = time.perf_counter()
        rec.state_at(k)
        mcold.append(time.perf_counter() - t)
        t = time.perf_counter()
        rec.state_at(k - 1)
        mback.append(time.perf_counter() - t)
        rec.close()
    print()
    print(f"[machine] the real recording ({mlen:,} events)")
    print(
        f"  state at random event  {fmt_s(statistics.median(mcold)):>10}   max {fmt_s(max(mcold))}"
    )
    print(
        f"  step back one event    {fmt_s(statistics.median(mback)):>10}   max {fmt_s(max(mback))}"
    )
    if args.keep is None:
        for f in tmp.iterdir():
            f.unlink()
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
