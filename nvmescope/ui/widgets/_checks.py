"""The Checks panel: the protocol findings ("expert info", as Wireshark calls it).

The findings of :mod:`nvmescope.trace.checks` grouped by severity, errors first,
then warnings, then notes; each group has a header row with its count (Enter
on a header folds or unfolds the group). A finding's row names its event, its
check and its sentence; the line under the list says the whole sentence of the
finding under the cursor. Enter on a finding puts the cursor on its event. The
finding of the current event is marked ``▶`` and the list's cursor goes to it.
The status bar already counts them; this is where you read them.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.strip import Strip
from textual.widgets import Static

from nvmescope.trace.checks import SEVERITIES, Finding
from nvmescope.ui.source import Analysis, Moment, Source
from nvmescope.ui.widgets._panel import Panel, set_text
from nvmescope.ui.widgets._rowview import RowView

COMPUTING = "running the protocol checks…"
#: a sign and a word for each severity's header
HEADINGS = {"error": ("✗", "errors"), "warning": ("⚠", "warnings"), "note": ("ℹ", "notes")}

#: a row: a group header (severity, None) or a finding (severity, the finding)
Row = tuple[str, Finding | None]


def group(findings: list[Finding], folded: frozenset[str] = frozenset()) -> list[Row]:
    """The rows of the list: a header per severity, then its findings in event order."""
    by: dict[str, list[Finding]] = {s: [] for s in SEVERITIES}
    for f in findings:
        by.setdefault(f.severity, []).append(f)
    rows: list[Row] = []
    for severity, items in by.items():
        rows.append((severity, None))
        if severity not in folded:
            items.sort(key=lambda f: (f.index, f.seq))
            rows.extend((severity, f) for f in items)
    return rows


class FindingList(RowView):
    """The rows of the Checks panel (see the module docstring)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "findinglist--header",
        "findinglist--error",
        "findinglist--warning",
        "findinglist--note",
        "findinglist--index",
        "findinglist--check",
        "findinglist--message",
        "findinglist--current",
        "findinglist--mark",
        "findinglist--cursor",
        "findinglist--cursor-blurred",
    }

    def __init__(self, source: Source, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        self.rows: list[Row] = []
        self.counts: dict[str, int] = {s: 0 for s in SEVERITIES}
        self.folded: frozenset[str] = frozenset()
        #: the event the app's cursor is on
        self.index = -1

    def set_rows(self, rows: list[Row], counts: dict[str, int]) -> None:
        self.rows = rows
        self.counts = counts
        self.set_row_count(len(rows))
        self.invalidate()

    def set_index(self, index: int) -> None:
        if index != self.index:
            self.index = index
            self.invalidate()

    def current_rows(self) -> list[int]:
        """Rows of the findings about the current event."""
        return [k for k, (_, f) in enumerate(self.rows) if f is not None and f.index == self.index]

    # -- drawing ---------------------------------------------------------------------------
    def render_row(self, row: int, width: int, selected: bool) -> Strip:
        severity, finding = self.rows[row]
        st = self._style
        tone = st(severity) if severity in HEADINGS else Style()
        if finding is None:
            sign, words = HEADINGS.get(severity, ("?", severity))
            count = self.counts.get(severity, 0)
            fold = "▸" if severity in self.folded else "▾"
            text = f"{fold} {sign} {words} ({count})" if count else f"  {sign} {words}: none"
            segments = [Segment(text, st("header") + tone)]
        else:
            digits = len(str(max(1, len(self.source) - 1)))
            current = finding.index == self.index
            base = st("current") if current else Style()
            segments = [
                Segment("▶ " if current else "  ", st("mark")),
                Segment(f"{finding.index:>{digits}}", base + st("index")),
                Segment(" "),
                Segment(f"{finding.check:<22}", base + tone + st("check")),
                Segment(" "),
                Segment(finding.message, base + st("message")),
            ]
        return self.finish_row(segments, width, selected)


class ChecksPanel(Panel):
    """See the module docstring."""

    PANEL_ID = "checks"
    TITLE = "Checks"

    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        (
            "Go to the selected finding",
            "The cursor to the event the finding under the list's cursor is about (Enter)",
            "goto",
        ),
        (
            "Next finding after the cursor",
            "The cursor to the next event with a protocol finding",
            "next_finding(1)",
        ),
        (
            "Previous finding before the cursor",
            "The cursor to the previous event with a protocol finding",
            "next_finding(-1)",
        ),
        (
            "Fold or unfold the selected group of findings",
            "Hide or show the findings of one severity (Enter on its header)",
            "toggle_group",
        ),
    )

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self.list = FindingList(source, id="checks-list")
        self.detail = Static(COMPUTING, id="checks-detail", markup=False)
        self.findings: list[Finding] = []

    def compose(self) -> ComposeResult:
        yield self.list
        yield self.detail

    def focus_target(self) -> FindingList:
        return self.list

    # -- fed by the app ----------------------------------------------------------------------
    def update_analysis(self, analysis: Analysis) -> None:
        self.findings = analysis.findings()
        counts = {s: 0 for s in SEVERITIES}
        for f in self.findings:
            counts[f.severity] = counts.get(f.severity, 0) + 1
        self.list.set_rows(group(self.findings, self.list.folded), counts)
        self._follow_cursor()
        self._describe()

    def update_moment(self, moment: Moment) -> None:
        self.list.set_index(moment.index)
        self._follow_cursor()
        self._describe()

    def _follow_cursor(self) -> None:
        rows = self.list.current_rows()
        if rows and self.list.cursor_row not in rows:
            self.list.cursor_row = rows[0]

    def _describe(self) -> None:
        if self.analysis is None:
            set_text(self.detail, COMPUTING)
            return
        if not self.findings:
            done = self.analysis.finished or not self.source.live
            set_text(self.detail, "no findings" if done else "no findings so far")
            return
        row = self.list.cursor_row
        severity, finding = self.list.rows[row] if 0 <= row < len(self.list.rows) else ("", None)
        if finding is None:
            count = self.list.counts.get(severity, 0)
            words = HEADINGS.get(severity, ("", severity))[1]
            fold = "unfolds" if severity in self.list.folded else "folds"
            if count == 1:
                set_text(self.detail, f"1 {words.removesuffix('s')}: Enter {fold} it")
            else:
                set_text(self.detail, f"{count} {words}: Enter {fold} them")
            return
        unsaid = [str(seq) for seq in finding.related if f"seq {seq}" not in finding.message]
        related = f" (related: seq {', '.join(unsaid)})" if unsaid else ""
        set_text(
            self.detail,
            f"event {finding.index} · {finding.severity} {finding.check}: "
            f"{finding.message}{related}",
        )

    def on_row_view_highlighted(self, message: RowView.Highlighted) -> None:
        message.stop()
        self._describe()

    def on_row_view_chosen(self, message: RowView.Chosen) -> None:
        message.stop()
        self.choose(message.row)

    def choose(self, row: int) -> None:
        """Enter on a row: go to a finding's event, or fold / unfold a group."""
        if not 0 <= row < len(self.list.rows):
            return
        severity, finding = self.list.rows[row]
        if finding is None:
            self._toggle(severity)
        elif finding.index >= 0:
            self.post_message(Panel.Goto(finding.index))

    def _toggle(self, severity: str) -> None:
        self.list.folded = self.list.folded ^ {severity}
        self.list.set_rows(group(self.findings, self.list.folded), self.list.counts)
        header = next(
            (k for k, (s, f) in enumerate(self.list.rows) if s == severity and f is None), 0
        )
        self.list.cursor_row = header
        self._describe()

    # -- actions ------------------------------------------------------------------------------
    def action_goto(self) -> None:
        self.choose(self.list.cursor_row)

    def action_toggle_group(self) -> None:
        row = self.list.cursor_row
        if 0 <= row < len(self.list.rows):
            self._toggle(self.list.rows[row][0])

    def action_next_finding(self, direction: int) -> None:
        here = self.moment.index if self.moment is not None else -1
        findings = self.analysis.findings() if self.analysis is not None else []
        indexes = sorted({f.index for f in findings if f.index >= 0})
        if direction > 0:
            hit = next((i for i in indexes if i > here), None)
        else:
            hit = next((i for i in reversed(indexes) if i < here), None)
        if hit is None:
            where = "after" if direction > 0 else "before"
            self.app.notify(f"no finding {where} event {here}", timeout=3)
            return
        self.post_message(Panel.Goto(hit))
