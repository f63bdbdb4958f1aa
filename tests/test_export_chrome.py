"""The Chrome trace export is valid Trace Event JSON: one slice per command, nested tracks."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from nvmescope import events as ev
from nvmescope.nvme.commands import pack_sqe
from nvmescope.nvme.opcodes import opcode_name
from nvmescope.trace.export_chrome import to_chrome_trace, write_chrome_trace

REFERENCE = (
    Path(__file__).resolve().parents[1] / "reference/linux-6.1-on-qemu-7.2/qemu-trace-pci_nvme.log"
)
PHASES = {"B", "E", "X", "i", "C", "M", "b", "e", "s", "t", "f"}


def validate(trace: dict) -> list[dict]:
    """Check the Trace Event Format rules we rely on; return the events (after a JSON trip).

    Thread slices (B/E) nest per track and keep time order per track. Async slices
    (b/e) carry a cat and an id; each b is closed by exactly one e with the same id,
    cat and name, no earlier than it; an id is never open twice at once.
    Complete slices (X) on one track never overlap partly. Flow events (s/t/f)
    carry a cat and an id, start once, end once, and each sits inside a
    complete slice on its own track (so it binds to it).
    """
    back = json.loads(json.dumps(trace))
    assert isinstance(back["traceEvents"], list)
    stacks: dict[tuple[int, int], list[str]] = {}
    last_ts: dict[tuple[int, int], float] = {}
    open_async: dict[tuple[str, object], tuple[str, float]] = {}
    spans: dict[tuple[int, int], list[tuple[float, float]]] = {}
    flows: list[dict] = []
    for item in back["traceEvents"]:
        ph = item["ph"]
        assert ph in PHASES
        assert isinstance(item["name"], str) and item["name"]
        assert isinstance(item["pid"], int)
        if ph == "M":
            assert item["name"] in ("process_name", "thread_name", "thread_sort_index")
            assert "args" in item
            continue
        assert isinstance(item["ts"], float) and item["ts"] >= 0
        assert isinstance(item["tid"], int)
        if ph in ("s", "t", "f"):
            assert isinstance(item["cat"], str) and item["cat"]
            assert isinstance(item["id"], int)
            assert ph == "s" or item["bp"] == "e"
            flows.append(item)
            continue
        if ph == "X":
            spans.setdefault((item["pid"], item["tid"]), []).append(
                (item["ts"], item["ts"] + item["dur"])
            )
        if ph in ("b", "e"):  # async: matched by (cat, id) and name, not by thread
            assert isinstance(item["cat"], str) and item["cat"]
            assert isinstance(item["id"], (int, str))
            key = (item["cat"], item["id"])
            if ph == "b":
                assert key not in open_async, f"async id opened twice: {item}"
                open_async[key] = (item["name"], item["ts"])
            else:
                assert key in open_async, f"e without b: {item}"
                name, begun = open_async.pop(key)
                assert name == item["name"], f"e names another slice: {item}"
                assert item["ts"] >= begun, f"async slice ends before it begins: {item}"
            continue
        track = (item["pid"], item["tid"])
        assert item["ts"] >= last_ts.get(track, 0.0), f"time goes back on {track}: {item}"
        last_ts[track] = item["ts"]
        if ph == "B":
            stacks.setdefault(track, []).append(item["name"])
        elif ph == "E":
            assert stacks.get(track), f"E without B: {item}"
            assert stacks[track].pop() == item["name"]
        elif ph == "i":
            assert item["s"] in ("t", "p", "g")
        elif ph == "C":
            assert all(isinstance(v, (int, float)) for v in item["args"].values())
        elif ph == "X":
            assert item["dur"] >= 0
    assert all(not s for s in stacks.values()), "every B has an E"
    assert not open_async, f"every b has an e: {sorted(open_async)}"
    for track, track_spans in spans.items():
        for (a0, a1), (b0, b1) in zip(track_spans, track_spans[1:], strict=False):
            assert b0 >= a1 or (b0 >= a0 and b1 <= a1), f"X slices overlap on {track}"
    by_id: dict[tuple[str, int], list[dict]] = {}
    for item in flows:
        by_id.setdefault((item["cat"], item["id"]), []).append(item)
        inside = [
            (a, b) for a, b in spans.get((item["pid"], item["tid"]), []) if a <= item["ts"] < b
        ]
        assert inside, f"flow event binds to no slice: {item}"
    for key, steps in by_id.items():
        steps.sort(key=lambda i: ("s", "t", "f").index(i["ph"]))
        phases = [i["ph"] for i in steps]
        assert phases[0] == "s" and phases[-1] == "f", (key, phases)
        assert phases.count("s") == 1 and phases.count("f") == 1, (key, phases)
        assert len({i["name"] for i in steps}) == 1
    return back["traceEvents"]


def latency_slices(items: list[dict]) -> list[tuple[dict, dict]]:
    """The (b, e) pairs of the doorbell-to-CQE async slices, in the order they begin."""
    ends = {i["id"]: i for i in items if i["ph"] == "e"}
    return [(i, ends[i["id"]]) for i in items if i["ph"] == "b" and i["cat"] == "latency"]


class Run:
    """Hand-built events of a host and device doing commands."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self.tail: dict[int, int] = {}
        self.head: dict[int, int] = {}
        self.cq_tail: dict[int, int] = {}

    def add(self, event: ev.Event, ts: int) -> None:
        event.seq, event.ts = len(self.events), ts
        self.events.append(event)

    def doorbell(self, sqid: int, ts: int, n: int = 1) -> None:
        old = self.tail.get(sqid, 0)
        self.tail[sqid] = old + n
        self.add(
            ev.DoorbellSq(addr=0x1000 + 8 * sqid, old_tail=old, new_tail=old + n, sqid=sqid), ts
        )

    def fetch(self, sqid: int, cid: int, opcode: int, ts: int, nsid: int = 0, **cdw: int) -> None:
        slot = self.head.get(sqid, 0)
        self.head[sqid] = slot + 1
        data = pack_sqe(opcode, cid, nsid, **cdw)
        self.add(
            ev.SqeFetch(slot=slot, addr=0x10000 + 64 * slot, data=data, new_head=slot + 1,
                        sqid=sqid, cid=cid),
            ts,
        )  # fmt: skip
        self.add(
            ev.CmdStart(opcode=opcode, opname=opcode_name(opcode, sqid == 0), nsid=nsid,
                        admin=sqid == 0, sqid=sqid, cid=cid),
            ts,
        )  # fmt: skip

    def complete(self, sqid: int, cid: int, ts: int, status: int = 0, dw0: int = 0) -> None:
        cqid = sqid
        slot = self.cq_tail.get(cqid, 0)
        self.cq_tail[cqid] = slot + 1
        self.add(ev.CmdFinish(opcode=0, opname="x", status=status, dw0=dw0, sqid=sqid, cid=cid), ts)
        self.add(
            ev.CqePost(cqid=cqid, slot=slot, addr=0x20000 + 16 * slot, phase=1, status=status,
                       dw0=dw0, sqhd=self.head.get(sqid, 0), sqid=sqid, cid=cid),
            ts,
        )  # fmt: skip
        self.add(ev.IrqMsix(vector=cqid, sqid=sqid, cid=cid), ts)


