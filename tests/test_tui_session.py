"""Live sessions and recordings are one thing to the panels; saving; the palette; warnings."""

from __future__ import annotations

from tui import (
    RECORDINGS,
    live_app,
    panel_lines,
    press,
    recorded_app,
    save_with_r,
    screen_lines,
    story_dma,
)

from nvmescope.trace import open_recording, record, verify
from nvmescope.ui.actions import ACTIONS, PANELS, bindings, palette_entries

IDENTIFY = RECORDINGS / "identify.nvmetrace"


async def test_r_saves_the_live_session_so_far_and_it_replays_with_verify(tmp_path):
    path = tmp_path / "saved.nvmetrace"
    async with live_app("identify") as (app, pilot):
        await press(pilot, *"s" * 40)
        assert len(app.source) == 41
        assert app.screen.id == "main"
        await save_with_r(pilot, path)
        assert app.screen.id == "main"
    rec = open_recording(path)
    assert rec.complete and len(rec) == 41 and rec.warnings == []
    assert rec.scenario == "identify"
    assert verify(rec).ok


async def test_saving_refuses_a_directory_a_missing_one_and_asks_before_overwriting(tmp_path):
    (tmp_path / "old.nvmetrace").write_bytes(b"old")
    async with live_app("identify") as (app, pilot):
        await press(pilot, "s")
        for target, words in (
            (tmp_path, "is a directory"),
            (tmp_path / "nope" / "x.nvmetrace", "no such directory"),
            ("/dev/null", "not a regular file"),
            (tmp_path / "old.nvmetrace", "Enter again to overwrite"),
        ):
            await save_with_r(pilot, target)
            assert app.screen.id == "save-prompt", target
            assert words in str(app.screen.query_one("#prompt-error").render())
            await press(pilot, "escape")
        assert (tmp_path / "old.nvmetrace").read_bytes() == b"old"
        await save_with_r(pilot, tmp_path / "old.nvmetrace")
        await press(pilot, "enter")  # the second Enter overwrites
        assert app.screen.id == "main"
    assert len(open_recording(tmp_path / "old.nvmetrace")) == 2


async def test_saving_refuses_a_name_too_long_and_the_sessions_own_file(tmp_path):
    """Neither crashes the app nor loses the session: a name the system cannot take is a
    prompt error, and so is the file the live session is being recorded to."""
    async with live_app("identify") as (app, pilot):
        await press(pilot, *"s" * 5)
        own = app.source.recorder.writer.path
        for target, words in (
            (tmp_path / ("a" * 300), "cannot use"),
            (own, "is the file this recording is written to"),
            ("/proc/version", "a new file cannot be made in /proc"),
        ):
            await save_with_r(pilot, target)
            if target in (own, "/proc/version"):
                await press(pilot, "enter")  # past "exists: Enter again to overwrite it"
            assert app.screen.id == "save-prompt", target
            assert words in str(app.screen.query_one("#prompt-error").render())
            await press(pilot, "escape")
        await press(pilot, *"s" * 5)
        assert len(app.source) == 11
        app.source.recorder.writer.flush()
        with open_recording(own) as rec:  # the live file was never replaced by a copy
            assert len(rec) == 11 and rec.scenario == "identify"


async def test_a_recording_cannot_be_saved_again_and_says_where_it_is():
    async with recorded_app(IDENTIFY) as (app, pilot):
        await press(pilot, "r")
        assert app.screen.id == "main"
        assert any("a recording already" in n.message for n in app._notifications)


async def test_a_live_session_and_its_saved_recording_show_the_same_panels(tmp_path):
    path = tmp_path / "identify.nvmetrace"
    at = story_dma()  # the Identify Controller DMA of the story
    seen: dict[str, list[str]] = {}
    async with live_app("identify") as (app, pilot):
        await press(pilot, "c")  # to the end, so the command view and checks are complete
        await save_with_r(pilot, path)
        app.goto(0)  # the same way to the same event in both: the same last stop, scroll
        app.goto(at)
        for number, (pid, _, _) in enumerate(PANELS, start=1):
            await press(pilot, str(number))
            seen[pid] = panel_lines(app, pid)
    async with recorded_app(path) as (app, pilot):
        app.goto(0)
        app.goto(at)
        for number, (pid, _, _) in enumerate(PANELS, start=1):
            await press(pilot, str(number))
            assert panel_lines(app, pid) == seen[pid], pid
    assert any(line.strip() for line in seen["timeline"])


