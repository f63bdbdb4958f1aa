"""The driver waits for CSTS.RDY the way Linux 6.1's nvme_wait_ready does, and its notes
say so: only (CSTS & mask) == val and an all-ones read end the wait early; CSTS.CFS does
not. It reads CSTS every millisecond (Linux: 1 to 2 ms) for (CAP.TO + 1) / 2 seconds (or
CRTO.CRWMT's, when CAP.CRMS.CRWMS offers a larger one), then gives up with "Device not
ready; aborting initialisation/reset, CSTS=0x..".
"""

from __future__ import annotations

from typing import Any

import pytest

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.controller import Controller
from nvmescope.machine import Machine
from nvmescope.nvme import registers as r


def _steps(m: Machine, step: str) -> list[Any]:
    return [e for e in m.events if e.kind == "host_step" and e.step == step]


def _csts_reads(m: Machine) -> list[Any]:
    return [e for e in m.events if e.kind == "mmio_read" and e.addr == 0x1C]


@pytest.fixture
def refusing_controller(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every CC.EN 0 -> 1 fails: the controller sets CSTS.CFS and never RDY."""
    monkeypatch.setattr(Controller, "_nvme_check_enable", lambda self: "this controller is broken")


def test_timeouts_are_cap_to_rounded_up_to_whole_seconds() -> None:
    from nvmescope.host.driver import ready_timeout_s

    assert [ready_timeout_s(to) for to in (0, 1, 2, 3, 15, 255)] == [0, 1, 1, 2, 8, 128]


def test_cfs_does_not_end_the_wait_for_ready(refusing_controller: None) -> None:
    """CAP.TO = 15 (7.5 s): Linux waits 8 s, reading CSTS all along, CFS or not."""
    m = Machine(ControllerConfig(), scenario="bringup")
    m.run()
    assert not m.scenario.ok
    (wait,) = _steps(m, "wait_ready")
    polls = [e for e in _csts_reads(m) if e.seq > wait.seq]
    assert all(e.value == 0x2 for e in polls[1:])  # CFS=1, RDY=0 read after read
    span = polls[-1].ts - polls[0].ts
    assert 7.9e9 < span <= 8e9 and 7000 < len(polls) <= 8001
    (gave_up,) = _steps(m, "ready_timeout")
    assert gave_up.ts - polls[0].ts > 8e9
    assert "Device not ready; aborting initialisation, CSTS=0x2" in gave_up.text
    assert "CFS" in gave_up.text and "never looked at" in gave_up.text
    assert not _steps(m, "enable_failed")
    assert "Device not ready; aborting initialisation" in m.scenario.failed
    assert "CSTS.CFS=1" in m.scenario.failed


def test_the_wait_notes_say_what_linux_checks() -> None:
    m = Machine(ControllerConfig(), scenario="bringup")
    m.run()
    (not_ready,) = _steps(m, "wait_not_ready")
    (ready,) = _steps(m, "wait_ready")
    for note in (not_ready, ready):
        assert "CFS=0" not in note.text and "(and CFS" not in note.text
        assert "1 to 2 ms" in note.text and "at most 8 s" in note.text
    assert "CFS does not end the wait" in ready.text
    assert "RDY alone" in not_ready.text


def test_a_device_that_never_gets_ready_is_given_up_after_a_whole_second() -> None:
    config = ControllerConfig(timeout=1, rdy_delay_ns=10_000_000_000)  # CAP.TO = 500 ms
    m = Machine(config, scenario="bringup")
    m.run()
    (wait,) = _steps(m, "wait_ready")
    polls = [e for e in _csts_reads(m) if e.seq > wait.seq]
    assert 900 < len(polls) <= 1001  # (1 + 1) / 2 = 1 s, one read a millisecond
    (gave_up,) = _steps(m, "ready_timeout")
    assert "1 s have passed" in gave_up.text
    assert "Device not ready; aborting initialisation, CSTS=0x0" in gave_up.text
    assert "CFS" not in gave_up.text


def test_disable_waits_for_rdy_zero_only_and_gives_up_as_a_reset() -> None:
    """A controller whose RDY never clears after CC.EN = 0: 'aborting reset'."""
    m = Machine(ControllerConfig(timeout=2), scenario=None)
    from nvmescope.host.driver import LinuxDriver

    drv = LinuxDriver(m.api)
    assert m.api.run_task(drv.nvme_pci_enable())
    assert m.api.run_task(drv.nvme_pci_configure_admin_queue())
    m.ctrl.config.rdy_delay_ns = 10**12  # the next reset takes 1000 s
    ok = m.api.run_task(drv.nvme_disable_ctrl())
    assert not ok
    (gave_up,) = _steps(m, "ready_timeout")
    assert "Device not ready; aborting reset, CSTS=0x1" in gave_up.text
    assert "1 s have passed and CSTS.RDY is still 1" in gave_up.text


def _with_crto(monkeypatch: pytest.MonkeyPatch, crwmt: int) -> None:
    """A controller with CAP.CRMS.CRWMS = 1 and CRTO.CRWMT = ``crwmt`` (500 ms units)."""
    real_init = Controller.__init__
    real_read32 = Controller._bar_read32

    def init(self: Controller, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        self.cap |= r.CAP_CRWMS.mask

    def read32(self: Controller, offset: int) -> tuple[int, Any]:
        return (crwmt, None) if offset == r.CRTO.offset else real_read32(self, offset)

    monkeypatch.setattr(Controller, "__init__", init)
    monkeypatch.setattr(Controller, "_bar_read32", read32)


def test_crto_crwmt_sets_the_enable_timeout_when_larger(
    monkeypatch: pytest.MonkeyPatch, refusing_controller: None
) -> None:
    _with_crto(monkeypatch, crwmt=40)  # 20 s; CAP.TO is 15 (7.5 s)
    m = Machine(ControllerConfig(), scenario="bringup")
    m.run()
    reads = [e for e in m.events if e.kind == "mmio_read" and e.addr == r.CRTO.offset]
    assert len(reads) == 1 and reads[0].value == 40
    note = m.events[reads[0].seq - 1]
    assert note.kind == "host_step" and note.step == "read_crto" and "CRWMT" in note.text
    # CRTO is read after the second CAP read and before CC.EN = 1
    enable = next(e for e in m.events if e.kind == "mmio_write" and e.addr == 0x14 and e.value & 1)
    assert reads[0].seq < enable.seq
    (wait,) = _steps(m, "wait_ready")
    assert "at most 20 s" in wait.text
    (gave_up,) = _steps(m, "ready_timeout")
    assert gave_up.text.startswith("20 s have passed")
    # CC.CRIME (bit 24) stays 0: Linux 6.1 waits for the controller with its media
    assert not enable.value & r.CC_CRIME.mask


def test_a_crwmt_below_cap_to_is_ignored_as_linux_does(
    monkeypatch: pytest.MonkeyPatch, refusing_controller: None
) -> None:
    _with_crto(monkeypatch, crwmt=0)
    m = Machine(ControllerConfig(), scenario="bringup")
    m.run()
    (bad,) = _steps(m, "bad_crto")
    assert "keeps the larger, CAP.TO" in bad.text and "bad crto:0" in bad.text
    (wait,) = _steps(m, "wait_ready")
    assert "at most 8 s" in wait.text


def test_without_crms_no_crto_read() -> None:
    m = Machine(ControllerConfig(), scenario="bringup")
    m.run()
    assert m.scenario.ok
    assert not [e for e in m.events if e.kind == "mmio_read" and e.addr == r.CRTO.offset]


def test_recovery_after_cfs_needs_no_undefined_host_step() -> None:
    """The errors scenario's misprogrammed enable: Linux waits its 8 s, then resets; the
    reset of a controller whose RDY is 0 already is immediate, so the host's next enable
    (right after reading RDY = 0) is one the device takes."""
    m = Machine(ControllerConfig(), scenario="errors")
    m.run()
    assert m.scenario.ok, m.scenario.failures()
    assert not [e for e in m.events if e.kind == "ub_cc_while_not_ready"]
    (gave_up,) = _steps(m, "ready_timeout")
    assert "aborting initialisation, CSTS=0x2" in gave_up.text
