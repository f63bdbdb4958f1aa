"""Keys that come in one burst (typing fast over ssh, a busy machine, tmux send-keys) are
applied in the order they were typed, in every field of the TUI: a Backspace or Ctrl+U
before a character is done before the character is inserted."""

from __future__ import annotations

from typing import Any

import pytest
from textual import events
from textual.widgets import Input
from tui import live_app, press

from nvmescope.ui.screens.poke import PokeScreen
from nvmescope.ui.widgets import InOrderInput


def burst(app: Any, *keys: str) -> None:
    """Post ``keys`` at once, as the app's driver does with the keys of one read."""
    for key in keys:
        character = (
            key if len(key) == 1 else {"backspace": "\x7f", "ctrl+u": "\x15", "tab": "\t"}.get(key)
        )
        app.post_message(events.Key(key, character))


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (("1", "backspace", "9"), "9"),
        (("1", "2", "ctrl+u", "7"), "7"),
        (("a", "b", "left", "backspace", "c"), "cb"),
        (("4", "home", "0", "x"), "0x4"),
    ],
)
async def test_a_burst_of_keys_in_a_form_field_is_applied_in_order(typed, expected) -> None:
    async with live_app(to_end=True) as (app, pilot):
        await press(pilot, "W")
        screen = app.screen
        assert isinstance(screen, PokeScreen)
        box = screen.query_one("#p-value", Input)
        assert isinstance(box, InOrderInput)
        box.value = ""
        box.focus()
        await press(pilot)
        burst(app, *typed)
        await press(pilot)
        assert box.value == expected


async def test_every_text_field_of_the_tui_keeps_the_typing_order() -> None:
    """The goto prompt, the memory panel's address and the forms all use InOrderInput."""
    async with live_app(to_end=True) as (app, pilot):
        await press(pilot, "colon")
        box = app.screen.query_one("#prompt-input", Input)
        assert isinstance(box, InOrderInput)
        burst(app, "1", "2", "backspace", "3")
        await press(pilot)
        assert box.value == "13"
        await press(pilot, "escape")
        assert isinstance(app.query_one("#memory-address", Input), InOrderInput)
        await press(pilot, "i")
        assert all(isinstance(b, InOrderInput) for b in app.screen.query(Input))


async def test_keys_after_a_tab_in_one_burst_go_to_the_next_field() -> None:
    """Tab moves the focus before the keys that came after it are routed: "Tab Tab ^U 0x20
    Tab ^U 8" from the register list types 0x20 as the offset and 8 as the size."""
    async with live_app(to_end=True) as (app, pilot):
        await press(pilot, "W")
        screen = app.screen
        assert isinstance(screen, PokeScreen)
        burst(app, "tab", "tab", "ctrl+u", "0", "x", "2", "0", "tab", "ctrl+u", "8")
        await press(pilot)
        assert screen.query_one("#p-offset", Input).value == "0x20"
        assert screen.query_one("#p-size", Input).value == "8"
        assert app.focused is screen.query_one("#p-size", Input)