async def test_a_recording_cut_short_opens_with_its_warning_in_the_app(tmp_path):
    whole = tmp_path / "whole.nvmetrace"
    record("identify", whole, chunk_events=32)
    data = whole.read_bytes()
    cut = tmp_path / "cut.nvmetrace"
    cut.write_bytes(data[: len(data) // 2])
    async with recorded_app(cut) as (app, pilot):
        assert len(app.source) > 0
        assert any("not closed" in n.message or "damaged" in n.message for n in app._notifications)
        assert "partial: read up to the damage" in screen_lines(app)[-2]
        await press(pilot, "G")
        assert app.cursor == len(app.source) - 1


async def test_marks_that_could_not_be_loaded_are_said_in_the_status_bar(tmp_path):
    path = tmp_path / "whole.nvmetrace"
    record("identify", path)
    (tmp_path / "whole.nvmetrace.marks.json").write_bytes(b"junk")
    async with recorded_app(path, sidecar=True) as (app, pilot):
        status = screen_lines(app)[-2]
        assert "marks not loaded" in status and "partial" not in status


def test_every_action_has_a_key_and_a_palette_entry():
    keys = {b.key for b in bindings()}
    titles = {title for title, _, _ in palette_entries()}
    actions = {action for _, _, action in palette_entries()}
    for a in ACTIONS:
        assert a.keys in keys and a.title in titles and a.action in actions
    for number, (pid, _title, _) in enumerate(PANELS, start=1):
        assert str(number) in keys and f"focus_panel('{pid}')" in actions


async def test_the_palette_runs_an_action():
    async with recorded_app(IDENTIFY) as (app, pilot):
        await press(pilot, "ctrl+p")
        await pilot.press(*"Last event")
        await press(pilot, "enter")
        assert app.cursor == len(app.source) - 1
        commands = [c.title for c in app.get_system_commands(app.screen)]
        for title, _, _ in palette_entries():
            assert title in commands
        for panel in app.main.panels.values():
            for title, _, _ in getattr(panel, "PALETTE", ()):
                assert title in commands


async def test_every_palette_action_runs_without_error_in_both_kinds_of_session():
    for opener in (lambda: recorded_app(IDENTIFY, at=200), lambda: live_app("identify", at=50)):
        async with opener() as (app, pilot):
            for _title, _help, action in palette_entries():
                if action == "quit":
                    continue
                await app.run_action(action)
                await press(pilot)
                while app.screen.id != "main":
                    await press(pilot, "escape")
            assert app.return_code is None  # still running: nothing crashed it


async def test_a_damaged_chunk_in_the_middle_is_reported_and_never_crashes_the_app(tmp_path):
    from nvmescope.trace.format import FRAME_HEADER

    path = tmp_path / "damaged.nvmetrace"
    record("identify", path, chunk_events=32)
    with open_recording(path) as rec:
        chunk = rec._chunks[5]
    data = bytearray(path.read_bytes())
    data[chunk.offset + FRAME_HEADER.size + 10] ^= 0xFF  # the index still says all is well
    path.write_bytes(bytes(data))
    async with recorded_app(path, at=150) as (app, pilot):
        await press(pilot, "G")
        assert app.cursor == 150  # the state past the damage cannot be folded: it stays
        assert any("cannot be shown" in n.message for n in app._notifications)
        assert any("damaged" in n.message for n in app._notifications)  # the checks stop there
        app.timeline.show_row(chunk.first + 3)
        await press(pilot)
        assert any(f"{chunk.first + 3} cannot be read" in line for line in screen_lines(app))
        await press(pilot, "s", "S")
        assert app.cursor == 150
        await press(pilot, "slash")
        await pilot.press(*"cqe_post")
        await press(pilot, "enter")
        assert any("the recording is damaged" in n.message for n in app._notifications)
        assert app.return_code is None


async def test_an_idle_app_collects_garbage_once_per_pause_not_on_every_tick(monkeypatch):
    import nvmescope.ui.app as app_module

    full: list[int] = []
    real = app_module.gc.collect
    monkeypatch.setattr(
        app_module.gc,
        "collect",
        lambda generation=2: (
            (full.append(generation) if generation == 2 else None) or real(generation)
        ),
    )
    async with live_app("identify") as (app, pilot):
        await press(pilot, "s", "s")
        await pilot.pause(app_module.GC_PAUSE_S * 5)  # several ticks of the idle timer
        after_pause = len(full)
        await pilot.pause(app_module.GC_PAUSE_S * 4)
        assert after_pause >= 1  # the pause after the keys was used to collect
        assert len(full) == after_pause  # and an app left alone stays idle
        await press(pilot, "s")
        await pilot.pause(app_module.GC_PAUSE_S * 3)
        assert len(full) == after_pause + 1
