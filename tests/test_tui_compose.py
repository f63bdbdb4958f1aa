"""Compose a command by hand and poke registers, in the TUI: every preset is sent and its
completion checked, the device's answer to a wrong PRP is seen, every field refuses what it
cannot hold (and nothing typed crashes the app), and a write by hand to a register, a
doorbell or PCI configuration space is answered as the specification says."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Input, Select, Static
from tui import NARROW, WIDE, finished_source, live_app, press, screen_lines

from nvmescope.nvme import compose as cmp
from nvmescope.nvme.pci import (
    CMD_INTX_DISABLE,
    CMD_MEMORY_SPACE,
    MSIX_MC_ENABLE,
    STATUS_INTERRUPT,
)
from nvmescope.ui import LiveSource, NvmeScopeApp
from nvmescope.ui.marks import Marks
from nvmescope.ui.screens._form import NumberRow
from nvmescope.ui.screens.compose import ComposeScreen
from nvmescope.ui.screens.poke import PokeScreen

#: Set Features Number of Queues once I/O queues exist: Command Sequence Error (SC 0Ch)
EXPECTED_STATUS = {p.name: 0 for p in cmp.PRESETS} | {"set-nq": 0x0C}


def after_bringup(size: tuple[int, int] = WIDE) -> Any:
    """The app on the identify session run to its end: bring-up done, the host idle."""
    return live_app(size=size, to_end=True)


async def open_form(app: NvmeScopeApp, pilot: Any, preset: str | None = None) -> ComposeScreen:
    await press(pilot, "i")
    screen = app.screen
    assert isinstance(screen, ComposeScreen)
    if preset is not None:
        screen.query_one("#compose-preset", Select).value = preset
        await press(pilot)
    return screen


async def type_into(pilot: Any, box: Input, text: str) -> None:
    box.value = text
    await press(pilot)


def events_of(app: NvmeScopeApp, start: int) -> list[Any]:
    return list(app.source.events(start, len(app.source)))


async def run_to_end(app: NvmeScopeApp, pilot: Any) -> None:
    await press(pilot, "c")
    assert app.source.finished


def completion(app: NvmeScopeApp, start: int) -> Any:
    f = app.followed
    assert f is not None
    posts = [e for e in events_of(app, start) if e.kind == "cqe_post" and e.cid == f.cid
             and e.sqid == f.sqid]  # fmt: skip
    assert len(posts) == 1
    return posts[0]


async def test_every_preset_is_sent_and_completes_with_the_status_the_spec_gives() -> None:
    async with after_bringup() as (app, pilot):
        for preset in cmp.PRESETS:
            start = len(app.source)
            await open_form(app, pilot, preset.name)
            await press(pilot, "ctrl+s")
            assert not isinstance(app.screen, ComposeScreen)
            # the cursor is on the SQE in the SQ's next slot, the student steps from there
            sqe = app.source.event(app.cursor)
            assert sqe.kind == "mem_write" and sqe.data[0] == preset.opc, preset.name
            await run_to_end(app, pilot)
            cqe = completion(app, start)
            assert cqe.status & 0x7FF == EXPECTED_STATUS[preset.name], preset.name
            kinds = [e.kind for e in events_of(app, start)]
            assert "doorbell_sq" in kinds and "sqe_fetch" in kinds and "doorbell_cq" in kinds


async def test_a_queue_pair_created_by_hand_carries_a_read_composed_by_hand() -> None:
    async with after_bringup() as (app, pilot):
        for preset in ("create-cq", "create-sq"):
            screen = await open_form(app, pilot, preset)
            assert screen.values["qid"] == 2
            await press(pilot, "ctrl+s", "c")
        screen = await open_form(app, pilot, "read")
        queues = dict((v, k) for k, v in screen.query_one("#compose-queue", Select)._options)
        assert str(queues[2]).startswith("SQ2 (I/O, CQ2): next slot 0 of 64")
        screen.query_one("#compose-queue", Select).value = 2
        await press(pilot)
        start = len(app.source)
        await press(pilot, "ctrl+s", "c")
        cqe = completion(app, start)
        assert cqe.status == 0 and cqe.sqid == 2 and cqe.cqid == 2


async def test_an_identify_composed_by_hand_shows_its_data_and_says_its_completion() -> None:
    async with after_bringup() as (app, pilot):
        await open_form(app, pilot, "identify-ctrl")
        await press(pilot, "ctrl+s")
        f = app.followed
        assert f is not None and f.title == "06h Identify"
        said: list[str] = []
        app.notify = lambda message, **kw: said.append(str(message))  # type: ignore[method-assign]
        while app.source.event(app.cursor).kind != "dma_write":
            await press(pilot, "s")
        dma = app.source.event(app.cursor)
        assert dma.length == 4096 and b"NVMESCOPE0001" in dma.data
        assert app.main.active == "detail"
        while app.source.event(app.cursor).kind != "cqe_post":
            await press(pilot, "s")
        assert any("06h Identify (cid" in s and "Successful Completion" in s for s in said)


async def test_a_block_written_by_hand_reads_back_by_hand() -> None:
    async with after_bringup() as (app, pilot):
        screen = await open_form(app, pilot, "write")
        await type_into(pilot, screen.query_one("#f-slba", Input), "7")
        await type_into(pilot, screen.query_one("#f-data", Input), "written by hand")
        await press(pilot, "ctrl+s")
        await run_to_end(app, pilot)
        screen = await open_form(app, pilot, "read")
        await type_into(pilot, screen.query_one("#f-slba", Input), "0x7")
        start = len(app.source)
        await press(pilot, "ctrl+s")
        await run_to_end(app, pilot)
        assert completion(app, start).status == 0
        data = [e for e in events_of(app, start) if e.kind == "dma_write"]
        assert data[0].data.startswith(b"written by hand\x00")


async def test_a_wrong_prp_typed_by_hand_gets_the_devices_answer() -> None:
    async with after_bringup() as (app, pilot):
        screen = await open_form(app, pilot, "identify-ctrl")
        screen.query_one("#compose-prp-mode", Select).value = "hand"
        await press(pilot)
        assert screen.query_one("#compose-prps").display
        await type_into(pilot, screen.query_one("#f-prp1", Input), "0x10000003")
        assert "SQE" in str(screen.query_one("#compose-preview", Static).render())
        start = len(app.source)
        await press(pilot, "ctrl+s")
        await run_to_end(app, pilot)
        # PRP1's offset must be dword aligned: PRP Offset Invalid (SCT 0h, SC 13h)
        assert completion(app, start).status & 0x7FF == 0x13


@pytest.mark.parametrize(
    ("field", "text", "words"),
    [("f-cns", "zz", "'zz' is not a number"), ("f-cns", "256", "CNS holds 0 to 255"),
     ("f-cns", "-1", "is not a number"), ("f-cntid", "", "give a number"),
     ("f-nsid", "0x100000000", "NSID holds 0 to 4294967295"),
     ("f-cns", "9" * 200, "too long")],
)  # fmt: skip
async def test_a_field_refuses_what_it_cannot_hold_at_the_field(
    field: str, text: str, words: str
) -> None:
    async with after_bringup() as (app, pilot):
        screen = await open_form(app, pilot, "identify-ctrl")
        await type_into(pilot, screen.query_one(f"#{field}", Input), text)
        shown = [str(s.render()) for s in screen.query(".compose-error") if s.display]
        assert len(shown) == 1 and words in shown[0]
        before = len(app.source)
        await press(pilot, "ctrl+s")
        assert app.screen is screen and len(app.source) == before
        screen.query_one(f"#{field}", Input).focus()
        await press(pilot, "enter")
        assert app.screen is screen
        await press(pilot, "escape")
        assert not isinstance(app.screen, ComposeScreen) and len(app.source) == before


async def test_a_buffer_larger_than_the_host_allocates_is_refused_and_hand_prps_lift_it() -> None:
    async with after_bringup() as (app, pilot):
        screen = await open_form(app, pilot, "smart-log")
        await type_into(pilot, screen.query_one("#f-numd", Input), "0xffffffff")
        assert "_buffer" in screen.errors and "8 MiB" in screen.errors["_buffer"]
        await press(pilot, "ctrl+s")
        assert app.screen is screen
        screen.query_one("#compose-prp-mode", Select).value = "hand"
        await press(pilot)
        assert not screen.errors
        await press(pilot, "escape")


async def test_set_features_shows_the_value_fields_of_the_feature_typed() -> None:
    async with after_bringup() as (app, pilot):
        screen = await open_form(app, pilot, "set-nq")
        names = {row.spec.name for row in screen.query("FieldRow")}  # type: ignore[attr-defined]
        assert {"nsqr", "ncqr"} <= names
        await type_into(pilot, screen.query_one("#f-fid", Input), "6")
        await press(pilot)
        names = {row.spec.name for row in screen.query("FieldRow")}  # type: ignore[attr-defined]
        assert "wce" in names and "nsqr" not in names
        await press(pilot, "escape")


async def test_get_features_of_the_interrupt_vector_configuration_takes_the_vector() -> None:
    async with after_bringup() as (app, pilot):
        screen = await open_form(app, pilot, "get-nq")
        names = [row.spec.name for row in screen.query("FieldRow")]  # type: ignore[attr-defined]
        assert names == ["fid", "sel"]  # Number of Queues: nothing in CDW11
        await type_into(pilot, screen.query_one("#f-fid", Input), "9")
        await press(pilot)
        names = [row.spec.name for row in screen.query("FieldRow")]  # type: ignore[attr-defined]
        assert names == ["fid", "sel", "iv"]
        await type_into(pilot, screen.query_one("#f-iv", Input), "1")
        assert "CDW11 00000001" in str(screen.query_one("#compose-preview", Static).render())
        start = len(app.source)
        await press(pilot, "ctrl+s")
        await run_to_end(app, pilot)
        cqe = completion(app, start)
        assert cqe.status == 0 and cqe.dw0 & 0xFFFF == 1  # the configuration of vector 1
        # a vector the controller does not have: Invalid Field in Command
        screen = await open_form(app, pilot, "get-nq")
        await type_into(pilot, screen.query_one("#f-fid", Input), "0x09")
        await press(pilot)
        await type_into(pilot, screen.query_one("#f-iv", Input), "0xffff")
        start = len(app.source)
        await press(pilot, "ctrl+s")
        await run_to_end(app, pilot)
        assert completion(app, start).status & 0x7FF == 0x02


async def test_switching_to_an_io_queue_offers_the_nvm_opcodes() -> None:
    async with after_bringup() as (app, pilot):
        screen = await open_form(app, pilot)
        screen.query_one("#compose-queue", Select).value = 1
        await press(pilot)
        assert not screen.admin and screen.opc == 0x02
        assert {row.spec.name for row in screen.query("FieldRow")} >= {"slba", "nlb"}  # type: ignore[attr-defined]


async def test_a_recording_cannot_be_sent_a_command() -> None:
    from tui import RECORDINGS, recorded_app

    async with recorded_app(RECORDINGS / "identify.nvmetrace") as (app, pilot):
        said: list[str] = []
        app.notify = lambda message, **kw: said.append(str(message))  # type: ignore[method-assign]
        await press(pilot, "i", "W")
        assert not isinstance(app.screen, (ComposeScreen, PokeScreen))
        assert len(said) == 2 and all("works in a live session" in s for s in said)


# -- poke -------------------------------------------------------------------------------------
async def open_poke(app: NvmeScopeApp, pilot: Any, name: str) -> PokeScreen:
    """The poke form, on the register or doorbell called ``name``."""
    await press(pilot, "W")
    screen = app.screen
    assert isinstance(screen, PokeScreen)
    target = next(t for t in screen.targets if t.name == name)
    screen.query_one("#poke-target", Select).value = target.key
    await press(pilot)
    return screen


async def write_by_hand(app: NvmeScopeApp, pilot: Any, name: str, value: str) -> int:
    """Write ``value`` to the register ``name`` with the poke form; the session stops there."""
    screen = await open_poke(app, pilot, name)
    await type_into(pilot, screen.query_one("#p-value", Input), value)
    start = len(app.source)
    await press(pilot, "ctrl+s")
    assert not isinstance(app.screen, PokeScreen)
    return start


async def poke(app: NvmeScopeApp, pilot: Any, name: str, value: str) -> int:
    """Write by hand, then run the session to its end."""
    start = await write_by_hand(app, pilot, name, value)
    await run_to_end(app, pilot)
    return start


async def test_a_doorbell_written_beyond_the_queue_is_ignored_with_a_ub_event() -> None:
    """The preview says beforehand that the device will ignore the tail (SQ0's size as of
    the cursor), and the device does."""
    async with after_bringup() as (app, pilot):
        screen = await open_poke(app, pilot, "sq0tdbl")
        preview = screen.query_one("#poke-preview", Static)
        await type_into(pilot, screen.query_one("#p-value", Input), "5")
        assert "ignores" not in str(preview.render())
        await type_into(pilot, screen.query_one("#p-value", Input), "0x1234")
        qsize = app.moment.state.sqs[0].qsize  # type: ignore[union-attr]
        assert f"SQ0 has {qsize} entries" in str(preview.render())
        assert "device ignores this write (ub_db_invalid_value)" in str(preview.render())
        start = len(app.source)
        await press(pilot, "ctrl+s")
        await run_to_end(app, pilot)
        kinds = [e.kind for e in events_of(app, start)]
        assert kinds[:3] == ["host_step", "doorbell_sq", "ub_db_invalid_value"]
        # and the Asynchronous Event Request reports it: Invalid Doorbell Write Value
        assert "cqe_post" in kinds


@pytest.mark.parametrize("key", ["i", "W"])
async def test_below_80_columns_the_forms_put_their_preview_under_the_fields(key: str) -> None:
    async with live_app("identify", size=(60, 20)) as (app, pilot):
        await press(pilot, key)
        screen = app.screen
        assert isinstance(screen, (ComposeScreen, PokeScreen))
        name = "compose" if key == "i" else "poke"
        form = screen.query_one(f"#{name}-form").region
        preview = screen.query_one(f"#{name}-preview").region
        assert preview.y >= form.bottom and form.width >= 50  # the fields have the width
        assert screen.has_class("-tiny")


async def test_a_doorbell_starts_as_its_queue_holds_it_at_the_cursor() -> None:
    """The form offers the doorbell's value as the Registers panel shows it (the queue's
    tail or head as of the cursor), so Ctrl+S on it as offered rings nothing new."""
    async with after_bringup() as (app, pilot):
        state = app.moment.state  # type: ignore[union-attr]
        head = state.cqs[0].head
        assert head  # the admin CQ was consumed past slot 0 by the bring-up
        screen = await open_poke(app, pilot, "cq0hdbl")
        assert int(screen.query_one("#p-value", Input).value, 16) == head
        assert f"now    0x{head:08x}" in str(screen.query_one("#poke-preview", Static).render())
        start = len(app.source)
        await press(pilot, "ctrl+s")
        await run_to_end(app, pilot)
        assert not [e for e in events_of(app, start) if e.kind.startswith("ub_")]


async def test_clearing_cc_en_by_hand_resets_the_controller() -> None:
    async with after_bringup() as (app, pilot):
        screen = await open_poke(app, pilot, "cc")
        assert "EN" in str(screen.query_one("#poke-preview", Static).render())
        current = int(screen.query_one("#p-value", Input).value, 16)
        assert current & 1
        await press(pilot, "escape")
        start = await poke(app, pilot, "cc", hex(current & ~1))
        later = events_of(app, start)
        assert any(e.kind == "ctrl_state" for e in later)
        assert app.moment is not None and (app.moment.state.register("csts") or 0) & 1 == 0


async def test_bus_master_off_by_hand_stops_the_devices_dma() -> None:
    async with after_bringup() as (app, pilot):
        before = app.moment.state.config_value(4, 2)  # type: ignore[union-attr]
        start = await poke(app, pilot, "command", hex(before & ~0x4))
        assert [e.kind for e in events_of(app, start)][:2] == ["host_step", "config_write"]
        await open_form(app, pilot, "identify-ctrl")
        start = len(app.source)
        await press(pilot, "ctrl+s", "c")
        kinds = [e.kind for e in events_of(app, start)]
        assert "dma_write" not in kinds and "sqe_fetch" not in kinds
        assert "ub_dma_disabled" in kinds


async def test_a_doorbell_of_a_queue_that_does_not_exist_typed_by_offset_is_ignored() -> None:
    async with after_bringup() as (app, pilot):
        await press(pilot, "W")
        screen = app.screen
        assert isinstance(screen, PokeScreen)
        screen.query_one("#poke-target", Select).clear()
        for field, text in (("p-offset", "0x1028"), ("p-size", "4"), ("p-value", "1")):
            await type_into(pilot, screen.query_one(f"#{field}", Input), text)
        assert "new tail" not in str(screen.query_one("#poke-preview", Static).render())
        start = len(app.source)
        await press(pilot, "ctrl+s", "c")
        kinds = [e.kind for e in events_of(app, start)]
        assert kinds[:3] == ["host_step", "doorbell_sq", "ub_db_invalid_queue"]


async def test_an_offset_typed_by_hand_names_its_register_in_the_list() -> None:
    """Typing CC's offset over CAP's makes the register list say CC (and the preview
    names CC); an offset no register has leaves the list on its prompt."""
    async with after_bringup() as (app, pilot):
        await press(pilot, "W")
        screen = app.screen
        assert isinstance(screen, PokeScreen)
        listed = screen.query_one("#poke-target", Select)
        assert screen.target is not None and screen.target.name == "cap"
        await type_into(pilot, screen.query_one("#p-size", Input), "4")
        await type_into(pilot, screen.query_one("#p-offset", Input), "0x14")
        cc = next(t for t in screen.targets if t.name == "cc")
        assert listed.value == cc.key and screen.target is cc
        # CAP's 64-bit value is too wide for 4 bytes, but the list follows the offset anyway
        await type_into(pilot, screen.query_one("#p-value", Input), "0x460001")
        assert "CC" in str(screen.query_one("#poke-preview", Static).render())
        await type_into(pilot, screen.query_one("#p-offset", Input), "0x204")
        assert listed.value is Select.NULL and screen.target is None


async def test_an_offset_typed_by_hand_offers_that_registers_value_unless_one_was_typed() -> None:
    """Typing CC's offset offers CC's value as of the cursor (as picking CC would); once a
    value is typed, moving to AQA's offset keeps it."""
    async with after_bringup() as (app, pilot):
        await press(pilot, "W")
        screen = app.screen
        assert isinstance(screen, PokeScreen)
        value = screen.query_one("#p-value", Input)
        state = app.moment.state  # type: ignore[union-attr]
        assert value.value == hex(state.register("cap"))
        await type_into(pilot, screen.query_one("#p-size", Input), "4")
        await type_into(pilot, screen.query_one("#p-offset", Input), "0x14")
        assert value.value == hex(state.register("cc"))
        await type_into(pilot, value, "0x1234")
        await type_into(pilot, screen.query_one("#p-offset", Input), "0x24")
        assert screen.target is not None and screen.target.name == "aqa"
        assert value.value == "0x1234"


