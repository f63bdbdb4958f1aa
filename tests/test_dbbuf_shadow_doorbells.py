"""Doorbell Buffer Config (admin 7Ch): shadow doorbells and EventIdx behind ControllerConfig.dbbuf.

With the knob on, Identify OACS bit 8 offers the command, the Linux driver model
sends it after creating its I/O queues, writes I/O queue doorbells into the
shadow page and rings the MMIO doorbell only when Linux's EventIdx rule says so;
the device reads the shadows and writes EventIdx. With the knob off nothing
changes: 7Ch is an Invalid Command Opcode and the event stream is the shipped one.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nvmescope.emulator import ControllerConfig
from nvmescope.host.driver import nvme_dbbuf_need_event
from nvmescope.machine import Machine
from nvmescope.nvme import identify as idf
from nvmescope.nvme import status as sts
from nvmescope.trace import open_recording, record, verify

ROOT = Path(__file__).resolve().parents[1]
PAGE = 4096
DBBUF = 0x7C


def _run(scenario: str, dbbuf: bool, **params: int) -> Machine:
    m = Machine(ControllerConfig(dbbuf=dbbuf), scenario=scenario, params=params or None)
    m.run()
    assert m.scenario is not None and m.scenario.ok, m.scenario.failures()
    return m


def _mmio_doorbells(m: Machine) -> int:
    return sum(e.kind in ("doorbell_sq", "doorbell_cq") for e in m.events)


def _completion_of(m: Machine, opc: int, sqid: int = 0) -> list:
    fetched = {
        (e.sqid, e.cid, e.seq) for e in m.events if e.kind == "sqe_fetch" and e.data[0] == opc
    }
    keys = {(s, c) for s, c, _ in fetched if s == sqid}
    return [e for e in m.events if e.kind == "cqe_post" and (e.sqid, e.cid) in keys]


# -- bring-up -----------------------------------------------------------------------------
def test_bringup_with_dbbuf_sends_doorbell_buffer_config_and_it_succeeds():
    m = _run("bringup", True)
    fetches = [e.data[0] for e in m.events if e.kind == "sqe_fetch" and e.sqid == 0]
    assert DBBUF in fetches
    assert fetches.index(DBBUF) == fetches.index(0x01) + 1  # right after Create I/O SQ
    posts = _completion_of(m, DBBUF)
    assert len(posts) == 1 and posts[0].status & 0x7FF == 0
    assert m.driver.dbbuf is not None
    assert m.ctrl.dbbuf == m.driver.dbbuf
    oacs = idf.IDENTIFY_CONTROLLER.parse(m.driver.id_ctrl).oacs
    assert oacs & idf.OACS_DBBUF
    # 7Ch wrote every existing queue's current value into both pages: admin queue 0 included
    config = _completion_of(m, DBBUF)[0]
    init = [
        e
        for e in m.events
        if e.kind == "dma_write" and (e.sqid, e.cid) == (0, config.cid) and e.seq < config.seq
    ]
    dbs, eis = m.ctrl.dbbuf
    offsets = {(e.purpose, e.addr - (dbs if e.purpose == "shadow doorbell" else eis)) for e in init}
    assert offsets == {(p, o) for p in ("shadow doorbell", "eventidx") for o in (0, 4, 8, 12)}


def test_default_config_offers_no_dbbuf_and_answers_7ch_with_invalid_opcode():
    m = _run("bringup", False)
    oacs = idf.IDENTIFY_CONTROLLER.parse(m.driver.id_ctrl).oacs
    assert not oacs & idf.OACS_DBBUF
    assert DBBUF not in [e.data[0] for e in m.events if e.kind == "sqe_fetch"]
    a, b = m.api.alloc(PAGE), m.api.alloc(PAGE)
    c = m.driver.submit_admin(DBBUF, prp1=a, prp2=b)
    assert (c.sct, c.sc) == sts.INVALID_OPCODE
    assert m.ctrl.dbbuf is None
    assert "dbbuf" not in m.ctrl.snapshot()


def test_the_default_bringup_is_the_shipped_recording_event_for_event():
    """Knob absent and knob off both give exactly the events recorded before it existed."""
    shipped = list(open_recording(ROOT / "recordings" / "bringup.nvmetrace").events())
    for config in (None, ControllerConfig(), ControllerConfig(dbbuf=False)):
        m = Machine(config, scenario="bringup")
        m.run()
        assert m.events == shipped


def test_commands_effects_log_lists_7ch_only_with_the_knob():
    for dbbuf in (False, True):
        m = _run("bringup", dbbuf)
        c = m.driver.submit_admin(0x02, cdw10=0x05 | (1023 << 16), data_len=4096, nsid=0)
        assert c.ok
        acs = int.from_bytes(c.data[DBBUF * 4 : DBBUF * 4 + 4], "little")
        assert bool(acs & 1) == dbbuf


# -- I/O with shadow doorbells -----------------------------------------------------------
@pytest.mark.parametrize(
    ("scenario", "params"), [("io", {}), ("io-load", {"count": 24, "queues": 3, "depth": 6})]
)
def test_io_with_shadow_doorbells_passes_with_fewer_mmio_doorbells(scenario, params):
    plain = _run(scenario, False, **params)
    shadow = _run(scenario, True, **params)
    assert _mmio_doorbells(shadow) < _mmio_doorbells(plain)
    kinds = Counter((e.kind, getattr(e, "purpose", "")) for e in shadow.events)
    assert kinds["dma_read", "shadow doorbell"] > 0
    assert kinds["dma_write", "eventidx"] > 0
    host_shadow = [
        e for e in shadow.events if e.kind == "mem_write" and e.purpose.startswith("shadow SQ")
    ]
    assert host_shadow  # the host wrote shadow doorbells of I/O queues
    dbs = shadow.driver.dbbuf[0]
    assert all(e.addr >= dbs + 8 for e in host_shadow)  # never the admin queue's (Linux 6.1)
    # the data checks are the scenario's own: every one ran and passed
    compares = [row for row in shadow.scenario.results if row.command == "compare"]
    assert compares and all(row.ok for row in compares)


def test_a_shadow_only_sq_tail_is_fetched_without_an_mmio_doorbell():
    """Commands published only in the shadow page are fetched: the device reads it itself."""
    m = _run("io-load", True, count=16, queues=1, depth=8)
    fetched = [e for e in m.events if e.kind == "sqe_fetch" and e.sqid == 1]
    rung = {e.new_tail for e in m.events if e.kind == "doorbell_sq" and e.sqid == 1}
    assert len(fetched) == 32
    assert len(rung) < len(fetched)


def test_the_device_reads_shadows_only_after_7ch():
    m = _run("bringup", True)
    config_seq = next(e.seq for e in m.events if e.kind == "sqe_fetch" and e.data[0] == DBBUF)
    shadow = [e for e in m.events if getattr(e, "purpose", "") in ("shadow doorbell", "eventidx")]
    assert shadow and all(e.seq > config_seq for e in shadow)


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prp1_off", "prp2_off", "same"), [(0x200, 0, False), (0, 0x10, False), (0, 0, True)]
)
def test_a_bad_buffer_address_gives_invalid_field(prp1_off, prp2_off, same):
    m = Machine(ControllerConfig(dbbuf=True), scenario=None)
    drv = _hand_driver(m)
    a = m.api.alloc(PAGE)
    b = a if same else m.api.alloc(PAGE)
    c = drv.submit_admin(DBBUF, prp1=a + prp1_off, prp2=b + prp2_off)
    assert (c.sct, c.sc) == sts.INVALID_FIELD
    assert m.ctrl.dbbuf is None
    assert not any(getattr(e, "purpose", "") == "shadow doorbell" for e in m.events)


def test_unmapped_buffers_give_invalid_field():
    m = Machine(ControllerConfig(dbbuf=True), scenario=None)
    drv = _hand_driver(m)
    c = drv.submit_admin(DBBUF, prp1=0x7000_0000_0000, prp2=0x7000_0000_1000)
    assert (c.sct, c.sc) == sts.INVALID_FIELD
    assert m.ctrl.dbbuf is None


def test_a_shadow_tail_beyond_the_queue_is_ignored_with_ub_and_the_device_survives():
    m = _run("bringup", True)
    dbs, _ = m.ctrl.dbbuf
    sq1 = m.ctrl.sqs[1]
    m.api.mem_write(dbs + 8, (sq1.size + 5).to_bytes(4, "little"), "bad shadow")
    m.api.mmio_write32(0x1008, 1)  # one (all-zero) entry by MMIO; the shadow says nonsense
    m.run()
    subs = [e for e in m.events if e.kind == "ub_db_invalid_value" and "shadow" in e.detail]
    assert subs
    assert m.ctrl.sqs[1].tail == 1  # the MMIO value stands, the shadow's was ignored
    assert [e.new_head for e in m.events if e.kind == "sqe_fetch" and e.sqid == 1] == [1]
    assert m.ctrl.csts & 0x2 == 0  # no fatal status


def _hand_driver(m: Machine):
    from nvmescope.host.driver import LinuxDriver

    drv = LinuxDriver(m.api)
    assert m.api.run_task(drv.nvme_pci_enable())
    assert m.api.run_task(drv.nvme_pci_configure_admin_queue())
    return drv


# -- reset -------------------------------------------------------------------------------------
def test_a_controller_reset_forgets_the_buffers():
    m = _run("bringup", True)
    first = m.ctrl.dbbuf
    assert first is not None and m.ctrl.snapshot()["dbbuf"] == list(first)
    m.api.mmio_write32(0x14, m.driver.ctrl_config & ~1)  # CC.EN 1 -> 0
    assert m.ctrl.dbbuf is None
    assert m.ctrl.snapshot()["dbbuf"] is None
    m.run()
    # bring it up again without the driver's 7Ch: admin commands read no shadow doorbells
    m.driver.forget_queues()
    before = len(m.events)
    assert m.api.run_task(m.driver.nvme_pci_configure_admin_queue())
    c = m.driver.identify(1)
    c = m.api.run_task(c)
    assert c.ok
    after = m.events[before:]
    assert not any(getattr(e, "purpose", "") in ("shadow doorbell", "eventidx") for e in after)
    assert m.ctrl.dbbuf is None


def test_the_driver_configures_the_buffers_again_after_a_reset():
    m = _run("bringup", True)
    assert m.api.run_task(m.driver.nvme_reset_ctrl())
    posts = _completion_of(m, DBBUF)
    assert len(posts) == 2 and all(p.status & 0x7FF == 0 for p in posts)
    assert m.ctrl.dbbuf == m.driver.dbbuf is not None


# -- replay ------------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", ["io", "io-load"])
def test_a_dbbuf_recording_replays_identically(tmp_path, scenario):
    path = tmp_path / f"{scenario}.nvmetrace"
    params = {"count": 12, "queues": 2, "depth": 4} if scenario == "io-load" else None
    record(scenario, path, config=ControllerConfig(dbbuf=True), params=params)
    rec = open_recording(path)
    assert rec.config["dbbuf"] is True
    result = verify(rec)
    assert result.ok, result.describe()
    assert result.checked == len(rec)
    assert any(rec.event(i).kind == "dma_read" for i in range(len(rec)))


# -- configuration and Linux's rule ----------------------------------------------------------------
def test_dbbuf_needs_every_doorbell_in_one_page():
    assert ControllerConfig(dbbuf=True).problems() == []
    assert ControllerConfig(dstrd=15).problems() == []
    problems = ControllerConfig(dbbuf=True, dstrd=15).problems()
    assert len(problems) == 1 and "dbbuf" in problems[0]


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_need_event_rings_exactly_when_the_update_passes_eventidx(event_idx, new, old):
    """Ring iff EventIdx is one of the indexes old, old+1, ..., new-1 (16-bit, wrapping)."""
    passed = {(old + i) & 0xFFFF for i in range((new - old) & 0xFFFF)}
    assert nvme_dbbuf_need_event(event_idx, new, old) == (event_idx in passed)
