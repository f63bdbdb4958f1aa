"""Identify data structures (NVMe 1.4 section 5.15.2, with the NVMe 2.0 additions
that nvme-cli 2.3 prints), declared once as construct layouts.

Field names are nvme-cli 2.3's JSON key names (``nvme id-ctrl -o json``,
``nvme id-ns -o json``) so that the CLI printers and the emulator speak the
same words. Every field carries the specification's title as construct docs
(``"vid" / cs.Int16ul * "PCI Vendor ID"``); the field tree in ``decode.py``
shows them.

Strings (sn, mn, fr, subnqn) are :class:`AsciiField`: parsing keeps the raw
bytes (lossless, so ``build(parse(x)) == x`` for any bytes a device returns),
building accepts ``str`` or ``bytes`` and pads: sn, mn and fr with spaces as
the specification requires, subnqn with NULs. :func:`ascii_field` turns the
parsed bytes into text.

128-bit counters (tnvmcap, unvmcap, megcap, maxdna, nvmcap) are little-endian
integers; ieee is a 3-byte little-endian integer (the OUI as nvme-cli prints it).
"""

from __future__ import annotations

import copy
from typing import Any

import construct as cs

IDENTIFY_SIZE = 4096


class AsciiField(cs.Adapter):
    """A fixed-size ASCII string field: ``length`` bytes, padded with ``pad``.

    Parse returns the raw ``bytes`` (nothing is stripped). Build accepts ``str``
    (encoded as ASCII) or ``bytes`` and pads to ``length`` with ``pad``; an empty
    value builds as all NUL bytes (an unused slot, e.g. an empty firmware slot).
    A value longer than ``length`` is an error.
    """

    def __init__(self, length: int, pad: bytes = b" ") -> None:
        super().__init__(cs.Bytes(length))
        self.length = length
        self.pad = pad

    def _decode(self, obj: bytes, context: Any, path: str) -> bytes:
        return bytes(obj)

    def _encode(self, obj: str | bytes, context: Any, path: str) -> bytes:
        raw = obj.encode("ascii") if isinstance(obj, str) else bytes(obj)
        if len(raw) > self.length:
            raise cs.StringError(f"{raw!r} is longer than {self.length} bytes", path=path)
        if not raw:
            return bytes(self.length)
        return raw + self.pad * (self.length - len(raw))


def ascii_field(raw: bytes | str) -> str:
    """The text of a parsed ASCII field: NULs and trailing spaces removed,
    non-ASCII bytes shown as ``?``."""
    if isinstance(raw, str):
        return raw.rstrip(" \x00")
    text = bytes(raw).split(b"\x00", 1)[0].decode("ascii", errors="replace")
    return text.replace("\ufffd", "?").rstrip(" ")


Int128ul = cs.BytesInteger(16, swapped=True)
Int24ul = cs.BytesInteger(3, swapped=True)


def _rsvd(offset: int, length: int) -> cs.Construct:
    return f"rsvd{offset}" / cs.Bytes(length) * "Reserved"


# -- Power State Descriptor (Figure 249 in 1.4) ------------------------------------
#: One power state descriptor, 32 bytes. The whole descriptor is one bit stream so
#: the packed fields sit flat beside the others; bit numbers in the specification
#: (e.g. RRT 100:96) are little-endian bit numbers over the 32 bytes.
POWER_STATE_DESCRIPTOR = cs.BitStruct(
    "max_power" / cs.BitsInteger(16, swapped=True) * "Maximum Power (MP)",
    "rsvd2" / cs.BitsInteger(8) * "Reserved",
    "flags"
    / cs.BitsInteger(8)
    * "Flags: Max Power Scale (MXPS) bit 0, Non-Operational State (NOPS) bit 1",
    "entry_lat" / cs.BitsInteger(32, swapped=True) * "Entry Latency (ENLAT), microseconds",
    "exit_lat" / cs.BitsInteger(32, swapped=True) * "Exit Latency (EXLAT), microseconds",
    cs.Padding(3),
    "read_tput" / cs.BitsInteger(5) * "Relative Read Throughput (RRT)",
    cs.Padding(3),
    "read_lat" / cs.BitsInteger(5) * "Relative Read Latency (RRL)",
    cs.Padding(3),
    "write_tput" / cs.BitsInteger(5) * "Relative Write Throughput (RWT)",
    cs.Padding(3),
    "write_lat" / cs.BitsInteger(5) * "Relative Write Latency (RWL)",
    "idle_power" / cs.BitsInteger(16, swapped=True) * "Idle Power (IDLP)",
    "idle_scale" / cs.BitsInteger(2) * "Idle Power Scale (IPS)",
    cs.Padding(6),
    cs.Padding(8),
    "active_power" / cs.BitsInteger(16, swapped=True) * "Active Power (ACTP)",
    "active_scale" / cs.BitsInteger(2) * "Active Power Scale (APS)",
    cs.Padding(3),
    "active_power_work" / cs.BitsInteger(3) * "Active Power Workload (APW)",
    cs.Padding(72),
)
PSD_SIZE = 32
PSD_FLAG_MXPS = 0x01
PSD_FLAG_NOPS = 0x02

