"""Scenarios of commands that do not end the ordinary way (issue 10): ``abort``,
``reset-under-io`` and ``io-errors``. Each checks every answer against the specification;
``SCENARIOS`` in ``scenarios.py`` registers them.

- ``abort``: on a controller with one parallel unit and 1 ms per I/O command, a Flush
  runs while a Read waits in SQ1; an Abort of the Read completes it with Command Abort
  Requested and itself with Dword 0 bit 0 clear. An Abort of a command already running,
  and one of a command already completed, say "not aborted" (bit 0 set).
- ``reset-under-io``: blocks written, then reads and writes outstanding when the host
  clears CC.EN: CSTS.RDY goes to 0, no completion of the old commands ever reaches
  either CQ, and after a new bring-up the blocks read back as written.
- ``io-errors``: one command for each I/O error (Namespace Not Ready, LBA Out of Range,
  invalid and inactive NSIDs, Capacity Exceeded, a transfer beyond MDTS, Invalid Field,
  Namespace is Write Protected, PRP Offset Invalid, two SGL errors), on a controller
  whose knobs make each possible (thin provisioning, a namespace not ready for a while
  after CC.EN, Namespace Write Protection, SGLs).
"""

from __future__ import annotations

from typing import Any

from nvmescope.nvme import status as st
from nvmescope.nvme.commands import SGL_DATA_BLOCK, SGL_SEGMENT, pack_sgl_descriptor, unpack_cqe

from .driver import ACTION_NS, CSTS_RDY, Completion, LinuxDriver, Task
from .memory import PAGE_SIZE
from .scenarios import (
    SUCCESS,
    Scenario,
    ScenarioRun,
    _by_hand,
    _dptr,
    _io_ready,
    _pattern,
    check,
    compare,
    expect,
    namespace_io_errors,
)

ABORT_REQUESTED = st.ABORT_REQUESTED
#: Namespace Not Ready, Capacity Exceeded, Namespace is Write Protected (SCT 0h)
NS_NOT_READY, CAPACITY_EXCEEDED, NS_WRITE_PROTECTED = (0, 0x82), (0, 0x81), (0, 0x20)
#: Feature 84h, Namespace Write Protection Config: No Write Protect, Write Protect
FID_NS_WRITE_PROTECT, WPS_NONE, WPS_PROTECT = 0x84, 0, 1
FLUSH, WRITE, READ = 0x00, 0x01, 0x02
#: io-errors retries a Namespace Not Ready Read for as long as namespace_not_ready_ns may be
NOT_READY_WAIT_LIMIT_NS = 1000 * 1_000_000_000


def _ms(ns: int) -> str:
    return f"{ns / 1_000_000:g} ms"


def _case(drv: LinuxDriver, name: str, why: str) -> Task:
    yield from drv.say("case", f"{name}: {why}")


# -- abort ---------------------------------------------------------------------------------------
#: one I/O command at a time, each taking 1 ms: a second command waits in its SQ
ABORT_KNOBS: dict[str, Any] = {"parallel_units": 1, "io_latency_ns": 1_000_000}


