"""Scenarios: they finish, get the statuses the specification requires, and are deterministic."""

from __future__ import annotations

import msgspec
import pytest

from nvmescope.events import describe
from nvmescope.host import SCENARIOS
from nvmescope.machine import Machine


def run(name: str) -> Machine:
    m = Machine(scenario=name)
    m.run()
    return m


@pytest.fixture(scope="module")
def machines() -> dict[str, Machine]:
    return {name: run(name) for name in SCENARIOS}


def test_the_registry_names_the_scenarios_with_summaries():
    assert sorted(SCENARIOS) == [
        "abort", "admin-tour", "bringup", "coalescing", "copy", "dsm", "errors", "identify",
        "io", "io-errors", "io-load", "io-persist", "multi-queue", "ns-mgmt", "protection",
        "prp-list", "queue-wrap", "reset-under-io", "sgl", "wrr",
    ]  # fmt: skip
    for name, s in SCENARIOS.items():
        assert s.name == name and s.summary and s.story


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_runs_to_its_end_with_every_check_as_expected(machines, name):
    m = machines[name]
    sc = m.scenario
    assert sc.done, f"{name} did not finish"
    bad = [row for row in sc.results if not row.ok]
    assert not bad, bad
    assert sc.ok and m.idle


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_two_runs_give_byte_identical_event_streams(machines, name):
    first = msgspec.msgpack.encode(list(machines[name].events))
    second = msgspec.msgpack.encode(list(run(name).events))
    assert first == second


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_driver_that_lets_old_commands_go_makes_the_same_events(machines, name):
    # a long recording's driver keeps only its newest commands and interrupts: what it
    # lets go (here everything it may) never changes what the run does
    m = Machine(scenario=name)
    drv = m.driver
    drv.history_limit = 1
    m.run()
    assert msgspec.msgpack.encode(list(m.events)) == msgspec.msgpack.encode(
        list(machines[name].events)
    )
    assert m.scenario.ok and m.scenario.results == machines[name].scenario.results
    full = machines[name].driver
    assert drv.history_dropped + len(drv.history) == len(full.history)
    assert drv.irqs_taken == len(full.irq_log) and len(drv.irq_log) <= 2
    if name == "io-load":
        # what it still holds: the bring-up's commands, and the newest two besides those
        # outstanding when it last let go (at most queues x depth = 32)
        assert [c for c in drv.history if c.pinned] == [c for c in full.history if c.pinned]
        assert len([c for c in drv.history if not c.pinned]) <= 2 + 32 < drv.history_dropped


def test_a_machine_that_keeps_no_events_bounds_its_drivers_history():
    from nvmescope.machine import DRIVER_HISTORY

    assert Machine(scenario="io-load", keep_events=False).driver.history_limit == DRIVER_HISTORY
    assert Machine(scenario="io-load").driver.history_limit is None


def test_the_event_stream_decodes_back_to_the_same_events(machines):
    from typing import Union

    from nvmescope.events import EVENT_TYPES

    events = list(machines["identify"].events)
    raw = msgspec.msgpack.encode(events)
    back = msgspec.msgpack.decode(raw, type=list[Union[tuple(EVENT_TYPES.values())]])  # noqa: UP007
    assert back == events


def _statuses(m: Machine) -> dict[str, str]:
    return {row.case: row.got for row in m.scenario.results}


def test_errors_scenario_gets_the_status_each_bad_input_earns(machines):
    got = _statuses(machines["errors"])
    assert got == {
        "invalid opcode": "invalid_opcode",
        "invalid field": "invalid_field",
        "invalid NSID": "invalid_ns_or_format",
        "delete CQ in use": "invalid_queue_deletion",
        "create SQ with invalid qid": "invalid_qid",
        "create SQ with invalid qsize": "invalid_qsize",
        "create SQ with nonexistent CQ": "invalid_cq",
        "create CQ with invalid vector": "invalid_vector",
        "bad log page": "invalid_log_page",
        "bad feature": "invalid_field",
        "PRP offset invalid": "prp_offset_invalid",
        "DMA to unmapped memory": "data_transfer_error",
        "invalid doorbell value": "type 0, info 01h, log page 01h",
        "Error log after the event": "success",
        "LBA out of range": "lba_out_of_range",
        "read with NSID 0": "invalid_ns_or_format",
        "read with NSID 2 beyond NN": "invalid_ns_or_format",
        "bad ASQ alignment": "CSTS=0x2",
        "recovery by reset": "CSTS=0x1",
        "Identify after recovery": "success",
    }


def test_errors_scenario_shows_each_condition_as_an_err_event(machines):
    kinds = [e.kind for e in machines["errors"].events if e.kind.startswith("err_")]
    assert kinds == [
        "err_invalid_opcode",
        "err_invalid_field",
        "err_invalid_nsid",
        "err_invalid_delete",
        "err_invalid_qid",
        "err_invalid_qsize",
        "err_invalid_cqid",
        "err_invalid_vector",
        "err_invalid_log_page",
        "err_invalid_feature",
        "err_invalid_prp_offset",
        "err_dma",
        "err_lba_range",
        "err_invalid_nsid",
        "err_invalid_nsid",
        "err_startfail",
    ]
    states = [e.state for e in machines["errors"].events if e.kind == "ctrl_state"]
    assert states == ["ready", "disabled", "fatal", "disabled", "ready"]


