"""The Memory panel: host memory as of the cursor, and "who wrote this byte?".

Expectations come from the recording's own events (where the host wrote the
SQE, where the device wrote the Identify data), never from the panel.
"""

from __future__ import annotations

import pytest
from tui import RECORDINGS, press, recorded_app, settle

from nvmescope.trace import open_recording
from nvmescope.ui.widgets._hexview import columns_for
from nvmescope.ui.widgets._memory import MemoryPanel, parse_address, writer_of

IDENTIFY = RECORDINGS / "identify.nvmetrace"


def _events() -> list:
    with open_recording(IDENTIFY) as rec:
        return list(rec.events())


EVENTS = _events()
SQE_WRITE = next(
    i for i, e in enumerate(EVENTS) if e.kind == "mem_write" and e.purpose.startswith("SQE")
)
SQE_FETCH = next(
    i for i, e in enumerate(EVENTS) if e.kind == "sqe_fetch" and e.addr == EVENTS[SQE_WRITE].addr
)
IDENTIFY_DMA = next(i for i, e in enumerate(EVENTS) if e.kind == "dma_write" and i > SQE_FETCH)
#: the host reading the Identify data the device wrote
DATA_READ = next(
    i for i, e in enumerate(EVENTS)
    if e.kind == "mem_read" and e.addr == EVENTS[IDENTIFY_DMA].addr and i > IDENTIFY_DMA
)  # fmt: skip


def memory(app) -> MemoryPanel:
    panel = app.main.panels["memory"]
    assert isinstance(panel, MemoryPanel)
    return panel


def shown_bytes(panel: MemoryPanel, address: int, length: int) -> list[int | None]:
    view = panel.hex
    start = view.offset_of_address(address)
    assert start is not None, f"{address:#x} is not in the window"
    return [view.byte_at(start + i) for i in range(length)]


async def test_memory_shows_the_sqe_at_its_sq_slot_once_the_host_has_written_it():
    write = EVENTS[SQE_WRITE]
    async with recorded_app(IDENTIFY, at=SQE_WRITE - 1) as (app, pilot):
        await press(pilot, "5")
        panel = memory(app)
        assert app.focused is panel.hex
        # before the write, no event has told these bytes
        assert panel.hex.offset_of_address(write.addr) is not None
        assert set(shown_bytes(panel, write.addr, 64)) == {None}
        line = panel.hex.line_text(panel.hex.line_of(panel.hex.offset_of_address(write.addr)))
        assert line.startswith(f"{write.addr:08x}  ?? ?? ??")  # unknown bytes read ??
        await press(pilot, "s")
        assert app.cursor == SQE_WRITE
        assert shown_bytes(panel, write.addr, 64) == list(write.data)
        start = panel.hex.offset_of_address(write.addr)
        assert panel.hex.highlight("write") == ((start, start + 64),)
        assert panel.hex.address_of(panel.hex.cursor) == write.addr
        status = str(panel.query_one("#memory-status").render())
        assert "SQ0 slot 0" in status


async def test_w_on_a_byte_of_the_identify_data_jumps_back_to_the_dma_write_that_wrote_it():
    async with recorded_app(IDENTIFY, at=DATA_READ) as (app, pilot):
        await press(pilot, "5")
        panel = memory(app)
        assert panel.hex.address_of(panel.hex.cursor) == EVENTS[DATA_READ].addr
        await press(pilot, "right", "right", "right", "right")  # SN's first byte
        assert panel.hex.address_of(panel.hex.cursor) == EVENTS[DATA_READ].addr + 4
        await press(pilot, "w")
        assert app.cursor == IDENTIFY_DMA
        assert EVENTS[app.cursor].kind == "dma_write"


async def test_w_finds_the_latest_writer_when_a_buffer_was_written_again():
    last_read = max(
        i for i, e in enumerate(EVENTS) if e.kind == "mem_read" and e.addr == EVENTS[DATA_READ].addr
    )
    last_write = max(
        i for i in range(last_read)
        if EVENTS[i].kind == "dma_write" and EVENTS[i].addr == EVENTS[DATA_READ].addr
    )  # fmt: skip
    assert last_write > IDENTIFY_DMA  # the buffer is reused: the last writer is not the first
    async with recorded_app(IDENTIFY, at=last_read) as (app, pilot):
        await press(pilot, "5", "w")
        assert app.cursor == last_write


async def test_w_on_an_sqe_byte_jumps_back_to_the_hosts_mem_write():
    async with recorded_app(IDENTIFY, at=SQE_FETCH) as (app, pilot):
        await press(pilot, "5")
        panel = memory(app)
        assert panel.hex.address_of(panel.hex.cursor) == EVENTS[SQE_FETCH].addr
        # the bytes of the event are near the top of the view, one line of context above
        assert panel.hex.line_of(panel.hex.cursor) - panel.hex.scroll_offset.y == 1
        assert panel.hex.highlight("read")  # the device read these bytes
        await press(pilot, "w")
        assert app.cursor == SQE_WRITE
        assert EVENTS[app.cursor].kind == "mem_write"


