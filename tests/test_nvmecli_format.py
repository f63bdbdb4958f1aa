"""The nvme-cli printers reproduce real nvme-cli 2.3 output line for line.

The expected text is read from the reference capture (each ``=== MARK <command>``
is followed by that command's output). The device data is rebuilt from what the
reference printed (the JSON of id-ctrl and id-ns, the values of the logs), built
with the project's layouts, and printed again.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvmescope.nvme import nvmecli
from nvmescope.nvme.identify import build_identify_controller, build_identify_namespace
from nvmescope.nvme.logpages import ERROR_INFORMATION_ENTRY, FIRMWARE_SLOT_LOG, SMART_LOG

REFERENCE = (
    Path(__file__).resolve().parents[1] / "reference/linux-6.1-on-qemu-7.2/guest-console.log"
)

pytestmark = pytest.mark.skipif(not REFERENCE.exists(), reason="reference capture not available")


def _sections() -> dict[str, str]:
    """MARK command -> the exact text printed after it (every line ends with \\n)."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in REFERENCE.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("=== MARK "):
            current = out.setdefault(line[len("=== MARK ") : -1].rstrip("\r"), [])
            continue
        if current is not None:
            current.append(line)
    return {k: "".join(v) for k, v in out.items()}


SECTIONS = _sections() if REFERENCE.exists() else {}


def _lines(text: str) -> list[str]:
    return text.split("\n")


def assert_same(actual: str, expected: str) -> None:
    """Line-by-line comparison, so a failure names the first line that differs."""
    a, e = _lines(actual), _lines(expected)
    for i, (x, y) in enumerate(zip(a, e, strict=False)):
        assert x == y, f"line {i + 1} differs:\n got  {x!r}\n want {y!r}"
    assert len(a) == len(e), f"{len(a)} lines, reference has {len(e)}"


def _ctrl_from_json(doc: dict) -> bytes:
    fields = dict(doc)
    psds = fields.pop("psds")
    fields["fguid"] = uuid.UUID(fields["fguid"]).bytes
    for key in ("tnvmcap", "unvmcap", "megcap", "maxdna"):
        fields[key] = int(fields[key])
    return build_identify_controller(**fields, psd=psds)


def _ns_from_json(doc: dict) -> bytes:
    fields = dict(doc)
    fields["lbaf"] = fields.pop("lbafs")
    fields["nvmcap"] = int(fields["nvmcap"])
    fields["eui64"] = bytes.fromhex(fields["eui64"])
    fields["nguid"] = bytes.fromhex(fields["nguid"])
    return build_identify_namespace(**fields)


@pytest.fixture(scope="module")
def id_ctrl() -> bytes:
    return _ctrl_from_json(json.loads(SECTIONS["nvme id-ctrl /dev/nvme0 -o json"]))


@pytest.fixture(scope="module")
def id_ns() -> bytes:
    return _ns_from_json(json.loads(SECTIONS["nvme id-ns /dev/nvme0n1 -o json"]))


# -- Identify ---------------------------------------------------------------------------


def test_id_ctrl_plain_matches_reference(id_ctrl):
    assert_same(nvmecli.format_id_ctrl(id_ctrl), SECTIONS["nvme id-ctrl /dev/nvme0"])


def test_id_ctrl_human_matches_reference(id_ctrl):
    assert_same(nvmecli.format_id_ctrl(id_ctrl, human=True), SECTIONS["nvme id-ctrl /dev/nvme0 -H"])


def test_id_ctrl_json_matches_reference_exactly(id_ctrl):
    assert nvmecli.id_ctrl_json(id_ctrl) == SECTIONS["nvme id-ctrl /dev/nvme0 -o json"]


def test_id_ns_plain_matches_reference(id_ns):
    assert_same(nvmecli.format_id_ns(id_ns, 1), SECTIONS["nvme id-ns /dev/nvme0n1"])


def test_id_ns_human_matches_reference(id_ns):
    assert_same(nvmecli.format_id_ns(id_ns, 1, human=True), SECTIONS["nvme id-ns /dev/nvme0n1 -H"])


def test_id_ns_json_matches_reference_exactly(id_ns):
    assert nvmecli.id_ns_json(id_ns) == SECTIONS["nvme id-ns /dev/nvme0n1 -o json"]


def test_list_matches_reference(id_ctrl, id_ns):
    row = nvmecli.list_row("/dev/nvme0n1", "/dev/ng0n1", id_ctrl, id_ns, 1)
    assert_same(nvmecli.format_list([row]), SECTIONS["nvme list"])
    assert nvmecli.format_list([row._asdict()]) == nvmecli.format_list([row])