def abort(drv: LinuxDriver, run: ScenarioRun) -> Task:
    lba = yield from _io_ready(drv, run)
    if not lba:
        return
    api = drv.api
    buf = api.alloc(lba)
    yield from drv.say(
        "abort_setup", "The controller runs one I/O command at a time, 1 ms each (the "
        "scenario's knobs parallel_units=1, io_latency_ns=1000000): send a Flush and a Read "
        "on SQ1 together; the Flush runs, the Read waits in the SQ.",
    )  # fmt: skip
    busy = yield from drv.nvme_flush(1, 1, wait=False, why="keeps the only unit busy for 1 ms")
    held = yield from drv.nvme_read(1, 1, 0, 1, buf, lba, wait=False, why="waits in SQ1")
    yield from drv.say(
        "abort_send", f"Abort the Read (SQID 1, CID {held.cid}) while it is still in SQ1: the "
        "device finds it there, and when it reaches the head of the queue completes it with "
        "Command Abort Requested instead of running it; then the Abort completes.",
    )  # fmt: skip
    comp = yield from drv.abort(1, held.cid, why="the Read still in SQ1")
    # when the Abort's completion arrives, the Read's must be in CQ1 already (handled, or
    # posted and not yet reaped: the host looks at CQ1's next entries without consuming them)
    first = held.cqe is not None or _in_cq(drv, 1, held.cid)
    yield from drv.wait_for(held)
    yield from drv.wait_for(busy)
    yield from expect(drv, run, "Flush that was running", busy, SUCCESS)
    if held.ok and comp.ok and comp.dw0 & 1:
        # nothing waited: the story's one-unit controller is not the one running
        yield from check(
            drv, run, "Read waiting in SQ1 at the Abort", "Abort",
            "the Read still in SQ1 and aborted (Command Abort Requested, Dword 0 bit 0 clear)",
            "the Read ran and succeeded, and the Abort found nothing to abort: either the "
            "device had room to run it at once (this scenario's parallel_units=1 overridden by "
            "a profile or -c, or an SQ1 too small to hold both), or it never aborts a queued "
            "command", False,
        )  # fmt: skip
    else:
        yield from expect(drv, run, "Read aborted in the SQ", held, ABORT_REQUESTED)
        yield from expect(drv, run, "Abort of a queued command", comp, SUCCESS)
        yield from _check_aborted_bit(drv, run, "Abort of a queued command", comp, aborted=True)
        order = first and comp.cqe is not None and held.cqe is not None
        yield from check(
            drv, run, "aborted command completes first", "Abort",
            "Read's CQE before the Abort's", "in that order" if order else "the Abort first",
            order,
        )  # fmt: skip

    running = yield from drv.nvme_flush(1, 1, wait=False, why="runs for 1 ms")
    yield from drv.say(
        "abort_running", f"Let the Flush (CID {running.cid}) start, then abort it: a command "
        "already executing is not aborted here; the Abort says so with Dword 0 bit 0 set.",
    )  # fmt: skip
    yield 100_000  # 100 us: the Flush is fetched and running
    comp = yield from drv.abort(1, running.cid, why="a command already running")
    yield from drv.wait_for(running)
    yield from expect(drv, run, "Abort of a running command", comp, SUCCESS)
    yield from _check_aborted_bit(drv, run, "Abort of a running command", comp, aborted=False)
    yield from expect(drv, run, "the running Flush completes", running, SUCCESS)

    yield from drv.say(
        "abort_completed", f"Abort the Flush with CID {running.cid} again, now that it has "
        "completed: there is nothing to abort.",
    )  # fmt: skip
    comp = yield from drv.abort(1, running.cid, why="a command already completed")
    yield from expect(drv, run, "Abort of a completed command", comp, SUCCESS)
    yield from _check_aborted_bit(drv, run, "Abort of a completed command", comp, aborted=False)
    comp = yield from drv.nvme_read(1, 1, 0, 1, buf, lba, why="SQ1 works after the Aborts")
    yield from expect(drv, run, "Read after the Aborts", comp, SUCCESS)


def _in_cq(drv: LinuxDriver, cqid: int, cid: int) -> bool:
    """A CQE for ``cid`` is posted in CQ ``cqid`` past the host's head (its phase is new)."""
    cq = drv.cqs.get(cqid)
    if cq is None:
        return False
    head, phase = cq.head, cq.phase
    for _ in range(cq.depth):
        cqe = unpack_cqe(drv.api.peek(cq.slot_addr(head), 16))
        if cqe.p != phase:
            return False
        if cqe.cid == cid:
            return True
        head = (head + 1) % cq.depth
        phase ^= head == 0
    return False


def _check_aborted_bit(
    drv: LinuxDriver, run: ScenarioRun, case: str, comp: Completion, aborted: bool
) -> Task:
    """Abort's Dword 0 bit 0: 0 when the command was aborted, 1 when it was not."""
    want = 0 if aborted else 1
    got = comp.dw0 & 1
    yield from check(
        drv, run, f"{case}: Dword 0 bit 0", "Abort", f"bit 0 = {want}",
        f"Dword 0 = {comp.dw0:#x}" if comp.cqe is not None else comp.describe(),
        comp.cqe is not None and got == want,
    )  # fmt: skip


# -- reset-under-io -------------------------------------------------------------------------------
#: 2 ms per I/O command on two units: commands are still running and queued at the reset
RESET_KNOBS: dict[str, Any] = {"parallel_units": 2, "io_latency_ns": 2_000_000}
RESET_BLOCKS = 4
RESET_OUTSTANDING = 6
#: how long the host watches the old queues' memory after the reset (beyond every latency)
RESET_WATCH_NS = 20_000_000


