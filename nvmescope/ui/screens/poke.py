"""Poke: write a BAR0 register, a doorbell or PCI configuration space by hand.

Pick a register from the list (CC, AQA, ASQ, ACQ, INTMS/INTMC, NSSR, every SQ tail
and CQ head doorbell of the queues there are, the PCI Command register, MSI-X
Message Control...) or type any offset; the value starts as the register holds it
as of the cursor, and the preview decodes the value typed field by field (CC.EN,
CC.SHN, Command's Bus Master Enable...), so the user sees what the write asks for
before the device answers it. Nothing is checked against what the device allows:
a write it ignores, a tail beyond the queue, a write between doorbells are what
this form is for. Returns a :class:`PokeRequest` (or None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from nvmescope.nvme import pci
from nvmescope.nvme import registers as r
from nvmescope.nvme.compose import POKE_SIZES, ComposeError, parse_number
from nvmescope.ui.screens._form import NUMBERS_HELP, FormScreen, NumberRow
from nvmescope.ui.widgets import doorbell_value

#: the highest offset either space takes (a 32-bit offset)
MAX_OFFSET = 0xFFFFFFFF
#: the registers of PCI configuration space the list offers first (others by offset)
CONFIG_FIRST = ("command", "status", "bar0", "bar1", "interrupt_line", "msix.mc")
#: Command register bits, as the preview decodes them
COMMAND_BITS = (
    (pci.CMD_IO_SPACE, "I/O Space Enable"),
    (pci.CMD_MEMORY_SPACE, "Memory Space Enable"),
    (pci.CMD_BUS_MASTER, "Bus Master Enable"),
    (pci.CMD_PARITY_ERROR_RESPONSE, "Parity Error Response"),
    (pci.CMD_SERR_ENABLE, "SERR# Enable"),
    (pci.CMD_INTX_DISABLE, "Interrupt Disable (INTx)"),
)


@dataclass(frozen=True)
class PokeRequest:
    space: str
    offset: int
    size: int
    value: int
    what: str

    @property
    def words(self) -> str:
        place = "BAR0" if self.space == "bar0" else "config space"
        name = f" {self.what}" if self.what else ""
        return f"wrote {self.value:#x} to {place}{name} at {self.offset:#x}"


@dataclass(frozen=True)
class Target:
    """One entry of the register list: where, how wide, and its name."""

    space: str
    offset: int
    size: int
    name: str

    @property
    def key(self) -> str:
        return f"{self.space}:{self.offset:x}:{self.size}"

    @property
    def label(self) -> str:
        place = "BAR0" if self.space == "bar0" else "PCI"
        return f"{place} {self.offset:#06x} {self.name.upper()}"


def _dstrd(state: Any) -> int:
    """CAP.DSTRD as of ``state`` (0 while CAP is not known)."""
    cap = state.register("cap") if state is not None else None
    return r.CAP.get(cap, "dstrd") if cap is not None else 0


def targets(state: Any, layout: str = "nvmescope") -> list[Target]:
    """Every register and doorbell the list offers, as of ``state``."""
    out = [Target("bar0", reg.offset, reg.size, reg.name) for reg in r.REGISTERS]
    dstrd = _dstrd(state)
    qids = sorted(set(getattr(state, "sqs", {}) or {}) | set(getattr(state, "cqs", {}) or {}))
    for qid in qids or [0]:
        out.append(Target("bar0", r.sq_tail_doorbell(qid, dstrd), 4, f"sq{qid}tdbl"))
        out.append(Target("bar0", r.cq_head_doorbell(qid, dstrd), 4, f"cq{qid}hdbl"))
    regs = pci.config_registers(layout)
    by_name = {name: (off, size) for off, size, name in regs}
    first = [n for n in CONFIG_FIRST if n in by_name]
    for name in first + [n for _, _, n in regs if n not in first and n != "reserved"]:
        off, size = by_name[name]
        if size in POKE_SIZES["config"]:
            out.append(Target("config", off, size, name))
    return out


def _field_lines(reg: r.Register, value: int, low: int = 0, high: int = 63) -> list[str]:
    """``reg``'s fields that bits ``low``..``high`` of ``value`` reach, one line each."""
    return [
        f"{f.name.upper():<7}{f.get(value):>6}  {f.meaning}"
        for f in reg.fields
        if f.hi >= low and f.lo <= high and (f.access != r.RO or f.get(value))
    ]


