"""Bytes -> a field tree, for the UI's detail pane and hex highlight and for the CLI.

One generic walker reads any construct layout of ``nvme/`` (Struct, Array,
RepeatUntil, FixedSized, Padding, Bytes, integers, adapters, and bit fields
declared as ``BitStruct`` or ``ByteSwapped(BitStruct(...))``) and yields a
:class:`FieldNode` tree. What a value *means* comes from a small hook table per
layout (``Layout.hooks``), keyed by the field's path with array indexes written
``[]`` (``"psd[].max_power"``, ``"cdw0.opc"``, ``"status.sc"``); the key ``""``
is the root.

Offsets and sizes are in bytes relative to the start of the decoded buffer. A
bit field has ``bits = (hi, lo)``: bit numbers in the little-endian value of
the enclosing bit unit (the register, the dword, the 32-byte power state
descriptor), which is how the specification numbers them (CC.IOSQES is
``(19, 16)``, PSD RRT is ``(100, 96)``); its ``offset``/``size`` are the bytes
those bits touch.

``decode(name, data, context)`` for every name in ``LAYOUTS``; ``render_tree``
prints the tree as plain text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import construct as cs
from construct.lib import bytes2bits, swapbytes

from nvmescope.nvme import commands, compose, features, identify, logpages, registers
from nvmescope.nvme.copy import COPY_RANGE_LAYOUTS
from nvmescope.nvme.opcodes import (
    ADMIN_OPCODES,
    FEATURES,
    IDENTIFY_CNS,
    NS_ATTACH_SEL,
    NS_MGMT_SEL,
    feature_title,
    log_title,
    opcode_title,
)
from nvmescope.nvme.status import SCT_NAMES, describe_aer, describe_status, status_title


@dataclass
class FieldNode:
    """One field of a decoded buffer."""

    name: str
    offset: int
    size: int
    raw: bytes
    value: Any
    meaning: str
    children: list[FieldNode] = field(default_factory=list)
    bits: tuple[int, int] | None = None
    title: str = ""
    path: str = ""

    def walk(self) -> Iterator[FieldNode]:
        """This node and every node below it, depth first, in offset order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, path: str) -> FieldNode:
        """The node at ``path`` (e.g. ``"psd[0].max_power"``, ``"cdw0.opc"``)."""
        for node in self.walk():
            if node.path == path:
                return node
        raise KeyError(f"no field {path!r} under {self.name!r}")

    def at(self, offset: int) -> FieldNode | None:
        """The deepest node covering byte ``offset`` (for hex-view hover)."""
        if not self.offset <= offset < self.offset + self.size:
            return None
        for child in self.children:
            hit = child.at(offset)
            if hit is not None:
                return hit
        return self


@dataclass(frozen=True)
class HookArgs:
    """What a meaning hook sees: the field's value, the parsed container that
    holds it, the parsed whole layout, and the caller's context."""

    value: Any
    parent: Any
    root: Any
    context: Mapping[str, Any]


Hook = Callable[[HookArgs], str]