async def test_the_preview_of_an_8_byte_write_says_what_the_device_does_with_it() -> None:
    """8 bytes at NSSR's offset are two 4-byte writes, NSSR then AQA, and the preview
    names both (the device takes the high half as AQA's); 8 bytes at CC's offset are not
    8-byte aligned, and the preview says the device drops them, as it does."""
    async with after_bringup() as (app, pilot):
        await press(pilot, "W")
        screen = app.screen
        assert isinstance(screen, PokeScreen)
        preview = screen.query_one("#poke-preview", Static)
        for field, text in (("p-offset", "0x20"), ("p-size", "8"), ("p-value", "0x7001f00000000")):
            await type_into(pilot, screen.query_one(f"#{field}", Input), text)
        words = str(preview.render())
        assert "low 4 bytes: NSSR" in words and "high 4 bytes: AQA" in words
        assert "ASQS       31" in words and "ACQS        7" in words
        start = len(app.source)
        await press(pilot, "ctrl+s", "c")
        # the high half lands on AQA, which an enabled controller does not take
        told = [e for e in events_of(app, start) if e.kind == "ub_mmio_while_enabled"]
        assert [e.detail.split(",")[0] for e in told] == ["AQA"]
        await press(pilot, "W")
        screen = app.screen
        assert isinstance(screen, PokeScreen)
        for field, text in (("p-offset", "0x14"), ("p-size", "8"), ("p-value", "0")):
            await type_into(pilot, screen.query_one(f"#{field}", Input), text)
        assert "drops this write" in str(screen.query_one("#poke-preview", Static).render())
        start = len(app.source)
        await press(pilot, "ctrl+s", "c")
        kinds = [e.kind for e in events_of(app, start)]
        assert kinds[:3] == ["host_step", "mmio_write", "ub_mmio_misaligned"]


