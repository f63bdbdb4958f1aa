"""The Detail panel: the event under the cursor, field by field, beside its bytes.

Every layout comes from ``nvme/`` through :func:`~nvmescope.nvme.decode.decode`;
this module only decides *which* layout an event's bytes are:

- ``sqe_fetch``, and a ``mem_write`` into an SQ slot: ``sqe`` (admin when the
  queue is SQ0);
- ``cqe_post``, and a ``mem_read`` of a CQ slot: ``cqe``;
- ``mmio_read`` / ``mmio_write`` of a register: ``reg:<name>``, the whole
  register as the state holds it (a 64-bit register written in halves shows
  both), the fields the write changed marked with their old value;
- ``dma_write`` / ``dma_read`` of a command's data, by the command's SQE:
  Identify by its CNS (``identify_ctrl``, ``identify_ns``, ``active_ns_list``,
  ``ns_desc_list``), Get Log Page by its LID (``error_log_entry`` entries,
  ``smart_log``, ``fw_slot_log``, ``cmd_effects_log``), a feature whose value
  travels in the data buffer (Timestamp); data spread over several DMA
  segments is decoded whole, as it is in host memory, at the last segment; the
  host's ``mem_read`` of that buffer afterwards decodes the same way;
- ``map_prp``: PRP1 and PRP2 (the SQE's own bytes), the entries of each PRP
  list page (``prp_list``, read from host memory), the segments;
- ``cmd_start``, ``cmd_finish``, ``queue_created``, ``err_*``, ``ub_*``: the
  command's SQE, with the status, the words, the detail, and a feature value
  (``feat:<name>``) of Set Features (CDW11) or Get Features (Dword 0);
- ``host_step``: its sentence; any other event: its fields.

The command an event belongs to comes from the command view once the analysis
has arrived, else from a bounded scan back through the Source for the
``sqe_fetch`` of the same SQID and CID.

The panel is a title line, the field tree (a :class:`FieldTree`, with any free
text of the event as its first rows) beside or above the hex view, and a status
line. Each keeps its size from one event to the next, so a step repaints them
and re-lays nothing out but the tree's length.

Choosing a field in the tree highlights its bytes in the hex view; moving the
hex cursor selects the deepest field covering that byte, opening its parents
(both ways, as Wireshark does). Decoded trees are cached by content and by
event, and the tree is rebuilt only when the decoded structure changes (the
same root object is only relabelled), so stepping through events whose page did
not change costs next to nothing. The field chosen stays chosen on the next
events that have a field of the same path.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.events import Resize

from nvmescope.events import (
    ERR_KINDS,
    UB_KINDS,
    Event,
    describe,
    plural,
    stale_slot_words,
    to_builtins,
)
from nvmescope.nvme import features, registers
from nvmescope.nvme.commands import CQE_SIZE, PRP_ENTRY_SIZE, SQE_SIZE, Sqe, unpack_sqe
from nvmescope.nvme.decode import LAYOUTS, FieldNode, decode, feature_layout_name
from nvmescope.nvme.opcodes import IDENTIFY_CNS, LOG_PAGES, feature_title, opcode_name, opcode_title
from nvmescope.nvme.status import describe_status
from nvmescope.trace.commands import Command
from nvmescope.trace.state import PAGE, State
from nvmescope.ui.source import Analysis, Moment, Source
from nvmescope.ui.widgets._fieldtree import FieldTree, Fold, field_label
from nvmescope.ui.widgets._hexview import HexRegion, HexView, hex_region
from nvmescope.ui.widgets._lru import LruCache
from nvmescope.ui.widgets._memory import writer_of
from nvmescope.ui.widgets._panel import Panel, set_text
from nvmescope.ui.widgets._rowview import SteadyScroll
from nvmescope.ui.widgets._textlines import TextLines

#: how far back the panel looks for a command's sqe_fetch when the command view is not ready
LOOKBACK = 4096
_BLOCK = 256
#: decoded events kept
EVENT_CACHE = 256
#: a tree this small opens fully; a bigger one shows its first level
OPEN_ALL = 48
#: the panel lays the tree and the hex side by side from this width on
SIDE_BY_SIDE = 130

#: Identify CNS -> the layout of the data it returns (by the CNS names of opcodes.py)
IDENTIFY_LAYOUTS = {
    "ctrl": "identify_ctrl",
    "ns": "identify_ns",
    "active_ns_list": "active_ns_list",
    "csi_active_ns_list": "active_ns_list",
    "ns_desc_list": "ns_desc_list",
}
#: Log Page Identifier -> the layout of the page (error: one per entry)
LOG_LAYOUTS = {
    "error": "error_log_entry",
    "smart": "smart_log",
    "fw_slot": "fw_slot_log",
    "cmd_effects": "cmd_effects_log",
}


# -- decoding, cached ---------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _decode_cached(name: str, data: bytes, context: tuple[tuple[str, Any], ...]) -> FieldNode:
    return decode(name, data, dict(context))


def decode_layout(name: str, data: bytes, context: Mapping[str, Any] | None = None) -> FieldNode:
    """``decode`` through a cache keyed by the layout, the bytes and the context: the same
    4 KiB page decodes once however many events show it."""
    return _decode_cached(name, bytes(data), tuple(sorted((context or {}).items())))


def graft(node: FieldNode, delta: int, name: str | None = None, prefix: str = "") -> FieldNode:
    """A copy of ``node``'s tree moved ``delta`` bytes on (renamed, its paths prefixed)."""
    if not delta and name is None and not prefix:
        return node

    def move(n: FieldNode) -> FieldNode:
        path = f"{prefix}.{n.path}" if prefix and n.path else (prefix or n.path)
        return replace(
            n,
            offset=n.offset + delta,
            path=path,
            children=[move(c) for c in n.children],
        )

    out = move(node)
    if name is not None:
        out.name = name
    return out


