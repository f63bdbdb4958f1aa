"""Faults from the TUI: a fault armed or cleared in the form is an event of the timeline,
the device misbehaves as it says (each of the five faults), the form lists what is armed as
of the cursor, refuses an argument out of its range at the field, and a session with
faults, saved with r or by the source, replays with --verify."""

from __future__ import annotations

from typing import Any

from test_tui_compose import after_bringup, completion, events_of, open_form, type_into
from textual.widgets import Button, Input, Select, Static
from tui import NARROW, RECORDINGS, WIDE, finished_source, press, recorded_app, save_with_r

from nvmescope.ui import LiveSource, NvmeScopeApp
from nvmescope.ui.marks import Marks
from nvmescope.ui.screens.faults import FaultScreen


async def arm(app: NvmeScopeApp, pilot: Any, action: str, **args: str) -> int:
    await press(pilot, "F")
    screen = app.screen
    assert isinstance(screen, FaultScreen)
    screen.query_one("#fault-action", Select).value = action
    await press(pilot)
    for name, text in args.items():
        await type_into(pilot, screen.query_one(f"#fa-{name}", Input), text)
    start = len(app.source)
    await press(pilot, "ctrl+s")
    assert not isinstance(app.screen, FaultScreen)
    event = app.source.event(app.cursor)
    assert event.kind == "fault" and event.action == action and event.armed
    return start


async def clear(app: NvmeScopeApp, pilot: Any, action: str, **args: str) -> int:
    """Clear a fault with the form's Clear button; returns where its events start."""
    await press(pilot, "F")
    screen = app.screen
    assert isinstance(screen, FaultScreen)
    screen.query_one("#fault-action", Select).value = action
    await press(pilot)
    for name, text in args.items():
        await type_into(pilot, screen.query_one(f"#fa-{name}", Input), text)
    start = len(app.source)
    screen.query_one("#fault-clear", Button).press()
    await press(pilot)
    assert not isinstance(app.screen, FaultScreen)
    event = app.source.event(start)
    assert event.kind == "fault" and event.action == action and not event.armed
    return start


async def step_to(app: NvmeScopeApp, pilot: Any, kind: str) -> Any:
    """Step the live session until the cursor is on an event of ``kind``."""
    while app.source.event(app.cursor).kind != kind:
        await press(pilot, "s")
    return app.source.event(app.cursor)


async def send_identify(app: NvmeScopeApp, pilot: Any) -> int:
    await open_form(app, pilot, "identify-ctrl")
    start = len(app.source)
    await press(pilot, "ctrl+s", "c")
    return start


async def test_a_forced_status_is_what_the_command_completes_with() -> None:
    async with after_bringup() as (app, pilot):
        await arm(app, pilot, "force_status", status="0x06", count="1")
        start = await send_identify(app, pilot)
        kinds = [e.kind for e in events_of(app, start)]
        assert "fault_status_forced" in kinds and "dma_write" not in kinds
        assert completion(app, start).status & 0x7FF == 0x06
        # used up: the next one succeeds
        start = await send_identify(app, pilot)
        assert completion(app, start).status == 0


async def test_a_dropped_interrupt_never_reaches_the_host() -> None:
    async with after_bringup() as (app, pilot):
        await arm(app, pilot, "drop_interrupt", count="1")
        await open_form(app, pilot, "identify-ctrl")
        start = len(app.source)
        await press(pilot, "ctrl+s")
        while app.source.event(app.cursor).kind not in ("fault_irq_dropped", "host_irq"):
            await press(pilot, "s")
        assert app.source.event(app.cursor).kind == "fault_irq_dropped"
        assert "cqe_post" in [e.kind for e in events_of(app, start)]


async def test_the_form_lists_the_faults_armed_as_of_the_cursor() -> None:
    async with after_bringup() as (app, pilot):
        await arm(app, pilot, "stop_fetch", sqid="1")
        await press(pilot, "F")
        listed = str(app.screen.query_one("#poke-preview", Static).render())
        assert "none" not in listed and "1" in listed
        await press(pilot, "escape", "S")  # one event back: before the fault
        await press(pilot, "F")
        assert "none" in str(app.screen.query_one("#poke-preview", Static).render())
        await press(pilot, "escape")


