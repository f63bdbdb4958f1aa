"""Export events as Chrome Trace Event JSON (opens in ui.perfetto.dev and chrome://tracing).

The layout, in the format's terms (one process, ``nvmescope``):

- a track (``tid``) per submission queue, named ``SQ0 (admin)``, ``SQ1``, ...:
  each command is a ``B``/``E`` slice from its SQE fetch (or ``cmd_start`` when
  the source recorded no fetch) to its CQE post, named by opcode
  (``identify``, ``read``), with ``sqid``, ``cid``, ``opcode``, ``nsid``,
  ``status`` and the doorbell-to-CQE latency as args. Commands of one SQ that
  overlap in time go to extra lanes (``SQ1 #2``) so slices on a track always
  nest, as the format requires. A command that never completes ends at the
  reset that lost it or at the last event, with ``outstanding`` set.
- beside it, per command, an async slice (``b``/``e``, category ``latency``,
  an ``id`` per command) from the SQ tail doorbell that published it to its
  CQE post, named ``SQ1 read``: the host-visible latency, queueing included,
  which the service slice (fetch to CQE) leaves out. Perfetto draws the async
  slices of one name on one track, overlapping ones stacked, so a deep queue
  shows as a tall stack. A command never fetched (the recording ends first)
  has only this slice.
- the SQ tail doorbell as an instant (``i``) on its SQ track; the CQE post as
  a point slice and the CQ head doorbell as an instant on a track per
  completion queue.
- interrupts as point slices on an ``interrupts`` track (an interrupt a fault
  lost, ``fault_irq_dropped``, too: ``lost MSI-X 1``); controller state
  changes, register writes, ``err_*``/``ub_*`` events and what the other faults
  the host armed did (``fault_*``) on a ``controller`` track; the host's arming
  and clearing of faults (``fault``) as instants on the ``host`` track.
- what the host does on a ``host`` track: its MMIO reads and writes (register
  and doorbell accesses), its writes and reads of its own memory (SQEs, data,
  PRP lists, CQEs), its interrupt handler runs, as point slices, and its
  notes (``host_step``, the narration) as instants.
- what the device does for each command on a ``SQn device`` track beside the
  SQ's: the SQE fetch, the PRP walk (``map_prp``) and every DMA, as point
  slices; DMA that belongs to no command (shadow doorbells, event indexes) on
  a ``device DMA`` track.
- flow arrows (``s``, ``t``, ``f``, category ``command``, an ``id`` per
  command): from the doorbell (or shadow-doorbell write) that published a
  command to its SQE fetch, its CQE post and the interrupt that signalled it
  (or the CQE when no interrupt followed), so Perfetto links a command's
  whole path across the tracks.
- a counter (``C``) per SQ: commands outstanding (published by a doorbell and
  not yet completed).

A point slice is a complete event (``X``) one nanosecond long: flow events
bind to the slice that encloses them on their thread (``bp: "e"`` for steps
and ends), and a slice of non-zero length is what encloses them in every
viewer. Flow events are written when the command's events are paired, so a
flow's ``s`` can come after later events in the file; viewers sort by time.

Timestamps are microseconds (floats) of virtual time. Events are produced one
input event at a time (:func:`iter_chrome_events`), so :func:`write_chrome_trace`
streams a million-event recording to a file without holding it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import msgspec

from nvmescope.events import Event, describe
from nvmescope.nvme.status import status_name
from nvmescope.trace.commands import CC_OFFSET, LOST_STATES, Command, CommandTracker

PID = 1
PROCESS_NAME = "nvmescope"
TID_CONTROLLER = 1
TID_INTERRUPTS = 2
TID_HOST = 3
TID_DMA = 4
#: the category of the per-command flow arrows
FLOW_CAT = "command"
#: how long a point slice lasts, in microseconds (one nanosecond)
POINT_US = 0.001
#: doorbell point slices remembered for the flows that start at them
MAX_DOORBELL_POINTS = 4096
#: host events drawn on the host track, and device events on the SQn device track
HOST_POINT_KINDS = frozenset(
    {"mmio_read", "mmio_write", "doorbell_sq", "doorbell_cq", "mem_write", "mem_read", "host_irq"}
)
DEVICE_POINT_KINDS = frozenset(
    {
        "sqe_fetch",
        "prp_list_read",
        "map_prp",
        "sgl_segment_read",
        "map_sgl",
        "dma_read",
        "dma_write",
        "copy_range",
        "copy_write",
    }
)
_FIRST_QUEUE_TID = 10
#: the category of the per-command doorbell-to-CQE async slices
LATENCY_CAT = "latency"

ChromeEvent = dict[str, Any]
_IRQ_LABEL = {
    "irq_msix": "MSI-X",
    "irq_coalesced": "coalesced vector",
    "host_irq": "host handler vector",
}

#: controller states after which nothing in flight completes (depth drops to 0)
RESET_STATES = LOST_STATES | {"flr", "conventional_reset", "nssr"}


def _us(ns: int) -> float:
    return ns / 1000.0


@dataclass
class _Slice:
    cmd: Command
    tid: int
    lane: int
    name: str


@dataclass
class _Latency:
    """A command's doorbell-to-CQE async slice: begun (``b`` written) once it is named."""

    cmd: Command
    id: int
    ts_ns: int
    tid: int
    begun: bool = False
    name: str = ""


