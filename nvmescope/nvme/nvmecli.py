"""Printers that show what a device DMA'd the way nvme-cli 2.3 shows it.

Pure functions from bytes (Identify data, log pages, a Get Features result) to
the text ``nvme id-ctrl``, ``nvme id-ns``, ``nvme list`` (plain and ``-o json``),
``nvme list-ns``, ``nvme smart-log`` (plain and ``-o json``), ``nvme error-log``,
``nvme fw-log``, ``nvme get-log`` and ``nvme get-feature`` print, line for line: the same spacing, tabs and trailing spaces, the same quirks (a
``%#x`` of zero prints ``0``, a ``%#0*x`` of zero prints zeros without ``0x``).
The reference is real nvme-cli 2.3 output against QEMU 7.2 (see
``reference/linux-6.1-on-qemu-7.2/guest-console.log`` and ``guest-console-2.log``).

Every printer parses with the layouts in :mod:`nvmescope.nvme.identify` and
:mod:`nvmescope.nvme.logpages`. Short input is padded with zeros, long input is
cut; no input makes a printer raise.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import construct as cs

from nvmescope.nvme.identify import (
    IDENTIFY_CONTROLLER,
    IDENTIFY_NAMESPACE,
    IDENTIFY_SIZE,
    LBAF_COUNT,
    POWER_STATE_DESCRIPTOR,
    PSD_FLAG_MXPS,
    PSD_FLAG_NOPS,
    PSD_SIZE,
    flbas_index,
    parse_active_ns_list,
)
from nvmescope.nvme.logpages import (
    ERROR_ENTRY_SIZE,
    ERROR_INFORMATION_ENTRY,
    FIRMWARE_SLOT_LOG,
    FW_SLOT_LOG_SIZE,
    SMART_LOG,
    SMART_LOG_SIZE,
)

__all__ = [
    "ListRow",
    "feature_name",
    "format_error_log",
    "format_fw_log",
    "format_get_feature",
    "format_get_log",
    "format_id_ctrl",
    "format_id_ns",
    "format_list",
    "format_list_ns",
    "format_smart_log",
    "id_ctrl_json",
    "id_ns_json",
    "list_json",
    "list_row",
    "smart_log_json",
    "nvme_status_string",
]

# ----------------------------------------------------------------------------------
# C printf helpers
# ----------------------------------------------------------------------------------


def _hx(value: int) -> str:
    """C ``%#x``: ``0`` for zero, ``0x..`` otherwise."""
    return "0" if value == 0 else f"{value:#x}"


def _hx0(value: int, width: int) -> str:
    """C ``%#0*x``: zero-padded to ``width`` including ``0x``; zero has no ``0x``."""
    if value == 0:
        return "0" * width
    return format(value, f"#0{width}x")


