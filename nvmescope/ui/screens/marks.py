"""The lists of breakpoints (``B``) and bookmarks (``'``): toggle, jump to, delete."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from nvmescope.ui.marks import Marks


class MarksList(ModalScreen[Any]):
    """A list of marks with a title and a help line; ``d`` deletes the highlighted one.

    Subclasses give the title, the help, the marks (``items``), the text of each
    and what Enter does; ``changed`` says whether the list changed the marks."""

    TITLE: ClassVar[str] = ""
    HELP: ClassVar[str] = ""
    EMPTY: ClassVar[str] = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d,delete", "delete", "delete"),
        Binding("escape,q", "close", "close"),
    ]

    def __init__(self, marks: Marks) -> None:
        super().__init__()
        self.marks = marks
        self.changed = False

    def items(self) -> list[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def text(self, item: Any) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(id="marks"):
            yield Label(self.TITLE, id="marks-title")
            yield OptionList(id="marks-list")
            yield Static(self.HELP, id="marks-help", markup=False)

    def on_mount(self) -> None:
        self.fill()
        self.query_one(OptionList).focus()

    def fill(self, highlight: int = 0) -> None:
        listing = self.query_one(OptionList)
        listing.clear_options()
        items = self.items()
        if not items:
            listing.add_option(Option(self.EMPTY, id="none", disabled=True))
            return
        for i, item in enumerate(items):
            # a note is the user's own text, never markup: "[x]" and "[/b]" show as typed
            listing.add_option(Option(Text(self.text(item)), id=str(i)))
        listing.highlighted = max(0, min(highlight, len(items) - 1))

    def selected(self) -> int | None:
        """The position of the highlighted mark, None when there is none."""
        highlighted = self.query_one(OptionList).highlighted
        return highlighted if highlighted is not None and self.items() else None

    def action_delete(self) -> None:
        i = self.selected()
        if i is None:
            return
        self.items().pop(i)
        self.changed = True
        self.fill(i - 1)

    def closing(self) -> Any:
        """What the screen dismisses with on Escape."""
        return None

    def action_close(self) -> None:
        self.dismiss(self.closing())


class BreakpointsScreen(MarksList):
    """Every breakpoint; space (or Enter) turns one on and off. Dismisses with True when
    something changed."""

    TITLE = "Breakpoints"
    HELP = "space: on/off   d: delete   Esc: close   (b adds one)"
    EMPTY = "(no breakpoints: b adds one)"
    BINDINGS: ClassVar[list[BindingType]] = [
        *MarksList.BINDINGS,
        Binding("space", "toggle", "on/off"),
    ]

    def items(self) -> list[Any]:
        return self.marks.breakpoints

    def closing(self) -> bool:
        return self.changed

    def text(self, item: Any) -> str:
        note = f"   ({item.error})" if item.error else ""
        return f"{'[x]' if item.enabled else '[ ]'} {item.expr}{note}"

    def action_toggle(self) -> None:
        i = self.selected()
        if i is None:
            return
        bp = self.marks.breakpoints[i]
        if bp.predicate is None:
            self.notify(f"{bp.expr}: {bp.error or 'not a valid filter'}", severity="error")
            return
        bp.enabled = not bp.enabled
        self.changed = True
        self.fill(i)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_toggle()


class BookmarksScreen(MarksList):
    """Every bookmark; Enter jumps to it (dismisses with its event)."""

    TITLE = "Bookmarks"
    HELP = "Enter: go there   d: delete   Esc: close   (m sets one)"
    EMPTY = "(no bookmarks: m sets one)"

    def items(self) -> list[Any]:
        return self.marks.bookmarks

    def text(self, item: Any) -> str:
        return f"{item.index:>8d}  {item.note}"

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id and event.option.id.isdigit():
            self.dismiss(self.marks.bookmarks[int(event.option.id)].index)
