"""Copy (NVM opcode 19h, NVM Command Set 1.0 section 3.2.2): source ranges copied
inside the namespace to consecutive blocks from SDLBA; the range list read by PRP or
SGL; MSSRL / MCL / MSRC in Identify Namespace and every limit with Command Size Limit
Exceeded; descriptor formats 0h and 1h; LBA Out of Range; the events a Copy emits;
ONCS bit 8, OCFS and the effects log saying so; the knob off is Invalid Command Opcode."""

from __future__ import annotations

import pytest
from emuhost import Rig, io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_h

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.config import profile_config
from nvmescope.nvme import identify as idf
from nvmescope.nvme import logpages as lp
from nvmescope.nvme import status as st
from nvmescope.nvme.copy import (
    COPY_RANGE_FORMAT_0,
    COPY_RANGE_FORMAT_1,
    make_cdw12,
    pack_copy_ranges,
    split_cdw12,
    unpack_copy_ranges,
)

BLOCK = 512
NSZE = 64 * 1024 * 1024 // BLOCK
OPC_COPY = 0x19


def make_rig(config: ControllerConfig | None = None) -> Rig:
    rig = Rig(config)
    rig.enable()
    # the Rig enables MSI-X where the default layout has it; the qemu-7.2 layout's is
    # elsewhere, so its I/O queue interrupts on vector 0
    qemu = config is not None and config.pci_layout == "qemu-7.2"
    rig.create_io_pair(vector=0 if qemu else 1)
    return rig


@pytest.fixture
def rig() -> Rig:
    return make_rig()


