"""The scenarios of host/scenarios_faults.py: abort, reset-under-io and io-errors each check
their answers, and the scoreboard of the namespaces finds nothing in what they did."""

from __future__ import annotations

import pytest

from nvmescope.emulator import ControllerConfig
from nvmescope.host.scenarios_faults import IO_ERRORS_KNOBS
from nvmescope.machine import Machine
from nvmescope.trace.checks import run_checks
from nvmescope.trace.scoreboard import Scoreboard

SCOREBOARD = ("data_mismatch", "compare_mismatch")


def run(name: str, config: ControllerConfig | None = None) -> Machine:
    m = Machine(config, scenario=name)
    m.run()
    return m


@pytest.fixture(scope="module")
def machines() -> dict[str, Machine]:
    return {name: run(name) for name in ("abort", "reset-under-io", "io-errors")}


@pytest.mark.parametrize("name", ["abort", "reset-under-io", "io-errors"])
def test_the_fault_scenario_gets_every_answer_it_expects_and_the_scoreboard_finds_nothing(
    machines, name
):
    m = machines[name]
    assert m.scenario.ok, m.scenario.failures()
    assert not [f for f in run_checks(m.events) if f.check in SCOREBOARD]


def test_abort_aborts_the_queued_read_before_it_runs_and_not_the_running_flush(machines):
    m = machines["abort"]
    rows = {row.case: row for row in m.scenario.results}
    assert rows["Read aborted in the SQ"].got == "abort_requested"
    aborted = rows["Read aborted in the SQ"].cid
    # the aborted Read moved no data
    assert not any(e.kind == "dma_write" and e.cid == aborted and e.sqid == 1 for e in m.events)
    posts = [(e.cqid, e.cid) for e in m.events if e.kind == "cqe_post"]
    abort_cid = rows["Abort of a queued command"].cid
    assert posts.index((1, aborted)) < posts.index((0, abort_cid))
    assert rows["Abort of a running command: Dword 0 bit 0"].ok
    assert rows["Abort of a completed command: Dword 0 bit 0"].ok


def test_reset_under_io_posts_nothing_for_the_commands_outstanding_at_the_reset(machines):
    m = machines["reset-under-io"]
    reset = next(
        e.seq for e in m.events if e.kind == "mmio_write" and e.reg == "cc" and not e.value & 1
        and any(x.kind == "cmd_start" and x.sqid == 1 and x.seq < e.seq for x in m.events)
    )  # fmt: skip
    started = {(e.sqid, e.cid) for e in m.events if e.kind == "sqe_fetch" and e.seq < reset}
    posted = {(e.sqid, e.cid) for e in m.events if e.kind == "cqe_post" and e.seq < reset}
    outstanding = started - posted
    assert len(outstanding) >= 2  # the story needs commands in flight at the reset
    ready_again = next(
        e.seq for e in m.events if e.seq > reset and e.kind == "ctrl_state" and e.state == "ready"
    )
    late = [
        e for e in m.events
        if e.kind == "cqe_post" and reset < e.seq < ready_again
    ]  # fmt: skip
    assert late == []
    board = Scoreboard()
    for e in m.events:
        board.feed(e, lambda *a, **k: None)
    assert board.blocks, "the scoreboard learned no block: it would prove nothing"


def test_io_errors_answers_each_error_with_its_status(machines):
    m = machines["io-errors"]
    got = {row.case: row.got for row in m.scenario.results}
    assert got["Namespace Not Ready"] == "ns_not_ready"
    assert got["capacity exceeded"] == "capacity_exceeded"
    assert got["write to a write-protected namespace"] == "ns_write_protected"
    assert got["transfer larger than MDTS"] == "invalid_field"
    assert got["PRP1 not dword aligned"] == "prp_offset_invalid"
    assert got["SGL descriptor type invalid"] == "sgl_descriptor_type_invalid"
    assert got["invalid SGL segment descriptor"] == "invalid_sgl_segment_descriptor"
    assert got["LBA out of range"] == "lba_out_of_range"
    not_ready = next(e for e in m.events if e.kind == "cqe_post" and e.status & 0xFF == 0x82)
    assert not not_ready.status >> 14 & 1  # DNR clear