def _bar0_lines(offset: int, size: int, value: int) -> list[str]:
    """What a BAR0 write of ``size`` bytes at ``offset`` does to the registers, as the
    device takes it: a misaligned access is dropped; an 8-byte one is two 4-byte writes
    (low half first), each to the register, or half of one, that it lands on."""
    if offset % size:
        return [f"not {size}-byte aligned: the device drops this write (ub_mmio_misaligned)"]
    hit = r.register_at(offset)
    if hit is not None and hit[1] == 0 and hit[0].size == size:
        return _field_lines(hit[0], value)
    lines: list[str] = []
    for part in range(0, size, 4):
        hit = r.register_at(offset + part)
        if hit is None:
            continue
        reg, within = hit
        word = (value >> (8 * part)) & 0xFFFF_FFFF
        half = "" if reg.size == 4 else (".LO" if within == 0 else ".HI")
        where = "" if size == 4 else ("low 4 bytes: " if part == 0 else "high 4 bytes: ")
        lines.append(f"{where}{reg.name.upper()}{half}")
        lines += _field_lines(reg, word << (8 * within), 8 * within, 8 * within + 31)
    return lines


def _doorbell_lines(offset: int, value: int, state: Any) -> list[str]:
    """A write to the doorbell at ``offset`` as the device will take it: the new tail or
    head (bits 15:0; bits 31:16 are reserved), and whether it is ignored for pointing
    beyond the queue (as of ``state``)."""
    hit = r.doorbell_at(offset, _dstrd(state))
    if hit is None:
        return []
    kind, qid = hit
    pointer = value & 0xFFFF
    lines = [f"{'new tail' if kind == 'sq' else 'new head'}: slot {pointer}"]
    if value > 0xFFFF:
        lines.append("bits 31:16 are reserved: the device ignores them")
    queue = (getattr(state, f"{kind}s", None) or {}).get(qid)
    qsize = getattr(queue, "qsize", None)
    if qsize is not None and pointer >= qsize:
        lines.append(
            f"{kind.upper()}{qid} has {qsize} entries (slots 0 to {qsize - 1}): the device "
            "ignores this write (ub_db_invalid_value) and reports it by an Asynchronous Event"
        )
    return lines


def describe_value(
    target: Target | None, space: str, offset: int, value: int, size: int = 4, state: Any = None
) -> list[str]:
    """The value as the fields of the register(s) it is written to, one line each (none
    for an unknown offset); a doorbell's as of ``state`` (its queue's size)."""
    if space == "bar0":
        if offset < r.DOORBELL_BASE:
            return _bar0_lines(offset, size, value)
        if target is not None and target.name.endswith("dbl") and size == 4:
            return _doorbell_lines(offset, value, state)
        return []
    if target is not None and target.name == "command":
        return [f"{'1' if value & bit else '0'}  {words}" for bit, words in COMMAND_BITS]
    if target is not None and target.name == "msix.mc":
        return [
            f"{'1' if value & pci.MSIX_MC_ENABLE else '0'}  MSI-X Enable",
            f"{'1' if value & pci.MSIX_MC_FUNCTION_MASK else '0'}  Function Mask",
        ]
    return []