def value_node(name: str, value: Any, meaning: str = "", path: str = "") -> FieldNode:
    """A field that is not bytes of the view (an event's field): it covers no byte."""
    return FieldNode(name, 0, 0, b"", value, meaning, path=path or name)


def group_node(
    name: str,
    offset: int,
    size: int,
    children: list[FieldNode],
    meaning: str = "",
    raw: bytes = b"",
) -> FieldNode:
    return FieldNode(name, offset, size, raw, None, meaning, children=children, path=name)


def find_path(root: FieldNode, path: str) -> FieldNode | None:
    for node in root.walk():
        if node.path == path:
            return node
    return None


# -- what the panel shows ------------------------------------------------------------------------
@dataclass(eq=False)
class Decoded:
    """An event made ready for the panel: a field tree and the bytes its offsets address."""

    title: str
    root: FieldNode | None
    regions: tuple[HexRegion, ...] = ()
    #: free text, wrapped above the tree (a host_step's sentence, which has no tree; the
    #: description of an err_* or ub_* event)
    text: str = ""
    #: what the panel could not show (bytes the recording lacks, a decoding error, ...),
    #: drawn as a warning above the text
    note: str = ""
    #: highlight name -> byte ranges (the part of the buffer this event moved)
    marks: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    #: path -> the value before this event (the fields a register write changed)
    changed: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandInfo:
    """The command an event belongs to, as far as the events tell it."""

    sqid: int
    cid: int
    fetch: int
    sqe_addr: int
    sqe_data: bytes
    sqe: Sqe | None
    map_prp: Event | None = None
    command: Command | None = None

    @property
    def admin(self) -> bool:
        return self.sqid == 0

    @property
    def opname(self) -> str:
        return opcode_name(self.sqe.opc, self.admin) if self.sqe is not None else ""

    def words(self) -> str:
        if self.sqe is None:
            return f"SQ{self.sqid}:{self.cid}"
        return f"{opcode_title(self.sqe.opc, self.admin)} (SQ{self.sqid}, cid {self.cid})"


class CommandFinder:
    """The command of an event: from the command view when it covers the event, else by a
    bounded scan back for the ``sqe_fetch`` of the same (SQID, CID)."""

    def __init__(self, source: Source, lookback: int = LOOKBACK) -> None:
        self.source = source
        self.lookback = lookback
        self._analysis: Analysis | None = None
        self._seen = 0
        self._finished = False
        self._by_key: dict[tuple[int, int], list[Command]] = {}

    def _sync(self, analysis: Analysis) -> None:
        commands = analysis.tracker.commands
        if analysis is not self._analysis or analysis.finished != self._finished:
            self._analysis, self._finished, self._seen = analysis, analysis.finished, 0
            self._by_key = {}
        for cmd in commands[self._seen :]:
            if cmd.cid is not None:
                self._by_key.setdefault((cmd.sqid, cmd.cid), []).append(cmd)
        self._seen = len(commands)

    def find(
        self, index: int, sqid: int, cid: int, analysis: Analysis | None
    ) -> CommandInfo | None:
        if analysis is not None and analysis.fed > index:
            self._sync(analysis)
            for cmd in reversed(self._by_key.get((sqid, cid), ())):
                if cmd.first > index or cmd.fetch is None or cmd.fetch > index:
                    continue
                k = bisect.bisect_left(cmd.events, index)
                if k < len(cmd.events) and cmd.events[k] == index:
                    return self._info(cmd.fetch, index, cmd)
        return self._scan(index, sqid, cid)

    def _info(self, fetch: int, index: int, cmd: Command) -> CommandInfo | None:
        fetched: Any = self.source.event(fetch)
        mp = None
        for pos in reversed(cmd.events):
            if fetch < pos <= index:
                e = self.source.event(pos)
                if e.kind == "map_prp":
                    mp = e
                    break
        return _command_info(fetch, fetched, mp, cmd)

    def _scan(self, index: int, sqid: int, cid: int) -> CommandInfo | None:
        stop = max(0, index - self.lookback)
        hi = index + 1
        mp = None
        while hi > stop:
            lo = max(stop, hi - _BLOCK)
            block = list(self.source.events(lo, hi))
            for k in range(len(block) - 1, -1, -1):
                e = block[k]
                if e.sqid != sqid or e.cid != cid:
                    continue
                if e.kind == "map_prp" and mp is None:
                    mp = e
                elif e.kind == "sqe_fetch":
                    return _command_info(lo + k, e, mp, None)
            hi = lo
        return None


def _command_info(fetch: int, e: Any, mp: Event | None, cmd: Command | None) -> CommandInfo:
    data = bytes(e.data or b"")
    sqe = unpack_sqe(data[:SQE_SIZE]) if len(data) >= SQE_SIZE else None
    cid = e.cid if e.cid is not None else (sqe.cid if sqe is not None else -1)
    return CommandInfo(e.sqid or 0, cid, fetch, e.addr, data[:SQE_SIZE], sqe, mp, cmd)