# -- Identify Controller data structure (CNS 01h) --------------------------------------
IDENTIFY_CONTROLLER = cs.Struct(
    # Controller Capabilities and Features
    "vid" / cs.Int16ul * "PCI Vendor ID (VID)",
    "ssvid" / cs.Int16ul * "PCI Subsystem Vendor ID (SSVID)",
    "sn" / AsciiField(20) * "Serial Number (SN)",
    "mn" / AsciiField(40) * "Model Number (MN)",
    "fr" / AsciiField(8) * "Firmware Revision (FR)",
    "rab" / cs.Int8ul * "Recommended Arbitration Burst (RAB)",
    "ieee" / Int24ul * "IEEE OUI Identifier (IEEE)",
    "cmic" / cs.Int8ul * "Controller Multi-Path I/O and Namespace Sharing Capabilities (CMIC)",
    "mdts" / cs.Int8ul * "Maximum Data Transfer Size (MDTS)",
    "cntlid" / cs.Int16ul * "Controller ID (CNTLID)",
    "ver" / cs.Int32ul * "Version (VER)",
    "rtd3r" / cs.Int32ul * "RTD3 Resume Latency (RTD3R)",
    "rtd3e" / cs.Int32ul * "RTD3 Entry Latency (RTD3E)",
    "oaes" / cs.Int32ul * "Optional Asynchronous Events Supported (OAES)",
    "ctratt" / cs.Int32ul * "Controller Attributes (CTRATT)",
    "rrls" / cs.Int16ul * "Read Recovery Levels Supported (RRLS)",
    _rsvd(102, 9),
    "cntrltype" / cs.Int8ul * "Controller Type (CNTRLTYPE)",
    "fguid" / cs.Bytes(16) * "FRU Globally Unique Identifier (FGUID)",
    "crdt1" / cs.Int16ul * "Command Retry Delay Time 1 (CRDT1)",
    "crdt2" / cs.Int16ul * "Command Retry Delay Time 2 (CRDT2)",
    "crdt3" / cs.Int16ul * "Command Retry Delay Time 3 (CRDT3)",
    _rsvd(134, 119),
    # 240..255 are defined by the NVMe Management Interface specification
    "nvmsr" / cs.Int8ul * "NVM Subsystem Report (NVMSR)",
    "vwci" / cs.Int8ul * "VPD Write Cycle Information (VWCI)",
    "mec" / cs.Int8ul * "Management Endpoint Capabilities (MEC)",
    # Admin Command Set Attributes & Optional Controller Capabilities
    "oacs" / cs.Int16ul * "Optional Admin Command Support (OACS)",
    "acl" / cs.Int8ul * "Abort Command Limit (ACL), 0's based",
    "aerl" / cs.Int8ul * "Asynchronous Event Request Limit (AERL), 0's based",
    "frmw" / cs.Int8ul * "Firmware Updates (FRMW)",
    "lpa" / cs.Int8ul * "Log Page Attributes (LPA)",
    "elpe" / cs.Int8ul * "Error Log Page Entries (ELPE), 0's based",
    "npss" / cs.Int8ul * "Number of Power States Support (NPSS), 0's based",
    "avscc" / cs.Int8ul * "Admin Vendor Specific Command Configuration (AVSCC)",
    "apsta" / cs.Int8ul * "Autonomous Power State Transition Attributes (APSTA)",
    "wctemp" / cs.Int16ul * "Warning Composite Temperature Threshold (WCTEMP), Kelvin",
    "cctemp" / cs.Int16ul * "Critical Composite Temperature Threshold (CCTEMP), Kelvin",
    "mtfa" / cs.Int16ul * "Maximum Time for Firmware Activation (MTFA), 100 ms units",
    "hmpre" / cs.Int32ul * "Host Memory Buffer Preferred Size (HMPRE), 4 KiB units",
    "hmmin" / cs.Int32ul * "Host Memory Buffer Minimum Size (HMMIN), 4 KiB units",
    "tnvmcap" / Int128ul * "Total NVM Capacity (TNVMCAP), bytes",
    "unvmcap" / Int128ul * "Unallocated NVM Capacity (UNVMCAP), bytes",
    "rpmbs" / cs.Int32ul * "Replay Protected Memory Block Support (RPMBS)",
    "edstt" / cs.Int16ul * "Extended Device Self-test Time (EDSTT), minutes",
    "dsto" / cs.Int8ul * "Device Self-test Options (DSTO)",
    "fwug" / cs.Int8ul * "Firmware Update Granularity (FWUG), 4 KiB units",
    "kas" / cs.Int16ul * "Keep Alive Support (KAS), 100 ms units",
    "hctma" / cs.Int16ul * "Host Controlled Thermal Management Attributes (HCTMA)",
    "mntmt" / cs.Int16ul * "Minimum Thermal Management Temperature (MNTMT), Kelvin",
    "mxtmt" / cs.Int16ul * "Maximum Thermal Management Temperature (MXTMT), Kelvin",
    "sanicap" / cs.Int32ul * "Sanitize Capabilities (SANICAP)",
    "hmminds"
    / cs.Int32ul
    * "Host Memory Buffer Minimum Descriptor Entry Size (HMMINDS), 4 KiB units",
    "hmmaxd" / cs.Int16ul * "Host Memory Maximum Descriptors Entries (HMMAXD)",
    "nsetidmax" / cs.Int16ul * "NVM Set Identifier Maximum (NSETIDMAX)",
    "endgidmax" / cs.Int16ul * "Endurance Group Identifier Maximum (ENDGIDMAX)",
    "anatt" / cs.Int8ul * "ANA Transition Time (ANATT), seconds",
    "anacap" / cs.Int8ul * "Asymmetric Namespace Access Capabilities (ANACAP)",
    "anagrpmax" / cs.Int32ul * "ANA Group Identifier Maximum (ANAGRPMAX)",
    "nanagrpid" / cs.Int32ul * "Number of ANA Group Identifiers (NANAGRPID)",
    "pels" / cs.Int32ul * "Persistent Event Log Size (PELS), 64 KiB units",
    "domainid" / cs.Int16ul * "Domain Identifier (DOMAINID)",
    _rsvd(358, 10),
    "megcap" / Int128ul * "Max Endurance Group Capacity (MEGCAP), bytes",
    _rsvd(384, 128),
    # NVM Command Set Attributes
    "sqes" / cs.Int8ul * "Submission Queue Entry Size (SQES): max 7:4, required 3:0, 2^n bytes",
    "cqes" / cs.Int8ul * "Completion Queue Entry Size (CQES): max 7:4, required 3:0, 2^n bytes",
    "maxcmd" / cs.Int16ul * "Maximum Outstanding Commands (MAXCMD)",
    "nn" / cs.Int32ul * "Number of Namespaces (NN)",
    "oncs" / cs.Int16ul * "Optional NVM Command Support (ONCS)",
    "fuses" / cs.Int16ul * "Fused Operation Support (FUSES)",
    "fna" / cs.Int8ul * "Format NVM Attributes (FNA)",
    "vwc" / cs.Int8ul * "Volatile Write Cache (VWC)",
    "awun" / cs.Int16ul * "Atomic Write Unit Normal (AWUN), 0's based",
    "awupf" / cs.Int16ul * "Atomic Write Unit Power Fail (AWUPF), 0's based",
    "icsvscc" / cs.Int8ul * "I/O Command Set Vendor Specific Command Configuration (ICSVSCC)",
    "nwpc" / cs.Int8ul * "Namespace Write Protection Capabilities (NWPC)",
    "acwu" / cs.Int16ul * "Atomic Compare & Write Unit (ACWU), 0's based",
    "ocfs" / cs.Int16ul * "Optional Copy Formats Supported (OCFS)",
    "sgls" / cs.Int32ul * "SGL Support (SGLS)",
    "mnan" / cs.Int32ul * "Maximum Number of Allowed Namespaces (MNAN)",
    "maxdna" / Int128ul * "Maximum Domain Namespace Attachments (MAXDNA)",
    "maxcna" / cs.Int32ul * "Maximum I/O Controller Namespace Attachments (MAXCNA)",
    _rsvd(564, 204),
    "subnqn" / AsciiField(256, pad=b"\x00") * "NVM Subsystem NVMe Qualified Name (SUBNQN)",
    _rsvd(1024, 768),
    # Fabric specific
    "ioccsz" / cs.Int32ul * "I/O Queue Command Capsule Supported Size (IOCCSZ)",
    "iorcsz" / cs.Int32ul * "I/O Queue Response Capsule Supported Size (IORCSZ)",
    "icdoff" / cs.Int16ul * "In Capsule Data Offset (ICDOFF)",
    "fcatt" / cs.Int8ul * "Fabrics Controller Attributes (FCATT)",
    "msdbd" / cs.Int8ul * "Maximum SGL Data Block Descriptors (MSDBD)",
    "ofcs" / cs.Int16ul * "Optional Fabric Commands Support (OFCS)",
    _rsvd(1806, 242),
    # Power State Descriptors
    "psd" / cs.Array(32, POWER_STATE_DESCRIPTOR) * "Power State Descriptors (PSD0..PSD31)",
    "vs" / cs.Bytes(1024) * "Vendor Specific",
)

