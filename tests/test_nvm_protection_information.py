"""End-to-end protection information (NVM Command Set 1.0 5.2, NVMe 1.4 8.3; QEMU 7.2's
hw/nvme/dif.c for what the specification leaves open): the CRC-16 T10 DIF guard, PRACT
inserting and stripping the tuple, PRCHK checking guard, application tag and reference
tag with the escape values, and every status: End-to-end Guard / Application Tag /
Reference Tag Check Error (SCT 2h, SC 82h / 83h / 84h), Invalid Protection Information
(SCT 1h, SC 81h)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_h
from test_nvm_metadata import (
    LBAF,
    OPC_COMPARE,
    OPC_READ,
    OPC_VERIFY,
    OPC_WRITE,
    OPC_WZ,
    blocks,
    buffer,
    fmt,
    io,
    make_rig,
    read_ext,
    read_sep,
    status,
    write_ext,
    write_sep,
)

from nvmescope.emulator import protection as pi
from nvmescope.nvme import status as st
from nvmescope.nvme.commands import pack_sqe

PRACT = 1 << 29
GUARD, APP, REF = 1 << 28, 1 << 27, 1 << 26
ALL = GUARD | APP | REF
GUARD_ERROR, APP_ERROR, REF_ERROR = (2, 0x82), (2, 0x83), (2, 0x84)
INVALID_PI = (1, 0x81)


def crc_bitwise(data: bytes) -> int:
    """CRC-16 T10 DIF one bit at a time, from its definition (x^16 + x^15 + x^11 + x^9 +
    x^8 + x^7 + x^5 + x^4 + x^2 + x + 1, MSB first, initial 0, no final XOR)."""
    crc = 0
    for byte in data:
        for bit in range(7, -1, -1):
            top = (crc >> 15) ^ ((byte >> bit) & 1)
            crc = (crc << 1) & 0xFFFF
            if top:
                crc ^= 0x8BB7
    return crc


def tuple_of(guard: int, app: int, ref: int) -> bytes:
    return struct.pack(">HHI", guard, app, ref)


def pi_rig(ms: int = 8, pi_type: int = 1, pil: int = 0, mset: int = 0):
    rig = make_rig()
    assert status(fmt(rig, LBAF[ms], mset=mset, pi=pi_type, pil=pil)) == (0, 0)
    return rig


def cdw15(lbat: int = 0, lbatm: int = 0) -> int:
    return lbatm << 16 | lbat


def detail_of(evs, kind: str) -> str:
    return next(e.detail for e in evs if e.kind == kind)


# -- the CRC ------------------------------------------------------------------------------
def test_crc16_t10dif_check_value():
    assert pi.crc16_t10dif(b"123456789") == 0xD0DB  # the catalogued CRC-16/T10-DIF check


@given(st_h.binary(max_size=600))
def test_crc16_t10dif_table_agrees_with_the_bitwise_definition(data):
    assert pi.crc16_t10dif(data) == crc_bitwise(data)


@given(st_h.binary(max_size=600), st_h.integers(0, 600))
def test_crc16_t10dif_continues_across_pieces_and_leaves_zero_after_itself(data, cut):
    whole = pi.crc16_t10dif(data)
    assert pi.crc16_t10dif(data[cut:], pi.crc16_t10dif(data[:cut])) == whole
    assert pi.crc16_t10dif(data + whole.to_bytes(2, "big")) == 0


# -- PRACT: insert on write, strip on read -------------------------------------------------
def test_pract_write_with_ms_8_moves_no_metadata_and_inserts_the_tuple():
    rig = pi_rig(ms=8, pi_type=1)
    data = blocks(2, 1, 512)
    cqe, evs = write_sep(rig, 7, data, b"", cdw12=PRACT, cdw14=7, cdw15=cdw15(0xBEEF))
    assert status(cqe) == (0, 0)
    assert not any("metadata" in getattr(e, "purpose", "") for e in evs)
    meta = rig.ctrl.namespaces[1].meta.read(7, 2)
    assert meta == tuple_of(pi.crc16_t10dif(data[:512]), 0xBEEF, 7) + tuple_of(
        pi.crc16_t10dif(data[512:]), 0xBEEF, 8
    )
    # a read with PRACT strips it: no metadata moves, the checks pass
    cqe, evs, got, _ = read_sep(
        rig, 7, 2, 8, cdw12=PRACT | ALL, cdw14=7, cdw15=cdw15(0xBEEF, 0xFFFF)
    )
    assert status(cqe) == (0, 0) and got == data
    assert not any("metadata" in getattr(e, "purpose", "") for e in evs)


def test_pract_on_an_extended_ms_8_format_shrinks_the_data_buffer_to_the_data():
    rig = pi_rig(ms=8, pi_type=1, mset=1)
    data = blocks(3, 2, 512)
    cqe, evs = write_ext(rig, 0, data, 3, cdw12=PRACT, cdw14=0)
    assert status(cqe) == (0, 0)
    assert sum(e.length for e in evs if e.kind == "dma_read") == 3 * 512
    # without PRACT the same read carries data and tuple interleaved
    cqe, _, got = read_ext(rig, 0, 3, 3 * 520, cdw12=ALL, cdw14=0)
    assert status(cqe) == (0, 0)
    for i in range(3):
        block = got[i * 520 : (i + 1) * 520]
        assert block[:512] == data[i * 512 : (i + 1) * 512]
        assert block[512:] == tuple_of(pi.crc16_t10dif(block[:512]), 0, i)


@pytest.mark.parametrize("pil", [0, 1])
def test_pract_with_ms_16_keeps_the_host_metadata_and_writes_the_tuple_over_its_place(pil):
    rig = pi_rig(ms=16, pi_type=1, pil=pil)
    data, meta = blocks(1, 3, 512), bytes(range(16))
    cqe, evs = write_sep(rig, 0, data, meta, cdw12=PRACT, cdw14=0, cdw15=cdw15(0x1234))
    assert status(cqe) == (0, 0)
    assert any(e.purpose == "write metadata" for e in evs if e.kind == "dma_read")
    kept = rig.ctrl.namespaces[1].meta.read(0, 1)
    if pil:  # first 8 bytes: the guard covers the data only
        assert kept[8:] == meta[8:]
        assert kept[:8] == tuple_of(pi.crc16_t10dif(data), 0x1234, 0)
    else:  # last 8 bytes: the guard covers the data and the 8 metadata bytes before it
        assert kept[:8] == meta[:8]
        assert kept[8:] == tuple_of(pi.crc16_t10dif(data + meta[:8]), 0x1234, 0)
    cqe, evs, got, got_meta = read_sep(rig, 0, 1, 16, cdw12=PRACT | ALL, cdw14=0,
                                       cdw15=cdw15(0x1234, 0xFFFF))  # fmt: skip
    assert status(cqe) == (0, 0) and got == data and got_meta == kept  # MS 16: not stripped


# -- PRCHK on a write without PRACT --------------------------------------------------------
def test_a_wrong_guard_is_an_end_to_end_guard_check_error_and_writes_nothing():
    rig = pi_rig()
    data = blocks(1, 4, 512)
    good = pi.crc16_t10dif(data)
    cqe, evs = write_sep(rig, 3, data, tuple_of(good ^ 1, 0, 3), cdw12=GUARD, cdw14=3)
    assert status(cqe) == GUARD_ERROR
    words = detail_of(evs, "err_e2e_guard")
    assert f"expected {good:#06x}" in words and f"got {good ^ 1:#06x}" in words and "LBA 3" in words
    assert rig.ctrl.namespaces[1].read_blocks(3, 1) == bytes(512)


def test_a_wrong_guard_passes_when_prchk_does_not_ask_for_it():
    rig = pi_rig()
    data = blocks(1, 4, 512)
    cqe, _ = write_sep(rig, 3, data, tuple_of(0, 0, 3), cdw12=APP | REF, cdw14=3)
    assert status(cqe) == (0, 0)


def test_the_application_tag_is_checked_under_its_mask():
    rig = pi_rig()
    data = blocks(1, 5, 512)
    meta = tuple_of(pi.crc16_t10dif(data), 0x12AB, 0)
    cqe, _ = write_sep(rig, 0, data, meta, cdw12=APP, cdw15=cdw15(0x12CD, 0xFF00))
    assert status(cqe) == (0, 0)  # the masked-off low byte may differ
    cqe, evs = write_sep(rig, 0, data, meta, cdw12=APP, cdw15=cdw15(0x13AB, 0xFF00))
    assert status(cqe) == APP_ERROR
    assert "application tag check failed: expected 0x1300, got 0x1200" in detail_of(
        evs, "err_e2e_app_tag"
    )


def test_the_reference_tag_of_type_1_counts_up_from_ilbrt():
    rig = pi_rig(pi_type=1)
    data = blocks(2, 6, 512)
    g0, g1 = pi.crc16_t10dif(data[:512]), pi.crc16_t10dif(data[512:])
    good = tuple_of(g0, 0, 40) + tuple_of(g1, 0, 41)
    assert status(write_sep(rig, 40, data, good, cdw12=ALL, cdw14=40)[0]) == (0, 0)
    bad = tuple_of(g0, 0, 40) + tuple_of(g1, 0, 40)
    cqe, evs = write_sep(rig, 40, data, bad, cdw12=REF, cdw14=40)
    assert status(cqe) == REF_ERROR
    assert "LBA 41: reference tag check failed: expected 0x00000029, got 0x00000028" in (
        detail_of(evs, "err_e2e_ref_tag")
    )


def test_type_1_ilbrt_other_than_the_slba_is_invalid_protection_information():
    rig = pi_rig(pi_type=1)
    cqe, evs, _, _ = read_sep(rig, 9, 1, 8, cdw12=REF, cdw14=8)
    assert status(cqe) == INVALID_PI
    assert "ILBRT 0x00000008" in detail_of(evs, "err_invalid_pi")
    assert not any(e.kind == "dma_write" for e in evs)
    # without the reference tag check, ILBRT may be anything
    assert status(read_sep(rig, 9, 1, 8, cdw12=GUARD, cdw14=8)[0]) == (0, 0)


def test_type_2_ilbrt_may_differ_from_the_slba_and_the_tag_still_counts_up():
    rig = pi_rig(pi_type=2)
    data = blocks(2, 7, 512)
    assert status(write_sep(rig, 9, data, b"", cdw12=PRACT, cdw14=1000)[0]) == (0, 0)
    meta = rig.ctrl.namespaces[1].meta.read(9, 2)
    assert [pi.read_tuple(rig.ctrl.namespaces[1].meta.pi, meta, i)[2] for i in (0, 1)] == [
        1000,
        1001,
    ]
    assert status(read_sep(rig, 9, 2, 8, cdw12=ALL, cdw14=1000)[0]) == (0, 0)
    cqe, evs, _, _ = read_sep(rig, 9, 2, 8, cdw12=REF, cdw14=1001)
    assert status(cqe) == REF_ERROR and "LBA 9" in detail_of(evs, "err_e2e_ref_tag")


def test_type_3_keeps_one_reference_tag_for_every_block():
    rig = pi_rig(pi_type=3)
    data = blocks(3, 8, 512)
    assert status(write_sep(rig, 0, data, b"", cdw12=PRACT, cdw14=0xABCD)[0]) == (0, 0)
    store = rig.ctrl.namespaces[1].meta
    meta = store.read(0, 3)
    assert {pi.read_tuple(store.pi, meta, i)[2] for i in range(3)} == {0xABCD}
    assert status(read_sep(rig, 0, 3, 8, cdw12=ALL, cdw14=0xABCD)[0]) == (0, 0)


# -- the escape values ---------------------------------------------------------------------
@pytest.mark.parametrize("pi_type", [1, 2])
def test_application_tag_ffffh_disables_every_check_of_types_1_and_2(pi_type):
    rig = pi_rig(pi_type=pi_type)
    data = blocks(1, 9, 512)
    cqe, _ = write_sep(rig, 0, data, tuple_of(0, 0xFFFF, 77), cdw12=ALL, cdw14=0)
    assert status(cqe) == (0, 0)


def test_type_3_needs_both_escape_values_to_disable_the_checks():
    rig = pi_rig(pi_type=3)
    data = blocks(1, 9, 512)
    cqe, _ = write_sep(rig, 0, data, tuple_of(0, 0xFFFF, 0xFFFFFFFF), cdw12=ALL)
    assert status(cqe) == (0, 0)
    cqe, _ = write_sep(rig, 0, data, tuple_of(0, 0xFFFF, 5), cdw12=GUARD)
    assert status(cqe) == GUARD_ERROR


def test_unwritten_blocks_read_with_an_all_ffh_tuple_that_passes_every_check():
    rig = pi_rig(ms=16, pi_type=3, pil=1)
    cqe, _, got, meta = read_sep(rig, 100, 2, 16, cdw12=ALL, cdw14=5, cdw15=cdw15(1, 0xFFFF))
    assert status(cqe) == (0, 0) and got == bytes(1024)
    assert meta == (b"\xff" * 8 + bytes(8)) * 2  # PI first: FFh; the rest of it zeros


# -- Write Zeroes, Compare, Verify ---------------------------------------------------------
def test_write_zeroes_with_prchk_is_invalid_protection_information():
    rig = pi_rig()
    cqe, evs = io(rig, OPC_WZ, cdw10=0, cdw12=GUARD)
    assert status(cqe) == INVALID_PI and "PRCHK" in detail_of(evs, "err_invalid_pi")


def test_write_zeroes_with_pract_generates_the_tuple_and_without_it_leaves_zeros():
    rig = pi_rig(pi_type=1)
    assert status(io(rig, OPC_WZ, cdw10=5, cdw12=PRACT | 1, cdw14=5, cdw15=0x42)[0]) == (0, 0)
    cqe, _, got, meta = read_sep(rig, 5, 2, 8, cdw12=ALL, cdw14=5, cdw15=cdw15(0x42, 0xFFFF))
    assert status(cqe) == (0, 0) and got == bytes(1024)
    assert meta == tuple_of(0, 0x42, 5) + tuple_of(0, 0x42, 6)  # the CRC of zeros is 0
    assert status(io(rig, OPC_WZ, cdw10=5, cdw12=0)[0]) == (0, 0)
    _, _, _, meta = read_sep(rig, 5, 1, 8)
    assert meta == bytes(8)
    cqe, _, _, _ = read_sep(rig, 5, 1, 8, cdw12=REF, cdw14=5)
    assert status(cqe) == REF_ERROR  # its reference tag is 0 now


def test_compare_and_verify_with_pract_are_invalid_protection_information():
    rig = pi_rig()
    buf, prps = buffer(rig, 512)
    cqe, _ = io(rig, OPC_COMPARE, cdw10=0, cdw12=PRACT, mptr=rig.host.alloc(), **prps)
    assert status(cqe) == INVALID_PI
    cqe, _ = io(rig, OPC_VERIFY, cdw10=0, cdw12=PRACT)
    assert status(cqe) == INVALID_PI


def test_verify_and_read_check_the_stored_tuple_against_the_stored_data():
    rig = pi_rig()
    data = blocks(1, 10, 512)
    assert status(write_sep(rig, 2, data, b"", cdw12=PRACT, cdw14=2)[0]) == (0, 0)
    assert status(io(rig, OPC_VERIFY, cdw10=2, cdw12=ALL, cdw14=2)[0]) == (0, 0)
    rig.ctrl.namespaces[1].write_blocks(2, b"\x00" + data[1:])  # the medium rots a byte
    cqe, evs = io(rig, OPC_VERIFY, cdw10=2, cdw12=GUARD, cdw14=2)
    assert status(cqe) == GUARD_ERROR and "LBA 2: guard" in detail_of(evs, "err_e2e_guard")
    cqe, evs, _, _ = read_sep(rig, 2, 1, 8, cdw12=PRACT | GUARD, cdw14=2)
    assert status(cqe) == GUARD_ERROR
    assert not any(e.kind == "dma_write" for e in evs)  # nothing reached the host


def test_compare_ignores_the_tuple_but_not_the_rest_of_the_metadata():
    rig = pi_rig(ms=16, pi_type=1, pil=0)
    data, meta = blocks(1, 11, 512), bytes(range(16))
    write_sep(rig, 0, data, meta, cdw12=PRACT, cdw14=0)
    buf, prps = buffer(rig, 512)
    rig.host.write(buf, data)
    mbuf = rig.host.alloc()
    rig.host.write(mbuf, meta[:8] + b"\xee" * 8)  # another tuple: not compared
    assert status(io(rig, OPC_COMPARE, cdw10=0, cdw12=0, mptr=mbuf, **prps)[0]) == (0, 0)
    rig.host.write(mbuf, b"\xee" + meta[1:])
    assert status(io(rig, OPC_COMPARE, cdw10=0, cdw12=0, mptr=mbuf, **prps)[0]) == (
        st.COMPARE_FAILURE
    )


def test_prinfo_means_nothing_on_a_namespace_without_protection_information():
    rig = make_rig()
    fmt(rig, LBAF[8], pi=0)
    data = blocks(1, 12, 512)
    cqe, _ = write_sep(rig, 1, data, tuple_of(0, 0, 99), cdw12=ALL | PRACT, cdw14=1)
    assert status(cqe) == (0, 0)
    assert rig.ctrl.namespaces[1].meta.read(1, 1) == tuple_of(0, 0, 99)


# -- round trips over random data and formats ----------------------------------------------
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ms=st_h.sampled_from([8, 16, 64]),
    pi_type=st_h.integers(1, 3),
    pil=st_h.integers(0, 1),
    mset=st_h.integers(0, 1),
    slba=st_h.integers(0, 200),
    nlb=st_h.integers(1, 4),
    seed=st_h.integers(0, 255),
    lbat=st_h.integers(0, 0xFFFE),
)
def test_pract_insert_then_checked_read_round_trips(ms, pi_type, pil, mset, slba, nlb, seed, lbat):
    rig = pi_rig(ms=ms, pi_type=pi_type, pil=pil, mset=mset)
    store = rig.ctrl.namespaces[1].meta
    data = blocks(nlb, seed, 512)
    host_meta = blocks(nlb, seed + 3, ms)
    ilbrt = slba & 0xFFFFFFFF
    args = {"cdw14": ilbrt, "cdw15": cdw15(lbat)}
    if mset:
        buf = data if ms == 8 else store.interleave(data, host_meta)
        assert status(write_ext(rig, slba, buf, nlb, cdw12=PRACT, **args)[0]) == (0, 0)
    else:
        assert status(write_sep(rig, slba, data, host_meta, cdw12=PRACT, **args)[0]) == (0, 0)
    kept = store.read(slba, nlb)
    fmt_ = store.pi
    for i in range(nlb):
        guard, app, ref = pi.read_tuple(fmt_, kept, i)
        block_meta = kept[i * ms : (i + 1) * ms]
        prefix = block_meta[: fmt_.offset] if not pil else b""
        assert guard == pi.crc16_t10dif(data[i * 512 : (i + 1) * 512] + prefix)
        assert app == lbat and ref == (ilbrt + (0 if pi_type == 3 else i)) & 0xFFFFFFFF
        if ms > 8:  # the host's bytes outside the tuple stay
            outside = pi.strip_tuples(fmt_, block_meta)
            assert outside == pi.strip_tuples(fmt_, host_meta[i * ms : (i + 1) * ms])
    check = {"cdw14": ilbrt, "cdw15": cdw15(lbat, 0xFFFF)}
    if mset:
        length = nlb * 512 if ms == 8 else nlb * (512 + ms)
        cqe, _, got = read_ext(rig, slba, nlb, length, cdw12=PRACT | ALL, **check)
        assert status(cqe) == (0, 0)
        assert got == (data if ms == 8 else store.interleave(data, kept))
    else:
        cqe, _, got, got_meta = read_sep(rig, slba, nlb, ms, cdw12=PRACT | ALL, **check)
        assert status(cqe) == (0, 0) and got == data
        if ms > 8:
            assert got_meta == kept


@given(
    ms=st_h.sampled_from([8, 16, 64]),
    pi_type=st_h.integers(1, 3),
    first=st_h.booleans(),
    nlb=st_h.integers(1, 4),
    data=st_h.data(),
)
def test_a_generated_tuple_passes_its_checks_and_any_one_flipped_bit_fails_one(
    ms, pi_type, first, nlb, data
):
    fmt_ = pi.PiFormat(pi_type, first, 512, ms)
    payload = data.draw(st_h.binary(min_size=nlb * 512, max_size=nlb * 512))
    meta = data.draw(st_h.binary(min_size=nlb * ms, max_size=nlb * ms))
    cmd = pi.PiCommand(pi.PRACT | pi.PRCHK_MASK, 1000, 0x1234, 0xFFFF)
    out = pi.generate(fmt_, payload, meta, cmd)
    assert pi.check(fmt_, payload, out, cmd, 1000) is None
    bit = data.draw(st_h.integers(0, nlb * 512 * 8 - 1))
    flipped = bytearray(payload)
    flipped[bit // 8] ^= 1 << (bit % 8)
    err = pi.check(fmt_, bytes(flipped), out, cmd, 1000)
    assert err is not None and err.field == "guard" and err.lba == 1000 + bit // 4096


# -- no host breaks it ---------------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lbaf=st_h.sampled_from([1, 2, 3, 5, 7]),
    mset=st_h.integers(0, 1),
    pi_type=st_h.integers(0, 3),
    pil=st_h.integers(0, 1),
    commands=st_h.lists(
        st_h.tuples(
            st_h.sampled_from([OPC_WRITE, OPC_READ, OPC_COMPARE, OPC_WZ, OPC_VERIFY]),
            st_h.integers(0, 0x3FFF_FFFF),  # CDW12: NLB kept small below, any PRINFO
            st_h.integers(0, 0xFFFFFFFF),  # CDW14
            st_h.integers(0, 0xFFFFFFFF),  # CDW15
            st_h.sampled_from(["mapped", "unmapped", "zero"]),
            st_h.integers(0, 2),  # PSDT
            st_h.integers(0, 40),  # SLBA
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_any_pi_command_on_any_metadata_format_gets_exactly_one_completion(
    lbaf, mset, pi_type, pil, commands
):
    rig = make_rig(sgls=0x1)
    fmt(rig, lbaf, mset=mset, pi=pi_type, pil=pil)
    buf = rig.host.alloc(8)
    meta = rig.host.alloc()
    for opc, cdw12, cdw14, cdw15, where, psdt, slba in commands:
        cdw12 = cdw12 & ~0xFFFF | (cdw12 & 0x3)  # 1..4 blocks
        mptr = {"mapped": meta, "unmapped": 0x7000_0000_0000, "zero": 0}[where]
        cid = rig.next_cid()
        sqe = bytearray(pack_sqe(opc, cid, nsid=1, cdw10=slba, cdw12=cdw12, cdw14=cdw14,
                                 cdw15=cdw15, mptr=mptr, prp1=buf, prp2=buf + 4096))  # fmt: skip
        sqe[1] |= psdt << 6
        rig.submit(1, bytes(sqe))
        rig.run()
        cqe = rig.reap(1)
        assert cqe is not None and cqe.cid == cid
        assert rig.reap(1, ring=False) is None  # one CQE, not two