class EventDecoder:
    """Turns the event of a moment into a :class:`Decoded`, cached by event."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.commands = CommandFinder(source)
        self._cache: LruCache[tuple[int, bool], Decoded] = LruCache(EVENT_CACHE)

    def decode(self, moment: Moment, analysis: Analysis | None = None) -> Decoded:
        event = moment.event
        if event is None:
            return Decoded("no events", None)
        ready = analysis is not None and analysis.fed > moment.index
        key = (moment.index, ready)
        got = self._cache.get(key)
        if got is None:
            got = self._decode(moment, event, analysis)
            self._cache[key] = got
        return got

    def command(self, moment: Moment, analysis: Analysis | None) -> CommandInfo | None:
        event = moment.event
        if event is None or event.sqid is None or event.cid is None:
            return None
        return self.commands.find(moment.index, event.sqid, event.cid, analysis)

    # -- by kind ----------------------------------------------------------------------------
    def _decode(self, moment: Moment, event: Event, analysis: Analysis | None) -> Decoded:
        kind = event.kind
        e: Any = event
        try:
            if kind == "sqe_fetch":
                got = self._sqe_fetch(moment, e)
            elif kind == "cqe_post":
                got = self._cqe_post(moment, e, analysis)
            elif kind in ("mmio_read", "mmio_write"):
                got = self._register(moment, e)
            elif kind == "mem_write":
                got = self._mem_write(moment, e)
            elif kind == "mem_read":
                got = self._mem_read(moment, e, analysis)
            elif kind in ("dma_write", "dma_read"):
                got = self._dma(moment, e, analysis)
            elif kind == "map_prp":
                got = self._map_prp(moment, e, analysis)
            elif kind in ("cmd_start", "cmd_finish", "queue_created") or kind.startswith(
                ("err_", "ub_")
            ):
                got = self._command_event(moment, e, analysis)
            elif kind == "host_step":
                got = Decoded(f"host_step {e.step}", None, text=e.text)
            else:
                got = None
        except (KeyError, ValueError, IndexError) as exc:  # a damaged event must not take the pane
            return _fields_only(event, note=f"cannot decode: {type(exc).__name__}: {exc}")
        if got is not None:
            return got
        missing = kind in ("sqe_fetch", "cqe_post") or (
            kind in ("dma_write", "dma_read") and not e.data
        )
        return _fields_only(
            event, note="the recording does not hold these bytes" if missing else ""
        )

    def _sqe_fetch(self, moment: Moment, e: Any) -> Decoded | None:
        data = bytes(e.data or b"")[:SQE_SIZE]
        if len(data) < SQE_SIZE:
            data = moment.state.read_mem(e.addr, SQE_SIZE) or b""
        if len(data) != SQE_SIZE:
            return None
        admin = (e.sqid or 0) == 0
        root = decode_layout("sqe", data, {"admin": admin})
        opc = data[0]
        title = (
            f"SQE fetched from SQ{e.sqid} slot {e.slot} @{e.addr:#x}: "
            f"{opcode_title(opc, admin)}, cid {int.from_bytes(data[2:4], 'little')}"
        )
        return Decoded(title, root, (HexRegion(data, origin=0, address=e.addr),))

    def _cqe_post(self, moment: Moment, e: Any, analysis: Analysis | None) -> Decoded | None:
        data = bytes(e.data or b"")[:CQE_SIZE]
        if len(data) < CQE_SIZE:
            data = moment.state.read_mem(e.addr, CQE_SIZE) or b""
        if len(data) != CQE_SIZE:
            return None
        context: dict[str, Any] = {"admin": (e.sqid or 0) == 0}
        cmd = self.command(moment, analysis)
        if cmd is not None and cmd.sqe is not None:
            context["opc"] = cmd.sqe.opc
            if cmd.opname in ("get_features", "set_features"):
                context["fid"] = cmd.sqe.cdw10 & 0xFF
                context["sel"] = (cmd.sqe.cdw10 >> 8) & 0x7 if cmd.opname == "get_features" else 0
        root = decode_layout("cqe", data, context)
        title = f"CQE posted to CQ{e.cqid} slot {e.slot} @{e.addr:#x}: {describe_status(e.status)}"
        if cmd is not None:
            title += f" for {cmd.words()}"
        return Decoded(title, root, (HexRegion(data, origin=0, address=e.addr),))

    def _register(self, moment: Moment, e: Any) -> Decoded | None:
        base = (e.reg or "").split(".")[0]
        reg = registers.BY_NAME.get(base)
        if reg is None:
            return None
        state, before = moment.state, moment.before
        after = [state.bar0.get(reg.offset + i) for i in range(reg.size)]
        region = hex_region(after, origin=reg.offset)
        root = decode_layout(f"reg:{base}", region.data)
        verb = "writes" if e.kind == "mmio_write" else "reads"
        value = e.new if e.kind == "mmio_write" else e.value
        title = f"host {verb} {e.reg.upper()} @{e.addr:#x}: {value:#x}"
        changed: dict[str, Any] = {}
        if e.kind == "mmio_write":
            old = [before.bar0.get(reg.offset + i) for i in range(reg.size)]
            if old != after and None not in old:
                old_root = decode_layout(f"reg:{base}", bytes(old))  # type: ignore[arg-type]
                olds = {n.path: n.value for n in old_root.walk() if not n.children}
                changed = {
                    n.path: olds[n.path]
                    for n in root.walk()
                    if not n.children and n.path in olds and olds[n.path] != n.value
                }
            title += f" (was {e.old:#x})"
        if region.known is not None:
            title += "; ?? = not known yet"
        lo = e.addr - reg.offset
        mark = "write" if e.kind == "mmio_write" else "read"
        marks = {mark: ((lo, lo + e.size),)} if e.size < reg.size else {}
        return Decoded(title, root, (region,), marks=marks, changed=changed)

    def _mem_write(self, moment: Moment, e: Any) -> Decoded | None:
        slot = _slot_of(moment.state.sqs, e.addr, SQE_SIZE)
        data = bytes(e.data)
        if slot is None or len(data) != SQE_SIZE:
            return _bytes_event(e, data)
        qid, index = slot
        root = decode_layout("sqe", data, {"admin": qid == 0})
        title = (
            f"host writes an SQE into SQ{qid} slot {index} @{e.addr:#x}: "
            f"{opcode_title(data[0], qid == 0)}, cid {int.from_bytes(data[2:4], 'little')}"
        )
        return Decoded(title, root, (HexRegion(data, origin=0, address=e.addr),))

    def _mem_read(self, moment: Moment, e: Any, analysis: Analysis | None) -> Decoded | None:
        data = bytes(e.data)
        slot = _slot_of(moment.state.cqs, e.addr, CQE_SIZE)
        if slot is not None and len(data) == CQE_SIZE:
            qid, index = slot
            admin = int.from_bytes(data[10:12], "little") == 0
            root = decode_layout("cqe", data, {"admin": admin})
            phase = data[14] & 1
            title = f"host reads CQ{qid} slot {index} @{e.addr:#x}: phase {phase}"
            new, words = _cqe_read_words(moment.state.cqs.get(qid), index, data)
            title += words
            if new is False:  # the fields below are what lies there, no CQE
                root.meaning = "not a completion: the slot's bytes, as a CQE would read"
            return Decoded(title, root, (HexRegion(data, origin=0, address=e.addr),))
        # the host reading a buffer the device wrote: decode it as that DMA's data
        writer = self._last_dma_write_at(moment.index, e.addr)
        if writer is not None:
            pos, dma = writer
            cmd = (
                self.commands.find(pos, dma.sqid, dma.cid, analysis)
                if dma.cid is not None
                else None
            )
            if cmd is not None:
                got = _data_tree(cmd, data, e.addr)
                if got is not None:
                    title, root = got
                    what = f"host reads {len(data)} B @{e.addr:#x}, written by event {pos}: {title}"
                    return Decoded(what, root, (HexRegion(data, origin=0, address=e.addr),))
        return _bytes_event(e, data)

    def _last_dma_write_at(self, index: int, addr: int) -> tuple[int, Any] | None:
        """The latest dma_write before ``index`` that starts at ``addr`` (bounded scan)."""
        stop = max(0, index - LOOKBACK)
        hi = index
        while hi > stop:
            lo = max(stop, hi - _BLOCK)
            block = list(self.source.events(lo, hi))
            for k in range(len(block) - 1, -1, -1):
                e: Any = block[k]
                if e.kind == "dma_write" and e.addr == addr and e.sqid is not None:
                    return lo + k, e
            hi = lo
        return None

    def _dma(self, moment: Moment, e: Any, analysis: Analysis | None) -> Decoded | None:
        data = bytes(e.data or b"")
        cmd = self.command(moment, analysis) if e.cid is not None else None
        if cmd is None or cmd.sqe is None:
            piece = data or moment.state.read_mem(e.addr, e.length) or b""
            return _bytes_event(e, piece) if piece else None
        segments = [(int(a), int(n)) for a, n in (cmd.map_prp.segments if cmd.map_prp else ())]  # type: ignore[attr-defined]
        if (e.addr, e.length) not in segments:
            segments = [(e.addr, e.length)]
        position = segments.index((e.addr, e.length))
        mark = "write" if e.kind == "dma_write" else "read"
        if position < len(segments) - 1:
            piece = data or moment.state.read_mem(e.addr, e.length) or b""
            decoded = _bytes_event(e, piece)
            decoded.note = (
                f"segment {position + 1} of {len(segments)} of {cmd.words()}: the whole buffer "
                "is decoded at the last segment"
            )
            return decoded
        parts = [moment.state.read_mem(a, n) for a, n in segments]
        if any(p is None for p in parts):
            if len(segments) > 1 or not data:
                return _bytes_event(e, data) if data else None
            parts = [data]
        buffer = b"".join(p for p in parts if p is not None)
        regions: list[HexRegion] = []
        offset = 0
        for i, (a, n) in enumerate(segments):
            label = f"segment {i + 1} of {len(segments)}: {n} B @{a:#x}"
            regions.append(HexRegion(buffer[offset : offset + n], None, offset, a, label))
            offset += n
        marks: dict[str, tuple[tuple[int, int], ...]] = {}
        if len(segments) > 1:
            start = sum(n for _, n in segments[:position])
            marks[mark] = ((start, start + e.length),)
        verb = "DMA-writes" if e.kind == "dma_write" else "DMA-reads"
        where = f"{len(buffer)} B @{segments[0][0]:#x}"
        if len(segments) > 1:
            where += f" in {len(segments)} segments"
        got = _data_tree(cmd, buffer, segments[0][0])
        if got is None:
            title = f"device {verb} {where}: data of {cmd.words()}"
            root = FieldNode("data", 0, len(buffer), buffer, None, f"data of {cmd.words()}")
        else:
            what, root = got
            title = f"device {verb} {where}: {what}"
        return Decoded(title, root, tuple(regions), marks=marks)

    def _map_prp(self, moment: Moment, e: Any, analysis: Analysis | None) -> Decoded:
        cmd = self.command(moment, analysis)
        state = moment.state
        regions: list[HexRegion] = []
        children: list[FieldNode] = []
        offset = 0
        sqe_root = None
        if cmd is not None and cmd.sqe is not None and len(cmd.sqe_data) == SQE_SIZE:
            sqe_root = decode_layout("sqe", cmd.sqe_data, {"admin": cmd.admin})
            regions.append(
                HexRegion(cmd.sqe_data, None, cmd.sqe_addr, cmd.sqe_addr, f"SQE @{cmd.sqe_addr:#x}")
            )
            offset = SQE_SIZE
        page = _page_size(state)
        for name in ("prp1", "prp2"):
            node = find_path(sqe_root, name) if sqe_root is not None else None
            words = _prp_words(name, e, page)
            if node is not None:
                node = replace(node, meaning=f"{node.meaning}: {words}")
                children.append(node)
            else:
                children.append(
                    value_node(name, getattr(e, name), f"{getattr(e, name):#x}: {words}")
                )
        children.append(value_node("length", e.length, f"{e.length} bytes to move"))
        for k, (list_addr, count) in enumerate(_list_pages(e, page)):
            length = count * PRP_ENTRY_SIZE
            region = _memory_bytes(
                state, list_addr, length, f"PRP list page {k + 1} @{list_addr:#x}"
            )
            regions.append(region)
            children.append(_prp_list_node(k, list_addr, region, offset, count))
            offset += length
        segs = [
            value_node(f"[{i}]", a, f"{n} bytes at {a:#x}", path=f"segments[{i}]")
            for i, (a, n) in enumerate(e.segments)
        ]
        children.append(
            FieldNode(
                "segments",
                0,
                0,
                b"",
                None,
                plural(len(segs), "contiguous host range"),
                segs,
                path="segments",
            )
        )
        total = sum(len(r) for r in regions)
        root = group_node("map_prp", 0, total, children, describe(e))
        title = f"PRPs of {cmd.words()}" if cmd is not None else "PRPs"
        title += f": {e.length} B in {plural(len(e.segments), 'contiguous host range')}"
        if e.list_pages:
            title += f", {plural(len(e.list_pages), 'PRP list page')}"
        return Decoded(title, root, tuple(regions))

    def _command_event(self, moment: Moment, e: Any, analysis: Analysis | None) -> Decoded:
        kind = e.kind
        cmd = self.command(moment, analysis)
        text = ""
        children: list[FieldNode] = []
        regions: list[HexRegion] = []
        sqe_root = None
        if cmd is not None and cmd.sqe is not None and len(cmd.sqe_data) == SQE_SIZE:
            sqe_root = decode_layout("sqe", cmd.sqe_data, {"admin": cmd.admin})
            regions.append(
                HexRegion(cmd.sqe_data, None, 0, cmd.sqe_addr, f"SQE @{cmd.sqe_addr:#x}")
            )
        if kind.startswith(("err_", "ub_")):
            table = ERR_KINDS if kind.startswith("err_") else UB_KINDS
            children.append(value_node("what", table.get(kind, kind)))
            if e.detail:
                children.append(value_node("detail", e.detail))
            if e.status:
                children.append(value_node("status", e.status, describe_status(e.status)))
            words = table.get(kind, kind)
            # the whole description, wrapped above the fields (the title line may cut it)
            text = f"{words}: {e.detail}" if e.detail else words
        else:
            words = describe(e)
            children.extend(_fields(e, skip={"opcode", "opname", "ts", "sqid", "cid", "actor"}))
        if (
            cmd is not None
            and cmd.sqe is not None
            and cmd.opname in ("set_features", "get_features")
        ):
            fid = cmd.sqe.cdw10 & 0xFF
            name = feature_layout_name(fid)
            if name is not None and LAYOUTS[name].size <= 4:
                if kind == "cmd_start" and cmd.opname == "set_features" and sqe_root is not None:
                    cdw11 = find_path(sqe_root, "cdw11")
                    if cdw11 is not None:
                        value = decode_layout(name, cdw11.raw)
                        children.append(
                            graft(
                                value, cdw11.offset, f"cdw11 as {feature_title(fid)}", "cdw11_value"
                            )
                        )
                elif kind == "cmd_finish" and (
                    cmd.opname == "get_features" or fid == features.FID_NUMBER_OF_QUEUES
                ):
                    # Get Features returns the value in Dword 0; Set Features Number of
                    # Queues returns the queues allocated there, in the same layout
                    raw = (e.dw0 & 0xFFFFFFFF).to_bytes(4, "little")
                    start = sum(len(r) for r in regions)
                    regions.append(HexRegion(raw, None, 0, None, "completion Dword 0"))
                    value = decode_layout(name, raw)
                    children.append(
                        graft(value, start, f"dw0 as {feature_title(fid)}", "dw0_value")
                    )
        if sqe_root is not None:
            children.append(sqe_root)  # the event's own fields and a feature value first
        total = sum(len(r) for r in regions)
        root = group_node(kind, 0, total, children, words)
        title = f"{kind}: {words}"
        if cmd is not None:
            title = f"{kind} of {cmd.words()}: {words}"
        if text:  # the description is the text: the title names the event and the command
            title = f"{kind} of {cmd.words()}" if cmd is not None else kind
        return Decoded(title, root, tuple(regions), text=text)


# -- the data of a command ------------------------------------------------------------------------
def _data_tree(cmd: CommandInfo, buffer: bytes, addr: int) -> tuple[str, FieldNode] | None:
    """(words, tree) of a command's data buffer, or None when no layout says what it is."""
    sqe = cmd.sqe
    if sqe is None or not cmd.admin:
        return None
    name = cmd.opname
    if name == "identify":
        cns = sqe.cdw10 & 0xFF
        known = IDENTIFY_CNS.get(cns)
        layout = IDENTIFY_LAYOUTS.get(known.name) if known is not None else None
        what = f"{known.title if known else 'Identify'} (CNS {cns:02X}h)"
        if layout is None:
            return None
        return _fit(layout, buffer, what, {})
    if name == "get_log_page":
        lid = sqe.cdw10 & 0xFF
        lpo = sqe.cdw12 | (sqe.cdw13 << 32)
        known = LOG_PAGES.get(lid)
        layout = LOG_LAYOUTS.get(known.name) if known is not None else None
        what = f"{known.title if known else 'log page'} log (LID {lid:02X}h)"
        if layout is None or lpo:
            return None
        if known is not None and known.name == "error":
            return what, _entries(layout, buffer, what)
        return _fit(layout, buffer, what, {})
    if name in ("set_features", "get_features"):
        fid = sqe.cdw10 & 0xFF
        layout = feature_layout_name(fid)
        # a feature whose value is bigger than a dword travels in the data buffer
        if layout is None or LAYOUTS[layout].size <= 4:
            return None
        return _fit(layout, buffer, f"{feature_title(fid)} (FID {fid:02X}h)", {})
    return None


