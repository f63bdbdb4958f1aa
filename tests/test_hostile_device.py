"""A hostile host cannot break the device, hang a run, or crash the host API."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from nvmescope.events import Event
from nvmescope.host.api import DeviceBusyError, HostAccessError
from nvmescope.machine import Machine
from nvmescope.nvme.commands import pack_sqe, unpack_cqe
from nvmescope.trace import Recorder, verify

CC = 0x14
CSTS = 0x1C
CC_ENABLE = 0x0046_0001  # IOSQES 6, IOCQES 4, CSS NVM, MPS 0, EN
CC_SHN_NORMAL = 1 << 14


def _configure_admin(m: Machine) -> tuple[int, int]:
    api = m.api
    api.config_write(0x04, 2, 0x0006)
    asq, acq = api.alloc(), api.alloc()
    api.mmio_write32(0x24, 0x000F_000F)
    api.mmio_write64(0x28, asq)
    api.mmio_write64(0x30, acq)
    return asq, acq


def _wait_ready(m: Machine, ready: int) -> None:
    for _ in range(100):
        if m.api.mmio_read32(CSTS) & 1 == ready:
            return
        m.api.run_for(50_000)
    raise AssertionError(f"CSTS.RDY never became {ready}")


# -- 1. CSTS.SHST after CC.SHN written while CC.EN = 0 ----------------------------------------
def test_shutdown_while_disabled_then_a_normal_bringup_works():
    m = Machine(scenario=None)
    asq, acq = _configure_admin(m)
    m.api.mmio_write32(CC, CC_SHN_NORMAL)  # CC.SHN = 01b while CC.EN = 0
    m.api.run_until_idle()
    assert any(e.kind == "ub_shutdown_while_disabled" for e in m.events)
    m.api.mmio_write32(CC, CC_ENABLE)  # a normal bring-up: SHN = 0, EN = 1
    _wait_ready(m, 1)
    assert m.api.mmio_read32(CSTS) == 0x1  # RDY, SHST = 00b
    buf = m.api.alloc()
    m.api.mem_write(asq, pack_sqe(opc=0x06, cid=5, prp1=buf, cdw10=1))
    m.api.mmio_write32(0x1000, 1)
    m.api.run_until_idle()
    assert not any(e.kind == "ub_db_after_shutdown" for e in m.events)
    cqe = unpack_cqe(m.api.peek(acq, 16))
    assert (cqe.cid, cqe.sct, cqe.sc) == (5, 0, 0)


def test_enable_right_after_shutdown_while_disabled_is_not_undone_by_it():
    m = Machine(scenario=None)
    _configure_admin(m)
    m.api.mmio_write32(CC, CC_SHN_NORMAL)
    m.api.mmio_write32(CC, CC_ENABLE)  # before the shutdown's delay has passed
    m.api.run_until_idle()
    assert m.api.mmio_read32(CSTS) == 0x1


# -- 2. run_until_idle has a bound --------------------------------------------------------------
def test_run_until_idle_gives_up_on_a_program_that_never_ends():
    m = Machine(scenario=None)

    def spin() -> Generator[Any, None, None]:
        while True:
            m.api.mmio_read32(CSTS)
            yield 1_000

    m.api.spawn(spin())
    with pytest.raises(DeviceBusyError, match="still busy after 500 scheduler steps"):
        m.api.run_until_idle(max_steps=500)
    assert isinstance(DeviceBusyError("x"), RuntimeError)


# -- 3. addresses outside the host are refused before anything is recorded --------------------
@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("mem_read", (2**64 - 1, 16)),
        ("mem_read", (-1, 4)),
        ("mem_read", (0, -1)),
        ("mem_read", (0, 2**40)),
        ("mem_write", (2**64 - 8, b"\0" * 16)),
        ("mem_write", (-4096, b"\1")),
        ("peek", (2**64, 1)),
        ("mmio_read32", (2**64,)),
        ("mmio_write32", (-4, 0)),
        ("mmio_read64", (1 << 40,)),
        ("config_read", (0, 3)),
        ("config_write", (-1, 4, 0)),
    ],
)
def test_an_access_no_host_can_make_is_refused_before_it_is_recorded(tmp_path, call, args):
    m = Machine(scenario=None)
    rec = Recorder.attach(m, tmp_path / "h.nvmetrace")
    m.api.config_read(0, 4)
    before = len(m.events)
    with pytest.raises(HostAccessError):
        getattr(m.api, call)(*args)
    assert len(m.events) == before
    assert isinstance(HostAccessError("x"), ValueError)
    rec.close()
    assert verify(tmp_path / "h.nvmetrace").ok


# -- 4. replay reproduces the live order at one instant ------------------------------------------
def test_two_identifies_under_intx_then_cq_head_at_the_same_instant_replay_identically(tmp_path):
    path = tmp_path / "two.nvmetrace"
    m = Machine(scenario=None)
    rec = Recorder.attach(m, path)
    asq, acq = _configure_admin(m)
    m.api.mmio_write32(CC, CC_ENABLE)
    m.api.run_until_idle()
    buf = m.api.alloc()
    m.api.mem_write(asq, pack_sqe(opc=0x06, cid=1, prp1=buf, cdw10=1))
    m.api.mem_write(asq + 64, pack_sqe(opc=0x06, cid=2, prp1=buf, cdw10=1))
    m.api.mmio_write32(0x1000, 2)
    m.api.run_until_idle()
    m.api.mem_read(acq, 32)
    m.api.mmio_write32(0x1004, 2)  # CQ0 head doorbell at the same virtual time
    m.api.run_until_idle()
    rec.close()
    intx: list[Event] = [e for e in m.events if e.kind == "irq_intx"]
    assert len(intx) == 2
    result = verify(path)
    assert result.ok, result.describe()
    assert result.checked == len(m.events)