def _s32(value: int) -> int:
    """A 32-bit value as C's ``int`` (``%d`` of a ``__u32``)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _cstr(raw: bytes | str) -> str:
    """C ``%-.*s`` of a fixed-size field: up to the first NUL, bytes as they are."""
    if isinstance(raw, str):
        return raw.split("\x00", 1)[0]
    return bytes(raw).split(b"\x00", 1)[0].decode("latin-1")


def _not(flag: int) -> str:
    return "" if flag else "Not "


def _celsius(kelvin: int) -> str:
    return f"{kelvin - 273}\u00b0C ({kelvin} Kelvin)"


# SI and binary suffixes as nvme-cli's util/suffix.c picks them.
_SI_SUFFIXES = (
    (1e24, "Y"),
    (1e21, "Z"),
    (1e18, "E"),
    (1e15, "P"),
    (1e12, "T"),
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
    (1e0, ""),
    (1e-3, "m"),
    (1e-6, "u"),
    (1e-9, "n"),
    (1e-12, "p"),
    (1e-15, "f"),
)
_BINARY_SUFFIXES = ((50, "Pi"), (40, "Ti"), (30, "Gi"), (20, "Mi"), (10, "Ki"))


def _si(value: float) -> tuple[float, str]:
    for magnitude, suffix in _SI_SUFFIXES:
        if value >= magnitude:
            return value / magnitude, suffix
    return value, ""


def _binary(value: int) -> tuple[int, str]:
    for shift, suffix in _BINARY_SUFFIXES:
        if abs(value) >= 1 << shift:
            return (value + (1 << (shift - 1))) // (1 << shift), suffix
    return value, ""


def _si_string(value: float) -> str:
    scaled, suffix = _si(value)
    return f"{scaled:.2f} {suffix}B"


# ----------------------------------------------------------------------------------
# parsing
# ----------------------------------------------------------------------------------


def _fit(data: bytes | bytearray | memoryview, size: int) -> bytes:
    raw = bytes(data)[:size]
    return raw + bytes(size - len(raw))


def _parse(layout: cs.Construct, data: bytes | bytearray | memoryview, size: int) -> Any:
    return layout.parse(_fit(data, size))


def _uuid(raw: bytes) -> str:
    h = bytes(raw).hex()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


# ----------------------------------------------------------------------------------
# JSON the way json-c prints it (JSON_C_TO_STRING_PRETTY | NOSLASHESCAPE)
# ----------------------------------------------------------------------------------

_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\f": "\\f",
}


def _json_str(text: str) -> str:
    out = []
    for ch in text:
        if ch in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _json(value: Any, level: int = 0) -> str:
    pad = "  " * (level + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{_json_str(k)}:{_json(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [f"{pad}{_json(v, level + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * level + "]"
    if isinstance(value, str):
        return _json_str(value)
    return str(value)


# ----------------------------------------------------------------------------------
# nvme id-ctrl
# ----------------------------------------------------------------------------------


def _ctrl_cmic(v: int) -> list[str]:
    out = []
    if v >> 4:
        out.append(f"  [7:4] : {_hx(v >> 4)}\tReserved")
    ana, sriov, mctl, mp = (v >> 3) & 1, (v >> 2) & 1, (v >> 1) & 1, v & 1
    out.append(f"  [3:3] : {_hx(ana)}\tANA {'' if ana else 'not '}supported")
    out.append(f"  [2:2] : {_hx(sriov)}\t{'SR-IOV' if sriov else 'PCI'}")
    out.append(f"  [1:1] : {_hx(mctl)}\t{'Multi' if mctl else 'Single'} Controller")
    out.append(f"  [0:0] : {_hx(mp)}\t{'Multi' if mp else 'Single'} Port")
    return out + [""]


def _supported(rng: str, flag: int, text: str) -> str:
    """One ``  [h:l] : v\\t<text> (Not )Supported`` line."""
    return f"  [{rng}] : {_hx(flag)}\t{text} {_not(flag)}Supported"


def _ctrl_oaes(v: int) -> list[str]:
    out = [_supported("31:31", v >> 31 & 1, "Discovery Log Change Notice")]
    if v >> 28 & 7:
        out.append(f"  [30:28] : {_hx(v >> 28 & 7)}\tReserved")
    out.append(_supported("27:27", v >> 27 & 1, "Zone Descriptor Changed Notices"))
    if v >> 16 & 0x7FF:
        out.append(f"  [26:16] : {_hx(v >> 16 & 0x7FF)}\tReserved")
    out += [
        _supported("15:15", v >> 15 & 1, "Normal NSS Shutdown Event"),
        _supported("14:14", v >> 14 & 1, "Endurance Group Event Aggregate Log Page Change Notice"),
        _supported("13:13", v >> 13 & 1, "LBA Status Information Notices"),
        _supported("12:12", v >> 12 & 1, "Predictable Latency Event Aggregate Log Change Notices"),
        _supported("11:11", v >> 11 & 1, "Asymmetric Namespace Access Change Notices"),
    ]
    if v >> 10 & 1:
        out.append(f"  [10:10] : {_hx(v >> 10 & 1)}\tReserved")
    out.append(_supported("9:9", v >> 9 & 1, "Firmware Activation Notices"))
    out.append(_supported("8:8", v >> 8 & 1, "Namespace Attribute Changed Event"))
    if v & 0xFF:
        out.append(f"  [7:0] : {_hx(v & 0xFF)}\tReserved")
    return out + [""]


_CTRATT_BITS = (
    (15, "Extended LBA Formats"),
    (14, "Delete NVM Set"),
    (13, "Delete Endurance Group"),
    (12, "Variable Capacity Management"),
    (11, "Fixed Capacity Management"),
    (10, "Multi Domain Subsystem"),
    (9, "UUID List"),
    (8, "SQ Associations"),
    (7, "Namespace Granularity"),
    (6, "Traffic Based Keep Alive"),
    (5, "Predictable Latency Mode"),
    (4, "Endurance Groups"),
    (3, "Read Recovery Levels"),
    (2, "NVM Sets"),
    (1, "Non-Operational Power State Permissive"),
    (0, "128-bit Host Identifier"),
)


def _ctrl_ctratt(v: int) -> list[str]:
    out = []
    if v >> 20:
        out.append(f" [31:20] : {_hx(v >> 20)}\tReserved")
    out.append(_supported("19:19", v >> 19 & 1, "Flexible Data Placement"))
    if v >> 16 & 7:
        out.append(f"  [18:16] : {_hx(v >> 16 & 7)}\tReserved")
    out += [_supported(f"{b}:{b}", v >> b & 1, text) for b, text in _CTRATT_BITS]
    return out + [""]


_CNTRLTYPE = (
    "Controller type not reported",
    "I/O Controller",
    "Discovery Controller",
    "Administrative Controller",
)


def _ctrl_cntrltype(v: int) -> list[str]:
    # nvme-cli 2.3 prints the whole byte as the [1:0] value and no blank line after.
    return [
        f"  [7:2] : {_hx((v & 0xFC) >> 2)}\tReserved",
        f"  [1:0] : {_hx(v)}\t{_CNTRLTYPE[v & 3]}",
    ]


def _ctrl_nvmsr(v: int) -> list[str]:
    out = []
    if (v >> 2) & 0xFC:
        out.append(f" [7:2] : {_hx((v >> 2) & 0xFC)}\tReserved")
    out.append(f"  [1:1] : {_hx(v >> 1 & 1)}\tNVM subsystem {_not(v >> 1 & 1)}part of an Enclosure")
    out.append(f"  [0:0] : {_hx(v & 1)}\tNVM subsystem {_not(v & 1)}part of an Storage Device")
    return out + [""]


def _ctrl_vwci(v: int) -> list[str]:
    return [
        f"  [7:7] : {_hx(v >> 7 & 1)}\tVPD Write Cycles Remaining field is {_not(v >> 7 & 1)}valid.",
        f"  [6:0] : {_hx(v & 0xFE)}\tVPD Write Cycles Remaining ",
        "",
    ]


def _ctrl_mec(v: int) -> list[str]:
    out = []
    if (v >> 2) & 0xFC:
        out.append(f" [7:2] : {_hx((v >> 2) & 0xFC)}\tReserved")
    out.append(
        f"  [1:1] : {_hx(v >> 1 & 1)}\tNVM subsystem {_not(v >> 1 & 1)}contains a Management"
        " Endpoint on a PCIe port"
    )
    out.append(
        f"  [0:0] : {_hx(v & 1)}\tNVM subsystem {_not(v & 1)}contains a Management Endpoint"
        " on an SMBus/I2C port"
    )
    return out + [""]


_OACS_BITS = (
    (10, "Lockdown Command and Feature"),
    (9, "Get LBA Status Capability"),
    (8, "Doorbell Buffer Config"),
    (7, "Virtualization Management"),
    (6, "NVMe-MI Send and Receive"),
    (5, "Directives"),
    (4, "Device Self-test"),
    (3, "NS Management and Attachment"),
    (2, "FW Commit and Download"),
    (1, "Format NVM"),
    (0, "Security Send and Receive"),
)


def _ctrl_oacs(v: int) -> list[str]:
    out = []
    if v >> 11 & 0x1F:
        out.append(f" [15:11] : {_hx(v >> 11 & 0x1F)}\tReserved")
    out += [_supported(f"{b}:{b}", v >> b & 1, text) for b, text in _OACS_BITS]
    return out + [""]


def _ctrl_frmw(v: int) -> list[str]:
    out = []
    if v >> 6 & 3:
        out.append(f"  [7:6] : {_hx(v >> 6 & 3)}\tReserved")
    out.append(_supported("5:5", v >> 5 & 1, "Multiple FW or Boot Update Detection"))
    out.append(_supported("4:4", v >> 4 & 1, "Firmware Activate Without Reset"))
    out.append(f"  [3:1] : {_hx(v >> 1 & 7)}\tNumber of Firmware Slots")
    out.append(f"  [0:0] : {_hx(v & 1)}\tFirmware Slot 1 Read{'-Only' if v & 1 else '/Write'}")
    return out + [""]


def _ctrl_lpa(v: int) -> list[str]:
    out = []
    if v >> 7 & 1:
        out.append(f"  [7:7] : {_hx(v >> 7 & 1)}\tReserved")
    out += [
        _supported("6:6", v >> 6 & 1, "Telemetry Log Data Area 4"),
        _supported("5:5", v >> 5 & 1, "LID 0x0, Scope of each command in LID 0x5, 0x12, 0x13"),
        _supported("4:4", v >> 4 & 1, "Persistent Event log"),
        _supported("3:3", v >> 3 & 1, "Telemetry host/controller initiated log page"),
        _supported("2:2", v >> 2 & 1, "Extended data for Get Log Page"),
        _supported("1:1", v >> 1 & 1, "Command Effects Log Page"),
        _supported("0:0", v & 1, "SMART/Health Log Page per NS"),
    ]
    return out + [""]


def _ctrl_vs_format(v: int, what: str) -> list[str]:
    out = []
    if v >> 1:
        out.append(f"  [7:1] : {_hx(v >> 1)}\tReserved")
    fmt = "NVMe" if v & 1 else "Vendor Specific"
    out.append(f"  [0:0] : {_hx(v & 1)}\t{what} Vendor Specific Commands uses {fmt} Format")
    return out + [""]


def _ctrl_apsta(v: int) -> list[str]:
    out = []
    if v >> 1:
        out.append(f"  [7:1] : {_hx(v >> 1)}\tReserved")
    out.append(_supported("0:0", v & 1, "Autonomous Power State Transitions"))
    return out + [""]


def _ctrl_temp(v: int, title: str) -> list[str]:
    return [f" [15:0] : {_celsius(v)}\t{title}", ""]


def _ctrl_rpmbs(v: int) -> list[str]:
    out = [
        f" [31:24]: {_hx(v >> 24 & 0xFF)}\tAccess Size",
        f" [23:16]: {_hx(v >> 16 & 0xFF)}\tTotal Size",
    ]
    if v >> 6 & 0x3FF:
        out.append(f" [15:6] : {_hx(v >> 6 & 0x3FF)}\tReserved")
    out.append(f"  [5:3] : {_hx(v >> 3 & 7)}\tAuthentication Method")
    out.append(f"  [2:0] : {_hx(v & 7)}\tNumber of RPMB Units")
    return out + [""]


def _ctrl_hctma(v: int) -> list[str]:
    out = []
    if v >> 1:
        out.append(f" [15:1] : {_hx(v >> 1)}\tReserved")
    out.append(_supported("0:0", v & 1, "Host Controlled Thermal Management"))
    return out + [""]


_SANICAP_MEDIA = (
    "Additional media modification after sanitize operation completes successfully is not defined",
    "Media is not additionally modified after sanitize operation completes successfully",
    "Media is additionally modified after sanitize operation completes successfully",
    "Reserved",
)


def _ctrl_sanicap(v: int) -> list[str]:
    ndi = v >> 29 & 1
    out = [
        f"  [31:30] : {_hx(v >> 30 & 3)}\t{_SANICAP_MEDIA[v >> 30 & 3]}",
        f"  [29:29] : {_hx(ndi)}\tNo-Deallocate After Sanitize bit in Sanitize command "
        f"{'Not ' if ndi else ''}Supported",
    ]
    if v >> 3 & 0x3FFFFFF:
        out.append(f"    [28:3] : {_hx(v >> 3 & 0x3FFFFFF)}\tReserved")
    out += [
        f"    [2:2] : {_hx(v >> 2 & 1)}\tOverwrite Sanitize Operation {_not(v >> 2 & 1)}Supported",
        f"    [1:1] : {_hx(v >> 1 & 1)}\tBlock Erase Sanitize Operation {_not(v >> 1 & 1)}Supported",
        f"    [0:0] : {_hx(v & 1)}\tCrypto Erase Sanitize Operation {_not(v & 1)}Supported",
    ]
    return out + [""]


def _ctrl_anacap(v: int) -> list[str]:
    out = [
        _supported("7:7", v >> 7 & 1, "Non-zero group ID"),
        f"  [6:6] : {_hx(v >> 6 & 1)}\tGroup ID does {'not ' if v >> 6 & 1 else ''}change",
    ]
    if v >> 5 & 1:
        out.append(f" [5:5] : {_hx(v >> 5 & 1)}\tReserved")
    out += [
        _supported("4:4", v >> 4 & 1, "ANA Change state"),
        _supported("3:3", v >> 3 & 1, "ANA Persistent Loss state"),
        _supported("2:2", v >> 2 & 1, "ANA Inaccessible state"),
        _supported("1:1", v >> 1 & 1, "ANA Non-optimized state"),
        _supported("0:0", v & 1, "ANA Optimized state"),
    ]
    return out + [""]


def _ctrl_qes(v: int, q: str) -> list[str]:
    hi, lo = v >> 4 & 0xF, v & 0xF
    return [
        f"  [7:4] : {_hx(hi)}\tMax {q} Entry Size ({1 << hi})",
        f"  [3:0] : {_hx(lo)}\tMin {q} Entry Size ({1 << lo})",
        "",
    ]


_ONCS_BITS = (
    (8, "Copy"),
    (7, "Verify"),
    (6, "Timestamp"),
    (5, "Reservations"),
    (4, "Save and Select"),
    (3, "Write Zeroes"),
    (2, "Data Set Management"),
    (1, "Write Uncorrectable"),
    (0, "Compare"),
)


def _ctrl_oncs(v: int) -> list[str]:
    out = []
    if v >> 9:
        out.append(f"  [15:9] : {_hx(v >> 9)}\tReserved")
    out += [_supported(f"{b}:{b}", v >> b & 1, text) for b, text in _ONCS_BITS]
    return out + [""]


def _ctrl_fuses(v: int) -> list[str]:
    out = []
    if (v & 0xFE) >> 1:
        out.append(f" [15:1] : {_hx((v & 0xFE) >> 1)}\tReserved")
    out.append(_supported("0:0", v & 1, "Fused Compare and Write"))
    return out + [""]


def _ctrl_fna(v: int) -> list[str]:
    out = []
    if v >> 4:
        out.append(f"  [7:4] : {_hx(v >> 4)}\tReserved")
    b3, b2, b1, b0 = v >> 3 & 1, v >> 2 & 1, v >> 1 & 1, v & 1
    out += [
        f"  [3:3] : {_hx(b3)}\tFormat NVM Broadcast NSID (FFFFFFFFh) {'Not ' if b3 else ''}Supported",
        f"  [2:2] : {_hx(b2)}\tCrypto Erase {_not(b2)}Supported as part of Secure Erase",
        f"  [1:1] : {_hx(b1)}\tCrypto Erase Applies to {'All' if b1 else 'Single'} Namespace(s)",
        f"  [0:0] : {_hx(b0)}\tFormat Applies to {'All' if b0 else 'Single'} Namespace(s)",
    ]
    return out + [""]


_FLUSH_BEHAVIOR = (
    "Support for the NSID field set to FFFFFFFFh is not indicated",
    "Reserved",
    "The Flush command does not support NSID set to FFFFFFFFh",
    "The Flush command supports NSID set to FFFFFFFFh",
)


def _ctrl_vwc(v: int) -> list[str]:
    out = []
    if v >> 3:
        out.append(f"  [7:3] : {_hx(v >> 3)}\tReserved")
    out.append(f"  [2:1] : {_hx(v >> 1 & 3)}\t{_FLUSH_BEHAVIOR[v >> 1 & 3]}")
    out.append(f"  [0:0] : {_hx(v & 1)}\tVolatile Write Cache {_not(v & 1)}Present")
    return out + [""]


def _ctrl_nwpc(v: int) -> list[str]:
    out = []
    if v >> 3:
        out.append(f"  [7:3] : {_hx(v >> 3)}\tReserved")
    out += [
        _supported("2:2", v >> 2 & 1, "Permanent Write Protect"),
        _supported("1:1", v >> 1 & 1, "Write Protect Until Power Supply"),
        _supported("0:0", v & 1, "No Write Protect and Write Protect Namespace"),
    ]
    return out + [""]


def _ctrl_ocfs(v: int) -> list[str]:
    out = []
    if v >> 2:
        out.append(f"  [15:2] : {_hx(v >> 2)}\tReserved")
    out.append(_supported("1:1", v >> 1 & 1, "Controller Copy Format 1h"))
    out.append(_supported("0:0", v & 1, "Controller Copy Format 0h"))
    return out + [""]


def _ctrl_sgls(v: int) -> list[str]:
    out = []
    sglsp = v & 3
    if v >> 22:
        out.append(f" [31:22]: {_hx(v >> 22)}\tReserved")
    for bit, text in (
        (21, "Transport SGL Data Block Descriptor"),
        (20, "Address Offsets"),
        (19, "Metadata Pointer Containing SGL Descriptor is"),
        (18, "SGL Length Larger than Buffer"),
        (17, "Byte-Aligned Contig. MD Buffer"),
        (16, "SGL Bit-Bucket"),
    ):
        flag = v >> bit & 1
        if sglsp or flag:
            out.append(f" [{bit}:{bit}]: {_hx(flag)}\t{text} {_not(flag)}Supported")
    out.append(f" [15:8] : {_hx(v >> 8 & 0xFF)}\tSGL Descriptor Threshold")
    if v >> 3 & 0x1F:
        out.append(f" [7:3] : {_hx(v >> 3 & 0x1F)}\tReserved")
    key = v >> 2 & 1
    if sglsp or key:
        out.append(f"  [2:2] : {_hx(key)}\tKeyed SGL Data Block descriptor {_not(key)}Supported")
    if sglsp == 3:
        out.append(f"  [1:0] : {_hx(sglsp)}\tReserved")
    elif sglsp == 2:
        out.append(
            f"  [1:0] : {_hx(sglsp)}\tScatter-Gather Lists Supported. Dword alignment required."
        )
    elif sglsp == 1:
        out.append(
            f"  [1:0] : {_hx(sglsp)}\tScatter-Gather Lists Supported. No Dword alignment required."
        )
    else:
        out.append(f" [1:0]  : {_hx(sglsp)}\tScatter-Gather Lists Not Supported")
    return out + [""]


def _ctrl_fcatt(v: int) -> list[str]:
    out = []
    if v >> 1:
        out.append(f"  [7:1] : {_hx(v >> 1)}\tReserved")
    out.append(f"  [0:0] : {_hx(v & 1)}\t{'Static' if v & 1 else 'Dynamic'} Controller Model")
    return out + [""]


def _ctrl_ofcs(v: int) -> list[str]:
    out = []
    if v >> 1:
        out.append(f"  [15:1] : {_hx(v >> 1)}\tReserved")
    out.append(f"  [0:0] : {_hx(v & 1)}\tDisconnect command {'' if v & 1 else 'Not'} Supported")
    return out + [""]


def _power(value: int, scale: int) -> str:
    if scale == 0:
        return "-"
    if scale == 1:
        return f"{value // 10000}.{value % 10000:04d}W"
    if scale == 2:
        return f"{value // 100}.{value % 100:02d}W"
    return "reserved"


_WORKLOAD = {0: "-", 1: "1MiB 32 RW, 30s idle", 2: "80K 128KiB SW"}


_PSD_OFFSET = 2048


def _psds(raw: bytes, npss: int) -> list[Any]:
    """Power state descriptors 0..NPSS. As in nvme-cli, an NPSS above 31 reads on
    into the vendor specific area; it stops at the end of the 4096 bytes."""
    last = min(npss, (IDENTIFY_SIZE - _PSD_OFFSET) // PSD_SIZE - 1)
    return [
        POWER_STATE_DESCRIPTOR.parse(
            raw[_PSD_OFFSET + i * PSD_SIZE : _PSD_OFFSET + (i + 1) * PSD_SIZE]
        )
        for i in range(last + 1)
    ]


def _ctrl_power(raw: bytes, npss: int) -> list[str]:
    out = []
    for i, psd in enumerate(_psds(raw, npss)):
        mp = psd.max_power
        if psd.flags & PSD_FLAG_MXPS:
            mp_text = f"{mp // 10000}.{mp % 10000:04d}W"
        else:
            mp_text = f"{mp // 100}.{mp % 100:02d}W"
        nonop = "non-" if psd.flags & PSD_FLAG_NOPS else ""
        out.append(
            f"ps   {i:4d} : mp:{mp_text} {nonop}operational enlat:{_s32(psd.entry_lat)} "
            f"exlat:{_s32(psd.exit_lat)} rrt:{psd.read_tput} rrl:{psd.read_lat}"
        )
        out.append(
            f"            rwt:{psd.write_tput} rwl:{psd.write_lat} "
            f"idle_power:{_power(psd.idle_power, psd.idle_scale)} "
            f"active_power:{_power(psd.active_power, psd.active_scale)}"
        )
        out.append(
            f"            active_power_workload:{_WORKLOAD.get(psd.active_power_work, 'reserved')}"
        )
    return out


def format_id_ctrl(data: bytes, human: bool = False) -> str:
    """``nvme id-ctrl`` (``-H`` when ``human``) of 4096 bytes of Identify Controller data."""
    c = _parse(IDENTIFY_CONTROLLER, data, IDENTIFY_SIZE)
    out: list[str] = ["NVME Identify Controller:"]

    def field(name: str, text: str, block: list[str] | None = None) -> None:
        out.append(f"{name:<10}: {text}")
        if human and block is not None:
            out.extend(block)

    field("vid", _hx(c.vid))
    field("ssvid", _hx(c.ssvid))
    field("sn", _cstr(c.sn))
    field("mn", _cstr(c.mn))
    field("fr", _cstr(c.fr))
    field("rab", str(c.rab))
    field("ieee", f"{c.ieee:06x}")
    field("cmic", _hx(c.cmic), _ctrl_cmic(c.cmic))
    field("mdts", str(c.mdts))
    field("cntlid", _hx(c.cntlid))
    field("ver", _hx(c.ver))
    field("rtd3r", _hx(c.rtd3r))
    field("rtd3e", _hx(c.rtd3e))
    field("oaes", _hx(c.oaes), _ctrl_oaes(c.oaes))
    field("ctratt", _hx(c.ctratt), _ctrl_ctratt(c.ctratt))
    field("rrls", _hx(c.rrls))
    field("cntrltype", str(c.cntrltype), _ctrl_cntrltype(c.cntrltype))
    field("fguid", _uuid(c.fguid))
    field("crdt1", str(c.crdt1))
    field("crdt2", str(c.crdt2))
    field("crdt3", str(c.crdt3))
    field("nvmsr", str(c.nvmsr), _ctrl_nvmsr(c.nvmsr))
    field("vwci", str(c.vwci), _ctrl_vwci(c.vwci))
    field("mec", str(c.mec), _ctrl_mec(c.mec))
    field("oacs", _hx(c.oacs), _ctrl_oacs(c.oacs))
    field("acl", str(c.acl))
    field("aerl", str(c.aerl))
    field("frmw", _hx(c.frmw), _ctrl_frmw(c.frmw))
    field("lpa", _hx(c.lpa), _ctrl_lpa(c.lpa))
    field(
        "elpe", str(c.elpe), [f"  [7:0] : {c.elpe} (0's based)\tError Log Page Entries (ELPE)", ""]
    )
    field(
        "npss",
        str(c.npss),
        [f"  [7:0] : {c.npss} (0's based)\tNumber of Power States Support (NPSS)", ""],
    )
    field("avscc", _hx(c.avscc), _ctrl_vs_format(c.avscc, "Admin"))
    field("apsta", _hx(c.apsta), _ctrl_apsta(c.apsta))
    field(
        "wctemp",
        str(c.wctemp),
        _ctrl_temp(c.wctemp, "Warning Composite Temperature Threshold (WCTEMP)"),
    )
    field(
        "cctemp",
        str(c.cctemp),
        _ctrl_temp(c.cctemp, "Critical Composite Temperature Threshold (CCTEMP)"),
    )
    field("mtfa", str(c.mtfa))
    field("hmpre", str(c.hmpre))
    field("hmmin", str(c.hmmin))
    field(
        "tnvmcap",
        str(c.tnvmcap),
        [f"[127:0] : {c.tnvmcap}", "\tTotal NVM Capacity (TNVMCAP)", ""],
    )
    field(
        "unvmcap",
        str(c.unvmcap),
        [f"[127:0] : {c.unvmcap}", "\tUnallocated NVM Capacity (UNVMCAP)", ""],
    )
    field("rpmbs", _hx(c.rpmbs), _ctrl_rpmbs(c.rpmbs))
    field("edstt", str(c.edstt))
    field("dsto", str(c.dsto))
    field("fwug", str(c.fwug))
    field("kas", str(c.kas))
    field("hctma", _hx(c.hctma), _ctrl_hctma(c.hctma))
    field(
        "mntmt",
        str(c.mntmt),
        _ctrl_temp(c.mntmt, "Minimum Thermal Management Temperature (MNTMT)"),
    )
    field(
        "mxtmt",
        str(c.mxtmt),
        _ctrl_temp(c.mxtmt, "Maximum Thermal Management Temperature (MXTMT)"),
    )
    field("sanicap", _hx(c.sanicap), _ctrl_sanicap(c.sanicap))
    field("hmminds", str(c.hmminds))
    field("hmmaxd", str(c.hmmaxd))
    field("nsetidmax", str(c.nsetidmax))
    field("endgidmax", str(c.endgidmax))
    field("anatt", str(c.anatt))
    field("anacap", str(c.anacap), _ctrl_anacap(c.anacap))
    field("anagrpmax", str(c.anagrpmax))
    field("nanagrpid", str(c.nanagrpid))
    field("pels", str(c.pels))
    field("domainid", str(c.domainid))
    field("megcap", str(c.megcap))
    field("sqes", _hx(c.sqes), _ctrl_qes(c.sqes, "SQ"))
    field("cqes", _hx(c.cqes), _ctrl_qes(c.cqes, "CQ"))
    field("maxcmd", str(c.maxcmd))
    field("nn", str(c.nn))
    field("oncs", _hx(c.oncs), _ctrl_oncs(c.oncs))
    field("fuses", _hx(c.fuses), _ctrl_fuses(c.fuses))
    field("fna", _hx(c.fna), _ctrl_fna(c.fna))
    field("vwc", _hx(c.vwc), _ctrl_vwc(c.vwc))
    field("awun", str(c.awun))
    field("awupf", str(c.awupf))
    field("icsvscc", str(c.icsvscc), _ctrl_vs_format(c.icsvscc, "NVM"))
    field("nwpc", str(c.nwpc), _ctrl_nwpc(c.nwpc))
    field("acwu", str(c.acwu))
    field("ocfs", _hx(c.ocfs), _ctrl_ocfs(c.ocfs))
    field("sgls", _hx(c.sgls), _ctrl_sgls(c.sgls))
    field("mnan", str(c.mnan))
    field("maxdna", str(c.maxdna))
    field("maxcna", str(c.maxcna))
    field("subnqn", _cstr(c.subnqn))
    field("ioccsz", str(c.ioccsz))
    field("iorcsz", str(c.iorcsz))
    field("icdoff", str(c.icdoff))
    field("fcatt", _hx(c.fcatt), _ctrl_fcatt(c.fcatt))
    field("msdbd", str(c.msdbd))
    field("ofcs", str(c.ofcs), _ctrl_ofcs(c.ofcs))
    out.extend(_ctrl_power(_fit(data, IDENTIFY_SIZE), c.npss))
    return "\n".join(out) + "\n"


#: JSON members printed with json-c's 64-bit unsigned type; every other integer
#: member goes through ``json_object_new_int`` (a C ``int``).
_CTRL_JSON_UINT = frozenset(("ver", "rtd3r", "rtd3e", "oaes", "hmpre", "hmmin", "rpmbs", "nn"))
_CTRL_JSON_U128 = frozenset(("tnvmcap", "unvmcap", "megcap", "maxdna"))
_CTRL_JSON_KEYS = (
    "vid ssvid sn mn fr rab ieee cmic mdts cntlid ver rtd3r rtd3e oaes ctratt rrls cntrltype"
    " fguid crdt1 crdt2 crdt3 nvmsr vwci mec oacs acl aerl frmw lpa elpe npss avscc apsta wctemp"
    " cctemp mtfa hmpre hmmin tnvmcap unvmcap rpmbs edstt dsto fwug kas hctma mntmt mxtmt sanicap"
    " hmminds hmmaxd nsetidmax endgidmax anatt anacap anagrpmax nanagrpid pels domainid megcap"
    " sqes cqes maxcmd nn oncs fuses fna vwc awun awupf icsvscc nwpc acwu ocfs sgls mnan maxdna"
    " maxcna subnqn ioccsz iorcsz icdoff fcatt msdbd ofcs"
).split()
_PSD_JSON_KEYS = (
    "max_power",
    "flags",
    "entry_lat",
    "exit_lat",
    "read_tput",
    "read_lat",
    "write_tput",
    "write_lat",
    "idle_power",
    "idle_scale",
    "active_power",
    "active_power_work",
    "active_scale",
)


def id_ctrl_json(data: bytes) -> str:
    """``nvme id-ctrl -o json`` of 4096 bytes of Identify Controller data."""
    c = _parse(IDENTIFY_CONTROLLER, data, IDENTIFY_SIZE)
    root: dict[str, Any] = {}
    for key in _CTRL_JSON_KEYS:
        value = c[key]
        if key in ("sn", "mn", "fr", "subnqn"):
            text = _cstr(value)
            if key == "subnqn" and not text:
                continue
            root[key] = text
        elif key == "fguid":
            root[key] = _uuid(value)
        elif key in _CTRL_JSON_U128:
            root[key] = str(value)
        elif key in _CTRL_JSON_UINT:
            root[key] = value
        else:
            root[key] = _s32(value)
    psds = _psds(_fit(data, IDENTIFY_SIZE), c.npss)
    root["psds"] = [{k: psd[k] for k in _PSD_JSON_KEYS} for psd in psds]
    return _json(root) + "\n"


# ----------------------------------------------------------------------------------
# nvme id-ns
# ----------------------------------------------------------------------------------


def _ns_nsfeat(v: int) -> list[str]:
    out = []
    if v >> 5:
        out.append(f"  [7:5] : {_hx(v >> 5)}\tReserved")
    b4, b3, b2, b1, b0 = v >> 4 & 1, v >> 3 & 1, v >> 2 & 1, v >> 1 & 1, v & 1
    out += [
        f"  [4:4] : {_hx(b4)}\tNPWG, NPWA, NPDG, NPDA, and NOWS are {_not(b4)}Supported",
        f"  [3:3] : {_hx(b3)}\tNGUID and EUI64 fields if non-zero, {'Never ' if b3 else ''}Reused",
        f"  [2:2] : {_hx(b2)}\tDeallocated or Unwritten Logical Block error {_not(b2)}Supported",
        f"  [1:1] : {_hx(b1)}\tNamespace uses "
        + ("NAWUN, NAWUPF, and NACWU" if b1 else "AWUN, AWUPF, and ACWU"),
        f"  [0:0] : {_hx(b0)}\tThin Provisioning {_not(b0)}Supported",
    ]
    return out + [""]


def _ns_flbas(v: int) -> list[str]:
    out = []
    if v >> 7:
        out.append(f"  [7:7] : {_hx(v >> 7)}\tReserved")
    where = "at End of Data LBA" if v >> 4 & 1 else "in Separate Contiguous Buffer"
    out += [
        f"  [6:5] : {_hx(v >> 5 & 3)}\tMost significant 2 bits of Current LBA Format Selected",
        f"  [4:4] : {_hx(v >> 4 & 1)}\tMetadata Transferred {where}",
        f"  [3:0] : {_hx(v & 0xF)}\tLeast significant 4 bits of Current LBA Format Selected",
    ]
    return out + [""]


def _ns_mc(v: int) -> list[str]:
    out = []
    if v >> 2:
        out.append(f"  [7:2] : {_hx(v >> 2)}\tReserved")
    out.append(_supported("1:1", v >> 1 & 1, "Metadata Pointer"))
    out.append(_supported("0:0", v & 1, "Metadata as Part of Extended Data LBA"))
    return out + [""]


def _ns_dpc(v: int) -> list[str]:
    out = []
    if v >> 5:
        out.append(f"  [7:5] : {_hx(v >> 5)}\tReserved")
    out += [
        _supported(
            "4:4", v >> 4 & 1, "Protection Information Transferred as Last 8 Bytes of Metadata"
        ),
        _supported(
            "3:3", v >> 3 & 1, "Protection Information Transferred as First 8 Bytes of Metadata"
        ),
        _supported("2:2", v >> 2 & 1, "Protection Information Type 3"),
        _supported("1:1", v >> 1 & 1, "Protection Information Type 2"),
        _supported("0:0", v & 1, "Protection Information Type 1"),
    ]
    return out + [""]


_DPS_PIT = {0: "Disabled", 1: "Type 1 Enabled", 2: "Type 2 Enabled", 3: "Type 3 Enabled"}


def _ns_dps(v: int) -> list[str]:
    out = []
    if v >> 4:
        out.append(f"  [7:4] : {_hx(v >> 4)}\tReserved")
    first = "First" if v >> 3 & 1 else "Last"
    out.append(
        f"  [3:3] : {_hx(v >> 3 & 1)}\tProtection Information is Transferred as {first} 8 Bytes of Metadata"
    )
    out.append(
        f"  [2:0] : {_hx(v & 7)}\tProtection Information {_DPS_PIT.get(v & 7, 'Reserved Enabled')}"
    )
    return out + [""]


def _ns_nmic(v: int) -> list[str]:
    out = []
    if v >> 1:
        out.append(f"  [7:1] : {_hx(v >> 1)}\tReserved")
    out.append(f"  [0:0] : {_hx(v & 1)}\tNamespace Multipath {_not(v & 1)}Capable")
    return out + [""]


def _ns_rescap(v: int) -> list[str]:
    rev = "1.3 or later" if v >> 7 & 1 else "1.2.1 or earlier"
    out = [f"  [7:7] : {_hx(v >> 7 & 1)}\tIgnore Existing Key - Used as defined in revision {rev}"]
    out += [
        _supported("6:6", v >> 6 & 1, "Exclusive Access - All Registrants"),
        _supported("5:5", v >> 5 & 1, "Write Exclusive - All Registrants"),
        _supported("4:4", v >> 4 & 1, "Exclusive Access - Registrants Only"),
        _supported("3:3", v >> 3 & 1, "Write Exclusive - Registrants Only"),
        _supported("2:2", v >> 2 & 1, "Exclusive Access"),
        _supported("1:1", v >> 1 & 1, "Write Exclusive"),
        _supported("0:0", v & 1, "Persist Through Power Loss"),
    ]
    return out + [""]


def _ns_fpi(v: int) -> list[str]:
    fpis, fpii = v >> 7 & 1, v & 0x7F
    out = [_supported("7:7", fpis, "Format Progress Indicator")]
    if fpis or fpii:
        out.append(f"  [6:0] : {_hx(fpii)}\tFormat Progress Indicator (Remaining {fpii}%)")
    return out + [""]


def _ns_dlfeat(v: int) -> list[str]:
    out = []
    if v >> 5:
        out.append(f"  [7:5] : {_hx(v >> 5)}\tReserved")
    guard = "CRC of The Value Read" if v >> 4 & 1 else "0xFFFF"
    read = {0: "Not Reported", 1: "0x00", 2: "0xFF"}.get(v & 7, "Reserved Value")
    out += [
        f"  [4:4] : {_hx(v >> 4 & 1)}\tGuard Field of Deallocated Logical Blocks is set to {guard}",
        f"  [3:3] : {_hx(v >> 3 & 1)}\tDeallocate Bit in the Write Zeroes Command is "
        f"{_not(v >> 3 & 1)}Supported",
        f"  [2:0] : {_hx(v & 7)}\tBytes Read From a Deallocated Logical Block and its Metadata are "
        f"{read}",
    ]
    return out + [""]


_RP_NAMES = ("Best", "Better", "Good", "Degraded")


def _lbaf_in_use(flbas: int) -> int:
    return flbas_index(flbas)


def _c_shift(ds: int) -> int:
    """C ``1 << ds`` as an x86 ``int``: the count taken mod 32, the result signed."""
    return _s32(1 << (ds & 31))


def format_id_ns(data: bytes, nsid: int, human: bool = False) -> str:
    """``nvme id-ns`` (``-H`` when ``human``) of 4096 bytes of Identify Namespace data."""
    n = _parse(IDENTIFY_NAMESPACE, data, IDENTIFY_SIZE)
    out: list[str] = [f"NVME Identify Namespace {_s32(nsid)}:"]

    def field(name: str, text: str, block: list[str] | None = None) -> None:
        out.append(f"{name:<8}: {text}")
        if human and block is not None:
            out.extend(block)

    field("nsze", _hx(n.nsze))
    field("ncap", _hx(n.ncap))
    field("nuse", _hx(n.nuse))
    field("nsfeat", _hx(n.nsfeat), _ns_nsfeat(n.nsfeat))
    field("nlbaf", str(n.nlbaf))
    field("flbas", _hx(n.flbas), _ns_flbas(n.flbas))
    field("mc", _hx(n.mc), _ns_mc(n.mc))
    field("dpc", _hx(n.dpc), _ns_dpc(n.dpc))
    field("dps", _hx(n.dps), _ns_dps(n.dps))
    field("nmic", _hx(n.nmic), _ns_nmic(n.nmic))
    field("rescap", _hx(n.rescap), _ns_rescap(n.rescap))
    field("fpi", _hx(n.fpi), _ns_fpi(n.fpi))
    field("dlfeat", str(n.dlfeat), _ns_dlfeat(n.dlfeat))
    for name in ("nawun", "nawupf", "nacwu", "nabsn", "nabo", "nabspf", "noiob"):
        field(name, str(n[name]))
    field("nvmcap", str(n.nvmcap))
    if n.nsfeat & 0x10:
        for name in ("npwg", "npwa", "npdg", "npda", "nows"):
            field(name, str(n[name]))
    field("mssrl", str(n.mssrl))
    field("mcl", str(n.mcl))
    field("msrc", str(n.msrc))
    field("nulbaf", str(n.nulbaf))
    field("anagrpid", str(n.anagrpid))
    out.append(f"nsattr\t: {n.nsattr}")
    field("nvmsetid", str(n.nvmsetid))
    field("endgid", str(n.endgid))
    field("nguid", bytes(n.nguid).hex())
    field("eui64", bytes(n.eui64).hex())
    in_use = _lbaf_in_use(n.flbas)
    for i in range(min(n.nlbaf + n.nulbaf, LBAF_COUNT - 1) + 1):
        lbaf = n.lbaf[i]
        mark = "(in use)" if i == in_use else ""
        if human:
            out.append(
                f"LBA Format {i:2d} : Metadata Size: {lbaf.ms:<3d} bytes - Data Size: "
                f"{_c_shift(lbaf.ds):<2d} bytes - Relative Performance: {_hx(lbaf.rp)} "
                f"{_RP_NAMES[lbaf.rp]} {mark}"
            )
        else:
            out.append(
                f"lbaf {i:2d} : ms:{lbaf.ms:<3d} lbads:{lbaf.ds:<2d} rp:{_hx(lbaf.rp)} {mark}"
            )
    return "\n".join(out) + "\n"


def id_ns_json(data: bytes) -> str:
    """``nvme id-ns -o json`` of 4096 bytes of Identify Namespace data."""
    n = _parse(IDENTIFY_NAMESPACE, data, IDENTIFY_SIZE)
    root: dict[str, Any] = {"nsze": n.nsze, "ncap": n.ncap, "nuse": n.nuse}
    for key in ("nsfeat", "nlbaf", "flbas", "mc", "dpc", "dps", "nmic", "rescap", "fpi"):
        root[key] = n[key]
    for key in ("dlfeat", "nawun", "nawupf", "nacwu", "nabsn", "nabo", "nabspf", "noiob"):
        root[key] = n[key]
    root["nvmcap"] = str(n.nvmcap)
    root["nsattr"] = n.nsattr
    root["nvmsetid"] = n.nvmsetid
    if n.nsfeat & 0x10:
        for key in ("npwg", "npwa", "npdg", "npda", "nows"):
            root[key] = n[key]
    root["mssrl"] = n.mssrl
    root["mcl"] = _s32(n.mcl)
    root["msrc"] = n.msrc
    root["nulbaf"] = n.nulbaf
    root["anagrpid"] = _s32(n.anagrpid)
    root["endgid"] = n.endgid
    root["eui64"] = bytes(n.eui64).hex()
    root["nguid"] = bytes(n.nguid).hex()
    root["lbafs"] = [
        {"ms": n.lbaf[i].ms, "ds": n.lbaf[i].ds, "rp": n.lbaf[i].rp}
        for i in range(min(n.nlbaf, LBAF_COUNT - 1) + 1)
    ]
    return _json(root) + "\n"


# ----------------------------------------------------------------------------------
# nvme list
# ----------------------------------------------------------------------------------


class ListRow(NamedTuple):
    """One namespace as ``nvme list`` shows it."""

    node: str  # /dev/nvme0n1
    generic: str  # /dev/ng0n1
    sn: str
    model: str
    nsid: int
    nuse: int  # logical blocks
    nsze: int  # logical blocks
    lba_size: int  # bytes
    ms: int  # metadata bytes per block
    fw: str


def list_row(node: str, generic: str, id_ctrl: bytes, id_ns: bytes, nsid: int) -> ListRow:
    """A :class:`ListRow` from the Identify Controller and Identify Namespace data
    (the strings trimmed as the kernel's sysfs attributes are)."""
    c = _parse(IDENTIFY_CONTROLLER, id_ctrl, IDENTIFY_SIZE)
    n = _parse(IDENTIFY_NAMESPACE, id_ns, IDENTIFY_SIZE)
    lbaf = n.lbaf[_lbaf_in_use(n.flbas)]
    return ListRow(
        node=node,
        generic=generic,
        sn=_cstr(c.sn).strip(),
        model=_cstr(c.mn).strip(),
        nsid=nsid,
        nuse=n.nuse,
        nsze=n.nsze,
        lba_size=1 << min(lbaf.ds, 63),
        ms=lbaf.ms,
        fw=_cstr(c.fr).strip(),
    )


_LIST_WIDTHS = (21, 21, 20, 40, 9, 26, 16, 8)


def format_list(rows: Iterable[ListRow | Mapping[str, Any]]) -> str:
    """``nvme list``: a header, a dash line and one line per namespace. A row is a
    :class:`ListRow` or a mapping with its field names."""
    heads = ("Node", "Generic", "SN", "Model", "Namespace", "Usage", "Format", "FW Rev")
    out = [" ".join(f"{h:<{w}}" for h, w in zip(heads, _LIST_WIDTHS, strict=True))]
    out.append(" ".join("-" * w for w in _LIST_WIDTHS))
    for item in rows:
        row = item if isinstance(item, ListRow) else ListRow(**item)
        nuse, u_suffix = _si(float(row.nuse) * row.lba_size)
        nsze, s_suffix = _si(float(row.nsze) * row.lba_size)
        lba, l_suffix = _binary(row.lba_size)
        usage = f"{nuse:6.2f} {u_suffix:>2}B / {nsze:6.2f} {s_suffix:>2}B"
        fmt = f"{lba:3d} {l_suffix:>2}B + {row.ms:2d} B"
        cells = (row.node, row.generic, row.sn, row.model, str(row.nsid), usage, fmt, row.fw)
        out.append(" ".join(f"{c:<{w}}" for c, w in zip(cells, _LIST_WIDTHS, strict=True)))
    return "\n".join(out) + "\n"


def list_json(rows: Iterable[ListRow | Mapping[str, Any]]) -> str:
    """``nvme list -o json``: one object per namespace under ``Devices``, sizes in bytes
    (``MaximumLBA`` is NSZE, in logical blocks)."""
    devices = []
    for item in rows:
        row = item if isinstance(item, ListRow) else ListRow(**item)
        devices.append(
            {
                "NameSpace": row.nsid,
                "DevicePath": row.node,
                "Firmware": row.fw,
                "ModelNumber": row.model,
                "SerialNumber": row.sn,
                "UsedBytes": row.nuse * row.lba_size,
                "MaximumLBA": row.nsze,
                "PhysicalSize": row.nsze * row.lba_size,
                "SectorSize": row.lba_size,
            }
        )
    return _json({"Devices": devices}) + "\n"


# ----------------------------------------------------------------------------------
# nvme list-ns
# ----------------------------------------------------------------------------------


def format_list_ns(data: bytes) -> str:
    """``nvme list-ns`` of a 4096-byte namespace list (Identify CNS 02h): one line per
    NSID, ``[index]:nsid``, up to the first zero entry."""
    nsids = parse_active_ns_list(_fit(data, IDENTIFY_SIZE))
    return "".join(f"[{i:4d}]:{_hx(nsid)}\n" for i, nsid in enumerate(nsids))


# ----------------------------------------------------------------------------------
# nvme smart-log
# ----------------------------------------------------------------------------------


def format_smart_log(data: bytes, device: str, nsid: int) -> str:
    """``nvme smart-log`` of a 512-byte SMART / Health Information log page."""
    s = _parse(SMART_LOG, data, SMART_LOG_SIZE)
    out = [
        f"Smart Log for NVME device:{device} namespace-id:{nsid & 0xFFFFFFFF:x}",
        f"critical_warning\t\t\t: {_hx(s.critical_warning)}",
        f"temperature\t\t\t\t: {_celsius(s.temperature)}",
        f"available_spare\t\t\t\t: {s.avail_spare}%",
        f"available_spare_threshold\t\t: {s.spare_thresh}%",
        f"percentage_used\t\t\t\t: {s.percent_used}%",
        "endurance group critical warning summary: "
        + _hx(s.endurance_grp_critical_warning_summary),
        f"Data Units Read\t\t\t\t: {s.data_units_read} "
        f"({_si_string(float(s.data_units_read) * 512000)})",
        f"Data Units Written\t\t\t: {s.data_units_written} "
        f"({_si_string(float(s.data_units_written) * 512000)})",
        f"host_read_commands\t\t\t: {s.host_read_commands}",
        f"host_write_commands\t\t\t: {s.host_write_commands}",
        f"controller_busy_time\t\t\t: {s.ctrl_busy_time}",
        f"power_cycles\t\t\t\t: {s.power_cycles}",
        f"power_on_hours\t\t\t\t: {s.power_on_hours}",
        f"unsafe_shutdowns\t\t\t: {s.unsafe_shutdowns}",
        f"media_errors\t\t\t\t: {s.media_errors}",
        f"num_err_log_entries\t\t\t: {s.num_err_log_entries}",
        f"Warning Temperature Time\t\t: {s.warning_temp_time}",
        f"Critical Composite Temperature Time\t: {s.critical_comp_time}",
    ]
    for i, kelvin in enumerate(s.temperature_sensor):
        if kelvin:
            out.append(f"Temperature Sensor {i + 1}           : {_celsius(kelvin)}")
    out += [
        f"Thermal Management T1 Trans Count\t: {s.thm_temp1_trans_count}",
        f"Thermal Management T2 Trans Count\t: {s.thm_temp2_trans_count}",
        f"Thermal Management T1 Total Time\t: {s.thm_temp1_total_time}",
        f"Thermal Management T2 Total Time\t: {s.thm_temp2_total_time}",
    ]
    return "\n".join(out) + "\n"


def smart_log_json(data: bytes) -> str:
    """``nvme smart-log -o json``: the temperatures in Kelvin, the 128-bit counters as
    decimal strings, a ``temperature_sensor_N`` key for each sensor that reports."""
    s = _parse(SMART_LOG, data, SMART_LOG_SIZE)
    doc: dict[str, Any] = {
        "critical_warning": s.critical_warning,
        "temperature": s.temperature,
        "avail_spare": s.avail_spare,
        "spare_thresh": s.spare_thresh,
        "percent_used": s.percent_used,
        "endurance_grp_critical_warning_summary": s.endurance_grp_critical_warning_summary,
    }
    for key, name in (
        ("data_units_read", "data_units_read"),
        ("data_units_written", "data_units_written"),
        ("host_read_commands", "host_read_commands"),
        ("host_write_commands", "host_write_commands"),
        ("controller_busy_time", "ctrl_busy_time"),
        ("power_cycles", "power_cycles"),
        ("power_on_hours", "power_on_hours"),
        ("unsafe_shutdowns", "unsafe_shutdowns"),
        ("media_errors", "media_errors"),
        ("num_err_log_entries", "num_err_log_entries"),
    ):
        doc[key] = str(s[name])
    doc["warning_temp_time"] = s.warning_temp_time
    doc["critical_comp_time"] = s.critical_comp_time
    for i, kelvin in enumerate(s.temperature_sensor):
        if kelvin:
            doc[f"temperature_sensor_{i + 1}"] = kelvin
    for key in (
        "thm_temp1_trans_count",
        "thm_temp2_trans_count",
        "thm_temp1_total_time",
        "thm_temp2_total_time",
    ):
        doc[key] = s[key]
    return _json(doc) + "\n"


# ----------------------------------------------------------------------------------
# nvme error-log
# ----------------------------------------------------------------------------------

#: libnvme's words for each status code, as ``nvme error-log`` prints them.
_GENERIC_STATUS: dict[int, str] = {
    0x00: "Successful Completion: The command completed without error",
    0x01: "Invalid Command Opcode: A reserved coded value or an unsupported value in the command opcode field",
    0x02: "Invalid Field in Command: A reserved coded value or an unsupported value in a defined field",
    0x03: "Command ID Conflict: The command identifier is already in use",
    0x04: "Data Transfer Error: Transferring the data or metadata associated with a command experienced an error",
    0x05: "Commands Aborted due to Power Loss Notification: Indicates that the command was aborted due to a power loss notification",
    0x06: "Internal Error: The command was not completed successfully due to an internal error",
    0x07: "Command Abort Requested: The command was aborted due to an Abort command",
    0x08: "Command Aborted due to SQ Deletion: The command was aborted due to a Delete I/O Submission Queue",
    0x09: "Command Aborted due to Failed Fused Command: The command was aborted due to the other command in a fused operation failing",
    0x0A: "Command Aborted due to Missing Fused Command: The fused command was aborted due to the adjacent submission queue entry not containing a fused command",
    0x0B: "Invalid Namespace or Format: The namespace or the format of that namespace is invalid",
    0x0C: "Command Sequence Error: The command was aborted due to a protocol violation in a multi- command sequence",
    0x0D: "Invalid SGL Segment Descriptor: The command includes an invalid SGL Last Segment or SGL Segment descriptor",
    0x0E: "Invalid Number of SGL Descriptors: There is an SGL Last Segment descriptor or an SGL Segment descriptor in a location other than the last descriptor of a segment based on the length indicated",
    0x0F: "Data SGL Length Invalid: The length of a Data SGL is too short or too long and the controller does not support SGL transfers longer than the amount of data to be transferred",
    0x10: "Metadata SGL Length Invalid: The length of a Metadata SGL is too short or too long and the controller does not support SGL transfers longer than the amount of data to be transferred",
    0x11: "SGL Descriptor Type Invalid: The type of an SGL Descriptor is a type that is not supported by the controller",
    0x12: "Invalid Use of Controller Memory Buffer: The attempted use of the Controller Memory Buffer is not supported by the controller",
    0x13: "PRP Offset Invalid: The Offset field for a PRP entry is invalid",
    0x14: "Atomic Write Unit Exceeded: The length specified exceeds the atomic write unit size",
    0x15: "Operation Denied: The command was denied due to lack of access rights",
    0x16: "SGL Offset Invalid: The offset specified in a descriptor is invalid",
    0x18: "Host Identifier Inconsistent Format: The NVM subsystem detected the simultaneous use of 64- bit and 128-bit Host Identifier values on different controllers",
    0x19: "Keep Alive Timer Expired: The Keep Alive Timer expired",
    0x1A: "Keep Alive Timeout Invalid: The Keep Alive Timeout value specified is invalid",
    0x1B: "Command Aborted due to Preempt and Abort: The command was aborted due to a Reservation Acquire command",
    0x1C: "Sanitize Failed: The most recent sanitize operation failed and no recovery action has been successfully completed",
    0x1D: "Sanitize In Progress: The requested function is prohibited while a sanitize operation is in progress",
    0x1E: "SGL Data Block Granularity Invalid: The Address alignment or Length granularity for an SGL Data Block descriptor is invalid",
    0x1F: "Command Not Supported for Queue in CMB: The controller does not support Submission Queue in the Controller Memory Buffer or Completion Queue in the Controller Memory Buffer",
    0x20: "Namespace is Write Protected: The command is prohibited while the namespace is write protected",
    0x21: "Command Interrupted: Command processing was interrupted and the controller is unable to successfully complete the command",
    0x22: "Transient Transport Error: A transient transport error was detected",
    0x80: "LBA Out of Range: The command references an LBA that exceeds the size of the namespace",
    0x81: "Capacity Exceeded: Execution of the command has caused the capacity of the namespace to be exceeded",
    0x82: "Namespace Not Ready: The namespace is not ready to be accessed",
    0x83: "Reservation Conflict: The command was aborted due to a conflict with a reservation held on the accessed namespace",
    0x84: "Format In Progress: A Format NVM command is in progress on the namespace",
}
_GENERIC_STATUS_SIZE = 0x85

_CMD_SPECIFIC_STATUS: dict[int, str] = {
    0x00: "Completion Queue Invalid: The Completion Queue identifier specified in the command does not exist",
    0x01: "Invalid Queue Identifier: The creation of the I/O Completion Queue failed due to an invalid queue identifier specified as part of the command",
    0x02: "Invalid Queue Size: The host attempted to create an I/O Completion Queue with an invalid number of entries",
    0x03: "Abort Command Limit Exceeded: The number of concurrently outstanding Abort commands has exceeded the limit indicated in the Identify Controller data structure",
    0x04: "Abort Command Is Missing: The abort command is missing",
    0x05: "Asynchronous Event Request Limit Exceeded: The number of concurrently outstanding Asynchronous Event Request commands has been exceeded",
    0x06: "Invalid Firmware Slot: The firmware slot indicated is invalid or read only",
    0x07: "Invalid Firmware Image: The firmware image specified for activation is invalid and not loaded by the controller",
    0x08: "Invalid Interrupt Vector: The creation of the I/O Completion Queue failed due to an invalid interrupt vector specified as part of the command",
    0x09: "Invalid Log Page: The log page indicated is invalid",
    0x0A: "Invalid Format: The LBA Format specified is not supported",
    0x0B: "Firmware Activation Requires Conventional Reset: The firmware commit was successful, however, activation of the firmware image requires a conventional reset",
    0x0C: "Invalid Queue Deletion: Invalid I/O Completion Queue specified to delete",
    0x0D: "Feature Identifier Not Saveable: The Feature Identifier specified does not support a saveable value",
    0x0E: "Feature Not Changeable: The Feature Identifier is not able to be changed",
    0x0F: "Feature Not Namespace Specific: The Feature Identifier specified is not namespace specific",
    0x10: "Firmware Activation Requires NVM Subsystem Reset: The firmware commit was successful, however, activation of the firmware image requires an NVM Subsystem",
    0x11: "Firmware Activation Requires Controller Level Reset: The firmware commit was successful; however, the image specified does not support being activated without a reset",
    0x12: "Firmware Activation Requires Maximum Time Violation: The image specified if activated immediately would exceed the Maximum Time for Firmware Activation (MTFA) value reported in Identify Controller",
    0x13: "Firmware Activation Prohibited: The image specified is being prohibited from activation by the controller for vendor specific reasons",
    0x14: "Overlapping Range: The downloaded firmware image has overlapping ranges",
    0x15: "Namespace Insufficient Capacity: Creating the namespace requires more free space than is currently available",
    0x16: "Namespace Identifier Unavailable: The number of namespaces supported has been exceeded",
    0x18: "Namespace Already Attached: The controller is already attached to the namespace specified",
    0x19: "Namespace Is Private: The namespace is private and is already attached to one controller",
    0x1A: "Namespace Not Attached: The request to detach the controller could not be completed because the controller is not attached to the namespace",
    0x1B: "Thin Provisioning Not Supported: Thin provisioning is not supported by the controller",
    0x1C: "Controller List Invalid: The controller list provided contains invalid controller ids",
    0x1D: "Device Self-test In Progress: The controller or NVM subsystem already has a device self-test operation in process",
    0x1E: "Boot Partition Write Prohibited: The command tried to modify a locked Boot Partition",
    0x1F: "Invalid Controller Identifier: An invalid controller id was specified",
    0x20: "Invalid Secondary Controller State: The requested secondary controller action is invalid based on the secondary and primary controllers current states",
    0x21: "Invalid Number of Controller Resources: The specified number of Flexible Resources is invalid",
    0x22: "Invalid Resource Identifier: At least one of the specified resource identifiers was invalid",
    0x23: "Sanitize Prohibited While Persistent Memory Region is Enabled",
    0x24: "ANA Group Identifier Invalid: The specified ANA Group Identifier (ANAGRPID) is not supported in the submitted command",
    0x25: "ANA Attach Failed: The controller is not attached to the namespace as a result of an ANA condition",
}
#: Command specific codes at or above this index are looked up in the NVM command
#: set's table (libnvme's ``cmd_spec_status`` array ends there).
_CMD_SPECIFIC_STATUS_SIZE = 0x30
_NVM_STATUS: dict[int, str] = {
    0x80: "Conflicting Attributes: The attributes specified in the command are conflicting",
    0x81: "Invalid Protection Information: The command's Protection Information Field settings are invalid for the namespace's Protection Information format",
    0x82: "Attempted Write to Read Only Range: The LBA range specified contains read-only blocks",
    0x83: "Command Size Limit Exceeded",
}
_MEDIA_STATUS: dict[int, str] = {
    0x80: "Write Fault: The write data could not be committed to the media",
    0x81: "Unrecovered Read Error: The read data could not be recovered from the media",
    0x82: "End-to-end Guard Check Error: The command was aborted due to an end-to-end guard check failure",
    0x83: "End-to-end Application Tag Check Error: The command was aborted due to an end-to-end application tag check failure",
    0x84: "End-to-end Reference Tag Check Error: The command was aborted due to an end-to-end reference tag check failure",
    0x85: "Compare Failure: The command failed due to a miscompare during a Compare command",
    0x86: "Access Denied: Access to the namespace and/or LBA range is denied due to lack of access rights",
    0x87: "Deallocated or Unwritten Logical Block: The command failed due to an attempt to read from or verify an LBA range containing a deallocated or unwritten logical block",
}
_PATH_STATUS: dict[int, str] = {
    0x00: "Internal Path Error: An internal error specific to the controller processing the command prevented completion",
    0x01: "Asymmetric Access Persistent Loss: The controller is in a persistent loss state with the requested namespace",
    0x02: "Asymmetric Access Inaccessible: The controller is in an inaccessible state with the requested namespace",
    0x03: "Asymmetric Access Transition: The controller is currently transitioning states with the requested namespace",
    0x60: "Controller Pathing Error: A pathing error was detected by the controller",
    0x70: "Host Pathing Error: A pathing error was detected by the host",
    0x71: "Command Aborted By Host: The command was aborted as a result of host action",
}


def nvme_status_string(status: int) -> str:
    """libnvme's ``nvme_status_to_string`` of a status field (SCT in bits 10:8, SC in 7:0)."""
    sct, sc = (status >> 8) & 7, status & 0xFF
    if sct == 0:
        return _GENERIC_STATUS.get(sc, "unrecognized")
    if sct == 1:
        if sc < _CMD_SPECIFIC_STATUS_SIZE:
            return _CMD_SPECIFIC_STATUS.get(sc, "unrecognized")
        return _NVM_STATUS.get(sc, "unrecognized")
    if sct == 2:
        return _MEDIA_STATUS.get(sc, "unrecognized")
    if sct == 3:
        return _PATH_STATUS.get(sc, "unrecognized")
    if sct == 7:
        return "Vendor Specific Status"
    return "Unknown status"


_TRTYPE = {
    0: "The transport type is not indicated or the error is not transport related.",
    1: "RDMA Transport error.",
    2: "Fibre Channel Transport error.",
    3: "TCP Transport error.",
    254: "Intra-host Transport error.",
}


def format_error_log(data: bytes, device: str, entries: int) -> str:
    """``nvme error-log`` of ``entries`` 64-byte Error Information Log Entries."""
    # ELPE is 8 bits: a controller keeps at most 256 entries, so never more are shown
    entries = min(max(0, entries), 256)
    raw = _fit(data, entries * ERROR_ENTRY_SIZE)
    out = [f"Error Log Entries for device:{device} entries:{entries}", "................."]
    for i in range(entries):
        e = ERROR_INFORMATION_ENTRY.parse(raw[i * ERROR_ENTRY_SIZE : (i + 1) * ERROR_ENTRY_SIZE])
        status = e.status_field.status
        out += [
            f" Entry[{i:2d}]   ",
            ".................",
            f"error_count\t: {e.error_count}",
            f"sqid\t\t: {e.sqid}",
            f"cmdid\t\t: {_hx(e.cmdid)}",
            f"status_field\t: {_hx(status)}({nvme_status_string(status)})",
            f"phase_tag\t: {_hx(e.status_field.phase_tag)}",
            f"parm_err_loc\t: {_hx(e.parm_err_loc)}",
            f"lba\t\t: {_hx(e.lba)}",
            f"nsid\t\t: {_hx(e.nsid)}",
            f"vs\t\t: {e.vs}",
            f"trtype\t\t: {_TRTYPE.get(e.trtype, 'Reserved')}",
            f"cs\t\t: {_hx(e.cs)}",
            f"trtype_spec_info: {_hx(e.trtype_spec_info)}",
            ".................",
        ]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------
# nvme fw-log
# ----------------------------------------------------------------------------------


def format_fw_log(data: bytes, device: str) -> str:
    """``nvme fw-log`` of a 512-byte Firmware Slot Information log page."""
    f = _parse(FIRMWARE_SLOT_LOG, data, FW_SLOT_LOG_SIZE)
    out = [f"Firmware Log for device:{device}", f"afi  : {_hx(f.afi)}"]
    for slot in range(1, 8):
        frs = bytes(f[f"frs{slot}"])
        if frs[0]:
            text = "".join(chr(b) if 0x21 <= b <= 0x7E else "." for b in frs)
            value = int.from_bytes(frs, "little")
            out.append(f"frs{slot} : {format(value, '#016x')} ({text})")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------
# nvme get-feature
# ----------------------------------------------------------------------------------

_FEATURE_NAMES: dict[int, str] = {
    0x01: "Arbitration",
    0x02: "Power Management",
    0x03: "LBA Range Type",
    0x04: "Temperature Threshold",
    0x05: "Error Recovery",
    0x06: "Volatile Write Cache",
    0x07: "Number of Queues",
    0x08: "Interrupt Coalescing",
    0x09: "Interrupt Vector Configuration",
    0x0A: "Write Atomicity Normal",
    0x0B: "Async Event Configuration",
    0x0C: "Autonomous Power State Transition",
    0x0D: "Host Memory Buffer",
    0x0E: "Timestamp",
    0x0F: "Keep Alive Timer",
    0x10: "Host Controlled Thermal Management",
    0x11: "Non-Operational Power State Config",
    0x12: "Read Recovery Level Config",
    0x13: "Predictable Latency Mode Config",
    0x14: "Predictable Latency Mode Window",
    0x15: "LBA Status Information Report Interval",
    0x16: "Host Behavior Support",
    0x17: "Sanitize Config",
    0x18: "Endurance Group Event Configuration",
    0x19: "I/O Command Set Profile",
    0x1A: "Spinup Control",
    0x7D: "Enhanced Controller Metadata",
    0x7E: "Controller Metadata",
    0x7F: "Namespace Metadata",
    0x80: "Software Progress",
    0x81: "Host Identifier",
    0x82: "Reservation Notification Mask",
    0x83: "Reservation Persistence",
    0x84: "Namespace Write Protection Config",
}
_SELECT_NAMES = {0: "Current", 1: "Default", 2: "Saved", 3: "Supported capabilities"}


def feature_name(fid: int) -> str:
    """nvme-cli's name of a Feature Identifier."""
    return _FEATURE_NAMES.get(fid, "Unknown")


def _hexdump(buf: bytes) -> list[str]:
    """nvme-cli's ``d(buf, len, 16, 1)``: offsets, hex bytes and the ASCII column."""
    head = "     " + "".join(f"{i:3x}" for i in range(16))
    lines = [head]
    for off in range(0, len(buf), 16):
        chunk = buf[off : off + 16]
        hexes = "".join(f" {b:02x}" for b in chunk)
        ascii_ = "".join(chr(b) if 0x21 <= b <= 0x7E else "." for b in chunk)
        if len(chunk) < 16:
            hexes += " " + " " * (3 * (16 - len(chunk)))
        lines.append(f'{off:04x}:{hexes} "{ascii_}"')
    return lines


def format_get_log(data: bytes, device: str, lid: int, nsid: int) -> str:
    """``nvme get-log --log-id=LID --log-len=N``: which log of which namespace, then the
    bytes the device returned as a hex dump (16 a line, with their ASCII)."""
    head = f"Device:{device} log-id:{lid & 0xFF} namespace-id:{_hx(nsid & 0xFFFFFFFF)}"
    return "\n".join([head, *_hexdump(bytes(data))]) + "\n"


def _async_event_lines(dw0: int) -> list[str]:
    rows = (
        (31, "Discovery Log Page Change Notices"),
        (14, "Endurance Group Event Aggregate Log Change Notices"),
        (13, "LBA Status Information Notices"),
        (12, "Predictable Latency Event Aggregate Log Change Notices"),
        (11, "Asymmetric Namespace Access Change Notices"),
        (10, "Telemetry Log Notices"),
        (9, "Firmware Activation Notices"),
        (8, "Namespace Attribute Notices"),
    )
    out = []
    for bit, text in rows:
        send = "Send async event" if dw0 >> bit & 1 else "Do not send async event"
        out.append(f"\t{text:<58}: {send}")
    smart = "Send async event" if dw0 & 0xFF else "Do not send async event"
    out.append(f"\t{'SMART / Health Critical Warnings':<58}: {smart}")
    return out


_TEMP_SEL = {0: "Composite Temperature", **{i: f"Temperature Sensor {i}" for i in range(1, 9)}}
_TEMP_TYPE = {0: "Over Temperature Threshold", 1: "Under Temperature Threshold"}
_WORKLOAD_HINT = {
    0: "No Workload",
    1: "Extended Idle Period with a Burst of Random Writes",
    2: "Heavy Sequential Writes",
}


def _timestamp_lines(data: bytes) -> list[str]:
    raw = _fit(data, 8)
    ms = int.from_bytes(raw[0:6], "little")
    attr = raw[6]
    try:
        when = datetime.datetime.fromtimestamp(ms // 1000, tz=datetime.UTC)
        # strftime "%c %Z" in the C locale, the clock in UTC
        stamp = f"{when:%a %b} {when.day:2d} {when:%H:%M:%S} {when.year} UTC"
    except (OverflowError, OSError, ValueError):
        stamp = "-"
    origin = (
        "The Timestamp field was initialized with a Timestamp value using a Set Features command."
        if attr & 2
        else "The Timestamp field was initialized to \u20180\u2019 by a Controller Level Reset."
    )
    synch = (
        "The controller may have stopped counting during vendor specific intervals after the "
        "Timestamp value was initialized"
        if attr & 1
        else "The controller counted time in milliseconds continuously since the Timestamp value "
        "was initialized."
    )
    return [f"\tThe timestamp is : {ms} ({stamp})", f"\t{origin}", f"\t{synch}"]


def _feature_fields(fid: int, dw0: int, data: bytes | None) -> list[str]:
    if fid == 0x01:
        ab = dw0 & 7
        return [
            f"\tHigh Priority Weight   (HPW): {(dw0 >> 24 & 0xFF) + 1}",
            f"\tMedium Priority Weight (MPW): {(dw0 >> 16 & 0xFF) + 1}",
            f"\tLow Priority Weight    (LPW): {(dw0 >> 8 & 0xFF) + 1}",
            f"\tArbitration Burst       (AB): {'No limit' if ab == 7 else 1 << ab}",
        ]
    if fid == 0x02:
        wh = dw0 >> 5 & 7
        return [
            f"\tWorkload Hint (WH): {wh} - {_WORKLOAD_HINT.get(wh, 'Reserved')}",
            f"\tPower State   (PS): {dw0 & 0x1F}",
        ]
    if fid == 0x04:
        thsel, tmpsel, kelvin = dw0 >> 20 & 3, dw0 >> 16 & 0xF, dw0 & 0xFFFF
        return [
            f"\tThreshold Type Select         (THSEL): {thsel} - {_TEMP_TYPE.get(thsel, 'Reserved')}",
            f"\tThreshold Temperature Select (TMPSEL): {tmpsel} - {_TEMP_SEL.get(tmpsel, 'Reserved')}",
            f"\tTemperature Threshold         (TMPTH): {_celsius(kelvin)}",
        ]
    if fid == 0x05:
        return [
            "\tDeallocated or Unwritten Logical Block Error Enable (DULBE): "
            + ("Enabled" if dw0 >> 16 & 1 else "Disabled"),
            f"\tTime Limited Error Recovery                          (TLER): {(dw0 & 0xFFFF) * 100} ms",
        ]
    if fid == 0x06:
        return [f"\tVolatile Write Cache Enable (WCE): {'Enabled' if dw0 & 1 else 'Disabled'}"]
    if fid == 0x07:
        return [
            f"\tNumber of IO Completion Queues Allocated (NCQA): {(dw0 >> 16 & 0xFFFF) + 1}",
            f"\tNumber of IO Submission Queues Allocated (NSQA): {(dw0 & 0xFFFF) + 1}",
        ]
    if fid == 0x08:
        return [
            f"\tAggregation Time     (TIME): {(dw0 >> 8 & 0xFF) * 100} usec",
            f"\tAggregation Threshold (THR): {(dw0 & 0xFF) + 1}",
        ]
    if fid == 0x09:
        return [
            f"\tCoalescing Disable (CD): {'True' if dw0 >> 16 & 1 else 'False'}",
            f"\tInterrupt Vector   (IV): {dw0 & 0xFFFF}",
        ]
    if fid == 0x0A:
        return [f"\tDisable Normal (DN): {'True' if dw0 & 1 else 'False'}"]
    if fid == 0x0B:
        return _async_event_lines(dw0)
    if fid == 0x0E:
        return _timestamp_lines(data or b"")
    return []


def format_get_feature(fid: int, dw0: int, data: bytes | None, human: bool, sel: int = 0) -> str:
    """``nvme get-feature -f <fid>`` (``-H`` when ``human``): the Dword 0 of the
    completion and, for features with a data buffer (Timestamp), that buffer."""
    fid &= 0xFF
    dw0 &= 0xFFFFFFFF
    head = (
        f"get-feature:{_hx0(fid, 4 if fid else 2)} ({feature_name(fid)}), "
        f"{_SELECT_NAMES.get(sel & 7, 'Reserved')} value:{_hx0(dw0, 10 if dw0 else 8)}"
    )
    out = [head]
    if human:
        out += _feature_fields(fid, dw0, data)
    elif data:
        out += _hexdump(bytes(data))
    return "\n".join(out) + "\n"
