"""How fast the model runs: events per second for each scenario, and step() overhead.

    python benchmarks/bench_machine.py [--repeat N]

Prints medians over N runs (the machines are shared and noisy: compare ratios,
not single numbers).
"""

from __future__ import annotations

import argparse
import statistics
import time

from nvmescope.host import SCENARIOS
from nvmescope.machine import Machine


def run_once(name: str, by_step: bool) -> tuple[int, float]:
    t0 = time.perf_counter()
    m = Machine(scenario=name)
    if by_step:
        while m.step() is not None:
            pass
    else:
        m.run()
    return len(m.events), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(
        f"{'scenario':12s} {'events':>7s} {'run() ms':>9s} {'ev/s':>9s} {'step() ms':>10s} {'ratio':>6s}"
    )
    for name in sorted(SCENARIOS):
        runs = [run_once(name, False) for _ in range(args.repeat)]
        steps = [run_once(name, True) for _ in range(args.repeat)]
        n = runs[0][0]
        t_run = statistics.median(t for _, t in runs)
        t_step = statistics.median(t for _, t in steps)
        print(
            f"{name:12s} {n:7d} {t_run * 1000:9.1f} {n / t_run:9.0f} {t_step * 1000:10.1f} "
            f"{t_step / t_run:6.2f}"
        )


if __name__ == "__main__":
    main()
