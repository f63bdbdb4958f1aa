"""``--profile qemu-7.2``: nvmescope's nvme-cli output of its own bytes is the real capture's.

Each command runs the emulator with the profile, has the host model issue the real
admin command, prints the bytes the device DMA'd in nvme-cli 2.3's layout, and
compares the text with what real nvme-cli 2.3 printed against QEMU 7.2's controller
(reference/linux-6.1-on-qemu-7.2/guest-console.log and guest-console-2.log), every
line. The only lines allowed to differ are listed below with the reason, and each
listed line must really differ, so the list cannot go stale:

- capabilities QEMU advertises that the emulator does not implement (it must not claim
  them): none today; ONCS (Copy, bit 8, with Compare, Dataset Management and Write
  Zeroes), OCFS, NSFEAT (DULBE, bit 2), OACS (Namespace Management and Attachment,
  bit 3), MC and DPC (metadata and protection information) are implemented and match;
- TNVMCAP and UNVMCAP: QEMU 7.2 claims Namespace Management and Attachment (OACS bit 3,
  which the emulator implements and claims too) but reports both as 0; the specification
  requires them with OACS bit 3, and ours are the capacity namespaces are created from;
- what depends on the run rather than the device: the SMART read counters (Linux's
  partition scan read 3 x 4 KiB before nvme-cli ran; our bring-up reads nothing; a
  test below does those reads and then every line matches) and the timestamp (the
  host's wall clock).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nvmescope.cli import app, build_config
from nvmescope.emulator.config import PROFILES, ControllerConfig, profile_config
from nvmescope.machine import Machine
from nvmescope.nvme import nvmecli

HERE = Path(__file__).resolve().parents[1] / "reference/linux-6.1-on-qemu-7.2"
FIRST, SECOND = HERE / "guest-console.log", HERE / "guest-console-2.log"

runner = CliRunner()


def _sections(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.startswith("=== MARK "):
            current = out.setdefault(line[len("=== MARK ") :].rstrip("\r"), [])
        elif current is not None:
            current.append(line)
    return out


def reference(path: Path, mark: str) -> list[str]:
    if not path.exists():
        pytest.skip(f"{path.name} not available")
    return _sections(path)[mark]


def ours(*args: str) -> list[str]:
    result = runner.invoke(app, [*args, "--profile", "qemu-7.2"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith("\n")
    return result.stdout[:-1].split("\n")


UNIMPLEMENTED = "a capability QEMU advertises and the emulator does not implement"
NVMCAP = (
    "TNVMCAP / UNVMCAP: QEMU 7.2 reports 0 with OACS bit 3 set; NVMe requires them with "
    "Namespace Management, and ours are the capacity namespaces are created from"
)
READS = "SMART read counters: Linux read 3 x 4 KiB before nvme-cli ran, our bring-up does not"
CLOCK = "the timestamp is the host's wall clock when it ran"

ID_CTRL = {"tnvmcap   : 0": NVMCAP, "unvmcap   : 0": NVMCAP}
ID_CTRL_H = {**ID_CTRL, "[127:0] : 0": NVMCAP}
ID_CTRL_JSON = {'  "tnvmcap":"0",': NVMCAP, '  "unvmcap":"0",': NVMCAP}
ID_NS: dict[str, str] = {}
ID_NS_H: dict[str, str] = {}
ID_NS_JSON: dict[str, str] = {}
SMART = {
    "Data Units Read\t\t\t\t: 1 (512.00 kB)": READS,
    "host_read_commands\t\t\t: 3": READS,
}
SMART_JSON = {'  "data_units_read":"1",': READS, '  "host_read_commands":"3",': READS}
TIMESTAMP = {'0000: 59 b7 e3 33 a2 01 02 00                          "Y..3...."': CLOCK}
TIMESTAMP_H = {"\tThe timestamp is : 1796166891503 (Tue Dec  1 23:14:51 2026 UTC)": CLOCK}

#: what we print in place of the reference's lines: the fields' honest values, the
#: run's own read counters and clock
INSTEAD_VALUES = {
    # the default namespace's 64 MiB, and as much again unallocated
    "tnvmcap   : 134217728",
    "unvmcap   : 67108864",
    '  "tnvmcap":"134217728",',
    '  "unvmcap":"67108864",',
    "[127:0] : 134217728",
    "[127:0] : 67108864",
    "sgls      : 0",
    '  "sgls":0,',
    "Data Units Read\t\t\t\t: 0 (0.00 B)",
    "host_read_commands\t\t\t: 0",
    '  "data_units_read":"0",',
    '  "host_read_commands":"0",',
}
TIMESTAMP_LINE = re.compile(
    r'0000: (?:[0-9a-f]{2} ){6}02 00 {26}".{8}"|\tThe timestamp is : \d+ \(.* UTC\)'
)


def instead(line: str) -> bool:
    """An honest replacement: a listed value, a bit reported clear (the reference's line
    with 0x1 and "Supported"), or the run's timestamp (origin 1: set by Set Features)."""
    if line in INSTEAD_VALUES or TIMESTAMP_LINE.fullmatch(line):
        return True
    if line.endswith(" Not Supported") and ": 0\t" in line:
        claimed = line.replace(": 0\t", ": 0x1\t").replace(" Not Supported", " Supported")
        sgls = line == " [1:0]  : 0\tScatter-Gather Lists Not Supported"
        return sgls or any(claimed == k for k in (*ID_CTRL_H, *ID_NS_H))
    return False


