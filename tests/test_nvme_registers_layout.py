"""Register layouts (construct) agree with Register.get/put and sit at the
specification's BAR0 offsets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nvmescope.nvme import registers
from nvmescope.nvme.decode import decode_register
from nvmescope.nvme.registers import BY_NAME, REGISTERS

SPEC_OFFSETS = {"cap": 0x00, "vs": 0x08, "intms": 0x0C, "intmc": 0x10, "cc": 0x14, "csts": 0x1C,
                "nssr": 0x20, "aqa": 0x24, "asq": 0x28, "acq": 0x30, "cmbloc": 0x38,
                "cmbsz": 0x3C}  # fmt: skip

SPEC_BITS = {
    ("cap", "mqes"): (15, 0), ("cap", "cqr"): (16, 16), ("cap", "ams"): (18, 17),
    ("cap", "to"): (31, 24), ("cap", "dstrd"): (35, 32), ("cap", "nssrs"): (36, 36),
    ("cap", "css"): (44, 37), ("cap", "mpsmin"): (51, 48), ("cap", "mpsmax"): (55, 52),
    ("cc", "en"): (0, 0), ("cc", "css"): (6, 4), ("cc", "mps"): (10, 7), ("cc", "ams"): (13, 11),
    ("cc", "shn"): (15, 14), ("cc", "iosqes"): (19, 16), ("cc", "iocqes"): (23, 20),
    ("csts", "rdy"): (0, 0), ("csts", "cfs"): (1, 1), ("csts", "shst"): (3, 2),
    ("aqa", "asqs"): (11, 0), ("aqa", "acqs"): (27, 16), ("asq", "asqb"): (63, 12),
    ("vs", "mjr"): (31, 16), ("vs", "mnr"): (15, 8), ("vs", "ter"): (7, 0),
}  # fmt: skip


def test_registers_sit_at_spec_offsets():
    assert {r.name: r.offset for r in REGISTERS} == SPEC_OFFSETS
    for reg in REGISTERS:
        assert reg.layout.sizeof() == reg.size


def test_fields_sit_at_spec_bits_in_the_decoded_tree():
    for (reg, name), bits in SPEC_BITS.items():
        node = decode_register(reg, 0).find(name)
        assert node.bits == bits, (reg, name)
        assert node.offset == bits[1] // 8 and node.size == bits[0] // 8 - bits[1] // 8 + 1


def test_reference_bring_up_values_decode():
    # the Linux driver wrote AQA=0x1f001f and CC=0x460061 (QEMU trace)
    assert registers.AQA.parse(0x1F001F).asqs == 31
    cc = registers.CC.parse(0x460061)
    assert (cc.en, cc.css, cc.mps, cc.iosqes, cc.iocqes) == (1, 6, 0, 6, 4)
    assert registers.CC.build(en=1, css=6, iosqes=6, iocqes=4) == 0x460061


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(REGISTERS), st.integers(0, 2**64 - 1))
def test_layout_agrees_with_get_and_put(reg, value):
    value &= (1 << (8 * reg.size)) - 1
    parsed = reg.parse(value)
    rebuilt = 0
    for f in reg.fields:
        assert parsed[f.name] == reg.get(value, f.name) == f.get(value)
        rebuilt = f.put(rebuilt, parsed[f.name])
    defined = value & ~reg.reserved_mask
    assert rebuilt == defined
    assert reg.build(**{f.name: parsed[f.name] for f in reg.fields}) == defined
    tree = decode_register(reg.name, value)
    assert tree.value == value
    assert {c.name: c.value for c in tree.children} == {f.name: f.get(value) for f in reg.fields}


def test_masks():
    assert registers.CC.ro_mask & 1 == 0
    assert registers.CAP.ro_mask == (1 << 64) - 1
    assert registers.CSTS.reserved_mask & 0x3F == 0


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 15))
def test_doorbells_round_trip(qid, dstrd):
    assert registers.doorbell_at(registers.sq_tail_doorbell(qid, dstrd), dstrd) == ("sq", qid)
    assert registers.doorbell_at(registers.cq_head_doorbell(qid, dstrd), dstrd) == ("cq", qid)


def test_register_names():
    assert registers.register_name(0x28, 4) == "asq.lo"
    assert registers.register_name(0x2C, 4) == "asq.hi"
    assert registers.register_name(0x1000, 4) == "sq0tdbl"
    assert registers.register_name(0x1004, 4) == "cq0hdbl"
    assert BY_NAME["cc"].offset == 0x14