def test_list_scales_usage_with_si_units():
    row = nvmecli.ListRow("/dev/nvme1n1", "/dev/ng1n1", "S1", "M", 2, 0, 2**31, 4096, 8, "1.0")
    line = nvmecli.format_list([row]).split("\n")[2]
    assert "  0.00   B /   8.80  TB" in line
    assert "  4 KiB +  8 B" in line


# -- logs and features -------------------------------------------------------------------


def _smart_log(**values: int) -> bytes:
    fields = {sub.name: 0 for sub in SMART_LOG.subcons}
    fields.update(rsvd7=bytes(25), rsvd232=bytes(280), temperature_sensor=[0] * 8)
    fields.update(values)
    return SMART_LOG.build(fields)


def test_smart_log_matches_reference():
    # the values the reference printed: 50 degrees C (323 K), 1 data unit and 3 read commands
    data = _smart_log(temperature=323, data_units_read=1, host_read_commands=3)
    assert_same(
        nvmecli.format_smart_log(data, "nvme0", 0xFFFFFFFF), SECTIONS["nvme smart-log /dev/nvme0"]
    )


def _error_entry(**values) -> bytes:
    fields = {sub.name: 0 for sub in ERROR_INFORMATION_ENTRY.subcons}
    fields.update(status_field={"status": 0, "phase_tag": 0}, rsvd42=bytes(21))
    fields.update(values)
    return ERROR_INFORMATION_ENTRY.build(fields)


def test_error_log_matches_reference():
    # elpe is 0, so nvme-cli asked for 2 entries and printed the one the device has
    data = _error_entry()
    assert_same(
        nvmecli.format_error_log(data, "nvme0", 1), SECTIONS["nvme error-log /dev/nvme0 -e 2"]
    )


def test_fw_log_matches_reference():
    fields = {"afi": 1, "rsvd1": bytes(7), "rsvd64": bytes(448)}
    fields.update({f"frs{n}": b"" for n in range(1, 8)})
    fields["frs1"] = "1.0"
    data = FIRMWARE_SLOT_LOG.build(fields)
    assert_same(nvmecli.format_fw_log(data, "nvme0"), SECTIONS["nvme fw-log /dev/nvme0"])


def test_get_feature_number_of_queues_matches_reference():
    out = nvmecli.format_get_feature(0x07, 0x003F003F, None, human=True)
    assert_same(out, SECTIONS["nvme get-feature /dev/nvme0 -f 7 -H"])


# -- behaviour beyond the reference's values ------------------------------------------------


def test_error_log_names_the_status_and_splits_phase_tag():
    # Invalid Queue Identifier (SCT 1, SC 01h) with DNR, phase tag 1
    status = (1 << 14) | (1 << 8) | 0x01
    data = _error_entry(
        error_count=7, sqid=0, cmdid=0x12, status_field={"status": status, "phase_tag": 1}
    )
    text = nvmecli.format_error_log(data, "nvme0", 1)
    assert (
        "status_field\t: 0x4101(Invalid Queue Identifier: The creation of the I/O Completion"
        in text
    )
    assert "phase_tag\t: 0x1\n" in text
    assert "cmdid\t\t: 0x12\n" in text
    assert "error_count\t: 7\n" in text


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (0x0002, "Invalid Field in Command"),
        (0x0080, "LBA Out of Range"),
        (0x0108, "Invalid Interrupt Vector"),
        (0x0182, "Attempted Write to Read Only Range"),
        (0x0281, "Unrecovered Read Error"),
        (0x0017, "unrecognized"),
        (0x0400, "Unknown status"),
        (0x0700, "Vendor Specific Status"),
    ],
)
def test_status_strings_follow_libnvme_tables(status, words):
    assert nvmecli.nvme_status_string(status).startswith(words)


def test_get_feature_zero_value_prints_like_c_printf():
    # "%#0*x" of zero has no 0x prefix: nvme-cli prints 00000000
    assert nvmecli.format_get_feature(0x06, 0, None, human=False) == (
        "get-feature:0x06 (Volatile Write Cache), Current value:00000000\n"
    )