# -- Identify Namespace data structure (CNS 00h), NVM command set ---------------------
#: LBA Format Data Structure (4 bytes): ms 15:0, lbads ("ds") 23:16, rp 25:24.
LBA_FORMAT = cs.BitStruct(
    "ms" / cs.BitsInteger(16, swapped=True) * "Metadata Size (MS), bytes",
    "ds" / cs.BitsInteger(8) * "LBA Data Size (LBADS), 2^n bytes",
    cs.Padding(6),
    "rp" / cs.BitsInteger(2) * "Relative Performance (RP)",
)
LBAF_COUNT = 64

IDENTIFY_NAMESPACE = cs.Struct(
    "nsze" / cs.Int64ul * "Namespace Size (NSZE), logical blocks",
    "ncap" / cs.Int64ul * "Namespace Capacity (NCAP), logical blocks",
    "nuse" / cs.Int64ul * "Namespace Utilization (NUSE), logical blocks",
    "nsfeat" / cs.Int8ul * "Namespace Features (NSFEAT)",
    "nlbaf" / cs.Int8ul * "Number of LBA Formats (NLBAF), 0's based",
    "flbas" / cs.Int8ul * "Formatted LBA Size (FLBAS)",
    "mc" / cs.Int8ul * "Metadata Capabilities (MC)",
    "dpc" / cs.Int8ul * "End-to-end Data Protection Capabilities (DPC)",
    "dps" / cs.Int8ul * "End-to-end Data Protection Type Settings (DPS)",
    "nmic" / cs.Int8ul * "Namespace Multi-path I/O and Namespace Sharing Capabilities (NMIC)",
    "rescap" / cs.Int8ul * "Reservation Capabilities (RESCAP)",
    "fpi" / cs.Int8ul * "Format Progress Indicator (FPI)",
    "dlfeat" / cs.Int8ul * "Deallocate Logical Block Features (DLFEAT)",
    "nawun" / cs.Int16ul * "Namespace Atomic Write Unit Normal (NAWUN), 0's based",
    "nawupf" / cs.Int16ul * "Namespace Atomic Write Unit Power Fail (NAWUPF), 0's based",
    "nacwu" / cs.Int16ul * "Namespace Atomic Compare & Write Unit (NACWU), 0's based",
    "nabsn" / cs.Int16ul * "Namespace Atomic Boundary Size Normal (NABSN), 0's based",
    "nabo" / cs.Int16ul * "Namespace Atomic Boundary Offset (NABO)",
    "nabspf" / cs.Int16ul * "Namespace Atomic Boundary Size Power Fail (NABSPF), 0's based",
    "noiob" / cs.Int16ul * "Namespace Optimal I/O Boundary (NOIOB), logical blocks",
    "nvmcap" / Int128ul * "NVM Capacity (NVMCAP), bytes",
    "npwg" / cs.Int16ul * "Namespace Preferred Write Granularity (NPWG), 0's based",
    "npwa" / cs.Int16ul * "Namespace Preferred Write Alignment (NPWA), 0's based",
    "npdg" / cs.Int16ul * "Namespace Preferred Deallocate Granularity (NPDG), 0's based",
    "npda" / cs.Int16ul * "Namespace Preferred Deallocate Alignment (NPDA), 0's based",
    "nows" / cs.Int16ul * "Namespace Optimal Write Size (NOWS), 0's based",
    "mssrl" / cs.Int16ul * "Maximum Single Source Range Length (MSSRL)",
    "mcl" / cs.Int32ul * "Maximum Copy Length (MCL)",
    "msrc" / cs.Int8ul * "Maximum Source Range Count (MSRC), 0's based",
    _rsvd(81, 1),
    "nulbaf" / cs.Int8ul * "Number of Unique Capability LBA Formats (NULBAF)",
    _rsvd(83, 9),
    "anagrpid" / cs.Int32ul * "ANA Group Identifier (ANAGRPID)",
    _rsvd(96, 3),
    "nsattr" / cs.Int8ul * "Namespace Attributes (NSATTR)",
    "nvmsetid" / cs.Int16ul * "NVM Set Identifier (NVMSETID)",
    "endgid" / cs.Int16ul * "Endurance Group Identifier (ENDGID)",
    "nguid" / cs.Bytes(16) * "Namespace Globally Unique Identifier (NGUID)",
    "eui64" / cs.Bytes(8) * "IEEE Extended Unique Identifier (EUI64)",
    # LBAF0..15 at 128..191 (1.4); LBAF16..63 at 192..383 (2.0)
    "lbaf" / cs.Array(LBAF_COUNT, LBA_FORMAT) * "LBA Format Support (LBAF0..LBAF63)",
    "vs" / cs.Bytes(3712) * "Vendor Specific",
)