async def test_an_argument_out_of_its_range_is_refused_at_the_field() -> None:
    async with after_bringup() as (app, pilot):
        await press(pilot, "F")
        screen = app.screen
        assert isinstance(screen, FaultScreen)
        screen.query_one("#fault-action", Select).value = "mask_vector"
        await press(pilot)
        await type_into(pilot, screen.query_one("#fa-vector", Input), "5000")
        shown = [str(s.render()) for s in screen.query(".compose-error") if s.display]
        assert len(shown) == 1 and "vector" in shown[0]
        before = len(app.source)
        await press(pilot, "ctrl+s")
        assert app.screen is screen and len(app.source) == before


async def test_a_status_is_picked_by_name_or_typed_as_a_number_one_or_the_other() -> None:
    async with after_bringup() as (app, pilot):
        await press(pilot, "F")
        screen = app.screen
        assert isinstance(screen, FaultScreen)
        screen.query_one("#fault-action", Select).value = "force_status"
        await press(pilot)
        pick, raw = screen.query_one("#fp-status", Select), screen.query_one("#fa-status", Input)
        names = [str(words) for words, _ in pick._options]
        for title in ("Internal Error", "Data Transfer Error", "Namespace Not Ready",
                      "Invalid Field in Command", "Invalid Namespace or Format",
                      "LBA Out of Range"):  # fmt: skip
            assert any(n.startswith(f"{title} (SCT ") for n in names), title
        assert pick.value == 0x06 and raw.value == "0x6"  # the first one, to start with

        def preview() -> str:
            return str(screen.query_one("#poke-preview", Static).render())

        # a name picked: its value in the field, its words in the preview
        pick.value = 0x80
        await press(pilot)
        assert raw.value == "0x80" and "LBA Out of Range (SCT 0h SC 80h)" in preview()
        # a value typed that has a name: the list shows it
        await type_into(pilot, raw, "0x82")
        assert pick.value == 0x82
        # one that has none (Namespace Not Ready with DNR): "another value"; the words say it
        await type_into(pilot, raw, "0x4082")
        assert pick.value == "typed" and "Namespace Not Ready (SCT 0h SC 82h, DNR)" in preview()
        # "another value" picked: the cursor goes to the field, to type it
        pick.value = 0x06
        await press(pilot)
        pick.value = "typed"
        await press(pilot)
        assert screen.focused is raw and raw.value == "0x6"
        # not a number: refused at the field, nothing armed
        await type_into(pilot, raw, "zz")
        assert pick.value == "typed" and "'zz' is not a number" in screen.errors["status"]
        before = len(app.source)
        await press(pilot, "ctrl+s")
        assert app.screen is screen and len(app.source) == before
        # picked by name, armed: the next command completes with it
        pick.value = 0x0B
        await press(pilot)
        assert raw.value == "0xb" and not screen.errors
        await press(pilot, "ctrl+s")
        event = app.source.event(app.cursor)
        assert event.kind == "fault" and event.status == 0x0B
        start = await send_identify(app, pilot)
        assert completion(app, start).status & 0x7FFF == 0x0B  # Invalid Namespace or Format


async def test_a_recording_cannot_be_given_a_fault() -> None:
    async with recorded_app(RECORDINGS / "identify.nvmetrace") as (app, pilot):
        said: list[str] = []
        app.notify = lambda message, **kw: said.append(str(message))  # type: ignore[method-assign]
        await press(pilot, "F")
        assert not isinstance(app.screen, FaultScreen)
        assert said and "works in a live session" in said[0]


async def test_a_session_with_faults_replays_with_verify(tmp_path: Any) -> None:
    from nvmescope.trace.replay import verify

    async with after_bringup() as (app, pilot):
        await arm(app, pilot, "force_status", status="0x82")
        await send_identify(app, pilot)
        await arm(app, pilot, "delay_completions", **{"delay_ns": "5000"})
        await send_identify(app, pilot)
        assert isinstance(app.source, LiveSource)
        path = tmp_path / "faults.nvmetrace"
        app.source.save(path)
    result = verify(path)
    assert result.ok, result.divergence