async def test_cc_shn_written_by_hand_shuts_the_controller_down() -> None:
    async with after_bringup() as (app, pilot):
        cc = app.moment.state.register("cc")  # type: ignore[union-attr]
        await poke(app, pilot, "cc", hex((cc & ~(3 << 14)) | (1 << 14)))
        csts = app.moment.state.register("csts")  # type: ignore[union-attr]
        assert (csts >> 2) & 3 == 2  # SHST: shutdown processing complete


async def test_memory_space_off_by_hand_makes_bar0_accesses_go_nowhere() -> None:
    # PCI Local Bus 3.0 6.2.2: Memory Space Enable 0 disables the function's response to
    # memory accesses; over PCIe a write is dropped and a read completes as an Unsupported
    # Request, which the root complex gives the CPU as all ones
    async with after_bringup() as (app, pilot):
        state = app.moment.state  # type: ignore[union-attr]
        command, cc = state.config_value(4, 2), state.register("cc")
        assert command & CMD_MEMORY_SPACE and cc & 1
        await poke(app, pilot, "command", hex(command & ~CMD_MEMORY_SPACE))
        # CC.EN = 0 written by hand goes nowhere: no controller reset, CSTS.RDY still 1
        start = await poke(app, pilot, "cc", hex(cc & ~1))
        kinds = [e.kind for e in events_of(app, start)]
        assert kinds[:3] == ["host_step", "mmio_write", "ub_mmio_disabled"]
        assert "ctrl_state" not in kinds
        state = app.moment.state  # type: ignore[union-attr]
        assert state.register("cc") == cc and state.register("csts") & 1
        # nor does an Identify's doorbell: nothing is fetched; when the command's timer
        # fires, the driver's read of CSTS comes back all ones (CFS set: no polling)
        await open_form(app, pilot, "identify-ctrl")
        start = len(app.source)
        await press(pilot, "ctrl+s")
        await run_to_end(app, pilot)
        later = events_of(app, start)
        kinds = [e.kind for e in later]
        assert "doorbell_sq" not in kinds and "sqe_fetch" not in kinds and "cqe_post" not in kinds
        bell = next(e for e in later if e.kind == "mmio_write")
        assert bell.addr == 0x1000 and kinds[kinds.index("mmio_write") + 1] == "ub_mmio_disabled"
        csts = [e for e in later if e.kind == "mmio_read" and e.addr == 0x1C]
        # every read of CSTS answers all ones: the timeout's first, then those of the reset
        # it leads to (nvme_timeout resets a controller whose CSTS has CFS set)
        assert csts and all(e.value == 0xFFFFFFFF for e in csts)
        assert not any(e.kind == "host_step" and e.step == "timeout_poll" for e in later)
        steps = [e.step for e in later if e.kind == "host_step"]
        assert steps.index("timeout_csts") < steps.index("timeout_fatal")
        assert "reset_ctrl" in steps[steps.index("timeout_fatal") :]


