"""The driver brings up any sensible controller configuration (and adapts to it)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from nvmescope.emulator import ControllerConfig
from nvmescope.machine import Machine
from nvmescope.nvme import registers as r


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mqes=hs.integers(min_value=31, max_value=4095),
    dstrd=hs.integers(min_value=0, max_value=4),
    msix_vectors=hs.integers(min_value=1, max_value=8),
    max_io_queues=hs.integers(min_value=1, max_value=8),
    rdy_delay_ns=hs.integers(min_value=0, max_value=20_000_000),
)
def test_bringup_succeeds_on_any_sensible_configuration(
    mqes, dstrd, msix_vectors, max_io_queues, rdy_delay_ns
):
    config = ControllerConfig(
        mqes=mqes,
        dstrd=dstrd,
        msix_vectors=msix_vectors,
        max_io_queues=max_io_queues,
        rdy_delay_ns=rdy_delay_ns,
    )
    m = Machine(config, scenario="bringup")
    m.run()
    assert m.scenario.ok, m.scenario.table()
    snap = m.ctrl.snapshot()
    assert snap["sqs"][1]["size"] == min(mqes + 1, 1024)
    # doorbells at the stride CAP.DSTRD asks for
    sq_bells = {e.addr for e in m.events if e.kind == "doorbell_sq"}
    assert sq_bells == {r.sq_tail_doorbell(0, dstrd)}
    cq_bells = {e.addr for e in m.events if e.kind == "doorbell_cq"}
    assert cq_bells == {r.cq_head_doorbell(0, dstrd)}
    # with one vector the I/O CQ shares vector 0
    cq1 = snap["cqs"][1]
    assert cq1["vector"] == (1 if msix_vectors > 1 else 0)
    # CSTS polls: one read before RDY, then one per millisecond until ready
    polls = [e for e in m.events if e.kind == "mmio_read" and e.addr == 0x1C and e.ts > 0]
    assert polls[-1].value & 1


def test_a_device_that_never_gets_ready_ends_in_a_timeout_not_a_hang():
    config = ControllerConfig(timeout=1, rdy_delay_ns=10_000_000_000)  # CAP.TO = 500 ms
    m = Machine(config, scenario="bringup")
    m.run()
    assert m.scenario.done and not m.scenario.ok
    steps = [e.step for e in m.events if e.kind == "host_step"]
    assert "ready_timeout" in steps
    polls = [e for e in m.events if e.kind == "mmio_read" and e.addr == 0x1C]
    # about one a millisecond for (CAP.TO + 1) / 2 = 1 s: Linux rounds CAP.TO's 500 ms up
    assert 900 < len(polls) < 1100
