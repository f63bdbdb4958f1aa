"""Compose a command by hand: a form that builds an SQE field by field.

The queue (SQ0 for admin commands, an I/O SQ for NVM ones), a preset or an opcode
from the list of names, the NSID, and the command's own fields as the
specification names them for that opcode (``nvme/compose.py``), each with its title and
its bits (``Controller or Namespace Structure · CDW10 bits 7:0``) as its hint. CDW10-15 and the 64 bytes of the SQE are shown live
as the fields are typed. The data buffer is allocated by the host for the
transfer length (the driver builds a PRP list when the buffer needs one) or
described by PRPs typed by hand, wrong ones included.

Every field takes decimal or hex (``0x1f``, ``1Fh``) and refuses what it cannot
hold with a line under it; Submit is refused while a field is wrong. The screen
returns a :class:`ComposeRequest` (or None); the app hands it to the live session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from nvmescope.nvme import compose as cmp
from nvmescope.nvme.commands import pack_sqe
from nvmescope.nvme.features import FID_NUMBER_OF_QUEUES
from nvmescope.ui.screens._form import NUMBERS_HELP, FormScreen, NumberRow
from nvmescope.ui.widgets._input import InOrderInput

#: the PRP modes of the form
PRP_AUTO, PRP_HAND = "auto", "hand"
#: the text a command that sends data puts in its buffer when none is typed
MAX_DATA_TEXT = 4096
#: Set Features and Get Features: their fields in CDW11 follow the FID
FEATURES_OPCODES = (0x09, 0x0A)


@dataclass(frozen=True)
class ComposeRequest:
    """What the form built: the command the live session sends (``LiveSource.compose``)
    and its name, for what the app says about it."""

    command: cmp.HandCommand
    title: str


@dataclass
class ComposeContext:
    """What the form needs to know of the session: the host's SQs (qid -> next slot,
    depth, CQ), the LBA size of each namespace, and the first free I/O queue ID."""

    sqs: dict[int, tuple[int, int, int]]
    lba_size: dict[int, int] = field(default_factory=dict)
    free_qid: int = 1

    def lba(self, nsid: int) -> int:
        return self.lba_size.get(nsid, 512)


def _shown(value: int) -> str:
    """A value as the form first shows it: decimal when short, hex when long."""
    return str(value) if value < 1 << 16 else f"{value:#x}"


class FieldRow(NumberRow):
    """One of the command's own fields, with where its bits are and what it is."""

    def __init__(self, spec: cmp.CommandField, value: int) -> None:
        shown = str(value) if spec.limit < 1 << 16 else f"{value:#x}"
        # the title first (without the abbreviation the name column already shows), then
        # the bits: "Number of Logical Blocks, 0's based · CDW12 bits 15:0"
        title = spec.title.replace(f" ({spec.label})", "")
        hint = f"{title} · {spec.where}"
        super().__init__(spec.name, spec.label, f"f-{spec.name}", shown, hint, spec.width > 32)
        self.spec = spec


