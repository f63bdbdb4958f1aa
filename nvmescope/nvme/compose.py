"""A command's own fields, by opcode, as the specification names them: for building an
SQE by hand (the TUI's compose form) and for reading one back.

Each field of :data:`COMMAND_FIELDS` is a run of bits of the SQE's Command Dwords 10
to 15, or of two of them (SLBA, NUMD and LPO are split across two dwords): the
``parts`` of a :class:`CommandField` are (dword, high bit, low bit), lowest bits
first. ``encode`` turns field values into the six dwords, ``decode_fields`` reads
them back, and a test proves the two agree on random inputs and that the SQE
decoder (``decode.py``) reads the same values out of the dwords this module builds.

The value fields of Set Features come from the feature layouts in ``features.py``
(one declaration per layout): :func:`feature_fields`; Get Features takes some of them
in CDW11 (which threshold, which vector): :data:`GET_FEATURES_CDW11`.

Also here: :func:`transfer`, the data a command moves and in which direction, and
:data:`PRESETS`, the commands a student starts from (Identify Controller and
Namespace, the active namespace list, SMART and Error log pages, Number of Queues,
Create I/O CQ and SQ, Read and Write of one block).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import construct as cs

from nvmescope.nvme import features as feat
from nvmescope.nvme.commands import CQE_SIZE, SQE_SIZE
from nvmescope.nvme.copy import COPY_RANGE_SIZES
from nvmescope.nvme.opcodes import ADMIN_OPCODES, NVM_OPCODES

#: the Command Dwords a command's own fields live in
CDWS = (10, 11, 12, 13, 14, 15)


class ComposeError(ValueError):
    """A value a field cannot hold; the message (one line) says why."""


@dataclass(frozen=True)
class CommandField:
    """One field of a command: its name (lower case, as in the spec's abbreviation),
    the specification's title, and where its bits are."""

    name: str
    title: str
    #: (dword, high bit, low bit), lowest bits of the value first
    parts: tuple[tuple[int, int, int], ...]
    #: the value is 0's based (QSIZE, NLB, NUMD): the form says what it means
    zeros_based: bool = False
    #: the value the form starts with
    default: int = 0

    @property
    def width(self) -> int:
        return sum(hi - lo + 1 for _, hi, lo in self.parts)

    @property
    def limit(self) -> int:
        """The largest value the field holds."""
        return (1 << self.width) - 1

    @property
    def where(self) -> str:
        """``CDW10 bits 31:16`` or ``CDW10 bits 31:16 + CDW11 bits 15:0``."""
        return " + ".join(
            f"CDW{dw} bit {hi}" if hi == lo else f"CDW{dw} bits {hi}:{lo}"
            for dw, hi, lo in reversed(self.parts)
        )

    def put(self, dwords: dict[int, int], value: int) -> None:
        """Write ``value`` into its bits of ``dwords`` (the other bits stay)."""
        if not 0 <= value <= self.limit:
            raise ComposeError(f"{self.label} holds 0 to {self.limit}, not {value}")
        for dw, hi, lo in self.parts:
            bits = hi - lo + 1
            mask = ((1 << bits) - 1) << lo
            dwords[dw] = (dwords.get(dw, 0) & ~mask) | ((value << lo) & mask)
            value >>= bits

    def get(self, dwords: Mapping[int, int]) -> int:
        value, shift = 0, 0
        for dw, hi, lo in self.parts:
            bits = hi - lo + 1
            value |= ((dwords.get(dw, 0) >> lo) & ((1 << bits) - 1)) << shift
            shift += bits
        return value

    @property
    def label(self) -> str:
        return self.name.upper()


def _f(name: str, title: str, dw: int, hi: int, lo: int, **kw: Any) -> CommandField:
    return CommandField(name, title, ((dw, hi, lo),), **kw)


def _slba() -> CommandField:
    return CommandField("slba", "Starting LBA (SLBA)", ((10, 31, 0), (11, 31, 0)))


def _nlb(default: int = 0) -> CommandField:
    return _f(
        "nlb", "Number of Logical Blocks (NLB), 0's based", 12, 15, 0, zeros_based=True,
        default=default,
    )  # fmt: skip


_LR = _f("lr", "Limited Retry (LR)", 12, 31, 31)
_FUA = _f("fua", "Force Unit Access (FUA)", 12, 30, 30)
_QID = _f("qid", "Queue Identifier (QID)", 10, 15, 0, default=1)
_QSIZE = _f("qsize", "Queue Size (QSIZE), 0's based", 10, 31, 16, zeros_based=True, default=63)
_PC = _f("pc", "Physically Contiguous (PC)", 11, 0, 0, default=1)

#: (admin, opcode) -> the command's own fields, in the order the form shows them
COMMAND_FIELDS: dict[tuple[bool, int], tuple[CommandField, ...]] = {
    (True, 0x00): (_QID,),
    (True, 0x01): (
        _QID,
        _QSIZE,
        _PC,
        _f("qprio", "Queue Priority (QPRIO)", 11, 2, 1),
        _f("cqid", "Completion Queue Identifier (CQID)", 11, 31, 16, default=1),
        _f("nvmsetid", "NVM Set Identifier (NVMSETID)", 12, 15, 0),
    ),
    (True, 0x02): (
        _f("lid", "Log Page Identifier (LID)", 10, 7, 0, default=0x02),
        _f("lsp", "Log Specific Field (LSP)", 10, 11, 8),
        _f("rae", "Retain Asynchronous Event (RAE)", 10, 15, 15),
        CommandField(
            "numd",
            "Number of Dwords (NUMD), 0's based",
            ((10, 31, 16), (11, 15, 0)),
            zeros_based=True,
            default=127,
        ),  # fmt: skip
        _f("lsi", "Log Specific Identifier (LSI)", 11, 31, 16),
        CommandField("lpo", "Log Page Offset (LPO), bytes", ((12, 31, 0), (13, 31, 0))),
    ),
    (True, 0x04): (_QID,),
    (True, 0x05): (
        _QID,
        _QSIZE,
        _PC,
        _f("ien", "Interrupts Enabled (IEN)", 11, 1, 1, default=1),
        _f("iv", "Interrupt Vector (IV)", 11, 31, 16, default=1),
    ),
    (True, 0x06): (
        _f("cns", "Controller or Namespace Structure (CNS)", 10, 7, 0, default=1),
        _f("cntid", "Controller Identifier (CNTID)", 10, 31, 16),
        _f("cnssid", "CNS Specific Identifier", 11, 15, 0),
        _f("csi", "Command Set Identifier (CSI)", 11, 31, 24),
    ),
    (True, 0x08): (
        _f("sqid", "Submission Queue Identifier (SQID)", 10, 15, 0),
        _f("cid", "Command Identifier (CID)", 10, 31, 16),
    ),
    (True, 0x09): (
        _f("fid", "Feature Identifier (FID)", 10, 7, 0, default=feat.FID_NUMBER_OF_QUEUES),
        _f("sv", "Save (SV)", 10, 31, 31),
    ),
    (True, 0x0A): (
        _f("fid", "Feature Identifier (FID)", 10, 7, 0, default=feat.FID_NUMBER_OF_QUEUES),
        _f("sel", "Select (SEL): 0 current, 1 default, 2 saved, 3 capabilities", 10, 10, 8),
    ),
    (True, 0x0C): (),
    (True, 0x18): (),
    (False, 0x00): (),
    (False, 0x01): (_slba(), _nlb(), _LR, _FUA),
    (False, 0x02): (_slba(), _nlb(), _LR, _FUA),
    (False, 0x04): (_slba(), _nlb()),
    (False, 0x05): (_slba(), _nlb(), _LR, _FUA),
    (False, 0x08): (_slba(), _nlb(), _LR, _FUA, _f("deac", "Deallocate (DEAC)", 12, 25, 25)),
    (False, 0x09): (
        _f("nr", "Number of Ranges (NR), 0's based", 10, 7, 0, zeros_based=True),
        _f("idr", "Integral Dataset for Read (IDR)", 11, 0, 0),
        _f("idw", "Integral Dataset for Write (IDW)", 11, 1, 1),
        _f("ad", "Attribute Deallocate (AD)", 11, 2, 2, default=1),
    ),
    (False, 0x0C): (_slba(), _nlb(), _LR, _FUA),
    (False, 0x19): (
        CommandField("sdlba", "Starting Destination LBA (SDLBA)", ((10, 31, 0), (11, 31, 0))),
        _f("nr", "Number of Ranges (NR), 0's based", 12, 7, 0, zeros_based=True),
        _f("desfmt", "Descriptor Format (DESFMT): 0h 32-byte, 1h 40-byte entries", 12, 11, 8),
        _f("prinfor", "Protection Information Field Read (PRINFOR)", 12, 15, 12),
        _f("prinfow", "Protection Information Field Write (PRINFOW)", 12, 29, 26),
        _LR,
        _FUA,
    ),
}


def bit_fields(layout: cs.Construct) -> list[tuple[str, int, int, str]]:
    """(name, high bit, low bit, title) of each field of a 32-bit little-endian bit field
    layout (``ByteSwapped(BitStruct(...))``, as in ``features.py``), most significant
    first."""
    inner: Any = layout
    while not isinstance(inner, cs.Struct):
        inner = inner.subcon
    out: list[tuple[str, int, int, str]] = []
    bit = inner.sizeof() - 1
    for sub in inner.subcons:
        width = sub.sizeof()
        if sub.name is not None:
            out.append((sub.name, bit, bit - width + 1, sub.docs or sub.name))
        bit -= width
    return out


def feature_fields(fid: int) -> tuple[CommandField, ...]:
    """The value fields of Set Features ``fid`` in CDW11 (from its layout in
    ``features.py``), or one raw CDW11 field for a feature with none (or whose value is
    a data buffer, as Timestamp's is)."""
    layout = feat.FEATURE_LAYOUTS.get(fid)
    if layout is None or layout.sizeof() != 4:
        return (_f("cdw11", "Command Dword 11 (feature value)", 11, 31, 0),)
    return tuple(
        _f(name, title, 11, hi, lo, zeros_based="0's based" in title)
        for name, hi, lo, title in bit_fields(layout)
    )


#: Get Features of these features takes fields in CDW11 (NVMe 1.4 5.21.1.4 and 5.21.1.9):
#: which threshold to report, which vector's configuration; by their names in the feature's
#: layout (``features.py``), in the order the form shows them. Other features take none.
GET_FEATURES_CDW11: dict[int, tuple[str, ...]] = {
    feat.FID_TEMPERATURE_THRESHOLD: ("tmpsel", "thsel"),
    feat.FID_INTERRUPT_VECTOR_CONFIG: ("iv",),
}


def get_features_fields(fid: int) -> tuple[CommandField, ...]:
    """The CDW11 fields a Get Features of ``fid`` takes (:data:`GET_FEATURES_CDW11`), as
    its layout declares them; none for another feature."""
    names = GET_FEATURES_CDW11.get(fid, ())
    by_name = {f.name: f for f in feature_fields(fid)}
    return tuple(by_name[n] for n in names if n in by_name)


def raw_fields() -> tuple[CommandField, ...]:
    """CDW10 to CDW15 whole: the fields of a command this module has no table for."""
    return tuple(_f(f"cdw{n}", f"Command Dword {n} (CDW{n})", n, 31, 0) for n in CDWS)


def fields_for(admin: bool, opc: int, fid: int | None = None) -> tuple[CommandField, ...]:
    """The fields the form shows for ``opc`` (with Set Features' value fields of ``fid``, or
    the CDW11 fields Get Features of ``fid`` takes), CDW10-15 whole for an opcode with no
    table."""
    known = COMMAND_FIELDS.get((admin, opc))
    if known is None:
        return raw_fields()
    if admin and opc == 0x09 and fid is not None:
        return known + feature_fields(fid)
    if admin and opc == 0x0A and fid is not None:
        return known + get_features_fields(fid)
    return known


def encode(fields: Iterable[CommandField], values: Mapping[str, int]) -> dict[int, int]:
    """CDW10..CDW15 holding ``values`` (a field not given is 0); ComposeError when a value
    does not fit its field."""
    dwords = dict.fromkeys(CDWS, 0)
    for f in fields:
        f.put(dwords, int(values.get(f.name, 0)))
    return dwords


def decode_fields(fields: Iterable[CommandField], dwords: Mapping[int, int]) -> dict[str, int]:
    """Each field's value in ``dwords``."""
    return {f.name: f.get(dwords) for f in fields}


def opcodes(admin: bool) -> dict[int, str]:
    """Opcode -> ``06h Identify`` for the admin or the NVM command set, in order."""
    table = ADMIN_OPCODES if admin else NVM_OPCODES
    return {opc: f"{opc:02X}h {name.title}" for opc, name in sorted(table.items())}


# -- the data a command moves --------------------------------------------------------------
#: the direction of a transfer: to the host (the device writes memory) or to the device
TO_HOST, TO_DEVICE, NO_DATA = "to host", "to device", ""
#: Get / Set Features whose value is a data buffer, and its size (Timestamp, Host
#: Behavior Support); Get Features of APST returns its 256-byte table too
FEATURE_DATA = {feat.FID_TIMESTAMP: 8, feat.FID_HOST_BEHAVIOR_SUPPORT: 512, 0x0C: 256}
#: Identify data is one 4096-byte structure whatever the CNS
IDENTIFY_SIZE = 4096
#: a Dataset Management range is 16 bytes
DSM_RANGE_BYTES = 16


@dataclass(frozen=True)
class Transfer:
    """What a command moves: ``length`` bytes ``direction``, or the memory of a queue it
    creates (``queue``: the bytes a ring of QSIZE+1 entries takes, at PRP1)."""

    length: int = 0
    direction: str = NO_DATA
    queue: int = 0

    @property
    def words(self) -> str:
        if self.queue:
            return f"{self.queue} bytes of queue memory at PRP1"
        if not self.length:
            return "no data"
        return f"{self.length} bytes {self.direction}"


def transfer(admin: bool, opc: int, values: Mapping[str, int], lba_size: int = 512) -> Transfer:
    """The data buffer ``opc`` with these field values needs (``lba_size`` for I/O)."""
    v = values.get
    if admin:
        if opc == 0x06:
            return Transfer(IDENTIFY_SIZE, TO_HOST)
        if opc == 0x02:
            return Transfer((v("numd", 0) + 1) * 4, TO_HOST)
        if opc in (0x09, 0x0A):
            size = FEATURE_DATA.get(v("fid", 0), 0)
            if not size:
                return Transfer()
            return Transfer(size, TO_DEVICE if opc == 0x09 else TO_HOST)
        if opc == 0x05:
            return Transfer(queue=(v("qsize", 0) + 1) * CQE_SIZE)
        if opc == 0x01:
            return Transfer(queue=(v("qsize", 0) + 1) * SQE_SIZE)
        return Transfer()
    blocks = (v("nlb", 0) + 1) * lba_size
    if opc == 0x02:
        return Transfer(blocks, TO_HOST)
    if opc in (0x01, 0x05):
        return Transfer(blocks, TO_DEVICE)
    if opc == 0x09:
        return Transfer((v("nr", 0) + 1) * DSM_RANGE_BYTES, TO_DEVICE)
    if opc == 0x19:  # the Source Range Entries
        entry = COPY_RANGE_SIZES.get(v("desfmt", 0), COPY_RANGE_SIZES[0])
        return Transfer((v("nr", 0) + 1) * entry, TO_DEVICE)
    return Transfer()


# -- presets ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Preset:
    """A command to start from: the queue kind, opcode, NSID and field values."""

    name: str
    title: str
    admin: bool
    opc: int
    nsid: int = 0
    values: dict[str, int] = field(default_factory=dict)


PRESETS: tuple[Preset, ...] = (
    Preset("identify-ctrl", "Identify Controller", True, 0x06, 0, {"cns": 0x01}),
    Preset("identify-ns", "Identify Namespace 1", True, 0x06, 1, {"cns": 0x00}),
    Preset("active-ns", "Active Namespace ID list", True, 0x06, 0, {"cns": 0x02}),
    Preset("smart-log", "Get Log Page: SMART / Health", True, 0x02, 0xFFFFFFFF,
           {"lid": 0x02, "numd": 127}),
    Preset("error-log", "Get Log Page: Error Information", True, 0x02, 0,
           {"lid": 0x01, "numd": 15}),
    Preset("get-nq", "Get Features: Number of Queues", True, 0x0A, 0,
           {"fid": feat.FID_NUMBER_OF_QUEUES}),
    Preset("set-nq", "Set Features: Number of Queues (4 + 4)", True, 0x09, 0,
           {"fid": feat.FID_NUMBER_OF_QUEUES, "nsqr": 3, "ncqr": 3}),
    Preset("create-cq", "Create I/O Completion Queue", True, 0x05, 0,
           {"qid": 2, "qsize": 63, "pc": 1, "ien": 1, "iv": 1}),
    Preset("create-sq", "Create I/O Submission Queue", True, 0x01, 0,
           {"qid": 2, "qsize": 63, "pc": 1, "cqid": 2}),
    Preset("read", "Read one block (LBA 0)", False, 0x02, 1, {"slba": 0, "nlb": 0}),
    Preset("write", "Write one block (LBA 0)", False, 0x01, 1, {"slba": 0, "nlb": 0}),
)  # fmt: skip

PRESET_NAMES = {p.name: p for p in PRESETS}


#: the longest number a field of the form takes (a 64-bit value in hex is 18 characters)
MAX_NUMBER_CHARS = 24
_NUMBER_CHARS = frozenset("0123456789abcdefABCDEFxXhH")


def parse_number(text: str, limit: int, label: str) -> int:
    """A field's text as a number: decimal (``12``) or hex (``0x1f``, ``1Fh``); a
    ComposeError (one line) when it is not one or does not fit 0..``limit``."""
    t = text.strip().replace("_", "")
    if not t:
        raise ComposeError(f"{label}: give a number")
    if len(t) > MAX_NUMBER_CHARS:
        raise ComposeError(f"{label}: too long for a number")
    try:
        x = t.lower().count("x")
        if not set(t) <= _NUMBER_CHARS or x > 1 or (x and t[:2].lower() != "0x"):
            raise ValueError
        if t[:2].lower() == "0x":
            value = int(t[2:], 16)
        elif t[-1:] in "hH":
            value = int(t[:-1], 16)
        else:
            value = int(t, 10)
    except ValueError:
        raise ComposeError(
            f"{label}: {t!r} is not a number (decimal 12, or hex 0x1f or 1Fh)"
        ) from None
    if value > limit:
        raise ComposeError(f"{label} holds 0 to {limit} ({limit:#x}), not {value}")
    return value


#: the most bytes the host allocates for one command composed by hand (PRPs typed by
#: hand may describe any length)
MAX_HAND_BUFFER = 8 << 20
#: the reason the driver gives in the SQE's build_sqe note ("Build the SQE ...: composed by
#: hand."): what tells the composed command's SQE from the scenario's own
COMPOSED = "composed by hand"
#: the spaces a write by hand (a poke) goes to, and the access sizes each takes
POKE_SIZES = {"bar0": (4, 8), "config": (1, 2, 4)}


@dataclass(frozen=True)
class HandCommand:
    """An SQE built by hand, as the host sends it (``host/compose.py``). ``prp1`` None:
    the host allocates the buffer (``length`` bytes, sent from ``data`` when
    ``to_device``) or, for Create I/O CQ/SQ, the queue memory (``queue_bytes``)."""

    sqid: int
    opc: int
    nsid: int = 0
    cdw10: int = 0
    cdw11: int = 0
    cdw12: int = 0
    cdw13: int = 0
    cdw14: int = 0
    cdw15: int = 0
    prp1: int | None = None
    prp2: int | None = None
    length: int = 0
    to_device: bool = False
    data: bytes = b""
    queue_bytes: int = 0

    @property
    def admin(self) -> bool:
        return self.sqid == 0

    @property
    def hand_prps(self) -> bool:
        return self.prp1 is not None


__all__ = [
    "CDWS",
    "COMMAND_FIELDS",
    "GET_FEATURES_CDW11",
    "MAX_HAND_BUFFER",
    "MAX_NUMBER_CHARS",
    "NO_DATA",
    "POKE_SIZES",
    "PRESETS",
    "PRESET_NAMES",
    "TO_DEVICE",
    "TO_HOST",
    "CommandField",
    "ComposeError",
    "HandCommand",
    "Preset",
    "Transfer",
    "bit_fields",
    "decode_fields",
    "encode",
    "feature_fields",
    "fields_for",
    "get_features_fields",
    "opcodes",
    "parse_number",
    "raw_fields",
    "transfer",
]
