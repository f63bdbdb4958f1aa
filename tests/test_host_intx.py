"""Without an MSI-X capability (-c msix=0) the host model takes its interrupts on INTx, as
Linux 6.1 does (pci_alloc_irq_vectors falls back to the legacy IRQ, shared by every
queue's handler): no command waits for its timeout."""

from __future__ import annotations

import dataclasses

import pytest

from nvmescope.emulator import ControllerConfig
from nvmescope.host import SCENARIOS
from nvmescope.machine import Machine


def run(scenario: str, **knobs: int | bool) -> Machine:
    # the scenario's own knobs (wrr: WRR and one unit; protection: metadata), then INTx
    config = ControllerConfig(**SCENARIOS[scenario].knobs)
    m = Machine(dataclasses.replace(config, msix=False, **knobs), scenario=scenario)
    m.run()
    return m


def steps(m: Machine) -> list[str]:
    return [e.step for e in m.events if e.kind == "host_step"]


#: scenarios whose story is about MSI-X vectors: on INTx they say so in a failed check
NEEDS_MSIX = {"coalescing"}  # Feature 09h's per-vector Coalescing Disable, two vectors


def test_a_scenario_about_msix_vectors_says_on_intx_that_it_needs_them():
    for scenario in sorted(NEEDS_MSIX):
        m = run(scenario)
        assert [r.case for r in m.scenario.results if not r.ok] == ["MSI-X vectors"]


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS) - NEEDS_MSIX))
def test_every_scenario_runs_on_intx_with_no_command_timing_out(scenario):
    m = run(scenario)
    assert m.scenario.ok
    timeouts = [s for s in steps(m) if s.startswith(("nvme_timeout", "timeout"))]
    assert timeouts == []
    irqs = [e for e in m.events if e.kind == "host_irq"]
    assert irqs and {e.vector for e in irqs} == {0}
    assert not any(e.kind == "irq_msix" for e in m.events)


def test_the_admin_queue_s_handler_is_on_the_intx_pin_and_each_command_completes_at_once():
    m = run("bringup")
    request = next(e for e in m.events if e.kind == "host_step" and e.step == "request_irq")
    assert "INTx pin" in request.text
    # each admin command: the CQE posted, the pin asserted, the handler, the head doorbell
    for post in (e for e in m.events if e.kind == "cqe_post"):
        later = [e for e in m.events if e.seq > post.seq]
        doorbell = next(e for e in later if e.kind == "doorbell_cq" and e.cqid == post.cqid)
        assert doorbell.ts - post.ts < 10_000  # ns: by the handler, not a 60 s timeout
    assert m.events[-1].ts < 2_000_000


def test_a_queue_with_nothing_new_says_the_line_is_shared():
    m = run("io")
    assert "intx_not_mine" in steps(m)
    assert "spurious_irq" not in steps(m)


def test_a_pin_still_asserted_after_the_handler_interrupts_again():
    """A CQE posted while the pin was already up (the handler had looked at that CQ
    already) makes no new edge: the level-triggered line interrupts again at once."""
    m = run("io-load", io_latency_ns=1000, cmd_latency_ns=1000)
    events = m.events
    again = [i for i, e in enumerate(events) if e.kind == "host_step" and e.step ==
             "intx_still_asserted"]  # fmt: skip
    assert again
    for i in again:
        nxt = next(e for e in events[i + 1 :] if e.kind in ("host_irq", "irq_intx"))
        assert nxt.kind == "host_irq"  # the handler again, with no new edge before it
    assert m.scenario.ok
    assert not [s for s in steps(m) if s.startswith(("nvme_timeout", "timeout"))]