async def test_intx_disable_keeps_the_pin_quiet_until_cleared_by_hand() -> None:
    # PCI Local Bus 3.0 6.2.2: Interrupt Disable 1 keeps the function from asserting INTx#;
    # its Interrupt Status (Status bit 3) still shows the interrupt, which is asserted as
    # soon as the bit is cleared
    async with after_bringup() as (app, pilot):
        state = app.moment.state  # type: ignore[union-attr]
        command = state.config_value(4, 2)
        assert command & CMD_INTX_DISABLE  # the driver set it when it turned MSI-X on
        screen = await open_poke(app, pilot, "msix.mc")  # offered among the first
        config = [t for t in screen.targets if t.space == "config"]
        assert config.index(screen.target) < 6  # type: ignore[arg-type]
        control = int(screen.query_one("#p-value", Input).value, 16)  # as the register holds it
        assert control & MSIX_MC_ENABLE
        assert "1  MSI-X Enable" in str(screen.query_one("#poke-preview", Static).render())
        await press(pilot, "escape")
        await poke(app, pilot, "msix.mc", hex(control & ~MSIX_MC_ENABLE))
        # MSI-X off: the device signals on INTx, which INTx Disable holds down
        await open_form(app, pilot, "identify-ctrl")
        start = len(app.source)
        await press(pilot, "ctrl+s")
        while app.source.event(app.cursor).kind != "cqe_post":
            await press(pilot, "s")
        # no interrupt event follows the CQE (the next would be the command's timer, a minute
        # of virtual time later); a write of 0 to Status (its bits are read-only or write-1-
        # to-clear) shows Interrupt Status set
        await write_by_hand(app, pilot, "status", "0")
        while app.source.event(app.cursor).kind != "config_write":
            await press(pilot, "s")
        assert app.source.event(app.cursor).new & STATUS_INTERRUPT
        assert not [e.kind for e in events_of(app, start) if e.kind.startswith("irq")]
        cleared = await poke(app, pilot, "command", hex(command & ~CMD_INTX_DISABLE))
        later = events_of(app, cleared)
        kinds = [e.kind for e in later]
        assert kinds[:3] == ["host_step", "config_write", "irq_intx"] and later[2].asserted
        # the driver listens for MSI-X only: the command's timer polls the CQ, the CQ head
        # doorbell consumes the entry and the pin goes down again
        pin = [e.asserted for e in later if e.kind == "irq_intx"]
        assert pin == [True, False]
        assert any(e.kind == "host_step" and e.step == "timeout_polled" for e in later)