@dataclass
class _Flow:
    """One command's flow arrow: its id, name and the waypoint not yet written."""

    id: int
    name: str
    last: tuple[int, float]  # (tid, ts) of the latest waypoint
    started: bool = False


def _point_name(event: Event) -> str:
    e: Any = event
    kind = event.kind
    if kind in ("mmio_read", "mmio_write"):
        reg = e.reg or f"{e.addr:#x}"
        return f"{'read' if kind == 'mmio_read' else 'write'} {reg}"
    if kind == "doorbell_sq":
        return f"SQ{e.sqid} tail doorbell = {e.new_tail}"
    if kind == "doorbell_cq":
        return f"CQ{e.cqid} head doorbell = {e.new_head}"
    if kind in ("mem_write", "mem_read", "dma_read", "dma_write"):
        verb = {"mem_write": "write", "mem_read": "read", "dma_read": "DMA read"}.get(
            kind, "DMA write"
        )
        return f"{verb} {e.purpose}" if e.purpose else verb
    if kind == "host_irq":
        return f"handler vector {e.vector}"
    if kind == "sqe_fetch":
        return "SQE fetch"
    if kind == "map_prp":
        return "PRP walk"
    if kind == "map_sgl":
        return "SGL walk"
    if kind == "prp_list_read":
        return "PRP list read"
    if kind == "sgl_segment_read":
        return "SGL segment read"
    return kind


def _point_args(event: Event) -> dict[str, Any]:
    e: Any = event
    args: dict[str, Any] = {"seq": event.seq, "what": describe(event)}
    for name in ("addr", "length", "slot", "prp1", "prp2"):
        value = getattr(e, name, None)
        if isinstance(value, int):
            args[name] = f"{value:#x}" if name in ("addr", "prp1", "prp2") else value
    if event.sqid is not None:
        args["sqid"] = event.sqid
    if event.cid is not None:
        args["cid"] = event.cid
    return args


