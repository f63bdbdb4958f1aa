"""The generic field-tree decoder: every layout decodes, nodes cover the right
bytes, and values turn into words."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvmescope.nvme import commands, identify
from nvmescope.nvme.decode import (
    LAYOUTS,
    FieldNode,
    decode,
    decode_register,
    decode_value,
    feature_layout_name,
    render_tree,
)

REQUIRED = {"sqe", "cqe", "sgl_descriptor", "identify_ctrl", "identify_ns", "active_ns_list",
            "ns_desc_list", "error_log_entry", "smart_log", "fw_slot_log", "reg:cap", "reg:vs",
            "reg:cc", "reg:csts", "reg:aqa", "reg:asq", "reg:acq", "feat:arbitration",
            "feat:number_of_queues", "feat:timestamp"}  # fmt: skip


def _check_tree(node: FieldNode, data: bytes) -> None:
    assert node.raw == data[node.offset : node.offset + node.size]
    for child in node.children:
        assert node.offset <= child.offset
        assert child.offset + child.size <= node.offset + node.size
        _check_tree(child, data)
    if node.bits is None:  # byte fields of one level never overlap
        ends = [(c.offset, c.offset + c.size) for c in node.children if c.bits is None]
        for (_, end), (start, _) in zip(ends, ends[1:], strict=False):
            assert end <= start


def test_registry_has_every_required_layout():
    assert REQUIRED <= set(LAYOUTS)


def _sample(name: str, rng: random.Random) -> bytes:
    if name == "ns_desc_list":
        return identify.build_ns_desc_list([dict(nidt=1, nid=rng.randbytes(8))])
    return rng.randbytes(LAYOUTS[name].size)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**64 - 1))
def test_every_layout_decodes_random_bytes_into_a_consistent_tree(seed):
    rng = random.Random(seed)
    for name in sorted(LAYOUTS):
        data = _sample(name, rng)
        tree = decode(name, data)
        assert tree.size == len(data) and tree.children, name
        _check_tree(tree, data)
        assert "meaning unavailable" not in render_tree(tree), name


def test_leaves_of_identify_ctrl_cover_every_byte_once():
    tree = decode("identify_ctrl", bytes(4096))
    covered = bytearray(4096)
    for node in tree.walk():
        if not node.children and node.bits is None:
            for i in range(node.offset, node.offset + node.size):
                covered[i] += 1
    # bytes outside byte-level leaves belong to PSD bit fields and PSD padding
    assert max(covered) == 1
    assert all(covered[:2048]) and all(covered[3072:])


def test_register_words():
    cc = decode_register("cc", 0x460061)
    assert cc.find("mps").meaning.endswith("4096 bytes")
    assert cc.find("iosqes").meaning.endswith("64 bytes")
    assert cc.find("iocqes").meaning.endswith("16 bytes")
    assert cc.find("en").meaning.endswith("enabled")
    assert decode_register("cap", 0x7F << 24).find("to").meaning.endswith("63500 ms")
    assert decode_register("cap", 1 << 32).find("dstrd").meaning.endswith("8-byte doorbell stride")
    assert (
        decode_register("csts", 0b1001)
        .find("shst")
        .meaning.endswith("Shutdown processing complete")
    )
    assert decode_register("vs", 0x10400).meaning.endswith("NVMe 1.4.0")
    assert decode_register("aqa", 0x1F001F).find("asqs").meaning.endswith("32 entries")
    assert decode_register("asq", 0x12345000).find("asqb").meaning.endswith("0x12345000")


def test_sqe_opcode_needs_admin_or_io_context():
    raw = commands.pack_sqe(0x02, 9, nsid=1, cdw10=100, cdw12=7)
    assert decode("sqe", raw, {"admin": False}).find("cdw0.opc").meaning.endswith("Read")
    assert decode("sqe", raw, {"sqid": 0}).find("cdw0.opc").meaning.endswith("Get Log Page")
    io = decode("sqe", raw, {"sqid": 1})
    assert "SLBA 100" in io.find("cdw10").meaning
    assert "8 logical blocks" in io.find("cdw12").meaning
    both = decode("sqe", raw).find("cdw0.opc").meaning
    assert "Get Log Page" in both and "Read" in both


def test_sqe_admin_command_dwords_in_words():
    create = commands.pack_sqe(0x05, 1, prp1=0x9000, cdw10=(63 << 16) | 1, cdw11=(1 << 16) | 3)
    tree = decode("sqe", create, {"admin": True})
    assert "QID 1, QSIZE 63 (64 entries)" in tree.find("cdw10").meaning
    assert "IEN 1, IV 1" in tree.find("cdw11").meaning
    setq = commands.pack_sqe(0x09, 2, cdw10=0x07, cdw11=0x3F003F)
    tree = decode("sqe", setq, {"admin": True})
    assert "Number of Queues" in tree.find("cdw10").meaning
    assert "64 I/O submission queues" in tree.find("cdw11").meaning


def test_cqe_status_in_words():
    raw = commands.pack_cqe(0, 0, 3, 0, 7, 1, commands.make_status(1, 0x01, dnr=True))
    tree = decode("cqe", raw)
    assert tree.meaning.endswith("Invalid Queue Identifier (SCT 1h SC 01h, DNR)")
    assert tree.find("status.sc").meaning.endswith("Invalid Queue Identifier")
    assert tree.find("status.sc").bits == (8, 1)
    assert tree.find("status.p").value == 1
    ok = decode(
        "cqe", commands.pack_cqe(0x3F003F, 0, 1, 0, 2, 1, 0), {"admin": True, "opc": 9, "fid": 7}
    )
    assert ok.find("status.sc").meaning.endswith("Successful Completion")
    assert "64 I/O completion queues" in ok.find("dw0").meaning


def _dw0_words(dw0: int, context: dict) -> str:
    raw = commands.pack_cqe(dw0, 0, 1, 0, 2, 1, 0)
    return decode("cqe", raw, {"admin": True, **context}).find("dw0").meaning


def test_cqe_dword_0_is_decoded_as_the_command_defines_it():
    # Set Features answers only Number of Queues in Dword 0; the rest leave it unused
    assert "Timestamp" not in _dw0_words(0, {"opc": 0x09, "fid": 0x0E})
    assert "not used" in _dw0_words(0, {"opc": 0x09, "fid": 0x08})
    # Get Features: the value, except where it comes in the data buffer (Timestamp)
    assert "Volatile Write Cache" in _dw0_words(1, {"opc": 0x0A, "fid": 0x06, "sel": 0})
    assert "data buffer" in _dw0_words(0, {"opc": 0x0A, "fid": 0x0E, "sel": 0})
    # SEL 011b: the capabilities, not a value
    words = _dw0_words(0x6, {"opc": 0x0A, "fid": 0x84, "sel": 3})
    assert words.endswith(": capabilities: namespace specific, changeable")
    # Asynchronous Event Request: type, information and log page
    words = _dw0_words(0x010100, {"opc": 0x0C})
    assert "type 0" in words and "info 01h" in words and "log page 01h" in words


def test_cqe_sqhd_says_which_slot_the_device_fetches_next():
    raw = commands.pack_cqe(0, 0, 15, 0, 2, 1, 0)
    assert "slot 15 next" in decode("cqe", raw).find("sqhd").meaning


def test_identify_words():
    raw = identify.build_identify_controller(
        sn="deadbeef", wctemp=343, cctemp=373, ver=0x10400, sqes=0x66, mdts=7,
        psd=[dict(max_power=2500, entry_lat=16)],
    )  # fmt: skip
    tree = decode("identify_ctrl", raw)
    assert tree.find("wctemp").meaning.endswith("70 C (343 K)")
    assert tree.find("cctemp").meaning.endswith("100 C (373 K)")
    assert tree.find("sn").meaning.endswith("'deadbeef'")
    assert tree.find("ver").meaning.endswith("NVMe 1.4.0")
    assert tree.find("sqes").meaning.endswith("required 64 bytes, maximum 64 bytes")
    assert tree.find("psd[0].max_power").meaning.endswith("25.00 W")
    ns = identify.build_identify_namespace(nsze=0x20000, flbas=0, lbaf=[dict(ds=9)])
    tree = decode("identify_ns", ns)
    assert "67108864 bytes (64 MiB)" in tree.find("nsze").meaning
    assert tree.find("lbaf[0].ds").meaning.endswith("512 bytes")


def test_features_decode_by_name():
    name = feature_layout_name(7)
    assert name == "feat:number_of_queues"
    tree = decode_value(name, 0x3F003F)
    assert tree.find("ncqr").bits == (31, 16)
    assert tree.find("ncqr").meaning.endswith("64 I/O completion queues")
    assert feature_layout_name(0x80) is None


def test_hover_finds_the_deepest_field():
    tree = decode("identify_ctrl", bytes(4096))
    assert tree.at(267).name == "wctemp"
    assert tree.at(2048 + 12).name == "read_tput"
    assert tree.at(5000) is None


def test_render_tree_lists_name_offset_size_value_meaning():
    text = render_tree(decode_register("cc", 0x460061))
    lines = text.splitlines()
    assert lines[0].startswith("reg:cc")
    iosqes = next(line for line in lines if line.strip().startswith("iosqes"))
    assert "0x0002" in iosqes and "[19:16]" in iosqes and " 6 " in iosqes and "64 bytes" in iosqes


def test_bad_input_is_a_one_line_answer_not_a_traceback():
    with pytest.raises(KeyError):
        decode("no_such_layout", b"")
    with pytest.raises(ValueError):
        decode("sqe", bytes(63))
    broken = bytes([1, 8, 0, 0]) + b"\xff" * 4092  # no terminator, last descriptor overruns
    tree = decode("ns_desc_list", broken)
    assert tree.meaning.startswith("cannot decode") and not tree.children
    assert "\n" not in tree.meaning
