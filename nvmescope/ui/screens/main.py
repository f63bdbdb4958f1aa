"""The main screen: every panel, laid out for the terminal's size.

Wide (at least 120 x 32): the timeline and, under it, one of queues, memory,
interrupts & PCI, commands and checks on the left; registers and the detail
pane on the right: timeline, registers, queues and detail together (from 150
columns the right column gets 45% of the width, below it 40%). Narrow:
one panel at a time, chosen with the number keys or the panel bar. Switching
never rebuilds a panel, so each keeps its scroll position and selection.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import DescendantFocus, Key, Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from nvmescope.ui.actions import PANELS
from nvmescope.ui.compositor import ChangedOnlyCompositor
from nvmescope.ui.screens.prompt import TYPED_BELOW
from nvmescope.ui.source import Analysis, Moment, Source
from nvmescope.ui.widgets import (
    ChecksPanel,
    CommandsPanel,
    DetailPanel,
    InterruptsPanel,
    LessonBar,
    MemoryPanel,
    Panel,
    PanelBar,
    QueuesPanel,
    RegistersPanel,
    StatusBar,
    TimelinePanel,
)

WIDE_WIDTH = 120
WIDE_HEIGHT = 32
#: from this width on, the right column (registers, detail) gets 45% of the screen
ROOMY_WIDTH = 150
#: the panels that share the slot under the timeline in the wide layout
GROUP = ("queues", "memory", "interrupts", "commands", "checks")
ALWAYS_WIDE = ("timeline", "registers", "detail")


class MainScreen(Screen[None]):
    """See the module docstring."""

    def __init__(self, source: Source) -> None:
        super().__init__(id="main")
        # a step repaints the widgets it changed, not every widget on the screen
        self._compositor = ChangedOnlyCompositor()
        self.source = source
        self.active = "timeline"
        self.group_choice = "queues"
        self.wide = True
        #: presentation mode: the timeline and one panel (for a projector)
        self.present = False
        self.panels: dict[str, Panel] = {}

    def compose(self) -> ComposeResult:
        # the layout's classes are set before the panels mount: a class changed after
        # would restyle every widget on the screen once more before the first frame
        self._set_layout_classes(self.app.size.width, self.app.size.height)
        src = self.source
        made: list[Panel] = [
            TimelinePanel(src),
            RegistersPanel(src),
            QueuesPanel(src),
            DetailPanel(src),
            MemoryPanel(src),
            InterruptsPanel(src),
            CommandsPanel(src),
            ChecksPanel(src),
        ]
        self.panels = {p.PANEL_ID: p for p in made}
        assert tuple(self.panels) == tuple(pid for pid, _, _ in PANELS)
        p = self.panels
        yield PanelBar(src.title, id="panelbar")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield p["timeline"]
                with Vertical(id="group"):
                    for pid in GROUP:
                        yield p[pid]
            with Vertical(id="right"):
                yield p["registers"]
                yield p["detail"]
        yield LessonBar(id="lesson")
        yield StatusBar(id="status")
        yield Footer(id="footer", show_command_palette=True)

    @property
    def timeline_panel(self) -> TimelinePanel:
        panel = self.panels["timeline"]
        assert isinstance(panel, TimelinePanel)
        return panel

    class Ready(Message):
        """Every panel is mounted: the app may hand out the first moment."""

    def on_mount(self) -> None:
        self.apply_layout()
        self.post_message(self.Ready())

    def on_key(self, event: Key) -> None:
        """Tag each key that bubbles up from this screen's widgets: a key still on its
        way up when a key before it opened a prompt (``:300`` Enter typed at once)
        belongs to that prompt, and the app gives it there (``NvmeScopeApp.on_event``)."""
        TYPED_BELOW[event] = self

    def on_resize(self, event: Resize) -> None:
        self.apply_layout()

    # -- layout ----------------------------------------------------------------------------
    def visible_panels(self) -> frozenset[str]:
        if self.wide and self.present:
            return frozenset(("timeline", self.active))
        if self.wide:
            return frozenset((*ALWAYS_WIDE, self.group_choice))
        return frozenset((self.active,))

    def _set_layout_classes(self, width: int, height: int) -> None:
        self.wide = width >= WIDE_WIDTH and height >= WIDE_HEIGHT
        self.set_class(not self.wide, "-narrow")
        self.set_class(self.wide and width >= ROOMY_WIDTH, "-roomy")

    def apply_layout(self) -> None:
        width, height = (
            self.size.width or self.app.size.width,
            self.size.height or self.app.size.height,
        )
        self._set_layout_classes(width, height)
        if self.active in GROUP:
            self.group_choice = self.active
        shown = self.visible_panels()
        for pid, panel in self.panels.items():
            on = pid in shown
            panel.display = on
            panel.set_shown(on)
        self.query_one("#group").display = any(pid in shown for pid in GROUP)
        self.query_one("#left").display = "timeline" in shown or any(pid in shown for pid in GROUP)
        self.query_one("#right").display = "registers" in shown or "detail" in shown
        self.query_one(PanelBar).set_state(self.active, shown)

    def action_focus_panel(self, pid: str) -> None:
        if pid not in self.panels:
            return
        self.active = pid
        self.apply_layout()
        target = self.panels[pid].focus_target()
        self.call_after_refresh(target.focus)

    @on(DescendantFocus)
    def _focused(self, event: DescendantFocus) -> None:
        node = event.widget
        while node is not None and not isinstance(node, Panel):
            node = node.parent  # type: ignore[assignment]
        if isinstance(node, Panel) and node.PANEL_ID != self.active:
            self.active = node.PANEL_ID
            if self.active in GROUP:
                self.group_choice = self.active
            self.query_one(PanelBar).set_state(self.active, self.visible_panels())

    def mark_lesson_panel(self, pid: str | None) -> None:
        """Frame the panel a lesson step is about (none: no lesson shown)."""
        for name, panel in self.panels.items():
            panel.set_class(name == pid, "-lesson")

    # -- fed by the app ----------------------------------------------------------------------
    def show_moment(self, moment: Moment) -> None:
        for panel in self.panels.values():
            panel.show_moment(moment)

    def show_analysis(self, analysis: Analysis) -> None:
        for panel in self.panels.values():
            panel.show_analysis(analysis)
