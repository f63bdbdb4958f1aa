"""Identify layouts sit at the specification's offsets, round-trip, and rebuild
the reference controller that nvme-cli 2.3 printed for QEMU 7.2."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import construct as cs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layouts import common

from nvmescope.nvme import identify
from nvmescope.nvme.decode import decode
from nvmescope.nvme.identify import (
    ACTIVE_NS_LIST,
    IDENTIFY_CONTROLLER,
    IDENTIFY_NAMESPACE,
    LBA_FORMAT,
    NS_ID_DESCRIPTOR,
    POWER_STATE_DESCRIPTOR,
    ascii_field,
    to_plain,
)

REFERENCE = (
    Path(__file__).resolve().parents[1] / "reference/linux-6.1-on-qemu-7.2/guest-console.log"
)


def _json_block(mark: str) -> dict[str, Any]:
    if not REFERENCE.exists():
        pytest.skip("reference console log not present")
    text = REFERENCE.read_text()
    start = text.index(f"=== MARK {mark}\n") + len(f"=== MARK {mark}\n")
    end = text.index("=== MARK", start)
    return json.loads(text[start:end])


def _ctrl_fields_from_json(doc: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "psds":
            continue
        if key == "fguid":
            fields[key] = uuid.UUID(value).bytes
        elif key in ("tnvmcap", "unvmcap", "megcap", "maxdna"):
            fields[key] = int(value)
        else:
            fields[key] = value
    fields["psd"] = doc["psds"]
    return fields


# -- offsets ---------------------------------------------------------------------

CTRL_OFFSETS = {
    "vid": 0, "ssvid": 2, "sn": 4, "mn": 24, "fr": 64, "rab": 72, "ieee": 73, "cmic": 76,
    "mdts": 77, "cntlid": 78, "ver": 80, "rtd3r": 84, "rtd3e": 88, "oaes": 92, "ctratt": 96,
    "rrls": 100, "cntrltype": 111, "fguid": 112, "crdt1": 128, "crdt2": 130, "crdt3": 132,
    "nvmsr": 253, "vwci": 254, "mec": 255, "oacs": 256, "acl": 258, "aerl": 259, "frmw": 260,
    "lpa": 261, "elpe": 262, "npss": 263, "avscc": 264, "apsta": 265, "wctemp": 266,
    "cctemp": 268, "mtfa": 270, "hmpre": 272, "hmmin": 276, "tnvmcap": 280, "unvmcap": 296,
    "rpmbs": 312, "edstt": 316, "dsto": 318, "fwug": 319, "kas": 320, "hctma": 322,
    "mntmt": 324, "mxtmt": 326, "sanicap": 328, "hmminds": 332, "hmmaxd": 336,
    "nsetidmax": 338, "endgidmax": 340, "anatt": 342, "anacap": 343, "anagrpmax": 344,
    "nanagrpid": 348, "pels": 352, "domainid": 356, "megcap": 368, "sqes": 512, "cqes": 513,
    "maxcmd": 514, "nn": 516, "oncs": 520, "fuses": 522, "fna": 524, "vwc": 525, "awun": 526,
    "awupf": 528, "icsvscc": 530, "nwpc": 531, "acwu": 532, "ocfs": 534, "sgls": 536,
    "mnan": 540, "maxdna": 544, "maxcna": 560, "subnqn": 768, "ioccsz": 1792, "iorcsz": 1796,
    "icdoff": 1800, "fcatt": 1802, "msdbd": 1803, "ofcs": 1804, "psd": 2048, "vs": 3072,
}  # fmt: skip

CTRL_SIZES = {"sn": 20, "mn": 40, "fr": 8, "ieee": 3, "fguid": 16, "tnvmcap": 16,
              "subnqn": 256, "psd": 1024, "vs": 1024, "psd[31]": 32}  # fmt: skip

NS_OFFSETS = {
    "nsze": 0, "ncap": 8, "nuse": 16, "nsfeat": 24, "nlbaf": 25, "flbas": 26, "mc": 27,
    "dpc": 28, "dps": 29, "nmic": 30, "rescap": 31, "fpi": 32, "dlfeat": 33, "nawun": 34,
    "nawupf": 36, "nacwu": 38, "nabsn": 40, "nabo": 42, "nabspf": 44, "noiob": 46,
    "nvmcap": 48, "npwg": 64, "npwa": 66, "npdg": 68, "npda": 70, "nows": 72, "mssrl": 74,
    "mcl": 76, "msrc": 80, "nulbaf": 82, "anagrpid": 92, "nsattr": 99, "nvmsetid": 100,
    "endgid": 102, "nguid": 104, "eui64": 120, "lbaf": 128, "lbaf[1]": 132, "lbaf[15]": 188,
    "lbaf[16]": 192, "lbaf[63]": 380, "vs": 384,
}  # fmt: skip


def test_identify_controller_fields_sit_at_spec_offsets():
    tree = decode("identify_ctrl", bytes(4096))
    for name, offset in CTRL_OFFSETS.items():
        assert tree.find(name).offset == offset, name
    for name, size in CTRL_SIZES.items():
        assert tree.find(name).size == size, name
    assert tree.find("psd[1]").offset == 2048 + 32
    assert tree.find("psd[31]").offset == 2048 + 31 * 32


def test_identify_namespace_fields_sit_at_spec_offsets():
    tree = decode("identify_ns", bytes(4096))
    for name, offset in NS_OFFSETS.items():
        assert tree.find(name).offset == offset, name
    assert tree.find("nvmcap").size == 16
    assert tree.find("vs").size == 3712


def test_power_state_descriptor_fields_sit_at_spec_bits():
    tree = decode("identify_ctrl", bytes(4096))
    expected = {
        "max_power": (0, (15, 0)), "flags": (3, (31, 24)), "entry_lat": (4, (63, 32)),
        "exit_lat": (8, (95, 64)), "read_tput": (12, (100, 96)), "read_lat": (13, (108, 104)),
        "write_tput": (14, (116, 112)), "write_lat": (15, (124, 120)),
        "idle_power": (16, (143, 128)), "idle_scale": (18, (151, 150)),
        "active_power": (20, (175, 160)), "active_power_work": (22, (178, 176)),
        "active_scale": (22, (183, 182)),
    }  # fmt: skip
    for name, (offset, bits) in expected.items():
        node = tree.find(f"psd[2].{name}")
        assert node.offset == 2048 + 64 + offset, name
        assert node.bits == bits, name


# -- parse, build, size together -------------------------------------------------------


def test_power_state_descriptor_packs_the_spec_bytes():
    raw = bytearray(32)
    raw[0:2] = (2500).to_bytes(2, "little")
    raw[3] = 0x03  # mxps, nops
    raw[4:8] = (16).to_bytes(4, "little")
    raw[8:12] = (4).to_bytes(4, "little")
    raw[12], raw[13], raw[14], raw[15] = 1, 2, 3, 4
    raw[16:18] = (100).to_bytes(2, "little")
    raw[18] = 0b10 << 6  # ips
    raw[20:22] = (300).to_bytes(2, "little")
    raw[22] = (0b01 << 6) | 0b101  # aps, apw
    common(
        POWER_STATE_DESCRIPTOR,
        bytes(raw),
        dict(max_power=2500, flags=3, entry_lat=16, exit_lat=4, read_tput=1, read_lat=2,
             write_tput=3, write_lat=4, idle_power=100, idle_scale=2, active_power=300,
             active_power_work=5, active_scale=1),
        32,
    )  # fmt: skip


def test_lba_format_packs_ms_lbads_rp():
    common(LBA_FORMAT, bytes([0x08, 0x00, 0x0C, 0x02]), dict(ms=8, ds=12, rp=2), 4)
    common(LBA_FORMAT, bytes([0x40, 0x01, 0x09, 0x03]), dict(ms=0x140, ds=9, rp=3), 4)


def test_identify_layouts_are_4096_bytes():
    raw = bytes(range(256)) * 16
    assert IDENTIFY_CONTROLLER.sizeof() == 4096
    assert IDENTIFY_NAMESPACE.sizeof() == 4096
    common(ACTIVE_NS_LIST, raw, list(ACTIVE_NS_LIST.parse(raw)), 4096)
    assert ACTIVE_NS_LIST.parse(raw)[1] == int.from_bytes(raw[4:8], "little")


def test_reference_controller_rebuilds_from_nvme_cli_json():
    doc = _json_block("nvme id-ctrl /dev/nvme0 -o json")
    raw = identify.build_identify_controller(**_ctrl_fields_from_json(doc))
    assert len(raw) == 4096
    # bytes at the specification's offsets, independent of the layout
    assert raw[0:2] == (0x1B36).to_bytes(2, "little")
    assert raw[2:4] == (0x1AF4).to_bytes(2, "little")
    assert raw[4:24] == b"deadbeef" + b" " * 12
    assert raw[24:64] == b"QEMU NVMe Ctrl".ljust(40)
    assert raw[64:72] == b"7.2.22  "
    assert raw[72] == 6
    assert raw[73:76] == bytes([0x00, 0x54, 0x52])  # OUI 52-54-00, little-endian
    assert raw[77] == 7
    assert raw[80:84] == (0x10400).to_bytes(4, "little")
    assert raw[92:96] == (0x100).to_bytes(4, "little")
    assert raw[96:100] == (0x8000).to_bytes(4, "little")
    assert raw[111] == 1
    assert raw[256:258] == (0x10A).to_bytes(2, "little")
    assert (raw[258], raw[259], raw[260], raw[261]) == (3, 3, 3, 7)
    assert raw[266:268] == (343).to_bytes(2, "little")
    assert raw[268:270] == (373).to_bytes(2, "little")
    assert (raw[512], raw[513]) == (0x66, 0x44)
    assert raw[516:520] == (256).to_bytes(4, "little")
    assert raw[520:522] == (0x15D).to_bytes(2, "little")
    assert raw[525] == 7
    assert raw[534:536] == (3).to_bytes(2, "little")
    assert raw[536:540] == (1).to_bytes(4, "little")
    nqn = b"nqn.2019-08.org.qemu:deadbeef"
    assert raw[768 : 768 + len(nqn)] == nqn and not any(raw[768 + len(nqn) : 1024])
    assert raw[2048:2050] == (2500).to_bytes(2, "little")
    assert raw[2052:2056] == (16).to_bytes(4, "little")
    assert raw[2056:2060] == (4).to_bytes(4, "little")

    parsed = IDENTIFY_CONTROLLER.parse(raw)
    for key, value in doc.items():
        if key == "psds":
            for i, psd in enumerate(value):
                for pkey, pvalue in psd.items():
                    assert parsed.psd[i][pkey] == pvalue, (i, pkey)
        elif key in ("sn", "mn", "fr", "subnqn"):
            assert parsed[key] == value.encode().ljust(len(parsed[key]), b"\0"), key
            assert ascii_field(parsed[key]) == value.rstrip()
        elif key == "fguid":
            assert str(uuid.UUID(bytes=parsed[key])) == value
        elif isinstance(value, str):
            assert str(parsed[key]) == value, key
        else:
            assert parsed[key] == value, key
    assert IDENTIFY_CONTROLLER.build(parsed) == raw


def test_reference_namespace_rebuilds_from_nvme_cli_json():
    doc = _json_block("nvme id-ns /dev/nvme0n1 -o json")
    fields = {k: v for k, v in doc.items() if k not in ("lbafs", "nguid", "eui64", "nvmcap")}
    fields["nguid"] = bytes.fromhex(doc["nguid"])
    fields["eui64"] = bytes.fromhex(doc["eui64"])
    fields["nvmcap"] = int(doc["nvmcap"])
    fields["lbaf"] = doc["lbafs"]
    raw = identify.build_identify_namespace(**fields)
    assert raw[0:8] == (131072).to_bytes(8, "little")
    assert raw[8:16] == (131072).to_bytes(8, "little")
    assert (raw[24], raw[25], raw[26], raw[27], raw[28]) == (20, 7, 0, 3, 31)
    assert raw[33] == 1
    assert raw[68:70] == (7).to_bytes(2, "little")
    # lbaf 3: ms 64, lbads 9; lbaf 7: ms 64, lbads 12
    assert raw[128 + 12 : 128 + 16] == bytes([64, 0, 9, 0])
    assert raw[128 + 28 : 128 + 32] == bytes([64, 0, 12, 0])
    parsed = IDENTIFY_NAMESPACE.parse(raw)
    for key, value in fields.items():
        if key == "lbaf":
            for i, lbaf in enumerate(value):
                assert {k: parsed.lbaf[i][k] for k in ("ms", "ds", "rp")} == lbaf
        else:
            assert parsed[key] == value, key
    assert IDENTIFY_NAMESPACE.build(parsed) == raw


# -- strings ----------------------------------------------------------------------


def test_strings_build_from_str_or_bytes_and_pad_as_the_spec_says():
    raw = identify.build_identify_controller(sn="abc", mn=b"Model", fr="1.0", subnqn="nqn.x")
    assert raw[4:24] == b"abc" + b" " * 17
    assert raw[24:64] == b"Model" + b" " * 35
    assert raw[64:72] == b"1.0     "
    assert raw[768:773] == b"nqn.x" and raw[773:1024] == bytes(251)
    parsed = IDENTIFY_CONTROLLER.parse(raw)
    assert parsed.sn == b"abc" + b" " * 17  # parse keeps the raw bytes
    assert ascii_field(parsed.sn) == "abc"
    assert ascii_field(parsed.subnqn) == "nqn.x"


def test_string_longer_than_its_field_is_refused():
    with pytest.raises(cs.ConstructError):
        identify.build_identify_controller(sn="x" * 21)


def test_ascii_field_shows_garbage_as_question_marks():
    assert ascii_field(b"ab\xffc  ") == "ab?c"
    assert ascii_field(b"ab\x00junk") == "ab"


def test_unknown_field_name_is_refused():
    with pytest.raises(KeyError):
        identify.build_identify_controller(serial="x")
    with pytest.raises(KeyError):
        identify.build_identify_namespace(size=1)


# -- descriptor and namespace lists ---------------------------------------------------


def test_ns_id_descriptor_layout():
    raw = bytes([3, 16, 0, 0]) + bytes(range(16))
    common(NS_ID_DESCRIPTOR, raw, dict(nidt=3, nidl=16, nid=bytes(range(16))), 20)


def test_ns_desc_list_builds_parses_and_terminates():
    descs = [
        dict(nidt=identify.NIDT_EUI64, nid=bytes(range(8))),
        dict(nidt=identify.NIDT_NGUID, nid=bytes(range(16, 32))),
        dict(nidt=identify.NIDT_UUID, nid=uuid.UUID(int=7).bytes),
        dict(nidt=identify.NIDT_CSI, nid=b"\x00"),
    ]
    raw = identify.build_ns_desc_list(descs)
    assert len(raw) == 4096
    assert raw[0:4] == bytes([1, 8, 0, 0]) and raw[4:12] == bytes(range(8))
    assert raw[12:16] == bytes([2, 16, 0, 0])
    parsed = identify.parse_ns_desc_list(raw)
    assert [(d.nidt, d.nidl, d.nid) for d in parsed] == [
        (d["nidt"], len(d["nid"]), d["nid"]) for d in descs
    ]
    full = identify.NS_ID_DESC_LIST.parse(raw)
    assert [d.nidt for d in full.descs] == [1, 2, 3, 4, 0]
    assert identify.NS_ID_DESC_LIST.build(full) == raw


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_parse_ns_desc_list_never_raises_on_garbage(prefix):
    data = (prefix + bytes(4096))[:4096]
    descs = identify.parse_ns_desc_list(data)
    pos = 0
    for d in descs:
        assert d.nidt != 0 and len(d.nid) == d.nidl
        assert data[pos + 4 : pos + 4 + d.nidl] == d.nid
        pos += 4 + d.nidl
    assert pos <= 4096


def test_active_ns_list_builds_and_parses():
    raw = identify.build_active_ns_list([1, 2, 7])
    assert raw[:12] == bytes([1, 0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0]) and not any(raw[12:])
    assert identify.parse_active_ns_list(raw) == [1, 2, 7]


# -- properties --------------------------------------------------------------------

u8, u16, u32 = (st.integers(0, (1 << n) - 1) for n in (8, 16, 32))


@settings(max_examples=60, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "vid": u16,
            "ieee": st.integers(0, (1 << 24) - 1),
            "ver": u32,
            "wctemp": u16,
            "tnvmcap": st.integers(0, (1 << 128) - 1),
            "sqes": u8,
            "nn": u32,
            "oncs": u16,
            "sn": st.text(alphabet="abcdefXYZ0123 -", max_size=20).map(str.rstrip),
            "maxdna": st.integers(0, (1 << 128) - 1),
            "ofcs": u16,
        }  # fmt: skip
    ),
    st.lists(
        st.fixed_dictionaries(
            {
                "max_power": u16,
                "flags": st.integers(0, 3),
                "entry_lat": u32,
                "read_tput": st.integers(0, 31),
                "write_lat": st.integers(0, 31),
                "idle_scale": st.integers(0, 3),
                "active_power_work": st.integers(0, 7),
                "active_scale": st.integers(0, 3),
            }  # fmt: skip
        ),
        max_size=32,
    ),
)
def test_identify_controller_values_round_trip(fields, psds):
    raw = identify.build_identify_controller(**fields, psd=psds)
    parsed = IDENTIFY_CONTROLLER.parse(raw)
    for key, value in fields.items():
        if key == "sn":
            assert ascii_field(parsed.sn) == value
        else:
            assert parsed[key] == value
    for i, psd in enumerate(psds):
        for key, value in psd.items():
            assert parsed.psd[i][key] == value
    assert int.from_bytes(raw[280:296], "little") == fields["tnvmcap"]
    assert int.from_bytes(raw[73:76], "little") == fields["ieee"]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**64 - 1))
def test_parse_build_parse_is_stable_on_any_bytes(seed):
    raw = random.Random(seed).randbytes(4096)
    for layout in (IDENTIFY_CONTROLLER, IDENTIFY_NAMESPACE):
        once = layout.parse(raw)
        rebuilt = layout.build(once)
        assert len(rebuilt) == 4096
        assert to_plain(layout.parse(rebuilt)) == to_plain(once)
