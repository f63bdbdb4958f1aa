"""Controller registers in BAR0 (NVMe 1.4 section 3.1), declared once.

Each register is a :class:`Register`: its name, offset, size and bit fields
(name, high bit, low bit, access, meaning). From that one declaration come

- the construct layout (``Register.layout``) that parses and builds the value,
- the masks the emulator uses for read-only and reserved bits,
- the field tree the UI and CLI show (``decode_register``).

Doorbells start at 1000h: SQ y tail doorbell at ``1000h + (2y) * (4 << CAP.DSTRD)``,
CQ y head doorbell at ``1000h + (2y + 1) * (4 << CAP.DSTRD)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import construct as cs

RO = "RO"
RW = "RW"
RW1C = "RW1C"
RW1S = "RW1S"


@dataclass(frozen=True)
class BitField:
    name: str
    hi: int
    lo: int
    access: str
    meaning: str

    @property
    def width(self) -> int:
        return self.hi - self.lo + 1

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lo

    def get(self, value: int) -> int:
        return (value >> self.lo) & ((1 << self.width) - 1)

    def put(self, value: int, field_value: int) -> int:
        return (value & ~self.mask) | ((field_value << self.lo) & self.mask)


@dataclass(frozen=True)
class Register:
    name: str
    offset: int
    size: int  # bytes: 4 or 8
    long_name: str
    fields: tuple[BitField, ...]
    layout: Any = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layout", _bit_layout(self.size, self.fields))

    @property
    def ro_mask(self) -> int:
        """Bits the host cannot change (read-only and reserved)."""
        writable = 0
        for f in self.fields:
            if f.access in (RW, RW1C, RW1S):
                writable |= f.mask
        return ((1 << (8 * self.size)) - 1) & ~writable

    @property
    def reserved_mask(self) -> int:
        used = 0
        for f in self.fields:
            used |= f.mask
        return ((1 << (8 * self.size)) - 1) & ~used

    def field(self, name: str) -> BitField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name}")

    def get(self, value: int, name: str) -> int:
        return self.field(name).get(value)

    def parse(self, value: int) -> cs.Container:
        return self.layout.parse(value.to_bytes(self.size, "little"))

    def build(self, **values: int) -> int:
        full = {f.name: 0 for f in self.fields}
        full.update(values)
        return int.from_bytes(self.layout.build(full), "little")


def _bit_layout(size: int, fields: tuple[BitField, ...]) -> cs.Construct:
    """A little-endian register as a construct BitStruct (fields MSB first)."""
    parts: list[cs.Construct] = []
    bit = size * 8 - 1
    for f in sorted(fields, key=lambda f: -f.hi):
        if f.hi < bit:
            parts.append(cs.Padding(bit - f.hi))
        parts.append(f.name / cs.BitsInteger(f.width))
        bit = f.lo - 1
    if bit >= 0:
        parts.append(cs.Padding(bit + 1))
    return cs.ByteSwapped(cs.BitStruct(*parts))


def _f(name: str, hi: int, lo: int, access: str, meaning: str) -> BitField:
    return BitField(name, hi, lo, access, meaning)


CAP = Register(
    "cap",
    0x00,
    8,
    "Controller Capabilities",
    (
        _f("mqes", 15, 0, RO, "Maximum Queue Entries Supported (0's based)"),
        _f("cqr", 16, 16, RO, "Contiguous Queues Required"),
        _f("ams", 18, 17, RO, "Arbitration Mechanism Supported"),
        _f("to", 31, 24, RO, "Timeout (500 ms units)"),
        _f("dstrd", 35, 32, RO, "Doorbell Stride (4 << DSTRD bytes)"),
        _f("nssrs", 36, 36, RO, "NVM Subsystem Reset Supported"),
        _f("css", 44, 37, RO, "Command Sets Supported"),
        _f("bps", 45, 45, RO, "Boot Partition Support"),
        _f("mpsmin", 51, 48, RO, "Memory Page Size Minimum (2 ^ (12 + MPSMIN))"),
        _f("mpsmax", 55, 52, RO, "Memory Page Size Maximum (2 ^ (12 + MPSMAX))"),
        _f("pmrs", 56, 56, RO, "Persistent Memory Region Supported"),
        _f("cmbs", 57, 57, RO, "Controller Memory Buffer Supported"),
    ),
)

VS = Register(
    "vs",
    0x08,
    4,
    "Version",
    (
        _f("mjr", 31, 16, RO, "Major Version Number"),
        _f("mnr", 15, 8, RO, "Minor Version Number"),
        _f("ter", 7, 0, RO, "Tertiary Version Number"),
    ),
)

INTMS = Register(
    "intms",
    0x0C,
    4,
    "Interrupt Mask Set",
    (_f("ivms", 31, 0, RW1S, "Interrupt Vector Mask Set"),),
)

INTMC = Register(
    "intmc",
    0x10,
    4,
    "Interrupt Mask Clear",
    (_f("ivmc", 31, 0, RW1C, "Interrupt Vector Mask Clear"),),
)

CC = Register(
    "cc",
    0x14,
    4,
    "Controller Configuration",
    (
        _f("en", 0, 0, RW, "Enable"),
        _f("css", 6, 4, RW, "I/O Command Set Selected"),
        _f("mps", 10, 7, RW, "Memory Page Size (2 ^ (12 + MPS))"),
        _f("ams", 13, 11, RW, "Arbitration Mechanism Selected"),
        _f("shn", 15, 14, RW, "Shutdown Notification"),
        _f("iosqes", 19, 16, RW, "I/O Submission Queue Entry Size (2 ^ n)"),
        _f("iocqes", 23, 20, RW, "I/O Completion Queue Entry Size (2 ^ n)"),
    ),
)

CSTS = Register(
    "csts",
    0x1C,
    4,
    "Controller Status",
    (
        _f("rdy", 0, 0, RO, "Ready"),
        _f("cfs", 1, 1, RO, "Controller Fatal Status"),
        _f("shst", 3, 2, RO, "Shutdown Status"),
        _f("nssro", 4, 4, RW1C, "NVM Subsystem Reset Occurred"),
        _f("pp", 5, 5, RO, "Processing Paused"),
    ),
)

NSSR = Register(
    "nssr",
    0x20,
    4,
    "NVM Subsystem Reset",
    (_f("nssrc", 31, 0, RW, "NVM Subsystem Reset Control (write 4E564D65h 'NVMe')"),),
)

AQA = Register(
    "aqa",
    0x24,
    4,
    "Admin Queue Attributes",
    (
        _f("asqs", 11, 0, RW, "Admin Submission Queue Size (0's based)"),
        _f("acqs", 27, 16, RW, "Admin Completion Queue Size (0's based)"),
    ),
)

ASQ = Register(
    "asq",
    0x28,
    8,
    "Admin Submission Queue Base Address",
    (_f("asqb", 63, 12, RW, "Admin Submission Queue Base (4 KiB aligned)"),),
)

ACQ = Register(
    "acq",
    0x30,
    8,
    "Admin Completion Queue Base Address",
    (_f("acqb", 63, 12, RW, "Admin Completion Queue Base (4 KiB aligned)"),),
)

CMBLOC = Register(
    "cmbloc",
    0x38,
    4,
    "Controller Memory Buffer Location",
    (
        _f("bir", 2, 0, RO, "Base Indicator Register"),
        _f("cqmms", 3, 3, RO, "CMB Queue Mixed Memory Support"),
        _f("cqpds", 4, 4, RO, "CMB Queue Physically Discontiguous Support"),
        _f("cdpmls", 5, 5, RO, "CMB Data Pointer Mixed Locations Support"),
        _f("cdpcils", 6, 6, RO, "CMB Data Pointer and Command Independent Locations Support"),
        _f("cdmmms", 7, 7, RO, "CMB Data Metadata Mixed Memory Support"),
        _f("cqda", 8, 8, RO, "CMB Queue Dword Alignment"),
        _f("ofst", 31, 12, RO, "Offset"),
    ),
)

CMBSZ = Register(
    "cmbsz",
    0x3C,
    4,
    "Controller Memory Buffer Size",
    (
        _f("sqs", 0, 0, RO, "Submission Queue Support"),
        _f("cqs", 1, 1, RO, "Completion Queue Support"),
        _f("lists", 2, 2, RO, "PRP SGL List Support"),
        _f("rds", 3, 3, RO, "Read Data Support"),
        _f("wds", 4, 4, RO, "Write Data Support"),
        _f("szu", 11, 8, RO, "Size Units"),
        _f("sz", 31, 12, RO, "Size"),
    ),
)

#: Every controller register, in offset order.
REGISTERS: tuple[Register, ...] = (
    CAP,
    VS,
    INTMS,
    INTMC,
    CC,
    CSTS,
    NSSR,
    AQA,
    ASQ,
    ACQ,
    CMBLOC,
    CMBSZ,
)
BY_NAME: dict[str, Register] = {r.name: r for r in REGISTERS}
BY_OFFSET: dict[int, Register] = {r.offset: r for r in REGISTERS}

DOORBELL_BASE = 0x1000
NSSR_RESET_VALUE = 0x4E564D65  # "NVMe"

# CC.SHN and CSTS.SHST values
SHN_NONE, SHN_NORMAL, SHN_ABRUPT = 0, 1, 2
SHST_NORMAL, SHST_OCCURRING, SHST_COMPLETE = 0, 1, 2


def sq_tail_doorbell(qid: int, dstrd: int) -> int:
    """BAR0 offset of SQ ``qid``'s tail doorbell."""
    return DOORBELL_BASE + (2 * qid) * (4 << dstrd)