async def test_aqa_written_while_enabled_is_ignored_with_a_ub_event() -> None:
    # NVMe 1.4 3.1.5 (CC.EN): the admin queue registers shall only be modified while
    # CC.EN is 0; a write while enabled is the host's mistake, and the device keeps AQA
    async with after_bringup() as (app, pilot):
        aqa = app.moment.state.register("aqa")  # type: ignore[union-attr]
        start = await poke(app, pilot, "aqa", "0x00030003")
        later = events_of(app, start)
        assert [e.kind for e in later][:3] == ["host_step", "mmio_write", "ub_mmio_while_enabled"]
        assert later[1].old == later[1].new == aqa
        assert app.moment.state.register("aqa") == aqa  # type: ignore[union-attr]
        # and the admin queue goes on at its size: an Identify completes
        await open_form(app, pilot, "identify-ctrl")
        start = len(app.source)
        await press(pilot, "ctrl+s")
        await run_to_end(app, pilot)
        assert completion(app, start).status == 0


#: CC fields the controller cannot take: (mask, bad value, the word err_startfail names)
BAD_CC = {
    "iosqes": (0xF << 16, 5 << 16, "IOSQES"),  # 32-byte SQEs: Identify SQES says 64 only
    "iocqes": (0xF << 20, 5 << 20, "IOCQES"),  # 32-byte CQEs: CQES says 16 only
    "mps": (0xF << 7, 5 << 7, "MPS"),  # 128 KiB pages: above CAP.MPSMAX (4)
    "css": (0x7 << 4, 1 << 4, "CSS"),  # a reserved command set: not in CAP.CSS
}