class _Exporter:
    def __init__(self, include_reads: bool) -> None:
        self.include_reads = include_reads
        self.out: list[ChromeEvent] = []
        self.tracker = CommandTracker(self._hook)
        self.tids: dict[tuple[str, int, int], int] = {}
        self.next_tid = _FIRST_QUEUE_TID
        self.last_ts: dict[int, float] = {}
        self.lanes: dict[int, list[bool]] = {}  # sqid -> busy flag per lane
        self.open: dict[int, _Slice] = {}  # id(Command) -> slice
        self.depth: dict[int, int] = {}
        self.now = 0
        self.start_detail: dict[int, str] = {}
        self.pending: tuple[_Slice, int, dict[str, Any]] | None = None
        self.latency: dict[int, _Latency] = {}  # id(Command) -> its async slice
        self.next_async_id = 1
        self.flows: dict[int, _Flow] = {}  # id(Command) -> its flow arrow
        self.next_flow_id = 1
        #: (tid, ts) of the point slice written for the event being fed, and of doorbells
        self.point: tuple[int, int, float] | None = None  # (seq, tid, ts)
        self.doorbells: dict[int, tuple[int, float]] = {}  # seq -> (tid, ts)

    # -- tracks --------------------------------------------------------------------
    def tid(self, kind: str, qid: int, lane: int = 0) -> int:
        key = (kind, qid, lane)
        tid = self.tids.get(key)
        if tid is None:
            tid = self.next_tid
            self.next_tid += 1
            self.tids[key] = tid
            if kind == "sq":
                name = f"SQ{qid} (admin)" if qid == 0 else f"SQ{qid}"
                if lane:
                    name += f" #{lane + 1}"
                order = 100 + qid * 200 + lane
            elif kind == "device":
                name = f"SQ{qid} device"
                order = 100 + qid * 200 + 150
            else:
                name = f"CQ{qid} (admin)" if qid == 0 else f"CQ{qid}"
                order = 100 + qid * 200 + 199
            self.meta("thread_name", tid, {"name": name})
            self.meta("thread_sort_index", tid, {"sort_index": order})
        return tid

    def meta(self, name: str, tid: int, args: dict[str, Any]) -> None:
        self.out.append({"name": name, "ph": "M", "pid": PID, "tid": tid, "args": args})

    def put(self, tid: int, ph: str, name: str, ts_ns: int, **extra: Any) -> None:
        ts = max(_us(ts_ns), self.last_ts.get(tid, 0.0))
        self.last_ts[tid] = ts
        item: ChromeEvent = {"name": name, "ph": ph, "ts": ts, "pid": PID, "tid": tid}
        if ph == "i":
            item["s"] = "t"
        item.update(extra)
        self.out.append(item)

    def header(self) -> None:
        self.out.append(
            {
                "name": "process_name",
                "ph": "M",
                "pid": PID,
                "tid": 0,
                "args": {"name": PROCESS_NAME},
            }
        )
        self.meta("thread_name", TID_CONTROLLER, {"name": "controller"})
        self.meta("thread_sort_index", TID_CONTROLLER, {"sort_index": 0})
        self.meta("thread_name", TID_INTERRUPTS, {"name": "interrupts"})
        self.meta("thread_sort_index", TID_INTERRUPTS, {"sort_index": 1})
        self.meta("thread_name", TID_HOST, {"name": "host"})
        self.meta("thread_sort_index", TID_HOST, {"sort_index": 2})
        self.meta("thread_name", TID_DMA, {"name": "device DMA"})
        self.meta("thread_sort_index", TID_DMA, {"sort_index": 3})

    # -- point slices and flow arrows --------------------------------------------------
    def put_point(self, tid: int, name: str, event: Event, args: dict[str, Any]) -> None:
        """A one-nanosecond slice for an event that flows may bind to."""
        ts = max(_us(event.ts), self.last_ts.get(tid, 0.0))
        self.last_ts[tid] = ts + POINT_US
        self.out.append(
            {
                "name": name,
                "ph": "X",
                "ts": ts,
                "dur": POINT_US,
                "pid": PID,
                "tid": tid,
                "args": args,
            }
        )
        self.point = (event.seq, tid, ts)
        if event.kind in ("doorbell_sq", "mem_write"):
            self.doorbells[event.seq] = (tid, ts)
            if len(self.doorbells) > MAX_DOORBELL_POINTS:
                del self.doorbells[next(iter(self.doorbells))]

    def flow_event(self, flow: _Flow, ph: str, at: tuple[int, float]) -> None:
        item: ChromeEvent = {
            "name": flow.name,
            "cat": FLOW_CAT,
            "ph": ph,
            "id": flow.id,
            "ts": at[1],
            "pid": PID,
            "tid": at[0],
        }
        if ph != "s":
            item["bp"] = "e"
        self.out.append(item)

    def flow_to(self, cmd: Command, at: tuple[int, float], last: bool = False) -> None:
        """Carry ``cmd``'s flow arrow to the waypoint ``at`` (its end when ``last``)."""
        flow = self.flows.get(id(cmd))
        if flow is None:
            self.flows[id(cmd)] = flow = _Flow(self.next_flow_id, f"{cmd.label} path", at)
            self.next_flow_id += 1
            if last:
                del self.flows[id(cmd)]
            return
        self.flow_event(flow, "t" if flow.started else "s", flow.last)
        flow.started = True
        flow.last = at
        if last:
            self.flow_event(flow, "f", at)
            del self.flows[id(cmd)]

    def flow_end(self, cmd: Command) -> None:
        """End ``cmd``'s flow at its latest waypoint (no interrupt came)."""
        flow = self.flows.pop(id(cmd), None)
        if flow is not None and flow.started:
            self.flow_event(flow, "f", flow.last)

    def flow_hook(self, cmd: Command, index: int, event: Event) -> None:
        kind = event.kind
        if index == cmd.doorbell and cmd.fetch is not None and id(cmd) not in self.flows:
            start = self.doorbells.get(event.seq)  # tied at the fetch, which comes next
            if start is not None:
                self.flow_to(cmd, start)
            return
        point = self.point if self.point is not None and self.point[0] == event.seq else None
        here = (point[1], point[2]) if point is not None else None
        if kind == "sqe_fetch" and here is not None:
            self.flow_to(cmd, here)
        elif kind == "cqe_post" and here is not None:
            self.flow_to(cmd, here)
            if self.tracker.cq_vector.get(cmd.cqid, -1) is None:  # type: ignore[arg-type]
                self.flow_end(cmd)
        elif kind in ("irq_msix", "irq_intx", "fault_irq_dropped") and here is not None:
            if id(cmd) in self.flows:
                self.flow_to(cmd, here, last=True)

    # -- commands -------------------------------------------------------------------
    def _hook(self, cmd: Command, index: int, event: Event) -> None:
        kind = event.kind
        self.flow_hook(cmd, index, event)
        if kind == "doorbell_sq" and id(cmd) not in self.latency and cmd.cqe is None:
            self.latency[id(cmd)] = _Latency(
                cmd, self.next_async_id, event.ts, self.tid("sq", cmd.sqid)
            )
            self.next_async_id += 1
        if kind == "cmd_start":
            detail = getattr(event, "detail", "")
            if detail:
                self.start_detail[id(cmd)] = detail
        if kind == "cmd_start" and self.pending is not None and self.pending[0].cmd is cmd:
            self.flush_pending()
        if kind in ("sqe_fetch", "cmd_start") and id(cmd) not in self.open:
            if kind == "cmd_start" and cmd.fetch is not None and cmd.fetch != index:
                return  # the slice began at the fetch, which came first
            self.begin(cmd, event)
        elif kind == "cqe_post" and id(cmd) in self.open:
            self.end(cmd, event.ts, None)

    def begin(self, cmd: Command, event: Event) -> None:
        lanes = self.lanes.setdefault(cmd.sqid, [])
        lane = next((i for i, busy in enumerate(lanes) if not busy), len(lanes))
        if lane == len(lanes):
            lanes.append(True)
        else:
            lanes[lane] = True
        tid = self.tid("sq", cmd.sqid, lane)
        name = cmd.opname or "command"
        args: dict[str, Any] = {"sqid": cmd.sqid, "cid": cmd.cid}
        if cmd.opcode is not None:
            args["opcode"] = f"{cmd.opcode:#04x}"
        if cmd.nsid is not None:
            args["nsid"] = cmd.nsid
        if cmd.t_doorbell is not None:
            args["doorbell_us"] = _us(cmd.t_doorbell)
        args["seq"] = event.seq
        sl = _Slice(cmd, tid, lane, name)
        self.open[id(cmd)] = sl
        if cmd.opname:
            self.put(tid, "B", name, event.ts, args=args)
            self.begin_latency(cmd)
        else:
            # a fetch whose SQE bytes were not recorded: the cmd_start right after names it
            self.pending = (sl, event.ts, args)

    def flush_pending(self) -> None:
        if self.pending is None:
            return
        sl, ts, args = self.pending
        self.pending = None
        if sl.cmd.opname:
            sl.name = sl.cmd.opname
            if sl.cmd.opcode is not None:
                args["opcode"] = f"{sl.cmd.opcode:#04x}"
            if sl.cmd.nsid is not None:
                args["nsid"] = sl.cmd.nsid
        self.put(sl.tid, "B", sl.name, ts, args=args)
        self.begin_latency(sl.cmd)

    # -- the doorbell-to-CQE async slices ------------------------------------------------
    def begin_latency(self, cmd: Command) -> None:
        lat = self.latency.get(id(cmd))
        if lat is None or lat.begun:
            return
        lat.begun = True
        lat.name = f"SQ{cmd.sqid} {cmd.opname or 'command'}"
        args: dict[str, Any] = {"sqid": cmd.sqid, "cid": cmd.cid}
        if cmd.opcode is not None:
            args["opcode"] = f"{cmd.opcode:#04x}"
        if cmd.doorbell is not None:
            args["doorbell_seq"] = cmd.doorbell
        self.out.append(
            {
                "name": lat.name,
                "cat": LATENCY_CAT,
                "ph": "b",
                "id": lat.id,
                "ts": _us(lat.ts_ns),
                "pid": PID,
                "tid": lat.tid,
                "args": args,
            }
        )

    def end_latency(self, cmd: Command, ts: int, lost: str | None) -> None:
        lat = self.latency.get(id(cmd))
        if lat is None:
            return
        self.begin_latency(cmd)
        del self.latency[id(cmd)]
        args: dict[str, Any] = {}
        if lost is None and cmd.latency_ns is not None:
            args["latency_us"] = _us(cmd.latency_ns)
            if cmd.t_fetch is not None and cmd.t_doorbell is not None:
                args["queued_us"] = _us(cmd.t_fetch - cmd.t_doorbell)
        else:
            args["outstanding"] = True
            if lost:
                args["lost"] = lost
        self.out.append(
            {
                "name": lat.name,
                "cat": LATENCY_CAT,
                "ph": "e",
                "id": lat.id,
                "ts": _us(max(ts, lat.ts_ns)),
                "pid": PID,
                "tid": lat.tid,
                "args": args,
            }
        )

    def end(self, cmd: Command, ts: int, lost: str | None) -> None:
        if self.pending is not None and self.pending[0].cmd is cmd:
            self.flush_pending()
        sl = self.open.pop(id(cmd))
        self.lanes[cmd.sqid][sl.lane] = False
        args: dict[str, Any] = {}
        detail = self.start_detail.pop(id(cmd), "")
        if cmd.opname and sl.name != cmd.opname:
            args["opname"] = cmd.opname
        if detail:
            args["detail"] = detail
        if lost is None and cmd.status is not None:
            args["status"] = f"{cmd.status:#x}"
            args["status_name"] = status_name((cmd.status >> 8) & 7, cmd.status & 0xFF)
            if cmd.latency_ns is not None:
                args["latency_us"] = _us(cmd.latency_ns)
            if cmd.service_ns is not None:
                args["service_us"] = _us(cmd.service_ns)
        else:
            args["outstanding"] = True
            if lost:
                args["lost"] = lost
        self.put(sl.tid, "E", sl.name, ts, args=args)
        self.end_latency(cmd, ts, lost)

    def count(self, sqid: int, delta: int, ts: int) -> None:
        depth = max(0, self.depth.get(sqid, 0) + delta)
        if depth == self.depth.get(sqid) and delta:
            return
        self.depth[sqid] = depth
        self.put(TID_CONTROLLER, "C", f"SQ{sqid} outstanding", ts, args={"commands": depth})

    # -- one input event ------------------------------------------------------------------
    def feed(self, event: Event) -> None:
        e: Any = event
        kind = event.kind
        self.now = max(self.now, event.ts)
        if self.pending is not None and kind != "cmd_start":
            self.flush_pending()
        self.point = None
        if kind in HOST_POINT_KINDS:
            self.put_point(TID_HOST, _point_name(event), event, _point_args(event))
        elif kind in DEVICE_POINT_KINDS:
            tid = self.tid("device", event.sqid) if event.sqid is not None else TID_DMA
            self.put_point(tid, _point_name(event), event, _point_args(event))
        elif kind == "cqe_post":
            args = {
                "slot": e.slot,
                "phase": e.phase,
                "sqid": event.sqid,
                "cid": event.cid,
                "status": f"{e.status:#x}",
                "seq": event.seq,
            }
            self.put_point(self.tid("cq", e.cqid), "CQE", event, args)
        elif kind in ("irq_msix", "irq_intx", "irq_coalesced", "host_irq"):
            if kind == "irq_intx":
                label = "INTx " + ("assert" if e.asserted else "deassert")
            else:
                label = f"{_IRQ_LABEL[kind]} {e.vector}"
            if kind == "host_irq":
                self.put(TID_INTERRUPTS, "i", label, event.ts, args={"seq": event.seq})
            else:
                args = {"seq": event.seq}
                if kind == "irq_msix":
                    for name in ("address", "data"):
                        value = getattr(e, name)
                        args[name] = "unknown" if value is None else f"{value:#x}"
                self.put_point(TID_INTERRUPTS, label, event, args)
        elif kind == "fault_irq_dropped":
            label = "lost INTx assert" if e.vector is None else f"lost MSI-X {e.vector}"
            args = {"seq": event.seq, "what": describe(event)}
            self.put_point(TID_INTERRUPTS, label, event, args)
        elif kind == "fault":
            name = f"fault {e.action} {'armed' if e.armed else 'cleared'}"
            self.put(
                TID_HOST, "i", name, event.ts, args={"what": describe(event), "seq": event.seq}
            )
        elif kind == "host_step":
            self.put(TID_HOST, "i", e.step or "note", event.ts, args={"note": e.text})
        if kind == "doorbell_sq" and e.sqid is not None:
            added = self.tracker.published_by(e)
            self.put(
                self.tid("sq", e.sqid),
                "i",
                f"SQ{e.sqid} doorbell",
                event.ts,
                args={"old_tail": e.old_tail, "new_tail": e.new_tail, "seq": event.seq},
            )
            self.count(e.sqid, added, event.ts)
        self.tracker.feed(event)
        if kind == "cqe_post":
            if event.sqid is not None:
                self.count(event.sqid, -1, event.ts)
        elif kind == "doorbell_cq":
            self.put(
                self.tid("cq", e.cqid),
                "i",
                f"CQ{e.cqid} doorbell",
                event.ts,
                args={"old_head": e.old_head, "new_head": e.new_head, "seq": event.seq},
            )
        elif kind in ("ctrl_state", "queue_created", "queue_deleted", "mmio_write", "config_write"):
            self.put(
                TID_CONTROLLER,
                "i",
                kind,
                event.ts,
                args={"what": describe(event), "seq": event.seq},
            )
        elif kind in ("mmio_read", "config_read") and self.include_reads:
            self.put(
                TID_CONTROLLER,
                "i",
                kind,
                event.ts,
                args={"what": describe(event), "seq": event.seq},
            )
        elif kind.startswith(("err_", "ub_", "fault_")) and kind != "fault_irq_dropped":
            self.put(
                TID_CONTROLLER,
                "i",
                kind,
                event.ts,
                args={
                    "what": describe(event),
                    "seq": event.seq,
                    "sqid": event.sqid,
                    "cid": event.cid,
                },
            )
        if kind in ("ctrl_state", "queue_deleted", "mmio_write"):
            for key, sl in list(self.open.items()):
                if sl.cmd.lost and key in self.open:
                    self.end(sl.cmd, event.ts, sl.cmd.lost)
            gone: list[int] = []
            if kind == "ctrl_state" and e.state in RESET_STATES:
                gone = list(self.depth)
            elif kind == "queue_deleted" and e.qtype == "sq":
                gone = [e.qid]
            elif kind == "mmio_write" and e.addr == CC_OFFSET and e.old & 1 and not e.new & 1:
                gone = list(self.depth)
            for sqid in sorted(gone):
                if self.depth.get(sqid):
                    self.count(sqid, -self.depth[sqid], event.ts)

    def close(self) -> None:
        self.flush_pending()
        self.tracker.finish()
        for key in list(self.flows):
            flow = self.flows.pop(key)
            if flow.started:
                self.flow_event(flow, "f", flow.last)
        for sl in list(self.open.values()):
            self.end(sl.cmd, self.now, sl.cmd.lost)
        # commands the device never fetched (or never started) have only the async slice
        for lat in list(self.latency.values()):
            self.end_latency(lat.cmd, self.now, lat.cmd.lost)

    def drain(self) -> list[ChromeEvent]:
        out, self.out = self.out, []
        return out


