"""SGLs for I/O commands (NVMe 1.4 section 4.4): Data Block, Segment, Last Segment and
Bit Bucket descriptors walked into the data's host memory, every rule answered with
its status code, each segment read an event; and each PRP list page read an event."""

from __future__ import annotations

import struct

import pytest
from emuhost import Rig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.sgl import MAX_SGL_SEGMENTS, nvme_map_sgl
from nvmescope.nvme import identify as idf
from nvmescope.nvme import status as st
from nvmescope.nvme.commands import (
    SGL_BIT_BUCKET,
    SGL_DATA_BLOCK,
    SGL_LAST_SEGMENT,
    SGL_SEGMENT,
    pack_sgl_descriptor,
    pack_sqe,
    sgl_dptr,
)

BLOCK = 512
SGL_ONLY = 0x1
SGL_ALL = 0x1 | 1 << 16 | 1 << 18  # and Bit Buckets, and an SGL longer than the data


def make_rig(sgls: int = SGL_ONLY) -> Rig:
    rig = Rig(ControllerConfig(sgls=sgls))
    rig.enable()
    rig.create_io_pair()
    return rig


def io(rig: Rig, opc: int, slba: int, nlb: int, sgl1: bytes, psdt: int = 1):
    cid = rig.next_cid()
    start = len(rig.events)
    rig.submit(
        1, pack_sqe(opc, cid, nsid=1, cdw10=slba, cdw12=nlb - 1, psdt=psdt, **sgl_dptr(sgl1))
    )
    rig.run()
    cqe = rig.reap(1)
    assert cqe is not None and cqe.cid == cid
    return (cqe.sct, cqe.sc), [e for e in rig.events[start:] if getattr(e, "cid", None) == cid]


def segment(rig: Rig, *descs: bytes) -> tuple[int, int]:
    """Descriptors written into host memory as one segment: (its address, its length)."""
    addr = rig.host.alloc()
    rig.host.write(addr, b"".join(descs))
    return addr, 16 * len(descs)


def block(rig: Rig, addr: int, length: int) -> bytes:
    return pack_sgl_descriptor(SGL_DATA_BLOCK, addr, length)


def pattern(n: int, seed: int = 1) -> bytes:
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


def test_identify_says_sgls_as_configured():
    for sgls in (0, SGL_ONLY, SGL_ALL):
        rig = Rig(ControllerConfig(sgls=sgls))
        rig.enable()
        buf = rig.host.alloc()
        rig.admin(0x06, prp1=buf, cdw10=1)
        assert idf.IDENTIFY_CONTROLLER.parse(rig.host.read(buf, 4096)).sgls == sgls


def test_a_write_and_a_read_through_one_data_block_move_the_data():
    rig = make_rig()
    data = pattern(2 * BLOCK)
    src = rig.host.alloc()
    rig.host.write(src + 3, data)  # byte aligned: SGLS bits 1:0 = 01b allows it
    status, events = io(rig, 0x01, 10, 2, block(rig, src + 3, len(data)))
    assert status == st.SUCCESS
    kinds = [e.kind for e in events]
    assert "map_sgl" in kinds and "map_prp" not in kinds and "sgl_segment_read" not in kinds
    dst = rig.host.alloc()
    status, events = io(rig, 0x02, 10, 2, block(rig, dst + 1, len(data)))
    assert status == st.SUCCESS
    assert rig.host.read(dst + 1, len(data)) == data
    mapped = next(e for e in events if e.kind == "map_sgl")
    assert mapped.segments == [(dst + 1, len(data))] and mapped.length == len(data)


