"""An Input whose editing keys act in the order they were typed."""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class InOrderInput(Input):
    """An :class:`~textual.widgets.Input` whose own keys (Backspace, Delete, the arrows,
    Home, End, Ctrl+U, Ctrl+K, Ctrl+W, Enter, ...) act as they arrive, in order with the
    characters typed around them.

    Textual's Input inserts a character the moment its key comes, but runs a bound key
    only once the key has bubbled up to the app, through every container's queue. When
    several keys come in one read (typing fast over ssh, a machine under load, tmux
    ``send-keys``), the character after a Backspace was inserted first and the Backspace
    then deleted it: "1", Backspace, "9" left "1" (Textual issue 6605). Here the Input's
    own bindings run inline, before the next key is looked at; bindings of the screen and
    the app (Esc, Ctrl+S) still bubble as before.
    """

    async def _on_key(self, event: events.Key) -> None:
        if not event.is_printable:
            for binding in self._bindings.key_to_bindings.get(event.key, ()):
                if not binding.priority and await self.app.run_action(binding.action, self):
                    event.stop()
                    event.prevent_default()
                    return
        await super()._on_key(event)


__all__ = ["InOrderInput"]