def write(rig: Rig, slba: int, data: bytes) -> None:
    buf = rig.host.alloc(-(-len(data) // 4096))
    rig.host.write(buf, data)
    prp2 = buf + 4096 if len(data) > 4096 else 0
    assert len(data) <= 8192
    cqe, _ = io(rig, 0x01, cdw10=slba, cdw12=len(data) // BLOCK - 1, prp1=buf, prp2=prp2)
    assert (cqe.sct, cqe.sc) == st.SUCCESS


def read(rig: Rig, slba: int, nlb: int) -> bytes:
    return rig.ctrl.namespaces[1].read_blocks(slba, nlb)


def copy(rig: Rig, sdlba: int, ranges: list[tuple[int, int]], desfmt: int = 0, nsid: int = 1,
         **fields: int):  # fmt: skip
    """A Copy of ``ranges`` ((slba, nlb), nlb 1-based) to ``sdlba``: its CQE and events."""
    data = pack_copy_ranges(ranges, desfmt)
    buf = rig.host.alloc(max(1, -(-len(data) // 4096)))
    rig.host.write(buf, data)
    cdw12 = (len(ranges) - 1) | desfmt << 8
    prp2 = buf + 4096 if len(data) > 4096 else 0
    return io(rig, OPC_COPY, nsid=nsid, prp1=buf, prp2=prp2, cdw10=sdlba & 0xFFFFFFFF,
              cdw11=sdlba >> 32, cdw12=cdw12, **fields)  # fmt: skip


def pattern(nlb: int, seed: int) -> bytes:
    return bytes(((i * 13 + seed) & 0xFF) or 1 for i in range(nlb * BLOCK))


def status(cqe) -> tuple[int, int]:
    return (cqe.sct, cqe.sc)


def errors(events) -> list[str]:
    return [e.kind for e in events if e.kind.startswith("err_")]


def detail(events) -> str:
    """The detail of the one err_* event."""
    (err,) = [e for e in events if e.kind.startswith("err_")]
    return err.detail


# -- the data ------------------------------------------------------------------------------
def test_copy_concatenates_its_source_ranges_at_sdlba_in_range_order(rig):
    a, b, c = pattern(4, 1), pattern(2, 2), pattern(3, 3)
    write(rig, 10, a)
    write(rig, 40, b)
    write(rig, 70, c)
    before = read(rig, 0, 300)
    cqe, events = copy(rig, 200, [(40, 2), (10, 4), (70, 3)])
    assert status(cqe) == st.SUCCESS and not errors(events)
    assert read(rig, 200, 9) == b + a + c
    after = read(rig, 0, 300)
    assert after[: 200 * BLOCK] == before[: 200 * BLOCK]  # sources and the rest unchanged
    assert after[209 * BLOCK :] == before[209 * BLOCK :]


def test_copy_emits_a_copy_range_per_source_and_one_copy_write(rig):
    write(rig, 0, pattern(8, 5))
    cqe, events = copy(rig, 100, [(0, 3), (5, 2)])
    assert status(cqe) == st.SUCCESS
    kinds = [e.kind for e in events]
    # the range list is read from host memory like any data; the blocks never cross
    assert kinds.index("map_prp") < kinds.index("dma_read") < kinds.index("copy_range")
    assert [e.kind for e in events if e.kind in ("copy_range", "copy_write")] == [
        "copy_range", "copy_range", "copy_write",
    ]  # fmt: skip
    ranges = [e for e in events if e.kind == "copy_range"]
    assert [(e.index, e.slba, e.nlb, e.dlba) for e in ranges] == [(0, 0, 3, 100), (1, 5, 2, 103)]
    (wr,) = [e for e in events if e.kind == "copy_write"]
    assert (wr.sdlba, wr.nlb, wr.ranges, wr.nsid) == (100, 5, 2, 1)
    dma = [e for e in events if e.kind == "dma_read"]
    assert sum(e.length for e in dma) == 2 * 32 and not any(e.kind == "dma_write" for e in events)


def test_copy_onto_an_overlapping_destination_copies_the_sources_as_they_were(rig):
    data = pattern(8, 9)
    write(rig, 0, data)
    assert status(copy(rig, 2, [(0, 4), (4, 4)])[0]) == st.SUCCESS
    assert read(rig, 2, 8) == data


def test_copy_of_blocks_never_written_copies_zeros(rig):
    write(rig, 50, pattern(2, 4))
    assert status(copy(rig, 50, [(1000, 2)])[0]) == st.SUCCESS
    assert read(rig, 50, 2) == bytes(2 * BLOCK)


def test_copy_takes_its_range_list_through_an_sgl(rig):
    rig2 = make_rig(ControllerConfig(sgls=0x1))
    write(rig2, 0, pattern(2, 7))
    data = pack_copy_ranges([(0, 2)])
    buf = rig2.host.alloc()
    rig2.host.write(buf, data)
    # SGL Data Block descriptor in the SQE (PSDT 01b): address, length, type 0h
    cqe, events = io(rig2, OPC_COPY, prp1=buf, prp2=len(data), cdw10=300, cdw12=0, psdt=1)
    assert status(cqe) == st.SUCCESS and "map_sgl" in [e.kind for e in events]
    assert rig2.ctrl.namespaces[1].read_blocks(300, 2) == pattern(2, 7)


def test_copy_with_a_range_list_in_unmapped_memory_is_a_data_transfer_error(rig):
    cqe, events = io(rig, OPC_COPY, prp1=0x7000_0000, cdw10=0, cdw12=0)
    assert status(cqe) == st.DATA_TRANSFER_ERROR
    assert not any(e.kind in ("copy_range", "copy_write") for e in events)


# -- descriptor formats ----------------------------------------------------------------------
def test_descriptor_format_layouts_are_32_and_40_bytes_and_agree_with_the_packer():
    assert COPY_RANGE_FORMAT_0.sizeof() == 32 and COPY_RANGE_FORMAT_1.sizeof() == 40
    raw0 = pack_copy_ranges([(0x1122334455, 7)], 0)
    raw1 = pack_copy_ranges([(0x1122334455, 7)], 1)
    for layout, raw in ((COPY_RANGE_FORMAT_0, raw0), (COPY_RANGE_FORMAT_1, raw1)):
        parsed = layout.parse(raw)
        assert (parsed.slba, parsed.nlb) == (0x1122334455, 6)  # NLB is 0's based
    assert unpack_copy_ranges(raw1, 1, 1) == [(0x1122334455, 7)]


@given(
    st_h.lists(
        st_h.tuples(st_h.integers(0, 2**64 - 1), st_h.integers(1, 0x10000)),
        min_size=1,
        max_size=8,
    ),
    st_h.sampled_from([0, 1]),
)
def test_source_range_entries_round_trip_in_both_formats(ranges, desfmt):
    raw = pack_copy_ranges(ranges, desfmt)
    assert len(raw) == len(ranges) * (32 if desfmt == 0 else 40)
    assert unpack_copy_ranges(raw, len(ranges), desfmt) == ranges


def test_cdw12_fields_sit_where_the_specification_puts_them():
    f = split_cdw12(
        0x05 | 0x1 << 8 | 0x3 << 12 | 0x2 << 20 | 1 << 24 | 0x9 << 26 | 1 << 30 | 1 << 31
    )
    assert (f.nr, f.desfmt, f.prinfor, f.dtype, f.stcw, f.prinfow, f.fua, f.lr) == (
        6, 1, 3, 2, 1, 9, 1, 1,
    )  # fmt: skip
    assert make_cdw12(256, 1, fua=True) == 0xFF | 1 << 8 | 1 << 30


def test_a_format_ocfs_does_not_offer_is_invalid_field(rig):
    # the default OCFS offers format 0h only
    cqe, events = copy(rig, 0, [(0, 1)], desfmt=1)
    assert status(cqe) == st.INVALID_FIELD and cqe.dnr
    assert errors(events) == ["err_copy_format"] and "map_prp" not in [e.kind for e in events]
    for desfmt in (2, 3, 0xF):  # formats 2h and 3h (another namespace) are not offered
        cqe, events = io(rig, OPC_COPY, prp1=rig.host.alloc(), cdw12=desfmt << 8)
        assert status(cqe) == st.INVALID_FIELD and errors(events) == ["err_copy_format"]


def test_format_1h_on_a_16b_guard_namespace_is_invalid_namespace_or_format():
    rig = make_rig(ControllerConfig(ocfs=0x3))
    cqe, events = copy(rig, 0, [(0, 1)], desfmt=1)
    assert status(cqe) == st.INVALID_NS_OR_FORMAT and cqe.dnr
    assert errors(events) == ["err_copy_format"] and "16b Guard" in detail(events)


def test_format_1h_entries_are_read_40_bytes_apart_on_a_64b_guard_namespace():
    rig = make_rig(ControllerConfig(ocfs=0x3))
    rig.ctrl.namespaces[1].pif = 2  # as a namespace formatted with 64b Guard PI would say
    write(rig, 0, pattern(4, 3))
    cqe, events = copy(rig, 100, [(2, 2), (0, 2)], desfmt=1)
    assert status(cqe) == st.SUCCESS
    assert sum(e.length for e in events if e.kind == "dma_read") == 80
    assert read(rig, 100, 4) == pattern(4, 3)[2 * BLOCK :] + pattern(4, 3)[: 2 * BLOCK]
    # and format 0h there is the wrong one for its protection information format
    assert status(copy(rig, 0, [(0, 1)], desfmt=0)[0]) == st.INVALID_NS_OR_FORMAT


# -- limits: MSRC, MSSRL, MCL ------------------------------------------------------------------
def test_more_ranges_than_msrc_allows_is_command_size_limit_exceeded_before_any_dma():
    rig = make_rig(ControllerConfig(msrc=1))  # 0's based: two ranges
    assert status(copy(rig, 100, [(0, 1), (1, 1)])[0]) == st.SUCCESS
    cqe, events = copy(rig, 100, [(0, 1), (1, 1), (2, 1)])
    assert status(cqe) == st.CMD_SIZE_LIMIT_EXCEEDED == (1, 0x83) and cqe.dnr
    assert errors(events) == ["err_copy_limit"]
    assert not any(e.kind in ("map_prp", "dma_read") for e in events)


def test_a_range_longer_than_mssrl_is_command_size_limit_exceeded():
    rig = make_rig(ControllerConfig(mssrl=8, mcl=64))
    assert status(copy(rig, 100, [(0, 8)])[0]) == st.SUCCESS
    cqe, events = copy(rig, 100, [(0, 8), (20, 9)])
    assert status(cqe) == st.CMD_SIZE_LIMIT_EXCEEDED and errors(events) == ["err_copy_limit"]
    assert "range 1" in detail(events)


def test_ranges_that_together_pass_mcl_are_command_size_limit_exceeded():
    rig = make_rig(ControllerConfig(mssrl=8, mcl=12))
    write(rig, 100, pattern(4, 1))
    assert status(copy(rig, 200, [(0, 8), (8, 4)])[0]) == st.SUCCESS
    cqe, events = copy(rig, 100, [(0, 8), (8, 5)])
    assert status(cqe) == st.CMD_SIZE_LIMIT_EXCEEDED and errors(events) == ["err_copy_limit"]
    assert read(rig, 100, 4) == pattern(4, 1)  # nothing was written


def test_the_limits_are_in_identify_namespace_and_the_knobs_set_them():
    for cfg, want in ((ControllerConfig(), (128, 128, 127)),
                      (ControllerConfig(mssrl=7, mcl=900, msrc=3), (7, 900, 3)),
                      (ControllerConfig(copy=False), (0, 0, 0))):  # fmt: skip
        rig = make_rig(cfg)
        buf = rig.host.alloc()
        rig.admin(0x06, nsid=1, prp1=buf, cdw10=0)
        ns = idf.IDENTIFY_NAMESPACE.parse(rig.host.read(buf, 4096))
        assert (ns.mssrl, ns.mcl, ns.msrc) == want


def test_a_configuration_past_the_mcl_ceiling_is_held_to_it():
    rig = make_rig(ControllerConfig(mssrl=0xFFFF, mcl=2**32 - 1, msrc=255))
    cqe, events = copy(rig, 0, [(0, 0xFFFF), (0, 2)])  # 65537 blocks: one past the ceiling
    assert status(cqe) == st.CMD_SIZE_LIMIT_EXCEEDED and "MCL allows 65536" in detail(events)


def test_the_qemu_profile_limits_are_zero_so_every_copy_exceeds_them_as_on_qemu():
    rig = make_rig(profile_config("qemu-7.2"))
    cqe, events = copy(rig, 100, [(0, 1)])
    assert status(cqe) == st.CMD_SIZE_LIMIT_EXCEEDED and errors(events) == ["err_copy_limit"]


@pytest.mark.parametrize("knob", ["mssrl", "mcl", "msrc"])
def test_limit_knobs_out_of_their_field_width_are_refused(knob):
    big = {"mssrl": 0x10000, "mcl": (1 << 16) + 1, "msrc": 256}[knob]
    problems = ControllerConfig(**{knob: big}).problems()
    assert any(p.startswith(f"{knob}=") for p in problems)
    assert ControllerConfig(**{knob: 0}).problems() == []


# -- LBA ranges and namespaces ---------------------------------------------------------------
def test_a_source_range_beyond_the_namespace_is_lba_out_of_range_and_writes_nothing(rig):
    write(rig, 100, pattern(1, 2))
    cqe, events = copy(rig, 100, [(0, 1), (NSZE - 1, 2)])
    assert status(cqe) == st.LBA_OUT_OF_RANGE and cqe.dnr
    assert errors(events) == ["err_lba_range"] and "range 1" in detail(events)
    assert not any(e.kind in ("copy_range", "copy_write") for e in events)
    assert read(rig, 100, 1) == pattern(1, 2)


def test_a_destination_beyond_the_namespace_is_lba_out_of_range(rig):
    assert status(copy(rig, NSZE - 4, [(0, 2), (10, 2)])[0]) == st.SUCCESS
    cqe, events = copy(rig, NSZE - 3, [(0, 2), (10, 2)])
    assert status(cqe) == st.LBA_OUT_OF_RANGE and "destination" in detail(events)
    cqe, _ = copy(rig, 1 << 32, [(0, 1)])  # SDLBA's high dword is CDW11
    assert status(cqe) == st.LBA_OUT_OF_RANGE


def test_copy_to_an_invalid_or_inactive_namespace_is_refused():
    rig = make_rig(ControllerConfig(nn=4))
    assert status(copy(rig, 0, [(0, 1)], nsid=9)[0]) == st.INVALID_NS_OR_FORMAT
    assert status(copy(rig, 0, [(0, 1)], nsid=2)[0]) == st.INVALID_FIELD


# -- advertising ---------------------------------------------------------------------------
def _identify_and_effects(rig: Rig):
    buf = rig.host.alloc()
    rig.admin(0x06, prp1=buf, cdw10=1)
    ctrl = idf.IDENTIFY_CONTROLLER.parse(rig.host.read(buf, 4096))
    log = rig.host.alloc()
    rig.admin(0x02, prp1=log, cdw10=0x05 | (1023 << 16))
    effects = lp.COMMANDS_SUPPORTED_EFFECTS_LOG.parse(rig.host.read(log, 4096))
    return ctrl, effects.iocs[OPC_COPY]


def test_oncs_bit_8_ocfs_and_the_effects_log_say_copy_is_there(rig):
    ctrl, effects = _identify_and_effects(rig)
    assert ctrl.oncs & idf.ONCS_COPY and ctrl.ocfs == 0x1
    assert effects == lp.CMD_EFFECTS_CSUPP | lp.CMD_EFFECTS_LBCC


def test_copy_off_is_an_invalid_opcode_and_clears_oncs_bit_8_and_ocfs():
    rig = make_rig(ControllerConfig(copy=False, ocfs=0x3))
    ctrl, effects = _identify_and_effects(rig)
    assert not ctrl.oncs & idf.ONCS_COPY and ctrl.ocfs == 0 and effects == 0
    cqe, events = copy(rig, 0, [(0, 1)])
    assert status(cqe) == st.INVALID_OPCODE and errors(events) == ["err_invalid_opcode"]


def test_the_qemu_profile_advertises_copy_and_both_formats_as_qemu_does():
    ctrl, _ = _identify_and_effects(make_rig(profile_config("qemu-7.2")))
    assert ctrl.oncs == 0x15D and ctrl.ocfs == 0x3


def test_ocfs_knob_takes_only_the_implemented_formats():
    assert ControllerConfig(ocfs=0x4).problems()
    assert ControllerConfig(ocfs=0x3).problems() == []


# -- against a model -------------------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st_h.lists(st_h.tuples(st_h.integers(0, 60), st_h.integers(1, 6)), min_size=1, max_size=5),
    st_h.integers(0, 64),
)
def test_copy_matches_a_model_of_read_all_sources_then_write(ranges, sdlba):
    rig = make_rig(ControllerConfig(namespace_size_bytes=72 * BLOCK))
    for slba in range(0, 72, 8):
        write(rig, slba, pattern(8, slba))
    model = bytearray(read(rig, 0, 72))
    total = sum(n for _, n in ranges)
    cqe, _ = copy(rig, sdlba, ranges)
    if sdlba + total > 72 or any(s + n > 72 for s, n in ranges):
        assert status(cqe) == st.LBA_OUT_OF_RANGE
    else:
        assert status(cqe) == st.SUCCESS
        src = b"".join(bytes(model[s * BLOCK : (s + n) * BLOCK]) for s, n in ranges)
        model[sdlba * BLOCK : (sdlba + total) * BLOCK] = src
    assert read(rig, 0, 72) == bytes(model)


def test_the_range_list_is_read_whole_across_a_page_boundary(rig):
    # 100 ranges of format 0h (3200 bytes) from 2048 bytes into PRP1's page: PRP2 the rest
    write(rig, 0, pattern(1, 8))
    first, second = rig.host.alloc(), rig.host.alloc(2) + 4096  # pages not adjacent
    raw = pack_copy_ranges([(0, 1)] * 100)
    rig.host.write(first + 2048, raw[:2048])
    rig.host.write(second, raw[2048:])
    cqe, events = io(rig, OPC_COPY, prp1=first + 2048, prp2=second, cdw10=1000, cdw12=99)
    assert status(cqe) == st.SUCCESS
    assert [e.length for e in events if e.kind == "dma_read"] == [2048, 1152]
    assert read(rig, 1000, 100) == pattern(1, 8) * 100


# -- what the namespace refuses: write protection and thin provisioning ------------------------
def test_a_copy_onto_a_write_protected_namespace_is_refused_and_writes_nothing():
    rig = make_rig(ControllerConfig(nwpc=0x1))
    write(rig, 0, pattern(1, 7))
    assert rig.admin(0x09, nsid=1, cdw10=0x84, cdw11=1).sc == 0  # Set Features 84h: protect
    start = len(rig.events)
    cqe, _ = copy(rig, 100, [(0, 1)])
    assert status(cqe) == (0, 0x20) and cqe.dnr == 1  # Namespace is Write Protected
    assert errors(rig.events[start:]) == ["err_ns_write_protected"]
    assert read(rig, 100, 1) == bytes(BLOCK)


def test_a_copy_that_would_allocate_past_ncap_is_capacity_exceeded_and_writes_nothing():
    rig = make_rig(ControllerConfig(namespace_capacity_bytes=2 * 4096))
    write(rig, 0, pattern(8, 3))  # one 4 KiB page of the two
    cqe, _ = copy(rig, 1000, [(0, 8)])  # a second page: fits
    assert status(cqe) == st.SUCCESS
    start = len(rig.events)
    cqe, _ = copy(rig, 2000, [(0, 8)])  # a third page: one too many
    assert status(cqe) == (0, 0x81) and cqe.dnr == 1  # Capacity Exceeded
    assert errors(rig.events[start:]) == ["err_capacity_exceeded"]
    assert read(rig, 2000, 8) == bytes(8 * BLOCK)
    assert status(copy(rig, 1000, [(0, 8)])[0]) == st.SUCCESS  # allocated blocks: rewritten