# -- Active Namespace ID list (CNS 02h) ------------------------------------------------
ACTIVE_NS_LIST = cs.Array(1024, cs.Int32ul)

# -- Namespace Identification Descriptor list (CNS 03h) --------------------------------
NIDT_EUI64 = 0x1
NIDT_NGUID = 0x2
NIDT_UUID = 0x3
NIDT_CSI = 0x4
#: The length (NIDL) each Namespace Identifier Type requires.
NIDT_LENGTHS: dict[int, int] = {NIDT_EUI64: 8, NIDT_NGUID: 16, NIDT_UUID: 16, NIDT_CSI: 1}
NIDT_NAMES: dict[int, str] = {
    NIDT_EUI64: "IEEE Extended Unique Identifier (EUI64)",
    NIDT_NGUID: "Namespace Globally Unique Identifier (NGUID)",
    NIDT_UUID: "Namespace UUID",
    NIDT_CSI: "Command Set Identifier (CSI)",
}

NS_ID_DESCRIPTOR = cs.Struct(
    "nidt" / cs.Int8ul * "Namespace Identifier Type (NIDT)",
    "nidl" / cs.Int8ul * "Namespace Identifier Length (NIDL)",
    "rsvd2" / cs.Bytes(2) * "Reserved",
    "nid" / cs.Bytes(cs.this.nidl) * "Namespace Identifier (NID)",
)

