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
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from nvmescope.events import FAULTS
from nvmescope.nvme.compose import MAX_NUMBER_CHARS, ComposeError, parse_number


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


class FaultScreen(ModalScreen[FaultRequest | None]):
    """See the module docstring."""

    BINDINGS = [
        Binding("escape", "cancel", "cancel"),
        Binding("ctrl+s", "arm", "arm"),
    ]

    def __init__(self, state: Any, config: Any = None, action: str = "drop_interrupt") -> None:
        super().__init__(id="faults-screen")
        self.state = state
        self.config = config
        self.action = action if action in FAULTS else next(iter(FAULTS))
        self.errors: dict[str, str] = {}

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
                    yield Label("Numbers: decimal 12, or hex 0x1f or 1Fh.", classes="compose-help")
                    with Horizontal(id="poke-buttons"):
                        yield Button("Arm", id="fault-arm", variant="warning", compact=True)
                        yield Button("Clear", id="fault-clear", compact=True)
                        yield Button("Close", id="fault-cancel", compact=True)
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
            box_input = Input(
                "" if a.default is None else str(a.default),
                placeholder="any" if a.optional else "",
                id=f"fa-{a.name}",
                max_length=MAX_NUMBER_CHARS,
                select_on_focus=False,
                compact=True,
                classes="compose-input -wide",
            )
            box_input.cursor_blink = False
            rows.append(
                Vertical(
                    Horizontal(
                        Label(a.name, classes="compose-name"),
                        box_input,
                        Label(f"{low}..{high}: {a.help}", classes="compose-hint"),
                        classes="compose-line",
                    ),
                    Static("", id=f"fe-{a.name}", classes="compose-error", markup=False),
                    classes="compose-row",
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
        for a in spec.args:
            if not armed and a.name != spec.key:
                continue
            try:
                text = self.query_one(f"#fa-{a.name}", Input).value
            except Exception:
                continue
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
        for a in self.spec.args:
            for where in self.query(f"#fe-{a.name}").results(Static):
                where.update(self.errors.get(a.name, ""))
                where.display = a.name in self.errors
        armed = armed_faults(self.state)
        lines = ["Armed as of the cursor:"]
        lines += [f"· {words}" for words in armed.values()] or ["  none"]
        self.query_one("#poke-preview", Static).update("\n".join(lines))

    def _done(self, armed: bool) -> None:
        args = self._read(armed)
        self._update()
        if args is None:
            self.notify(next(iter(self.errors.values())), severity="error", timeout=4)
            return
        self.dismiss(FaultRequest(self.action, armed, args))

    def action_arm(self) -> None:
        self._done(True)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#fault-arm")
    def _arm_pressed(self) -> None:
        self._done(True)

    @on(Button.Pressed, "#fault-clear")
    def _clear_pressed(self) -> None:
        self._done(False)

    @on(Button.Pressed, "#fault-cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        self._done(True)


__all__ = ["FaultRequest", "FaultScreen", "armed_faults"]
