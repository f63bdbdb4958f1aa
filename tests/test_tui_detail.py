"""The Detail panel: the event under the cursor as a field tree beside its bytes.

Every expectation comes from the recording itself or from the specification's
offsets (Identify Controller SN is bytes 04h..17h), never from the panel.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.style import Style
from textual import events
from textual.app import App, ComposeResult
from textual.strip import Strip
from textual.widget import Widget
from tui import RECORDINGS, WIDE, live_app, panel_lines, press, recorded_app, settle

from nvmescope.events import (
    CmdFinish,
    CmdStart,
    CqePost,
    CtrlState,
    DmaWrite,
    MapPrp,
    MemWrite,
    MmioWrite,
    SqeFetch,
)
from nvmescope.nvme import features, identify
from nvmescope.nvme.commands import pack_sqe, unpack_sqe
from nvmescope.trace import open_recording
from nvmescope.trace.recorder import Recorder
from nvmescope.ui.source import analyse, open_source
from nvmescope.ui.widgets._detail import DetailPanel, EventDecoder
from nvmescope.ui.widgets._fieldtree import CLOSED, OPENED, FieldTree

IDENTIFY = RECORDINGS / "identify.nvmetrace"
STYLES = Path(__file__).resolve().parent.parent / "nvmescope" / "ui" / "styles"


def _events(path: Path = IDENTIFY) -> list:
    with open_recording(path) as rec:
        return list(rec.events())


EVENTS = _events()


def _first(kind: str, **fields: object) -> int:
    return next(
        i
        for i, e in enumerate(EVENTS)
        if e.kind == kind and all(getattr(e, k, None) == v for k, v in fields.items())
    )


def _identify_ctrl_dma() -> int:
    """The first dma_write of an Identify with CNS 01h (found by its SQE, as a user would)."""
    for i, e in enumerate(EVENTS):
        if e.kind == "sqe_fetch":
            sqe = unpack_sqe(e.data)
            if sqe.opc == 0x06 and sqe.cdw10 & 0xFF == 0x01:
                return next(
                    k
                    for k in range(i, len(EVENTS))
                    if EVENTS[k].kind == "dma_write" and EVENTS[k].cid == e.cid
                )
    raise AssertionError("no Identify Controller in the recording")


IDENTIFY_DMA = _identify_ctrl_dma()


def detail(app) -> DetailPanel:
    panel = app.main.panels["detail"]
    assert isinstance(panel, DetailPanel)
    return panel


def tree_text(panel: DetailPanel) -> str:
    """Every row of the field tree (open), as a user reads it scrolling down, one a line."""
    tree = panel.field_tree
    return "\n".join(tree.row_text(row) for row in range(tree.row_count))


def style_at(strip: Strip, x: int) -> Style:
    """The style of the cell at column ``x`` of a drawn line."""
    pos = 0
    for segment in strip:
        if pos <= x < pos + len(segment.text):
            return segment.style or Style()
        pos += len(segment.text)
    return Style()


# -- Identify Controller ------------------------------------------------------------------------
async def test_the_identify_controller_dma_decodes_as_identify_ctrl_with_serial_and_model():
    data = EVENTS[IDENTIFY_DMA].data
    async with recorded_app(IDENTIFY, at=IDENTIFY_DMA) as (app, pilot):
        panel = detail(app)
        text = tree_text(panel)
        assert panel.decoded.root.name == "identify_ctrl"
        assert repr(identify.ascii_field(data[4:24])) in text  # SN, bytes 04h..17h
        assert repr(identify.ascii_field(data[24:64])) in text  # MN, bytes 18h..3Fh
        assert "Identify Controller" in "\n".join(panel_lines(app, "detail"))


async def test_choosing_sn_in_the_tree_highlights_bytes_4_to_23_of_the_hex():
    async with recorded_app(IDENTIFY, at=IDENTIFY_DMA) as (app, pilot):
        panel = detail(app)
        await press(pilot, "4")  # the detail panel: its tree takes the focus
        assert app.focused is panel.field_tree
        await press(pilot, "down", "down", "down")  # vid, ssvid, sn
        assert panel.selected is not None and panel.selected.name == "sn"
        assert panel.hex.highlight("selection") == ((4, 24),)
        assert [o for o in range(64) if panel.hex.highlighted(o) == "selection"] == list(
            range(4, 24)
        )
        # the line the user sees draws those bytes (and only those) in the selection colour
        view = panel.hex
        strip = view.render_hex_line(0, view.scrollable_content_region.width, False)
        selection = view.get_component_rich_style("hexview--selection", partial=True).bgcolor
        cols = view.cell_columns()
        coloured = [o for o in range(16) if style_at(strip, cols.hex_x[o]).bgcolor == selection]
        assert coloured == list(range(5, 16))  # byte 4 carries the cursor, on SN's first byte
        assert view.cursor == 4


async def test_moving_the_hex_cursor_selects_the_deepest_field_under_it():
    async with recorded_app(IDENTIFY, at=IDENTIFY_DMA) as (app, pilot):
        panel = detail(app)
        await press(pilot, "4")
        panel.hex.focus()
        await settle(pilot)
        await press(pilot, *["right"] * 5)  # byte 5: inside SN (04h..17h)
        assert panel.hex.cursor == 5
        assert panel.selected.name == "sn"
        assert panel.hex.highlight("selection") == ((4, 24),)
        await press(pilot, "down", "down")  # byte 37 (25h): inside MN (18h..3Fh)
        assert panel.selected.name == "mn"
        # a byte of a power state descriptor: the deepest field, its folded entries opened
        psd = panel.decoded.root.find("psd[5]")
        target = psd.offset + 1
        panel.hex.move_to(target)
        await settle(pilot)
        assert panel.selected is panel.decoded.root.at(target)
        assert panel.selected.path.startswith("psd[5].")
        assert app.focused is panel.hex  # the tree follows without taking the focus


async def test_a_click_on_a_hex_byte_selects_its_field():
    async with recorded_app(IDENTIFY, at=IDENTIFY_DMA) as (app, pilot):
        panel = detail(app)
        await press(pilot, "4")
        view = panel.hex
        line = view.line_of(0x4D)  # MDTS, byte 77
        x = view.cell_columns().hex_x[0x4D % 16]
        inner = view.content_region.offset - view.region.offset  # below the view's top border
        await pilot.click(view, offset=(inner.x + x, inner.y + line - view.scroll_offset.y))
        await settle(pilot)
        assert view.cursor == 0x4D
        assert panel.selected.name == "mdts"


async def test_the_tree_is_not_rebuilt_when_the_next_event_shows_the_same_page():
    later = next(
        i for i in range(IDENTIFY_DMA + 1, len(EVENTS))
        if EVENTS[i].kind == "dma_write" and EVENTS[i].data == EVENTS[IDENTIFY_DMA].data
    )  # fmt: skip
    async with recorded_app(IDENTIFY, at=IDENTIFY_DMA) as (app, pilot):
        panel = detail(app)
        built = panel.tree_builds
        root = panel.decoded.root
        app.goto(later)
        await settle(pilot)
        assert panel.decoded.root is root  # decoded once, from the cache
        assert panel.tree_builds == built
        app.goto(IDENTIFY_DMA + 1)
        await settle(pilot)
        assert panel.tree_builds == built + 1
        app.goto(IDENTIFY_DMA)
        await settle(pilot)
        assert panel.decoded.root is root


async def test_the_chosen_field_stays_chosen_when_stepping_to_another_sqe():
    fetches = [i for i, e in enumerate(EVENTS) if e.kind == "sqe_fetch"]
    async with recorded_app(IDENTIFY, at=fetches[0]) as (app, pilot):
        panel = detail(app)
        panel.reveal(panel.decoded.root.find("cdw10"))
        await settle(pilot)
        app.goto(fetches[1])
        await settle(pilot)
        assert panel.selected.path == "cdw10"
        assert panel.selected is panel.decoded.root.find("cdw10")


# -- the field tree: keys, the mouse, and a layout a step does not change ------------------------
def _row_names(tree: FieldTree) -> list[str]:
    return [item.name for r in range(tree.row_count) if (item := tree.item_at(r)) is not None]


async def test_the_rows_are_the_open_fields_depth_first_each_with_its_marker():
    async with recorded_app(IDENTIFY, at=IDENTIFY_DMA) as (app, pilot):
        panel = detail(app)
        tree = panel.field_tree
        root = panel.decoded.root
        # a big structure opens its first level only
        assert _row_names(tree) == [root.name, *(c.name for c in root.children)]
        assert tree.row_text(0).startswith(OPENED + root.name)
        psd = root.find("psd")
        assert CLOSED + "psd" in tree.row_text(tree.row_of(psd))
        sn = tree.row_text(tree.row_of(root.find("sn")))
        assert sn.index("sn") > tree.row_text(0).index(root.name)  # indented under the root


async def test_right_opens_a_field_left_closes_it_and_goes_to_its_parent():
    async with recorded_app(IDENTIFY, at=IDENTIFY_DMA) as (app, pilot):
        panel = detail(app)
        tree = panel.field_tree
        root = panel.decoded.root
        psd = root.find("psd")
        await press(pilot, "4")
        assert app.focused is tree
        tree.select(psd)
        rows = tree.row_count
        await press(pilot, "right")  # opens PSD: its entries (the zero ones folded) below it
        assert tree.is_open(psd) and tree.row_count > rows
        assert tree.item_at(tree.row_of(psd) + 1) is psd.children[0]
        assert panel.selected is psd  # the cursor stayed on it
        await press(pilot, "right")  # open already: onto its first entry
        assert panel.selected is psd.children[0]
        assert panel.hex.highlight("selection") == (
            (psd.children[0].offset, psd.children[0].offset + psd.children[0].size),
        )
        await press(pilot, "left")  # a closed entry: to its parent
        assert panel.selected is psd
        await press(pilot, "left")  # an open field: it closes
        assert not tree.is_open(psd) and tree.row_count == rows
        await press(pilot, "enter")  # Enter opens (and closes) too
        assert tree.is_open(psd)
        await press(pilot, "enter")
        assert not tree.is_open(psd)


async def test_e_opens_every_field_of_the_tree():
    async with recorded_app(IDENTIFY, at=IDENTIFY_DMA) as (app, pilot):
        panel = detail(app)
        tree = panel.field_tree
        await press(pilot, "4", "down", "down", "down")  # sn
        chosen = panel.selected
        await press(pilot, "e")
        assert all(tree.row_of(node) is not None for node in panel.decoded.root.walk())
        assert not any(CLOSED in tree.row_text(r) for r in range(tree.row_count))
        assert panel.selected is chosen  # the cursor stays on its field


async def test_e_with_the_bytes_focused_opens_every_field_too():
    async with recorded_app(IDENTIFY, at=IDENTIFY_DMA) as (app, pilot):
        panel = detail(app)
        await press(pilot, "4", "tab")
        assert app.focused is panel.hex
        await press(pilot, "e")
        tree = panel.field_tree
        assert all(tree.row_of(node) is not None for node in panel.decoded.root.walk())


async def test_a_click_on_a_marker_opens_or_closes_and_a_click_on_a_label_selects():
    async with recorded_app(IDENTIFY, at=IDENTIFY_DMA) as (app, pilot):
        panel = detail(app)
        tree = panel.field_tree
        root = panel.decoded.root
        rows = tree.row_count
        await pilot.click(tree, offset=(0, 0))  # the root's marker
        await settle(pilot)
        assert not tree.is_open(root) and tree.row_count == 1
        await pilot.click(tree, offset=(0, 0))
        await settle(pilot)
        assert tree.is_open(root) and tree.row_count == rows
        vid = root.find("vid")
        row = tree.row_of(vid)
        x = tree.row_text(row).index("vid")
        await pilot.click(tree, offset=(x, row - tree.scroll_offset.y))
        await settle(pilot)
        assert panel.selected is vid
        assert panel.hex.highlight("selection") == ((vid.offset, vid.offset + vid.size),)
        assert tree.row_count == rows  # a label selects, it does not toggle


async def test_tab_goes_from_the_fields_to_the_bytes_and_back():
    async with recorded_app(IDENTIFY, at=IDENTIFY_DMA) as (app, pilot):
        panel = detail(app)
        await press(pilot, "4")
        assert app.focused is panel.field_tree
        await press(pilot, "tab")
        assert app.focused is panel.hex
        await press(pilot, "shift+tab")
        assert app.focused is panel.field_tree


async def test_a_step_repaints_the_panel_without_laying_it_out_or_resizing_its_children(
    monkeypatch,
):
    """Each kind of event (a tree, a register, no bytes, a sentence without a tree) in a
    row: the children keep their place and size, none is hidden, none gets a Resize, and
    none asks for a layout pass (which on this screen costs a second frame)."""
    kinds = ["sqe_fetch", "cmd_start", "map_prp", "cqe_post", "host_step", "mmio_write"]
    stops = [_first(kind) for kind in kinds] + [IDENTIFY_DMA, _first("host_step")]
    async with recorded_app(IDENTIFY, at=stops[0]) as (app, pilot):
        panel = detail(app)
        children = [panel.query_one(f"#detail-{n}") for n in ("title", "tree", "hex", "status")]
        regions = [c.region for c in children]
        layouts: list[str] = []
        resizes: list[str] = []
        refresh = Widget.refresh
        post = Widget.post_message

        def counting_refresh(self, *regions, **kwargs):
            if kwargs.get("layout") and panel in self.ancestors_with_self:
                layouts.append(f"{type(self).__name__}#{self.id}")
            return refresh(self, *regions, **kwargs)

        def counting_post(self, message):
            if isinstance(message, events.Resize) and panel in self.ancestors:
                resizes.append(f"{type(self).__name__}#{self.id}")
            return post(self, message)

        monkeypatch.setattr(Widget, "refresh", counting_refresh)
        monkeypatch.setattr(Widget, "post_message", counting_post)
        for at in stops[1:]:
            app.goto(at)
            await settle(pilot)
            title = " ".join(" ".join(panel_lines(app, "detail")[:2]).split())
            assert title.startswith(" ".join(panel.decoded.title.split())[:60])
            assert [c.region for c in children] == regions, EVENTS[at].kind
            assert all(c.display for c in children)
        assert layouts == []
        assert resizes == []


# -- SQE, CQE, registers -------------------------------------------------------------------------
async def test_sqe_fetch_shows_the_sqe_opcode_name_cid_and_prp1():
    at = _first("sqe_fetch")
    sqe = unpack_sqe(EVENTS[at].data)
    async with recorded_app(IDENTIFY, at=at) as (app, pilot):
        panel = detail(app)
        root = panel.decoded.root
        assert root.name == "sqe"
        text = tree_text(panel)
        assert f"opc[7:0] = {sqe.opc}  Identify  Opcode (OPC)" in text
        assert f"cid[31:16] = {sqe.cid}" in text
        assert f"prp1 = {sqe.prp1} ({sqe.prp1:#x})" in text
        assert root.find("prp1").offset == 24  # PRP1 is bytes 24..31 of the SQE
        assert panel.hex.regions[0].data == EVENTS[at].data


async def test_cqe_post_shows_the_completion_with_its_status_and_phase():
    at = _first("cqe_post")
    event = EVENTS[at]
    async with recorded_app(IDENTIFY, at=at) as (app, pilot):
        panel = detail(app)
        root = panel.decoded.root
        assert root.name == "cqe"
        assert root.find("status.p").value == event.phase
        assert root.find("cid").value == event.cid
        text = tree_text(panel)
        assert "Successful Completion" in text
        assert f"sqhd = {event.sqhd}" in text


async def test_a_host_read_of_a_cq_slot_says_whether_it_holds_a_new_completion():
    """Every CQE the host reads right after its cqe_post is "a new completion"; the read
    the host's next note calls "not new" (its phase tag is the old one) says so, and that
    the slot was never written, not the Successful Completion its zeros decode as."""
    reads = [
        i for i, e in enumerate(EVENTS) if e.kind == "mem_read" and e.purpose.startswith("CQE")
    ]
    posted = {e.addr for e in EVENTS if e.kind == "cqe_post"}
    stale = [i for i in reads if "it is not new" in getattr(EVENTS[i + 1], "text", "")]
    fresh = [i for i in reads if i not in stale]
    assert stale and fresh
    async with recorded_app(IDENTIFY) as (app, pilot):
        for at in fresh[:3] + stale[:3]:
            app.goto(at)
            await settle(pilot)
            decoded = detail(app).decoded
            title, root = decoded.title, decoded.root
            if at in fresh:
                assert title.endswith(", a new completion"), title
                assert "Successful Completion" in root.meaning
            else:
                assert ", not a new completion" in title, title
                # the fields under it are the slot's bytes, not a completion's
                assert root.meaning.startswith("not a completion"), root.meaning
                if EVENTS[at].addr not in posted:
                    assert title.endswith("all zeros: never written"), title


async def test_a_register_write_is_decoded_whole_with_the_changed_fields_marked():
    at = next(
        i for i, e in enumerate(EVENTS)
        if e.kind == "mmio_write" and e.reg == "cc" and e.new & 1 and not e.old & 1
    )  # fmt: skip
    async with recorded_app(IDENTIFY, at=at) as (app, pilot):
        panel = detail(app)
        root = panel.decoded.root
        assert root.name == "reg:cc"
        assert root.find("en").value == 1
        assert panel.decoded.changed == {"en": 0}
        assert "en[0] = 1 (was 0)" in tree_text(panel)
        assert "enabled" in tree_text(panel)


async def test_a_64_bit_register_written_in_halves_shows_its_whole_value():
    hi = next(i for i, e in enumerate(EVENTS) if e.kind == "mmio_write" and e.reg == "asq.hi")
    lo = next(i for i, e in enumerate(EVENTS) if e.kind == "mmio_write" and e.reg == "asq.lo")
    value = (EVENTS[hi].new << 32) | EVENTS[lo].new
    async with recorded_app(IDENTIFY, at=hi) as (app, pilot):
        panel = detail(app)
        assert panel.decoded.root.name == "reg:asq"
        assert int.from_bytes(panel.hex.regions[0].data, "little") == value
        assert panel.hex.highlight("write") == ((4, 8),)  # the half this event wrote


async def test_map_prp_shows_prp1_prp2_and_the_prp_list_entries_read_from_memory():
    io = RECORDINGS / "io.nvmetrace"
    events = _events(io)
    at = next(i for i, e in enumerate(events) if e.kind == "map_prp" and e.list_pages)
    mp = events[at]
    written = next(
        e for e in reversed(events[:at]) if e.kind == "mem_write" and e.addr == mp.list_pages[0]
    )
    pages = [
        int.from_bytes(written.data[k : k + 8], "little") for k in range(0, len(written.data), 8)
    ]
    async with recorded_app(io, at=at) as (app, pilot):
        panel = detail(app)
        root = panel.decoded.root
        assert root.find("prp1").value == mp.prp1
        assert root.find("prp2").value == mp.prp2
        entries = root.find("prp_list[0]").children
        assert [n.value for n in entries] == pages
        # choosing an entry highlights its 8 bytes in the list page
        panel.reveal(entries[1])
        await settle(pilot)
        ((start, end),) = panel.hex.highlight("selection")
        assert end - start == 8
        assert panel.hex.address_of(start) == mp.list_pages[0] + 8


async def test_cmd_finish_shows_the_commands_sqe_and_its_status():
    at = _first("cmd_finish")
    async with recorded_app(IDENTIFY, at=at) as (app, pilot):
        panel = detail(app)
        root = panel.decoded.root
        names = [c.name for c in root.children]
        assert names.index("status") < names.index("sqe")  # the outcome first, then the command
        assert root.find("cdw0.opc").value == EVENTS[at].opcode
        status = root.find("status")
        assert status.value == EVENTS[at].status
        assert "Successful Completion" in status.meaning


async def test_host_step_shows_its_sentence():
    at = _first("host_step")
    async with recorded_app(IDENTIFY, at=at) as (app, pilot):
        panel = detail(app)
        assert panel.decoded.text == EVENTS[at].text
        shown = "".join(line.strip() for line in panel_lines(app, "detail"))
        assert EVENTS[at].text.replace(" ", "")[:60] in shown.replace(" ", "")
        # the sentence is rows of the field tree, wrapped to its width; the hex stays, empty
        tree = panel.field_tree
        rows = [tree.row_text(r) for r in range(tree.row_count)]
        assert " ".join(rows).split() == EVENTS[at].text.split()
        assert max(len(r) for r in rows) <= tree.scrollable_content_region.width
        assert panel.hex.display and panel.hex.size.height > 0
        assert panel.hex.byte_count == 0


def _longest_host_step() -> int:
    steps = [i for i, e in enumerate(EVENTS) if e.kind == "host_step"]
    return max(steps, key=lambda i: len(EVENTS[i].text))


async def test_the_free_text_is_wrapped_again_when_the_tree_gets_narrower():
    at = _longest_host_step()
    words = EVENTS[at].text.split()
    async with recorded_app(IDENTIFY, at=at) as (app, pilot):
        tree = detail(app).field_tree
        wide = tree.scrollable_content_region.width
        before = tree.row_count
        await pilot.resize_terminal(124, 50)  # still the wide layout, a narrower detail panel
        await settle(pilot)
        narrow = tree.scrollable_content_region.width
        assert narrow < wide
        rows = [tree.row_text(r) for r in range(tree.row_count)]
        assert " ".join(rows).split() == words
        assert max(len(r) for r in rows) <= narrow
        assert tree.row_count > before


async def test_an_error_event_shows_its_whole_description_above_its_fields():
    events_ = TOUR_EVENTS
    at = next(i for i, e in enumerate(events_) if e.kind.startswith(("err_", "ub_")))
    event = events_[at]
    async with recorded_app(TOUR, at=at) as (app, pilot):
        panel = detail(app)
        tree = panel.field_tree
        text = " ".join(tree.row_text(r) for r in range(tree.text_rows))
        assert event.detail and event.detail in text
        assert tree.item_at(tree.text_rows) is panel.decoded.root  # then the tree
        assert panel.selected is panel.decoded.root


# -- a buffer in two DMA segments --------------------------------------------------------------
def _two_segment_identify(path: Path) -> tuple[bytes, int, int]:
    """A recording of an Identify Controller whose buffer starts 256 bytes before a page
    end, so the device writes it in two segments on two separate pages."""
    data = identify.build_identify_controller(sn="SPLIT-SN-0042", mn="split model")
    asq, buf, second = 0x10000000, 0x20000F00, 0x20005000
    sqe = pack_sqe(0x06, cid=7, prp1=buf, prp2=second, cdw10=0x01)
    first_len = 0x1000 - (buf & 0xFFF)
    events = [
        MmioWrite(addr=0x24, size=4, value=0x1F001F, reg="aqa", new=0x1F001F),
        MmioWrite(addr=0x28, size=8, value=asq, reg="asq", new=asq),
        MmioWrite(addr=0x30, size=8, value=0x10001000, reg="acq", new=0x10001000),
        MmioWrite(addr=0x14, size=4, value=0x460001, reg="cc", new=0x460001),
        CtrlState(state="ready", csts_old=0, csts_new=1),
        MemWrite(addr=asq, data=sqe, purpose="SQE identify"),
        SqeFetch(sqid=0, cid=7, slot=0, addr=asq, data=sqe, new_head=1),
        CmdStart(sqid=0, cid=7, opcode=6, opname="identify"),
        MapPrp(sqid=0, cid=7, prp1=buf, prp2=second, length=4096,
               segments=[(buf, first_len), (second, 4096 - first_len)]),
        DmaWrite(sqid=0, cid=7, addr=buf, length=first_len, data=data[:first_len],
                 purpose="identify"),
        DmaWrite(sqid=0, cid=7, addr=second, length=4096 - first_len, data=data[first_len:],
                 purpose="identify"),
        CmdFinish(sqid=0, cid=7, opcode=6, opname="identify", status=0),
        CqePost(sqid=0, cid=7, cqid=0, slot=0, addr=0x10001000, phase=1, status=0, sqhd=1),
    ]  # fmt: skip
    rec = Recorder(path, scenario="split")
    for seq, e in enumerate(events):
        e.seq, e.ts = seq, seq * 100
        rec(e)
    rec.close()
    return data, 9, 10


async def test_a_buffer_split_over_two_dma_segments_is_decoded_whole_at_the_last_one(tmp_path):
    path = tmp_path / "split.nvmetrace"
    data, first, last = _two_segment_identify(path)
    async with recorded_app(path, at=first) as (app, pilot):
        panel = detail(app)
        assert panel.decoded.root.name == "dma_write"  # part of a buffer: raw bytes
        assert "segment 1 of 2" in panel.decoded.note
        # the note is the first rows of the tree, before the fields
        tree = panel.field_tree
        assert "segment 1 of 2" in " ".join(tree.row_text(r) for r in range(tree.text_rows))
        assert tree.item_at(tree.text_rows) is panel.decoded.root
        app.goto(last)
        await settle(pilot)
        root = panel.decoded.root
        assert root.name == "identify_ctrl"
        assert root.find("sn").value == data[4:24]  # SN is in the first segment
        assert [len(r) for r in panel.hex.regions] == [256, 3840]
        assert panel.hex.highlight("write") == ((256, 4096),)  # what this event wrote


# -- a snapshot -------------------------------------------------------------------------------------
class DetailOnly(App[None]):
    """The detail panel alone on the screen, on one moment: what the snapshot shows."""

    CSS_PATH = [STYLES / "app.tcss", STYLES / "detail.tcss"]

    def __init__(self, path: Path, at: int) -> None:
        super().__init__()
        self.source = open_source(path)
        self.at = at

    def compose(self) -> ComposeResult:
        yield DetailPanel(self.source)

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        panel = self.query_one(DetailPanel)
        rec = self.source.scanner()
        try:
            panel.show_analysis(analyse(rec))
        finally:
            rec.close()
        panel.show_moment(self.source.moment(self.at))
        panel.focus_target().focus()

    def on_unmount(self) -> None:
        self.source.close()


def test_snapshot_of_the_detail_pane_on_the_identify_controller_dma(snap_compare):
    async def choose_sn(pilot) -> None:
        await pilot.pause()
        await pilot.press("down", "down", "down")
        await pilot.pause()

    assert snap_compare(
        DetailOnly(IDENTIFY, IDENTIFY_DMA), terminal_size=WIDE, run_before=choose_sn
    )


@pytest.mark.parametrize("kind", ["sqe_fetch", "cqe_post", "map_prp", "cmd_start", "mem_read"])
async def test_every_kind_of_event_of_the_identify_scenario_decodes_without_an_error(kind):
    positions = [i for i, e in enumerate(EVENTS) if e.kind == kind][:4]
    async with recorded_app(IDENTIFY, at=positions[0]) as (app, pilot):
        panel = detail(app)
        for at in positions:
            app.goto(at)
            await settle(pilot)
            assert panel.decoded.root is not None
            assert "cannot decode" not in panel.decoded.note


# -- a live session and every shipped recording ------------------------------------------------------
async def test_a_live_session_decodes_the_identify_data_as_it_runs():
    fetch = _first("sqe_fetch")
    async with live_app("identify", at=fetch) as (app, pilot):
        panel = detail(app)
        assert app.cursor == fetch
        assert panel.decoded.root.name == "sqe"
        await press(pilot, *["s"] * (IDENTIFY_DMA - fetch))
        assert app.cursor == IDENTIFY_DMA and app.moment.event.kind == "dma_write"
        assert panel.decoded.root.name == "identify_ctrl"


@pytest.mark.parametrize("path", sorted(RECORDINGS.glob("*.nvmetrace")), ids=lambda p: p.stem)
def test_every_event_of_every_shipped_recording_decodes_into_a_tree(path):
    source = open_source(path)
    try:
        rec = source.scanner()
        try:
            analysis = analyse(rec)
        finally:
            rec.close()
        decoder = EventDecoder(source)
        for index in range(len(source)):
            decoded = decoder.decode(source.moment(index), analysis)
            assert "cannot decode" not in decoded.note, (index, decoded.note)
            root = decoded.root
            if root is None:
                assert decoded.text  # a host step: its sentence
                continue
            total = sum(len(r) for r in decoded.regions)
            for node in root.walk():  # every field's bytes are bytes the hex view shows
                assert node.offset + node.size <= max(total, node.offset), (index, node.path)
    finally:
        source.close()


# -- features, and the writer of a byte ----------------------------------------------------------
TOUR = RECORDINGS / "admin-tour.nvmetrace"
TOUR_EVENTS = _events(TOUR)


def _tour_command(kind: str, opname: str, fid: int) -> tuple[int, object]:
    """The first ``kind`` event of an ``opname`` with FID ``fid`` and the SQE it ran."""
    sqes = {}
    for i, e in enumerate(TOUR_EVENTS):
        if e.kind == "sqe_fetch":
            sqes[(e.sqid, e.cid)] = unpack_sqe(e.data)
        elif e.kind == kind and e.opname == opname:
            sqe = sqes[(e.sqid, e.cid)]
            if sqe.cdw10 & 0xFF == fid:
                return i, sqe
    raise AssertionError(f"no {opname} of FID {fid:#x}")


async def test_set_features_shows_cdw11_as_the_feature_value_over_the_cdw11_bytes():
    at, sqe = _tour_command("cmd_start", "set_features", features.FID_TEMPERATURE_THRESHOLD)
    async with recorded_app(TOUR, at=at) as (app, pilot):
        panel = detail(app)
        root = panel.decoded.root
        value = root.find("cdw11_value")
        cdw11 = root.find("cdw11")
        assert (value.offset, value.size) == (cdw11.offset, 4)
        assert root.find("cdw11_value.tmpth").value == sqe.cdw11 & 0xFFFF
        panel.reveal(root.find("cdw11_value.tmpth"))
        await settle(pilot)
        assert panel.hex.highlight("selection") == ((cdw11.offset, cdw11.offset + 2),)


async def test_a_get_features_completion_decodes_dword_0_as_the_feature():
    at, _ = _tour_command("cmd_finish", "get_features", features.FID_NUMBER_OF_QUEUES)
    dw0 = TOUR_EVENTS[at].dw0
    async with recorded_app(TOUR, at=at) as (app, pilot):
        root = detail(app).decoded.root
        assert root.find("dw0_value.nsqr").value == dw0 & 0xFFFF
        assert root.find("dw0_value.ncqr").value == dw0 >> 16


async def test_w_in_the_detail_hex_jumps_to_the_writer_of_that_byte():
    read = next(
        i for i in range(IDENTIFY_DMA, len(EVENTS))
        if EVENTS[i].kind == "mem_read" and EVENTS[i].addr == EVENTS[IDENTIFY_DMA].addr
    )  # fmt: skip
    async with recorded_app(IDENTIFY, at=read) as (app, pilot):
        panel = detail(app)
        assert panel.decoded.root.name == "identify_ctrl"  # what the host reads, decoded
        await press(pilot, "4")
        panel.hex.focus()
        await press(pilot, "right", "w")
        assert app.cursor == IDENTIFY_DMA
