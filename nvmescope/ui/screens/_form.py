"""What the forms that act by hand share (compose, poke, faults): Esc cancels, Ctrl+S
(or Enter in a field) submits, and the buttons of class ``form-submit`` and
``form-cancel`` do the same."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Button, Input


class FormScreen(ModalScreen[Any]):
    """A modal form; a subclass says what submitting is (:meth:`action_submit`)."""

    BINDINGS = [
        Binding("escape", "cancel", "cancel"),
        Binding("ctrl+s", "submit", "submit"),
    ]

    def action_submit(self) -> None:
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)

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


__all__ = ["FormScreen"]
