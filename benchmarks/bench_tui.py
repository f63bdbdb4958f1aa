"""TUI benchmark: a one-million-event recording opened, jumped through, stepped and filtered.

    python benchmarks/bench_tui.py                   # records io-load (about 1M events) once
    python benchmarks/bench_tui.py --file big.nvmetrace
    python benchmarks/bench_tui.py --events 200000   # a quicker run

Figures (wall time, this machine; medians of --runs where a figure is repeated):

- first paint: from spawning ``nvmescope tui FILE`` (the command a user types,
  on a 160x50 pseudo-terminal) until the terminal has been sent the first
  whole screen: the panels with the cursor's moment and the status bar's
  position. One launch before the timed ones writes Python's bytecode cache,
  as a user's first launch does (nothing is timed with the cache cold);
- jump to the last event (``G``) until the screen is redrawn;
- step redraw: ``s`` and ``S`` (200 each, from the middle of the recording):
  the time the app spends on one step, from handling the key to the new frame
  composed (the action, then Textual's layout and compositor passes for that
  frame), median and 95th percentile; and, apart, the wall time of the whole
  round trip through Textual's event loop and frame pacing (Pilot press and
  pause), which is mostly Pilot's own waiting;
- key to screen: ``s`` and ``S`` (100 each) written to the real command's
  pseudo-terminal (160x50 and 80x24) until the status bar of the new position
  has been sent back: what a user waits for, Textual's frame pacing (up to one
  frame at 60 fps) included;
- how fast the machine is today (``sum(range(1_000_000))``), so that figures
  from different days compare;
- each panel's own share of a step (``update_moment``, median and 95th
  percentile, over the 400 steps at 160x50 and one visit of each panel);
- filter: over every event in a worker, until the timeline shows the result, for
  ``kind == "doorbell_sq"`` (a filter of kinds alone: the analysis's index of
  every event's kind answers it) and ``sqid == 1 and cid == 7`` (every event is
  decoded and tested); and while they run, how long a step key takes (the app
  must stay responsive).

The targets are the ones the TUI was built to: first paint under 1 s, jump to
the end under 100 ms, step redraw under 16 ms at the 95th percentile, filter
under 3 s while keys keep working.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"first_paint": 1.0, "jump_end": 0.100, "step_p95": 0.016, "filter": 3.0}
SIZE = (160, 50)

#: the status bar's position, which the first whole screen carries ("ev 0/999999")
FIRST_SCREEN = b"ev 0/"
PAINT_TIMEOUT_S = 60.0


def make_recording(events: int, directory: Path) -> Path:
    """io-load recorded until it has at least ``events`` events (22 per command pair)."""
    from nvmescope.trace import record

    path = directory / f"io-load-{events}.nvmetrace"
    if not path.exists():
        count = max(32, events // 44 + 1)
        t = time.perf_counter()
        summary = record("io-load", path, params={"count": count}, max_events=events)
        print(f"recorded {summary.events} events of io-load in {time.perf_counter() - t:.1f} s")
    return path


def first_paint(path: Path, runs: int) -> list[float]:
    """Seconds from spawning the real command on a 160x50 terminal to its first whole screen."""
    launch(path)  # writes the bytecode cache; not timed
    return [launch(path) for _ in range(runs)]


class Terminal:
    """``nvmescope tui FILE [ARGS]`` on a pseudo-terminal of ``size``, as a user runs it."""

    def __init__(self, path: Path, size: tuple[int, int] = SIZE, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["TERM"] = "xterm-256color"
        command = [sys.executable, "-m", "nvmescope", "tui", str(path), *args]
        self.started = self.seen_at = time.perf_counter()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: nvmescope on the terminal
            try:
                os.chdir(ROOT)
                os.execve(sys.executable, command, env)
            finally:
                os._exit(127)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))

    def wait_for(self, marker: bytes, timeout: float = PAINT_TIMEOUT_S) -> float | None:
        """Seconds until the terminal is sent ``marker`` (None if it never is)."""
        start = time.perf_counter()
        seen = b""
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([self.fd], [], [], 0.005)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 1 << 20)
            except OSError:
                return None
            if not chunk:
                return None
            # keep a tail so a marker split across two reads is still found
            seen = seen[-len(marker) :] + chunk
            if marker in seen:
                self.seen_at = time.perf_counter()
                return self.seen_at - start
        return None

    def drain(self, quiet_s: float = 0.05) -> None:
        """Read what the terminal is sent until it has been quiet for ``quiet_s``."""
        while select.select([self.fd], [], [], quiet_s)[0]:
            try:
                if not os.read(self.fd, 1 << 20):
                    return
            except OSError:
                return

    def close(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


def launch(path: Path) -> float:
    term = Terminal(path)
    try:
        waited = term.wait_for(FIRST_SCREEN)
    finally:
        term.close()
    if waited is None:
        raise SystemExit(f"nvmescope tui {path} drew no whole screen in {PAINT_TIMEOUT_S:.0f} s")
    return term.seen_at - term.started


def key_to_screen(
    path: Path, size: tuple[int, int], at: int, presses: int
) -> dict[str, list[float]]:
    """Seconds from writing ``s`` (then ``S``) to the terminal until the status bar of the
    new position has been sent: what a user waits for a step, Textual's frame pacing
    (up to one frame at 60 fps) and the terminal's pipe included."""
    term = Terminal(path, size, "--at", str(at))
    figures: dict[str, list[float]] = {"s": [], "S": []}
    try:
        if term.wait_for(f"ev {at}/".encode()) is None:
            raise SystemExit(f"nvmescope tui {path} --at {at} drew no screen")
        term.drain(1.0)  # the panels the worker fills after the first screen
        n = at
        for key in ("s", "S"):
            for _ in range(presses):
                n += 1 if key == "s" else -1
                os.write(term.fd, key.encode())
                waited = term.wait_for(f"ev {n}/".encode(), 10.0)
                if waited is None:
                    raise SystemExit(f"no screen for event {n} after {key!r}")
                figures[key].append(waited)
                term.drain(0.03)
    finally:
        term.close()
    return figures