#: The whole 4096-byte list: descriptors up to and including one whose NIDT is 0.
NS_ID_DESC_LIST = cs.FixedSized(
    IDENTIFY_SIZE,
    cs.Struct(
        "descs" / cs.RepeatUntil(lambda obj, lst, ctx: obj.nidt == 0, NS_ID_DESCRIPTOR),
    ),
)


def parse_ns_desc_list(data: bytes) -> list[cs.Container]:
    """The descriptors of a Namespace Identification Descriptor list, without the
    terminator. Stops at NIDT 0, at the end of the data, or at a descriptor that
    does not fit; never raises on bad data."""
    out: list[cs.Container] = []
    pos = 0
    data = bytes(data)
    while pos + 4 <= len(data):
        nidt, nidl = data[pos], data[pos + 1]
        if nidt == 0 or pos + 4 + nidl > len(data):
            break
        out.append(NS_ID_DESCRIPTOR.parse(data[pos : pos + 4 + nidl]))
        pos += 4 + nidl
    return out


def build_ns_desc_list(descs: list[dict[str, Any]]) -> bytes:
    """A 4096-byte descriptor list. Each descriptor needs ``nidt`` and ``nid``
    (``nidl`` defaults to ``len(nid)``); the rest is zero (the terminator)."""
    out = bytearray()
    for d in descs:
        nid = bytes(d["nid"])
        out += NS_ID_DESCRIPTOR.build(
            {"nidt": d["nidt"], "nidl": d.get("nidl", len(nid)), "rsvd2": bytes(2), "nid": nid}
        )
    if len(out) > IDENTIFY_SIZE:
        raise ValueError(f"descriptor list is {len(out)} bytes, more than {IDENTIFY_SIZE}")
    return bytes(out) + bytes(IDENTIFY_SIZE - len(out))