def _fit(
    layout: str, buffer: bytes, what: str, context: Mapping[str, Any]
) -> tuple[str, FieldNode] | None:
    size = LAYOUTS[layout].size
    if len(buffer) < size:
        return None
    root = decode_layout(layout, buffer[:size], context)
    if len(buffer) == size:
        return what, root
    rest = FieldNode(
        "beyond", size, len(buffer) - size, buffer[size:], None,
        f"{len(buffer) - size} bytes after the {size}-byte {LAYOUTS[layout].title}",
        path="beyond",
    )  # fmt: skip
    return what, group_node(layout, 0, len(buffer), [root, rest], what, buffer)


def _entries(layout: str, buffer: bytes, what: str) -> FieldNode:
    size = LAYOUTS[layout].size
    count = len(buffer) // size
    children = [
        graft(
            decode_layout(layout, buffer[i * size : (i + 1) * size]), i * size, f"[{i}]", f"[{i}]"
        )
        for i in range(count)
    ]
    if len(buffer) % size:
        start = count * size
        children.append(
            FieldNode("rest", start, len(buffer) - start, buffer[start:], None, "a partial entry")
        )
    return group_node(layout, 0, len(buffer), children, f"{what}: {count} entries", buffer)


# -- PRPs ----------------------------------------------------------------------------------------
def _page_size(state: State) -> int:
    cc = state.register("cc")
    if cc is None:
        return PAGE
    return 1 << (12 + registers.CC.get(cc, "mps"))