def test_a_chain_of_segments_scatters_a_read_and_each_segment_read_is_an_event():
    rig = make_rig()
    data = pattern(4 * BLOCK, 5)
    src = rig.host.alloc()
    rig.host.write(src, data)
    assert io(rig, 0x01, 0, 4, block(rig, src, len(data)))[0] == st.SUCCESS
    a, b, c = rig.host.alloc(), rig.host.alloc(), rig.host.alloc()
    last, last_len = segment(rig, block(rig, c + 8, 1048))
    first, first_len = segment(
        rig,
        block(rig, a + 100, 500),
        block(rig, b, 500),
        pack_sgl_descriptor(SGL_LAST_SEGMENT, last, last_len),
    )
    status, events = io(rig, 0x02, 0, 4, pack_sgl_descriptor(SGL_SEGMENT, first, first_len))
    assert status == st.SUCCESS
    got = rig.host.read(a + 100, 500) + rig.host.read(b, 500) + rig.host.read(c + 8, 1048)
    assert got == data
    reads = [e for e in events if e.kind == "sgl_segment_read"]
    assert [e.addr for e in reads] == [first, last]
    assert reads[0].descriptors[0] == (SGL_DATA_BLOCK, 0, a + 100, 500)
    assert reads[0].descriptors[2] == (SGL_LAST_SEGMENT, 0, last, last_len)
    kinds = [e.kind for e in events]
    assert kinds.index("sgl_segment_read") < kinds.index("map_sgl") < kinds.index("dma_write")
    assert sum(e.length for e in events if e.kind == "dma_write" and e.purpose) >= len(data)


def test_a_bit_bucket_throws_its_part_of_a_read_away():
    rig = make_rig(SGL_ALL)
    data = pattern(2 * BLOCK, 9)
    src = rig.host.alloc()
    rig.host.write(src, data)
    assert io(rig, 0x01, 0, 2, block(rig, src, len(data)))[0] == st.SUCCESS
    dst = rig.host.alloc()
    seg, seg_len = segment(
        rig, pack_sgl_descriptor(SGL_BIT_BUCKET, 0, BLOCK), block(rig, dst, BLOCK)
    )
    status, events = io(rig, 0x02, 0, 2, pack_sgl_descriptor(SGL_LAST_SEGMENT, seg, seg_len))
    assert status == st.SUCCESS
    assert rig.host.read(dst, BLOCK) == data[BLOCK:]
    mapped = next(e for e in events if e.kind == "map_sgl")
    assert mapped.segments == [(None, BLOCK), (dst, BLOCK)]


@pytest.mark.parametrize(
    ("sgls", "opc", "psdt", "words"),
    [
        (0, 0x02, 1, "has none"),
        (SGL_ONLY, 0x02, 3, "reserved"),
    ],
)
def test_psdt_the_controller_cannot_honour_is_invalid_field(sgls, opc, psdt, words):
    rig = make_rig(sgls)
    status, events = io(rig, opc, 0, 1, block(rig, rig.host.alloc(), BLOCK), psdt)
    assert status == st.INVALID_FIELD
    err = next(e for e in events if e.kind == "err_invalid_sgl")
    assert words in err.detail


def test_an_admin_command_with_sgls_is_invalid_field_even_when_io_may_use_them():
    rig = make_rig(SGL_ALL)
    buf = rig.host.alloc()
    cid = rig.next_cid()
    rig.submit(0, pack_sqe(0x06, cid, cdw10=1, psdt=1, **sgl_dptr(block(rig, buf, 4096))))
    rig.run()
    cqe = rig.reap(0)
    assert (cqe.sct, cqe.sc) == st.INVALID_FIELD


