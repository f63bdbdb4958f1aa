"""The main screen as a user sees it, drawn and compared with the stored SVG.

In the middle of the Identify story (the recording of the identify scenario at
its last DMA, the Identify Controller data DMA'd to the host), at 160x50 (timeline,
registers, queues and detail together) and at 80x24 (one panel at a time).
Deterministic: Textual pinned, fixed sizes, no clock, no blinking cursor, the
command view and checks computed before the picture, no notification on screen.
Update on purpose with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from tui import NARROW, RECORDINGS, WIDE, story_dma

from nvmescope.ui import NvmeScopeApp, open_source
from nvmescope.ui.marks import Marks

IDENTIFY = RECORDINGS / "identify.nvmetrace"
STORY_DMA = story_dma(IDENTIFY)


def _app() -> NvmeScopeApp:
    return NvmeScopeApp(open_source(IDENTIFY), at=STORY_DMA, marks=Marks())


async def _settled(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    assert pilot.app.cursor == STORY_DMA
    assert pilot.app.analysis is not None and pilot.app.analysis.finished


def test_the_main_screen_at_160x50_in_the_middle_of_the_identify_story(snap_compare):
    assert snap_compare(_app(), terminal_size=WIDE, run_before=_settled)


def test_the_main_screen_at_80x24_in_the_middle_of_the_identify_story(snap_compare):
    assert snap_compare(_app(), terminal_size=NARROW, run_before=_settled)


def test_the_detail_panel_at_80x24_on_the_identify_controller_dma(snap_compare):
    assert snap_compare(_app(), press=["4"], terminal_size=NARROW, run_before=_settled)