def slices(items: list[dict]) -> list[dict]:
    return [i for i in items if i["ph"] == "B"]


def thread_names(items: list[dict]) -> dict[int, str]:
    return {i["tid"]: i["args"]["name"] for i in items if i["name"] == "thread_name"}


def test_one_slice_per_command_named_by_opcode_on_its_queue_track():
    run = Run()
    run.doorbell(0, 1000)
    run.fetch(0, 1, 0x06, 1500, cdw10=1)
    run.complete(0, 1, 9000)
    run.doorbell(1, 10_000)
    run.fetch(1, 7, 0x02, 10_100, nsid=1)
    run.complete(1, 7, 20_000, status=0x4002)
    items = validate(to_chrome_trace(run.events))
    names = thread_names(items)
    b = slices(items)
    assert [(s["name"], names[s["tid"]], s["args"]["cid"]) for s in b] == [
        ("identify", "SQ0 (admin)", 1),
        ("read", "SQ1", 7),
    ]
    assert b[0]["ts"] == 1.5  # microseconds from virtual ns
    ends = [i for i in items if i["ph"] == "E"]
    assert ends[0]["ts"] == 9.0 and ends[0]["args"]["latency_us"] == 8.0
    assert ends[1]["args"]["status"] == "0x4002"
    assert ends[1]["args"]["status_name"] == "invalid_field"
    process = [i for i in items if i["name"] == "process_name"]
    assert process[0]["args"]["name"] == "nvmescope"
    instants = [i["name"] for i in items if i["ph"] == "i"]
    assert instants.count("SQ0 doorbell") == 1
    points = [i["name"] for i in items if i["ph"] == "X"]
    assert points.count("MSI-X 1") == 1  # a point slice, so the command's flow can end on it


def test_overlapping_commands_get_lanes_and_the_depth_counter_follows_them():
    run = Run()
    run.doorbell(1, 100, n=2)
    run.fetch(1, 1, 0x02, 200, nsid=1)
    run.fetch(1, 2, 0x01, 300, nsid=1)
    run.complete(1, 1, 900)
    run.complete(1, 2, 1000)
    items = validate(to_chrome_trace(run.events))
    b = slices(items)
    assert len(b) == 2 and b[0]["tid"] != b[1]["tid"]
    names = thread_names(items)
    assert {names[s["tid"]] for s in b} == {"SQ1", "SQ1 #2"}
    depth = [
        i["args"]["commands"] for i in items if i["ph"] == "C" and i["name"] == "SQ1 outstanding"
    ]
    assert depth == [2, 1, 0]


def test_a_reset_ends_the_slices_of_lost_commands():
    run = Run()
    run.doorbell(1, 100)
    run.fetch(1, 3, 0x02, 200, nsid=1)
    run.add(ev.CtrlState(state="reset", csts_old=1, csts_new=0), 5000)
    items = validate(to_chrome_trace(run.events))
    end = next(i for i in items if i["ph"] == "E")
    assert (
        end["ts"] == 5.0 and end["args"]["outstanding"] is True and "reset" in end["args"]["lost"]
    )
    depth = [i["args"]["commands"] for i in items if i["ph"] == "C"]
    assert depth == [1, 0]