def _bad(rig: Rig) -> dict[str, tuple[bytes, tuple[int, int]]]:
    """SGL Descriptor 1 of a one-block read that breaks one rule, and the answer."""
    buf = rig.host.alloc()
    short = block(rig, buf, BLOCK - 16)
    too_long = block(rig, buf, BLOCK), block(rig, buf + BLOCK, 16)
    long_seg = segment(rig, *too_long)
    odd_seg = segment(rig, block(rig, buf, BLOCK))
    middle = segment(rig, pack_sgl_descriptor(SGL_SEGMENT, buf, 16), block(rig, buf, BLOCK))
    inner_last = segment(rig, pack_sgl_descriptor(SGL_LAST_SEGMENT, buf, 16))
    loop = rig.host.alloc()
    rig.host.write(loop, pack_sgl_descriptor(SGL_SEGMENT, loop, 16))
    return {
        "short": (short, st.DATA_SGL_LENGTH_INVALID),
        "longer than the data": (
            pack_sgl_descriptor(SGL_LAST_SEGMENT, *long_seg),
            st.DATA_SGL_LENGTH_INVALID,
        ),
        "segment length not a multiple of 16": (
            pack_sgl_descriptor(SGL_LAST_SEGMENT, odd_seg[0], 24),
            st.INVALID_SGL_SEGMENT_DESCRIPTOR,
        ),
        "segment not qword aligned": (
            pack_sgl_descriptor(SGL_LAST_SEGMENT, odd_seg[0] + 4, 16),
            st.INVALID_SGL_SEGMENT_DESCRIPTOR,
        ),
        "a segment descriptor in the middle": (
            pack_sgl_descriptor(SGL_LAST_SEGMENT, *middle),
            st.INVALID_NUM_SGL_DESCRIPTORS,
        ),
        "the last segment points on": (
            pack_sgl_descriptor(SGL_LAST_SEGMENT, *inner_last),
            st.INVALID_SGL_SEGMENT_DESCRIPTOR,
        ),
        "a keyed data block": (
            pack_sgl_descriptor(0x4, buf, BLOCK),
            st.SGL_DESCRIPTOR_TYPE_INVALID,
        ),
        "an offset sub type": (
            pack_sgl_descriptor(SGL_DATA_BLOCK, buf, BLOCK, subtype=1),
            st.SGL_DESCRIPTOR_TYPE_INVALID,
        ),
        "a bit bucket the controller lacks": (
            pack_sgl_descriptor(SGL_BIT_BUCKET, 0, BLOCK),
            st.SGL_DESCRIPTOR_TYPE_INVALID,
        ),
        "a segment that points at itself": (
            pack_sgl_descriptor(SGL_SEGMENT, loop, 16),
            st.INVALID_NUM_SGL_DESCRIPTORS,
        ),
        "a segment nobody mapped": (
            pack_sgl_descriptor(SGL_LAST_SEGMENT, 0x7000_0000, 16),
            st.DATA_TRANSFER_ERROR,
        ),
    }


@pytest.mark.parametrize("case", list(_bad(Rig())))
def test_an_sgl_that_breaks_a_rule_gets_the_status_the_specification_gives(case):
    rig = make_rig()
    sgl1, want = _bad(rig)[case]
    status, events = io(rig, 0x02, 0, 1, sgl1)
    assert status == want, case
    assert any(e.kind in ("err_invalid_sgl", "err_dma") for e in events)
    assert not any(e.kind == "dma_write" and e.purpose for e in events)


def test_an_sgl_longer_than_the_data_is_accepted_when_sgls_says_so():
    rig = make_rig(SGL_ALL)
    buf = rig.host.alloc()
    seg = segment(rig, block(rig, buf, BLOCK), block(rig, buf + BLOCK, 16))
    status, _ = io(rig, 0x02, 0, 1, pack_sgl_descriptor(SGL_LAST_SEGMENT, *seg))
    assert status == st.SUCCESS


def test_dword_granularity_refuses_a_byte_aligned_data_block():
    rig = make_rig(0x2)
    buf = rig.host.alloc()
    assert io(rig, 0x02, 0, 1, block(rig, buf, BLOCK))[0] == st.SUCCESS
    status, _ = io(rig, 0x02, 0, 1, block(rig, buf + 1, BLOCK))
    assert status == st.SGL_DATA_BLOCK_GRANULARITY_INVALID


def test_a_looping_sgl_stops_after_the_bounded_number_of_segments():
    rig = make_rig()
    a, b = rig.host.alloc(), rig.host.alloc()
    rig.host.write(a, block(rig, a, 8) + pack_sgl_descriptor(SGL_SEGMENT, b, 32))
    rig.host.write(b, block(rig, b, 8) + pack_sgl_descriptor(SGL_SEGMENT, a, 32))
    smap = nvme_map_sgl(rig.host, pack_sgl_descriptor(SGL_SEGMENT, a, 32), 1 << 30, True, 1)
    assert smap.error == st.INVALID_NUM_SGL_DESCRIPTORS
    assert len(smap.reads) == MAX_SGL_SEGMENTS


