"""A scenario documents its parameters, and a run says which checks failed in short lines."""

from __future__ import annotations

import pytest

from nvmescope.emulator import ControllerConfig
from nvmescope.host import SCENARIOS
from nvmescope.host.scenarios import ResultRow, ScenarioRun
from nvmescope.machine import Machine


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_parameter_has_a_short_description(name):
    s = SCENARIOS[name]
    assert sorted(s.param_help) == sorted(s.defaults)
    for key, text in s.param_help.items():
        assert text and "\n" not in text and len(text) <= 100, key


def test_io_load_describes_count_queues_and_depth():
    helps = SCENARIOS["io-load"].param_help
    assert sorted(helps) == ["count", "depth", "queues"]
    assert "queue" in helps["queues"] and "outstanding" in helps["depth"]


def test_a_passing_run_has_no_failures():
    m = Machine(scenario="identify")
    m.run()
    assert m.scenario.ok and m.scenario.failures() == []


def test_a_failing_check_is_one_line_in_the_specifications_words():
    # 16 KiB logical blocks with MDTS 1 (8 KiB): not even one block fits in a command
    m = Machine(ControllerConfig(mdts=1, lba_formats=((0, 14),)), scenario="io")
    m.run()
    failures = m.scenario.failures()
    assert not m.scenario.ok
    assert (
        failures[0] == "Write LBA 0: expected Successful Completion, got Invalid Field in Command"
    )
    assert failures[1] == "Read LBA 0: expected Successful Completion, got Invalid Field in Command"
    assert len(failures) == sum(not r.ok for r in m.scenario.results)


def test_a_failed_bringup_comes_first():
    m = Machine(ControllerConfig(timeout=1, rdy_delay_ns=2_000_000_000), scenario="io")
    m.run()
    failures = m.scenario.failures()
    assert failures[0] == (
        "bring-up failed: CSTS.RDY did not become 1 within 1 s "
        "('Device not ready; aborting initialisation, CSTS=0x0')"
    )
    assert failures[1].startswith("controller ready: expected CSTS.RDY=1, got CSTS=")


def test_failures_is_empty_exactly_when_the_run_is_ok():
    good = ResultRow("a", "cmd", "x", "x", True)
    bad = ResultRow("b", "cmd", "x", "y", False)
    for done in (False, True):
        for failed in ("", "why"):
            for rows in ([], [good], [good, bad]):
                run = ScenarioRun("s", driver=None, results=list(rows), done=done, failed=failed)  # type: ignore[arg-type]
                assert (run.failures() == []) == run.ok, (done, failed, rows)
    not_done = ScenarioRun("s", driver=None, results=[good], done=False)  # type: ignore[arg-type]
    assert not_done.failures() == ["scenario s did not run to its end"]
    assert ScenarioRun("s", None, [bad], done=True).failures() == ["b: expected x, got y"]  # type: ignore[arg-type]
