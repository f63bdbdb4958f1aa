"""Statistics over an event stream: what ran, how long it took, how full the queues got.

:func:`compute_stats` reads the events once and keeps only counters, one
latency per command and the queue-depth changes, so a million-event recording
is fine. Commands are paired with :class:`nvmescope.trace.commands.CommandTracker`
(SQ doorbell -> SQE fetch -> ``cmd_start`` -> CQE post of the same
``(sqid, cid)`` instance).

- *Latency* of a command: from the SQ tail doorbell that published it to the
  CQE post (what the host waits, before its interrupt handler runs); the
  device service time (SQE fetch -> CQE post) when the doorbell is unknown.
- *Queue depth* of an SQ: commands published by tail doorbells and not yet
  completed. It rises at a doorbell, falls at each CQE post, and drops to
  zero when a reset or an SQ deletion discards what was in flight.
- *Errors*: every ``err_*``/``ub_*`` event by kind, and every completion with
  a status other than Successful Completion, by status name.

:func:`render_stats` draws the numbers for a terminal with rich: tables,
a latency histogram per opcode (bars of block characters) and a sparkline of
each SQ's depth over time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nvmescope.events import ERR_KINDS, UB_KINDS, Event
from nvmescope.nvme.status import status_name
from nvmescope.trace.commands import CC_OFFSET, LOST_CAUSES, LOST_STATES, CommandTracker

#: histogram bucket edges in ns: 1-2-5 steps from 100 ns to 50 s
BUCKET_EDGES: tuple[int, ...] = tuple(m * 10**e for e in range(2, 11) for m in (1, 2, 5))
SPARK = "▁▂▃▄▅▆▇█"
BAR = "█"

#: controller states after which nothing in flight completes (depth drops to 0)
RESET_STATES = LOST_STATES | {"flr", "conventional_reset", "nssr"}


def format_ns(ns: int) -> str:
    """Virtual nanoseconds for people: ``850 ns``, ``12.5 µs``, ``3 ms``, ``1.25 s``."""
    for unit, scale in (("s", 1_000_000_000), ("ms", 1_000_000), ("µs", 1_000)):
        if ns >= scale - scale // 2000:  # 999.6 µs reads as 1 ms, not 1e+03 µs
            value = ns / scale
            return f"{round(value) if value >= 1000 else f'{value:.3g}'} {unit}"
    return f"{ns} ns"


def percentile(sorted_values: list[int], p: float) -> int:
    """Nearest-rank percentile (``p`` in 0..100) of an ascending list; 0 if empty."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def histogram(sorted_values: list[int]) -> list[tuple[int, int, int]]:
    """``(low_ns, high_ns, count)`` buckets (1-2-5 steps) from the lowest to the highest used."""
    if not sorted_values:
        return []
    counts: dict[int, int] = {}
    edges = BUCKET_EDGES
    i = 0
    for value in sorted_values:
        while i + 1 < len(edges) and value >= edges[i + 1]:
            i += 1
        counts[i] = counts.get(i, 0) + 1
    lo, hi = min(counts), max(counts)
    out = []
    for b in range(lo, hi + 1):
        low = 0 if b == 0 else edges[b]
        high = edges[b + 1] if b + 1 < len(edges) else edges[b] * 2
        out.append((low, high, counts.get(b, 0)))
    return out


@dataclass
class OpcodeStats:
    """Numbers for one opcode (by name, e.g. ``identify``, ``read``)."""

    opname: str
    admin: bool
    count: int = 0
    completed: int = 0
    failed: int = 0
    outstanding: int = 0
    #: latency of each completed command, ascending, in ns
    latencies: list[int] = field(default_factory=list)

    @property
    def p50(self) -> int:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> int:
        return percentile(self.latencies, 99)

    @property
    def max(self) -> int:
        return self.latencies[-1] if self.latencies else 0

    @property
    def histogram(self) -> list[tuple[int, int, int]]:
        return histogram(self.latencies)


@dataclass
class Stats:
    events: int = 0
    first_ts: int = 0
    last_ts: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    commands: int = 0
    #: commands that never completed, for any reason (the sum of ``outstanding_by``)
    outstanding: int = 0
    #: commands lost to a controller reset or an SQ deletion
    lost: int = 0
    #: why commands never completed: a ``LOST_CAUSES`` label -> count, most first
    outstanding_by: dict[str, int] = field(default_factory=dict)
    #: opname -> numbers, most frequent first
    opcodes: dict[str, OpcodeStats] = field(default_factory=dict)
    #: sqid -> [(ts, depth)] at every change, in time order
    depth: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    #: err_*/ub_* kind -> count
    conditions: dict[str, int] = field(default_factory=dict)
    #: status name -> count, for completions that did not succeed
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def duration_ns(self) -> int:
        return self.last_ts - self.first_ts

    def max_depth(self, sqid: int) -> int:
        return max((d for _, d in self.depth.get(sqid, [])), default=0)


