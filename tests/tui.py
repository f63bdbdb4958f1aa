"""Helpers for the TUI's tests: an app on a live scenario or on a recording, driven headless.

    async with live_app("identify") as (app, pilot):
        await press(pilot, "s", "s")
        assert app.cursor == 2

``press`` waits until the keys were handled, every worker they started has
finished and the screen was redrawn, so a test reads the state the user sees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from nvmescope.emulator import ControllerConfig
from nvmescope.ui import LiveSource, NvmeScopeApp, open_source
from nvmescope.ui.marks import Marks

RECORDINGS = Path(__file__).resolve().parent.parent / "recordings"
WIDE = (160, 50)
NARROW = (80, 24)


async def settle(pilot: Any) -> None:
    """Wait for workers, timers that were due and a redraw."""
    app = pilot.app
    for _ in range(200):
        await pilot.pause()
        await app.workers.wait_for_complete()
        if not app.running and not app.busy:
            break
        await pilot.pause(0.02)
    await pilot.pause()


async def press(pilot: Any, *keys: str) -> None:
    """Press each key and wait until it was handled (with no keys: just wait)."""
    for key in keys:
        await pilot.press(key)
        await settle(pilot)
    if not keys:
        await settle(pilot)


async def save_with_r(pilot: Any, path: str | Path) -> None:
    """Save the live session with ``r``, as a user does: the path typed, then Enter."""
    await press(pilot, "r")
    pilot.app.screen.query_one("#prompt-input").value = str(path)
    await press(pilot, "enter")


def finished_source(
    scenario: str = "identify",
    config: ControllerConfig | None = None,
    params: dict[str, int] | None = None,
) -> LiveSource:
    """A live session run until its scenario is done."""
    source = LiveSource(scenario, config, params)
    while not source.finished:
        source.run(1.0)
    return source


@asynccontextmanager
async def live_app(
    scenario: str = "identify",
    *,
    config: ControllerConfig | None = None,
    params: dict[str, int] | None = None,
    size: tuple[int, int] = WIDE,
    at: int = 0,
    to_end: bool = False,
) -> AsyncIterator[tuple[NvmeScopeApp, Any]]:
    """The app on a live session at event ``at`` (``to_end``: run to its end, and open
    on its last event: bring-up done, the host idle, ready for commands by hand)."""
    source = (
        finished_source(scenario, config, params)
        if to_end
        else LiveSource(scenario, config, params)
    )
    if to_end:
        at = len(source) - 1
    elif at:
        source.step(at + 1 - len(source))
    app = NvmeScopeApp(source, at=at, marks=Marks())
    try:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            yield app, pilot
    finally:
        source.close()


@asynccontextmanager
async def recorded_app(
    path: str | Path = RECORDINGS / "identify.nvmetrace",
    *,
    size: tuple[int, int] = WIDE,
    at: int = 0,
    marks: Marks | None = None,
    sidecar: bool = False,
) -> AsyncIterator[tuple[NvmeScopeApp, Any]]:
    """The app on a recording. Its bookmarks and breakpoints stay in memory unless
    ``sidecar`` (then they are read from and written beside the file, as for a user:
    use a copy in tmp_path, never a file of recordings/)."""
    source = open_source(path)
    if marks is None and not sidecar:
        marks = Marks()
    app = NvmeScopeApp(source, at=at, marks=marks)
    try:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            yield app, pilot
    finally:
        source.close()


def screen_lines(app: NvmeScopeApp) -> list[str]:
    """The text on the screen, one string a line (what a user reads, without colours)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def panel_lines(app: NvmeScopeApp, panel_id: str) -> list[str]:
    """The text inside one panel's region of the screen."""
    panel = app.main.panels[panel_id]
    region = panel.content_region
    lines = screen_lines(app)
    return [line[region.x : region.right] for line in lines[region.y : region.bottom]]


def story_dma(path: str | Path = RECORDINGS / "identify.nvmetrace") -> int:
    """The event where the identify story's Identify Controller data is DMA'd to the host
    (the last ``dma_write`` of the recording): found, so that a note added to the
    scenario does not move a test off it."""
    from nvmescope.trace import open_recording

    with open_recording(path) as rec:
        return max(n for n, e in enumerate(rec.events()) if e.kind == "dma_write")
