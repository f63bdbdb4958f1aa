"""Metadata (NVM Command Set 1.0 5.2, NVMe 1.4 8.2): Format NVM to a format with
metadata (MSET 1 extended LBA, MSET 0 a separate buffer through MPTR), what Read,
Write, Compare, Write Zeroes, Verify and Dataset Management do with it, the events
its transfers make, the statuses of what the device refuses, and Identify Namespace
MC, FLBAS bit 4 saying so."""

from __future__ import annotations

import struct

import pytest
from emuhost import Rig, buffer, io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_h

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.config import NamespaceConfig
from nvmescope.nvme import identify as idf
from nvmescope.nvme import status as st
from nvmescope.nvme.commands import pack_dsm_ranges, pack_sqe

#: DEFAULT_LBA_FORMATS: 0 (0, 512), 1 (8, 512), 2 (16, 512), 3 (64, 512), 4 (0, 4096) ...
LBAF = {8: 1, 16: 2, 64: 3}
OPC_WRITE, OPC_READ, OPC_COMPARE, OPC_WZ, OPC_DSM, OPC_VERIFY = 1, 2, 5, 8, 9, 0x0C


def make_rig(**knobs: object) -> Rig:
    cfg = ControllerConfig(format_nvm=True, metadata=True, **knobs)  # type: ignore[arg-type]
    rig = Rig(cfg)
    rig.enable()
    rig.create_io_pair()
    return rig


def fmt(rig: Rig, lbaf: int, mset: int = 0, pi: int = 0, pil: int = 0, nsid: int = 1):
    return rig.admin(0x80, nsid=nsid, cdw10=lbaf | mset << 4 | pi << 5 | pil << 8)


def status(cqe) -> tuple[int, int]:
    return (cqe.sct, cqe.sc)


