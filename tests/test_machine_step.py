"""Machine.step(): one event per call, in emission order, none skipped, none repeated."""

from __future__ import annotations

import pytest

from nvmescope.machine import Machine, UnknownScenario


def test_stepping_returns_every_event_once_in_order():
    m = Machine(scenario="bringup")
    stepped = []
    while (e := m.step()) is not None:
        stepped.append(e)
    assert stepped and stepped == m.events
    assert [e.seq for e in stepped] == list(range(len(stepped)))
    assert m.idle and m.step() is None


def test_two_events_from_one_piece_of_work_come_back_from_two_steps():
    m = Machine(scenario=None)

    def task():
        m.api.note("a", "First of two events in one piece of work.")
        m.api.note("b", "Second of them.")
        yield 10
        m.api.note("c", "Later work.")

    m.api.spawn(task())
    first = m.step()
    assert [e.kind for e in m.events] == ["host_step", "host_step"]  # nothing more ran
    second = m.step()
    assert (first.step, second.step) == ("a", "b")
    assert m.now == 0 and len(m.events) == 2
    third = m.step()
    assert third.step == "c" and m.now == 10
    assert m.step() is None


def test_a_script_access_and_its_later_ub_step_are_two_steps():
    m = Machine(scenario=None)
    m.api.config_write(0x04, 2, 0x0006)
    m.api.mmio_write32(0x00, 0x1234)  # CAP is read-only
    kinds = [m.step().kind for _ in range(3)]
    assert kinds == ["config_write", "mmio_write", "ub_mmio_ro"]
    assert m.step() is None


def test_each_step_of_the_scheduler_emits_at_most_one_new_event_per_step_call():
    m = Machine(scenario="identify")
    count = 0
    while True:
        before = len(m.events)
        e = m.step()
        if e is None:
            break
        count += 1
        # a step never runs more work once an event is waiting to be returned
        assert len(m.events) - before <= 2
    assert count == len(m.events)


def test_run_until_stops_at_the_first_matching_event():
    m = Machine(scenario="bringup")
    e = m.run_until(lambda e: e.kind == "ctrl_state" and e.state == "ready")
    assert e is not None and e.kind == "ctrl_state"
    assert m.events[-1] is e and not m.api.pending_events  # nothing after it was stepped
    assert m.ctrl.snapshot()["registers"]["csts"] & 1
    rest = m.run()
    assert rest[0].seq == e.seq + 1
    assert m.run_until(lambda e: True) is None


def test_run_until_returns_the_first_of_several_matches():
    m = Machine(scenario="bringup")
    reads = [m.run_until(lambda e: e.kind == "mmio_read") for _ in range(3)]
    assert [e.seq for e in reads] == [e.seq for e in m.events if e.kind == "mmio_read"]
    assert m.events[-1] is reads[-1]


def test_run_returns_everything_to_idle():
    m = Machine(scenario="bringup")
    events = m.run()
    assert events == m.events and m.idle
    assert m.run() == []


def test_a_hand_driven_machine_does_nothing_by_itself():
    m = Machine(scenario=None)
    assert m.run() == [] and m.events == [] and m.driver is None


def test_unknown_scenario_is_a_one_line_error():
    with pytest.raises(UnknownScenario) as info:
        Machine(scenario="no-such-thing")
    message = str(info.value)
    assert "\n" not in message and "bringup" in message
    assert isinstance(info.value, ValueError)
