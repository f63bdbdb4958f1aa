"""Scenarios: named, documented host programs that tell one story each.

``SCENARIOS[name]`` is a :class:`Scenario`: ``name``, a one-line ``summary``,
a longer ``story`` and ``run(api)``, which creates a :class:`LinuxDriver` on
the given :class:`HostAPI`, spawns the scenario as a host task and returns a
:class:`ScenarioRun`. Nothing happens until the machine runs (``step()``,
``run()``); a scenario is deterministic, so two runs give the same events.

Each scenario checks every completion it cares about against the status the
specification requires and records a :class:`ResultRow` in
``ScenarioRun.results``; ``ScenarioRun.ok`` is true when the scenario ran to
its end and every row matched; ``ScenarioRun.failures()`` says why not, one
short line each (``"Write 64 KiB: expected Successful Completion, got Invalid
Field in Command"``).

- ``bringup``: Linux 6.1's bring-up, from PCI enumeration to CSTS.RDY,
  Identify, I/O queues, the outstanding AER and the namespace scan.
- ``identify``: the seed story: bring-up, then one Identify Controller told
  from the SQ doorbell to the interrupt handler and the CQ head doorbell.
- ``admin-tour``: every admin command the controller supports.
- ``errors``: each kind of bad input and the status (or ``ub_*`` event and
  asynchronous event) it earns, then recovery by a controller reset.
- ``io``: the reference's "write 512 B at LBA 0, read it back" through I/O
  SQ1/CQ1, with a Flush between; then a 64 KiB write and read whose buffers
  start inside a page, so PRP2 points at a PRP list. A transfer larger than
  MDTS allows goes as several commands, as Linux's block layer splits it.
- ``io-load``: ``count`` 4 KiB writes, each read back and compared, spread over
  ``queues`` I/O queue pairs with up to ``depth`` commands outstanding on each
  (defaults: 32, 4, 8): material for benchmarks and the stats and command views.
  Past the namespace's end the writes reuse LBAs (block k goes to slot k mod
  the namespace's blocks); a round never writes one LBA twice.
- ``prp-list``: a 64 KiB write through a PRP list chained across two list
  pages, then a chain pointer with an offset, a list pointer not qword aligned
  and a list in unmapped memory.
- ``sgl``: SGLs (its knob ``sgls=0x10001`` unless the user sets one): a write
  gathered from three pieces by an SGL segment, a read into one Data Block, a
  Bit Bucket, an SGL too short and one that loops; without SGLs, the refusal.
- ``dsm``: Dataset Management and Write Zeroes (DEAC) deallocate; the blocks
  read as zeros and a Compare of the old data fails.

- ``copy`` (``scenario_copy.py``): Copy of two source ranges, read back; its limits
  (MSRC, MSSRL) and LBA ranges; DULBE (Feature 05h) makes unwritten and deallocated
  blocks an error.
- ``io-persist``: ``count`` 4 KiB blocks of a known pattern written from LBA 0 of
  namespace ``nsid``, flushed, read back and compared; with ``write=0`` only read
  back and compared: run it once on a file-backed namespace, then again with
  ``-p write=0`` in a new process, and the data read is what the first run wrote.

``Scenario.run(api, platform=..., **params)`` takes a scenario's parameters
(``io-load``: ``count``, ``queues``, ``depth``); ``Scenario.defaults`` holds their
defaults and ``Scenario.param_help`` a short description of each;
``Machine(scenario=..., params={...})`` passes them, and the
:class:`~nvmescope.host.platform.Platform` of its configuration (whose firmware
step, when it has one, runs before the scenario's body). When the bring-up fails
(CSTS.RDY not 1 within (CAP.TO + 1) / 2 seconds, whether or not the controller set
CSTS.CFS, or CSTS reading all ones) the scenario stops the way Linux abandons the
probe: no further doorbell, and ``ScenarioRun.ok`` is false.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nvmescope.nvme import status as st
from nvmescope.nvme.commands import (
    SGL_BIT_BUCKET,
    SGL_DATA_BLOCK,
    SGL_LAST_SEGMENT,
    SGL_SEGMENT,
    pack_sgl_descriptor,
    sgl_dptr,
)
from nvmescope.nvme.identify import SGLS_BIT_BUCKET
from nvmescope.nvme.status import status_name, status_title

from .api import HostAPI
from .driver import ACTION_NS, CSTS_CFS, CSTS_RDY, NOTE_NS, Completion, LinuxDriver, Task
from .memory import PAGE_SIZE, HostMemoryError
from .platform import Platform, firmware_pci_setup

Status = tuple[int, int]
SUCCESS: Status = st.SUCCESS

#: an address outside host RAM: a DMA there is a master abort
UNMAPPED_ADDRESS = 0x8000_0000


@dataclass
class ResultRow:
    """One check of a scenario: what was sent, what the spec requires, what came back."""

    case: str
    command: str
    expected: str
    got: str
    ok: bool
    cid: int | None = None
    #: the specification's words for ``expected`` / ``got`` when those are status names
    expected_words: str = ""
    got_words: str = ""

    def line(self) -> str:
        """One short line: ``Write 64 KiB: expected Successful Completion, got Invalid ...``."""
        expected = self.expected_words or self.expected
        got = self.got_words or self.got
        return f"{self.case}: expected {expected}, got {got}"


@dataclass
class ScenarioRun:
    """A scenario in progress on one machine: its driver and its result table."""

    name: str
    driver: LinuxDriver
    results: list[ResultRow] = field(default_factory=list)
    done: bool = False
    #: why the scenario stopped early (a failed bring-up), or ""
    failed: str = ""
    #: why it stopped after the bring-up, with no driver at fault (the host's memory ran
    #: out: the parameters asked for more than the machine has), or ""
    stopped: str = ""
    #: the parameters it ran with
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            self.done
            and not self.failed
            and not self.stopped
            and bool(self.results)
            and all(row.ok for row in self.results)
        )

    def failures(self) -> list[str]:
        """Why the run is not :attr:`ok`, one short line each (empty exactly when it is ok).

        A stopped bring-up comes first, then every check that did not give the expected
        answer (``"Write 64 KiB: expected Successful Completion, got Invalid Field in
        Command"``), then a run that never reached its end or made no check.
        """
        out = [f"bring-up failed: {self.failed}"] if self.failed else []
        out += [f"stopped: {self.stopped}"] if self.stopped else []
        out += [row.line() for row in self.results if not row.ok]
        if not self.done:
            out.append(f"scenario {self.name} did not run to its end")
        elif not self.results:
            out.append(f"scenario {self.name} made no check")
        return out

    def table(self) -> list[tuple[str, str, str, str, str]]:
        """Rows as plain strings: case, command, expected, got, verdict."""
        return [
            (row.case, row.command, row.expected, row.got, "ok" if row.ok else "MISMATCH")
            for row in self.results
        ]


Body = Callable[..., Task]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    story: str
    body: Body
    #: the parameters the body takes, with their defaults
    defaults: dict[str, int] = field(default_factory=dict)
    #: a short description of each parameter in :attr:`defaults` (same keys)
    param_help: dict[str, str] = field(default_factory=dict)
    #: the (lowest, highest) value of each parameter in :attr:`defaults` (same keys); the
    #: CLI refuses anything outside it, and ``nvmescope scenarios`` shows it
    param_range: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: controller knobs the story needs (``sgl``: a controller with SGLs), used unless the
    #: user sets them (``-c``, a profile); ``Machine`` uses them when given no configuration
    knobs: dict[str, Any] = field(default_factory=dict)

    def run(self, api: HostAPI, *, platform: Platform | None = None, **params: Any) -> ScenarioRun:
        """Create the driver, start the scenario as a host task, return its run record.

        ``params`` override :attr:`defaults`; an unknown name is a ``ValueError``.
        ``platform`` is the machine around the function: its firmware step runs first
        and its kernel's INTx routing is the driver's (default: neither happens).
        """
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"scenario {self.name!r} has no parameter {', '.join(unknown)}; "
                f"it takes: {', '.join(sorted(self.defaults)) or 'none'}"
            )
        values = {**self.defaults, **params}
        platform = platform or Platform()
        driver = LinuxDriver(
            api, nr_io_queues=int(values.get("queues", 1)), intx_irq=platform.intx_irq
        )
        run = ScenarioRun(self.name, driver, params=values)
        api.spawn(self._main(driver, run, platform), label=f"scenario:{self.name}")
        return run

    def _main(self, driver: LinuxDriver, run: ScenarioRun, platform: Platform) -> Task:
        yield from driver.say("scenario", f"Scenario {self.name}: {self.summary}")
        yield from firmware_pci_setup(driver.api, platform)
        try:
            yield from self.body(driver, run, **run.params)
        except HostMemoryError as exc:
            # what the parameters ask for does not fit in the host's RAM: the allocation
            # fails, as dma_alloc_coherent() fails a driver with -ENOMEM, and the run stops
            ram = driver.api.ram_size >> 20
            run.stopped = f"the host ran out of memory ({exc}; it has {ram} MiB)"
            yield from driver.say(
                "out_of_memory", f"The host has no memory left for this: {exc} (its RAM is "
                f"{ram} MiB). The allocation fails, as it does for Linux (-ENOMEM), and the "
                "scenario stops here: ask for smaller or fewer queues.",
            )  # fmt: skip
        # let interrupts still in flight be handled, so the scenario's end is its last event
        yield from driver.quiesce()
        run.done = True
        good = sum(row.ok for row in run.results)
        why = run.stopped or (f"bring-up failed ({run.failed})" if run.failed else "")
        if why:
            yield from driver.say(
                "scenario_done", f"Scenario {self.name} stopped: {why}; {good} of "
                f"{len(run.results)} checks gave the expected answer.",
            )  # fmt: skip
            return
        yield from driver.say(
            "scenario_done", f"Scenario {self.name} finished: {good} of {len(run.results)} "
            "checks gave the expected answer.",
        )  # fmt: skip


# -- checking ----------------------------------------------------------------------------------
def _status_words(status: Status) -> str:
    return status_title(*status)


def expect(
    drv: LinuxDriver, run: ScenarioRun, case: str, comp: Completion, expected: Status
) -> Task:
    """Compare a completion's status with the expected one; record a row; say the verdict."""
    got: Status | None = (comp.sct, comp.sc) if comp.cqe is not None else None  # type: ignore[assignment]
    ok = got == expected
    got_words = _status_words(got) if got is not None else comp.describe()
    run.results.append(
        ResultRow(
            case, comp.what, status_name(*expected), comp.status_name, ok, comp.cid,
            _status_words(expected), got_words,
        )
    )  # fmt: skip
    verdict = "as expected" if ok else f"MISMATCH, expected {_status_words(expected)}"
    yield from drv.say("check", f"Check '{case}': the device answered {got_words}: {verdict}.")


def record(run: ScenarioRun, case: str, command: str, expected: str, got: str, ok: bool) -> None:
    run.results.append(ResultRow(case, command, expected, got, ok))


def check(
    drv: LinuxDriver,
    run: ScenarioRun,
    case: str,
    command: str,
    expected: str,
    got: str,
    ok: bool,
) -> Task:
    record(run, case, command, expected, got, ok)
    verdict = "as expected" if ok else f"MISMATCH, expected {expected}"
    yield from drv.say("check", f"Check '{case}': {got}: {verdict}.")


def _bringup_rows(drv: LinuxDriver, run: ScenarioRun) -> None:
    record(
        run, "controller ready", "CC.EN=1, poll CSTS", "CSTS.RDY=1", f"CSTS={drv.csts:#x}",
        bool(drv.ready),
    )  # fmt: skip
    for comp in drv.history:
        if comp.opc == 0x0C:  # the AER stays outstanding
            continue
        got = _status_words((comp.sct, comp.sc)) if comp.cqe is not None else comp.describe()  # type: ignore[arg-type]
        run.results.append(
            ResultRow(
                f"bring-up: {comp.what}", comp.what, "success", comp.status_name, comp.ok, comp.cid,
                _status_words(SUCCESS), got,
            )
        )  # fmt: skip


def bring_up(drv: LinuxDriver, run: ScenarioRun, rows: bool = True) -> Task:
    """Linux's bring-up; False (and ``run.failed`` set) when the driver gave the controller up.

    ``rows``: record a result row per bring-up command (always when it failed).
    """
    ok = yield from drv.probe()
    if rows or not ok:
        _bringup_rows(drv, run)
    if not ok:
        run.failed = drv.dead_reason or "bring-up failed"
    return bool(ok)


# -- bringup -------------------------------------------------------------------------------------
def bringup(drv: LinuxDriver, run: ScenarioRun) -> Task:
    yield from bring_up(drv, run)


# -- identify -------------------------------------------------------------------------------------
def identify_story(drv: LinuxDriver, run: ScenarioRun) -> Task:
    if not (yield from bring_up(drv, run)):
        return
    yield from drv.say(
        "highlight", "Now the story: one Identify Controller, from the SQE in memory and the "
        "doorbell, through the device's fetch, DMA and completion, to the interrupt handler.",
    )  # fmt: skip
    sq, cq = drv.sqs.get(0), drv.cqs.get(0)
    if sq is not None and cq is not None:
        waiting = (sq.tail - cq.head) % sq.depth
        slots = (
            f"SQ0's next slot is {sq.tail} but CQ0's is {cq.head}: "
            + (
                "the Asynchronous Event Request (cid 31) took an SQ slot and gets a completion "
                "only when the controller has an event to report. "
                if drv.outstanding_aer is not None and waiting == 1
                else f"{waiting} commands wait for their completions. "
            )
            if waiting
            else f"SQ0 and CQ0 are both at slot {sq.tail}. "
        )
        yield from drv.say(
            "highlight_numbers", f"{slots}The cid is no slot number either: Linux makes it from "
            "the request's blk-mq tag (bits 11:0) and a 4-bit count of that tag's uses "
            "(bits 15:12), so a late completion for an earlier use of a tag is recognised.",
        )  # fmt: skip
    comp = yield from drv.identify(
        1, why="ask the controller to describe itself in a 4096-byte data structure"
    )
    yield from expect(drv, run, "Identify Controller", comp, SUCCESS)
    fields = drv.id_ctrl_fields
    if fields is not None:
        yield from drv.say(
            "highlight_done", f"The host now knows the controller: model "
            f"'{bytes(fields.mn).decode('ascii', 'replace').strip()}', serial "
            f"'{bytes(fields.sn).decode('ascii', 'replace').strip()}', firmware "
            f"'{bytes(fields.fr).decode('ascii', 'replace').strip()}', {fields.nn} namespace{'s' if fields.nn != 1 else ''}.",
        )  # fmt: skip


# -- admin-tour -------------------------------------------------------------------------------------
def admin_tour(drv: LinuxDriver, run: ScenarioRun) -> Task:
    if not (yield from bring_up(drv, run, rows=False)):
        return
    # Identify: every CNS the controller supports
    for cns, nsid, why in (
        (0x01, 0, "the controller data structure"),
        (0x00, 1, "namespace 1: size, capacity, LBA formats"),
        (0x02, 0, "the active namespace IDs above NSID 0"),
        (0x03, 1, "namespace 1's identification descriptors"),
    ):
        comp = yield from drv.identify(cns, nsid=nsid, why=why)
        yield from expect(drv, run, f"Identify CNS {cns:02X}h", comp, SUCCESS)
    # Get Features: the current value of each feature
    values: dict[int, int] = {}
    for fid in (0x01, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x0B, 0x0E):
        comp = yield from drv.get_features(
            fid, cdw11=1 if fid == 0x09 else 0, data_len=8 if fid == 0x0E else 0,
            why="read the current value",
        )  # fmt: skip
        values[fid] = comp.dw0
        yield from expect(drv, run, f"Get Features {fid:02X}h", comp, SUCCESS)
    # Set Features: write a legal value to each
    sets: list[tuple[int, int, bytes | None, Status, str]] = [
        (0x01, values[0x01], None, SUCCESS, "keep the arbitration burst"),
        (0x02, 0, None, SUCCESS, "power state 0, the only one"),
        (0x04, values[0x04] & 0xFFFF, None, SUCCESS, "same over-temperature threshold"),
        (0x06, 1, None, SUCCESS, "turn the volatile write cache on"),
        (
            0x07, 0, None, st.COMMAND_SEQUENCE_ERROR,
            "Number of Queues after I/O queues exist: the spec answers Command Sequence Error",
        ),
        (0x08, 0, None, SUCCESS, "no interrupt coalescing"),
        (0x09, 1, None, SUCCESS, "vector 1 without coalescing disable"),
        (0x0B, values[0x0B], None, SUCCESS, "keep the async event configuration"),
        (
            0x0E, 0, (1_700_000_000_000).to_bytes(8, "little"), SUCCESS,
            "tell the controller the time (ms since 1970)",
        ),
    ]  # fmt: skip
    for fid, cdw11, data, want, why in sets:
        comp = yield from drv.set_features(fid, cdw11, data_out=data, why=why)
        yield from expect(drv, run, f"Set Features {fid:02X}h", comp, want)
    # Get Log Page
    for lid, length, why in (
        (0x01, 64, "the newest Error Information entry"),
        (0x02, 512, "SMART / health information"),
        (0x03, 512, "firmware slot information"),
    ):
        comp = yield from drv.get_log_page(lid, length, why=why)
        yield from expect(drv, run, f"Get Log Page {lid:02X}h", comp, SUCCESS)
    # a second I/O queue pair, created and deleted
    comp = yield from drv.create_io_cq(2, 16, 1 if drv.msix_vectors > 1 else 0)
    yield from expect(drv, run, "Create I/O CQ 2", comp, SUCCESS)
    comp = yield from drv.create_io_sq(2, 16, 2)
    yield from expect(drv, run, "Create I/O SQ 2", comp, SUCCESS)
    comp = yield from drv.delete_io_sq(2, why="SQs go first: a CQ cannot go while an SQ uses it")
    yield from expect(drv, run, "Delete I/O SQ 2", comp, SUCCESS)
    comp = yield from drv.delete_io_cq(2, why="now nothing completes into it")
    yield from expect(drv, run, "Delete I/O CQ 2", comp, SUCCESS)
    # one more AER (it stays outstanding), then Abort it
    aer = yield from drv.submit(
        0, 0x0C, wait=False, why="a second Asynchronous Event Request (AERL allows four)"
    )
    yield drv.api.sleep(100_000)
    yield from check(
        drv, run, "AER held", aer.what, "outstanding",
        "outstanding" if not aer.done else f"completed: {aer.status_name}", not aer.done,
    )  # fmt: skip
    comp = yield from drv.abort(0, aer.cid, why=f"abort the AER with cid {aer.cid}")
    yield from expect(drv, run, "Abort", comp, SUCCESS)
    yield from check(
        drv, run, "Abort result", comp.what, "dw0 bit 0 = 0 (aborted)",
        f"dw0 = {comp.dw0:#x}", comp.cqe is not None and comp.dw0 & 1 == 0,
    )  # fmt: skip
    yield from drv.wait_for(aer)
    yield from expect(drv, run, "aborted AER", aer, st.ABORT_REQUESTED)


# -- errors -------------------------------------------------------------------------------------
def errors(drv: LinuxDriver, run: ScenarioRun) -> Task:
    api = drv.api
    if not (yield from bring_up(drv, run, rows=False)):
        return
    depth = drv.q_depth

    def case(name: str, why: str) -> Task:
        yield from drv.say("case", f"Bad input: {name}. {why}")

    yield from case("invalid opcode", "Admin opcode 3Fh is not defined.")
    comp = yield from drv.submit(0, 0x3F, why="an opcode the controller does not know")
    yield from expect(drv, run, "invalid opcode", comp, st.INVALID_OPCODE)

    yield from case("invalid field", "Identify with CNS 7Fh, a value the controller lacks.")
    comp = yield from drv.identify(0x7F, why="a CNS value that is not supported")
    yield from expect(drv, run, "invalid field", comp, st.INVALID_FIELD)

    yield from case("invalid NSID", "Identify Namespace for NSID DEADh, beyond NN.")
    comp = yield from drv.identify(0x00, nsid=0xDEAD, why="a namespace that cannot exist")
    yield from expect(drv, run, "invalid NSID", comp, st.INVALID_NS_OR_FORMAT)

    yield from case("invalid queue deletion", "Delete I/O CQ 1 while I/O SQ 1 still uses it.")
    comp = yield from drv.submit(0, 0x04, cdw10=1, why="a CQ that still has an SQ")
    yield from expect(drv, run, "delete CQ in use", comp, st.INVALID_QUEUE_DELETION)

    queue_mem = api.alloc(depth * 64)
    yield from case("invalid queue ID", "Create I/O SQ 0: queue 0 is the admin queue.")
    comp = yield from drv.submit(
        0, 0x01, prp1=queue_mem, cdw10=0 | ((depth - 1) << 16), cdw11=1 | (1 << 16),
        why="SQ ID 0",
    )  # fmt: skip
    yield from expect(drv, run, "create SQ with invalid qid", comp, st.INVALID_QID)

    yield from case("invalid queue size", "Create I/O SQ 2 with QSIZE 0, a one-entry queue.")
    comp = yield from drv.submit(
        0, 0x01, prp1=queue_mem, cdw10=2 | (0 << 16), cdw11=1 | (1 << 16), why="QSIZE 0"
    )
    yield from expect(drv, run, "create SQ with invalid qsize", comp, st.INVALID_QSIZE)

    yield from case("nonexistent CQ", "Create I/O SQ 2 completing into CQ 9, never created.")
    comp = yield from drv.submit(
        0, 0x01, prp1=queue_mem, cdw10=2 | (15 << 16), cdw11=1 | (9 << 16), why="CQID 9"
    )
    yield from expect(drv, run, "create SQ with nonexistent CQ", comp, st.INVALID_CQ)

    yield from case("invalid interrupt vector", "Create I/O CQ 2 on vector 7FFh.")
    comp = yield from drv.submit(
        0, 0x05, prp1=queue_mem, cdw10=2 | (15 << 16), cdw11=0x3 | (0x7FF << 16),
        why="an MSI-X vector the function does not have",
    )  # fmt: skip
    yield from expect(drv, run, "create CQ with invalid vector", comp, st.INVALID_VECTOR)

    yield from case("invalid log page", "Get Log Page 7Fh, a log the controller does not keep.")
    comp = yield from drv.get_log_page(0x7F, 512, why="log page 7Fh")
    yield from expect(drv, run, "bad log page", comp, st.INVALID_LOG_PAGE)

    yield from case("invalid feature", "Get Features 7Fh, a feature the controller lacks.")
    comp = yield from drv.get_features(0x7F, why="feature 7Fh")
    yield from expect(drv, run, "bad feature", comp, st.INVALID_FIELD)

    buf = api.alloc(2 * 4096)
    yield from case(
        "PRP offset invalid", "Identify with PRP1 512 bytes into a page, so the rest needs "
        "PRP2, and PRP2 pointing 16 bytes into a page: PRP2 must be page aligned.",
    )  # fmt: skip
    comp = yield from drv.submit(
        0, 0x06, cdw10=1, prp1=buf + 0x200, prp2=buf + 4096 + 0x10, why="a misaligned PRP2"
    )
    yield from expect(drv, run, "PRP offset invalid", comp, st.PRP_OFFSET_INVALID)

    yield from case(
        "DMA to unmapped memory", f"Identify into {UNMAPPED_ADDRESS:#x}, an address beyond the "
        "host's RAM: the device's write finds no memory there. This device answers Data "
        "Transfer Error, as QEMU's does; on real PCIe a memory write is posted, and one that "
        "no memory takes is dropped (the root complex logs an Unsupported Request) without "
        "the device hearing of it.",
    )  # fmt: skip
    comp = yield from drv.submit(0, 0x06, cdw10=1, prp1=UNMAPPED_ADDRESS, why="a buffer not in RAM")
    yield from expect(drv, run, "DMA to unmapped memory", comp, st.DATA_TRANSFER_ERROR)

    yield from bad_doorbell_and_io_errors(drv, run, case)

    # misprogrammed bring-up, then recovery
    yield from case(
        "misprogrammed bring-up", "Enable with CC.MPS=1 (8 KiB memory pages) while the admin "
        "SQ sits at an address only 4 KiB aligned. The specification requires the host to "
        "align ASQ to the memory page size and does not say what a controller does when it "
        "is not; this device refuses to start and sets CSTS.CFS. Linux's wait looks at "
        "CSTS.RDY only, so it finds out when that wait runs out.",
    )  # fmt: skip
    region = api.alloc(3 * 4096)
    asq = region if region % 8192 else region + 4096
    acq = region + 4096 if region % 8192 else region
    drv.forget_queues()
    ok = yield from drv.nvme_pci_configure_admin_queue(mps=1, asq=asq, acq=acq)
    cfs = bool(drv.csts & CSTS_CFS)
    yield from check(
        drv, run, "bad ASQ alignment", f"CC.EN=1 with ASQ {asq:#x}, MPS 8 KiB", "CSTS.CFS=1",
        f"CSTS={drv.csts:#x}", cfs and not ok,
    )  # fmt: skip
    ok = yield from drv.nvme_reset_ctrl(scan=False)
    yield from check(
        drv, run, "recovery by reset", "CC.EN=0, then a correct bring-up", "CSTS.RDY=1, CFS=0",
        f"CSTS={drv.csts:#x}", ok and drv.csts & (CSTS_RDY | CSTS_CFS) == CSTS_RDY,
    )  # fmt: skip
    comp = yield from drv.identify(1, why="the controller answers again after the reset")
    yield from expect(drv, run, "Identify after recovery", comp, SUCCESS)


def bad_doorbell_and_io_errors(
    drv: LinuxDriver, run: ScenarioRun, case: Callable[[str, str], Task]
) -> Task:
    """An SQ tail doorbell beyond the queue, then I/O commands the device must refuse."""
    api = drv.api
    sq = drv.sqs.get(1)
    aer = drv.outstanding_aer
    if sq is None or aer is None:
        yield from check(
            drv, run, "I/O queue and AER ready", "SQ1, AER", "both present",
            f"SQ1 {'present' if sq else 'missing'}, AER {'outstanding' if aer else 'missing'}",
            False,
        )  # fmt: skip
        return
    yield from case(
        "invalid doorbell value", f"Write {sq.depth} to the SQ1 tail doorbell: SQ1 has "
        f"{sq.depth} slots (0 to {sq.depth - 1}), so the value points outside the queue. The "
        "specification leaves the effect on the queue undefined and lists it as an error the "
        "controller reports through an Asynchronous Event (Invalid Doorbell Write Value) when "
        "one is outstanding; this device ignores the write (ub_db_invalid_value) and does so.",
    )  # fmt: skip
    yield from drv.say(
        "bad_doorbell", f"Ring the SQ1 tail doorbell with {sq.depth}, one past the last slot; the "
        f"host's own tail stays {sq.tail}.",
    )  # fmt: skip
    api.mmio_write32(0x1000 + 2 * 1 * (4 << drv.dstrd), sq.depth)
    yield ACTION_NS
    yield from drv.wait_for(aer)
    event = drv.async_events[-1] if aer.ok and drv.async_events else None
    got = (
        f"type {event.type}, info {event.info:02X}h, log page {event.log_page:02X}h"
        if event is not None else aer.status_name
    )  # fmt: skip
    yield from check(
        drv, run, "invalid doorbell value", "SQ1 tail doorbell = queue size",
        "AER: type 0 (error), info 01h, log page 01h", got,
        event is not None and (event.type, event.info, event.log_page) == (0, 0x01, 0x01),
    )  # fmt: skip
    comp = yield from drv.get_log_page(
        0x01, 64, why="read the Error Information log the event names: reading it (RAE=0) "
        "unmasks error events again",
    )  # fmt: skip
    yield from expect(drv, run, "Error log after the event", comp, SUCCESS)
    yield from namespace_io_errors(drv, run, case, " SQ1 still works after the bad doorbell.")


def namespace_io_errors(
    drv: LinuxDriver, run: ScenarioRun, case: Callable[[str, str], Task], after: str = ""
) -> Task:
    """I/O commands on SQ1 naming blocks or namespaces that do not exist: LBA Out of Range,
    NSID 0, an inactive NSID (or one beyond NN)."""
    api = drv.api
    ns = drv.namespaces.get(1)
    lba = ns.lba_size if ns is not None and ns.lba_size else 512
    nsze = ns.nsze if ns is not None else 0
    buf = api.alloc(lba)
    yield from case(
        "LBA out of range", f"Read 1 block at LBA {nsze}, the first LBA past namespace 1's "
        f"{nsze} blocks.{after}",
    )  # fmt: skip
    comp = yield from drv.nvme_read(1, 1, nsze, 1, buf, lba, why="an LBA beyond NSZE")
    yield from expect(drv, run, "LBA out of range", comp, st.LBA_OUT_OF_RANGE)

    yield from case("I/O with NSID 0", "Read 1 block from NSID 0, which names no namespace.")
    comp = yield from drv.nvme_read(1, 0, 0, 1, buf, lba, why="NSID 0")
    yield from expect(drv, run, "read with NSID 0", comp, st.INVALID_NS_OR_FORMAT)

    nn = drv._id_field("nn")
    inactive = next((n for n in range(1, nn + 1) if n not in drv.ns_list), None)
    # NVMe base 3.2.1.5: an inactive NSID is Invalid Field in Command, an invalid one
    # (0h, above NN) Invalid Namespace or Format
    answer = st.INVALID_FIELD if inactive is not None else st.INVALID_NS_OR_FORMAT
    if inactive is not None:
        label = f"inactive NSID {inactive}"
        why = f"NSID {inactive} is valid (not above NN={nn}) but inactive"
        story = (
            f"Read 1 block from NSID {inactive}, which is valid but inactive: Invalid Field in "
            "Command, where an invalid NSID is Invalid Namespace or Format."
        )
    else:
        inactive = nn + 1
        label = f"NSID {inactive} beyond NN"
        why = f"NSID {inactive} is above NN={nn}"
        story = (
            f"Read 1 block from NSID {inactive}: every NSID up to NN={nn} is active, so there "
            f"is no inactive one to try; NSID {inactive}, beyond NN, is not a valid NSID at all."
        )
    yield from case(f"I/O with {label}", story)
    comp = yield from drv.nvme_read(1, inactive, 0, 1, buf, lba, why=why)
    yield from expect(drv, run, f"read with {label}", comp, answer)


# -- io -------------------------------------------------------------------------------------------
HELLO = b"hello-nvme"
BIG_TRANSFER = 64 * 1024


def io(drv: LinuxDriver, run: ScenarioRun) -> Task:
    api = drv.api
    lba = yield from _io_ready(drv, run)
    if not lba:
        return
    data = HELLO.ljust(lba, b"\0")
    yield from drv.say(
        "io", f"Now I/O, as the reference guest did: write '{HELLO.decode()}' and zeros "
        f"({lba} bytes, one LBA) to LBA 0 of namespace 1 through I/O SQ1 (completions on CQ1, "
        "MSI-X vector 1), flush, and read it back.",
    )  # fmt: skip
    wbuf = api.alloc(lba)
    yield from drv.say("fill_buffer", f"Put the {lba} bytes to write into a buffer at {wbuf:#x}.")
    api.mem_write(wbuf, data, "write data LBA 0")
    yield ACTION_NS
    comp = yield from drv.nvme_write(1, 1, 0, 1, wbuf, lba, why="one block at LBA 0")
    yield from expect(drv, run, "Write LBA 0", comp, SUCCESS)
    comp = yield from drv.nvme_flush(
        1, 1, why="commit the volatile write cache to the medium before reading back"
    )
    yield from expect(drv, run, "Flush", comp, SUCCESS)
    rbuf = api.alloc(lba)
    comp = yield from drv.nvme_read(1, 1, 0, 1, rbuf, lba, why="read LBA 0 back")
    yield from expect(drv, run, "Read LBA 0", comp, SUCCESS)
    yield from compare(drv, run, "read back LBA 0", rbuf, data)

    # a transfer that needs a PRP list: buffers that start inside a page
    size = BIG_TRANSFER
    nlb = size // lba
    slba = 8
    pattern = bytes((i * 131 + (i >> 12)) & 0xFF for i in range(size))
    wregion = api.alloc(size + PAGE_SIZE)
    wbig = wregion + 0x200
    yield from drv.say(
        "big_io", f"Now {size // 1024} KiB ({nlb} blocks at LBA {slba}) from a buffer that "
        f"starts {wbig % PAGE_SIZE:#x} bytes into a page: PRP1 carries that offset, and the "
        "rest spans more than one further page, so PRP2 points at a PRP list.",
    )  # fmt: skip
    yield from drv.say("fill_buffer", f"Fill {size} bytes at {wbig:#x} with a known pattern.")
    api.mem_write(wbig, pattern, f"write data, {nlb} blocks at LBA {slba}")
    yield ACTION_NS
    comp = yield from drv.nvme_write(1, 1, slba, nlb, wbig, size, why=f"{size // 1024} KiB")
    yield from expect(drv, run, f"Write {size // 1024} KiB", comp, SUCCESS)
    rregion = api.alloc(size + PAGE_SIZE)
    rbig = rregion + 0x400
    comp = yield from drv.nvme_read(
        1, 1, slba, nlb, rbig, size, why=f"read it back into a buffer {rbig % PAGE_SIZE:#x} into "
        "a page",
    )  # fmt: skip
    yield from expect(drv, run, f"Read {size // 1024} KiB", comp, SUCCESS)
    yield from compare(drv, run, f"read back {size // 1024} KiB", rbig, pattern)


def _pattern(size: int, seed: int) -> bytes:
    return bytes((i * 131 + seed + (i >> 9)) & 0xFF for i in range(size))


def _io_ready(drv: LinuxDriver, run: ScenarioRun) -> Task:
    """Bring up; the LBA size of namespace 1 (0 if there is no namespace 1 or no SQ1)."""
    if not (yield from bring_up(drv, run, rows=False)):
        return 0
    ns = drv.namespaces.get(1)
    if ns is None or not ns.lba_size or 1 not in drv.sqs:
        yield from check(drv, run, "namespace 1 and SQ1", "bring-up", "present", "missing", False)
        return 0
    return ns.lba_size


def _by_hand(
    drv: LinuxDriver, opc: int, slba: int, nlb: int, prp1: int, prp2: int, why: str,
    psdt: int = 0,
) -> Task:  # fmt: skip
    """A Read or Write on SQ1 whose data pointer the scenario built itself."""
    return (
        yield from drv.submit(
            1, opc, nsid=1, cdw10=slba, cdw12=nlb - 1, prp1=prp1, prp2=prp2, psdt=psdt, why=why
        )
    )


# -- prp-list ---------------------------------------------------------------------------------
PRP_LIST_SIZE = 64 * 1024
#: PRP entries that fit between the list pointer and the end of its page (the last is the
#: pointer to the next list page)
PRP_FIRST_PAGE_ENTRIES = 4


def prp_list(drv: LinuxDriver, run: ScenarioRun) -> Task:
    lba = yield from _io_ready(drv, run)
    if not lba:
        return
    api = drv.api
    size, nlb = PRP_LIST_SIZE, PRP_LIST_SIZE // lba
    pages = size // PAGE_SIZE
    data = _pattern(size, 7)
    buf = api.alloc(size)
    first, second = api.alloc(PAGE_SIZE), api.alloc(PAGE_SIZE)
    k = PRP_FIRST_PAGE_ENTRIES
    pointer = first + PAGE_SIZE - 8 * k
    entries = [buf + PAGE_SIZE * i for i in range(1, pages)]
    yield from drv.say(
        "prp_chain", f"Write {size // 1024} KiB ({pages} pages) from {buf:#x}: PRP1 is the first "
        f"page and PRP2 points at a PRP list of the other {pages - 1}. The list starts "
        f"{PAGE_SIZE - 8 * k} bytes into its page, so only {k} entries fit before the page "
        f"ends: {k - 1} page addresses, then a pointer to a second list page at {second:#x} "
        f"that holds the other {pages - k}. Only the command's list pointer may have an offset; "
        "the chain pointer must be page aligned.",
    )  # fmt: skip
    api.mem_write(buf, data, f"write data, {nlb} blocks at LBA 0")
    api.mem_write(pointer, b"".join(e.to_bytes(8, "little") for e in entries[: k - 1])
                  + second.to_bytes(8, "little"), "PRP list, first page")  # fmt: skip
    api.mem_write(second, b"".join(e.to_bytes(8, "little") for e in entries[k - 1 :]),
                  "PRP list, second page")  # fmt: skip
    yield ACTION_NS
    comp = yield from _by_hand(drv, 0x01, 0, nlb, buf, pointer, "through a chained PRP list")
    yield from expect(drv, run, "Write through a chained PRP list", comp, SUCCESS)
    rbuf = api.alloc(size)
    comp = yield from drv.nvme_read(1, 1, 0, nlb, rbuf, size, why="read it back")
    yield from expect(drv, run, f"Read {size // 1024} KiB", comp, SUCCESS)
    yield from compare(drv, run, "read back the chained write", rbuf, data)

    yield from drv.say(
        "prp_bad_chain", "Now the same write with the chain pointer 8 bytes into its page: "
        "only PRP1 and the command's list pointer may carry an offset, so the device must "
        "answer PRP Offset Invalid.",
    )  # fmt: skip
    api.mem_write(pointer + 8 * (k - 1), (second + 8).to_bytes(8, "little"), "PRP chain pointer")
    yield ACTION_NS
    comp = yield from _by_hand(drv, 0x01, 0, nlb, buf, pointer, "a chain pointer with an offset")
    yield from expect(drv, run, "chain pointer with an offset", comp, st.PRP_OFFSET_INVALID)
    comp = yield from _by_hand(
        drv, 0x01, 0, nlb, buf, pointer + 4, "a list pointer that is not qword aligned"
    )
    yield from expect(drv, run, "list pointer not qword aligned", comp, st.PRP_OFFSET_INVALID)
    comp = yield from _by_hand(
        drv, 0x02, 0, nlb, rbuf, UNMAPPED_ADDRESS, "a list in memory the host does not have"
    )
    yield from expect(drv, run, "list in unmapped memory", comp, st.DATA_TRANSFER_ERROR)


# -- sgl --------------------------------------------------------------------------------------
#: Identify SGLS bits the sgl scenario asks for: SGLs with no alignment (bits 1:0 01b) and
#: Bit Bucket descriptors (bit 16)
SGL_SCENARIO_SGLS = 0x10001
SGL_PIECES = (1000, 3000, 4192)


def sgl(drv: LinuxDriver, run: ScenarioRun) -> Task:
    lba = yield from _io_ready(drv, run)
    if not lba:
        return
    api = drv.api
    sgls = drv._id_field("sgls")
    size = sum(SGL_PIECES)
    nlb = size // lba
    if not sgls & 0x3:
        yield from drv.say(
            "no_sgls", f"Identify SGLS = {sgls:#x}: bits 1:0 are 00b, this controller has no "
            "SGLs. A command that asks for them anyway (PSDT 01b) must be refused with Invalid "
            "Field in Command. (Run the scenario with -c sgls=0x10001 for the rest of the story.)",
        )  # fmt: skip
        buf = api.alloc(size)
        sgl1 = pack_sgl_descriptor(SGL_DATA_BLOCK, buf, size)
        comp = yield from _by_hand(drv, 0x02, 0, nlb, *_dptr(sgl1), "PSDT 01b", psdt=1)
        yield from expect(drv, run, "SGL to a controller without SGLs", comp, st.INVALID_FIELD)
        return
    data = _pattern(size, 3)
    # SGLS bits 1:0 = 10b asks for dword-aligned Data Blocks: then the pieces start on a
    # dword; otherwise at odd addresses, which 01b allows
    dword = sgls & 0x3 == 0x2
    offsets = (0x124, 0x8, 0x400) if dword else (0x123, 0x7, 0x400)
    bufs = [api.alloc(PAGE_SIZE * 2) + offset for offset in offsets]
    segment = api.alloc(PAGE_SIZE)
    descs = [
        pack_sgl_descriptor(SGL_DATA_BLOCK, b, n) for b, n in zip(bufs, SGL_PIECES, strict=True)
    ]
    yield from drv.say(
        "sgl_segment", f"Write {size} bytes ({nlb} blocks) gathered from {len(SGL_PIECES)} "
        f"pieces of {', '.join(str(n) for n in SGL_PIECES)} bytes, "
        + ("each on a dword (SGLS bits 1:0 = 10b: Data Blocks dword aligned). " if dword else
           f"each at an odd address (SGLS bits 1:0 = {sgls & 3:02b}b: no alignment needed). ")
        + "The pieces are SGL Data Block "
        f"descriptors in one segment at {segment:#x}; the command's data pointer is a Last "
        "Segment descriptor that points at it, PSDT 01b.",
    )  # fmt: skip
    pos = 0
    for b, n in zip(bufs, SGL_PIECES, strict=True):
        api.mem_write(b, data[pos : pos + n], f"write data piece of {n} bytes")
        pos += n
    api.mem_write(segment, b"".join(descs), "SGL segment")
    yield ACTION_NS
    sgl1 = pack_sgl_descriptor(SGL_LAST_SEGMENT, segment, 16 * len(descs))
    comp = yield from _by_hand(drv, 0x01, 0, nlb, *_dptr(sgl1), "gathered by an SGL", psdt=1)
    yield from expect(drv, run, "Write gathered by an SGL segment", comp, SUCCESS)
    rbuf = api.alloc(size)
    sgl1 = pack_sgl_descriptor(SGL_DATA_BLOCK, rbuf, size)
    comp = yield from _by_hand(drv, 0x02, 0, nlb, *_dptr(sgl1), "one Data Block", psdt=1)
    yield from expect(drv, run, "Read into one SGL Data Block", comp, SUCCESS)
    yield from compare(drv, run, "read back the gathered write", rbuf, data)

    if sgls & SGLS_BIT_BUCKET:
        yield from drv.say(
            "sgl_bit_bucket", f"Read blocks 0 and 1 but keep only block 1: a Bit Bucket "
            f"descriptor of {lba} bytes first (the device throws that data away), then a Data "
            "Block for the second block (SGLS bit 16: Bit Buckets supported).",
        )  # fmt: skip
        kept = api.alloc(lba)
        api.mem_write(
            segment, pack_sgl_descriptor(SGL_BIT_BUCKET, 0, lba)
            + pack_sgl_descriptor(SGL_DATA_BLOCK, kept, lba), "SGL segment",
        )  # fmt: skip
        yield ACTION_NS
        sgl1 = pack_sgl_descriptor(SGL_LAST_SEGMENT, segment, 32)
        comp = yield from _by_hand(drv, 0x02, 0, 2, *_dptr(sgl1), "a Bit Bucket first", psdt=1)
        yield from expect(drv, run, "Read past a Bit Bucket", comp, SUCCESS)
        yield from compare(drv, run, "only block 1 arrived", kept, data[lba : 2 * lba])

    sgl1 = pack_sgl_descriptor(SGL_DATA_BLOCK, rbuf, size - lba)
    comp = yield from _by_hand(drv, 0x02, 0, nlb, *_dptr(sgl1), "an SGL one block short", psdt=1)
    yield from expect(drv, run, "SGL shorter than the data", comp, st.DATA_SGL_LENGTH_INVALID)
    yield from drv.say(
        "sgl_loop", f"An SGL that never ends: a segment at {segment:#x} whose only descriptor is "
        "a Segment descriptor pointing at itself. The device must not walk it for ever.",
    )  # fmt: skip
    api.mem_write(segment, pack_sgl_descriptor(SGL_SEGMENT, segment, 16), "SGL segment")
    yield ACTION_NS
    sgl1 = pack_sgl_descriptor(SGL_SEGMENT, segment, 16)
    comp = yield from _by_hand(drv, 0x02, 0, nlb, *_dptr(sgl1), "a looping SGL", psdt=1)
    yield from expect(drv, run, "SGL that loops", comp, st.INVALID_NUM_SGL_DESCRIPTORS)


def _dptr(descriptor: bytes) -> tuple[int, int]:
    """SGL Descriptor 1 as the two quadwords of the data pointer (PRP1, PRP2)."""
    prp1, prp2 = sgl_dptr(descriptor).values()
    return prp1, prp2


# -- dsm --------------------------------------------------------------------------------------
DSM_BLOCKS = 16


def dsm(drv: LinuxDriver, run: ScenarioRun) -> Task:
    lba = yield from _io_ready(drv, run)
    if not lba:
        return
    api = drv.api
    size = DSM_BLOCKS * lba
    data = _pattern(size, 11)
    buf = api.alloc(size)
    yield from drv.say("fill_buffer", f"Write {DSM_BLOCKS} blocks of a known pattern to LBA 0.")
    api.mem_write(buf, data, f"write data, {DSM_BLOCKS} blocks at LBA 0")
    yield ACTION_NS
    comp = yield from drv.nvme_write(1, 1, 0, DSM_BLOCKS, buf, size, why="blocks to deallocate")
    yield from expect(drv, run, f"Write {DSM_BLOCKS} blocks", comp, SUCCESS)
    yield from drv.say(
        "dsm_deallocate", "Dataset Management with the Deallocate attribute (CDW11.AD) for "
        "LBA 4..7: the controller may forget those blocks; this one reads them as zeros "
        "afterwards, as its Identify Namespace DLFEAT says.",
    )  # fmt: skip
    comp = yield from drv.nvme_dsm(1, 1, [(4, 4)], why="deallocate LBA 4..7")
    yield from expect(drv, run, "Deallocate LBA 4..7", comp, SUCCESS)
    comp = yield from drv.nvme_write_zeroes(
        1, 1, 8, 4, deallocate=True, why="LBA 8..11 as zeros, deallocated (DEAC)"
    )
    yield from expect(drv, run, "Write Zeroes LBA 8..11 with DEAC", comp, SUCCESS)
    want = data[: 4 * lba] + bytes(8 * lba) + data[12 * lba :]
    rbuf = api.alloc(size)
    comp = yield from drv.nvme_read(1, 1, 0, DSM_BLOCKS, rbuf, size, why="read all 16 back")
    yield from expect(drv, run, f"Read {DSM_BLOCKS} blocks", comp, SUCCESS)
    yield from compare(drv, run, "LBA 4..11 read as zeros, the rest as written", rbuf, want)
    comp = yield from drv.nvme_compare(1, 1, 0, 4, data[: 4 * lba], why="the blocks kept")
    yield from expect(drv, run, "Compare LBA 0..3", comp, SUCCESS)
    comp = yield from drv.nvme_compare(1, 1, 4, 4, data[4 * lba : 8 * lba], why="the old data")
    yield from expect(drv, run, "Compare deallocated LBA 4..7", comp, st.COMPARE_FAILURE)


def compare(drv: LinuxDriver, run: ScenarioRun, case: str, buf: int, want: bytes) -> Task:
    """Read a buffer the device filled and compare it with what was written."""
    yield from drv.say(
        "read_data", f"Read the {len(want)} bytes the device wrote at {buf:#x} and compare them "
        "with what was written.",
    )  # fmt: skip
    got = drv.api.mem_read(buf, len(want), f"read data ({case})")
    yield ACTION_NS
    diff = next((i for i in range(len(want)) if got[i] != want[i]), None)
    text = "the same bytes" if diff is None else f"first difference at byte {diff}"
    yield from check(
        drv, run, case, "compare", f"the {len(want)} bytes written", text, diff is None
    )


# -- io-load --------------------------------------------------------------------------------------
IO_LOAD_DEFAULTS = {"count": 32, "queues": 4, "depth": 8}
IO_LOAD_HELP = {
    "count": "4 KiB writes, each read back and compared; LBAs are reused past the namespace's end",
    "queues": "I/O queue pairs the driver asks for, one MSI-X vector each",
    "depth": "commands outstanding at once on each queue (at most the queue size - 1)",
}
#: count: each is a write and a read, about 39 events (19.4 per command at QD32); the
#: maximum, 300,000 (about 11.6 million events), keeps a run within this machine: a
#: recording, and the TUI's live session (it records to a temporary file), hold a bounded
#: set of events and commands whatever the length (116 MiB peak for 10 million events,
#: measured); a Machine that keeps its events (the Python API) keeps every one compactly
#: (nvmescope.eventlog) and every command: about 160 B per event, some 1.9 GB at most;
#: queues: a queue identifier is 16 bits in the SQE (CDW10 QID), 1..65535 I/O queues;
#: depth: a queue holds at most CAP.MQES + 1 = 65536 entries, one always kept free
IO_LOAD_RANGE = {"count": (1, 300_000), "queues": (1, 65535), "depth": (1, 65535)}
IO_LOAD_BLOCK = 4096


def io_load(drv: LinuxDriver, run: ScenarioRun, count: int, queues: int, depth: int) -> Task:
    api = drv.api
    if not (yield from bring_up(drv, run, rows=False)):
        return
    ns = drv.namespaces.get(1)
    nq = drv.nr_io_queues
    if ns is None or not ns.lba_size or not ns.nsze or nq < 1:
        yield from check(drv, run, "namespace 1 and I/O queues", "bring-up", "present", "missing",
                         False)  # fmt: skip
        return
    count, depth = max(0, count), max(1, min(depth, drv.q_depth - 1))
    # 4 KiB (or one LBA if larger), but never more than the namespace holds
    nlb = max(1, min(max(IO_LOAD_BLOCK, ns.lba_size) // ns.lba_size, ns.nsze))
    block = nlb * ns.lba_size
    # block k goes to LBA (k mod slots) * nlb: a load generator reuses LBAs
    slots = ns.nsze // nlb
    # a round never holds two writes to one LBA, so every read-back has one right answer
    per_round = min(nq * depth, slots)
    yield from drv.say(
        "io_load", f"Load: {count} writes of {block} bytes, each read back and compared, over "
        f"{nq} I/O queue pair{'s' if nq > 1 else ''} with up to {depth} commands outstanding on "
        f"each ({per_round} at a time).",
    )  # fmt: skip
    if count > slots:
        yield from drv.say(
            "io_load_wrap", f"Namespace 1 holds {_count(slots, 'such block')} ({ns.nsze} LBAs): "
            f"block k goes to LBA {nlb} * (k mod {slots}), so later writes reuse LBAs, as a load "
            "generator does. A round never writes one LBA twice"
            + (f" (at most {_count(slots, 'command')} at a time)" if per_round < nq * depth else "")
            + ", so each read-back has exactly one right answer: that round's write.",
        )  # fmt: skip
    wbufs = [api.alloc(block) for _ in range(per_round)]
    rbufs = [api.alloc(block) for _ in range(per_round)]
    written = read = matched = 0
    for start in range(0, count, per_round):
        batch = list(range(start, min(count, start + per_round)))
        yield from drv.say(
            "load_round", f"Commands {batch[0]} to {batch[-1]}: submit every write first, "
            "then wait for all of them.",
        )  # fmt: skip
        pending = []
        for slot, k in enumerate(batch):
            data = _load_pattern(k, block)
            yield from drv.say(
                "fill_buffer", f"Put block {k}'s {block} bytes into the buffer at "
                f"{wbufs[slot]:#x}.",
            )  # fmt: skip
            api.mem_write(wbufs[slot], data, f"write data block {k}")
            yield ACTION_NS
            qid = 1 + k % nq
            c = yield from drv.nvme_write(
                qid, 1, k % slots * nlb, nlb, wbufs[slot], block, wait=False, why=f"block {k}"
            )
            pending.append(c)
        for c in pending:
            yield from drv.wait_for(c)
        written += sum(c.ok for c in pending)
        yield from drv.say(
            "load_round", f"Read blocks {batch[0]} to {batch[-1]} back the same way."
        )
        pending = []
        for slot, k in enumerate(batch):
            qid = 1 + k % nq
            c = yield from drv.nvme_read(
                qid, 1, k % slots * nlb, nlb, rbufs[slot], block, wait=False, why=f"block {k}"
            )
            pending.append(c)
        for c in pending:
            yield from drv.wait_for(c)
        read += sum(c.ok for c in pending)
        for slot, k in enumerate(batch):
            yield from drv.say(
                "read_data", f"Compare block {k} as read at {rbufs[slot]:#x} with what was written."
            )
            got = api.mem_read(rbufs[slot], block, f"read data block {k}")
            yield ACTION_NS
            matched += got == _load_pattern(k, block)
    yield from check(drv, run, "writes", f"{count} x Write", f"{count} succeeded",
                     f"{written} succeeded", written == count)  # fmt: skip
    yield from check(drv, run, "reads", f"{count} x Read", f"{count} succeeded",
                     f"{read} succeeded", read == count)  # fmt: skip
    yield from check(drv, run, "data", "compare", f"{count} blocks as written",
                     f"{matched} blocks as written", matched == count)  # fmt: skip


# -- io-persist -----------------------------------------------------------------------------------
IO_PERSIST_DEFAULTS = {"count": 16, "nsid": 1, "write": 1}
IO_PERSIST_HELP = {
    "count": "4 KiB blocks (one LBA if larger) from LBA 0, at most what the namespace holds",
    "nsid": "the namespace written and read (a [[namespace]] of --config FILE)",
    "write": "1: write, flush, read back; 0: only read back what a run with write=1 left",
}
IO_PERSIST_RANGE = {"count": (1, 10_000), "nsid": (1, 1024), "write": (0, 1)}


def io_persist(drv: LinuxDriver, run: ScenarioRun, count: int, nsid: int, write: int) -> Task:
    api = drv.api
    if not (yield from bring_up(drv, run, rows=False)):
        return
    ns = drv.namespaces.get(nsid)
    if ns is None or not ns.lba_size or not ns.nsze or 1 not in drv.sqs:
        yield from check(drv, run, f"namespace {nsid} and SQ1", "bring-up", "present",
                         "missing", False)  # fmt: skip
        return
    nlb = max(1, min(max(IO_LOAD_BLOCK, ns.lba_size) // ns.lba_size, ns.nsze))
    block = nlb * ns.lba_size
    asked, count = count, max(1, min(count, ns.nsze // nlb))
    what = _count(count, f"block of {block} bytes") + f" from LBA 0 of namespace {nsid}"
    if count < asked:
        yield from drv.say(
            "io_persist_fits", f"count={asked} asks for more than namespace {nsid} holds "
            f"({ns.nsze} blocks of {ns.lba_size} bytes): use its {count}.",
        )  # fmt: skip
    if write:
        yield from drv.say(
            "io_persist", f"Write {what}, each with a pattern that names its namespace and "
            "number, flush, then read every block back and compare.",
        )  # fmt: skip
    else:
        yield from drv.say(
            "io_persist", f"Write nothing: read {what} and compare them with the pattern a run "
            "with write=1 wrote. On a file-backed namespace that is what the earlier run left "
            "in the file; on RAM, zeros.",
        )  # fmt: skip
    wbuf, rbuf = api.alloc(block), api.alloc(block)
    written = read = matched = 0
    if write:
        for k in range(count):
            api.mem_write(wbuf, _persist_pattern(nsid, k, block), f"write data block {k}")
            yield ACTION_NS
            c = yield from drv.nvme_write(1, nsid, k * nlb, nlb, wbuf, block, why=f"block {k}")
            written += c.ok
        comp = yield from drv.nvme_flush(
            1, nsid, why="commit the volatile write cache: a file-backed namespace's blocks "
            "reach the disk",
        )  # fmt: skip
        yield from expect(drv, run, "Flush", comp, SUCCESS)
    for k in range(count):
        c = yield from drv.nvme_read(1, nsid, k * nlb, nlb, rbuf, block, why=f"block {k}")
        read += c.ok
        got = api.mem_read(rbuf, block, f"read data block {k}")
        yield ACTION_NS
        matched += got == _persist_pattern(nsid, k, block)
    if write:
        yield from check(drv, run, "writes", f"{count} x Write", f"{count} succeeded",
                         f"{written} succeeded", written == count)  # fmt: skip
    yield from check(drv, run, "reads", f"{count} x Read", f"{count} succeeded",
                     f"{read} succeeded", read == count)  # fmt: skip
    yield from check(drv, run, "data", "compare", f"{count} blocks as written",
                     f"{matched} blocks as written", matched == count)  # fmt: skip


def _persist_pattern(nsid: int, k: int, size: int) -> bytes:
    unit = f"io-persist nsid {nsid} block {k:08d} ".encode()
    return (unit * (size // len(unit) + 1))[:size]


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _load_pattern(k: int, size: int) -> bytes:
    unit = f"io-load block {k:08d} ".encode()
    return (unit * (size // len(unit) + 1))[:size]


from .scenarios_queues import QUEUE_SCENARIOS  # noqa: E402  (it builds on the helpers above)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "bringup",
            "Linux 6.1's bring-up: PCI set-up, CSTS.RDY, Identify, I/O queues, AER, namespace scan.",
            "The driver sizes and programs BAR0, enables the device and MSI-X, reads CSTS, CAP "
            "and VS, disables the controller, gives it the admin queue (AQA, ASQ, ACQ), enables "
            "it and polls CSTS until RDY, then sends Identify Controller, Set Features Number "
            "of Queues, Create I/O CQ and SQ, Set Features Async Event Configuration and an "
            "Asynchronous Event Request, and scans the namespaces, in the register order of "
            "the reference QEMU trace.",
            bringup,
        ),
        Scenario(
            "identify",
            "Bring-up, then one Identify Controller from doorbell to interrupt handler.",
            "After the bring-up, one more Identify Controller is told step by step: the driver "
            "writes the SQE, rings the SQ tail doorbell; the device fetches the SQE, maps the "
            "PRP, DMA-writes 4096 bytes, posts the CQE and sends MSI-X vector 0; the host's "
            "handler reads the CQE, checks its phase tag and rings the CQ head doorbell.",
            identify_story,
        ),
        Scenario(
            "admin-tour",
            "Every admin command the controller supports, each checked against its status.",
            "Identify CNS 00h/01h/02h/03h; Get and Set Features 01h 02h 04h 06h 07h 08h 09h "
            "0Bh 0Eh; Get Log Page 01h 02h 03h; Create and Delete I/O CQ and SQ; an "
            "Asynchronous Event Request and the Abort that ends it.",
            admin_tour,
        ),
        Scenario(
            "errors",
            "Each kind of bad input and what it earns, then recovery by a reset.",
            "Invalid opcode, invalid field, invalid NSID, invalid queue deletion, create SQ "
            "with invalid qid / qsize / nonexistent CQ, create CQ with invalid vector, bad "
            "log page, bad feature, PRP offset invalid, DMA to unmapped memory; an SQ tail "
            "doorbell past the end of the queue (ignored, reported by an Asynchronous Event "
            "'Invalid Doorbell Write Value'); I/O with an LBA out of range, NSID 0 and an "
            "NSID with no active namespace; and a bring-up with ASQ not aligned to the CC.MPS "
            "page, which the specification forbids the host and to which this device answers "
            "with CSTS.CFS, recovered by a controller reset.",
            errors,
        ),
        Scenario(
            "io",
            "Write 512 B at LBA 0, flush, read it back; then 64 KiB through a PRP list.",
            "After the bring-up, the host writes 'hello-nvme' padded with zeros to LBA 0 of "
            "namespace 1 through I/O SQ1 (completions on CQ1, MSI-X vector 1), sends a Flush, "
            "reads the block back and compares it, as the reference guest did. Then it writes "
            "and reads 64 KiB from buffers that start inside a page: PRP1 carries the offset "
            "and PRP2 points at a PRP list of the other pages. When MDTS allows less per "
            "command, the host splits the 64 KiB into several commands, as Linux's block layer "
            "does.",
            io,
        ),
        Scenario(
            "io-load",
            "Many 4 KiB writes and reads outstanding at once on several I/O queue pairs.",
            "Parameters: count (writes, each read back; default 32), queues (I/O queue pairs "
            "the driver asks for, default 4, one MSI-X vector each) and depth (commands "
            "outstanding per queue, default 8). Each round submits up to queues x depth "
            "writes before waiting for any, then reads the blocks back the same way and "
            "compares them: material for benchmarks and the stats and command views. A count "
            "beyond the namespace's blocks reuses LBAs, never twice in one round.",
            io_load,
            dict(IO_LOAD_DEFAULTS),
            dict(IO_LOAD_HELP),
            dict(IO_LOAD_RANGE),
        ),
        Scenario(
            "prp-list",
            "A 64 KiB write through a PRP list chained across two list pages, then the "
            "offset rules the device enforces.",
            "After the bring-up, the host writes 64 KiB from a page-aligned buffer with a PRP "
            "list it builds by hand: the list pointer in PRP2 starts near the end of its page, "
            "so three page addresses fit, then a pointer to a second list page with the rest. "
            "The device walks both list pages (prp_list_read events), the data is read back and "
            "compared. Then a chain pointer with an offset and a list pointer that is not qword "
            "aligned (PRP Offset Invalid) and a list in memory the host does not have (Data "
            "Transfer Error).",
            prp_list,
        ),
        Scenario(
            "sgl",
            "SGLs for I/O: a write gathered from three odd-sized pieces, a Bit Bucket, and the "
            "SGL mistakes the device refuses.",
            "Runs on a controller with SGLs and Bit Buckets (-c sgls=0x10001, which the "
            "scenario sets unless you set sgls yourself). A write gathers 8192 bytes from three "
            "pieces at odd addresses, described by Data Block descriptors in one SGL segment "
            "that a Last Segment descriptor in the command points at; a read into one Data "
            "Block gives it back. A read keeps only its second block, the first going into a "
            "Bit Bucket. An SGL one block short is Data SGL Length Invalid; a segment that "
            "points at itself is Invalid Number of SGL Descriptors. With -c sgls=0 the story "
            "is the refusal: Invalid Field in Command.",
            sgl,
            knobs={"sgls": SGL_SCENARIO_SGLS},
        ),
        Scenario(
            "dsm",
            "Deallocate with Dataset Management and Write Zeroes (DEAC); the blocks read as zeros.",
            "After the bring-up, the host writes 16 blocks, deallocates LBA 4..7 with Dataset "
            "Management (attribute Deallocate) and LBA 8..11 with Write Zeroes (DEAC), reads "
            "all 16 back (LBA 4..11 are zeros, as DLFEAT says) and compares: the blocks kept "
            "match, the deallocated ones are a Compare Failure.",
            dsm,
        ),
        Scenario(
            "io-persist",
            "Write blocks, flush, read them back; -p write=0 only reads: data that outlives a run.",
            "Parameters: count (4 KiB blocks from LBA 0, default 16), nsid (the namespace, "
            "default 1) and write (default 1). With write=1 the host writes each block with a "
            "pattern naming its namespace and number, flushes and reads every block back; "
            "with write=0 it only reads them back and compares them with that pattern. On a "
            "file-backed namespace (a [[namespace]] with a file, --config FILE) the second "
            "run, a new process, reads what the first one wrote; on RAM it reads zeros.",
            io_persist,
            dict(IO_PERSIST_DEFAULTS),
            dict(IO_PERSIST_HELP),
            dict(IO_PERSIST_RANGE),
        ),
        *QUEUE_SCENARIOS,
    )
}

# the scenarios of commands that do not end the ordinary way (they use the helpers above)
from . import scenarios_faults as _faults  # noqa: E402

SCENARIOS["abort"] = _faults.ABORT
SCENARIOS["reset-under-io"] = _faults.RESET_UNDER_IO
SCENARIOS["io-errors"] = _faults.IO_ERRORS

from .scenario_copy import COPY_SCENARIO  # noqa: E402 (it uses the helpers above)

SCENARIOS[COPY_SCENARIO.name] = COPY_SCENARIO

from .scenario_pi import PROTECTION  # noqa: E402 (it builds on the helpers above)

SCENARIOS[PROTECTION.name] = PROTECTION

__all__ = ["NOTE_NS", "SCENARIOS", "ResultRow", "Scenario", "ScenarioRun"]

from . import scenario_ns  # noqa: E402, F401  (ns-mgmt, in its own module, registers itself)