@pytest.mark.parametrize("field", sorted(BAD_CC))
async def test_enabling_by_hand_with_a_cc_the_controller_cannot_take_sets_csts_cfs(
    field: str,
) -> None:
    # a fatal error detected during controller initialization: CSTS.CFS 1, CSTS.RDY 0 (as
    # QEMU's nvme_start_ctrl answers each of these)
    mask, bad, word = BAD_CC[field]
    async with after_bringup() as (app, pilot):
        cc = app.moment.state.register("cc")  # type: ignore[union-attr]
        await poke(app, pilot, "cc", hex(cc & ~1))  # CC.EN = 0: the controller resets
        assert app.moment.state.register("csts") & 1 == 0  # type: ignore[union-attr]
        start = await poke(app, pilot, "cc", hex((cc & ~mask) | bad | 1))
        later = events_of(app, start)
        fatal = [e for e in later if e.kind == "ctrl_state"]
        assert [e.state for e in fatal] == ["fatal"]
        failed = next(e for e in later if e.kind == "err_startfail")
        assert f"CC.{word}" in failed.detail
        csts = app.moment.state.register("csts")  # type: ignore[union-attr]
        assert csts & 2 and not csts & 1


@pytest.mark.parametrize(
    ("field", "text", "words"),
    [("p-size", "3", "BAR0 takes 4 or 8 bytes, not 3"), ("p-offset", "0x1_0000_0000", "holds"),
     ("p-value", "0x1_0000_0000_0000_0000", "holds"), ("p-value", "ff", "is not a number")],
)  # fmt: skip
async def test_a_poke_refuses_what_it_cannot_write(field: str, text: str, words: str) -> None:
    async with after_bringup() as (app, pilot):
        await press(pilot, "W")
        screen = app.screen
        await type_into(pilot, screen.query_one(f"#{field}", Input), text)
        before = len(app.source)
        await press(pilot, "ctrl+s")
        assert app.screen is screen and len(app.source) == before
        assert words in " ".join(screen.errors.values())  # type: ignore[attr-defined]