def reset_under_io(drv: LinuxDriver, run: ScenarioRun) -> Task:
    lba = yield from _io_ready(drv, run)
    if not lba:
        return
    api = drv.api
    size = RESET_BLOCKS * lba
    data = _pattern(size, 11)
    wbuf = api.alloc(size)
    api.mem_write(wbuf, data, f"write data, {RESET_BLOCKS} blocks at LBA 0")
    yield ACTION_NS
    comp = yield from drv.nvme_write(1, 1, 0, RESET_BLOCKS, wbuf, size, why="data to keep")
    yield from expect(drv, run, f"Write {RESET_BLOCKS} blocks", comp, SUCCESS)

    # no more than SQ1 holds (CAP.MQES): one more would wait for a completion first
    outstanding = min(RESET_OUTSTANDING, drv.sqs[1].depth - 1)
    yield from drv.say(
        "reset_io", f"Now {outstanding} commands at once on SQ1 (reads of LBA 0 and "
        "writes further on), 2 ms each on two units (the scenario's knobs): two run, the "
        "rest wait in the SQ, when the host resets the controller.",
    )  # fmt: skip
    old: list[Completion] = []
    for k in range(outstanding):
        buf = api.alloc(lba)
        if k % 2:
            api.mem_write(buf, _pattern(lba, 40 + k), "write data")
            yield ACTION_NS
            c = yield from drv.nvme_write(1, 1, 64 + k, 1, buf, lba, wait=False, why="in flight")
        else:
            c = yield from drv.nvme_read(1, 1, 0, 1, buf, lba, wait=False, why="in flight")
        old.append(c)
    rings = [(q.qid, q.addr, q.depth * 16) for q in (drv.cqs[0], drv.cqs[1])]
    before = [api.peek(addr, length) for _, addr, length in rings]
    yield from drv.say(
        "reset_now", "Reset the controller with the commands outstanding: CC.EN = 0, then wait "
        "for CSTS.RDY = 0. The specification: a controller reset deletes every I/O queue and "
        "the commands in them; no completion is posted for them.",
    )  # fmt: skip
    drv.forget_queues()
    ok = yield from drv.nvme_disable_ctrl()
    yield from check(
        drv, run, "CSTS.RDY after CC.EN=0", "CC.EN=0", "CSTS.RDY=0", f"CSTS={drv.csts:#x}",
        bool(ok) and not drv.csts & CSTS_RDY,
    )  # fmt: skip
    yield from drv.say(
        "reset_watch", f"Watch the old admin CQ and CQ1 for {RESET_WATCH_NS // 1_000_000} ms, "
        "longer than any of the commands would have taken.",
    )  # fmt: skip
    yield RESET_WATCH_NS
    after = [api.peek(addr, length) for _, addr, length in rings]
    changed = [f"CQ{q}" for (q, _, _), a, b in zip(rings, before, after, strict=True) if a != b]
    yield from check(
        drv, run, "no CQE after the reset", "the old CQ rings", "unchanged",
        "unchanged" if not changed else f"{', '.join(changed)} written", not changed,
    )  # fmt: skip
    answered = [c.cid for c in old if c.cqe is not None]
    yield from check(
        drv, run, "old commands", f"{len(old)} outstanding at the reset", "none completed",
        "none completed" if not answered else f"CIDs {answered} completed", not answered,
    )  # fmt: skip

    ok = yield from drv.start_ctrl(scan=False)
    yield from check(
        drv, run, "bring-up after the reset", "CC.EN=1, admin and I/O queues again",
        "controller ready", "ready" if ok else drv.dead_reason or "failed", bool(ok),
    )  # fmt: skip
    if not ok:
        return
    rbuf = api.alloc(size)
    comp = yield from drv.nvme_read(1, 1, 0, RESET_BLOCKS, rbuf, size, why="what was written")
    yield from expect(drv, run, f"Read {RESET_BLOCKS} blocks after the reset", comp, SUCCESS)
    yield from compare(drv, run, "blocks written before the reset", rbuf, data)
    comp = yield from drv.nvme_write(1, 1, 8, RESET_BLOCKS, wbuf, size, why="new I/O")
    yield from expect(drv, run, "Write after the reset", comp, SUCCESS)