CASES = [
    (("id-ctrl",), FIRST, "nvme id-ctrl /dev/nvme0", ID_CTRL),
    (("id-ctrl", "-H"), FIRST, "nvme id-ctrl /dev/nvme0 -H", ID_CTRL_H),
    (("id-ctrl", "-H"), SECOND, "nvme id-ctrl /dev/nvme0 -H", ID_CTRL_H),
    (("id-ctrl", "-o", "json"), FIRST, "nvme id-ctrl /dev/nvme0 -o json", ID_CTRL_JSON),
    (("id-ns",), FIRST, "nvme id-ns /dev/nvme0n1", ID_NS),
    (("id-ns", "-H"), FIRST, "nvme id-ns /dev/nvme0n1 -H", ID_NS_H),
    (("id-ns", "-H"), SECOND, "nvme id-ns /dev/nvme0n1 -H", ID_NS_H),
    (("id-ns", "-o", "json"), FIRST, "nvme id-ns /dev/nvme0n1 -o json", ID_NS_JSON),
    (("list",), FIRST, "nvme list", {}),
    (("list", "-o", "json"), SECOND, "nvme list -o json", {}),
    (("list-ns",), SECOND, "nvme list-ns /dev/nvme0", {}),
    (("smart-log",), FIRST, "nvme smart-log /dev/nvme0", SMART),
    (("smart-log", "-o", "json"), SECOND, "nvme smart-log /dev/nvme0 -o json", SMART_JSON),
    (
        ("get-log", "--log-id=1", "--log-len=64"),
        SECOND,
        "nvme get-log /dev/nvme0 --log-id=1 --log-len=64",
        {},
    ),  # fmt: skip
    (("error-log", "-e", "2"), FIRST, "nvme error-log /dev/nvme0 -e 2", {}),
    (("error-log",), SECOND, "nvme error-log /dev/nvme0", {}),
    (("fw-log",), FIRST, "nvme fw-log /dev/nvme0", {}),
    (("get-feature", "-f", "7", "-H"), FIRST, "nvme get-feature /dev/nvme0 -f 7 -H", {}),
    *(
        (("get-feature", "-f", fid, *h), SECOND, f"nvme get-feature /dev/nvme0 -f {fid}{m}", {})
        for fid in ("1", "2", "4", "6", "7", "8", "9", "0xb")
        for h, m in (((), ""), (("-H",), " -H"))
    ),
    (("get-feature", "-f", "0xe"), SECOND, "nvme get-feature /dev/nvme0 -f 0xe", TIMESTAMP),
    (
        ("get-feature", "-f", "0xe", "-H"),
        SECOND,
        "nvme get-feature /dev/nvme0 -f 0xe -H",
        TIMESTAMP_H,
    ),  # fmt: skip
]