def iter_chrome_events(
    events: Iterable[Event], include_reads: bool = False
) -> Iterator[ChromeEvent]:
    """The Chrome trace events for ``events``, produced as the input is read.

    ``include_reads`` adds an instant for every MMIO and config-space read (a
    polling host makes many).
    """
    exp = _Exporter(include_reads)
    exp.header()
    yield from exp.drain()
    for event in events:
        exp.feed(event)
        if exp.out:
            yield from exp.drain()
    exp.close()
    yield from exp.drain()


def _other_data(source: str) -> dict[str, Any]:
    return {"generator": "nvmescope", "source": source, "time": "virtual"}


def to_chrome_trace(
    events: Iterable[Event], include_reads: bool = False, source: str = ""
) -> dict[str, Any]:
    """The whole trace as one JSON-ready dict (``json.dump`` it to a ``.json`` file)."""
    return {
        "traceEvents": list(iter_chrome_events(events, include_reads)),
        "displayTimeUnit": "ns",
        "otherData": _other_data(source),
    }


def write_chrome_trace(
    events: Iterable[Event], fp: IO[str], include_reads: bool = False, source: str = ""
) -> int:
    """Stream the trace to a text file as JSON; returns how many trace events were written."""
    encode = msgspec.json.Encoder().encode
    fp.write('{"displayTimeUnit":"ns","otherData":')
    fp.write(encode(_other_data(source)).decode())
    fp.write(',"traceEvents":[\n')
    n = 0
    for item in iter_chrome_events(events, include_reads):
        if n:
            fp.write(",\n")
        fp.write(encode(item).decode())
        n += 1
    fp.write("\n]}\n")
    return n