def test_io_errors_without_its_knobs_expects_the_namespace_not_ready_it_does_not_get():
    """The scenario's checks can fail: a controller whose namespace is ready at once."""
    knobs = dict(IO_ERRORS_KNOBS, namespace_not_ready_ns=0)
    m = run("io-errors", ControllerConfig(**knobs))
    assert not m.scenario.ok
    assert any(line.startswith("Namespace Not Ready:") for line in m.scenario.failures())


def test_io_errors_skips_what_the_controller_does_not_offer():
    knobs = dict(IO_ERRORS_KNOBS, nwpc=0, sgls=0, namespace_capacity_bytes=0)
    m = run("io-errors", ControllerConfig(**knobs))
    assert m.scenario.ok, m.scenario.failures()
    cases = {row.case for row in m.scenario.results}
    assert "capacity exceeded" not in cases and "SGL descriptor type invalid" not in cases
    assert not any(e.kind == "cqe_post" and e.status & 0x7FF == 0x20 for e in m.events)
    assert {"transfer larger than MDTS", "reserved PSDT"} <= cases  # these need no knob


@pytest.mark.parametrize("not_ready_ns", [50_000_000, 1_000_000_000_000])
def test_io_errors_waits_out_a_namespace_longer_not_ready_than_its_own_knob(not_ready_ns):
    """namespace_not_ready_ns past the scenario's 5 ms (up to the knob's 1000 s): the host
    retries until the namespace is ready, and every later case still runs on it."""
    m = run(
        "io-errors", ControllerConfig(**dict(IO_ERRORS_KNOBS, namespace_not_ready_ns=not_ready_ns))
    )
    assert m.scenario.ok, m.scenario.failures()
    got = {row.case: row.got for row in m.scenario.results}
    assert got["Namespace Not Ready"] == "ns_not_ready"
    assert got["Read retried later"] == "success"


def test_io_errors_skips_the_transfer_beyond_mdts_when_mdts_is_0():
    m = run("io-errors", ControllerConfig(**dict(IO_ERRORS_KNOBS, mdts=0)))
    assert m.scenario.ok, m.scenario.failures()
    assert "transfer larger than MDTS" not in {row.case for row in m.scenario.results}


@pytest.mark.parametrize("knobs", [{"dbbuf": True}], ids=["shadow doorbells"])
def test_abort_finds_a_command_published_only_in_the_shadow_doorbell(knobs):
    """With Doorbell Buffer Config the Read's tail is in the shadow only (EventIdx says no
    MMIO write is needed): the device reads the shadow before it looks for the command."""
    from nvmescope.host.scenarios_faults import ABORT_KNOBS

    m = run("abort", ControllerConfig(**dict(ABORT_KNOBS, **knobs)))
    assert m.scenario.ok, m.scenario.failures()
    rows = {row.case: row for row in m.scenario.results}
    assert rows["Read aborted in the SQ"].got == "abort_requested"


@pytest.mark.parametrize("mqes", [1, 2])
def test_reset_under_io_keeps_its_outstanding_commands_within_a_small_sq(mqes):
    """Queues of CAP.MQES + 1 entries hold fewer than the story's six: the commands sent
    before the reset are what SQ1 holds, so none had to complete to make room."""
    from nvmescope.host.scenarios_faults import RESET_KNOBS

    m = run("reset-under-io", ControllerConfig(**dict(RESET_KNOBS, mqes=mqes)))
    assert m.scenario.ok, m.scenario.failures()


@pytest.mark.parametrize("knobs", [{"parallel_units": 42}, {"mqes": 1}])
def test_abort_on_a_controller_where_nothing_waits_says_so_in_one_check(knobs):
    """Units enough to run the Read at once (a profile's or -c's parallel_units), or an SQ1
    of two entries: the Read cannot wait in the SQ, and one failed check says why instead
    of three that blame the Abort."""
    from nvmescope.host.scenarios_faults import ABORT_KNOBS

    m = run("abort", ControllerConfig(**dict(ABORT_KNOBS, **knobs)))
    failed = [row.case for row in m.scenario.results if not row.ok]
    assert failed == ["Read waiting in SQ1 at the Abort"]
    assert "parallel_units=1 overridden" in m.scenario.failures()[0]
