"""Faults: make the device misbehave the way real devices do, and see what the driver sees.

The faults and their arguments come from the one table, ``nvmescope.events.FAULTS``:
pick one, give its arguments (each field takes its range from that table and refuses
what is outside it), then Arm or Clear it. An argument the table offers by name (the
status ``force_status`` completes with) is picked from a list or typed as a number, one
or the other: picking a name puts its value in the field, typing a value shows its name
in the list when it has one (else "another value"), and the preview says the value in
words. The faults armed as of the cursor are listed from the state, so a recording shows
them too (read only). Returns a :class:`FaultRequest` (or None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from nvmescope.events import FAULTS, FaultArg
from nvmescope.nvme.compose import ComposeError, parse_number
from nvmescope.ui.screens._form import NUMBERS_HELP, FormScreen, NumberRow

#: the list entry of an argument offered by name that says "the value typed below"
TYPED = "typed"


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
        #: the arguments' values that parsed, as of the last check
        self.typed: dict[str, int] = {}

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
        rows: list[Widget] = []
        for a in self.spec.args:
            low, high = a.bounds(self.config)
            start = "" if a.default is None else str(a.default)
            if a.choices:
                value = a.choices[0][1] if a.default is None else a.default
                start = f"{value:#x}"
                pick = Select(
                    [*a.choices, ("another value, typed below", TYPED)],
                    value=self._choice(a, value),
                    allow_blank=False,
                    id=f"fp-{a.name}",
                    classes="fault-pick",
                    compact=True,
                )
                rows.append(
                    Horizontal(Label(a.name, classes="compose-name"), pick, classes="compose-line")
                )
            rows.append(
                NumberRow(
                    a.name,
                    "or value" if a.choices else a.name,
                    f"fa-{a.name}",
                    start,
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

    @staticmethod
    def _choice(arg: FaultArg, value: int | None) -> int | str:
        """The list entry of ``value``: its name if it has one, else "typed"."""
        return value if value is not None and value in {v for _, v in arg.choices} else TYPED

    @on(Select.Changed, ".fault-pick")
    def _picked_by_name(self, event: Select.Changed) -> None:
        """A value picked by name goes into its field (which then says what is armed)."""
        event.stop()
        name = (event.select.id or "")[len("fp-") :]
        if event.value == TYPED:  # "another value, typed below": to the field, then
            self.query_one(f"#fa-{name}", Input).focus()
            return
        if event.value is Select.NULL:
            return
        with self.prevent(Input.Changed):
            self.query_one(f"#fa-{name}", Input).value = f"{int(str(event.value)):#x}"
        self._update()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        values = self._update()
        # the list of an argument offered by name shows the value typed, or "typed"
        for a in self.spec.args:
            if not a.choices:
                continue
            want = self._choice(a, values.get(a.name))
            pick = self.query_one(f"#fp-{a.name}", Select)
            if pick.value != want:
                with self.prevent(Select.Changed):
                    pick.value = want

    def _read(self, armed: bool) -> dict[str, int] | None:
        """The arguments typed (only the one that names it, to clear), or None when one is
        wrong (``errors`` says why); ``typed`` keeps every value that parsed."""
        self.errors = {}
        out: dict[str, int] = {}
        self.typed = out
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

    def _update(self) -> dict[str, int]:
        """Check the fields, show what is wrong and what arming means; returns the values
        that parsed."""
        self._read(True)
        self.show_errors()
        lines = []
        for a in self.spec.args:
            value = self.typed.get(a.name)
            if a.words is not None and value is not None:
                lines += [f"{a.name} {value:#x}: {a.words(value)}", ""]
        armed = armed_faults(self.state)
        lines.append("Armed as of the cursor:")
        lines += [f"· {words}" for words in armed.values()] or ["  none"]
        self.query_one("#poke-preview", Static).update("\n".join(lines))
        return self.typed

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