async def test_a_masked_vector_holds_the_interrupt_in_its_pending_bit_until_cleared(
    tmp_path: Any,
) -> None:
    from nvmescope.trace import verify

    async with after_bringup() as (app, pilot):
        await arm(app, pilot, "mask_vector", vector="0")  # the admin CQ's vector
        await open_form(app, pilot, "identify-ctrl")
        start = len(app.source)
        await press(pilot, "ctrl+s")
        held = await step_to(app, pilot, "irq_msix")
        # the CQE is posted, the message is not sent: the vector's Pending Bit is set
        assert held.vector == 0 and held.by_fault and held.pending and not held.delivered
        assert "cqe_post" in [e.kind for e in events_of(app, start)]
        assert app.moment.state.msix[0].pending  # type: ignore[union-attr]
        # clearing the fault sends the message at once, and the host takes it as usual
        cleared = await clear(app, pilot, "mask_vector", vector="0")
        await press(pilot, "c")
        later = events_of(app, cleared)
        sent = next(e for e in later if e.kind == "irq_msix")
        assert sent.vector == 0 and sent.delivered and not sent.by_fault
        assert completion(app, start).status == 0
        steps = [e.step for e in events_of(app, start) if e.kind == "host_step"]
        assert "timeout_polled" not in steps
        path = tmp_path / "mask-vector.nvmetrace"
        await save_with_r(pilot, path)
    result = verify(path)
    assert result.ok, result.divergence


async def test_a_stopped_sq_keeps_its_command_until_the_fault_is_cleared(tmp_path: Any) -> None:
    from nvmescope.trace import verify

    async with after_bringup() as (app, pilot):
        await arm(app, pilot, "stop_fetch", sqid="1")
        await open_form(app, pilot, "read")  # a Read on SQ1
        start = len(app.source)
        await press(pilot, "ctrl+s")
        stopped = await step_to(app, pilot, "fault_fetch_stopped")
        # the doorbell is taken as always; the device says the command waits, fetches nothing
        kinds = [e.kind for e in events_of(app, start)]
        assert "doorbell_sq" in kinds and "sqe_fetch" not in kinds
        assert stopped.sqid == 1 and stopped.waiting == 1
        # cleared before the command's timer fires: the device fetches what waits, and the
        # Read completes as if nothing had happened
        cleared = await clear(app, pilot, "stop_fetch", sqid="1")
        await press(pilot, "c")
        later = [e.kind for e in events_of(app, cleared)]
        assert later.index("sqe_fetch") < later.index("dma_write") < later.index("cqe_post")
        assert completion(app, start).status == 0
        steps = [e.step for e in events_of(app, start) if e.kind == "host_step"]
        assert not [s for s in steps if s.startswith("timeout")]
        path = tmp_path / "stop-fetch.nvmetrace"
        assert isinstance(app.source, LiveSource)
        app.source.save(path)
    result = verify(path)
    assert result.ok, result.divergence


# -- snapshots -----------------------------------------------------------------------------------
def _snapshot_app() -> NvmeScopeApp:
    source = finished_source()
    return NvmeScopeApp(source, at=len(source) - 1, marks=Marks())


async def _open_force_status(pilot: Any) -> None:
    await press(pilot, "F")
    pilot.app.screen.query_one("#fault-action", Select).value = "force_status"
    await press(pilot)


def test_snapshot_of_the_faults_form_forcing_a_status_at_160x50(snap_compare: Any) -> None:
    assert snap_compare(_snapshot_app(), terminal_size=WIDE, run_before=_open_force_status)


def test_snapshot_of_the_faults_form_forcing_a_status_at_80x24(snap_compare: Any) -> None:
    assert snap_compare(_snapshot_app(), terminal_size=NARROW, run_before=_open_force_status)
