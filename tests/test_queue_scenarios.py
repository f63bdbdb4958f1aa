"""The queue scenarios (issue 10): multi-queue, queue-wrap, wrr and coalescing each do
what their story says on the device's own events, check it themselves, leave the
scoreboard nothing to find, and report a device that breaks the rule they check."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nvmescope.cli import app
from nvmescope.emulator import ControllerConfig
from nvmescope.machine import Machine
from nvmescope.trace.checks import run_checks


def run(name: str, config: ControllerConfig | None = None, **params: int) -> Machine:
    m = Machine(config, scenario=name, params=params)
    m.run()
    return m


def ok(name: str, config: ControllerConfig | None = None, **params: int) -> Machine:
    m = run(name, config, **params)
    assert m.scenario.ok, m.scenario.failures()
    # every Read predicted from the model of the blocks, and no protocol rule broken
    assert [f.line() for f in run_checks(m.events) if f.severity == "error"] == []
    return m


def failed_cases(m: Machine) -> set[str]:
    return {row.case for row in m.scenario.results if not row.ok}


def of(m: Machine, kind: str, **fields: int) -> list:
    return [
        e for e in m.events
        if e.kind == kind and all(getattr(e, k) == v for k, v in fields.items())
    ]  # fmt: skip


# -- multi-queue ----------------------------------------------------------------------------------
def test_multi_queue_uses_every_queue_the_controller_grants():
    m = ok("multi-queue")
    sqs = {e.qid for e in of(m, "queue_created", qtype="sq")}
    assert sqs == set(range(1, 65))  # max_io_queues' default: 64
    fetched = {e.sqid for e in of(m, "sqe_fetch") if e.sqid}
    assert fetched == sqs
    # one tail doorbell per SQ for the batch of writes, and one for the reads
    rung = [e.sqid for e in of(m, "doorbell_sq") if e.sqid]
    assert sorted(rung) == sorted(list(range(1, 65)) * 2)


def test_several_sqs_complete_into_each_cq():
    m = ok("multi-queue", per_cq=8, sqs=32)
    into: dict[int, set[int]] = {}
    for e in of(m, "cqe_post"):
        if e.cqid:
            into.setdefault(e.cqid, set()).add(e.sqid)
    assert into == {c: set(range(8 * c - 7, 8 * c + 1)) for c in range(1, 5)}


def test_multi_queue_follows_a_controller_that_grants_more():
    m = ok("multi-queue", ControllerConfig(max_io_queues=80, msix_vectors=81), depth=1)
    assert {e.qid for e in of(m, "queue_created", qtype="sq")} == set(range(1, 81))


def test_multi_queue_catches_a_wrong_sq_head(monkeypatch):
    from nvmescope.emulator import controller
    from nvmescope.nvme.commands import pack_cqe

    def wrong_head(dw0, dw1, sqhd, sqid, cid, phase, status):
        return pack_cqe(dw0, dw1, (sqhd + 5) % 16 if sqid > 1 else sqhd, sqid, cid, phase, status)

    monkeypatch.setattr(controller, "pack_cqe", wrong_head)
    m = run("multi-queue", sqs=8, per_cq=2, depth=2)
    assert failed_cases(m) == {"SQ Head in every CQE"}


# -- queue-wrap -----------------------------------------------------------------------------------
def test_queue_wrap_flips_the_phase_tag_on_every_pass():
    m = ok("queue-wrap")
    posts = of(m, "cqe_post", cqid=2)
    assert len(posts) == 24  # 12 Writes and 12 Reads through a 4-entry CQ
    assert [e.slot for e in posts] == [k % 4 for k in range(24)]
    assert [e.phase for e in posts] == [1 - (k // 4) % 2 for k in range(24)]
    wraps = [e for e in of(m, "host_step") if e.step == "cq_wrap" and "CQ2 " in e.text]
    assert len(wraps) == 6


def test_a_full_cq_makes_the_device_wait_for_the_head_doorbell():
    m = ok("queue-wrap")
    full = of(m, "cq_full", cqid=3)
    assert full, "the device never found CQ3 full"
    for e in full:
        later = [x for x in m.events[e.seq :] if x.kind in ("cqe_post", "doorbell_cq")
                 and getattr(x, "cqid", None) == 3]  # fmt: skip
        # the completion it holds is posted only after the host frees entries
        assert later[0].kind == "doorbell_cq"
    # CQ3 has no interrupts (IEN 0): the host found every CQE by polling
    assert of(m, "cqe_post", cqid=3) and not [e for e in of(m, "irq_msix") if e.sqid == 3]


def test_queue_wrap_takes_its_size_and_laps():
    m = ok("queue-wrap", qsize=8, laps=2)
    posts = of(m, "cqe_post", cqid=2)
    assert len(posts) == 32 and [e.phase for e in posts[-8:]] == [0] * 8


def test_a_large_queue_wraps_and_its_polled_cq_still_fills():
    m = ok("queue-wrap", qsize=65536, laps=1)
    size = m.config.mqes + 1  # the pair takes CAP.MQES + 1 entries at most
    assert len(of(m, "cqe_post", cqid=2)) == 2 * size
    assert of(m, "cq_full", cqid=3)


def test_a_batch_that_wraps_a_queue_waits_for_a_tag_and_never_reuses_a_cid_in_flight():
    """SQ Heads come back before the commands fetched with them complete (four parallel
    units), so a batch can find SQ room with every one of the depth - 1 tags in use: it
    waits for a completion to free a tag, as blk-mq does. qsize 128 over 3 laps gave four
    Reads the CID 0 of another command still outstanding; their CQEs went to it."""
    m = ok("queue-wrap", qsize=128, laps=3)
    outstanding: set[int] = set()
    for e in m.events:
        if e.kind == "sqe_fetch" and e.sqid == 2:
            assert e.cid not in outstanding, f"cid {e.cid} fetched again while in flight"
            outstanding.add(e.cid)
        elif e.kind == "cqe_post" and e.sqid == 2:
            outstanding.discard(e.cid)


@pytest.mark.parametrize(
    ("params", "knobs", "words"),
    [
        ({"qsize": 65536, "laps": 64}, {}, "at most 16384 Writes in one batch"),
        ({"qsize": 2048, "laps": 8}, {}, "16415 blocks of namespace 1"),
        ({}, {"namespace_size_bytes": 65536}, "43 blocks of namespace 1"),
    ],
)
def test_queue_wrap_past_its_namespace_or_its_buffers_is_one_check_that_says_so(
    params, knobs, words
):
    """More Writes than namespace 1 has blocks (they went LBA Out of Range) or than one
    batch has buffers for (the host's memory ran out: an internal error)."""
    m = run("queue-wrap", ControllerConfig(**knobs), **params)
    assert [row.case for row in m.scenario.results] == ["blocks for the laps"]
    assert words in m.scenario.failures()[0]
    assert not of(m, "queue_created", qid=2)


def test_a_host_that_polls_faster_than_the_device_completes_is_told_so():
    m = run("queue-wrap", qsize=16, poll_us=1)
    assert failed_cases(m) == {"CQ full, device waits"}
    row = next(row for row in m.scenario.results if row.case == "CQ full, device waits")
    assert "poll less often: -p poll_us" in row.got


def test_queue_wrap_catches_a_device_that_overwrites_a_full_cq(monkeypatch):
    from nvmescope.emulator.queues import CompletionQueue

    monkeypatch.setattr(CompletionQueue, "full", property(lambda self: False))
    m = run("queue-wrap")
    assert "CQ full, device waits" in failed_cases(m)


# -- wrr ------------------------------------------------------------------------------------------
def _order(m: Machine) -> list[int]:
    return [e.sqid for e in of(m, "sqe_fetch") if 2 <= e.sqid <= 6]


def test_wrr_serves_the_urgent_sq_first_then_rounds_by_weight():
    m = ok("wrr")
    assert m.config.ams == 1 and m.config.parallel_units == 1
    order = _order(m)
    assert order[:12] == [2] * 12
    # high 4 (SQ3 and SQ4, bursts of 2), medium 2, low 1 per round
    assert order[12:19] == [3, 3, 4, 4, 5, 5, 6]
    whys = [e.arbitration for e in of(m, "sqe_fetch") if e.sqid == 3]
    assert any("new round (high 4, medium 2, low 1 credits)" in w for w in whys)
    assert all(e.arbitration.startswith("WRR: urgent") or "burst" in e.arbitration
               for e in of(m, "sqe_fetch", sqid=2))  # fmt: skip


def test_the_arbitration_feature_sets_the_burst_and_weights():
    m = ok("wrr", burst=0, high=2, medium=1, low=1)
    order = _order(m)
    assert order[12:16] == [3, 4, 5, 6]  # one command per arbitration, high 2, medium 1, low 1


@pytest.mark.parametrize(
    "params",
    [{"count": 1}, {"burst": 7}, {"high": 256, "medium": 256, "low": 256},
     {"count": 40, "high": 3, "medium": 7, "low": 2, "burst": 3}],
)  # fmt: skip
def test_wrr_checks_every_round_whatever_the_weights(params):
    m = ok("wrr", **params)
    rounds = next(row for row in m.scenario.results if row.case == "weights per round")
    assert rounds.ok and rounds.got == "as expected"


def test_wrr_without_it_in_cap_ams_is_round_robin():
    m = ok("wrr", ControllerConfig(ams=0, parallel_units=1))
    assert [row.got for row in m.scenario.results if row.case == "CC.AMS"] == ["000b"]
    assert "round robin" in {row.case for row in m.scenario.results}
    assert all(e.arbitration.startswith(("round robin", "burst")) for e in of(m, "sqe_fetch"))


def test_wrr_says_so_when_the_device_never_had_to_choose():
    # room for every command at once: each SQ is fetched whole as its doorbell rings
    m = run("wrr", ControllerConfig(ams=1, parallel_units=100))
    assert failed_cases(m) == {"commands waiting for arbitration"}


def test_wrr_says_so_when_the_device_had_room_for_most_commands_at_once():
    """--profile ssd's 42 units: the urgent SQ, both high SQs and half the medium one are
    fetched as their doorbells ring, the rest arbitrated. One check says the device never
    had to choose for them, not the weights and the burst that it could not show."""
    from nvmescope.emulator.config import PROFILES

    m = run("wrr", ControllerConfig(**dict(PROFILES["ssd"], ams=1)))
    assert _order(m)[:42] == [q for q in (2, 3, 4) for _ in range(12)] + [5] * 6
    assert failed_cases(m) == {"commands waiting for arbitration"}
    assert "the first 42 commands were fetched SQ after SQ" in m.scenario.failures()[0]


def test_wrr_catches_a_device_that_ignores_the_urgent_class(monkeypatch):
    from nvmescope.emulator.arbiter import ADMIN_CLASS, QPRIO_MEDIUM, Arbiter

    monkeypatch.setattr(
        Arbiter, "_class", staticmethod(lambda sq: ADMIN_CLASS if sq.sqid == 0 else QPRIO_MEDIUM)
    )
    m = run("wrr")
    assert "urgent class first" in failed_cases(m)


# -- coalescing -----------------------------------------------------------------------------------
def test_coalescing_holds_interrupts_by_threshold_and_time():
    m = ok("coalescing")
    held = of(m, "irq_coalesced", vector=1)
    assert held and not of(m, "irq_coalesced", vector=2)
    # part one: 8 messages on vector 1; part two: 2 by threshold; part three: 1 by time
    assert len(of(m, "irq_msix", vector=1)) == 8 + 2 + 1
    assert len(of(m, "irq_msix", vector=2)) == 8
    last = of(m, "irq_msix", vector=1)[-1]
    first_held = [e for e in held if e.count == 1][-1]
    assert last.ts - first_held.ts == 2 * 100_000


def test_coalescing_takes_its_threshold_and_time():
    m = ok("coalescing", thr=2, time=5, count=6)
    assert len(of(m, "irq_msix", vector=1)) == 6 + 3 + 1
    last = of(m, "irq_msix", vector=1)[-1]
    first_held = [e for e in of(m, "irq_coalesced", vector=1) if e.count == 1][-1]
    assert last.ts - first_held.ts == 5 * 100_000


def test_coalescing_catches_a_device_that_never_coalesces(monkeypatch):
    from nvmescope.emulator.controller import Controller

    monkeypatch.setattr(Controller, "_coalescing", lambda self, cq: None)
    m = run("coalescing")
    assert failed_cases(m) == {"coalesced interrupts", "aggregation time"}


def test_coalescing_catches_a_device_that_ignores_coalescing_disable(monkeypatch):
    from nvmescope.emulator.controller import Controller

    original = Controller._coalescing

    def ignores_cd(self, cq):
        saved, self.state.irq_vector_cd = self.state.irq_vector_cd, {}
        try:
            return original(self, cq)
        finally:
            self.state.irq_vector_cd = saved

    monkeypatch.setattr(Controller, "_coalescing", ignores_cd)
    m = run("coalescing")
    assert "coalescing disabled on a vector" in failed_cases(m)


# -- from the command line ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "param"),
    [("multi-queue", "depth=257"), ("queue-wrap", "qsize=1"), ("wrr", "burst=8"),
     ("coalescing", "time=0")],
)  # fmt: skip
def test_a_parameter_outside_its_range_is_one_line(name, param):
    result = CliRunner().invoke(app, ["trace", name, "-p", param])
    assert result.exit_code != 0
    assert result.stderr.count("\n") == 1 and param.split("=")[0] in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


# -- controllers the stories do not fit -----------------------------------------------------------
@pytest.mark.parametrize("name", ["queue-wrap", "wrr", "coalescing"])
def test_too_few_queues_granted_is_one_failed_check_that_says_so(name):
    m = run(name, ControllerConfig(max_io_queues=1))
    assert failed_cases(m) == {"I/O queues granted"}
    assert not of(m, "queue_created", qtype="sq", qid=2)


def test_coalescing_needs_a_vector_per_cq():
    m = run("coalescing", ControllerConfig(msix_vectors=2))
    assert failed_cases(m) == {"MSI-X vectors"}


@pytest.mark.parametrize("name", ["multi-queue", "queue-wrap", "wrr", "coalescing"])
def test_the_stories_fit_queues_of_two_entries(name):
    # CAP.MQES = 1: every queue holds one command; each scenario shrinks its workload
    ok(name, ControllerConfig(mqes=1))
