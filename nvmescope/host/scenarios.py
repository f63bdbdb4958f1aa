"""Scenarios: named, documented host programs that tell one story each.

``SCENARIOS[name]`` is a :class:`Scenario`: ``name``, a one-line ``summary``,
a longer ``story`` and ``run(api)``, which creates a :class:`LinuxDriver` on
the given :class:`HostAPI`, spawns the scenario as a host task and returns a
:class:`ScenarioRun`. Nothing happens until the machine runs (``step()``,
``run()``); a scenario is deterministic, so two runs give the same events.

Each scenario checks every completion it cares about against the status the
specification requires and records a :class:`ResultRow` in
``ScenarioRun.results``; ``ScenarioRun.ok`` is true when the scenario ran to
its end and every row matched.

- ``bringup``: Linux 6.1's bring-up, from PCI enumeration to CSTS.RDY,
  Identify, I/O queues, the outstanding AER and the namespace scan.
- ``identify``: the seed story: bring-up, then one Identify Controller told
  from the SQ doorbell to the interrupt handler and the CQ head doorbell.
- ``admin-tour``: every admin command the controller supports.
- ``errors``: each kind of bad input and the status (or CSTS.CFS) it earns,
  then recovery by a controller reset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nvmescope.nvme import status as st
from nvmescope.nvme.status import status_name, status_title

from .api import HostAPI
from .driver import CSTS_CFS, CSTS_RDY, NOTE_NS, Completion, LinuxDriver, Task

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


@dataclass
class ScenarioRun:
    """A scenario in progress on one machine: its driver and its result table."""

    name: str
    driver: LinuxDriver
    results: list[ResultRow] = field(default_factory=list)
    done: bool = False

    @property
    def ok(self) -> bool:
        return self.done and bool(self.results) and all(row.ok for row in self.results)

    def table(self) -> list[tuple[str, str, str, str, str]]:
        """Rows as plain strings: case, command, expected, got, verdict."""
        return [
            (row.case, row.command, row.expected, row.got, "ok" if row.ok else "MISMATCH")
            for row in self.results
        ]


Body = Callable[[LinuxDriver, ScenarioRun], Task]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    story: str
    body: Body

    def run(self, api: HostAPI) -> ScenarioRun:
        """Create the driver, start the scenario as a host task, return its run record."""
        driver = LinuxDriver(api)
        run = ScenarioRun(self.name, driver)
        api.spawn(self._main(driver, run), label=f"scenario:{self.name}")
        return run

    def _main(self, driver: LinuxDriver, run: ScenarioRun) -> Task:
        yield from driver.say("scenario", f"Scenario {self.name}: {self.summary}")
        yield from self.body(driver, run)
        run.done = True
        good = sum(row.ok for row in run.results)
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
    run.results.append(
        ResultRow(case, comp.what, status_name(*expected), comp.status_name, ok, comp.cid)
    )
    got_words = _status_words(got) if got is not None else comp.describe()
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
        run.results.append(
            ResultRow(
                f"bring-up: {comp.what}", comp.what, "success", comp.status_name, comp.ok, comp.cid
            )
        )


# -- bringup -------------------------------------------------------------------------------------
def bringup(drv: LinuxDriver, run: ScenarioRun) -> Task:
    yield from drv.probe()
    _bringup_rows(drv, run)


# -- identify -------------------------------------------------------------------------------------
def identify_story(drv: LinuxDriver, run: ScenarioRun) -> Task:
    yield from drv.probe()
    _bringup_rows(drv, run)
    yield from drv.say(
        "highlight", "Now the story: one Identify Controller, from the SQE in memory and the "
        "doorbell, through the device's fetch, DMA and completion, to the interrupt handler.",
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
            f"'{bytes(fields.fr).decode('ascii', 'replace').strip()}', {fields.nn} namespace(s).",
        )  # fmt: skip


# -- admin-tour -------------------------------------------------------------------------------------
def admin_tour(drv: LinuxDriver, run: ScenarioRun) -> Task:
    if not (yield from drv.probe()):
        _bringup_rows(drv, run)
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
    comp = yield from drv.create_io_cq(2, 16, 1)
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
    if not (yield from drv.probe()):
        _bringup_rows(drv, run)
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
        "host's RAM: the device's write finds no memory there.",
    )  # fmt: skip
    comp = yield from drv.submit(0, 0x06, cdw10=1, prp1=UNMAPPED_ADDRESS, why="a buffer not in RAM")
    yield from expect(drv, run, "DMA to unmapped memory", comp, st.DATA_TRANSFER_ERROR)

    # misprogrammed bring-up, then recovery
    yield from case(
        "misprogrammed bring-up", "Enable with CC.MPS=1 (8 KiB memory pages) while the admin "
        "SQ sits at an address only 4 KiB aligned: the controller must refuse to start.",
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
            "Each kind of bad input and the status it earns, then recovery by reset.",
            "Invalid opcode, invalid field, invalid NSID, invalid queue deletion, create SQ "
            "with invalid qid / qsize / nonexistent CQ, create CQ with invalid vector, bad "
            "log page, bad feature, PRP offset invalid, DMA to unmapped memory, and a "
            "misprogrammed bring-up (ASQ not aligned to CC.MPS) that ends in CSTS.CFS, "
            "recovered by a controller reset.",
            errors,
        ),
    )
}

__all__ = ["NOTE_NS", "SCENARIOS", "ResultRow", "Scenario", "ScenarioRun"]
