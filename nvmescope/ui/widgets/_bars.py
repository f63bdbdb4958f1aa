"""The two one-line bars of the main screen: the panel bar on top and the status bar.

The panel bar names every panel with its number key; the one with focus is
highlighted, the ones on screen are bright, the others dim; a click chooses
one. The status bar says where the cursor is (event, virtual time, who and
what), whether a live session runs, the filter, the breakpoints and the
protocol checks' counts by severity.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from nvmescope.ui.actions import PANELS
from nvmescope.ui.widgets._panel import set_text
from nvmescope.ui.widgets._textlines import TextLines


class PanelBar(Static):
    """``1 Timeline  2 Registers ...``; see the module docstring."""

    COMPONENT_CLASSES = {
        "panelbar--active",
        "panelbar--shown",
        "panelbar--hidden",
        "panelbar--title",
    }

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.title = title
        self.active = "timeline"
        self.visible_panels: frozenset[str] = frozenset()

    def set_state(self, active: str, visible: frozenset[str]) -> None:
        self.active = active
        self.visible_panels = visible
        self.refresh()

    def render(self) -> Text:
        width = self.size.width or 80
        long = sum(len(title) + 4 for _, title, _ in PANELS) + len(self.title) + 2 <= width
        text = Text(no_wrap=True, overflow="ellipsis")
        for number, (pid, title, short) in enumerate(PANELS, start=1):
            if pid == self.active:
                style = self.get_component_rich_style("panelbar--active", partial=True)
            elif pid in self.visible_panels:
                style = self.get_component_rich_style("panelbar--shown", partial=True)
            else:
                style = self.get_component_rich_style("panelbar--hidden", partial=True)
            label = f" {number} {title if long else short} "
            text.append(label, style=style + _click(pid))
            text.append(" ")
        room = width - text.cell_len
        if room > 4:
            title = self.title if len(self.title) < room else self.title[: room - 2] + "…"
            text.append(" " * max(0, room - len(title) - 1))
            text.append(title, style=self.get_component_rich_style("panelbar--title", partial=True))
        return text


def _click(pid: str) -> object:
    from rich.style import Style

    return Style(meta={"@click": f"screen.focus_panel('{pid}')"})


class StatusBar(TextLines):
    """One line of facts about the cursor and the session; the app composes it."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)

    def show(self, text: Text) -> None:
        set_text(self, text)