async def test_a_session_with_commands_and_writes_by_hand_replays_with_verify(
    tmp_path: Any,
) -> None:
    from nvmescope.trace.replay import verify

    async with after_bringup() as (app, pilot):
        await open_form(app, pilot, "write")
        await press(pilot, "ctrl+s", "c")
        await poke(app, pilot, "sq0tdbl", "0x77")
        assert isinstance(app.source, LiveSource)
        path = tmp_path / "by-hand.nvmetrace"
        events = app.source.save(path)
        assert events == len(app.source)
    result = verify(path)
    assert result.ok, result.divergence


# -- the forms at 80 columns --------------------------------------------------------------------
async def hints_on_screen(app: NvmeScopeApp, pilot: Any, scroller: str) -> dict[str, str]:
    """Each number's hint as the screen shows it (its lines joined), scrolled into view."""
    form = app.screen.query_one(scroller)
    shown: dict[str, str] = {}
    for row in app.screen.query(NumberRow):
        if not all(node.display for node in row.ancestors_with_self if hasattr(node, "display")):
            continue  # a row the form does not show (PRPs typed by hand, say)
        form.scroll_to_widget(row, animate=False, immediate=True)
        await press(pilot)
        hint = next(h for h in row.query(".compose-hint") if h.display)
        lines, box = screen_lines(app), hint.content_region
        shown[row.field_name] = " ".join(
            line[box.x : box.right].strip() for line in lines[box.y : box.bottom]
        ).strip()
        assert shown[row.field_name] == str(hint.render()), row.field_name
    return shown


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x50"])
async def test_every_hint_of_the_three_forms_is_whole_on_screen_field_name_first(
    size: tuple[int, int],
) -> None:
    async with after_bringup(size) as (app, pilot):
        for preset in ("identify-ctrl", "write", "smart-log"):
            await open_form(app, pilot, preset)
            shown = await hints_on_screen(app, pilot, "#compose-form")
            assert shown["cns" if preset == "identify-ctrl" else "nsid"]
            await press(pilot, "escape")
        assert shown["numd"] == ("Number of Dwords, 0's based · CDW11 bits 15:0 + CDW10 bits 31:16")
        await open_poke(app, pilot, "cc")
        assert (await hints_on_screen(app, pilot, "#poke-form"))["offset"]
        await press(pilot, "escape")
        await press(pilot, "F")
        app.screen.query_one("#fault-action", Select).value = "force_status"
        await press(pilot)
        shown = await hints_on_screen(app, pilot, "#poke-form")
        assert shown["status"].startswith("0..32767: the 15-bit Status Field")