def test_admin_tour_covers_every_supported_admin_command(machines):
    m = machines["admin-tour"]
    got = _statuses(m)
    for cns in ("00", "01", "02", "03"):
        assert got[f"Identify CNS {cns}h"] == "success"
    for fid in ("01", "02", "04", "06", "07", "08", "09", "0B", "0E"):
        assert got[f"Get Features {fid}h"] == "success"
        want = "command_sequence_error" if fid == "07" else "success"
        assert got[f"Set Features {fid}h"] == want
    for lid in ("01", "02", "03"):
        assert got[f"Get Log Page {lid}h"] == "success"
    for q in ("Create I/O CQ 2", "Create I/O SQ 2", "Delete I/O SQ 2", "Delete I/O CQ 2"):
        assert got[q] == "success"
    assert got["AER held"] == "outstanding"
    assert got["Abort"] == "success" and got["aborted AER"] == "abort_requested"
    opnames = {e.opname for e in m.events if e.kind == "cmd_start"}
    assert opnames == {
        "identify", "get_features", "set_features", "get_log_page", "create_io_cq",
        "create_io_sq", "delete_io_sq", "delete_io_cq", "async_event_request", "abort",
    }  # fmt: skip


def test_identify_story_goes_from_doorbell_to_cq_head_doorbell(machines):
    events = machines["identify"].events
    start = next(i for i, e in enumerate(events) if e.kind == "host_step" and e.step == "highlight")
    story = events[start:]
    fetch = next(e for e in story if e.kind == "sqe_fetch")
    sqid, cid = fetch.sqid, fetch.cid
    assert sqid == 0 and fetch.data[0] == 0x06 and fetch.data[40] == 0x01  # Identify, CNS 01h

    def index(pred) -> int:
        return next(i for i, e in enumerate(story) if pred(e))

    steps = [
        index(lambda e: e.kind == "doorbell_sq" and e.sqid == 0),
        index(lambda e: e.kind == "sqe_fetch" and e.cid == cid),
        index(lambda e: e.kind == "dma_write" and e.cid == cid and e.length == 4096),
        index(lambda e: e.kind == "cqe_post" and e.cid == cid and e.cqid == 0),
        index(lambda e: e.kind == "irq_msix" and e.vector == 0),
        index(lambda e: e.kind == "host_irq" and e.vector == 0),
        index(lambda e: e.kind == "mem_read" and e.purpose.startswith("CQE CQ0")),
        index(lambda e: e.kind == "doorbell_cq" and e.cqid == 0),
    ]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    dma = story[steps[2]]
    assert dma.data[4:24].decode().strip() == machines["identify"].config.serial
    post = story[steps[3]]
    assert post.status == 0 and post.phase == 1
    ring = story[steps[7]]
    assert ring.new_head == post.new_tail


def test_scenario_on_a_smaller_controller_still_follows_linux_depth_cap():
    from nvmescope.emulator import ControllerConfig

    m = Machine(ControllerConfig(mqes=63), scenario="bringup")
    m.run()
    assert m.scenario.ok
    sqs = m.ctrl.snapshot()["sqs"]
    assert sqs[1]["size"] == 64


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_scenarios_end_is_its_last_event(machines, name):
    last = machines[name].events[-1]
    assert last.kind == "host_step" and last.step == "scenario_done", last


def test_a_second_interrupt_for_an_already_consumed_completion_is_explained(machines):
    events = machines["admin-tour"].events
    spurious = [e for e in events if e.kind == "host_step" and e.step == "spurious_irq"]
    assert spurious and all("one message per completion" in e.text for e in spurious)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_host_step_texts_count_completions_in_plain_english(machines, name):
    texts = [e.text for e in machines[name].events if e.kind == "host_step"]
    assert not [t for t in texts if "(s)" in t]
    rings = [t for t in texts if "Ring the CQ" in t and "head doorbell" in t]
    assert rings and all(("1 completion was new" in t) != ("completions were" in t) for t in rings)


def test_the_cqe_read_says_what_the_host_sees(machines):
    events = machines["identify"].events
    reads = [e for e in events if e.kind == "mem_read" and e.purpose.startswith("CQE ")]
    assert reads
    stale = 0
    for e in reads:
        p = e.data[14] | (e.data[15] << 8)
        cid = e.data[12] | (e.data[13] << 8)
        text = describe(e)
        sqhd = e.data[8] | (e.data[9] << 8)
        wanted = int(e.purpose[-1])  # "CQE CQ0 slot 12, new if P=1"
        if p & 1 == wanted:
            assert f"SQ head {sqhd}, SQ ID 0, cid {cid}, phase {p & 1}, status " in text, text
        else:  # the poll's last read: the slot holds no new completion
            what = "all zeros: never written" if not any(e.data) else "an old entry"
            assert text.endswith(
                f": no new completion (phase tag {p & 1}, not {wanted}; {what})"
            ), text
            stale += 1
    assert 0 < stale < len(reads)


def test_errors_scenario_shows_the_bad_doorbell_and_its_asynchronous_event(machines):
    events = machines["errors"].events
    ub = next(e for e in events if e.kind == "ub_db_invalid_value")
    ring = events[ub.seq - 1]
    assert ring.kind == "doorbell_sq" and ring.sqid == 1 and ring.new_tail == 1024
    aer = next(e for e in events[ub.seq :] if e.kind == "cqe_post" and e.cid == 31)
    assert aer.dw0 == 0x0001_0100  # type 0 error, info 01h Invalid Doorbell Write Value, log 01h
    texts = [e.text for e in events if e.kind == "host_step" and e.step == "async_event"]
    assert any("Invalid Doorbell Write Value" in t for t in texts)
    # Linux sends a new AER once one completes; the device holds it at the end
    assert machines["errors"].ctrl.snapshot()["aer_outstanding"] == [31]


def test_errors_summary_says_cfs_is_this_devices_choice():
    story = SCENARIOS["errors"].story
    assert "forbids the host" in story and "this device answers" in story