def differing(actual: list[str], expected: list[str]) -> tuple[list[str], list[str]]:
    """The reference's lines we do not print, and the lines we print instead, in order."""
    theirs: list[str] = []
    mine: list[str] = []
    matcher = difflib.SequenceMatcher(a=expected, b=actual, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            theirs += expected[i1:i2]
            mine += actual[j1:j2]
    return theirs, mine


@pytest.mark.parametrize(
    ("args", "capture", "mark", "allowed"),
    CASES,
    ids=[f"{c[1].stem}:{c[2]}" for c in CASES],
)
def test_profile_output_is_the_reference_output_line_for_line(args, capture, mark, allowed):
    expected = reference(capture, mark)
    theirs, mine = differing(ours(*args), expected)
    unexplained = [line for line in theirs if line not in allowed]
    assert not unexplained, "reference lines we do not print:\n" + "\n".join(map(repr, unexplained))
    # every listed difference is real: the list of what we do not implement stays exact
    assert set(theirs) == set(allowed)
    # and what we print instead is the honest "not supported" (or the run's own value)
    assert [line for line in mine if not instead(line)] == []


def test_smart_log_after_linuxs_partition_scan_reads_is_the_reference_every_line():
    # the three 4 KiB reads Linux's partition scan made (tracepoints.txt: slba 0, 8, 24)
    m = Machine(profile_config("qemu-7.2"), scenario="bringup")
    m.run()
    drv = m.driver
    assert drv is not None and drv.up
    buf = m.api.alloc(4096)
    for slba in (0, 8, 24):
        assert drv.run(drv.nvme_read(1, 1, slba, 8, buf, 4096)).ok
    data = drv.run(drv.get_log_page(0x02, 512, nsid=0xFFFFFFFF, why="smart-log")).data
    text = nvmecli.format_smart_log(data, "nvme0", 0xFFFFFFFF)
    assert text[:-1].split("\n") == reference(FIRST, "nvme smart-log /dev/nvme0")
    text = nvmecli.smart_log_json(data)
    assert text[:-1].split("\n") == reference(SECOND, "nvme smart-log /dev/nvme0 -o json")


def test_profile_sets_the_pci_ids_and_identify_vid_ssvid():
    cfg = profile_config("qemu-7.2")
    assert (cfg.pci_vid, cfg.pci_did, cfg.pci_ssvid, cfg.pci_ssid, cfg.revision) == (
        0x1B36, 0x0010, 0x1AF4, 0x1100, 0x02,
    )  # fmt: skip
    lines = ours("id-ctrl")
    assert "vid       : 0x1b36" in lines and "ssvid     : 0x1af4" in lines


def test_c_overrides_the_profile_wherever_it_stands():
    cfg = build_config(["serial=cafe", "qemu-7.2", "elpe=3"])
    assert (cfg.serial, cfg.elpe, cfg.model) == ("cafe", 3, "QEMU NVMe Ctrl")
    # SUBNQN follows the serial, as QEMU derives it
    assert cfg.subsystem_nqn == "nqn.2019-08.org.qemu:cafe"
    result = runner.invoke(app, ["id-ctrl", "--profile", "qemu-7.2", "-c", "serial=cafe"])
    assert "sn        : cafe                " in result.stdout.split("\n")
    assert "subnqn    : nqn.2019-08.org.qemu:cafe" in result.stdout.split("\n")


def test_the_default_configuration_is_not_the_profile():
    # no profile: the device is still nvmescope's own (the shipped recordings rely on it)
    assert build_config([]) == ControllerConfig()
    lines = runner.invoke(app, ["id-ctrl"]).stdout.split("\n")
    assert "vid       : 0x4e53" in lines and "oaes      : 0" in lines


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["id-ctrl", "--profile", "qemu-9"], "no such profile (profiles: instant, qemu-7.2, ssd"),
        (["id-ctrl", "-c", "serial"], "a knob is -c KEY=VALUE"),
        (["id-ctrl", "--profile", "qemu-7.2", "--profile", "qemu-7.2"], "given twice"),
        (["id-ctrl", "-c", "oacs=0x10a"], "no such knob"),
        (["id-ctrl", "-c", "oaes=0x200"], "only bit 8"),
        (["id-ctrl", "-c", "lpa=0x0f"], "lpa=15 is out of range"),
        (["id-ctrl", "-c", "nsfeat=0x15"], "only bits 2 (the Deallocated"),
        (["id-ctrl", "-c", "ocfs=0x4"], "only bits 0 and 1 (Copy descriptor formats"),
        (["id-ctrl", "-c", "pci_vid=0x10000"], "a PCI ID is 16 bits"),
        (["id-ctrl", "-c", "arbitration=0x8"], "reserved"),
        (["id-ctrl", "-c", "frs1=123456789"], "frs1 is at most 8 characters"),
    ],
)
def test_a_bad_profile_or_a_false_claim_is_one_line_and_exit_2(args, words):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert words in result.stderr
    assert len(result.stderr.strip().split("\n")) == 1
    assert "Traceback" not in result.stderr


def test_every_profile_is_a_valid_configuration():
    for name in PROFILES:
        assert profile_config(name).problems() == [], name


# -- the small things the profile needed the emulator to do ------------------------------------


def _up(config: ControllerConfig) -> Machine:
    m = Machine(config, scenario="bringup")
    m.run()
    assert m.driver is not None and m.driver.up
    return m


