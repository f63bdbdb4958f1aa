"""What the forms that act by hand share (compose, poke, faults): Esc cancels, Ctrl+S
(or Enter in a field) submits, the buttons of class ``form-submit`` and ``form-cancel``
do the same, and a number is typed in a :class:`NumberRow` (its name, the input, a
hint, and the line under it that says what is wrong with what was typed).

The hint says what the field is first and where its bits go after, and is never cut: on
a terminal of :data:`WIDE_FORM` columns or more it is beside the input (wrapped there if
long), on a narrower one it has a line of its own under the input (class ``-narrow`` on
the screen, from its horizontal breakpoints)."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from nvmescope.nvme.compose import MAX_NUMBER_CHARS
from nvmescope.ui.widgets._input import InOrderInput

#: under every form: how numbers are typed
NUMBERS_HELP = "Numbers: decimal 12, or hex 0x1f or 1Fh."
#: from this many columns a form puts each hint beside its input, below that under it
WIDE_FORM = 120
#: below this many columns (class ``-tiny``: everything ``-narrow`` does, and) the
#: preview goes under the fields, so that the fields have the whole width
TINY_FORM = 80


def number_input(id: str, value: str = "", wide: bool = False, placeholder: str = "") -> Input:
    """An input for one number (decimal or hex), no longer than any number can be."""
    box = InOrderInput(
        value,
        placeholder=placeholder,
        id=id,
        max_length=MAX_NUMBER_CHARS,
        select_on_focus=False,
        compact=True,
        classes="compose-input" + (" -wide" if wide else ""),
    )
    box.cursor_blink = False
    return box


class NumberRow(Vertical):
    """One number of a form: its name, the input (id ``input_id``), a hint; an error line."""

    def __init__(
        self,
        name: str,
        label: str,
        input_id: str,
        value: str,
        hint: str,
        wide: bool = False,
        placeholder: str = "",
    ) -> None:
        super().__init__(classes="compose-row")
        self.field_name = name
        self.box = number_input(input_id, value, wide, placeholder)
        self.label, self.hint = label, hint

    def compose(self) -> ComposeResult:
        with Horizontal(classes="compose-line"):
            yield Label(self.label, classes="compose-name")
            yield self.box
            yield Label(self.hint, classes="compose-hint -beside", markup=False)
        # the same hint on a line of its own, shown instead on a narrow terminal
        yield Label(self.hint, classes="compose-hint -under", markup=False)
        yield Static("", classes="compose-error", markup=False)

    def show_error(self, text: str) -> None:
        where = self.query_one(".compose-error", Static)
        where.update(text)
        where.display = bool(text)


class FormScreen(ModalScreen[Any]):
    """A modal form; a subclass says what submitting is (:meth:`action_submit`) and keeps
    what is wrong with the fields in :attr:`errors` (field name -> words)."""

    BINDINGS = [
        Binding("escape", "cancel", "cancel"),
        Binding("ctrl+s", "submit", "submit"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-tiny"), (TINY_FORM, "-narrow"), (WIDE_FORM, "-wide")]

    def __init__(self, id: str) -> None:
        super().__init__(id=id)
        self.errors: dict[str, str] = {}

    def action_submit(self) -> None:
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)

    def show_errors(self) -> None:
        """Each number row shows its field's error, or hides its error line."""
        for row in self.query(NumberRow):
            row.show_error(self.errors.get(row.field_name, ""))

    def refuse(self) -> None:
        """Say the first thing wrong (submit was refused)."""
        self.notify(next(iter(self.errors.values())), severity="error", timeout=4)

    @on(Button.Pressed, ".form-submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, ".form-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()


__all__ = ["NUMBERS_HELP", "WIDE_FORM", "FormScreen", "NumberRow", "number_input"]