class _Depth:
    """Outstanding commands per SQ, as the stream goes."""

    def __init__(self, tracker: CommandTracker, series: dict[int, list[tuple[int, int]]]) -> None:
        self.tracker = tracker
        self.now: dict[int, int] = {}
        self.series = series

    def set(self, sqid: int, value: int, ts: int) -> None:
        value = max(0, value)
        if self.now.get(sqid) == value:
            return
        self.now[sqid] = value
        points = self.series.setdefault(sqid, [])
        if points and points[-1][0] == ts:
            points[-1] = (ts, value)
        else:
            points.append((ts, value))

    def feed(self, event: Event) -> None:
        e: Any = event
        kind = event.kind
        if kind == "doorbell_sq" and event.sqid is not None:
            added = self.tracker.published_by(e)
            self.set(event.sqid, self.now.get(event.sqid, 0) + added, event.ts)
        elif kind == "cqe_post" and event.sqid is not None:
            self.set(event.sqid, self.now.get(event.sqid, 0) - 1, event.ts)
        elif (kind == "ctrl_state" and e.state in RESET_STATES) or (
            kind == "mmio_write" and e.addr == CC_OFFSET and e.old & 1 and not e.new & 1
        ):
            for sqid in sorted(self.now):
                self.set(sqid, 0, event.ts)
        elif kind == "queue_deleted" and e.qtype == "sq":
            self.set(e.qid, 0, event.ts)


