"""One modal prompt for every question the TUI asks: go to, filter, search, breakpoint,
bookmark note, save as.

The caller gives a ``check`` that turns the text into a result or raises
:class:`PromptError` (or a :class:`~nvmescope.trace.filter.FilterError`) with
one line that is shown under the input; the prompt closes only on a result.
Suggestions, when given, are listed under the input: choosing one puts it in
the input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from nvmescope.trace.filter import FilterError

#: no prompt takes more text than this
MAX_INPUT = 2000


class PromptError(ValueError):
    """The text cannot be used; the message (one line) says why."""


class PromptScreen(ModalScreen[Any]):
    """Ask for one line of text; dismiss with ``check(text)`` or None (Escape)."""

    BINDINGS = [
        Binding("escape", "cancel", "cancel"),
        Binding("down", "suggestions", "suggestions", show=False),
    ]

    def __init__(
        self,
        title: str,
        check: Callable[[str], Any],
        *,
        value: str = "",
        placeholder: str = "",
        help: str = "",
        suggestions: list[tuple[str, str]] | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.check = check
        self.value = value
        self.placeholder = placeholder
        self.help_text = help
        self.suggestions = suggestions or []

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Label(self.title_text, id="prompt-title")
            field = Input(
                value=self.value,
                placeholder=self.placeholder,
                max_length=MAX_INPUT,
                id="prompt-input",
                select_on_focus=False,
            )
            field.cursor_blink = False
            yield field
            yield Static("", id="prompt-error", markup=False)
            if self.suggestions:
                yield OptionList(
                    *[Option(label, id=str(i)) for i, (label, _) in enumerate(self.suggestions)],
                    id="prompt-suggestions",
                )
            if self.help_text:
                yield Static(self.help_text, id="prompt-help", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def show_error(self, message: str) -> None:
        error = self.query_one("#prompt-error", Static)
        error.update(message)
        error.display = bool(message)

    @on(Input.Changed)
    def _changed(self) -> None:
        self.show_error("")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            result = self.check(event.value)
        except FilterError as exc:
            self.show_error(_filter_error(exc))
            return
        except PromptError as exc:
            self.show_error(str(exc))
            return
        self.dismiss(result)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        _, text = self.suggestions[int(event.option.id or 0)]
        field = self.query_one(Input)
        field.value = text
        field.cursor_position = len(text)
        field.focus()

    def action_suggestions(self) -> None:
        """Down from the input goes to the suggestions (Enter on one fills the input)."""
        if not self.suggestions or not isinstance(self.focused, Input):
            return
        listing = self.query_one(OptionList)
        listing.focus()
        listing.highlighted = 0

    def action_cancel(self) -> None:
        self.dismiss(None)


def _filter_error(exc: FilterError) -> str:
    """The filter's one-line message under the expression with a caret at its column."""
    if exc.expression and len(exc.expression) < 200 and exc.column >= 1:
        return f"{exc.caret()}\n{exc}"
    return str(exc)