def build_active_ns_list(nsids: list[int]) -> bytes:
    """A 4096-byte active namespace list: up to 1024 NSIDs, zero filled."""
    if len(nsids) > 1024:
        raise ValueError("an active namespace list holds at most 1024 NSIDs")
    return ACTIVE_NS_LIST.build(list(nsids) + [0] * (1024 - len(nsids)))


# -- Controller List (CNS 12h / 13h; the data of Namespace Attachment) -----------------
#: entry 0 is the number of identifiers (up to 2047), then the controller identifiers
CONTROLLER_LIST = cs.Struct(
    "numid" / cs.Int16ul * "Number of Identifiers",
    "ids" / cs.Array(2047, cs.Int16ul) * "Controller Identifiers",
)


def build_controller_list(cntlids: list[int]) -> bytes:
    """A 4096-byte controller list: the count, then up to 2047 controller identifiers."""
    if len(cntlids) > 2047:
        raise ValueError("a controller list holds at most 2047 identifiers")
    return CONTROLLER_LIST.build(
        {"numid": len(cntlids), "ids": [*cntlids] + [0] * (2047 - len(cntlids))}
    )


def parse_controller_list(data: bytes) -> list[int]:
    """The identifiers of a controller list: as many as its count says (at most 2047)."""
    raw = bytes(data)[:IDENTIFY_SIZE].ljust(IDENTIFY_SIZE, b"\0")
    parsed = CONTROLLER_LIST.parse(raw)
    return list(parsed.ids[: min(parsed.numid, 2047)])


def parse_active_ns_list(data: bytes) -> list[int]:
    """The NSIDs of an active namespace list, up to the first zero entry."""
    out: list[int] = []
    for nsid in ACTIVE_NS_LIST.parse(bytes(data)):
        if nsid == 0:
            break
        out.append(nsid)
    return out


# -- defaults for building -------------------------------------------------------------
def to_plain(obj: Any) -> Any:
    """A parsed construct value as plain dicts, lists, ints and bytes (construct's
    private ``_io``-style keys dropped)."""
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    return obj


_ZERO_VALUES: dict[int, Any] = {}


def _zero_value(con: cs.Construct) -> Any:
    """The all-zero value of a layout, as a plain dict/list/int/bytes tree (a fresh copy:
    the parse is done once per layout, since it costs milliseconds)."""
    key = id(con)
    if key not in _ZERO_VALUES:
        _ZERO_VALUES[key] = to_plain(con.parse(bytes(con.sizeof())))
    return copy.deepcopy(_ZERO_VALUES[key])


def controller_defaults() -> dict[str, Any]:
    """Every Identify Controller field set to zero; update and pass to build."""
    return _zero_value(IDENTIFY_CONTROLLER)


def namespace_defaults() -> dict[str, Any]:
    """Every Identify Namespace field set to zero; update and pass to build."""
    return _zero_value(IDENTIFY_NAMESPACE)


def build_identify_controller(**fields: Any) -> bytes:
    """4096 bytes of Identify Controller data: the given fields, the rest zero.

    ``psd`` may be a list shorter than 32 (the rest are zero descriptors), each
    entry a dict of some PSD fields.
    """
    values = controller_defaults()
    psd = fields.pop("psd", None)
    unknown = set(fields) - set(values)
    if unknown:
        raise KeyError(f"not Identify Controller fields: {sorted(unknown)}")
    values.update(fields)
    if psd is not None:
        values["psd"] = _fill(POWER_STATE_DESCRIPTOR, psd, 32)
    return IDENTIFY_CONTROLLER.build(values)


