"""Faults from the TUI: a fault armed in the form is an event of the timeline, the device
misbehaves as it says, the form lists what is armed as of the cursor, refuses an argument
out of its range at the field, and a session with faults replays with --verify."""

from __future__ import annotations

from typing import Any

from test_tui_compose import after_bringup, completion, events_of, open_form, type_into
from textual.widgets import Input, Select, Static
from tui import RECORDINGS, press, recorded_app

from nvmescope.ui import LiveSource, NvmeScopeApp
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