async def test_w_on_a_cqe_the_host_reads_jumps_to_the_devices_cqe_post():
    post = next(i for i, e in enumerate(EVENTS) if e.kind == "cqe_post")
    read = next(
        i for i, e in enumerate(EVENTS) if e.kind == "mem_read" and e.addr == EVENTS[post].addr
    )
    async with recorded_app(IDENTIFY, at=read) as (app, pilot):
        await press(pilot, "5", "w")
        assert app.cursor == post


async def test_a_typed_address_that_is_not_a_number_is_refused_with_a_message_at_the_field():
    async with recorded_app(IDENTIFY, at=SQE_WRITE) as (app, pilot):
        await press(pilot, "5")
        panel = memory(app)
        window = panel.window
        await press(pilot, "a")
        field = panel.query_one("#memory-address")
        assert app.focused is field
        await press(pilot, "x", "y", "z", "enter")
        error = panel.query_one("#memory-error")
        assert error.display
        assert "'xyz' is not an address" in str(error.render())
        assert panel.query_one("#memory-goto").display  # the field stays open
        assert panel.window == window and panel.pinned is None
        await press(pilot, "escape")
        assert not panel.query_one("#memory-goto").display
        assert app.focused is panel.hex


async def test_a_typed_address_shows_memory_there_and_stays_while_stepping():
    cq = 0x10001000  # the admin CQ, as the host's ACQ write says
    acq = next(e for e in EVENTS if e.kind == "mmio_write" and e.reg in ("acq", "acq.lo"))
    assert acq.value == cq
    async with recorded_app(IDENTIFY, at=SQE_WRITE) as (app, pilot):
        await press(pilot, "5", "a", *str(cq), "enter")  # decimal
        panel = memory(app)
        assert panel.pinned == cq
        assert panel.hex.address_of(panel.hex.cursor) == cq
        await press(pilot, "s", "s", "s")
        assert panel.hex.address_of(panel.hex.cursor) == cq  # pinned: it did not follow
        await press(pilot, "f")
        assert panel.pinned is None


def test_addresses_are_hex_with_0x_or_decimal_and_anything_else_says_why():
    assert parse_address("0x10002000") == 0x10002000
    assert parse_address(" 0X1000_2000 ") == 0x10002000
    assert parse_address("268443648") == 0x10002000
    for text, words in [
        ("xyz", "is not an address"),
        ("fee00000", "0xfee00000"),
        ("0x", "not a hex address"),
        ("0x1g", "not a hex address"),
        ("-5", "is not an address"),
        ("", "type an address"),
        (str(1 << 64), "beyond the 64-bit address space"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_address(text)


def test_the_writers_of_host_memory_are_the_host_cpu_dma_writes_and_cqe_posts():
    addr = EVENTS[SQE_WRITE].addr
    writes = writer_of(addr)
    assert writes(EVENTS[SQE_WRITE])  # the host CPU wrote the SQE
    assert not writes(EVENTS[SQE_FETCH])  # the device only read it
    dma = EVENTS[IDENTIFY_DMA]
    assert writer_of(dma.addr + dma.length - 1)(dma)
    assert not writer_of(dma.addr + dma.length)(dma)
    post = next(e for e in EVENTS if e.kind == "cqe_post")
    assert writer_of(post.addr + 15)(post) and not writer_of(post.addr + 16)(post)
    irq = next(e for e in EVENTS if e.kind == "irq_msix")
    assert not writer_of(irq.address)(irq)  # an MSI-X message is not a memory write


def test_the_palette_offers_the_writer_jump():
    actions = {action: title for title, _, action in MemoryPanel.PALETTE}
    assert actions["writer"] == "Jump to the writer of the selected byte"
    assert all(hasattr(MemoryPanel, f"action_{a}") for a in actions)


async def test_the_palette_action_runs_the_same_jump_as_w():
    async with recorded_app(IDENTIFY, at=SQE_FETCH) as (app, pilot):
        await press(pilot, "5")
        panel = memory(app)
        await panel.run_action("writer")
        await settle(pilot)
        assert app.cursor == SQE_WRITE


async def test_the_window_slides_when_the_cursor_reaches_its_edge():
    async with recorded_app(IDENTIFY, at=IDENTIFY_DMA) as (app, pilot):
        await press(pilot, "5")
        panel = memory(app)
        start, size = panel.window
        await press(pilot, "ctrl+end")
        end_address = start + size - 1
        assert panel.window[0] > start  # it moved on
        assert panel.hex.address_of(panel.hex.cursor) == end_address


def test_the_hex_lines_fit_the_width_byte_by_byte_then_without_ascii_then_in_dwords():
    wide = columns_for(80, 8)
    assert not wide.grouped and wide.ascii_x is not None and wide.width <= 80
    # bytes stay apart before the ASCII goes: grouped, a dword reads as big-endian
    medium = columns_for(62, 8)
    assert not medium.grouped and medium.ascii_x is None and medium.width <= 62
    narrow = columns_for(45, 8)
    assert narrow.grouped and narrow.ascii_x is None and narrow.width <= 45
    for cols in (wide, medium, narrow):  # 16 byte cells, in order, never overlapping
        assert len(cols.hex_x) == 16
        assert all(b >= a + 2 for a, b in zip(cols.hex_x, cols.hex_x[1:], strict=False))
