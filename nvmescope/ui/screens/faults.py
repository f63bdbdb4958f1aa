"""Faults: make the device misbehave the way real devices do, and see what the driver sees.

The faults and their arguments come from the one table, ``nvmescope.events.FAULTS``:
pick one, give its arguments (each field takes its range from that table and refuses
what is outside it), then Arm or Clear it. The faults armed as of the cursor are
listed from the state, so a recording shows them too (read only). Returns a
:class:`FaultRequest` (or None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from nvmescope.events import FAULTS
from nvmescope.nvme.compose import ComposeError, parse_number
from nvmescope.ui.screens._form import NUMBERS_HELP, FormScreen, NumberRow


@dataclass(frozen=True)
class FaultRequest:
    action: str
    armed: bool
    args: dict[str, int] = field(default_factory=dict)

    @property
    def words(self) -> str:
        what = ", ".join(f"{k} {v}" for k, v in self.args.items())
        return f"{'armed' if self.armed else 'cleared'} {self.action}" + (
            f" ({what})" if what else ""
        )


def armed_faults(state: Any) -> dict[str, str]:
    """The faults armed as of ``state`` (key -> words), as the state keeps them."""
    got = getattr(state, "faults", None) if state is not None else None
    return dict(got or {})


class FaultScreen(FormScreen):
    """See the module docstring; submitting (Ctrl+S, Enter, Arm) arms the fault."""

    BINDINGS = [Binding("ctrl+s", "submit", "arm")]

    def __init__(self, state: Any, config: Any = None, action: str = "drop_interrupt") -> None:
        super().__init__(id="faults-screen")
        self.state = state
        self.config = config
        self.action = action if action in FAULTS else next(iter(FAULTS))

    @property
    def spec(self) -> Any:
        return FAULTS[self.action]

    def compose(self) -> ComposeResult:
        with Vertical(id="faults"):
            yield Label("Faults · Ctrl+S arms · Esc closes", id="faults-title")
            with Horizontal(id="poke-body"):
                with VerticalScroll(id="poke-form"):
                    with Horizontal(classes="compose-line"):
                        yield Label("Fault", classes="compose-name")
                        yield Select(
                            [(f.title, name) for name, f in FAULTS.items()],
                            value=self.action,
                            allow_blank=False,
                            id="fault-action",
                            compact=True,
                        )
                    yield Static("", id="fault-help", classes="fault-help", markup=False)
                    yield Vertical(id="fault-args")
                    yield Label(NUMBERS_HELP, classes="compose-help")
                    with Horizontal(id="poke-buttons"):
                        yield Button(
                            "Arm", id="fault-arm", classes="form-submit", variant="warning",
                            compact=True,
                        )  # fmt: skip
                        yield Button("Clear", id="fault-clear", compact=True)
                        yield Button("Close", id="fault-cancel", classes="form-cancel",
                                     compact=True)  # fmt: skip
                yield Static("", id="poke-preview", markup=False)

    async def on_mount(self) -> None:
        await self._rebuild()
        self.query_one("#fault-action", Select).focus()

    async def _rebuild(self) -> None:
        box = self.query_one("#fault-args", Vertical)
        await box.remove_children()
        rows = []
        for a in self.spec.args:
            low, high = a.bounds(self.config)
            rows.append(
                NumberRow(
                    a.name,
                    a.name,
                    f"fa-{a.name}",
                    "" if a.default is None else str(a.default),
                    f"{low}..{high}: {a.help}",
                    wide=True,
                    placeholder="any" if a.optional else "",
                )
            )
        await box.mount_all(rows)
        spec = self.spec
        self.query_one("#fault-help", Static).update(
            f"The device: {spec.device}.\nThe host sees: {spec.host}."
        )
        self._update()

    @on(Select.Changed, "#fault-action")
    async def _picked(self, event: Select.Changed) -> None:
        if event.value is Select.NULL or str(event.value) == self.action:
            return
        self.action = str(event.value)
        await self._rebuild()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        self._update()

    def _read(self, armed: bool) -> dict[str, int] | None:
        self.errors = {}
        out: dict[str, int] = {}
        spec = self.spec
        boxes = {row.field_name: row.box for row in self.query(NumberRow)}
        for a in spec.args:
            if (not armed and a.name != spec.key) or a.name not in boxes:
                continue
            text = boxes[a.name].value
            if not text.strip() and a.optional:
                continue
            low, high = a.bounds(self.config)
            try:
                value = parse_number(text, high, a.name)
            except ComposeError as exc:
                self.errors[a.name] = str(exc)
                continue
            if value < low:
                self.errors[a.name] = f"{a.name} is {low} to {high}, not {value}"
                continue
            out[a.name] = value
        return None if self.errors else out

    def _update(self) -> None:
        self._read(True)
        self.show_errors()
        armed = armed_faults(self.state)
        lines = ["Armed as of the cursor:"]
        lines += [f"· {words}" for words in armed.values()] or ["  none"]
        self.query_one("#poke-preview", Static).update("\n".join(lines))

    def _done(self, armed: bool) -> None:
        args = self._read(armed)
        self._update()
        if args is None:
            self.refuse()
            return
        self.dismiss(FaultRequest(self.action, armed, args))

    def action_submit(self) -> None:
        self._done(True)

    @on(Button.Pressed, "#fault-clear")
    def _clear_pressed(self) -> None:
        self._done(False)


__all__ = ["FaultRequest", "FaultScreen", "armed_faults"]
