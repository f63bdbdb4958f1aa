"""Copy on the host side: the driver's ``nvme_copy`` and the namespace-specific Set / Get
Features, the decoders (SQE words, Source Range Entries, the compose form's transfer,
the Error Recovery feature), the Linux 6.1 tracepoint export (which has no name for
opcode 19h and prints it as Linux does an unknown I/O opcode), and the ``copy``
scenario's recording."""

from __future__ import annotations

import re

from tui import RECORDINGS

from nvmescope.machine import Machine
from nvmescope.nvme import commands
from nvmescope.nvme import compose as cmp
from nvmescope.nvme import features as f
from nvmescope.nvme.copy import pack_copy_ranges
from nvmescope.nvme.decode import decode
from nvmescope.trace import open_recording
from nvmescope.trace.export_tracepoint import decode_cmd, linux_opcode_name
from nvmescope.trace.scoreboard import Scoreboard


def _up() -> Machine:
    m = Machine(scenario="bringup")
    m.run()
    assert m.driver is not None and m.driver.up
    return m


def test_the_driver_copies_ranges_and_the_blocks_arrive():
    m = _up()
    api, drv = m.api, m.driver
    buf = api.alloc(4096)
    api.mem_write(buf, bytes(range(256)) * 16, "data")
    assert drv.run(drv.nvme_write(1, 1, 0, 8, buf, 4096)).ok
    comp = drv.run(drv.nvme_copy(1, 1, 100, [(4, 4), (0, 4)]))
    assert comp.ok, comp.status_name
    rb = api.alloc(4096)
    assert drv.run(drv.nvme_read(1, 1, 100, 8, rb, 4096)).ok
    data = bytes(range(256)) * 16
    assert api.peek(rb, 4096) == data[2048:] + data[:2048]
    fetch = next(e for e in reversed(m.events) if e.kind == "sqe_fetch" and e.data[0] == 0x19)
    sqe = commands.unpack_sqe(fetch.data)
    assert (sqe.cdw10, sqe.cdw11, sqe.cdw12) == (100, 0, 1)  # NR 1: two ranges


def test_the_driver_refuses_a_copy_of_no_ranges_or_too_many():
    drv = _up().driver
    for ranges in ([], [(0, 1)] * 257):
        try:
            drv.run(drv.nvme_copy(1, 1, 0, ranges))
        except ValueError as err:
            assert "1 to 256 ranges" in str(err)
        else:
            raise AssertionError("no ValueError")


def test_set_and_get_features_take_the_namespace():
    drv = _up().driver
    assert drv.run(drv.get_features(f.FID_ERROR_RECOVERY, nsid=1)).dw0 == 0
    # the default configuration's NSFEAT has no DULBE: TLER alone is taken
    assert not drv.run(drv.set_features(f.FID_ERROR_RECOVERY, 1 << 16, nsid=1)).ok
    assert drv.run(drv.set_features(f.FID_ERROR_RECOVERY, 25, nsid=1)).ok
    assert drv.run(drv.get_features(f.FID_ERROR_RECOVERY, nsid=1)).dw0 == 25


def test_the_decoders_say_what_a_copy_sqe_and_its_entries_hold():
    raw = commands.pack_sqe(0x19, 9, nsid=1, cdw10=100, cdw11=1, cdw12=0x3 | 1 << 8 | 1 << 30)
    tree = decode("sqe", raw, {"sqid": 1})
    assert tree.find("cdw0.opc").meaning.endswith("Copy")
    assert f"SDLBA {(1 << 32) | 100}" in tree.find("cdw10").meaning
    assert "NR 3 (4 source ranges, 0's based), DESFMT 1h" in tree.find("cdw12").meaning
    assert "FUA 1" in tree.find("cdw12").meaning
    entry = decode("copy_range_1", pack_copy_ranges([(64, 8)], 1))
    assert entry.size == 40 and entry.find("slba").value == 64
    assert "8 logical blocks" in entry.find("nlb").meaning
    rows = decode("feat:error_recovery", (1 << 16 | 5).to_bytes(4, "little"))
    assert "500 ms" in rows.find("tler").meaning and "enabled" in rows.find("dulbe").meaning


