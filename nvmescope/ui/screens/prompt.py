"""One modal prompt for every question the TUI asks: go to, filter, search, breakpoint,
bookmark note, save as.

The caller gives a ``check`` that turns the text into a result or raises
:class:`PromptError` (or a :class:`~nvmescope.trace.filter.FilterError`) with
one line that is shown under the input; the prompt closes only on a result.
Suggestions, when given, are listed under the input: choosing one puts it in
the input.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from nvmescope.trace.filter import FilterError
from nvmescope.ui.widgets._input import InOrderInput

#: no prompt takes more text than this
MAX_INPUT = 2000

#: keys on their way up from a screen's widgets, by the screen they were typed on (the
#: app reads it to give a prompt the keys typed ahead of it: :meth:`PromptScreen.type_ahead`)
TYPED_BELOW: weakref.WeakKeyDictionary[events.Key, Screen[Any]] = weakref.WeakKeyDictionary()


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
        #: keys typed ahead before the input was there (None once it is)
        self._pending: list[tuple[str, str | None]] | None = []

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Label(self.title_text, id="prompt-title")
            field = InOrderInput(
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
                    *[
                        Option(Text(label), id=str(i))
                        for i, (label, _) in enumerate(self.suggestions)
                    ],
                    id="prompt-suggestions",
                )
            if self.help_text:
                yield Static(self.help_text, id="prompt-help", markup=False)

    def on_mount(self) -> None:
        field = self.query_one(Input)
        field.focus()
        pending, self._pending = self._pending, None
        for key, character in pending or ():
            self._type(field, key, character)

    def type_ahead(self, event: events.Key) -> None:
        """A key typed before this prompt had the focus (``:300`` Enter, typed at once,
        reaches the screen below while the prompt opens): it is typed into the input,
        in order, instead of being lost."""
        if self._pending is not None:
            self._pending.append((event.key, event.character))
        else:
            self._type(self.query_one(Input), event.key, event.character)

    def _type(self, field: Input, key: str, character: str | None) -> None:
        if key == "enter":
            self.call_later(field.action_submit)
        elif key == "escape":
            self.action_cancel()
        elif key == "backspace":
            field.action_delete_left()
        elif character is not None and character.isprintable():
            field.insert_text_at_cursor(character)

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