def machine_speed() -> float:
    """Seconds for ``sum(range(1_000_000))``, best of 5: how fast this machine is today, so
    that figures from different days can be compared."""
    import timeit

    return min(timeit.repeat("sum(range(1_000_000))", number=5, repeat=5)) / 5


class FrameClock:
    """Time the app spends composing frames: Textual's screen layout and compositor
    passes (private methods of the pinned Textual version, wrapped for this benchmark)."""

    def __init__(self) -> None:
        from textual.screen import Screen

        self.spent = 0.0
        for name in ("_refresh_layout", "_compositor_refresh"):
            original = getattr(Screen, name)
            setattr(Screen, name, self._timed(original))

    def _timed(self, original):
        def timed(screen, *args, **kwargs):
            t = time.perf_counter()
            try:
                return original(screen, *args, **kwargs)
            finally:
                self.spent += time.perf_counter() - t

        return timed


async def in_app(
    path: Path, runs: int, size: tuple[int, int] = SIZE, steps_only: bool = False
) -> dict[str, list[float]]:
    from nvmescope.trace.filter import compile_filter
    from nvmescope.ui import NvmeScopeApp, open_source
    from nvmescope.ui.marks import Marks

    frames = FRAMES

    source = open_source(path)
    app = NvmeScopeApp(source, marks=Marks())
    figures: dict[str, list[float]] = {"jump_end": [], "step_fwd": [], "step_back": []}
    figures |= {"filter": [], "key_during_filter": [], "idle": [], "trip": []}
    action = [0.0]
    step = app.action_step

    def timed_step(direction: int) -> None:
        t = time.perf_counter()
        step(direction)
        action[0] += time.perf_counter() - t

    app.action_step = timed_step  # type: ignore[method-assign]
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()  # the command view and checks
        await pilot.pause()
        for _ in range(20):
            t = time.perf_counter()
            await pilot.pause()
            figures["idle"].append(time.perf_counter() - t)
        for _ in range(0 if steps_only else runs):
            app.goto(0)
            await pilot.pause()
            frames.spent = 0.0
            t = time.perf_counter()
            app.action_last()
            spent = time.perf_counter() - t
            await pilot.pause()
            figures["jump_end"].append(spent + frames.spent)
        app.goto(len(source) // 2)
        await pilot.pause()
        if not steps_only:
            # every panel once; then the default screen again: queues under the timeline
            for number in (*range(1, 9), 3, 1):
                await pilot.press(str(number))
                await pilot.pause()
            assert app.main.visible_panels() == {"timeline", "registers", "queues", "detail"}
            PANEL_TIMES.clear()
        for key, name in (("s", "step_fwd"), ("S", "step_back")):
            for _ in range(200):
                await pilot.pause()
                frames.spent = action[0] = 0.0
                t = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()
                figures["trip"].append(time.perf_counter() - t)
                figures[name].append(action[0] + frames.spent)
        for expr, name in ((FILTER_KINDS, "filter"), (FILTER_FIELDS, "filter_fields")):
            for _ in range(0 if steps_only else runs):
                await filter_once(app, pilot, expr, name, figures, compile_filter)
    source.close()
    return figures


#: a filter of kinds alone (answered from the index of kinds the analysis builds) and
#: one that tests fields, so that every event is decoded and tested
FILTER_KINDS = 'kind == "doorbell_sq"'
FILTER_FIELDS = "sqid == 1 and cid == 7"


async def filter_once(app, pilot, expr, name, figures, compile_filter) -> None:
    """Filter every event with ``expr``, pressing a step key while the worker runs."""
    app.filter_predicate = None
    app.timeline.set_rows(None)
    await pilot.pause()
    t = time.perf_counter()
    app.apply_filter(expr, compile_filter(expr))
    while app.busy:
        # a step key while the filter runs: until the cursor has moved
        before = app.cursor
        k = time.perf_counter()
        app.simulate_key("s")  # as a terminal would send it (Pilot waits for idle)
        while app.cursor == before and time.perf_counter() - k < 5:
            await asyncio.sleep(0.002)
        figures["key_during_filter"].append(time.perf_counter() - k)
        await asyncio.sleep(0.1)
    await app.workers.wait_for_complete()
    await pilot.pause()
    figures.setdefault(name, []).append(time.perf_counter() - t)
    assert app.timeline.rows is not None and len(app.timeline.rows) > 0


FRAMES = FrameClock()
PANEL_TIMES: dict[str, list[float]] = {}
WIDE_PANELS: dict[str, list[float]] = {}


def time_panels() -> None:
    """Record every panel's ``update_moment`` time under its class name."""
    import nvmescope.ui.widgets as widgets

    for cls in (
        widgets.TimelinePanel,
        widgets.RegistersPanel,
        widgets.QueuesPanel,
        widgets.DetailPanel,
        widgets.MemoryPanel,
        widgets.InterruptsPanel,
        widgets.CommandsPanel,
        widgets.ChecksPanel,
    ):
        original = cls.update_moment

        def timed(panel, moment, original=original, name=cls.__name__):
            t = time.perf_counter()
            original(panel, moment)
            PANEL_TIMES.setdefault(name, []).append(time.perf_counter() - t)

        cls.update_moment = timed


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def verdict(value: float, target: float) -> str:
    return f"(target {ms(target) if target < 1 else f'{target:.1f} s'}: {'ok' if value <= target else 'MISSED'})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="a recording to open (default: record io-load)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--paint-only", action="store_true", help="measure the first paint only")
    args = parser.parse_args()
    path = args.file or make_recording(args.events, Path(tempfile.gettempdir()))
    from nvmescope.trace import open_recording

    with open_recording(path) as rec:
        events = len(rec)
        print(f"{path}: {events} events, {path.stat().st_size / 1e6:.1f} MB")
    print(f"this machine today: sum(range(1_000_000)) takes {ms(machine_speed())}")
    paint = first_paint(path, args.runs)
    if args.paint_only:
        print(
            f"first paint     median {statistics.median(paint):.3f} s over {len(paint)} runs "
            f"(min {min(paint):.3f}, max {max(paint):.3f}) "
            f"{verdict(statistics.median(paint), TARGETS['first_paint'])}"
        )
        return
    time_panels()
    figures = asyncio.run(in_app(path, args.runs))
    idle = statistics.median(figures["idle"])
    print(
        f"first paint     median {statistics.median(paint):.3f} s over {len(paint)} runs "
        f"{verdict(statistics.median(paint), TARGETS['first_paint'])}"
    )
    jump = statistics.median(figures["jump_end"])
    print(
        f"jump to end     median {ms(jump)} over {len(figures['jump_end'])} "
        f"{verdict(jump, TARGETS['jump_end'])}"
    )
    WIDE_PANELS.update(PANEL_TIMES)
    narrow = asyncio.run(in_app(path, args.runs, (80, 24), steps_only=True))
    for size, figs in (("160x50", figures), ("80x24", narrow)):
        for name in ("step_fwd", "step_back"):
            v = figs[name]
            what = "step forward" if name == "step_fwd" else "step back   "
            print(
                f"{what} {size:6s} median {ms(statistics.median(v))}, 95th percentile "
                f"{ms(p95(v))} over {len(v)} {verdict(p95(v), TARGETS['step_p95'])}"
            )
    print("  each panel's share of a step at 160x50 (update_moment):")
    for name, v in sorted(WIDE_PANELS.items()):
        print(f"    {name:16s} median {ms(statistics.median(v))}, 95th percentile {ms(p95(v))}")
    for name, expr in (("filter", FILTER_KINDS), ("filter_fields", FILTER_FIELDS)):
        f = statistics.median(figures[name])
        print(
            f"filter {expr!r:26s} median {f:.2f} s over {len(figures[name])} "
            f"{verdict(f, TARGETS['filter'])}"
        )
    keys = figures["key_during_filter"]
    if keys:
        print(
            f"  a step key while the filter runs: median {ms(statistics.median(keys))}, "
            f"max {ms(max(keys))} over {len(keys)} presses"
        )
    for size in (SIZE, (80, 24)):
        keys = key_to_screen(path, size, events // 2, 100)
        for key, v in keys.items():
            print(
                f"  key {key} to screen on a {size[0]}x{size[1]} pseudo-terminal: median "
                f"{ms(statistics.median(v))}, 95th percentile {ms(p95(v))} over {len(v)}"
            )
    trip = figures["trip"]
    print(
        f"  the whole round trip of a step key through Textual (Pilot press + pause): "
        f"median {ms(statistics.median(trip))}, 95th percentile {ms(p95(trip))}; "
        f"an idle round trip: {ms(idle)}"
    )


if __name__ == "__main__":
    main()