def test_the_compose_form_knows_copys_fields_and_its_range_list():
    names = [fld.name for fld in cmp.COMMAND_FIELDS[(False, 0x19)]]
    assert names[:3] == ["sdlba", "nr", "desfmt"]
    assert cmp.transfer(False, 0x19, {"nr": 3}) == cmp.Transfer(4 * 32, cmp.TO_DEVICE)
    assert cmp.transfer(False, 0x19, {"nr": 0, "desfmt": 1}).length == 40


def test_linux_61_prints_copy_as_an_unknown_io_opcode_with_its_raw_dwords():
    # Linux 6.1's show_nvm_opcode_name has no Copy: __print_symbolic prints the value in
    # hex, and nvme_trace_parse_nvm_cmd's default case prints CDW10..15 as bytes
    assert linux_opcode_name(1, 0x19) == "0x19"
    raw = commands.pack_sqe(0x19, 2, nsid=1, cdw10=64, cdw12=1)
    assert decode_cmd(1, raw) == (
        "0x19 cdw10=40 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
    )


def test_the_tracepoint_export_of_the_copy_recording_has_every_copy(tmp_path):
    from typer.testing import CliRunner

    from nvmescope.cli import app

    out = tmp_path / "trace.txt"
    result = CliRunner().invoke(
        app, ["export", "tracepoint", str(RECORDINGS / "copy.nvmetrace"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    with open_recording(RECORDINGS / "copy.nvmetrace") as rec:
        copies = [e for e in rec.events() if e.kind == "sqe_fetch" and e.data[0] == 0x19]
    lines = [ln for ln in out.read_text().splitlines() if "cmd=(0x19 " in ln]
    assert len(lines) == len(copies) >= 5
    for line, fetch in zip(lines, copies, strict=True):
        dwords = re.search(r"cmd=\(0x19 cdw10=([0-9a-f ]+)\)", line).group(1)
        assert bytes.fromhex(dwords) == fetch.data[40:64]


def test_the_copy_recording_has_a_copy_range_per_range_and_the_scoreboard_knows_the_copy():
    with open_recording(RECORDINGS / "copy.nvmetrace") as rec:
        evs = list(rec.events())
    kinds = [e.kind for e in evs]
    assert kinds.count("copy_write") == 1 and kinds.count("copy_range") == 2
    assert {"err_copy_limit", "err_lba_range", "err_dulbe"} <= set(kinds)
    board = Scoreboard()
    for e in evs:
        board.feed(e, lambda *a, **k: None)
    assert all((1, lba) in board.blocks for lba in range(64, 72))


def test_nvme_cli_words_for_copys_and_dulbes_statuses():
    from nvmescope.nvme.nvmecli import nvme_status_string

    assert nvme_status_string(0x183) == "Command Size Limit Exceeded"
    assert nvme_status_string(0x287).startswith("Deallocated or Unwritten Logical Block")


def test_the_copy_scenario_expects_what_each_configuration_advertises():
    from nvmescope.emulator import ControllerConfig
    from nvmescope.emulator.config import profile_config

    for config, checks in (
        (None, 19),  # the scenario's own knob: nsfeat=0x14
        (profile_config("qemu-7.2"), 17),  # MSSRL 0: every Copy exceeds it
        (ControllerConfig(copy=False), 1),  # no Copy: Invalid Command Opcode, and the end
        (ControllerConfig(), 10),  # no DULBE: Set Features 05h refused, and the end
        (ControllerConfig(nsfeat=0x14, mssrl=2, msrc=0), 17),
        # OCFS without format 0h, the only one a namespace without protection information
        # takes: one Copy refused with Invalid Field, then DULBE (its Copy refused too)
        (ControllerConfig(nsfeat=0x14, ocfs=2), 13),
        (ControllerConfig(nsfeat=0x14, ocfs=0), 13),
    ):
        m = Machine(config, scenario="copy") if config else Machine(scenario="copy")
        m.run()
        sc = m.scenario
        assert sc.done and sc.ok, sc.failures()
        assert any(r.command.startswith("Copy") for r in sc.results), "no Copy was checked"
        assert len(sc.results) == checks
