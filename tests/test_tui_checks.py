"""The Checks panel: the protocol findings grouped by severity, Enter goes to the event."""

from __future__ import annotations

from tui import NARROW, RECORDINGS, live_app, press, recorded_app, settle

from nvmescope.trace import open_recording
from nvmescope.trace.checks import SEVERITIES, Finding, run_checks
from nvmescope.ui.widgets import ChecksPanel

ERRORS = RECORDINGS / "errors.nvmetrace"


def findings_of(path) -> list[Finding]:
    with open_recording(path) as rec:
        return run_checks(rec.events())


def panel_of(app) -> ChecksPanel:
    panel = app.main.panels["checks"]
    assert isinstance(panel, ChecksPanel)
    return panel


def expected_rows(findings: list[Finding]) -> list[tuple[str, int | None]]:
    """(severity, event of the finding or None for the group's header), in list order."""
    out: list[tuple[str, int | None]] = []
    for severity in SEVERITIES:
        out.append((severity, None))
        out += [(severity, f.index) for f in sorted(findings, key=lambda f: f.index)
                if f.severity == severity]  # fmt: skip
    return out


async def test_the_findings_of_the_errors_recording_are_grouped_by_severity_with_counts():
    findings = findings_of(ERRORS)
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITIES}
    assert counts["error"] and counts["warning"] and counts["note"]
    async with recorded_app(ERRORS) as (app, pilot):
        await press(pilot, "8")
        view = panel_of(app).list
        got = [(s, None if f is None else f.index) for s, f in view.rows]
        assert got == expected_rows(findings)
        headers = [view.row_text(k) for k, (_, f) in enumerate(view.rows) if f is None]
        assert "errors" in headers[0] and f"({counts['error']})" in headers[0]
        assert "warnings" in headers[1] and f"({counts['warning']})" in headers[1]
        assert "notes" in headers[2] and f"({counts['note']})" in headers[2]
        for k, (_, f) in enumerate(view.rows):
            if f is not None:
                text = view.row_text(k)
                assert str(f.index) in text and f.check in text and f.message[:30] in text


async def test_enter_on_a_finding_moves_the_cursor_to_its_event():
    findings = findings_of(ERRORS)
    async with recorded_app(ERRORS) as (app, pilot):
        await press(pilot, "8")
        panel = panel_of(app)
        rows = panel.list.rows
        target = next(k for k, (s, f) in enumerate(rows) if s == "warning" and f is not None)
        await press(pilot, "home", *["down"] * target)
        finding = rows[target][1]
        assert finding in findings
        assert f"event {finding.index}" in panel.detail.render().plain
        await press(pilot, "enter")
        assert app.cursor == finding.index
        # the finding at the cursor is marked, and the list's cursor stays on it
        assert panel.list.row_text(target).startswith("▶")
        assert panel.list.cursor_row == target


async def test_the_finding_of_the_current_event_is_marked_when_the_cursor_gets_there():
    findings = findings_of(ERRORS)
    last = max(findings, key=lambda f: f.index)
    async with recorded_app(ERRORS, size=NARROW) as (app, pilot):
        await press(pilot, "8")
        panel = panel_of(app)
        assert not any(panel.list.row_text(k).startswith("▶") for k in range(len(panel.list.rows)))
        app.goto(last.index)
        await settle(pilot)
        marked = [k for k in range(len(panel.list.rows)) if panel.list.row_text(k).startswith("▶")]
        assert marked and all(panel.list.rows[k][1].index == last.index for k in marked)
        assert panel.list.cursor_row in marked


async def test_enter_on_a_group_header_folds_and_unfolds_it():
    findings = findings_of(ERRORS)
    warnings = sum(f.severity == "warning" for f in findings)
    async with recorded_app(ERRORS) as (app, pilot):
        await press(pilot, "8")
        view = panel_of(app).list
        before = len(view.rows)
        header = next(k for k, (s, f) in enumerate(view.rows) if s == "warning" and f is None)
        await press(pilot, "home", *["down"] * header, "enter")
        assert len(view.rows) == before - warnings
        assert view.row_text(view.cursor_row).startswith("▸")
        cursor = app.cursor
        await press(pilot, "enter")
        assert len(view.rows) == before and app.cursor == cursor


async def test_next_and_previous_finding_go_to_the_events_with_findings():
    findings = sorted({f.index for f in findings_of(ERRORS)})
    async with recorded_app(ERRORS, at=findings[1]) as (app, pilot):
        panel = panel_of(app)
        await panel.run_action("next_finding(1)")
        await settle(pilot)
        assert app.cursor == findings[2]
        await panel.run_action("next_finding(-1)")
        await settle(pilot)
        await panel.run_action("next_finding(-1)")
        await settle(pilot)
        assert app.cursor == findings[0]


async def test_a_live_session_without_problems_has_no_findings():
    async with live_app("identify") as (app, pilot):
        await press(pilot, "8", "c")
        panel = panel_of(app)
        assert app.source.finished
        assert panel.findings == []
        assert panel.detail.render().plain == "no findings"


def test_every_palette_entry_of_the_checks_panel_is_an_action():
    for _, _, action in ChecksPanel.PALETTE:
        assert callable(getattr(ChecksPanel, f"action_{action.split('(')[0]}"))


async def test_a_group_header_counts_its_findings_in_words_that_agree():
    """One error is "1 error: Enter folds it", two are "2 errors: Enter folds them"."""
    for path, count in ((RECORDINGS / "prp-list.nvmetrace", 1), (ERRORS, 2)):
        assert sum(f.severity == "error" for f in findings_of(path)) == count
        async with recorded_app(path) as (app, pilot):
            await press(pilot, "8", "home")
            words = panel_of(app).detail.render().plain
            assert words == (
                "1 error: Enter folds it" if count == 1 else "2 errors: Enter folds them"
            )