def test_an_unfinished_command_ends_at_the_last_event():
    run = Run()
    run.doorbell(0, 100)
    run.fetch(0, 31, 0x0C, 200)
    run.add(ev.MmioRead(addr=0x1C, size=4, value=1, reg="csts"), 7000)
    trace = to_chrome_trace(run.events)
    items = validate(trace)
    end = next(i for i in items if i["ph"] == "E")
    assert end["name"] == "async_event_request" and end["ts"] == 7.0
    assert not any(i["ph"] == "i" and i["name"] == "mmio_read" for i in items)
    with_reads = validate(to_chrome_trace(run.events, include_reads=True))
    assert any(i["ph"] == "i" and i["name"] == "mmio_read" for i in with_reads)


def test_the_streaming_writer_writes_the_same_events():
    run = Run()
    for cid in range(5):
        run.doorbell(0, cid * 1000 + 1)
        run.fetch(0, cid, 0x06, cid * 1000 + 2, cdw10=1)
        run.complete(0, cid, cid * 1000 + 500)
    buf = io.StringIO()
    n = write_chrome_trace(iter(run.events), buf)
    loaded = json.loads(buf.getvalue())
    assert (
        loaded["traceEvents"] == json.loads(json.dumps(to_chrome_trace(run.events)))["traceEvents"]
    )
    assert n == len(loaded["traceEvents"])
    validate(loaded)


@pytest.mark.skipif(not REFERENCE.exists(), reason="reference trace not present")
def test_a_real_qemu_session_exports_one_slice_per_command():
    from nvmescope.trace.qemu_import import import_qemu_trace

    result = import_qemu_trace(REFERENCE)
    items = validate(to_chrome_trace(result.events))
    starts = [e for e in result.events if e.kind == "cmd_start"]
    b = slices(items)
    assert len(b) == len(starts) == 43
    assert [s["name"] for s in b] == [e.opname for e in starts]
    assert [s["args"]["cid"] for s in b] == [e.cid for e in starts]


def _machine_events(scenario: str) -> list[ev.Event]:
    from nvmescope.machine import Machine

    return Machine(scenario=scenario).run()


def test_an_identify_run_has_one_slice_per_command():
    events = _machine_events("identify")
    items = validate(to_chrome_trace(events))
    fetches = [e for e in events if e.kind == "sqe_fetch"]
    posts = [e for e in events if e.kind == "cqe_post"]
    b = slices(items)
    assert fetches and len(b) == len(fetches)
    ends = [i for i in items if i["ph"] == "E" and "status" in i["args"]]
    assert len(ends) == len(posts)
    assert "identify" in {s["name"] for s in b}


def test_each_command_has_a_doorbell_to_cqe_async_slice_beside_its_service_slice():
    run = Run()
    run.doorbell(1, 1000, n=2)  # two commands published at once: the second one waits
    run.fetch(1, 1, 0x02, 1200, nsid=1)
    run.complete(1, 1, 3000)
    run.fetch(1, 2, 0x01, 3100, nsid=1)
    run.complete(1, 2, 4000)
    items = validate(to_chrome_trace(run.events))
    pairs = latency_slices(items)
    assert [(b["name"], b["args"]["cid"]) for b, _ in pairs] == [("SQ1 read", 1), ("SQ1 write", 2)]
    assert len({b["id"] for b, _ in pairs}) == 2
    (b1, e1), (b2, e2) = pairs
    assert (b1["ts"], e1["ts"], b2["ts"], e2["ts"]) == (1.0, 3.0, 1.0, 4.0)  # from the doorbell
    assert e2["args"]["latency_us"] == 3.0 and e2["args"]["queued_us"] == 2.1
    service = {i["args"]["cid"]: i["ts"] for i in slices(items)}
    assert service == {1: 1.2, 2: 3.1}  # the service slices still start at the fetch


def test_a_command_never_fetched_has_only_its_async_slice_to_the_end():
    run = Run()
    run.add(ev.MmioWrite(addr=0x24, size=4, value=0x70007, reg="aqa", new=0x70007), 10)
    run.add(ev.MmioWrite(addr=0x28, size=8, value=0x10000, reg="asq", new=0x10000), 20)
    run.add(ev.MemWrite(addr=0x10000, data=pack_sqe(0x06, 4, cdw10=1), purpose="sqe"), 90)
    run.doorbell(0, 100)
    run.add(ev.MmioRead(addr=0x1C, size=4, value=1, reg="csts"), 9000)
    items = validate(to_chrome_trace(run.events))
    assert slices(items) == []
    [(b, e)] = latency_slices(items)
    assert b["name"] == "SQ0 identify" and b["args"]["cid"] == 4
    assert b["ts"] == 0.1 and e["ts"] == 9.0 and e["args"]["outstanding"] is True
    assert "never fetched" in e["args"]["lost"]