class ComposeScreen(FormScreen):
    """See the module docstring; returns a ComposeRequest or None."""

    def __init__(self, context: ComposeContext, preset: str = "identify-ctrl") -> None:
        super().__init__(id="compose-screen")
        self.context = context
        start = cmp.PRESET_NAMES.get(preset, cmp.PRESETS[0])
        self.preset = start.name
        self.admin = start.admin
        self.sqid = 0 if start.admin else self._first_io_sq()
        self.opc = start.opc
        self.nsid = start.nsid
        self.values: dict[str, int] = self._preset_values(start)
        #: the PRPs typed by hand (used when the PRP mode says so)
        self.prps = {"prp1": 0, "prp2": 0}
        self._rebuilding = False

    # -- what the form holds -----------------------------------------------------------
    def _first_io_sq(self) -> int:
        io = [q for q in self.context.sqs if q]
        return io[0] if io else 1

    def _preset_values(self, preset: cmp.Preset) -> dict[str, int]:
        values = {f.name: f.default for f in self._fields(preset.admin, preset.opc, preset.values)}
        values.update(preset.values)
        if preset.admin and preset.opc in (0x01, 0x05):
            values["qid"] = self.context.free_qid
            if preset.opc == 0x01:
                values["cqid"] = self.context.free_qid
        return values

    def _fields(
        self, admin: bool, opc: int, values: dict[str, int] | None = None
    ) -> tuple[cmp.CommandField, ...]:
        fid = (values or {}).get("fid", FID_NUMBER_OF_QUEUES)
        return cmp.fields_for(admin, opc, fid if admin and opc in FEATURES_OPCODES else None)

    @property
    def fields(self) -> tuple[cmp.CommandField, ...]:
        return self._fields(self.admin, self.opc, self.values)

    def _queue_options(self) -> list[tuple[str, int]]:
        out = []
        for qid, (tail, depth, cqid) in sorted(self.context.sqs.items()):
            kind = "admin" if qid == 0 else f"I/O, CQ{cqid}"
            out.append((f"SQ{qid} ({kind}): next slot {tail} of {depth}", qid))
        if not out:
            out.append(("SQ0: not created yet (step past bring-up)", 0))
        return out

    def _opcode_options(self) -> list[tuple[str, int]]:
        return [(words, opc) for opc, words in cmp.opcodes(self.admin).items()]

    # -- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(id="compose"):
            yield Label(
                "Compose a command · Ctrl+S sends it · Esc cancels",
                id="compose-title",
            )
            with Horizontal(id="compose-body"):
                with VerticalScroll(id="compose-form"):
                    with Horizontal(classes="compose-line"):
                        yield Label("Preset", classes="compose-name")
                        yield Select(
                            [(p.title, p.name) for p in cmp.PRESETS],
                            prompt="(none)",
                            value=self.preset,
                            id="compose-preset",
                            compact=True,
                        )
                    with Horizontal(classes="compose-line"):
                        yield Label("Queue", classes="compose-name")
                        yield Select(
                            self._queue_options(),
                            value=self.sqid if self.sqid in self.context.sqs else Select.NULL,
                            allow_blank=False,
                            id="compose-queue",
                            compact=True,
                        )
                    with Horizontal(classes="compose-line"):
                        yield Label("Opcode", classes="compose-name")
                        yield Select(
                            self._opcode_options(),
                            value=self.opc,
                            allow_blank=False,
                            id="compose-opcode",
                            compact=True,
                        )
                    yield NumberRow("nsid", "NSID", "f-nsid", _shown(self.nsid),
                                    "Namespace Identifier · SQE bytes 7:4")  # fmt: skip
                    yield Vertical(id="compose-fields")
                    with Horizontal(classes="compose-line"):
                        yield Label("PRPs", classes="compose-name")
                        yield Select(
                            [("allocated by the host", PRP_AUTO), ("typed by hand", PRP_HAND)],
                            value=PRP_AUTO,
                            allow_blank=False,
                            id="compose-prp-mode",
                            compact=True,
                        )
                    with Vertical(id="compose-prps"):
                        for n, where in ((1, "31:24"), (2, "39:32")):
                            yield NumberRow(f"prp{n}", f"PRP{n}", f"f-prp{n}", "0x0",
                                            f"PRP Entry {n} · SQE bytes {where}",
                                            wide=True)  # fmt: skip
                    with Vertical(id="compose-data"):
                        with Horizontal(classes="compose-line"):
                            yield Label("Data", classes="compose-name")
                            data = InOrderInput(
                                "hello, nvme",
                                id="f-data",
                                max_length=MAX_DATA_TEXT,
                                select_on_focus=False,
                                compact=True,
                                classes="compose-text",
                            )
                            data.cursor_blink = False
                            yield data
                        yield Label(
                            "the text in the buffer, zeros after it", classes="compose-hint"
                        )
                    yield Label(NUMBERS_HELP, classes="compose-help")
                    with Horizontal(id="compose-buttons"):
                        yield Button(
                            "Submit",
                            id="compose-submit",
                            classes="form-submit",
                            variant="primary",
                            compact=True,
                        )
                        yield Button(
                            "Cancel", id="compose-cancel", classes="form-cancel", compact=True
                        )
                yield Static("", id="compose-preview", markup=False)

    async def on_mount(self) -> None:
        await self._rebuild_fields()
        self.query_one("#compose-opcode", Select).focus()

    # -- keeping the form in step ------------------------------------------------------
    async def _rebuild_fields(self) -> None:
        """The opcode (or Set or Get Features' FID) changed: its fields replace the old ones."""
        box = self.query_one("#compose-fields", Vertical)
        self._rebuilding = True
        try:
            await box.remove_children()
            rows = [FieldRow(f, self.values.get(f.name, f.default)) for f in self.fields]
            await box.mount_all(rows)
        finally:
            self._rebuilding = False
        self._update()

    @on(Select.Changed, "#compose-preset")
    async def _preset(self, event: Select.Changed) -> None:
        preset = cmp.PRESET_NAMES.get(str(event.value)) if event.value is not Select.NULL else None
        if preset is None:
            return
        self.admin = preset.admin
        self.sqid = 0 if preset.admin else self._first_io_sq()
        self.opc = preset.opc
        self.nsid = preset.nsid
        self.values = self._preset_values(preset)
        with self.prevent(Select.Changed):
            queue = self.query_one("#compose-queue", Select)
            if self.sqid in self.context.sqs:
                queue.value = self.sqid
            opcode = self.query_one("#compose-opcode", Select)
            opcode.set_options(self._opcode_options())
            opcode.value = self.opc
        with self.prevent(Input.Changed):
            self.query_one("#f-nsid", Input).value = _shown(self.nsid)
        await self._rebuild_fields()

    @on(Select.Changed, "#compose-queue")
    async def _queue(self, event: Select.Changed) -> None:
        if event.value is Select.NULL:
            return
        self.sqid = int(str(event.value))
        admin = self.sqid == 0
        if admin != self.admin:
            self.admin = admin
            self.opc = 0x06 if admin else 0x02
            self.values = {f.name: f.default for f in self.fields}
            with self.prevent(Select.Changed):
                opcode = self.query_one("#compose-opcode", Select)
                opcode.set_options(self._opcode_options())
                opcode.value = self.opc
            await self._rebuild_fields()
        else:
            self._update()

    @on(Select.Changed, "#compose-opcode")
    async def _opcode(self, event: Select.Changed) -> None:
        if event.value is Select.NULL or int(str(event.value)) == self.opc:
            return
        self.opc = int(str(event.value))
        self.values = {f.name: f.default for f in self.fields}
        await self._rebuild_fields()

    @on(Select.Changed, "#compose-prp-mode")
    def _prp_mode(self) -> None:
        self._update()

    @on(Input.Changed)
    async def _typed(self, event: Input.Changed) -> None:
        if self._rebuilding:
            return
        event.stop()
        # Set and Get Features: another FID brings other fields in CDW11
        if self.admin and self.opc in FEATURES_OPCODES and event.input.id == "f-fid":
            before = self.values.get("fid")
            self._read_fields()
            if self.values.get("fid") != before and "fid" not in self.errors:
                await self._rebuild_fields()
                return
        self._update()

    def _read_fields(self) -> None:
        """Each field's text as its value, or its error."""
        self.errors = {}
        for f in self.fields:
            try:
                box = self.query_one(f"#f-{f.name}", Input)
            except Exception:
                continue
            try:
                self.values[f.name] = cmp.parse_number(box.value, f.limit, f.label)
            except cmp.ComposeError as exc:
                self.errors[f.name] = str(exc)
        for name, limit in (("nsid", 0xFFFFFFFF), ("prp1", (1 << 64) - 1), ("prp2", (1 << 64) - 1)):
            try:
                value = cmp.parse_number(self.query_one(f"#f-{name}", Input).value, limit,
                                         name.upper())  # fmt: skip
            except cmp.ComposeError as exc:
                if name == "nsid" or self.hand_prps:
                    self.errors[name] = str(exc)
                continue
            if name == "nsid":
                self.nsid = value
            else:
                self.prps[name] = value

    @property
    def hand_prps(self) -> bool:
        return self.query_one("#compose-prp-mode", Select).value == PRP_HAND

    @property
    def transfer(self) -> cmp.Transfer:
        return cmp.transfer(self.admin, self.opc, self.values, self.context.lba(self.nsid))

    def _update(self) -> None:
        if self._rebuilding:
            return
        self._read_fields()
        if self.sqid not in self.context.sqs:
            # the host would say "cannot send" and write nothing: refuse it here
            self.errors["_queue"] = (
                f"SQ{self.sqid} does not exist on the host yet: step past the bring-up (the "
                "driver creates the admin queue), then compose"
            )
        xfer = self.transfer
        if not self.hand_prps and max(xfer.length, xfer.queue) > cmp.MAX_HAND_BUFFER:
            self.errors.setdefault(
                "_buffer", f"{max(xfer.length, xfer.queue)} bytes is more than the "
                f"{cmp.MAX_HAND_BUFFER >> 20} MiB the host allocates: type the PRPs by hand",
            )  # fmt: skip
        self.show_errors()
        self.query_one("#compose-prps").display = self.hand_prps
        self.query_one("#compose-data").display = (
            not self.hand_prps and xfer.direction == cmp.TO_DEVICE
        )
        self.query_one("#compose-preview", Static).update(self.preview())

    # -- the live preview ---------------------------------------------------------------
    def dwords(self) -> dict[int, int]:
        values = {
            f.name: self.values.get(f.name, 0) for f in self.fields if f.name not in self.errors
        }
        return cmp.encode(self.fields, values)

    def preview(self) -> str:
        """CDW10-15, the transfer and the 64 bytes of the SQE, as the fields stand."""
        dw = self.dwords()
        xfer = self.transfer
        lines = [f"SQ{self.sqid} · opcode {self.opc:02X}h · NSID {self.nsid}"]
        lines += [f"CDW{n} {dw[n]:08x} CDW{n + 1} {dw[n + 1]:08x}" for n in cmp.CDWS[::2]]
        hand = self.hand_prps
        prp1, prp2 = (self.prps["prp1"], self.prps["prp2"]) if hand else (0, 0)
        lines.append(f"data: {xfer.words}")
        lines.append("CID set when sent (0 below)" if hand else "PRPs, CID set when sent (0)")
        sqe = pack_sqe(self.opc, 0, nsid=self.nsid, prp1=prp1, prp2=prp2,
                       **{f"cdw{n}": dw[n] for n in cmp.CDWS})  # fmt: skip
        lines.append("SQE, 64 bytes:")
        lines += [f"{i:02x} {sqe[i : i + 8].hex(' ')}" for i in range(0, 64, 8)]
        if self.errors:
            lines.append(f"{len(self.errors)} field(s) to fix before it can be sent")
            lines += [text for name, text in self.errors.items() if name.startswith("_")]
        return "\n".join(lines)

    # -- submit -------------------------------------------------------------------------------
    def request(self) -> ComposeRequest | None:
        """The request the fields make, or None (with the errors shown) if one is wrong."""
        self._update()
        if self.errors:
            return None
        xfer = self.transfer
        hand = self.hand_prps
        data = b""
        if not hand and xfer.direction == cmp.TO_DEVICE:
            data = self.query_one("#f-data", Input).value.encode("utf-8", "replace")
        title = cmp.opcodes(self.admin).get(self.opc, f"{self.opc:02X}h")
        dw = self.dwords()
        command = cmp.HandCommand(
            self.sqid, self.opc, self.nsid, *(dw[n] for n in cmp.CDWS),
            prp1=self.prps["prp1"] if hand else None,
            prp2=self.prps["prp2"] if hand else None,
            length=xfer.length, to_device=xfer.direction == cmp.TO_DEVICE, data=data,
            queue_bytes=xfer.queue,
        )  # fmt: skip
        return ComposeRequest(command, title)

    def action_submit(self) -> None:
        got = self.request()
        if got is None:
            self.refuse()
            return
        self.dismiss(got)


def context_of(source: Any) -> ComposeContext:
    """The form's view of a live session (``LiveSource``)."""
    sqs = source.host_sqs()
    used = set(sqs) | {q for _, _, q in sqs.values()}
    free = next(q for q in range(1, 65536) if q not in used)
    return ComposeContext(sqs, {1: source.lba_size(1)}, free)


__all__ = ["ComposeContext", "ComposeRequest", "ComposeScreen", "context_of"]