@dataclass(frozen=True)
class Layout:
    name: str
    title: str
    con: cs.Construct
    hooks: Mapping[str, Hook] = field(default_factory=dict)
    #: Titles for fields whose declaration carries no docs (registers), by key.
    titles: Mapping[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.con.sizeof()


# -- the generic walker ------------------------------------------------------------
def _is_transform(con: cs.Construct, func: Callable[..., Any]) -> bool:
    return isinstance(con, cs.Transformed) and con.decodefunc is func


def _unwrap(con: cs.Construct) -> tuple[cs.Construct, str | None, str]:
    name: str | None = None
    docs = ""
    while isinstance(con, cs.Renamed):
        name = name or con.name
        docs = docs or con.docs
        con = con.subcon
    return con, name, docs


def _key(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


class _Walker:
    def __init__(self, layout: Layout, data: bytes, root: Any, context: Mapping[str, Any]) -> None:
        self.layout = layout
        self.data = data
        self.root = root
        self.context = context

    def node(
        self,
        name: str,
        path: str,
        offset: int,
        size: int,
        value: Any,
        parent: Any,
        docs: str,
        children: list[FieldNode] | None = None,
        bits: tuple[int, int] | None = None,
    ) -> FieldNode:
        key = _key(path)
        title = docs or self.layout.titles.get(key, "")
        words = ""
        hook = self.layout.hooks.get(key)
        if hook is not None:
            try:
                words = hook(HookArgs(value, parent, self.root, self.context))
            except Exception as exc:  # a hook must never take the pane down
                words = f"(meaning unavailable: {type(exc).__name__}: {exc})"
        elif (
            name.startswith("rsvd")
            and isinstance(value, (bytes, int))
            and any(self.data[offset : offset + size])
        ):
            words = "non-zero reserved bits"
        if title and words:
            meaning = f"{title}: {words}"
        else:
            meaning = title or words
        return FieldNode(
            name=name,
            offset=offset,
            size=size,
            raw=self.data[offset : offset + size],
            value=value,
            meaning=meaning,
            children=children or [],
            bits=bits,
            title=title,
            path=path,
        )

    def walk(
        self,
        con: cs.Construct,
        name: str,
        path: str,
        offset: int,
        value: Any,
        parent: Any,
        docs: str = "",
    ) -> FieldNode:
        con, inner_name, inner_docs = _unwrap(con)
        docs = docs or inner_docs
        # bit fields: BitStruct, or ByteSwapped(BitStruct)
        if _is_transform(con, bytes2bits):
            return self.bits(con, name, path, offset, value, parent, docs, swapped=False)
        if _is_transform(con, swapbytes) and _is_transform(con.subcon, bytes2bits):
            return self.bits(con.subcon, name, path, offset, value, parent, docs, swapped=True)
        if isinstance(con, cs.Struct):
            children = []
            pos = offset
            for sc in con.subcons:
                sub, sub_name, sub_docs = _unwrap(sc)
                if sub_name is None:
                    pos += self.size_of(sub, None)
                    continue
                child_path = f"{path}.{sub_name}" if path else sub_name
                child = self.walk(sub, sub_name, child_path, pos, value[sub_name], value, sub_docs)
                children.append(child)
                pos += child.size
            return self.node(name, path, offset, pos - offset, None, parent, docs, children)
        if isinstance(con, (cs.Array, cs.RepeatUntil, cs.GreedyRange)):
            children = []
            pos = offset
            for i, item in enumerate(value):
                child = self.walk(con.subcon, f"{name}[{i}]", f"{path}[{i}]", pos, item, value, "")
                children.append(child)
                pos += child.size
            return self.node(name, path, offset, pos - offset, None, parent, docs, children)
        if isinstance(con, cs.FixedSized):
            inner = self.walk(con.subcon, name, path, offset, value, parent, docs)
            inner.size = con.length
            inner.raw = self.data[offset : offset + con.length]
            return inner
        size = self.size_of(con, value)
        return self.node(name, path, offset, size, value, parent, docs)

    def size_of(self, con: cs.Construct, value: Any) -> int:
        try:
            return con.sizeof()
        except cs.SizeofError:
            if isinstance(value, (bytes, bytearray)):
                return len(value)
            raise

    def bits(
        self,
        bitwise: cs.Construct,
        name: str,
        path: str,
        offset: int,
        value: Any,
        parent: Any,
        docs: str,
        swapped: bool,
    ) -> FieldNode:
        nbytes = bitwise.sizeof()
        struct = bitwise.subcon
        children = []
        cursor = 0
        for sc in struct.subcons:
            sub, sub_name, sub_docs = _unwrap(sc)
            width = sub.sizeof()
            if sub_name is not None:
                if swapped:
                    hi = nbytes * 8 - 1 - cursor
                    lo = hi - width + 1
                elif cursor % 8 == 0 and width % 8 == 0:
                    lo, hi = cursor, cursor + width - 1
                else:
                    hi = (cursor // 8) * 8 + 7 - cursor % 8
                    lo = hi - width + 1
                byte_lo, byte_hi = lo // 8, hi // 8
                child_path = f"{path}.{sub_name}" if path else sub_name
                children.append(
                    self.node(
                        sub_name,
                        child_path,
                        offset + byte_lo,
                        byte_hi - byte_lo + 1,
                        value[sub_name],
                        value,
                        sub_docs,
                        bits=(hi, lo),
                    )
                )
            cursor += width
        children.sort(key=lambda n: (n.bits or (0, 0))[1])
        # the unit's value as an integer, for units the size of a register or less
        whole = (
            int.from_bytes(self.data[offset : offset + nbytes], "little") if nbytes <= 8 else None
        )
        return self.node(name, path, offset, nbytes, whole, parent, docs, children)


def decode(layout_name: str, data: bytes, context: Mapping[str, Any] | None = None) -> FieldNode:
    """The field tree of ``data`` read as layout ``layout_name`` (a key of ``LAYOUTS``).

    ``data`` must be exactly the layout's size. ``context`` tells hooks what the
    bytes alone cannot: ``admin`` (bool) or ``sqid`` for an SQE's opcode,
    ``opc``/``admin`` for a CQE. Data the layout cannot parse (e.g. a descriptor
    list without its terminator) gives a root node that says so, with no children.
    """
    layout = LAYOUTS.get(layout_name)
    if layout is None:
        raise KeyError(f"unknown layout {layout_name!r}")
    data = bytes(data)
    if len(data) != layout.size:
        raise ValueError(f"layout {layout_name} is {layout.size} bytes, got {len(data)}")
    ctx = dict(context or {})
    try:
        parsed = layout.con.parse(data)
    except cs.ConstructError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return FieldNode(layout_name, 0, len(data), data, None, f"cannot decode: {msg}")
    walker = _Walker(layout, data, parsed, ctx)
    root = walker.walk(layout.con, layout_name, "", 0, parsed, None, layout.title)
    root.size = len(data)
    root.raw = data
    return root


def decode_value(
    layout_name: str, value: int, context: Mapping[str, Any] | None = None
) -> FieldNode:
    """``decode`` of an integer (a register or feature value), little-endian."""
    size = LAYOUTS[layout_name].size
    return decode(layout_name, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"), context)


# -- rendering -------------------------------------------------------------------
def format_value(value: Any) -> str:
    """A value as text: small ints in decimal, larger also in hex, bytes as hex."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value) if 0 <= value < 10 else f"{value} ({value:#x})"
    if isinstance(value, (bytes, bytearray)):
        if len(value) > 16:
            return value[:16].hex() + f"... ({len(value)} bytes)"
        return value.hex() if value else "(empty)"
    return str(value)


def render_tree(node: FieldNode, max_depth: int | None = None) -> str:
    """The tree as plain text, one field a line:
    ``name  offset  size  [hi:lo]  value  meaning``, indented by depth."""
    lines: list[str] = []

    def emit(n: FieldNode, depth: int) -> None:
        bits = f"[{n.bits[0]}:{n.bits[1]}]" if n.bits is not None else ""
        label = "  " * depth + n.name
        parts = [f"{label:<40}", f"{n.offset:#06x}", f"{n.size:>4}", f"{bits:<9}"]
        if not n.children:
            parts.append(format_value(n.value))
        elif n.value is not None:
            parts.append(format_value(n.value))
        line = " ".join(parts)
        if n.meaning:
            line += f"  {n.meaning}"
        lines.append(line.rstrip())
        if max_depth is None or depth < max_depth:
            for child in n.children:
                emit(child, depth + 1)

    emit(node, 0)
    return "\n".join(lines)


# -- words ----------------------------------------------------------------------
def kelvin(k: int) -> str:
    """``70 C (343 K)``."""
    return f"{k - 273} C ({k} K)"


def _size(n: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def _bytes(n: int) -> str:
    return f"{n} bytes" if n < 1024 else f"{n} bytes ({_size(n)})"


def _pick(table: Mapping[int, str]) -> Hook:
    return lambda a: table.get(int(a.value), "Reserved")


def _flags(table: Mapping[int, str]) -> Hook:
    def hook(a: HookArgs) -> str:
        on = [text for bit, text in table.items() if int(a.value) >> bit & 1]
        return ", ".join(on) if on else "none"

    return hook


def _yes(a: HookArgs) -> str:
    return "yes" if a.value else "no"


def _text(a: HookArgs) -> str:
    return repr(identify.ascii_field(a.value))


def _hex(a: HookArgs) -> str:
    return bytes(a.value).hex()


def _version(v: int) -> str:
    return f"NVMe {v >> 16}.{(v >> 8) & 0xFF}.{v & 0xFF}" if v else "not reported"


def _count(unit: str, zeros_based: bool = False) -> Hook:
    return lambda a: f"{int(a.value) + (1 if zeros_based else 0)} {unit}"


def _pow2_bytes(a: HookArgs) -> str:
    return f"{1 << int(a.value)} bytes"


def _admin(context: Mapping[str, Any]) -> bool | None:
    if "admin" in context:
        return bool(context["admin"])
    if "sqid" in context:
        return int(context["sqid"]) == 0
    return None


# SQE
FUSE_NAMES = {
    0: "Normal operation",
    1: "Fused operation, first command",
    2: "Fused operation, second command",
}
PSDT_NAMES = {
    0: "PRPs used for this transfer",
    1: "SGLs used, MPTR is the address of a contiguous buffer",
    2: "SGLs used, MPTR is the address of an SGL segment",
}


def _sqe_opc(a: HookArgs) -> str:
    admin = _admin(a.context)
    if admin is None:
        return (
            f"admin: {opcode_title(a.value, True)} / I/O: {opcode_title(a.value, False)}"
            " (give context admin= or sqid=)"
        )
    return opcode_title(a.value, admin)


def _nsid(a: HookArgs) -> str:
    if a.value == 0xFFFFFFFF:
        return "all namespaces (broadcast)"
    return "no namespace" if a.value == 0 else f"namespace {a.value}"


def _sqe_cdw(n: int) -> Hook:
    """Words for Command Dword ``n`` of the SQE, according to its opcode."""

    def hook(a: HookArgs) -> str:
        opc = a.root.cdw0.opc
        admin = _admin(a.context)
        v = int(a.value)
        if admin is None:
            return ""
        if admin:
            return _admin_cdw(opc, n, v, a.root)
        return _io_cdw(opc, n, v, a.root)

    return hook


def _admin_cdw(opc: int, n: int, v: int, sqe: Any) -> str:
    name = ADMIN_OPCODES[opc].name if opc in ADMIN_OPCODES else ""
    if name == "identify" and n == 10:
        cns = v & 0xFF
        what = IDENTIFY_CNS[cns].title if cns in IDENTIFY_CNS else "reserved or unknown CNS"
        return f"CNS {cns:02x}h ({what}), CNTID {v >> 16}"
    if name == "get_log_page":
        if n == 10:
            lid = v & 0xFF
            return (
                f"LID {lid:02x}h ({log_title(lid)}), LSP {(v >> 8) & 0xF}, RAE {v >> 15 & 1}, "
                f"NUMDL {v >> 16}"
            )
        if n == 11:
            return f"NUMDU {v & 0xFFFF}, LSI {v >> 16}"
        if n == 12:
            return f"LPOL {v} (log page offset, low)"
    if name in ("set_features", "get_features"):
        fid = sqe.cdw10 & 0xFF
        if n == 10:
            if name == "set_features":
                return f"FID {fid:02x}h ({feature_title(fid)}), SV {v >> 31}"
            sel = {0: "current", 1: "default", 2: "saved", 3: "supported capabilities"}
            return f"FID {fid:02x}h ({feature_title(fid)}), SEL {sel.get(v >> 8 & 7, 'reserved')}"
        if n == 11 and name == "set_features":
            return features.describe_feature(fid, v)
        if n == 11:
            return _get_features_cdw11(fid, v)
    if name in ("create_io_cq", "create_io_sq"):
        if n == 10:
            return f"QID {v & 0xFFFF}, QSIZE {v >> 16} ({(v >> 16) + 1} entries)"
        if n == 11 and name == "create_io_cq":
            return f"PC {v & 1}, IEN {v >> 1 & 1}, IV {v >> 16}"
        if n == 11:
            prio = {0: "urgent", 1: "high", 2: "medium", 3: "low"}[v >> 1 & 3]
            return f"PC {v & 1}, QPRIO {prio}, CQID {v >> 16}"
    if name in ("delete_io_cq", "delete_io_sq") and n == 10:
        return f"QID {v & 0xFFFF}"
    if name == "abort" and n == 10:
        return f"SQID {v & 0xFFFF}, CID {v >> 16}"
    if name in ("ns_management", "ns_attachment") and n == 10:
        table = NS_MGMT_SEL if name == "ns_management" else NS_ATTACH_SEL
        hit = table.get(v & 0xF)
        return f"SEL {v & 0xF:x}h ({hit.title if hit else 'reserved'})"
    if name == "ns_management" and n == 11:
        return f"CSI {v >> 24:02x}h" + (" (NVM command set)" if v >> 24 == 0 else "")
    return ""


def _get_features_cdw11(fid: int, v: int) -> str:
    """What CDW11 of Get Features ``fid`` selects (``IV 3 (vector 3)``), from the fields
    ``compose.py`` declares for it; ``""`` for a feature that takes none."""
    parts = []
    for f in compose.get_features_fields(fid):
        value = f.get({11: v})
        words = features.field_words(fid, f.name, value)
        parts.append(f"{f.label} {value}" + (f" ({words})" if words else ""))
    return ", ".join(parts)


def _io_cdw(opc: int, n: int, v: int, sqe: Any) -> str:
    if opc in (0x01, 0x02, 0x04, 0x05, 0x08, 0x0C):  # write, read, wu, compare, wz, verify
        if n == 10:
            return f"SLBA {(sqe.cdw11 << 32) | v} (low dword)"
        if n == 11:
            return f"SLBA {(v << 32) | sqe.cdw10} (high dword)"
        if n == 12:
            nlb = v & 0xFFFF
            prinfo = v >> commands.PRINFO_SHIFT & 0xF
            pi = f"PRINFO {prinfo:#x} ({commands.prinfo_words(prinfo)}), " if prinfo else ""
            return (
                f"NLB {nlb} ({nlb + 1} logical blocks, 0's based), {pi}"
                f"FUA {v >> 30 & 1}, LR {v >> 31}"
            )
        if n == 14 and v:
            return f"ILBRT {v} ({v:#010x}, initial logical block reference tag)"
        if n == 15 and v:
            return f"LBAT {v & 0xFFFF:#06x}, LBATM {v >> 16:#06x} (application tag and its mask)"
    if opc == 0x09 and n == 10:
        return f"NR {v & 0xFF} ({(v & 0xFF) + 1} ranges)"
    if opc == 0x19:  # Copy
        if n == 10:
            return f"SDLBA {(sqe.cdw11 << 32) | v} (low dword)"
        if n == 11:
            return f"SDLBA {(v << 32) | sqe.cdw10} (high dword)"
        if n == 12:
            nr = v & 0xFF
            return (
                f"NR {nr} ({nr + 1} source ranges, 0's based), DESFMT {v >> 8 & 0xF}h, "
                f"PRINFOR {v >> 12 & 0xF}, PRINFOW {v >> 26 & 0xF}, FUA {v >> 30 & 1}, "
                f"LR {v >> 31}"
            )
    return ""


SQE_HOOKS: dict[str, Hook] = {
    "cdw0.opc": _sqe_opc,
    "cdw0.fuse": _pick(FUSE_NAMES),
    "cdw0.psdt": _pick(PSDT_NAMES),
    "cdw0.cid": lambda a: f"command {a.value}",
    "nsid": _nsid,
    "prp1": lambda a: f"address {a.value:#x}",
    "prp2": lambda a: f"address {a.value:#x}",
    "mptr": lambda a: f"address {a.value:#x}" if a.value else "",
    **{f"cdw{n}": _sqe_cdw(n) for n in range(10, 16)},
}
SQE_TITLES = {
    "": "Submission Queue Entry",
    "cdw0": "Command Dword 0",
    "cdw0.opc": "Opcode (OPC)",
    "cdw0.fuse": "Fused Operation (FUSE)",
    "cdw0.psdt": "PRP or SGL for Data Transfer (PSDT)",
    "cdw0.cid": "Command Identifier (CID)",
    "nsid": "Namespace Identifier (NSID)",
    "cdw2": "Command Dword 2",
    "cdw3": "Command Dword 3",
    "mptr": "Metadata Pointer (MPTR)",
    "prp1": "PRP Entry 1 (PRP1)",
    "prp2": "PRP Entry 2 (PRP2)",
    **{f"cdw{n}": f"Command Dword {n} (CDW{n})" for n in range(10, 16)},
}


# CQE
def _cqe_sc(a: HookArgs) -> str:
    return status_title(a.parent.sct, a.value)


def _cqe_status(a: HookArgs) -> str:
    return describe_status(int(a.value) >> 1)


#: Get Features with Select (SEL) 011b, Supported Capabilities: Dword 0 bits and their meaning
GET_FEATURES_CAPABILITIES = ((0, "saveable"), (1, "namespace specific"), (2, "changeable"))


def _cqe_dw0(a: HookArgs) -> str:
    opc = a.context.get("opc")
    admin = _admin(a.context)
    fid = a.context.get("fid")
    if admin and opc == 0x09 and fid is not None:
        # Set Features answers only Number of Queues here (NSQA/NCQA, the queues allocated)
        if fid == features.FID_NUMBER_OF_QUEUES:
            return features.describe_feature(int(fid), int(a.value))
        return "not used by Set Features of this feature"
    if admin and opc == 0x0A and fid is not None:
        if a.context.get("sel") == 3:  # Supported Capabilities
            bits = [w for bit, w in GET_FEATURES_CAPABILITIES if a.value >> bit & 1]
            return "capabilities: " + (", ".join(bits) if bits else "none")
        if fid in (features.FID_TIMESTAMP, features.FID_HOST_BEHAVIOR_SUPPORT):
            return "not used: this feature's value comes in the data buffer"
        return features.describe_feature(int(fid), int(a.value))
    if admin and opc == 0x0C:
        return describe_aer(int(a.value))
    if admin and opc == 0x0D and a.value:
        return f"NSID {a.value} created"
    return ""


CQE_HOOKS: dict[str, Hook] = {
    "": lambda a: describe_status(
        int.from_bytes(commands.CQE_STATUS.build(a.root.status), "little") >> 1
    ),
    "dw0": _cqe_dw0,
    "sqhd": lambda a: f"the device fetches SQ slot {a.value} next (the slots before it are free)",
    "sqid": lambda a: "admin queue" if a.value == 0 else f"I/O queue {a.value}",
    "cid": lambda a: f"command {a.value}",
    "status": _cqe_status,
    "status.p": lambda a: f"phase {a.value}",
    "status.sc": _cqe_sc,
    "status.sct": lambda a: SCT_NAMES.get(a.value, "Reserved"),
    "status.crd": lambda a: "no retry delay" if a.value == 0 else f"use CRDT{a.value}",
    "status.m": lambda a: "more status in the Error log" if a.value else "no more status",
    "status.dnr": lambda a: "do not retry" if a.value else "retry may succeed",
}
CQE_TITLES = {
    "": "Completion Queue Entry",
    "dw0": "Dword 0 (command specific)",
    "dw1": "Dword 1 (reserved / command specific)",
    "sqhd": "SQ Head Pointer (SQHD)",
    "sqid": "SQ Identifier (SQID)",
    "cid": "Command Identifier (CID)",
    "status": "Status Field and Phase Tag",
    "status.p": "Phase Tag (P)",
    "status.sc": "Status Code (SC)",
    "status.sct": "Status Code Type (SCT)",
    "status.crd": "Command Retry Delay (CRD)",
    "status.m": "More (M)",
    "status.dnr": "Do Not Retry (DNR)",
}

# SGL descriptor
SGL_SUBTYPES = {0x0: "Address", 0x1: "Offset", 0xA: "Transport specific", 0xB: "Transport specific"}
SGL_HOOKS: dict[str, Hook] = {
    "addr": lambda a: f"address {a.value:#x}",
    "length": lambda a: _bytes(a.value),
    "sgl_id.type": _pick(commands.SGL_TYPE_NAMES),
    "sgl_id.subtype": _pick(SGL_SUBTYPES),
}
SGL_TITLES = {
    "": "SGL Descriptor",
    "addr": "Address",
    "length": "Length",
    "reserved": "Reserved",
    "sgl_id": "SGL Identifier",
    "sgl_id.type": "SGL Descriptor Type",
    "sgl_id.subtype": "SGL Descriptor Sub Type",
}


# Identify Controller
def _power(value: int, scale: float) -> str:
    return f"{value * scale:.4g} W" if scale >= 0.01 else f"{value * scale:.4f} W"


def _psd_mp(a: HookArgs) -> str:
    if a.parent.flags & identify.PSD_FLAG_MXPS:
        return f"{a.value * 0.0001:.4f} W"
    return f"{a.value * 0.01:.2f} W"


def _psd_scaled(scale_field: str) -> Hook:
    def hook(a: HookArgs) -> str:
        scale = a.parent[scale_field]
        if scale == 0:
            return "not reported"
        if scale == 1:
            return f"{a.value * 0.0001:.4f} W"
        if scale == 2:
            return f"{a.value * 0.01:.2f} W"
        return "reserved scale"

    return hook


def _psd_flags(a: HookArgs) -> str:
    scale = "0.0001 W" if a.value & identify.PSD_FLAG_MXPS else "0.01 W"
    state = "non-operational" if a.value & identify.PSD_FLAG_NOPS else "operational"
    return f"max power in {scale} units, {state}"


def _mdts(a: HookArgs) -> str:
    if a.value == 0:
        return "no limit"
    return f"2^{a.value} minimum-size pages ({_size((1 << a.value) * 4096)} with 4 KiB pages)"


def _qes(a: HookArgs) -> str:
    return f"required {1 << (a.value & 0xF)} bytes, maximum {1 << (a.value >> 4)} bytes"


def _fguid(a: HookArgs) -> str:
    return str(uuid.UUID(bytes=bytes(a.value)))


OACS_BITS = {
    0: "Security Send/Receive",
    1: "Format NVM",
    2: "Firmware Commit/Download",
    3: "Namespace Management",
    4: "Device Self-test",
    5: "Directives",
    6: "NVMe-MI Send/Receive",
    7: "Virtualization Management",
    8: "Doorbell Buffer Config",
    9: "Get LBA Status",
}
ONCS_BITS = {
    0: "Compare",
    1: "Write Uncorrectable",
    2: "Dataset Management",
    3: "Write Zeroes",
    4: "Save field / Select field",
    5: "Reservations",
    6: "Timestamp",
    7: "Verify",
    8: "Copy",
}
LPA_BITS = {
    0: "SMART log per namespace",
    1: "Commands Supported and Effects log",
    2: "extended data for Get Log Page",
    3: "Telemetry logs",
    4: "Persistent Event log",
}
CTRL_TYPES = {
    0: "not reported",
    1: "I/O controller",
    2: "Discovery controller",
    3: "Administrative controller",
}

IDENTIFY_CTRL_HOOKS: dict[str, Hook] = {
    "vid": lambda a: f"{a.value:#06x}",
    "ssvid": lambda a: f"{a.value:#06x}",
    "sn": _text,
    "mn": _text,
    "fr": _text,
    "subnqn": _text,
    "ieee": lambda a: f"OUI {a.value:06x}",
    "mdts": _mdts,
    "ver": lambda a: _version(a.value),
    "cntrltype": _pick(CTRL_TYPES),
    "fguid": _fguid,
    "oacs": _flags(OACS_BITS),
    "acl": _count("concurrent Abort commands", zeros_based=True),
    "aerl": _count("outstanding Asynchronous Event Requests", zeros_based=True),
    "frmw": lambda a: (
        f"{a.value >> 1 & 7} firmware slots, slot 1 " + ("read-only" if a.value & 1 else "writable")
    ),
    "lpa": _flags(LPA_BITS),
    "elpe": _count("error log entries", zeros_based=True),
    "npss": _count("power states", zeros_based=True),
    "wctemp": lambda a: kelvin(a.value),
    "cctemp": lambda a: kelvin(a.value),
    "mntmt": lambda a: kelvin(a.value) if a.value else "not supported",
    "mxtmt": lambda a: kelvin(a.value) if a.value else "not supported",
    "tnvmcap": lambda a: _bytes(a.value),
    "unvmcap": lambda a: _bytes(a.value),
    "megcap": lambda a: _bytes(a.value),
    "sqes": _qes,
    "cqes": _qes,
    "nn": lambda a: f"namespace IDs 1..{a.value}",
    "oncs": _flags(ONCS_BITS),
    "vwc": lambda a: "volatile write cache present" if a.value & 1 else "no volatile write cache",
    "sgls": lambda a: {
        0: "SGLs not supported",
        1: "SGLs supported",
        2: "SGLs supported, dword aligned",
    }.get(a.value & 3, "reserved"),
    "psd[].max_power": _psd_mp,
    "psd[].flags": _psd_flags,
    "psd[].entry_lat": lambda a: f"{a.value} microseconds",
    "psd[].exit_lat": lambda a: f"{a.value} microseconds",
    "psd[].idle_power": _psd_scaled("idle_scale"),
    "psd[].active_power": _psd_scaled("active_scale"),
}

# Identify Namespace
RP_NAMES = {
    0: "Best performance",
    1: "Better performance",
    2: "Good performance",
    3: "Degraded performance",
}


def _flbas(a: HookArgs) -> str:
    index = (a.value & 0xF) | ((a.value >> 5 & 3) << 4)
    where = "separate metadata buffer" if not a.value & 0x10 else "metadata at the end of each LBA"
    return f"LBA format {index}, {where}"


def _lbaf_ds(a: HookArgs) -> str:
    return f"{1 << a.value} bytes" if a.value else "format not supported"


def _ns_blocks(a: HookArgs) -> str:
    lbaf = a.root.lbaf[identify.flbas_index(a.root.flbas)]
    if lbaf.ds:
        return f"{a.value} logical blocks ({_bytes(a.value << lbaf.ds)})"
    return f"{a.value} logical blocks"


IDENTIFY_NS_HOOKS: dict[str, Hook] = {
    "nsze": _ns_blocks,
    "ncap": _ns_blocks,
    "nuse": _ns_blocks,
    "nlbaf": _count("LBA formats", zeros_based=True),
    "flbas": _flbas,
    "nvmcap": lambda a: _bytes(a.value),
    "nguid": _hex,
    "eui64": _hex,
    "lbaf[].ms": lambda a: f"{a.value} bytes of metadata",
    "lbaf[].ds": _lbaf_ds,
    "lbaf[].rp": _pick(RP_NAMES),
}

NS_DESC_HOOKS: dict[str, Hook] = {
    "descs[].nidt": lambda a: identify.NIDT_NAMES.get(
        a.value, "end of list" if a.value == 0 else "Reserved"
    ),
    "descs[].nid": lambda a: (
        str(uuid.UUID(bytes=bytes(a.value))) if len(a.value) == 16 else bytes(a.value).hex()
    ),
}

ACTIVE_NS_HOOKS: dict[str, Hook] = {
    "[]": lambda a: "" if a.value == 0 else f"namespace {a.value}",
}

# Logs
TRTYPE_NAMES = {
    0: "not indicated or not transport related",
    1: "RDMA",
    2: "Fibre Channel",
    3: "TCP",
    254: "Intra-host transport (loopback)",
}


def _parm_err_loc(a: HookArgs) -> str:
    if a.value == 0xFFFF:
        return "not specific to a command parameter"
    return f"byte {a.value & 0xFF}, bit {a.value >> 8 & 7} of the command"


ERROR_ENTRY_HOOKS: dict[str, Hook] = {
    "status_field.status": lambda a: describe_status(a.value),
    "parm_err_loc": _parm_err_loc,
    "trtype": _pick(TRTYPE_NAMES),
    "nsid": lambda a: _nsid(a) if a.value else "not namespace specific",
    "vs": lambda a: (
        "no vendor specific information" if a.value == 0 else f"log page {a.value:02x}h"
    ),
}

SMART_HOOKS: dict[str, Hook] = {
    "critical_warning": _flags(logpages.CRITICAL_WARNING_BITS),
    "temperature": lambda a: kelvin(a.value),
    "avail_spare": lambda a: f"{a.value}%",
    "spare_thresh": lambda a: f"{a.value}%",
    "percent_used": lambda a: f"{a.value}%",
    "data_units_read": lambda a: f"{a.value} units ({_bytes(a.value * 512000)})",
    "data_units_written": lambda a: f"{a.value} units ({_bytes(a.value * 512000)})",
    "temperature_sensor[]": lambda a: kelvin(a.value) if a.value else "not implemented",
}

FW_SLOT_HOOKS: dict[str, Hook] = {
    "afi": lambda a: (
        f"running slot {a.value & 7}"
        + (f", next reset activates slot {a.value >> 4 & 7}" if a.value >> 4 & 7 else "")
    ),
    **{f"frs{n}": (lambda a: _text(a) if any(a.value) else "empty slot") for n in range(1, 8)},
}


CMD_EFFECTS_BITS = {
    0: "Command Supported (CSUPP)",
    1: "Logical Block Content Change (LBCC)",
    2: "Namespace Capability Change (NCC)",
    3: "Namespace Inventory Change (NIC)",
    4: "Controller Capability Change (CCC)",
}
CMD_EFFECTS_CSE = {
    0: "",
    1: "no other command for the same namespace while it runs",
    2: "no other command for any namespace while it runs",
}


def _cmd_effects(a: HookArgs) -> str:
    v = int(a.value)
    if not v & logpages.CMD_EFFECTS_CSUPP:
        return "not supported"
    words = [text for bit, text in CMD_EFFECTS_BITS.items() if v >> bit & 1]
    cse = CMD_EFFECTS_CSE.get(v >> 16 & 7, "reserved CSE")
    return ", ".join(words + ([cse] if cse else []))


CMD_EFFECTS_HOOKS: dict[str, Hook] = {"acs[]": _cmd_effects, "iocs[]": _cmd_effects}

# PRP list
PRP_LIST_HOOKS: dict[str, Hook] = {
    "[]": lambda a: (
        f"page address {a.value:#x}" + (" (not page aligned)" if a.value & 0xFFF else "")
    ),
}


# Registers
CSS_CAP_BITS = {0: "NVM command set", 6: "I/O Command Sets", 7: "no I/O command set (admin only)"}
CC_CSS = {0: "NVM Command Set", 6: "All supported I/O Command Sets", 7: "Admin Command Set only"}
CC_AMS = {
    0: "Round Robin",
    1: "Weighted Round Robin with Urgent Priority Class",
    7: "Vendor Specific",
}
SHN_NAMES = {
    0: "No notification",
    1: "Normal shutdown notification",
    2: "Abrupt shutdown notification",
}
SHST_NAMES = {
    0: "Normal operation (no shutdown requested)",
    1: "Shutdown processing occurring",
    2: "Shutdown processing complete",
}
REGISTER_HOOKS: dict[str, dict[str, Hook]] = {
    "cap": {
        "mqes": _count("entries per queue", zeros_based=True),
        "cqr": lambda a: (
            "contiguous queues required" if a.value else "non-contiguous queues allowed"
        ),
        "ams": _flags({0: "Weighted Round Robin with Urgent", 1: "Vendor Specific"}),
        "to": lambda a: f"{a.value * 500} ms",
        "dstrd": lambda a: f"{4 << a.value}-byte doorbell stride",
        "nssrs": _yes,
        "css": _flags(CSS_CAP_BITS),
        "bps": _yes,
        "mpsmin": lambda a: _size(1 << (12 + a.value)),
        "mpsmax": lambda a: _size(1 << (12 + a.value)),
        "pmrs": _yes,
        "cmbs": _yes,
    },
    "vs": {"": lambda a: _version(a.value)},
    "cc": {
        "en": lambda a: "enabled" if a.value else "disabled",
        "css": _pick(CC_CSS),
        "mps": lambda a: f"{1 << (12 + a.value)} bytes",
        "ams": _pick(CC_AMS),
        "shn": _pick(SHN_NAMES),
        "iosqes": _pow2_bytes,
        "iocqes": _pow2_bytes,
    },
    "csts": {
        "rdy": lambda a: "ready" if a.value else "not ready",
        "cfs": lambda a: "controller fatal status" if a.value else "no fatal error",
        "shst": _pick(SHST_NAMES),
        "nssro": lambda a: "NVM subsystem reset occurred" if a.value else "no",
        "pp": lambda a: "processing paused" if a.value else "processing normally",
    },
    "nssr": {
        "nssrc": lambda a: (
            "'NVMe': initiates an NVM Subsystem Reset"
            if a.value == registers.NSSR_RESET_VALUE
            else "no effect"
        ),
    },
    "aqa": {
        "asqs": _count("entries", zeros_based=True),
        "acqs": _count("entries", zeros_based=True),
    },
    "asq": {"asqb": lambda a: f"address {a.value << 12:#x}"},
    "acq": {"acqb": lambda a: f"address {a.value << 12:#x}"},
    "cmbsz": {
        "szu": lambda a: _size(4096 << (4 * a.value)) if a.value < 7 else "reserved",
    },
}


def _feature_hooks(fid: int) -> dict[str, Hook]:
    return {
        name: (lambda a, name=name: features.field_words(fid, name, int(a.value)))
        for name in features.feature_fields(fid)
    }


# -- the registry -----------------------------------------------------------------
def _build_registry() -> dict[str, Layout]:
    out: dict[str, Layout] = {}

    def add(layout: Layout) -> None:
        out[layout.name] = layout

    add(Layout("sqe", "Submission Queue Entry", commands.SQE, SQE_HOOKS, SQE_TITLES))
    add(Layout("cqe", "Completion Queue Entry", commands.CQE, CQE_HOOKS, CQE_TITLES))
    add(Layout("sgl_descriptor", "SGL Descriptor", commands.SGL_DESCRIPTOR, SGL_HOOKS, SGL_TITLES))
    add(
        Layout(
            "identify_ctrl",
            "Identify Controller Data Structure",
            identify.IDENTIFY_CONTROLLER,
            IDENTIFY_CTRL_HOOKS,
            {"psd[]": "Power State Descriptor"},
        )
    )
    add(
        Layout(
            "identify_ns",
            "Identify Namespace Data Structure",
            identify.IDENTIFY_NAMESPACE,
            IDENTIFY_NS_HOOKS,
            {"lbaf[]": "LBA Format"},
        )
    )
    add(
        Layout(
            "active_ns_list",
            "Active Namespace ID list",
            identify.ACTIVE_NS_LIST,
            ACTIVE_NS_HOOKS,
            {"[]": "Namespace Identifier"},
        )
    )
    add(
        Layout(
            "ns_desc_list",
            "Namespace Identification Descriptor list",
            identify.NS_ID_DESC_LIST,
            NS_DESC_HOOKS,
            {"descs": "Descriptors", "descs[]": "Namespace Identification Descriptor"},
        )
    )
    add(
        Layout(
            "error_log_entry",
            "Error Information Log Entry",
            logpages.ERROR_INFORMATION_ENTRY,
            ERROR_ENTRY_HOOKS,
        )
    )
    add(Layout("smart_log", "SMART / Health Information", logpages.SMART_LOG, SMART_HOOKS))
    add(
        Layout(
            "fw_slot_log", "Firmware Slot Information", logpages.FIRMWARE_SLOT_LOG, FW_SLOT_HOOKS
        )
    )
    add(
        Layout(
            "cmd_effects_log",
            "Commands Supported and Effects",
            logpages.COMMANDS_SUPPORTED_EFFECTS_LOG,
            CMD_EFFECTS_HOOKS,
            {
                "acs[]": "Admin Command Supported (one per opcode)",
                "iocs[]": "I/O Command Supported (one per opcode)",
            },
        )
    )
    add(
        Layout(
            "prp_list",
            "PRP List (one 4 KiB list page)",
            commands.PRP_LIST,
            PRP_LIST_HOOKS,
            {"[]": "PRP Entry"},
        )
    )
    for desfmt, con in COPY_RANGE_LAYOUTS.items():
        add(
            Layout(
                f"copy_range_{desfmt}",
                f"Copy Source Range Entry, descriptor format {desfmt}h",
                con,
                {"nlb": lambda a: f"{a.value + 1} logical blocks"},
                {"rsvd0": "Reserved", "rsvd18": "Reserved"},
            )
        )
    for reg in registers.REGISTERS:
        titles = {f.name: f.meaning for f in reg.fields}
        titles[""] = reg.long_name
        add(
            Layout(
                f"reg:{reg.name}",
                reg.long_name,
                reg.layout,
                REGISTER_HOOKS.get(reg.name, {}),
                titles,
            )
        )
    for fid, con in features.FEATURE_LAYOUTS.items():
        name = FEATURES[fid].name
        add(
            Layout(
                f"feat:{name}",
                f"{feature_title(fid)} (FID {fid:02X}h)",
                con,
                _feature_hooks(fid),
            )
        )
    return out


#: Every layout ``decode`` knows, by name: sqe, cqe, sgl_descriptor, identify_ctrl,
#: identify_ns, active_ns_list, ns_desc_list, error_log_entry, smart_log,
#: fw_slot_log, cmd_effects_log, prp_list, copy_range_0 and copy_range_1 (a Copy's
#: Source Range Entry in descriptor format 0h / 1h), ``reg:<name>`` for each register,
#: ``feat:<name>`` for each feature value layout (names from ``opcodes.FEATURES``).
LAYOUTS: dict[str, Layout] = _build_registry()


def feature_layout_name(fid: int) -> str | None:
    """``feat:number_of_queues`` for FID 07h; None for a feature without a layout."""
    if fid not in features.FEATURE_LAYOUTS:
        return None
    return f"feat:{FEATURES[fid].name}"


def decode_register(name: str, value: int) -> FieldNode:
    """The field tree of a register value, e.g. ``decode_register("cc", 0x460061)``."""
    return decode_value(f"reg:{name}", value)