def _prp_words(name: str, e: Any, page: int) -> str:
    first = min(e.length, page - e.prp1 % page)
    if name == "prp1":
        return f"the first {first} bytes"
    rest = e.length - first
    if rest <= 0:
        return "not used: the data fits in PRP1's page"
    if rest <= page:
        return f"the second page, {rest} bytes"
    return f"a PRP list of the {-(-rest // page)} further pages"


def _list_pages(e: Any, page: int) -> list[tuple[int, int]]:
    """(address, entries the device read) of each PRP list page of a ``map_prp``.

    The counts follow NVMe 1.4 section 4.3: a list page holds entries to its end; the
    last entry of a full one points at the next list page.
    """
    remaining = e.length - min(e.length, page - e.prp1 % page)
    out = []
    for addr in e.list_pages:
        room = (page - addr % page) // PRP_ENTRY_SIZE
        needed = -(-remaining // page)
        count = room if needed > room else needed
        out.append((addr, count))
        remaining -= (count - 1 if needed > room else count) * page
    return out


def _memory_bytes(state: State, addr: int, length: int, label: str) -> HexRegion:
    """Host memory as the state knows it, shown with its host addresses."""
    return hex_region(state.mem_bytes(addr, length), origin=addr, address=addr, label=label)


def _prp_list_node(k: int, addr: int, region: HexRegion, offset: int, count: int) -> FieldNode:
    """The entries of one PRP list page, decoded by the ``prp_list`` layout.

    The layout is one list page of the smallest page size; a list that starts inside
    such a page (or a bigger memory page) is decoded piece by piece where it sits.
    """
    size = LAYOUTS["prp_list"].size
    data = region.data
    entries: list[FieldNode] = []
    pos = 0
    while pos < len(data):
        start = (addr + pos) % size
        n = min(size - start, len(data) - pos)
        piece = bytes(start) + data[pos : pos + n] + bytes(size - start - n)
        tree = decode_layout("prp_list", piece)
        first = start // PRP_ENTRY_SIZE
        for child in tree.children[first : first + n // PRP_ENTRY_SIZE]:
            entry = graft(child, offset + pos - start, f"[{len(entries)}]")
            entry.path = f"prp_list[{k}][{len(entries)}]"
            entries.append(entry)
        pos += n
    unknown = " (some bytes are not known)" if region.known is not None else ""
    node = group_node(
        f"prp_list[{k}]",
        offset,
        count * PRP_ENTRY_SIZE,
        entries,
        f"PRP list page @{addr:#x}: {count} entries the device read{unknown}",
        data,
    )
    node.path = f"prp_list[{k}]"
    return node


# -- plain events -----------------------------------------------------------------------------
def _slot_of(queues: Mapping[int, Any], addr: int, entry: int) -> tuple[int, int] | None:
    for qid, q in queues.items():
        if q.addr is None or not q.qsize:
            continue
        rel = addr - q.addr
        if 0 <= rel < q.qsize * entry and rel % entry == 0:
            return qid, rel // entry
    return None


def _fields(event: Event, skip: Iterable[str] = ()) -> list[FieldNode]:
    """An event's own fields as value nodes (bytes fields are left to the hex view)."""
    out: list[FieldNode] = []
    skipped = set(skip) | {"kind", "seq"}
    data = to_builtins(event)
    for key, value in data.items():
        if key in skipped or isinstance(getattr(event, key, None), bytes):
            continue
        out.append(_field(key, value))
    return out


def _field(key: str, value: Any) -> FieldNode:
    meaning = ""
    if key == "ts":
        meaning = f"{value / 1000:.3f} us of virtual time"
    elif key == "status" and isinstance(value, int):
        meaning = describe_status(value)
    elif (
        isinstance(value, int)
        and not isinstance(value, bool)
        and ("addr" in key or key.startswith("prp") or key in ("address", "old", "new", "value"))
    ):
        meaning = f"{value:#x}"
    if isinstance(value, list):
        items = [_field(f"[{i}]", v) for i, v in enumerate(value)]
        for i, item in enumerate(items):
            item.path = f"{key}[{i}]"
            if isinstance(value[i], (list, tuple)) and len(value[i]) == 2:
                addr, n = value[i]
                # an SGL's Bit Bucket has no address: its bytes are thrown away
                where = "Bit Bucket" if addr is None else f"{addr:#x}"
                item.meaning = f"{where}, {n} bytes"
        return FieldNode(key, 0, 0, b"", None, f"{len(value)} items", items, path=key)
    return value_node(key, value, meaning)


def _fields_only(event: Event, note: str = "") -> Decoded:
    root = group_node(event.kind, 0, 0, _fields(event), describe(event))
    return Decoded(f"{event.kind}: {describe(event)}", root, note=note)


def _cqe_read_words(cq: Any, slot: int, data: bytes) -> tuple[bool | None, str]:
    """Whether the entry the host reads at ``slot`` of ``cq`` is a completion the device
    posted and the host has not handed back (between the CQ's head and tail as of this
    event), or not: then its bytes are no completion, whatever they decode as. Returns
    (new, or None when the CQ's size is not known; the words for the title)."""
    qsize = getattr(cq, "qsize", None)
    if not qsize:
        return None, ""
    if (slot - cq.head) % qsize < (cq.tail - cq.head) % qsize:
        return True, ", a new completion"
    what = stale_slot_words(data) + (", from an earlier pass" if any(data) else "")
    return False, f", not a new completion (the device's next goes to slot {cq.tail}): {what}"


def _bytes_event(e: Any, data: bytes) -> Decoded:
    """An event that moved bytes no layout describes: its fields and the bytes."""
    children = _fields(e)
    regions: tuple[HexRegion, ...] = ()
    if data:
        children.append(
            FieldNode("data", 0, len(data), data, None, f"{len(data)} bytes", path="data")
        )
        regions = (HexRegion(data, None, 0, e.addr),)
    root = group_node(e.kind, 0, len(data), children, describe(e), data)
    return Decoded(f"{e.kind}: {describe(e)}", root, regions)


# -- the panel -----------------------------------------------------------------------------------
class PanelHex(HexView, SteadyScroll):
    """The panel's hex view: a step that shows more or fewer lines of bytes repaints it,
    with no layout pass (its scrollbar is always shown: detail.tcss)."""


class DetailPanel(Panel):
    """See the module docstring."""

    PANEL_ID = "detail"
    TITLE = "Detail"

    BINDINGS = [
        Binding("w", "writer", "writer", show=False, tooltip="Jump to the writer of the hex byte"),
        Binding("e", "expand_all", "expand all", show=False, tooltip="Open every field"),
    ]

    #: the app lists these in the command palette and runs ``panel.run_action(action)``
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        (
            "Detail: jump to the writer of the byte under the hex cursor",
            "Back to the event that last wrote that byte of host memory",
            "writer",
        ),
        ("Detail: open every field", "Expand the whole field tree of the event", "expand_all"),
    )

    def __init__(self, source: Source, *, id: str | None = None) -> None:
        super().__init__(source, id=id)
        self.decoder = EventDecoder(source)
        self.field_tree = FieldTree(id="detail-tree")
        self.hex = PanelHex(id="detail-hex")
        self.decoded: Decoded | None = None
        self._root: FieldNode | None = None
        self._selected_path: str | None = None
        self._regions_key: tuple[Any, ...] = ()

    @property
    def tree_builds(self) -> int:
        """How many times a new tree was shown (the tests watch that it is not rebuilt
        needlessly)."""
        return self.field_tree.builds

    def compose(self) -> ComposeResult:
        # every child keeps its size from one event to the next: a step repaints them,
        # it never shows, hides or resizes one (no layout pass beyond the tree's length)
        yield TextLines(id="detail-title")
        with Container(id="detail-body"):
            yield self.field_tree
            yield self.hex
        yield TextLines(id="detail-status")

    def focus_target(self) -> FieldTree:
        return self.field_tree

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width >= SIDE_BY_SIDE, "-side")

    # -- fed by the app ------------------------------------------------------------------------
    def update_moment(self, moment: Moment) -> None:
        self.show_decoded(self.decoder.decode(moment, self.analysis))

    def update_analysis(self, analysis: Analysis) -> None:
        if self.moment is not None and self.moment.event is not None:
            self.show_decoded(self.decoder.decode(self.moment, analysis))

    @property
    def selected(self) -> FieldNode | None:
        """The field the tree's cursor is on."""
        item = self.field_tree.cursor_item
        return item if isinstance(item, FieldNode) else None

    def show_decoded(self, decoded: Decoded) -> None:
        if decoded is self.decoded:
            return
        self.decoded = decoded
        set_text(self.query_one("#detail-title", TextLines), decoded.title)
        key = tuple((r.data, r.known, r.origin, r.address, r.label) for r in decoded.regions)
        if key != self._regions_key:
            self._regions_key = key
            self.hex.set_regions(decoded.regions, cursor=None)  # none: an empty view
        for name in ("write", "read"):
            self.hex.set_highlight(name, decoded.marks.get(name, ()))
        root = decoded.root
        small = root is not None and sum(1 for _ in _walk_upto(root, OPEN_ALL + 1)) <= OPEN_ALL
        rebuilt = self.field_tree.show(
            root, changed=decoded.changed, text=decoded.text, note=decoded.note, open_all=small
        )
        self._root = root
        if root is None:
            self.hex.set_highlight("selection", ())
            set_text(self.query_one("#detail-status", TextLines), "")
            return
        self._select_again(rebuilt)

    # -- the tree ---------------------------------------------------------------------------------
    def reveal(self, target: FieldNode) -> None:
        """Open the tree down to ``target`` and put the tree's cursor on it: the chosen
        field, kept for the next events (a field of the same path is chosen there)."""
        if self._root is None or not self.field_tree.reveal(target):
            return
        if target is not self._root:
            self._selected_path = target.path
        self._show_field(target)

    def expand_all(self) -> None:
        """Open every field (the tree is small enough: a few hundred rows at most)."""
        self.field_tree.open_all()

    def action_expand_all(self) -> None:
        self.expand_all()

    def _select_again(self, rebuilt: bool) -> None:
        """After a new tree: the field that was chosen (same path), as Wireshark keeps it;
        else the whole structure, from its first byte."""
        if self._root is None:
            return
        path = self._selected_path
        target = find_path(self._root, path) if path is not None else None
        if target is not None and target is not self._root:
            self.reveal(target)
            return
        self.field_tree.select(self._root)
        self._show_field(self._root)
        if rebuilt:
            self.hex.set_cursor(0)

    @on(FieldTree.Highlighted, "#detail-tree")
    def _highlighted(self, message: FieldTree.Highlighted) -> None:
        message.stop()
        if message.root is not self._root or self._root is None:
            return  # about a tree that was replaced since
        item = message.item
        if isinstance(item, FieldNode) and item is not self._root:
            self._selected_path = item.path
        self._show_field(item)

    def _show_field(self, data: FieldNode | Fold | None) -> None:
        status = self.query_one("#detail-status", TextLines)
        if data is None:
            self.hex.set_highlight("selection", ())
            set_text(status, "")
            return
        start, size = data.offset, data.size
        whole = data is self._root
        self.hex.set_highlight("selection", [(start, start + size)] if size and not whole else [])
        if size and not whole and not start <= self.hex.cursor < start + size:
            self.hex.set_cursor(start, scroll=False)
            self.hex.show_offset(start)
        if isinstance(data, Fold):
            set_text(status, f"{len(data.members)} zero entries at {start:#06x}, {size} bytes")
            return
        where = "no bytes of its own"
        if size and self.hex.byte_count:
            region, index = self.hex.locate(min(start, self.hex.byte_count - 1))
            where = f"{region.origin + index:#06x}, {size} byte{'s' if size != 1 else ''}"
        bits = f", bits {data.bits[0]}:{data.bits[1]}" if data.bits else ""
        set_text(
            status, f"{data.path or data.name}: {where}{bits} · tab: bytes/fields · e: open all"
        )

    @on(HexView.CursorMoved, "#detail-hex")
    def _hex_moved(self, message: HexView.CursorMoved) -> None:
        message.stop()
        if self._root is None:
            return
        target = self._root.at(message.offset)
        if target is not None:
            self.reveal(target)

    # -- keys ---------------------------------------------------------------------------------
    def action_writer(self) -> None:
        """The writer of the byte under the hex cursor, when the bytes are host memory."""
        moment = self.moment
        if moment is None or moment.event is None or not self.hex.byte_count:
            return
        addr = self.hex.address_of(self.hex.cursor)
        if addr is None:
            self.notify("these bytes are not host memory (a register value)", timeout=3)
            return
        if writer_of(addr)(moment.event):
            self.notify(f"event {moment.index} (this one) wrote {addr:#x}", timeout=3)
            return
        self.post_message(
            Panel.Find(
                writer_of(addr), start=moment.index, forward=False, what=f"writer of {addr:#x}"
            )
        )


def _walk_upto(root: FieldNode, limit: int) -> Iterable[FieldNode]:
    for n, node in enumerate(root.walk()):
        if n >= limit:
            return
        yield node


__all__ = [
    "CommandFinder",
    "CommandInfo",
    "Decoded",
    "DetailPanel",
    "EventDecoder",
    "decode_layout",
    "field_label",
    "graft",
]
