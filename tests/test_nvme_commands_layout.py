"""The construct SQE/CQE layouts and the hot-path struct codecs agree."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from layouts import common

from nvmescope.nvme import commands
from nvmescope.nvme.commands import CQE, SGL_DESCRIPTOR, SQE


def test_sqe_layout_at_spec_offsets():
    raw = bytearray(64)
    raw[0], raw[1] = 0x06, 0x41  # opc identify, fuse 1, psdt 1
    raw[2:4] = (0xBEEF).to_bytes(2, "little")
    raw[4:8] = (1).to_bytes(4, "little")
    raw[16:24] = (0x1111).to_bytes(8, "little")
    raw[24:32] = (0x2000).to_bytes(8, "little")
    raw[32:40] = (0x3000).to_bytes(8, "little")
    for n in range(10, 16):
        raw[40 + 4 * (n - 10) : 44 + 4 * (n - 10)] = (n * 0x01010101).to_bytes(4, "little")
    common(
        SQE,
        bytes(raw),
        dict(cdw0={"opc": 6, "fuse": 1, "psdt": 1, "cid": 0xBEEF}, nsid=1, mptr=0x1111,
             prp1=0x2000, prp2=0x3000, cdw10=0x0A0A0A0A, cdw15=0x0F0F0F0F),
        64,
    )  # fmt: skip


def test_cqe_layout_at_spec_offsets():
    raw = bytes.fromhex("3f003f00 00000000 0100 0000 0500") + ((0x4102 << 1) | 1).to_bytes(
        2, "little"
    )
    common(
        CQE,
        raw,
        dict(dw0=0x3F003F, dw1=0, sqhd=1, sqid=0, cid=5,
             status={"p": 1, "sc": 2, "sct": 1, "crd": 0, "m": 0, "dnr": 1}),
        16,
    )  # fmt: skip


def test_sgl_descriptor_layout_at_spec_offsets():
    raw = (0x1000).to_bytes(8, "little") + (512).to_bytes(4, "little") + bytes(3) + bytes([0x01])
    common(
        SGL_DESCRIPTOR,
        raw,
        dict(addr=0x1000, length=512, reserved=bytes(3), sgl_id={"type": 0, "subtype": 1}),
        16,
    )
    raw = raw[:15] + bytes([0x30])  # Last Segment, address
    assert SGL_DESCRIPTOR.parse(raw).sgl_id.type == 3


u16, u32, u64 = (st.integers(0, (1 << n) - 1) for n in (16, 32, 64))
SQE_FIELDS = st.fixed_dictionaries(
    {
        "opc": st.integers(0, 255),
        "cid": u16,
        "nsid": u32,
        "prp1": u64,
        "prp2": u64,
        "cdw10": u32,
        "cdw11": u32,
        "cdw12": u32,
        "cdw13": u32,
        "cdw14": u32,
        "cdw15": u32,
        "fuse": st.integers(0, 3),
        "psdt": st.integers(0, 3),
        "mptr": u64,
        "cdw2": u32,
        "cdw3": u32,
    }  # fmt: skip
)


@settings(max_examples=300, deadline=None)
@given(SQE_FIELDS)
def test_pack_sqe_agrees_with_the_construct_layout(f):
    raw = commands.pack_sqe(**f)
    built = SQE.build(
        dict(cdw0={"opc": f["opc"], "fuse": f["fuse"], "psdt": f["psdt"], "cid": f["cid"]},
             **{k: v for k, v in f.items() if k not in ("opc", "fuse", "psdt", "cid")})
    )  # fmt: skip
    assert raw == built
    assert commands.unpack_sqe(raw)._asdict() == f


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=64, max_size=64))
def test_unpack_sqe_agrees_with_the_construct_layout(raw):
    sqe = commands.unpack_sqe(raw)
    parsed = SQE.parse(raw)
    assert (sqe.opc, sqe.fuse, sqe.psdt, sqe.cid) == (
        parsed.cdw0.opc, parsed.cdw0.fuse, parsed.cdw0.psdt, parsed.cdw0.cid,
    )  # fmt: skip
    for name in ("nsid", "cdw2", "cdw3", "mptr", "prp1", "prp2", "cdw10", "cdw11", "cdw12",
                 "cdw13", "cdw14", "cdw15"):  # fmt: skip
        assert getattr(sqe, name) == parsed[name]


@settings(max_examples=300, deadline=None)
@given(u32, u32, u16, u16, u16, st.integers(0, 1), st.integers(0, 0x7FFF))
def test_pack_cqe_agrees_with_the_construct_layout(dw0, dw1, sqhd, sqid, cid, phase, status):
    raw = commands.pack_cqe(dw0, dw1, sqhd, sqid, cid, phase, status)
    parsed = CQE.parse(raw)
    assert (parsed.dw0, parsed.dw1, parsed.sqhd, parsed.sqid, parsed.cid) == (
        dw0,
        dw1,
        sqhd,
        sqid,
        cid,
    )
    s = parsed.status
    assert s.p == phase
    assert (s.dnr << 14) | (s.m << 13) | (s.crd << 11) | (s.sct << 8) | s.sc == status
    cqe = commands.unpack_cqe(raw)
    assert cqe.status == status and cqe.p == phase
    assert (cqe.sc, cqe.sct, cqe.crd, cqe.m, cqe.dnr) == (s.sc, s.sct, s.crd, s.m, s.dnr)
    assert CQE.build(parsed) == raw


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 7), st.integers(0, 255), st.booleans(), st.booleans(), st.integers(0, 3))
def test_make_status_places_fields_like_the_layout(sct, sc, dnr, m, crd):
    status = commands.make_status(sct, sc, dnr=dnr, m=m, crd=crd)
    s = CQE.parse(commands.pack_cqe(0, 0, 0, 0, 0, 0, status)).status
    assert (s.sct, s.sc, s.dnr, s.m, s.crd) == (sct, sc, int(dnr), int(m), crd)
    assert commands.split_status(status) == (sct, sc, dnr)