# -- snapshots -----------------------------------------------------------------------------------
def _snapshot_app() -> NvmeScopeApp:
    source = finished_source()
    return NvmeScopeApp(source, at=len(source) - 1, marks=Marks())


async def _open_write_form(pilot: Any) -> None:
    await press(pilot, "i")
    pilot.app.screen.query_one("#compose-preset", Select).value = "write"
    await press(pilot)


def test_snapshot_of_the_compose_form_at_160x50(snap_compare: Any) -> None:
    assert snap_compare(_snapshot_app(), terminal_size=WIDE, run_before=_open_write_form)


def test_snapshot_of_the_compose_form_at_80x24(snap_compare: Any) -> None:
    assert snap_compare(_snapshot_app(), terminal_size=NARROW, run_before=_open_write_form)


async def test_compose_is_refused_before_the_host_has_an_sq_and_says_why() -> None:
    async with live_app(at=0) as (app, pilot):
        said: list[str] = []
        app.notify = lambda message, **kw: said.append(str(message))  # type: ignore[method-assign]
        await open_form(app, pilot, "identify-ctrl")
        before = len(app.source)
        await press(pilot, "ctrl+s")
        assert isinstance(app.screen, ComposeScreen)  # not sent: the form stays
        assert any("SQ0 does not exist on the host yet" in s for s in said)
        assert "does not exist" in str(app.screen.query_one("#compose-preview", Static).render())
        assert len(app.source) == before and app.followed is None


async def test_the_command_followed_is_the_one_composed_not_the_scenarios_of_that_opcode() -> None:
    # at event 93 the driver has said it builds its own Identify SQE (event 94)
    async with live_app(at=93) as (app, pilot):
        await open_form(app, pilot, "identify-ctrl")
        await press(pilot, "ctrl+s")
        f = app.followed
        assert f is not None
        notes = [e for e in events_of(app, 0)[: f.first] if e.kind == "host_step"]
        assert any(e.step == "compose" for e in notes)
        sqe = app.source.event(f.first)
        assert sqe.kind == "mem_write" and int.from_bytes(sqe.data[2:4], "little") == f.cid
        # the scenario's own Identify SQE (its build_sqe note was event 93) came first
        earlier = [
            e for e in events_of(app, 94)[: f.first - 94]
            if e.kind == "mem_write" and len(e.data) == 64 and e.data[0] == 0x06
        ]  # fmt: skip
        assert earlier and int.from_bytes(earlier[0].data[2:4], "little") != f.cid