class _Memory:
    """Host memory that holds whatever bytes hypothesis drew, at every address."""

    def __init__(self, data: bytes) -> None:
        self.data = data or b"\0"

    def dma_read(self, addr: int, length: int) -> bytes | None:
        if addr % 3 == 2:
            return None  # some addresses are not mapped
        reps = -(-(length + addr % len(self.data)) // len(self.data)) + 1
        start = addr % len(self.data)
        return (self.data * reps)[start : start + length]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sgl1=hs.binary(min_size=16, max_size=16),
    memory=hs.binary(max_size=512),
    length=hs.integers(0, 1 << 20),
    to_host=hs.booleans(),
    sgls=hs.sampled_from([0x1, 0x2, SGL_ALL, 0x2 | 1 << 16]),
)
def test_any_sgl_in_any_memory_is_mapped_or_answered_never_raises(
    sgl1, memory, length, to_host, sgls
):
    smap = nvme_map_sgl(_Memory(memory), sgl1, length, to_host, sgls)
    assert len(smap.reads) <= MAX_SGL_SEGMENTS
    if smap.error is None:
        assert sum(n for _, n in smap.segments) == length
        assert all(n > 0 for _, n in smap.segments)
    else:
        assert smap.detail


def test_each_prp_list_page_read_is_an_event_with_its_entries():
    rig = make_rig()
    pages = [rig.host.alloc() for _ in range(4)]
    prp_list = rig.host.alloc()
    rig.host.write(prp_list, struct.pack("<3Q", *pages[1:]))
    cid = rig.next_cid()
    start = len(rig.events)
    rig.submit(1, pack_sqe(0x02, cid, nsid=1, cdw12=31, prp1=pages[0], prp2=prp_list))
    rig.run()
    assert rig.reap(1).sc == 0
    events = [e for e in rig.events[start:] if getattr(e, "cid", None) == cid]
    kinds = [e.kind for e in events]
    read = next(e for e in events if e.kind == "prp_list_read")
    assert read.addr == prp_list and read.entries == pages[1:]
    assert kinds.index("prp_list_read") < kinds.index("map_prp")


def _chain_read() -> list:
    rig = make_rig(SGL_ALL)
    a = rig.host.alloc()
    seg = segment(rig, pack_sgl_descriptor(SGL_BIT_BUCKET, 0, 256), block(rig, a, 256))
    status, events = io(rig, 0x02, 0, 1, pack_sgl_descriptor(SGL_LAST_SEGMENT, *seg))
    assert status == st.SUCCESS
    return events


def test_the_walk_is_said_in_words_a_student_can_follow():
    from nvmescope.events import describe

    events = _chain_read()
    read = describe(next(e for e in events if e.kind == "sgl_segment_read"))
    assert "reads the SGL segment" in read and "Bit Bucket 0x0 256 B" in read
    assert "Data Block" in read
    mapped = describe(next(e for e in events if e.kind == "map_sgl"))
    assert "SGL Last Segment" in mapped and "256 B into bit buckets" in mapped
    assert "via 1 SGL segment" in mapped


def test_the_memory_panel_goes_to_the_segment_and_the_buffer_the_sgl_names():
    from nvmescope.trace.state import State
    from nvmescope.ui.widgets._memory import focus_of

    events = _chain_read()
    read = next(e for e in events if e.kind == "sgl_segment_read")
    mapped = next(e for e in events if e.kind == "map_sgl")
    state = State()
    assert focus_of(read, state).address == read.addr
    assert focus_of(mapped, state).address == mapped.segment_pages[0]


def _io_run(config: ControllerConfig):
    from nvmescope.machine import Machine

    m = Machine(config, scenario="io")
    m.run()
    assert m.scenario.ok, m.scenario.failures()
    return m.events