# -- io-errors ----------------------------------------------------------------------------------
#: a thin namespace of 64 KiB capacity, not ready for 5 ms after CC.EN, with Namespace Write
#: Protection and SGLs
IO_ERRORS_KNOBS: dict[str, Any] = {
    "namespace_capacity_bytes": 64 * 1024,
    "namespace_not_ready_ns": 5_000_000,
    "nwpc": 0x1,
    "sgls": 0x1,
}
#: the reserved SGL descriptor type the io-errors scenario sends
SGL_TYPE_RESERVED = 0x6


def io_errors(drv: LinuxDriver, run: ScenarioRun) -> Task:
    lba = yield from _io_ready(drv, run)
    if not lba:
        return
    api = drv.api
    buf = api.alloc(2 * PAGE_SIZE)

    def case(name: str, why: str) -> Task:
        return _case(drv, name, why)

    yield from case(
        "Namespace Not Ready", "Read 1 block right after the bring-up. This controller's "
        "namespace comes up some time after CC.EN (the knob namespace_not_ready_ns), as a drive "
        "still loading its mapping tables: Namespace Not Ready with DNR clear, a status that "
        "says the command may succeed later (Linux retries it).",
    )  # fmt: skip
    comp = yield from drv.nvme_read(1, 1, 0, 1, buf, lba, why="too early")
    yield from expect(drv, run, "Namespace Not Ready", comp, NS_NOT_READY)
    dnr = comp.cqe.dnr if comp.cqe is not None else None
    yield from check(
        drv, run, "Namespace Not Ready: DNR", "the Read", "DNR=0", f"DNR={dnr}", dnr == 0
    )
    # the scenario's knob makes it 5 ms; a longer namespace_not_ready_ns is waited out
    # by waits that double, up to what the knob may be (1000 s: 18 retries at most)
    wait = IO_ERRORS_KNOBS["namespace_not_ready_ns"]
    waited = 0
    while True:
        yield from drv.say("retry", f"Wait {_ms(wait)} and send the Read again.")
        yield wait
        waited += wait
        comp = yield from drv.nvme_read(1, 1, 0, 1, buf, lba, why="the retry")
        not_ready = comp.cqe is not None and (comp.sct, comp.sc) == NS_NOT_READY
        if not not_ready or waited >= NOT_READY_WAIT_LIMIT_NS:
            break
        wait *= 2
    yield from expect(drv, run, "Read retried later", comp, SUCCESS)

    yield from namespace_io_errors(drv, run, case)
    yield from _write_protected(drv, run, lba, buf)
    yield from _capacity_exceeded(drv, run, lba)

    if not drv._id_field("mdts"):
        yield from drv.say(
            "no_mdts", "Identify MDTS is 0: no limit on a transfer, so none is too large "
            "(the default knob mdts=7 sets one). Skipped.",
        )  # fmt: skip
    else:
        yield from _beyond_mdts(drv, run, lba)

    yield from case(
        "invalid field", "Read 1 block with PSDT 11b in CDW0, a value the specification "
        "reserves: Invalid Field in Command.",
    )  # fmt: skip
    comp = yield from _by_hand(drv, READ, 0, 1, buf, 0, "PSDT 11b", psdt=3)
    yield from expect(drv, run, "reserved PSDT", comp, st.INVALID_FIELD)

    yield from case(
        "PRP offset invalid", f"Read 1 block into {buf + 2:#x}: PRP1 must be dword aligned "
        "(bits 1:0 zero); 2 bytes in it is not.",
    )  # fmt: skip
    comp = yield from _by_hand(drv, READ, 0, 1, buf + 2, 0, "PRP1 not dword aligned")
    yield from expect(drv, run, "PRP1 not dword aligned", comp, st.PRP_OFFSET_INVALID)

    yield from _sgl_errors(drv, run, lba, buf)


def _beyond_mdts(drv: LinuxDriver, run: ScenarioRun, lba: int) -> Task:
    api = drv.api
    limit = drv.max_transfer
    nlb = limit // lba + 1
    yield from _case(
        drv, "transfer larger than MDTS", f"Read {nlb} blocks ({nlb * lba} bytes) in one command, "
        f"more than the {limit} bytes MDTS allows (Linux would split it): Invalid Field in "
        "Command.",
    )  # fmt: skip
    big = api.alloc(nlb * lba)
    comp = yield from drv.submit(
        1, READ, nsid=1, cdw12=nlb - 1, buf=big, data_len=nlb * lba, why="beyond MDTS"
    )
    yield from expect(drv, run, "transfer larger than MDTS", comp, st.INVALID_FIELD)
    api.free(big)


