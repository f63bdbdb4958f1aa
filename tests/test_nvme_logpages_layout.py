"""Log page layouts sit at the specification's offsets and round-trip."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from layouts import common

from nvmescope.nvme.decode import decode
from nvmescope.nvme.identify import ascii_field
from nvmescope.nvme.logpages import ERROR_INFORMATION_ENTRY, FIRMWARE_SLOT_LOG, SMART_LOG


def test_error_entry_is_64_bytes_at_spec_offsets():
    raw = bytearray(64)
    raw[0:8] = (5).to_bytes(8, "little")
    raw[8:10] = (1).to_bytes(2, "little")
    raw[10:12] = (0x1234).to_bytes(2, "little")
    raw[12:14] = ((0x4102 << 1) | 1).to_bytes(2, "little")  # DNR, SCT 1, SC 2, phase 1
    raw[14:16] = (0x0328).to_bytes(2, "little")
    raw[16:24] = (0x1122334455).to_bytes(8, "little")
    raw[24:28] = (1).to_bytes(4, "little")
    raw[28], raw[29], raw[30], raw[31] = 2, 3, 0, 0x06
    raw[32:40] = (0xABCDEF).to_bytes(8, "little")
    raw[40:42] = (0x77).to_bytes(2, "little")
    raw[63] = 1
    common(
        ERROR_INFORMATION_ENTRY,
        bytes(raw),
        dict(error_count=5, sqid=1, cmdid=0x1234,
             status_field={"status": 0x4102, "phase_tag": 1}, parm_err_loc=0x0328,
             lba=0x1122334455, nsid=1, vs=2, trtype=3, csi=0, opcode=6, cs=0xABCDEF,
             trtype_spec_info=0x77, log_page_version=1),
        64,
    )  # fmt: skip
    tree = decode("error_log_entry", bytes(raw))
    assert "Invalid Queue Size" in tree.find("status_field.status").meaning
    assert "byte 40, bit 3" in tree.find("parm_err_loc").meaning


def test_smart_log_is_512_bytes_at_spec_offsets():
    raw = bytearray(512)
    raw[0] = 0x04
    raw[1:3] = (323).to_bytes(2, "little")
    raw[3], raw[4], raw[5], raw[6] = 100, 10, 3, 1
    big = (1 << 100) + 12345
    for n, offset in enumerate(range(32, 192, 16)):
        raw[offset : offset + 16] = (big + n).to_bytes(16, "little")
    raw[192:196] = (7).to_bytes(4, "little")
    raw[196:200] = (8).to_bytes(4, "little")
    for i in range(8):
        raw[200 + 2 * i : 202 + 2 * i] = (300 + i).to_bytes(2, "little")
    for n, offset in enumerate(range(216, 232, 4)):
        raw[offset : offset + 4] = (40 + n).to_bytes(4, "little")
    names = ["data_units_read", "data_units_written", "host_read_commands",
             "host_write_commands", "ctrl_busy_time", "power_cycles", "power_on_hours",
             "unsafe_shutdowns", "media_errors", "num_err_log_entries"]  # fmt: skip
    expected = {name: big + n for n, name in enumerate(names)}
    expected.update(
        critical_warning=4,
        temperature=323,
        avail_spare=100,
        spare_thresh=10,
        percent_used=3,
        endurance_grp_critical_warning_summary=1,
        warning_temp_time=7,
        critical_comp_time=8,
        temperature_sensor=[300 + i for i in range(8)],
        thm_temp1_trans_count=40,
        thm_temp2_trans_count=41,
        thm_temp1_total_time=42,
        thm_temp2_total_time=43,
    )
    common(SMART_LOG, bytes(raw), expected, 512)
    tree = decode("smart_log", bytes(raw))
    assert tree.find("temperature").offset == 1
    assert tree.find("data_units_read").offset == 32
    assert tree.find("num_err_log_entries").offset == 176
    assert tree.find("temperature_sensor[7]").offset == 214
    assert tree.find("thm_temp2_total_time").offset == 228
    assert tree.find("temperature").meaning.endswith("50 C (323 K)")
    assert tree.find("critical_warning").meaning.endswith("NVM subsystem reliability degraded")


def test_firmware_slot_log_matches_nvme_cli_reference():
    # nvme-cli printed: afi 0x1, frs1 0x2020202020302e31 (1.0.....)
    raw = FIRMWARE_SLOT_LOG.build(
        dict(
            afi=1,
            rsvd1=bytes(7),
            frs1="1.0",
            frs2=b"",
            frs3=b"",
            frs4=b"",
            frs5=b"",
            frs6=b"",
            frs7=b"",
            rsvd64=bytes(448),
        )  # fmt: skip
    )
    assert len(raw) == 512 and raw[0] == 1
    assert int.from_bytes(raw[8:16], "little") == 0x2020202020302E31
    assert raw[16:64] == bytes(48)  # empty slots are zero
    parsed = FIRMWARE_SLOT_LOG.parse(raw)
    assert ascii_field(parsed.frs1) == "1.0"
    tree = decode("fw_slot_log", raw)
    assert [tree.find(f"frs{n}").offset for n in range(1, 8)] == list(range(8, 64, 8))
    assert "running slot 1" in tree.find("afi").meaning
    assert "empty slot" in tree.find("frs2").meaning


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**64 - 1))
def test_log_layouts_reparse_their_own_build(seed):
    rng = random.Random(seed)
    for layout, size in ((ERROR_INFORMATION_ENTRY, 64), (SMART_LOG, 512), (FIRMWARE_SLOT_LOG, 512)):
        raw = rng.randbytes(size)
        assert layout.build(layout.parse(raw)) == raw  # no padding: every byte is kept