def cq_head_doorbell(qid: int, dstrd: int) -> int:
    """BAR0 offset of CQ ``qid``'s head doorbell."""
    return DOORBELL_BASE + (2 * qid + 1) * (4 << dstrd)


def doorbell_at(offset: int, dstrd: int) -> tuple[str, int] | None:
    """Which doorbell sits at ``offset``: ("sq" | "cq", qid), or None if none does."""
    if offset < DOORBELL_BASE:
        return None
    stride = 4 << dstrd
    rel = offset - DOORBELL_BASE
    if rel % stride:
        return None
    index = rel // stride
    return ("sq" if index % 2 == 0 else "cq", index // 2)


def register_at(offset: int) -> tuple[Register, int] | None:
    """The register containing byte ``offset`` and the offset within it."""
    for reg in REGISTERS:
        if reg.offset <= offset < reg.offset + reg.size:
            return reg, offset - reg.offset
    return None


def register_name(offset: int, size: int, dstrd: int = 0) -> str:
    """A name for a BAR0 access, e.g. ``cc``, ``asq.hi``, ``sq0tdbl``, ``cq1hdbl``."""
    hit = register_at(offset)
    if hit is not None:
        reg, within = hit
        if reg.size == 8 and size == 4:
            return f"{reg.name}.{'lo' if within == 0 else 'hi'}"
        return reg.name
    db = doorbell_at(offset, dstrd)
    if db is not None:
        kind, qid = db
        return f"{kind}{qid}{'tdbl' if kind == 'sq' else 'hdbl'}"
    return ""


# ----------------------------------------------------------------------------------
# Registers the emulated controller does not implement (it reads them as zero), and
# NVMe 2.0 fields of the registers above; declared here so that a printer such as
# ``nvme show-regs`` names them from one place. They are not in ``REGISTERS``: the
# emulator's masks and the views of the 1.4 register file are unchanged by them.
# ----------------------------------------------------------------------------------

#: CAP bits 60:59 (NVMe 2.0 CRMS): Controller Ready With / Independent of Media Support.
CAP_CRWMS = _f("crwms", 59, 59, RO, "Controller Ready With Media Support")
CAP_CRIMS = _f("crims", 60, 60, RO, "Controller Ready Independent of Media Support")
#: CC bit 24 (NVMe 2.0): Controller Ready Independent of Media Enable (reserved in 1.4).
CC_CRIME = _f("crime", 24, 24, RW, "Controller Ready Independent of Media Enable")

BPINFO = Register(
    "bpinfo",
    0x40,
    4,
    "Boot Partition Information",
    (
        _f("bpsz", 14, 0, RO, "Boot Partition Size (128 KiB units)"),
        _f("brs", 25, 24, RO, "Boot Read Status"),
        _f("abpid", 31, 31, RO, "Active Boot Partition ID"),
    ),
)

BPRSEL = Register(
    "bprsel",
    0x44,
    4,
    "Boot Partition Read Select",
    (
        _f("bprsz", 9, 0, RW, "Boot Partition Read Size (4 KiB units)"),
        _f("bprof", 29, 10, RW, "Boot Partition Read Offset (4 KiB units)"),
        _f("bpid", 31, 31, RW, "Boot Partition Identifier"),
    ),
)

BPMBL = Register(
    "bpmbl",
    0x48,
    8,
    "Boot Partition Memory Buffer Location",
    (_f("bmbba", 63, 12, RW, "Boot Partition Memory Buffer Base Address (4 KiB aligned)"),),
)

CMBMSC = Register(
    "cmbmsc",
    0x50,
    8,
    "Controller Memory Buffer Memory Space Control",
    (
        _f("cre", 0, 0, RW, "Capabilities Registers Enabled"),
        _f("cmse", 1, 1, RW, "Controller Memory Space Enable"),
        _f("cba", 63, 12, RW, "Controller Base Address (4 KiB aligned)"),
    ),
)

CMBSTS = Register(
    "cmbsts",
    0x58,
    4,
    "Controller Memory Buffer Status",
    (_f("cbai", 0, 0, RO, "Controller Base Address Invalid"),),
)

CRTO = Register(
    "crto",
    0x68,
    4,
    "Controller Ready Timeouts",
    (
        _f("crwmt", 15, 0, RO, "Controller Ready With Media Timeout (500 ms units)"),
        _f("crimt", 31, 16, RO, "Controller Ready Independent of Media Timeout (500 ms units)"),
    ),
)

PMRCAP = Register(
    "pmrcap",
    0xE00,
    4,
    "Persistent Memory Region Capabilities",
    (
        _f("rds", 3, 3, RO, "Read Data Support"),
        _f("wds", 4, 4, RO, "Write Data Support"),
        _f("bir", 7, 5, RO, "Base Indicator Register"),
        _f("pmrtu", 9, 8, RO, "Persistent Memory Region Time Units"),
        _f("pmrwbm", 13, 10, RO, "Persistent Memory Region Write Barrier Mechanisms"),
        _f("pmrto", 23, 16, RO, "Persistent Memory Region Timeout"),
        _f("cmss", 24, 24, RO, "Controller Memory Space Supported"),
    ),
)

PMRCTL = Register(
    "pmrctl",
    0xE04,
    4,
    "Persistent Memory Region Control",
    (_f("en", 0, 0, RW, "Enable"),),
)

PMRSTS = Register(
    "pmrsts",
    0xE08,
    4,
    "Persistent Memory Region Status",
    (
        _f("err", 7, 0, RO, "Error"),
        _f("nrdy", 8, 8, RO, "Not Ready"),
        _f("hsts", 11, 9, RO, "Health Status"),
        _f("cbai", 12, 12, RO, "Controller Base Address Invalid"),
    ),
)

PMREBS = Register(
    "pmrebs",
    0xE0C,
    4,
    "Persistent Memory Region Elasticity Buffer Size",
    (
        _f("pmrszu", 3, 0, RO, "PMR Elasticity Buffer Size Units"),
        _f("rbb", 4, 4, RO, "Read Bypass Behavior"),
        _f("pmrwbz", 31, 8, RO, "PMR Elasticity Buffer Size Base"),
    ),
)

PMRSWTP = Register(
    "pmrswtp",
    0xE10,
    4,
    "Persistent Memory Region Sustained Write Throughput",
    (
        _f("pmrswtu", 3, 0, RO, "PMR Sustained Write Throughput Units"),
        _f("pmrswtv", 31, 8, RO, "PMR Sustained Write Throughput"),
    ),
)

PMRMSCL = Register(
    "pmrmscl",
    0xE14,
    4,
    "Persistent Memory Region Controller Memory Space Control Lower",
    (
        _f("cmse", 1, 1, RW, "Controller Memory Space Enable"),
        _f("cba", 31, 12, RW, "Controller Base Address bits 31:12"),
    ),
)

PMRMSCU = Register(
    "pmrmscu",
    0xE18,
    4,
    "Persistent Memory Region Controller Memory Space Control Upper",
    (_f("cba", 31, 0, RW, "Controller Base Address bits 63:32"),),
)

#: The registers beyond ``REGISTERS`` (NVMe 2.0 section 3.1.3), in offset order.
OPTIONAL_REGISTERS: tuple[Register, ...] = (
    BPINFO,
    BPRSEL,
    BPMBL,
    CMBMSC,
    CMBSTS,
    CRTO,
    PMRCAP,
    PMRCTL,
    PMRSTS,
    PMREBS,
    PMRSWTP,
    PMRMSCL,
    PMRMSCU,
)