def compute_stats(events: Iterable[Event]) -> Stats:
    """Counts, latency percentiles and histograms per opcode, queue depth, errors (one pass)."""
    stats = Stats()
    tracker = CommandTracker()
    depth = _Depth(tracker, stats.depth)
    kinds = stats.kinds
    first = True
    for event in events:
        kind = event.kind
        kinds[kind] = kinds.get(kind, 0) + 1
        if first:
            stats.first_ts = event.ts
            first = False
        stats.last_ts = max(stats.last_ts, event.ts)
        stats.events += 1
        if kind.startswith(("err_", "ub_")):
            stats.conditions[kind] = stats.conditions.get(kind, 0) + 1
        depth.feed(event)
        tracker.feed(event)
    commands = tracker.finish()
    per_op: dict[str, OpcodeStats] = {}
    for cmd in commands:
        name = cmd.opname or ("?" if cmd.opcode is None else f"{cmd.opcode:#04x}")
        op = per_op.get(name)
        if op is None:
            op = per_op[name] = OpcodeStats(opname=name, admin=cmd.admin)
        op.count += 1
        stats.commands += 1
        if cmd.outstanding:
            op.outstanding += 1
            stats.outstanding += 1
            if cmd.lost_cause in ("reset", "sq_deleted"):
                stats.lost += 1
            label = LOST_CAUSES.get(cmd.lost_cause, cmd.lost_cause)
            if cmd.lost_cause == "" and cmd.admin and cmd.opcode == 0x0C:
                label = "Asynchronous Event Request(s) waiting for an event (by design)"
            by = stats.outstanding_by
            by[label] = by.get(label, 0) + 1
            continue
        op.completed += 1
        if not cmd.ok:
            op.failed += 1
            assert cmd.status is not None
            sname = status_name((cmd.status >> 8) & 7, cmd.status & 0xFF)
            stats.statuses[sname] = stats.statuses.get(sname, 0) + 1
        latency = cmd.latency_ns if cmd.latency_ns is not None else cmd.service_ns
        if latency is not None:
            op.latencies.append(latency)
    for op in per_op.values():
        op.latencies.sort()
    for name in sorted(per_op, key=lambda n: (-per_op[n].count, n)):
        stats.opcodes[name] = per_op[name]
    stats.kinds = dict(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    stats.conditions = dict(sorted(stats.conditions.items()))
    stats.statuses = dict(sorted(stats.statuses.items()))
    stats.outstanding_by = dict(
        sorted(stats.outstanding_by.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return stats


# -- drawing ---------------------------------------------------------------------------
def sparkline(points: list[tuple[int, int]], start: int, end: int, width: int = 60) -> str:
    """The highest value in each of ``width`` equal slices of [start, end] as block characters.

    ``points`` are ``(ts, value)`` changes of a step function (value 0 before the first).
    """
    if width <= 0:
        return ""
    top = max((v for _, v in points), default=0)
    if top == 0:
        return SPARK[0] * width
    span = max(end - start, 1)
    peaks = [0] * width
    value = 0
    i = 0
    n = len(points)
    for b in range(width):
        lo = start + span * b // width
        hi = start + span * (b + 1) // width
        # the value in force at the start of the slice, then every change inside it
        while i < n and points[i][0] <= lo:
            value = points[i][1]
            i += 1
        peak = value
        j = i
        while j < n and (points[j][0] < hi or (b == width - 1 and points[j][0] <= hi)):
            peak = max(peak, points[j][1])
            j += 1
        peaks[b] = peak
    levels = len(SPARK) - 1
    return "".join(SPARK[0] if p == 0 else SPARK[max(1, round(p / top * levels))] for p in peaks)


def _bar(count: int, top: int, width: int = 30) -> str:
    if count == 0 or top == 0:
        return ""
    return BAR * max(1, round(count / top * width))


def render_stats(stats: Stats, width: int = 60, clock: str = "virtual") -> RenderableType:
    """Tables, latency histograms and queue-depth sparklines for a terminal (rich).
    ``clock`` names the recording's time base (``wall-clock`` for a QEMU guest's)."""
    parts: list[RenderableType] = []
    summary = Text()
    summary.append(f"{stats.events} events", style="bold")
    summary.append(f" over {format_ns(stats.duration_ns)} of {clock} time; ")
    summary.append(f"{stats.commands} commands", style="bold")
    if stats.outstanding:
        why = ", ".join(f"{n} {label}" for label, n in stats.outstanding_by.items())
        summary.append(f" ({stats.outstanding} never completed: {why})", style="yellow")
    parts.append(summary)

    table = Table(title="Commands by opcode", header_style="bold", title_justify="left")
    for name, justify in (
        ("opcode", "left"),
        ("queue", "left"),
        ("count", "right"),
        ("failed", "right"),
        ("p50", "right"),
        ("p99", "right"),
        ("max", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for op in stats.opcodes.values():
        table.add_row(
            op.opname,
            "admin" if op.admin else "I/O",
            str(op.count) + (f" ({op.outstanding} open)" if op.outstanding else ""),
            str(op.failed) if op.failed else "",
            format_ns(op.p50) if op.latencies else "-",
            format_ns(op.p99) if op.latencies else "-",
            format_ns(op.max) if op.latencies else "-",
            style="red" if op.failed else None,
        )
    if not stats.opcodes:
        table.add_row("(no commands)", "", "", "", "", "", "")
    parts.append(table)
    parts.append(
        Text(
            "latency: from the SQ doorbell that published a command to its CQE post",
            style="dim",
        )
    )

    single = [op.opname for op in stats.opcodes.values() if len(op.latencies) == 1]
    for op in stats.opcodes.values():
        buckets = op.histogram
        if len(op.latencies) < 2:
            continue
        hist = Table(
            title=f"{op.opname}: latency histogram ({len(op.latencies)} commands)",
            show_header=False,
            box=None,
            title_justify="left",
            padding=(0, 1),
        )
        hist.add_column(justify="right")
        hist.add_column()
        hist.add_column(justify="right")
        top = max(c for _, _, c in buckets)
        for low, high, count in buckets:
            hist.add_row(
                f"{format_ns(low)} - {format_ns(high)}",
                Text(_bar(count, top), style="cyan"),
                str(count),
            )
        parts.append(hist)
    if single:
        parts.append(
            Text(f"one command each (latency in the table): {', '.join(single)}", style="dim")
        )

    if stats.depth:
        spark = Table(
            title="Queue depth over time (outstanding commands per SQ)",
            header_style="bold",
            title_justify="left",
        )
        spark.add_column("SQ")
        spark.add_column("max", justify="right")
        spark.add_column(f"{format_ns(stats.first_ts)} .. {format_ns(stats.last_ts)}")
        for sqid in sorted(stats.depth):
            line = sparkline(stats.depth[sqid], stats.first_ts, stats.last_ts, width)
            spark.add_row(
                f"SQ{sqid}" + (" (admin)" if sqid == 0 else ""),
                str(stats.max_depth(sqid)),
                Text(line, style="green"),
            )
        parts.append(spark)

    if stats.conditions or stats.statuses:
        errors = Table(title="Errors", header_style="bold", title_justify="left")
        errors.add_column("what")
        errors.add_column("count", justify="right")
        errors.add_column("meaning")
        for kind, n in stats.conditions.items():
            meaning = ERR_KINDS.get(kind) or UB_KINDS.get(kind) or ""
            errors.add_row(
                kind, str(n), meaning, style="red" if kind.startswith("err_") else "yellow"
            )
        for name, n in stats.statuses.items():
            errors.add_row(f"status {name}", str(n), "completions with this status", style="red")
        parts.append(errors)
    else:
        parts.append(
            Text("No errors: no err_*/ub_* events, every completion succeeded.", style="green")
        )
    return Group(*parts)