def _capacity_exceeded(drv: LinuxDriver, run: ScenarioRun, lba: int) -> Task:
    api = drv.api
    comp = yield from drv.identify(0x00, nsid=1, why="NCAP and NUSE as of now")
    yield from expect(drv, run, "Identify Namespace", comp, SUCCESS)
    data = comp.data or bytes(24)
    nsze, ncap, nuse = (int.from_bytes(data[i : i + 8], "little") for i in (0, 8, 16))
    if not ncap or ncap >= nsze:
        yield from drv.say(
            "no_thin", f"NCAP = NSZE = {nsze}: namespace 1 is not thin provisioned, so no "
            "write can exceed its capacity (the scenario's knob namespace_capacity_bytes makes "
            "it so). Skipped.",
        )  # fmt: skip
        return
    # one block in each 4 KiB page past what is used: NCAP's worth of pages, plus one
    per_page = max(1, PAGE_SIZE // lba)
    pages = -(-ncap // per_page)
    yield from _case(
        drv, "capacity exceeded", f"Identify Namespace: NSZE {nsze}, NCAP {ncap}, NUSE "
        f"{nuse} blocks, NSFEAT bit 0 (thin provisioning). The device allocates its blocks in "
        f"4 KiB pages when first written: write one block into each of {pages} pages (NCAP's "
        "worth), then one more page, which would take the namespace past NCAP: Capacity "
        "Exceeded.",
    )  # fmt: skip
    wbuf = api.alloc(lba)
    api.mem_write(wbuf, _pattern(lba, 21), "write data")
    yield ACTION_NS
    failed: Completion | None = None
    used = -(-nuse // per_page)
    base = nsze // 2 // per_page * per_page  # pages nothing else wrote
    for page in range(pages - used):
        comp = yield from drv.nvme_write(1, 1, base + page * per_page, 1, wbuf, lba, why="a page")
        if not comp.ok:
            failed = comp
            break
    yield from check(
        drv, run, "writes within NCAP", "Write", "each Successful Completion",
        "all succeeded" if failed is None else failed.describe(), failed is None,
    )  # fmt: skip
    comp = yield from drv.nvme_write(
        1, 1, base + (pages - used) * per_page, 1, wbuf, lba, why="one page more than NCAP"
    )
    yield from expect(drv, run, "capacity exceeded", comp, CAPACITY_EXCEEDED)


def _write_protected(drv: LinuxDriver, run: ScenarioRun, lba: int, buf: int) -> Task:
    if not drv._id_field("nwpc") & 0x1:
        yield from drv.say(
            "no_nwpc", "Identify NWPC bit 0 is clear: no Namespace Write Protection (the "
            "scenario's knob nwpc=1 offers it). Skipped.",
        )  # fmt: skip
        return
    yield from _case(
        drv, "write-protected namespace", "Set Features 84h (Namespace Write Protection "
        "Config) for NSID 1 with WPS 001b, Write Protect; then a Write to it: Namespace is "
        "Write Protected. Reads still work; WPS 000b lifts the protection.",
    )  # fmt: skip
    comp = yield from drv.submit(
        0, 0x09, nsid=1, cdw10=FID_NS_WRITE_PROTECT, cdw11=WPS_PROTECT, why="Write Protect"
    )
    yield from expect(drv, run, "Set Features 84h: Write Protect", comp, SUCCESS)
    comp = yield from drv.nvme_write(1, 1, 0, 1, buf, lba, why="to a protected namespace")
    yield from expect(drv, run, "write to a write-protected namespace", comp, NS_WRITE_PROTECTED)
    comp = yield from drv.nvme_read(1, 1, 0, 1, buf, lba, why="reads are allowed")
    yield from expect(drv, run, "read of a write-protected namespace", comp, SUCCESS)
    comp = yield from drv.submit(
        0, 0x09, nsid=1, cdw10=FID_NS_WRITE_PROTECT, cdw11=WPS_NONE, why="No Write Protect"
    )
    yield from expect(drv, run, "Set Features 84h: No Write Protect", comp, SUCCESS)
    comp = yield from drv.nvme_write(1, 1, 0, 1, buf, lba, why="no longer protected")
    yield from expect(drv, run, "write after the protection is lifted", comp, SUCCESS)


def _sgl_errors(drv: LinuxDriver, run: ScenarioRun, lba: int, buf: int) -> Task:
    if not drv._id_field("sgls") & 0x3:
        yield from drv.say(
            "no_sgls", "Identify SGLS bits 1:0 are 00b: no SGLs (the scenario's knob sgls=1 "
            "offers them; the sgl scenario shows the refusal). Skipped.",
        )  # fmt: skip
        return
    api = drv.api
    yield from _case(
        drv, "SGL descriptor type invalid", f"Read 1 block whose SGL Descriptor 1 has type "
        f"{SGL_TYPE_RESERVED:X}h, a type the specification reserves: SGL Descriptor Type "
        "Invalid. (The sgl scenario shows the length and count errors.)",
    )  # fmt: skip
    sgl1 = pack_sgl_descriptor(SGL_TYPE_RESERVED, buf, lba)
    comp = yield from _by_hand(drv, READ, 0, 1, *_dptr(sgl1), "a reserved type", psdt=1)
    yield from expect(drv, run, "SGL descriptor type invalid", comp, st.SGL_DESCRIPTOR_TYPE_INVALID)
    segment = api.alloc(PAGE_SIZE)
    api.mem_write(segment, pack_sgl_descriptor(SGL_DATA_BLOCK, buf, lba) * 2, "SGL segment")
    yield ACTION_NS
    yield from _case(
        drv, "invalid SGL segment descriptor", "Read 1 block through a Segment descriptor "
        "of 24 bytes: a segment holds whole 16-byte descriptors, so its length must be a "
        "multiple of 16: Invalid SGL Segment Descriptor.",
    )  # fmt: skip
    sgl1 = pack_sgl_descriptor(SGL_SEGMENT, segment, 24)
    comp = yield from _by_hand(drv, READ, 0, 1, *_dptr(sgl1), "a 24-byte segment", psdt=1)
    yield from expect(
        drv, run, "invalid SGL segment descriptor", comp, st.INVALID_SGL_SEGMENT_DESCRIPTOR
    )


ABORT = Scenario(
    "abort",
    "Abort a command still in its SQ, one running and one completed.",
    "On a controller that runs one I/O command at a time, 1 ms each (knobs parallel_units=1, "
    "io_latency_ns=1000000), a Flush runs while a Read waits in SQ1. An Abort of the Read "
    "completes it with Command Abort Requested before the Abort itself completes with Dword 0 "
    "bit 0 clear (aborted). An Abort of a command already running, and one of a command "
    "already completed, complete with bit 0 set (not aborted), and the commands are unharmed.",
    abort,
    knobs=dict(ABORT_KNOBS),
)
RESET_UNDER_IO = Scenario(
    "reset-under-io",
    "A controller reset with I/O outstanding: no completion afterwards, then I/O again.",
    "Four blocks are written; then six reads and writes go to SQ1 at once on a controller "
    "that takes 2 ms per command on two units (knobs parallel_units=2, io_latency_ns=2000000), "
    "so some run and some wait when the host clears CC.EN. CSTS.RDY goes to 0; the host "
    "watches the old admin CQ and CQ1 for 20 ms and no completion appears in either; after a "
    "new bring-up the four blocks read back as written and a new write succeeds.",
    reset_under_io,
    knobs=dict(RESET_KNOBS),
)
IO_ERRORS = Scenario(
    "io-errors",
    "Each I/O error, one command each, with the status the specification gives it.",
    "On a controller whose knobs make every error possible (a thin-provisioned namespace of "
    "64 KiB capacity, a namespace not ready for 5 ms after CC.EN, Namespace Write Protection, "
    "SGLs): Namespace Not Ready (DNR clear; the retry succeeds), LBA Out of Range, NSID 0 and "
    "an inactive NSID, Capacity Exceeded, a transfer larger than MDTS, a reserved PSDT (Invalid "
    "Field), a write to a write-protected namespace (Feature 84h), PRP1 not dword aligned (PRP "
    "Offset Invalid), an SGL descriptor of a reserved type and an SGL segment of a length that "
    "is not whole descriptors.",
    io_errors,
    knobs=dict(IO_ERRORS_KNOBS),
)