def test_the_linux_model_maps_a_big_io_buffer_with_one_sgl_data_block_when_it_can():
    # Linux 6.1's nvme_map_data: one segment beyond two pages, an I/O queue, SGLs
    # advertised: nvme_setup_sgl_simple; within two pages, or on the admin queue: PRPs
    events = _io_run(ControllerConfig(sgls=0x1))
    steps = [e for e in events if e.kind == "host_step" and e.step == "setup_sgl"]
    maps = [e for e in events if e.kind == "map_sgl"]
    assert len(steps) == 2 and len(maps) == 2
    assert all(m.sgl_type == SGL_DATA_BLOCK and m.length == 65536 for m in maps)
    assert all(e.sqid != 0 for e in maps)
    assert not any(e.kind == "prp_list_read" for e in events)
    fetch = next(
        e
        for e in events
        if e.kind == "sqe_fetch" and (e.sqid, e.cid) == (maps[0].sqid, maps[0].cid)
    )
    assert "SGL Data Block @" in describe_event(fetch) and "65536 B" in describe_event(fetch)


def test_without_sgls_the_same_buffers_go_through_a_prp_list():
    events = _io_run(ControllerConfig())
    assert not any(e.kind in ("map_sgl", "sgl_segment_read") for e in events)
    assert sum(e.kind == "prp_list_read" for e in events) == 2


def describe_event(event) -> str:
    from nvmescope.events import describe

    return describe(event)


def test_a_32_mib_data_block_is_told_as_dma_events_of_at_most_1_mib_and_records(tmp_path):
    """One SGL Data Block may describe a transfer of any length (MDTS 0: no limit); its
    data moves as DMA events of at most MAX_DATA_EVENT_BYTES each, in address order, so
    the run records (one 32 MiB event was more than a recording's chunk may hold)."""
    from nvmescope.events import MAX_DATA_EVENT_BYTES
    from nvmescope.trace import TraceWriter, open_recording

    rig = Rig(ControllerConfig(sgls=SGL_ONLY, mdts=0))
    rig.enable()
    rig.create_io_pair()
    n = 32 << 20
    data = pattern(n, seed=5)
    src = rig.host.alloc(n // 4096)
    rig.host.write(src, data)
    status, events = io(rig, 0x01, 0, n // BLOCK, block(rig, src, n))
    assert status == st.SUCCESS
    reads = [e for e in events if e.kind == "dma_read"]
    assert len(reads) == n // MAX_DATA_EVENT_BYTES
    assert [e.addr for e in reads] == [src + i * MAX_DATA_EVENT_BYTES for i in range(len(reads))]
    assert all(e.length == len(e.data) == MAX_DATA_EVENT_BYTES for e in reads)
    assert b"".join(e.data for e in reads) == data
    dst = rig.host.alloc(n // 4096)
    status, events = io(rig, 0x02, 0, n // BLOCK, block(rig, dst, n))
    assert status == st.SUCCESS and rig.host.read(dst, n) == data
    assert max(e.length for e in events if e.kind == "dma_write") == MAX_DATA_EVENT_BYTES
    path = tmp_path / "big.nvmetrace"
    with TraceWriter(path) as writer:
        writer.extend(rig.events)
    with open_recording(path) as rec:
        assert rec.complete and len(rec) == len(rig.events)


@given(
    hs.lists(
        hs.tuples(hs.one_of(hs.none(), hs.integers(0, 1 << 40)), hs.integers(1, 5 << 20)),
        max_size=6,
    )
)
def test_dma_pieces_cut_only_long_segments_and_keep_every_byte_in_order(segments):
    from nvmescope.events import MAX_DATA_EVENT_BYTES, dma_pieces

    pieces = list(dma_pieces(segments))
    at = 0
    for addr, n in segments:
        mine = []
        while sum(m for _, m in mine) < n:
            mine.append(pieces[at])
            at += 1
        if addr is None or n <= MAX_DATA_EVENT_BYTES:
            assert mine == [(addr, n)]
        else:
            assert all(0 < m <= MAX_DATA_EVENT_BYTES for _, m in mine)
            assert [a for a, _ in mine] == [
                addr + i * MAX_DATA_EVENT_BYTES for i in range(len(mine))
            ]
            assert sum(m for _, m in mine) == n
    assert at == len(pieces)
