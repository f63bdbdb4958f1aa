"""Compare (05h), Write Zeroes (08h) and Dataset Management (09h), NVMe 1.4 chapter 6:
what each does to the namespace, every check with its status code, the events each
emits, and ONCS / the Commands Supported and Effects log saying so."""

from __future__ import annotations

import pytest
from emuhost import Rig, buffer, io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_h

from nvmescope.emulator import ControllerConfig
from nvmescope.nvme import identify as idf
from nvmescope.nvme import logpages as lp
from nvmescope.nvme import status as st
from nvmescope.nvme.commands import DSM_RANGE, pack_dsm_ranges, pack_sqe, unpack_dsm_ranges

BLOCK = 512
NSZE = 64 * 1024 * 1024 // BLOCK


@pytest.fixture
def rig() -> Rig:
    rg = Rig()
    rg.enable()
    rg.create_io_pair()
    return rg


def write(rig: Rig, slba: int, data: bytes) -> None:
    buf, prps = buffer(rig, len(data))
    rig.host.write(buf, data)
    cqe, _ = io(rig, 0x01, cdw10=slba, cdw12=len(data) // BLOCK - 1, **prps)
    assert cqe.sc == 0 and cqe.sct == 0


def read(rig: Rig, slba: int, nlb: int) -> bytes:
    buf, prps = buffer(rig, nlb * BLOCK)
    cqe, _ = io(rig, 0x02, cdw10=slba, cdw12=nlb - 1, **prps)
    assert cqe.sc == 0 and cqe.sct == 0
    return rig.host.read(buf, nlb * BLOCK)


def compare(rig: Rig, slba: int, data: bytes, **fields: int):
    buf, prps = buffer(rig, len(data))
    rig.host.write(buf, data)
    return io(rig, 0x05, cdw10=slba, cdw12=len(data) // BLOCK - 1, **prps, **fields)


def dsm(rig: Rig, ranges: list[tuple[int, int]], ad: bool = True, nsid: int = 1):
    buf = rig.host.alloc()
    raw = pack_dsm_ranges(ranges)
    rig.host.write(buf, raw)
    return io(rig, 0x09, nsid=nsid, prp1=buf, cdw10=len(ranges) - 1, cdw11=4 if ad else 0)


def pattern(n: int, seed: int = 1) -> bytes:
    return bytes((i * 7 + seed) & 0xFF or 1 for i in range(n))


# -- Compare ---------------------------------------------------------------------------------
def test_compare_of_equal_data_succeeds_with_the_read_paths_events(rig):
    data = pattern(8 * BLOCK)
    write(rig, 16, data)
    cqe, events = compare(rig, 16, data)
    assert (cqe.sct, cqe.sc) == st.SUCCESS
    kinds = [e.kind for e in events]
    for kind in ("cmd_start", "map_prp", "dma_read", "cmd_finish", "cqe_post"):
        assert kind in kinds, kind
    dma = b"".join(e.data for e in events if e.kind == "dma_read")
    assert dma == data


def test_compare_of_a_differing_byte_is_compare_failure(rig):
    data = pattern(2 * BLOCK)
    write(rig, 0, data)
    changed = bytearray(data)
    changed[BLOCK + 3] ^= 0xFF
    cqe, events = compare(rig, 0, bytes(changed))
    assert (cqe.sct, cqe.sc) == (2, 0x85) == st.COMPARE_FAILURE and cqe.dnr
    err = [e for e in events if e.kind == "err_compare_failure"]
    assert len(err) == 1 and "LBA 1 byte 3" in err[0].detail
    # the namespace is unchanged: a Compare never writes
    assert read(rig, 0, 2) == data


def test_compare_against_blocks_never_written_compares_with_zeros(rig):
    assert compare(rig, 100, bytes(BLOCK))[0].sc == 0
    assert compare(rig, 100, b"\x01" + bytes(BLOCK - 1))[0].sc == 0x85


def test_compare_checks_namespace_range_and_mdts(rig):
    cqe, _ = io(rig, 0x05, nsid=2, prp1=rig.host.alloc(), cdw10=0)
    assert (cqe.sct, cqe.sc) == st.INVALID_NS_OR_FORMAT
    cqe, events = io(rig, 0x05, prp1=rig.host.alloc(), cdw10=NSZE - 1, cdw12=1)
    assert (cqe.sct, cqe.sc) == st.LBA_OUT_OF_RANGE
    assert not any(e.kind == "map_prp" for e in events)
    nlb = (1 << rig.ctrl.config.mdts) * 4096 // BLOCK + 1
    cqe, events = io(rig, 0x05, prp1=rig.host.alloc(), cdw10=0, cdw12=nlb - 1)
    assert (cqe.sct, cqe.sc) == st.INVALID_FIELD and cqe.dnr
    assert [e.kind for e in events if e.kind.startswith("err_")] == ["err_too_large"]


def test_compare_counts_as_a_host_read_command(rig):
    before = rig.ctrl.state.host_read_commands
    compare(rig, 0, bytes(BLOCK))
    assert rig.ctrl.state.host_read_commands == before + 1


# -- Write Zeroes ----------------------------------------------------------------------------
@pytest.mark.parametrize("deac", [False, True])
def test_write_zeroes_makes_the_blocks_read_zeros_and_no_others(rig, deac):
    data = pattern(16 * BLOCK)
    write(rig, 0, data)
    cqe, events = io(rig, 0x08, cdw10=3, cdw12=(9 - 1) | (deac << 25))  # LBA 3 .. 11
    assert (cqe.sct, cqe.sc) == st.SUCCESS
    # no data moves: no PRP walk, no DMA
    kinds = [e.kind for e in events]
    assert "cmd_start" in kinds and "cmd_finish" in kinds
    assert not any(k in kinds for k in ("map_prp", "dma_read", "dma_write"))
    got = read(rig, 0, 16)
    assert got == data[: 3 * BLOCK] + bytes(9 * BLOCK) + data[12 * BLOCK :]


def test_write_zeroes_with_deac_deallocates_whole_pages(rig):
    ns = rig.ctrl.namespaces[1]
    write(rig, 0, pattern(16 * BLOCK))  # two 4 KiB pages of the medium
    assert ns.pages_used == 2
    io(rig, 0x08, cdw10=0, cdw12=7)  # page 0 zeroed, but kept: no DEAC
    assert ns.pages_used == 2
    io(rig, 0x08, cdw10=8, cdw12=7 | 1 << 25)  # page 1 deallocated
    assert ns.pages_used == 1
    assert read(rig, 0, 16) == bytes(16 * BLOCK)


def test_write_zeroes_of_65536_blocks_is_cheap_and_range_checked(rig):
    write(rig, NSZE - 1, pattern(BLOCK))
    cqe, _ = io(rig, 0x08, cdw10=NSZE - 65536, cdw12=0xFFFF | 1 << 25)
    assert cqe.sc == 0 and rig.ctrl.namespaces[1].pages_used == 0
    cqe, events = io(rig, 0x08, cdw10=NSZE - 65535, cdw12=0xFFFF)
    assert (cqe.sct, cqe.sc) == st.LBA_OUT_OF_RANGE and cqe.dnr
    assert [e.kind for e in events if e.kind.startswith("err_")] == ["err_lba_range"]
    cqe, _ = io(rig, 0x08, cdw10=0, cdw11=1, cdw12=0)  # SLBA 2^32: CDW11 is its high half
    assert (cqe.sct, cqe.sc) == st.LBA_OUT_OF_RANGE
    cqe, _ = io(rig, 0x08, nsid=2, cdw10=0)
    assert (cqe.sct, cqe.sc) == st.INVALID_NS_OR_FORMAT


# -- Dataset Management ----------------------------------------------------------------------
def test_dsm_deallocate_reads_zeros_in_every_range_and_keeps_the_rest(rig):
    data = pattern(32 * BLOCK)
    write(rig, 0, data)
    cqe, events = dsm(rig, [(2, 3), (20, 1), (9, 0)])  # a range of length 0 is no block
    assert (cqe.sct, cqe.sc) == st.SUCCESS
    kinds = [e.kind for e in events]
    for kind in ("cmd_start", "map_prp", "dma_read", "cmd_finish"):
        assert kind in kinds, kind
    assert sum(e.length for e in events if e.kind == "dma_read") == 3 * 16
    expect = bytearray(data)
    expect[2 * BLOCK : 5 * BLOCK] = bytes(3 * BLOCK)
    expect[20 * BLOCK : 21 * BLOCK] = bytes(BLOCK)
    assert read(rig, 0, 32) == bytes(expect)


def test_dsm_without_the_deallocate_attribute_changes_nothing(rig):
    data = pattern(8 * BLOCK)
    write(rig, 0, data)
    assert dsm(rig, [(0, 8)], ad=False)[0].sc == 0
    assert read(rig, 0, 8) == data


def test_dsm_with_a_range_beyond_the_namespace_deallocates_nothing(rig):
    data = pattern(8 * BLOCK)
    write(rig, 0, data)
    cqe, events = dsm(rig, [(0, 8), (NSZE - 1, 2)])
    assert (cqe.sct, cqe.sc) == st.LBA_OUT_OF_RANGE and cqe.dnr
    err = [e for e in events if e.kind == "err_lba_range"]
    assert len(err) == 1 and err[0].detail.startswith("range 1: ")
    assert read(rig, 0, 8) == data


def test_dsm_checks_the_namespace_and_its_range_buffer(rig):
    cqe, _ = dsm(rig, [(0, 1)], nsid=2)
    assert (cqe.sct, cqe.sc) == st.INVALID_NS_OR_FORMAT
    # 256 ranges (NR = FFh) are 4 KiB: from an offset they need PRP2, here a page the
    # host never mapped, so the transfer fails and nothing is deallocated
    buf = rig.host.alloc()
    cqe, _ = io(rig, 0x09, prp1=buf + 16, prp2=0x7000_0000, cdw10=0xFF, cdw11=4)
    assert (cqe.sct, cqe.sc) == st.DATA_TRANSFER_ERROR
    cqe, _ = io(rig, 0x09, prp1=buf + 2, cdw10=0, cdw11=4)  # PRP1 not dword aligned
    assert (cqe.sct, cqe.sc) == st.PRP_OFFSET_INVALID


def test_dsm_deallocates_a_page_only_when_all_of_it_is_in_a_range(rig):
    ns = rig.ctrl.namespaces[1]
    write(rig, 0, pattern(16 * BLOCK))
    dsm(rig, [(1, 7)])  # blocks 1..7 of page 0: zeroed in place
    assert ns.pages_used == 2
    dsm(rig, [(8, 8)])  # all of page 1
    assert ns.pages_used == 1


# -- what the controller says about them -----------------------------------------------------
def test_oncs_and_the_effects_log_advertise_the_three_commands_by_default():
    rg = Rig(ControllerConfig())
    rg.enable()
    buf = rg.host.alloc()
    assert rg.admin(0x06, prp1=buf, cdw10=1).sc == 0
    oncs = idf.IDENTIFY_CONTROLLER.parse(rg.host.read(buf, 4096)).oncs
    for bit in (idf.ONCS_COMPARE, idf.ONCS_DSM, idf.ONCS_WRITE_ZEROES):
        assert oncs & bit
    assert oncs & idf.ONCS_COPY  # and Copy (tests/test_nvm_copy.py)
    assert rg.admin(0x02, prp1=buf, cdw10=0x05 | (1023 << 16)).sc == 0
    log = lp.COMMANDS_SUPPORTED_EFFECTS_LOG.parse(rg.host.read(buf, 4096))
    assert log.iocs[0x05] == lp.CMD_EFFECTS_CSUPP
    assert log.iocs[0x08] == lp.CMD_EFFECTS_CSUPP | lp.CMD_EFFECTS_LBCC
    assert log.iocs[0x09] == lp.CMD_EFFECTS_CSUPP | lp.CMD_EFFECTS_LBCC


# -- never broken by its host ----------------------------------------------------------------
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cmds=st_h.lists(
        st_h.tuples(
            st_h.sampled_from([0x05, 0x08, 0x09]),
            st_h.sampled_from([1, 1, 1, 0, 2, 0xFFFFFFFF]),
            st_h.integers(0, 0xFFFFFFFF),
            st_h.sampled_from([0, 1, 0xFFFFFFFF]),
            st_h.integers(0, 0xFFFFFFFF),
            st_h.integers(0, 0xFFFFFFFF),
            st_h.sampled_from([0, 2, 16, 4092, 0x7000_0000, 0xFEE0_0000]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_compare_write_zeroes_or_dsm_gets_exactly_one_completion(cmds):
    rg = Rig()
    rg.enable()
    rg.create_io_pair()
    buf = rg.host.alloc(2)
    rg.host.write(buf, pattern(8192))
    for i, (opc, nsid, cdw10, cdw11, cdw12, prp2, off) in enumerate(cmds):
        prp1 = off if off >= 0x7000_0000 else buf + off
        rg.submit(1, pack_sqe(opc, 100 + i, nsid=nsid, prp1=prp1, prp2=prp2 & ~0xFFF,
                              cdw10=cdw10, cdw11=cdw11, cdw12=cdw12))  # fmt: skip
    rg.run()
    cids = []
    while (cqe := rg.reap(1)) is not None:
        cids.append(cqe.cid)
    assert sorted(cids) == [100 + i for i in range(len(cmds))]


@given(
    st_h.lists(st_h.tuples(st_h.integers(0, 2**64 - 1), st_h.integers(0, 2**32 - 1)), max_size=256)
)
def test_dsm_ranges_round_trip_and_lie_where_the_layout_says(ranges):
    raw = pack_dsm_ranges(ranges)
    assert len(raw) == 16 * len(ranges)
    back = unpack_dsm_ranges(raw, len(ranges))
    assert [(r.slba, r.nlb) for r in back] == ranges
    for k, (slba, nlb) in enumerate(ranges):
        parsed = DSM_RANGE.parse(raw[16 * k : 16 * k + 16])
        assert (parsed.cattr, parsed.nlb, parsed.slba) == (0, nlb, slba)


def test_more_dsm_ranges_than_the_data_holds_are_refused():
    with pytest.raises(ValueError):
        unpack_dsm_ranges(bytes(32), 3)
    with pytest.raises(ValueError):
        unpack_dsm_ranges(bytes(16 * 257), 257)