def blocks(nlb: int, seed: int, size: int) -> bytes:
    return bytes((seed + i * 7 + i // size) & 0xFF for i in range(nlb * size))


def write_sep(rig: Rig, slba: int, data: bytes, meta: bytes, cdw12: int = 0, **kw: int):
    nlb = len(data) // 512
    buf, prps = buffer(rig, len(data))
    rig.host.write(buf, data)
    mbuf = rig.host.alloc()
    rig.host.write(mbuf, meta)
    return io(rig, OPC_WRITE, cdw10=slba, cdw12=cdw12 | (nlb - 1), mptr=mbuf, **prps, **kw)


def read_sep(rig: Rig, slba: int, nlb: int, ms: int, cdw12: int = 0, **kw: int):
    buf, prps = buffer(rig, nlb * 512)
    mbuf = rig.host.alloc()
    cqe, evs = io(rig, OPC_READ, cdw10=slba, cdw12=cdw12 | (nlb - 1), mptr=mbuf, **prps, **kw)
    return cqe, evs, rig.host.read(buf, nlb * 512), rig.host.read(mbuf, nlb * ms)


def write_ext(rig: Rig, slba: int, buf_data: bytes, nlb: int, cdw12: int = 0, **kw: int):
    buf, prps = buffer(rig, len(buf_data))
    rig.host.write(buf, buf_data)
    return io(rig, OPC_WRITE, cdw10=slba, cdw12=cdw12 | (nlb - 1), **prps, **kw)


def read_ext(rig: Rig, slba: int, nlb: int, length: int, cdw12: int = 0, **kw: int):
    buf, prps = buffer(rig, length)
    cqe, evs = io(rig, OPC_READ, cdw10=slba, cdw12=cdw12 | (nlb - 1), **prps, **kw)
    return cqe, evs, rig.host.read(buf, length)


def id_ns(rig: Rig, nsid: int = 1):
    buf = rig.host.alloc()
    cqe = rig.admin(0x06, nsid=nsid, prp1=buf, cdw10=0)
    assert status(cqe) == (0, 0)
    return idf.IDENTIFY_NAMESPACE.parse(rig.host.read(buf, 4096))


# -- Format NVM and Identify ---------------------------------------------------------------
def test_identify_namespace_claims_mc_and_dpc_only_with_the_metadata_knob():
    on, off = make_rig(), Rig(ControllerConfig())
    off.enable()
    assert (id_ns(on).mc, id_ns(on).dpc) == (0x3, 0x1F)
    assert (id_ns(off).mc, id_ns(off).dpc) == (0, 0)


def test_format_to_metadata_with_mset_1_sets_flbas_extended_bit():
    rig = make_rig()
    assert status(fmt(rig, LBAF[16], mset=1)) == (0, 0)
    ns = id_ns(rig)
    assert idf.flbas_index(ns.flbas) == LBAF[16] and ns.flbas & idf.FLBAS_EXTENDED
    assert status(fmt(rig, LBAF[16], mset=0)) == (0, 0)
    assert not id_ns(rig).flbas & idf.FLBAS_EXTENDED


def test_format_to_metadata_is_invalid_format_without_the_metadata_knob():
    rig = Rig(ControllerConfig(format_nvm=True))
    rig.enable()
    assert status(fmt(rig, LBAF[8])) == (st.SCT_COMMAND_SPECIFIC, 0x0A)


def test_format_to_metadata_is_invalid_format_on_a_file_namespace(tmp_path):
    ns = NamespaceConfig(file=str(tmp_path / "ns.img"), size=1 << 20)
    rig = make_rig(namespaces=(ns,))
    assert status(fmt(rig, LBAF[8])) == (st.SCT_COMMAND_SPECIFIC, 0x0A)
    assert any("backed by a file" in getattr(e, "detail", "") for e in rig.events)
    rig.ctrl.close()


def test_a_file_namespace_with_a_metadata_format_is_a_configuration_problem(tmp_path):
    ns = NamespaceConfig(file=str(tmp_path / "ns.img"), size=1 << 20, flbas=LBAF[8])
    problems = ControllerConfig(metadata=True, namespaces=(ns,)).problems()
    assert any("backed by a file keeps none" in p for p in problems), problems


def test_format_with_pi_on_a_format_without_8_bytes_of_metadata_is_invalid_format():
    rig = make_rig()
    assert status(fmt(rig, 0, pi=1)) == (st.SCT_COMMAND_SPECIFIC, 0x0A)


def test_format_with_a_reserved_pi_value_is_invalid_field():
    rig = make_rig()
    assert status(fmt(rig, LBAF[8], pi=4)) == st.INVALID_FIELD


def test_format_records_pi_type_and_location_in_dps():
    rig = make_rig()
    assert status(fmt(rig, LBAF[16], pi=2, pil=1)) == (0, 0)
    assert id_ns(rig).dps == 0x2 | 0x8
    assert status(fmt(rig, LBAF[16], pi=3, pil=0)) == (0, 0)
    assert id_ns(rig).dps == 0x3


def test_a_namespace_may_start_in_a_metadata_format_with_pi():
    rig = make_rig(flbas=LBAF[8], mset=1, pi=1)
    ns = id_ns(rig)
    assert idf.flbas_index(ns.flbas) == LBAF[8] and ns.flbas & idf.FLBAS_EXTENDED
    assert ns.dps == 1


# -- separate buffer (MSET 0, MPTR) --------------------------------------------------------
@pytest.mark.parametrize("ms", [8, 16, 64])
def test_separate_metadata_round_trips_through_mptr(ms):
    rig = make_rig()
    fmt(rig, LBAF[ms])
    data, meta = blocks(3, 1, 512), blocks(3, 99, ms)
    cqe, evs = write_sep(rig, 10, data, meta)
    assert status(cqe) == (0, 0)
    reads = [e for e in evs if e.kind == "dma_read" and e.purpose == "write metadata"]
    assert len(reads) == 1 and reads[0].data == meta and reads[0].length == 3 * ms
    cqe, evs, got, got_meta = read_sep(rig, 10, 3, ms)
    assert status(cqe) == (0, 0) and got == data and got_meta == meta
    writes = [e for e in evs if e.kind == "dma_write" and e.purpose == "read metadata"]
    assert len(writes) == 1 and writes[0].data == meta
    kinds = [e.kind for e in evs if e.kind.startswith("dma")]
    assert kinds == ["dma_write", "dma_write"]  # the data first, then the metadata


def test_mptr_into_unmapped_memory_is_data_transfer_error_and_keeps_nothing():
    rig = make_rig()
    fmt(rig, LBAF[8])
    buf, prps = buffer(rig, 512)
    rig.host.write(buf, b"\x55" * 512)
    cqe, _ = io(rig, OPC_WRITE, cdw10=0, cdw12=0, mptr=0x7000_0000_0000, **prps)
    assert status(cqe) == st.DATA_TRANSFER_ERROR
    _, _, got, meta = read_sep(rig, 0, 1, 8)
    assert got == bytes(512) and meta == bytes(8)


def test_psdt_10b_with_separate_metadata_is_invalid_field():
    rig = make_rig(sgls=0x1)
    fmt(rig, LBAF[8])
    cid = rig.next_cid()
    sqe = bytearray(pack_sqe(OPC_READ, cid, nsid=1, cdw10=0, cdw12=0, mptr=rig.host.alloc()))
    sqe[1] |= 2 << 6  # PSDT 10b
    rig.submit(1, bytes(sqe))
    rig.run()
    cqe = rig.reap(1)
    assert status(cqe) == st.INVALID_FIELD
    assert any("SGLS bit 19" in getattr(e, "detail", "") for e in rig.events)


def test_psdt_01b_data_sgl_with_contiguous_mptr_moves_metadata():
    from nvmescope.nvme.commands import pack_sgl_descriptor

    rig = make_rig(sgls=0x1)
    fmt(rig, LBAF[16])
    data, meta = blocks(2, 3, 512), blocks(2, 5, 16)
    buf, mbuf = rig.host.alloc(), rig.host.alloc()
    rig.host.write(buf, data)
    rig.host.write(mbuf, meta)
    desc = pack_sgl_descriptor(0, buf, 1024)
    prp1, prp2 = struct.unpack("<QQ", desc)
    cid = rig.next_cid()
    sqe = bytearray(pack_sqe(OPC_WRITE, cid, nsid=1, cdw12=1, mptr=mbuf, prp1=prp1, prp2=prp2))
    sqe[1] |= 1 << 6
    rig.submit(1, bytes(sqe))
    rig.run()
    assert status(rig.reap(1)) == (0, 0)
    _, _, got, got_meta = read_sep(rig, 0, 2, 16)
    assert (got, got_meta) == (data, meta)


# -- extended LBA (MSET 1) -----------------------------------------------------------------
@pytest.mark.parametrize("ms", [8, 16, 64])
def test_extended_lba_interleaves_data_and_metadata_in_the_data_buffer(ms):
    rig = make_rig()
    fmt(rig, LBAF[ms], mset=1)
    nlb = 3
    data, meta = blocks(nlb, 1, 512), blocks(nlb, 9, ms)
    ext = b"".join(data[i * 512 : (i + 1) * 512] + meta[i * ms : (i + 1) * ms] for i in range(nlb))
    cqe, evs = write_ext(rig, 4, ext, nlb)
    assert status(cqe) == (0, 0)
    assert sum(e.length for e in evs if e.kind == "dma_read") == nlb * (512 + ms)
    assert rig.ctrl.namespaces[1].read_blocks(4, nlb) == data
    assert rig.ctrl.namespaces[1].meta.read(4, nlb) == meta
    cqe, evs, got = read_ext(rig, 4, nlb, nlb * (512 + ms))
    assert status(cqe) == (0, 0) and got == ext
    assert not any("metadata" in getattr(e, "purpose", "") for e in evs)


def test_extended_lba_mdts_counts_the_metadata():
    # MDTS 1: 2 pages of 4 KiB = 8192 bytes; 16 blocks of 512 fit, with 64 bytes each not
    rig = make_rig(mdts=1)
    fmt(rig, LBAF[64], mset=1)
    cqe, _, _ = read_ext(rig, 0, 16, 16 * 576)
    assert status(cqe) == st.INVALID_FIELD
    fmt(rig, LBAF[64], mset=0)
    cqe, _, _, _ = read_sep(rig, 0, 16, 64)
    assert status(cqe) == (0, 0)


# -- what reads back after deallocation and zeroing ----------------------------------------
def test_unwritten_and_deallocated_metadata_reads_as_zeros():
    rig = make_rig()
    fmt(rig, LBAF[16])
    _, _, _, meta = read_sep(rig, 0, 2, 16)
    assert meta == bytes(32)
    write_sep(rig, 0, blocks(2, 1, 512), b"\xaa" * 32)
    rng = rig.host.alloc()
    rig.host.write(rng, pack_dsm_ranges([(0, 2)]))
    cqe, _ = io(rig, OPC_DSM, cdw10=0, cdw11=1 << 2, prp1=rng)
    assert status(cqe) == (0, 0)
    _, _, got, meta = read_sep(rig, 0, 2, 16)
    assert got == bytes(1024) and meta == bytes(32)
    assert rig.ctrl.namespaces[1].meta.blocks_kept == 0


def test_write_zeroes_zeroes_the_metadata():
    rig = make_rig()
    fmt(rig, LBAF[8])
    write_sep(rig, 5, blocks(1, 1, 512), b"\x11" * 8)
    cqe, _ = io(rig, OPC_WZ, cdw10=5, cdw12=0)
    assert status(cqe) == (0, 0)
    _, _, got, meta = read_sep(rig, 5, 1, 8)
    assert got == bytes(512) and meta == bytes(8)


def test_format_erases_the_metadata():
    rig = make_rig()
    fmt(rig, LBAF[8])
    write_sep(rig, 0, blocks(1, 1, 512), b"\x22" * 8)
    fmt(rig, LBAF[8])
    _, _, _, meta = read_sep(rig, 0, 1, 8)
    assert meta == bytes(8)


# -- Compare and Verify --------------------------------------------------------------------
def test_compare_checks_the_metadata_too():
    rig = make_rig()
    fmt(rig, LBAF[8])
    data = blocks(1, 4, 512)
    write_sep(rig, 0, data, b"\x33" * 8)
    buf, prps = buffer(rig, 512)
    rig.host.write(buf, data)
    mbuf = rig.host.alloc()
    rig.host.write(mbuf, b"\x33" * 8)
    cqe, evs = io(rig, OPC_COMPARE, cdw10=0, cdw12=0, mptr=mbuf, **prps)
    assert status(cqe) == (0, 0)
    assert any(e.kind == "dma_read" and e.purpose == "compare metadata" for e in evs)
    rig.host.write(mbuf, b"\x34" * 8)
    cqe, evs = io(rig, OPC_COMPARE, cdw10=0, cdw12=0, mptr=mbuf, **prps)
    assert status(cqe) == st.COMPARE_FAILURE
    assert any("metadata differs" in getattr(e, "detail", "") for e in evs)


def test_verify_of_metadata_blocks_succeeds_and_moves_nothing():
    rig = make_rig()
    fmt(rig, LBAF[64], mset=1)
    cqe, evs = io(rig, OPC_VERIFY, cdw10=0, cdw12=7)
    assert status(cqe) == (0, 0)
    assert not [e for e in evs if e.kind.startswith("dma")]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ms=st_h.sampled_from([8, 16, 64]),
    mset=st_h.integers(0, 1),
    slba=st_h.integers(0, 100),
    nlb=st_h.integers(1, 6),
    seed=st_h.integers(0, 255),
)
def test_any_metadata_written_reads_back_in_either_layout(ms, mset, slba, nlb, seed):
    rig = make_rig()
    fmt(rig, LBAF[ms], mset=mset)
    data, meta = blocks(nlb, seed, 512), blocks(nlb, seed + 1, ms)
    if mset:
        ext = rig.ctrl.namespaces[1].meta.interleave(data, meta)
        assert status(write_ext(rig, slba, ext, nlb)[0]) == (0, 0)
        _, _, got = read_ext(rig, slba, nlb, len(ext))
        assert got == ext
    else:
        assert status(write_sep(rig, slba, data, meta)[0]) == (0, 0)
        _, _, got, got_meta = read_sep(rig, slba, nlb, ms)
        assert (got, got_meta) == (data, meta)


# -- PSDT 10b: MPTR holds an SGL segment (SGLS bit 19) -------------------------------------
def _sgl_io(rig: Rig, opc: int, nlb: int, buf: int, mdesc: bytes):
    """A command with PSDT 10b: its data in one Data Block at ``buf``, MPTR the address of
    a segment holding ``mdesc``."""
    from nvmescope.nvme.commands import pack_sgl_descriptor

    seg = rig.host.alloc()
    rig.host.write(seg, mdesc)
    prp1, prp2 = struct.unpack("<QQ", pack_sgl_descriptor(0, buf, nlb * 512))
    cid = rig.next_cid()
    sqe = bytearray(pack_sqe(opc, cid, nsid=1, cdw12=nlb - 1, mptr=seg, prp1=prp1, prp2=prp2))
    sqe[1] |= 2 << 6
    start = len(rig.events)
    rig.submit(1, bytes(sqe))
    rig.run()
    cqe = rig.reap(1)
    assert cqe is not None and cqe.cid == cid
    return cqe, [e for e in rig.events[start:] if getattr(e, "cid", None) == cid]


def test_psdt_10b_walks_the_metadata_sgl_at_mptr_when_sgls_bit_19_offers_it():
    from nvmescope.nvme.commands import pack_sgl_descriptor

    rig = make_rig(sgls=0x80001)
    fmt(rig, LBAF[16])
    data, meta = blocks(2, 1, 512), blocks(2, 2, 16)
    buf, mbuf = rig.host.alloc(), rig.host.alloc()
    rig.host.write(buf, data)
    rig.host.write(mbuf + 8, meta)
    cqe, evs = _sgl_io(rig, OPC_WRITE, 2, buf, pack_sgl_descriptor(0, mbuf + 8, 32))
    assert status(cqe) == (0, 0)
    assert [e.kind for e in evs if e.kind == "sgl_segment_read"] == ["sgl_segment_read"]
    assert [e.data for e in evs if e.kind == "dma_read" and e.purpose == "write metadata"] == [meta]
    assert rig.ctrl.namespaces[1].meta.read(0, 2) == meta
    out = rig.host.alloc()
    cqe, _ = _sgl_io(rig, OPC_READ, 2, buf, pack_sgl_descriptor(0, out, 32))
    assert status(cqe) == (0, 0) and rig.host.read(out, 32) == meta


def test_a_metadata_sgl_shorter_than_the_metadata_is_metadata_sgl_length_invalid():
    from nvmescope.nvme.commands import pack_sgl_descriptor

    rig = make_rig(sgls=0x80001)
    fmt(rig, LBAF[16])
    buf, mbuf = rig.host.alloc(), rig.host.alloc()
    cqe, _ = _sgl_io(rig, OPC_WRITE, 2, buf, pack_sgl_descriptor(0, mbuf, 16))
    assert status(cqe) == st.METADATA_SGL_LENGTH_INVALID
    assert rig.ctrl.namespaces[1].meta.blocks_kept == 0


def test_a_bit_bucket_in_the_metadata_sgl_of_a_read_throws_that_metadata_away():
    from nvmescope.nvme.commands import pack_sgl_descriptor

    rig = make_rig(sgls=0x90001)
    fmt(rig, LBAF[8])
    write_sep(rig, 0, blocks(2, 3, 512), b"\x11" * 8 + b"\x22" * 8)
    seg, out, buf = rig.host.alloc(), rig.host.alloc(), rig.host.alloc()
    rig.host.write(seg, pack_sgl_descriptor(1, 0, 8) + pack_sgl_descriptor(0, out, 8))
    cqe, evs = _sgl_io(rig, OPC_READ, 2, buf, pack_sgl_descriptor(3, seg, 32))
    assert status(cqe) == (0, 0)
    assert rig.host.read(out, 8) == b"\x22" * 8  # the first block's went into the bucket
    assert [e.length for e in evs if e.kind == "dma_write" and "metadata" in e.purpose] == [8]