class PokeScreen(FormScreen):
    """See the module docstring; returns a PokeRequest or None."""

    def __init__(self, state: Any, layout: str = "nvmescope") -> None:
        super().__init__(id="poke-screen")
        self.state = state
        self.targets = targets(state, layout)
        self.by_key = {t.key: t for t in self.targets}
        self.target: Target | None = self.targets[0] if self.targets else None
        #: the value the form last put in the value field (one typed over it stays)
        self._offered = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="poke"):
            yield Label(
                "Write a register by hand · Ctrl+S writes · Esc cancels",
                id="poke-title",
            )
            with Horizontal(id="poke-body"):
                with VerticalScroll(id="poke-form"):
                    with Horizontal(classes="compose-line"):
                        yield Label("Register", classes="compose-name")
                        yield Select(
                            [(t.label, t.key) for t in self.targets],
                            value=self.target.key if self.target else Select.NULL,
                            prompt="(an offset typed below)",
                            id="poke-target",
                            compact=True,
                        )
                    with Horizontal(classes="compose-line"):
                        yield Label("Space", classes="compose-name")
                        yield Select(
                            [("BAR0 (registers, doorbells)", "bar0"),
                             ("PCI configuration space", "config")],
                            value="bar0", allow_blank=False, id="poke-space", compact=True,
                        )  # fmt: skip
                    for name, hint in (
                        ("offset", "bytes from the start of the space"),
                        ("size", "bytes: 4 or 8 in BAR0; 1, 2 or 4 in config space"),
                        ("value", "what is written (the register's value as of the cursor)"),
                    ):
                        yield NumberRow(name, name.title(), f"p-{name}", "", hint, wide=True)
                    yield Label(NUMBERS_HELP, classes="compose-help")
                    with Horizontal(id="poke-buttons"):
                        yield Button(
                            "Write",
                            id="poke-submit",
                            classes="form-submit",
                            variant="primary",
                            compact=True,
                        )
                        yield Button(
                            "Cancel", id="poke-cancel", classes="form-cancel", compact=True
                        )
                yield Static("", id="poke-preview", markup=False)

    def on_mount(self) -> None:
        self._take_target()
        self.query_one("#poke-target", Select).focus()

    # -- the form ---------------------------------------------------------------------------
    def _current(self, space: str, offset: int, size: int) -> int:
        if self.state is None:
            return 0
        if space == "bar0":
            got = self.state.bar0_value(offset, size)
            if got is None and size == 4:  # a doorbell: as its queue's tail or head
                got = doorbell_value(self.state, offset)
        else:
            got = self.state.config_value(offset, size)
        return got or 0

    def _take_target(self) -> None:
        t = self.target
        if t is None:
            return
        with self.prevent(Select.Changed):
            self.query_one("#poke-space", Select).value = t.space
        self.query_one("#p-offset", Input).value = f"{t.offset:#x}"
        self.query_one("#p-size", Input).value = str(t.size)
        self._offer_value(t)
        self._update()

    def _offer_value(self, t: Target) -> None:
        """Put ``t``'s value as of the cursor in the value field (what it starts from)."""
        self._offered = f"{self._current(t.space, t.offset, t.size):#x}"
        self.query_one("#p-value", Input).value = self._offered

    @on(Select.Changed, "#poke-target")
    def _picked(self, event: Select.Changed) -> None:
        if event.value is Select.NULL:
            self.target = None
            self._update()
            return
        self.target = self.by_key.get(str(event.value))
        self._take_target()

    @on(Select.Changed, "#poke-space")
    def _space(self) -> None:
        self._update()

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        self._update()

    def _read(self) -> tuple[str, int, int, int] | None:
        self.errors = {}
        space = str(self.query_one("#poke-space", Select).value)
        got: dict[str, int] = {}
        for name, limit in (("offset", MAX_OFFSET), ("size", 8)):
            try:
                got[name] = parse_number(self.query_one(f"#p-{name}", Input).value, limit,
                                         name.title())  # fmt: skip
            except ComposeError as exc:
                self.errors[name] = str(exc)
        size = got.get("size")
        if size is not None and size not in POKE_SIZES[space]:
            self.errors["size"] = (
                f"Size: {'BAR0 takes 4 or 8' if space == 'bar0' else 'config space takes 1, 2 or 4'}"
                f" bytes, not {size}"
            )
        if not self.errors:
            self._follow_target(space, got["offset"], got["size"])
        width = size if size in POKE_SIZES[space] else max(POKE_SIZES[space])
        try:
            got["value"] = parse_number(
                self.query_one("#p-value", Input).value, (1 << (8 * width)) - 1, "Value"
            )
        except ComposeError as exc:
            self.errors["value"] = str(exc)
        if self.errors:
            return None
        return space, got["offset"], got["size"], got["value"]

    def _matching_target(self, space: str, offset: int, size: int) -> Target | None:
        t = self.target
        if t is not None and (t.space, t.offset, t.size) == (space, offset, size):
            return t
        return next(
            (x for x in self.targets if (x.space, x.offset, x.size) == (space, offset, size)),
            None,
        )

    def _follow_target(self, space: str, offset: int, size: int) -> None:
        """An offset typed by hand: the list names the register it is, or none (whatever
        the value field holds); the value field, unless a value was typed into it, offers
        the register's value as of the cursor."""
        t = self._matching_target(space, offset, size)
        if t is not self.target:
            self.target = t
            with self.prevent(Select.Changed):
                self.query_one("#poke-target", Select).value = t.key if t else Select.NULL
            if t is not None and self.query_one("#p-value", Input).value == self._offered:
                self._offer_value(t)

    def _update(self) -> None:
        got = self._read()
        self.show_errors()
        preview = self.query_one("#poke-preview", Static)
        if got is None:
            preview.update(f"{len(self.errors)} field(s) to fix")
            return
        space, offset, size, value = got
        t = self._matching_target(space, offset, size)
        place = "BAR0" if space == "bar0" else "PCI configuration space"
        now = self._current(space, offset, size)
        lines = [
            f"{place} offset {offset:#x}" + (f": {t.name.upper()}" if t else ""),
            f"{size} bytes",
            f"now    {now:#0{2 + 2 * size}x}",
            f"write  {value:#0{2 + 2 * size}x}",
            "",
            *describe_value(t, space, offset, value, size, self.state),
        ]
        preview.update("\n".join(lines))

    def request(self) -> PokeRequest | None:
        got = self._read()
        self._update()
        if got is None:
            return None
        space, offset, size, value = got
        t = self._matching_target(space, offset, size)
        return PokeRequest(space, offset, size, value, t.name if t else "")

    def action_submit(self) -> None:
        got = self.request()
        if got is None:
            self.refuse()
            return
        self.dismiss(got)


__all__ = ["PokeRequest", "PokeScreen", "Target", "describe_value", "targets"]