def test_host_behavior_support_comes_with_extended_lba_formats():
    # Linux 6.1 sets Feature 16h (LBAFEE = 1) when CTRATT bit 15 is set, as QEMU allows
    m = _up(profile_config("qemu-7.2"))
    drv = m.driver
    got = drv.run(drv.get_features(0x16, data_len=512, why="host behavior"))
    assert got.ok and got.data[:3] == bytes([0, 0, 1]) and len(got.data) == 512
    bad = bytes([2]) + bytes(511)  # ACRE is one bit
    assert not drv.run(drv.set_features(0x16, data_out=bad, why="ACRE 2")).ok
    # without CTRATT bit 15 the feature does not exist, as before
    plain = _up(ControllerConfig()).driver
    assert not plain.run(plain.get_features(0x16, data_len=512, why="host behavior")).ok


def test_async_event_configuration_keeps_the_notices_oaes_offers():
    for config, value in ((ControllerConfig(), 0x00), (profile_config("qemu-7.2"), 0x100)):
        drv = _up(config).driver
        assert drv.run(drv.set_features(0x0B, 0x302, why="AEC")).ok
        assert drv.run(drv.get_features(0x0B, why="AEC")).dw0 == value | 0x02


def test_smart_log_per_namespace_follows_lpa_bit_0():
    assert runner.invoke(app, ["smart-log", "-n", "1"]).exit_code == 1
    result = runner.invoke(app, ["smart-log", "-n", "1", "--profile", "qemu-7.2"])
    assert result.exit_code == 0 and "namespace-id:1" in result.stdout
    assert runner.invoke(app, ["smart-log", "-n", "2", "--profile", "qemu-7.2"]).exit_code == 1


def test_available_spare_below_its_threshold_is_a_critical_warning():
    lines = runner.invoke(app, ["smart-log", "-c", "avail_spare=5"]).stdout.split("\n")
    assert "critical_warning\t\t\t: 0x1" in lines
    assert "available_spare\t\t\t\t: 5%" in lines


def test_vector_0_reports_coalescing_disabled_only_when_asked():
    for config, dw0 in ((ControllerConfig(), 0), (profile_config("qemu-7.2"), 0x10000)):
        drv = _up(config).driver
        assert drv.run(drv.get_features(0x09, cdw11=0, why="IV 0")).dw0 == dw0


def test_more_than_16_lba_formats_need_extended_lba_formats():
    formats = tuple((0, 9) for _ in range(17))
    assert any("CTRATT bit 15" in p for p in ControllerConfig(lba_formats=formats).problems())
    assert ControllerConfig(lba_formats=formats, ctratt=0x8000).problems() == []


def test_format_nvm_changes_the_lba_format_and_erases():
    m = _up(profile_config("qemu-7.2"))
    drv = m.driver
    buf = m.api.alloc(4096)
    m.api.mem_write(buf, b"\xab" * 4096, "data")
    assert drv.run(drv.nvme_write(1, 1, 0, 8, buf, 4096)).ok

    def fmt(cdw10: int, nsid: int = 1) -> tuple[int | None, int | None]:
        done = drv.run(drv.submit(0, 0x80, nsid=nsid, cdw10=cdw10, why="format"))
        return done.sct, done.sc

    assert fmt(8) == (1, 0x0A)  # no such format: Invalid Format
    assert fmt(0 | 1 << 5) == (1, 0x0A)  # protection information without metadata
    assert fmt(1 | 1 << 5) == (0, 0)  # 8 bytes of metadata with PI Type 1: taken
    assert fmt(4 | 2 << 9) == (0, 0x02)  # cryptographic erase: Invalid Field
    assert fmt(4, nsid=2) == (0, 0x02)  # inactive NSID (up to NN): Invalid Field
    assert fmt(4, nsid=257) == (0, 0x0B)  # invalid NSID (above NN 256): Invalid NS
    assert fmt(4 | 1 << 9, nsid=0xFFFFFFFF) == (0, 0)
    ns = drv.run(drv.identify(0x00, nsid=1, why="after format")).data
    assert ns[26] & 0xF == 4 and int.from_bytes(ns[:8], "little") == 64 * 1024 * 1024 // 4096
    assert drv.run(drv.nvme_read(1, 1, 0, 1, buf, 4096)).ok
    assert m.api.mem_read(buf, 4096, "check") == bytes(4096)
    # without the knob, 80h is not a command of this device and OACS bit 1 is clear
    plain = _up(ControllerConfig()).driver
    assert plain.run(plain.submit(0, 0x80, nsid=1, cdw10=4, why="format")).sc == 0x01
    assert plain.run(plain.identify(0x01, why="oacs")).data[256] & 0x02 == 0
