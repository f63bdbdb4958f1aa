"""CAP.NSSRS and CAP.CSS are knobs: today's values by default, QEMU 7.2's in its profile,
and the controller behaves as the bits it reports say (NVMe 1.4 3.1.1, 3.1.5, 3.1.6)."""

from __future__ import annotations

import pytest
from emuhost import Rig
from typer.testing import CliRunner

from nvmescope.cli import app
from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.config import profile_config
from nvmescope.nvme import registers as r
from nvmescope.nvme import status as st
from nvmescope.nvme.commands import pack_sqe

NSSR_RESET = 0x4E564D65  # "NVMe"


def _cap(config: ControllerConfig) -> int:
    rig = Rig(config)
    rig.pci_setup()
    return rig.ctrl.mmio_read(0, 8)


def test_defaults_keep_todays_cap_and_the_profile_has_qemus():
    cap = _cap(ControllerConfig())
    assert (r.CAP.get(cap, "nssrs"), r.CAP.get(cap, "css")) == (1, 0x41)
    cap = _cap(profile_config("qemu-7.2"))
    assert (r.CAP.get(cap, "nssrs"), r.CAP.get(cap, "css")) == (0, 0xC1)


def test_nssr_without_nssrs_is_ignored_with_a_ub_event():
    rig = Rig(ControllerConfig(nssrs=False))
    rig.enable()
    start = len(rig.events)
    rig.ctrl.mmio_write(0x20, 4, NSSR_RESET)
    rig.run()
    kinds = rig.kinds(start)
    assert "ub_nssr_unsupported" in kinds
    assert r.CSTS.get(rig.ctrl.csts, "rdy") == 1 and r.CSTS.get(rig.ctrl.csts, "nssro") == 0


def test_nssr_with_nssrs_resets_the_subsystem():
    rig = Rig(ControllerConfig())
    rig.enable()
    rig.ctrl.mmio_write(0x20, 4, NSSR_RESET)
    rig.run()
    assert r.CSTS.get(rig.ctrl.csts, "nssro") == 1 and r.CSTS.get(rig.ctrl.csts, "rdy") == 0


def test_admin_only_css_needs_cap_css_bit_7_and_then_io_commands_are_invalid_opcodes():
    admin_only = 0x460061 | (7 << 4)  # CC.CSS = 111b
    rig = Rig(ControllerConfig())
    rig.enable(cc=admin_only)
    assert r.CSTS.get(rig.ctrl.csts, "cfs") == 1 and r.CSTS.get(rig.ctrl.csts, "rdy") == 0
    rig = Rig(ControllerConfig(css=0xC1))
    rig.enable(cc=admin_only)
    assert r.CSTS.get(rig.ctrl.csts, "rdy") == 1 and r.CSTS.get(rig.ctrl.csts, "cfs") == 0
    rig.create_io_pair()
    rig.submit(1, pack_sqe(0x02, 5, nsid=1, prp1=rig.host.alloc()))
    rig.run()
    cqe = rig.reap(1)
    assert cqe is not None and (cqe.sct, cqe.sc) == st.INVALID_OPCODE


def test_iocs_css_needs_cap_css_bit_6():
    rig = Rig(ControllerConfig(css=0x01))
    rig.enable()  # CC.CSS = 110b
    assert r.CSTS.get(rig.ctrl.csts, "cfs") == 1
    rig = Rig(ControllerConfig(css=0x01))
    rig.enable(cc=0x460001)  # CC.CSS = 000b: NVM
    assert r.CSTS.get(rig.ctrl.csts, "rdy") == 1


@pytest.mark.parametrize(
    ("knob", "words"),
    [
        ("css=0x40", "bit 0 (NVM) is always set"),
        ("css=0x03", "css=3 is out of range"),
        ("css=0x100", "css=256 is out of range"),
        ("nssrs=maybe", "nssrs"),
    ],
)
def test_a_bad_cap_knob_is_one_line_and_exit_2(knob: str, words: str):
    result = CliRunner().invoke(app, ["show-regs", "-c", knob])
    assert result.exit_code == 2
    assert words in result.stderr
    assert len(result.stderr.strip().split("\n")) == 1 and "Traceback" not in result.stderr


def test_show_regs_prints_the_knobs():
    out = CliRunner().invoke(app, ["show-regs", "-H", "-c", "nssrs=false", "-c", "css=0xc1"])
    assert out.exit_code == 0, out.stderr
    assert "(NSSRS): No" in out.stdout and "Only Admin Command Set Supported" in out.stdout