def build_identify_namespace(**fields: Any) -> bytes:
    """4096 bytes of Identify Namespace data: the given fields, the rest zero.

    ``lbaf`` may be a list shorter than 64 (the rest are zero formats).
    """
    values = namespace_defaults()
    lbaf = fields.pop("lbaf", None)
    unknown = set(fields) - set(values)
    if unknown:
        raise KeyError(f"not Identify Namespace fields: {sorted(unknown)}")
    values.update(fields)
    if lbaf is not None:
        values["lbaf"] = _fill(LBA_FORMAT, lbaf, LBAF_COUNT)
    return IDENTIFY_NAMESPACE.build(values)


def _fill(con: cs.Construct, entries: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    if len(entries) > count:
        raise ValueError(f"at most {count} entries")
    zero = _zero_value(con)
    out = []
    for entry in entries:
        full = dict(zero)
        full.update(entry)
        out.append(full)
    out += [dict(zero) for _ in range(count - len(entries))]
    return out


#: Identify Namespace FLBAS bit 4: metadata at the end of the data (extended LBA)
FLBAS_EXTENDED = 1 << 4
#: Identify Namespace MC bit 0: metadata in an extended LBA; bit 1: through MPTR
MC_EXTENDED, MC_POINTER = 1 << 0, 1 << 1
#: Identify Namespace DPC: PI Type 1, 2, 3, as the first and as the last 8 bytes
DPC_ALL = 0x1F


def encode_flbas(index: int) -> int:
    """Identify Namespace FLBAS of LBA format ``index`` (0..63): bits 3:0 its low four
    bits, bits 6:5 its bits 5:4 (NVMe 2.0: formats past 16 need CTRATT bit 15)."""
    return (index & 0xF) | ((index >> 4) & 0x3) << 5


def flbas_index(flbas: int) -> int:
    """The LBA format in use that an Identify Namespace FLBAS names."""
    return (flbas & 0xF) | ((flbas >> 5) & 0x3) << 4


# -- bits of Identify Controller fields that a host acts on ---------------------------
#: LPA bit 1: the Commands Supported and Effects log page (05h) exists
LPA_CMD_EFFECTS = 1 << 1
#: ONCS bit 0: Compare (NVM opcode 05h)
ONCS_COMPARE = 1 << 0
#: ONCS bit 2: Dataset Management (NVM opcode 09h)
ONCS_DSM = 1 << 2
#: ONCS bit 3: Write Zeroes (NVM opcode 08h)
ONCS_WRITE_ZEROES = 1 << 3
#: ONCS bit 4: Save / Select fields of Set / Get Features
ONCS_SAVE_SELECT = 1 << 4
#: ONCS bit 6: the controller keeps a Timestamp (Feature 0Eh)
ONCS_TIMESTAMP = 1 << 6
#: ONCS bit 7: Verify (NVM opcode 0Ch)
ONCS_VERIFY = 1 << 7
#: ONCS bit 8: Copy (NVM opcode 19h; OCFS says which descriptor formats)
ONCS_COPY = 1 << 8
#: Identify Namespace NSFEAT bit 2 (DAE): the Deallocated or Unwritten Logical Block error
#: is supported (Feature 05h's DULBE may be set)
NSFEAT_DULBE = 1 << 2
#: SGLS bits 1:0: 01b SGLs with no alignment, 10b SGLs with Dword alignment and
#: granularity of Data Blocks (00b: none; 11b reserved)
SGLS_SUPPORT_MASK = 0x3
SGLS_DWORD_ALIGNED = 0x2
#: SGLS bit 16: SGL Bit Bucket descriptors
SGLS_BIT_BUCKET = 1 << 16
#: SGLS bit 18: an SGL may describe more data than the command moves
SGLS_EXCESS_LENGTH = 1 << 18
#: OACS bit 3: Namespace Management (admin 0Dh) and Namespace Attachment (15h)
OACS_NS_MGMT = 1 << 3

#: SGLS bit 19: MPTR may hold the address of an SGL segment of one descriptor (PSDT 10b)
SGLS_MPTR_SGL = 1 << 19
#: OACS bit 8: Doorbell Buffer Config (admin opcode 7Ch)
OACS_DBBUF = 1 << 8
#: CTRATT bit 15: Extended LBA Formats Supported (ELBAS)
CTRATT_ELBAS = 1 << 15
#: APSTA bit 0: autonomous power state transitions
APSTA_APST = 1 << 0
