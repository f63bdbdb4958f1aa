"""A failed bring-up stops the scenario the way Linux abandons the probe."""

from __future__ import annotations

import pytest

from nvmescope.emulator import ControllerConfig
from nvmescope.machine import Machine

FAILING = {
    # a controller that refuses to start: it answers CC.EN=1 with CSTS.CFS
    "cfs": (ControllerConfig(), "CSTS.CFS=1"),
    # CSTS.RDY comes after 2 s; CAP.TO = 1 (500 ms), so Linux waits (1 + 1) / 2 = 1 s
    "timeout": (
        ControllerConfig(timeout=1, rdy_delay_ns=2_000_000_000),
        "Device not ready; aborting initialisation",
    ),
}


@pytest.fixture
def refusing_controller(monkeypatch):
    """Every CC.EN 0->1 fails (as a broken controller's would): CSTS.CFS is set."""
    from nvmescope.emulator.controller import Controller

    monkeypatch.setattr(Controller, "_nvme_check_enable", lambda self: "this controller is broken")


@pytest.mark.parametrize("scenario", ["bringup", "identify", "io", "errors"])
@pytest.mark.parametrize("how", sorted(FAILING))
def test_failed_bringup_stops_without_another_doorbell(how, scenario, request):
    config, reason = FAILING[how]
    if how == "cfs":
        request.getfixturevalue("refusing_controller")
    m = Machine(config, scenario=scenario)
    m.run()
    run = m.scenario
    assert run.done and not run.ok
    assert reason in run.failed
    events = m.events
    gave_up = next(e for e in events if e.kind == "host_step" and e.step == "probe_failed")
    assert "abandons the probe" in gave_up.text and reason in gave_up.text
    after = events[gave_up.seq :]
    assert not [e for e in after if e.kind in ("doorbell_sq", "doorbell_cq", "mmio_write")]
    assert not [e for e in events if e.kind in ("doorbell_sq", "doorbell_cq")]
    # bus mastering goes off, and the scenario's last word says it stopped
    assert any(e.kind == "config_write" and e.offset == 0x04 and not e.value & 0x4 for e in after)
    last = next(e for e in reversed(events) if e.kind == "host_step")
    assert last.step == "scenario_done" and "stopped" in last.text


def test_a_dead_controller_gets_no_command_from_a_script(refusing_controller):
    m = Machine(ControllerConfig(), scenario="bringup")
    m.run()
    before = len(m.events)
    c = m.driver.submit_admin(0x06, cdw10=0x01, data_len=4096)
    assert c.cqe is None and c.aborted
    new = m.events[before:]
    assert [e.kind for e in new] == ["host_step"] and new[0].step == "dead"


def test_a_good_bringup_is_not_marked_failed():
    m = Machine(scenario="bringup")
    m.run()
    assert m.scenario.ok and not m.scenario.failed and not m.driver.dead
