"""The Chrome/Perfetto export shows a command's whole path: host, fetch, PRP, DMA, CQE, interrupt."""

from __future__ import annotations

from functools import cache

from test_export_chrome import REFERENCE, validate

from nvmescope.machine import Machine
from nvmescope.trace.commands import pair_commands
from nvmescope.trace.export_chrome import FLOW_CAT, to_chrome_trace


@cache
def io_run() -> tuple:
    events = tuple(Machine(scenario="io").run())
    return events, tuple(validate(to_chrome_trace(events)))


def track_names(items) -> dict[int, str]:
    return {i["tid"]: i["args"]["name"] for i in items if i["name"] == "thread_name"}


def points(items, tid_name: str) -> list[dict]:
    names = track_names(items)
    return [i for i in items if i["ph"] == "X" and names.get(i["tid"]) == tid_name]


def test_device_steps_are_point_slices_on_the_queue_s_device_track():
    events, items = io_run()
    steps = points(items, "SQ1 device")
    seqs = {i["args"]["seq"] for i in steps}
    for kind in ("sqe_fetch", "map_prp", "dma_read", "dma_write"):
        wanted = {e.seq for e in events if e.kind == kind and e.sqid == 1}
        assert wanted and wanted <= seqs, kind
    dma = next(i for i in steps if i["name"].startswith("DMA read"))
    assert dma["args"]["length"] > 0 and dma["args"]["addr"].startswith("0x")


def test_the_host_track_has_mmio_reads_memory_accesses_and_the_narration():
    events, items = io_run()
    host = points(items, "host")
    names = [i["name"] for i in host]
    assert any(n.startswith("read ") and "csts" in n.lower() for n in names)  # MMIO read
    assert any(n == "write SQE write" or n.startswith("write SQE") for n in names)
    assert any(n.startswith("read CQE") for n in names)
    notes = [i for i in items if i["ph"] == "i" and track_names(items).get(i["tid"]) == "host"]
    host_steps = [e for e in events if e.kind == "host_step"]
    assert len(notes) == len(host_steps) and notes[0]["args"]["note"] == host_steps[0].text


def test_every_completed_command_has_one_flow_doorbell_fetch_cqe_interrupt():
    events, items = io_run()
    names = track_names(items)
    flows: dict[int, list[dict]] = {}
    for i in items:
        if i["ph"] in ("s", "t", "f") and i["cat"] == FLOW_CAT:
            flows.setdefault(i["id"], []).append(i)
    completed = [c for c in pair_commands(events) if c.cqe is not None and c.irq is not None]
    assert len(flows) >= len(completed) > 10
    by_name = {steps[0]["name"]: steps for steps in flows.values()}
    for cmd in completed:
        steps = by_name[f"{cmd.label} path"]
        tracks = [names[i["tid"]] for i in steps]
        assert [i["ph"] for i in steps][0] == "s" and steps[-1]["ph"] == "f"
        assert tracks[0] == "host"  # the doorbell
        assert tracks[1].endswith("device")  # the SQE fetch
        assert tracks[2].startswith("CQ")  # the CQE post
        assert tracks[-1] == "interrupts"
        times = [i["ts"] for i in steps]
        assert times == sorted(times)
    outstanding = [c for c in pair_commands(events) if c.cqe is None and c.fetch is not None]
    for cmd in outstanding:  # the AER: doorbell to fetch, then nothing more happened
        steps = by_name[f"{cmd.label} path"]
        assert [i["ph"] for i in steps] == ["s", "f"]
    write = next(c for c in completed if c.sqid == 1 and c.opname == "write")
    steps = by_name[f"{write.label} path"]
    assert steps[0]["ts"] == events[write.doorbell].ts / 1000
    assert steps[-1]["ts"] == events[write.irq].ts / 1000


def test_a_qemu_import_still_exports_valid_flows_and_unknown_msix_messages():
    from nvmescope.trace.qemu_import import import_qemu_trace

    items = validate(to_chrome_trace(import_qemu_trace(REFERENCE).events))
    msix = [i for i in items if i["ph"] == "X" and i["name"].startswith("MSI-X")]
    assert msix and all(i["args"]["address"] == "unknown" for i in msix)
    assert any(i["ph"] == "s" for i in items)