@pytest.mark.parametrize(
    ("fid", "dw0", "line"),
    [
        (0x01, 0x03020107, "\tArbitration Burst       (AB): No limit"),
        (0x02, 0x00000041, "\tWorkload Hint (WH): 2 - Heavy Sequential Writes"),
        (0x04, 0x0000015D, "\tTemperature Threshold         (TMPTH): 76\u00b0C (349 Kelvin)"),
        (0x06, 0x00000001, "\tVolatile Write Cache Enable (WCE): Enabled"),
        (0x08, 0x00000A03, "\tAggregation Threshold (THR): 4"),
        (0x08, 0x00000A03, "\tAggregation Time     (TIME): 1000 usec"),
        (0x09, 0x00010005, "\tCoalescing Disable (CD): True"),
        (
            0x0B,
            0x00000100,
            "\tNamespace Attribute Notices" + " " * 31 + ": Send async event",
        ),
    ],
)
def test_get_feature_human_fields(fid, dw0, line):
    text = nvmecli.format_get_feature(fid, dw0, None, human=True)
    assert line in text.split("\n")


def test_get_feature_timestamp_decodes_the_buffer():
    ms = 1_700_000_000_123
    data = ms.to_bytes(6, "little") + bytes([0x02, 0])
    text = nvmecli.format_get_feature(0x0E, 0, data, human=True)
    assert f"\tThe timestamp is : {ms} (Tue Nov 14 22:13:20 2023 UTC)" in text
    assert "Set Features command" in text
    raw = nvmecli.format_get_feature(0x0E, 0, data, human=False)
    assert raw.split("\n")[2].startswith("0000: 7b ")


def test_id_ctrl_human_explains_set_bits_differently(id_ctrl):
    base = nvmecli.format_id_ctrl(id_ctrl, human=True)
    # flip cmic (ANA, multi-controller) and fna bit 3 (whose sense is inverted in nvme-cli)
    changed = bytearray(id_ctrl)
    changed[76] = 0x0A
    changed[524] = 0x08
    text = nvmecli.format_id_ctrl(bytes(changed), human=True)
    assert "  [3:3] : 0x1\tANA supported" in text
    assert "  [1:1] : 0x1\tMulti Controller" in text
    assert "Format NVM Broadcast NSID (FFFFFFFFh) Not Supported" in text
    assert "Format NVM Broadcast NSID (FFFFFFFFh) Supported" in base


def test_id_ns_marks_the_lba_format_in_use(id_ns):
    changed = bytearray(id_ns)
    changed[26] = 0x04  # flbas: format 4 (4096-byte blocks)
    text = nvmecli.format_id_ns(bytes(changed), 1)
    assert "lbaf  4 : ms:0   lbads:12 rp:0 (in use)" in text
    assert "lbaf  0 : ms:0   lbads:9  rp:0 \n" in text
    row = nvmecli.list_row("/dev/nvme0n1", "/dev/ng0n1", b"", bytes(changed), 1)
    assert "  4 KiB +  0 B" in nvmecli.format_list([row])


def test_json_escapes_like_json_c():
    data = build_identify_controller(sn='a"b\\c\x01', subnqn="nqn.x/y")
    doc = nvmecli.id_ctrl_json(data)
    assert '"sn":"a\\"b\\\\c\\u0001' in doc
    assert '"subnqn":"nqn.x/y"' in doc
    assert json.loads(doc)["sn"].startswith('a"b\\c\x01')


def test_json_omits_empty_subnqn():
    assert '"subnqn"' not in nvmecli.id_ctrl_json(build_identify_controller())


# -- robustness ------------------------------------------------------------------------------

_ALL_PRINTERS = (
    lambda b: nvmecli.format_id_ctrl(b),
    lambda b: nvmecli.format_id_ctrl(b, human=True),
    nvmecli.id_ctrl_json,
    lambda b: nvmecli.format_id_ns(b, 1),
    lambda b: nvmecli.format_id_ns(b, 1, human=True),
    nvmecli.id_ns_json,
    lambda b: nvmecli.format_list([nvmecli.list_row("/dev/nvme0n1", "/dev/ng0n1", b, b, 1)]),
    lambda b: nvmecli.format_smart_log(b, "nvme0", 0xFFFFFFFF),
    lambda b: nvmecli.format_error_log(b, "nvme0", 64),
    lambda b: nvmecli.format_fw_log(b, "nvme0"),
    lambda b: "".join(
        nvmecli.format_get_feature(fid, int.from_bytes(b[:4], "little"), b[:8], human)
        for fid in (1, 2, 4, 5, 6, 7, 8, 9, 0x0B, 0x0E, 0x42)
        for human in (False, True)
    ),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.large_base_example,
        HealthCheck.data_too_large,
    ],
)
@given(st.binary(min_size=4096, max_size=4096))
def test_random_buffers_never_crash_a_printer(data):
    for printer in _ALL_PRINTERS:
        text = printer(data)
        assert isinstance(text, str) and text.endswith("\n")


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=600))
def test_short_buffers_are_padded_not_rejected(data):
    for printer in _ALL_PRINTERS:
        assert printer(data).endswith("\n")
