"""Feature values (NVMe 1.4 section 5.21.1), declared once as construct layouts.

A feature's value is Command Dword 11 of Set Features and Dword 0 of the Get
Features completion (the same bits; for Number of Queues the completion calls
them NSQA/NCQA, "allocated", where Set Features calls them NSQR/NCQR,
"requested"). Timestamp (0Eh) is the exception: its value is the 8-byte
Timestamp data structure transferred in the data buffer.

Each dword layout is a little-endian bit field (``ByteSwapped(BitStruct(...))``),
like the registers in ``registers.py``; each field carries the specification's
title as construct docs. ``decode_feature`` turns a value into words.
"""

from __future__ import annotations

import construct as cs

from nvmescope.nvme.opcodes import feature_title

FID_ARBITRATION = 0x01
FID_POWER_MANAGEMENT = 0x02
FID_TEMPERATURE_THRESHOLD = 0x04
FID_ERROR_RECOVERY = 0x05
FID_VOLATILE_WRITE_CACHE = 0x06
FID_NUMBER_OF_QUEUES = 0x07
FID_INTERRUPT_COALESCING = 0x08
FID_INTERRUPT_VECTOR_CONFIG = 0x09
FID_ASYNC_EVENT_CONFIG = 0x0B
FID_TIMESTAMP = 0x0E
FID_HOST_BEHAVIOR_SUPPORT = 0x16
#: Host Behavior Support's data buffer: ACRE (byte 0), LBAFEE (byte 2), the rest reserved
HOST_BEHAVIOR_SIZE = 512


def _bits(size: int, *fields: tuple[str, int, int, str]) -> cs.Construct:
    """A little-endian ``size``-byte bit field from (name, hi, lo, title), any order."""
    parts: list[cs.Construct] = []
    bit = size * 8 - 1
    for name, hi, lo, title in sorted(fields, key=lambda f: -f[1]):
        if hi < bit:
            parts.append(cs.Padding(bit - hi))
        parts.append(name / cs.BitsInteger(hi - lo + 1) * title)
        bit = lo - 1
    if bit >= 0:
        parts.append(cs.Padding(bit + 1))
    return cs.ByteSwapped(cs.BitStruct(*parts))


ARBITRATION = _bits(
    4,
    ("ab", 2, 0, "Arbitration Burst (AB), 2^n commands, 111b = no limit"),
    ("lpw", 15, 8, "Low Priority Weight (LPW), 0's based"),
    ("mpw", 23, 16, "Medium Priority Weight (MPW), 0's based"),
    ("hpw", 31, 24, "High Priority Weight (HPW), 0's based"),
)

POWER_MANAGEMENT = _bits(
    4,
    ("ps", 4, 0, "Power State (PS)"),
    ("wh", 7, 5, "Workload Hint (WH)"),
)

TEMPERATURE_THRESHOLD = _bits(
    4,
    ("tmpth", 15, 0, "Temperature Threshold (TMPTH), Kelvin"),
    ("tmpsel", 19, 16, "Threshold Temperature Select (TMPSEL)"),
    ("thsel", 21, 20, "Threshold Type Select (THSEL)"),
)

#: Error Recovery (05h), namespace specific: TLER in 100 ms units (0: no time limit),
#: DULBE (the Deallocated or Unwritten Logical Block error, where NSFEAT bit 2 offers it)
ERROR_RECOVERY = _bits(
    4,
    ("tler", 15, 0, "Time Limited Error Recovery (TLER), 100 millisecond units"),
    ("dulbe", 16, 16, "Deallocated or Unwritten Logical Block Error Enable (DULBE)"),
)
#: Error Recovery bit 16: DULBE
ERROR_RECOVERY_DULBE = 1 << 16

VOLATILE_WRITE_CACHE = _bits(
    4,
    ("wce", 0, 0, "Volatile Write Cache Enable (WCE)"),
)

NUMBER_OF_QUEUES = _bits(
    4,
    ("nsqr", 15, 0, "Number of I/O Submission Queues Requested (NSQR), 0's based"),
    ("ncqr", 31, 16, "Number of I/O Completion Queues Requested (NCQR), 0's based"),
)

INTERRUPT_COALESCING = _bits(
    4,
    ("thr", 7, 0, "Aggregation Threshold (THR), 0's based"),
    ("time", 15, 8, "Aggregation Time (TIME), 100 microsecond units"),
)

INTERRUPT_VECTOR_CONFIG = _bits(
    4,
    ("iv", 15, 0, "Interrupt Vector (IV)"),
    ("cd", 16, 16, "Coalescing Disable (CD)"),
)

ASYNC_EVENT_CONFIG = _bits(
    4,
    ("smart", 7, 0, "SMART / Health Critical Warnings"),
    ("nan", 8, 8, "Namespace Attribute Notices (NAN)"),
    ("fan", 9, 9, "Firmware Activation Notices (FAN)"),
    ("tln", 10, 10, "Telemetry Log Notices (TLN)"),
    ("anacn", 11, 11, "Asymmetric Namespace Access Change Notices (ANACN)"),
    ("plealcn", 12, 12, "Predictable Latency Event Aggregate Log Change Notices (PLEALCN)"),
    ("lsin", 13, 13, "LBA Status Information Notices (LSIN)"),
    ("egealcn", 14, 14, "Endurance Group Event Aggregate Log Change Notices (EGEALCN)"),
    ("dlpcn", 31, 31, "Discovery Log Page Change Notification (DLPCN)"),
)

#: The Timestamp data structure (8 bytes): bytes 5:0 milliseconds since
#: 1970-01-01 00:00 UTC; byte 6 bit 0 Synch, bits 3:1 Timestamp Origin.
TIMESTAMP = _bits(
    8,
    ("timestamp", 47, 0, "Timestamp, milliseconds since midnight 01-Jan-1970 UTC"),
    ("synch", 48, 48, "Synch: the controller may have stopped counting (1) or not (0)"),
    ("to", 51, 49, "Timestamp Origin (TO)"),
)

#: Feature Identifier -> layout of its value.
FEATURE_LAYOUTS: dict[int, cs.Construct] = {
    FID_ARBITRATION: ARBITRATION,
    FID_POWER_MANAGEMENT: POWER_MANAGEMENT,
    FID_TEMPERATURE_THRESHOLD: TEMPERATURE_THRESHOLD,
    FID_ERROR_RECOVERY: ERROR_RECOVERY,
    FID_VOLATILE_WRITE_CACHE: VOLATILE_WRITE_CACHE,
    FID_NUMBER_OF_QUEUES: NUMBER_OF_QUEUES,
    FID_INTERRUPT_COALESCING: INTERRUPT_COALESCING,
    FID_INTERRUPT_VECTOR_CONFIG: INTERRUPT_VECTOR_CONFIG,
    FID_ASYNC_EVENT_CONFIG: ASYNC_EVENT_CONFIG,
    FID_TIMESTAMP: TIMESTAMP,
}

THSEL_NAMES = {0: "Over Temperature Threshold", 1: "Under Temperature Threshold"}
TO_NAMES = {
    0: "Timestamp not set since the last Controller Level Reset",
    1: "Timestamp set by a host by Set Features",
}
SMART_WARNING_NAMES = {
    0: "available spare",
    1: "temperature",
    2: "reliability",
    3: "read only",
    4: "volatile memory backup",
    5: "persistent memory region",
}


def field_words(fid: int, name: str, value: int) -> str:
    """The value of one field of feature ``fid`` in words, or ``""``."""
    if fid == FID_ARBITRATION:
        if name == "ab":
            return "no limit" if value == 7 else f"{1 << value} commands"
        return f"weight {value + 1}"
    if fid == FID_POWER_MANAGEMENT and name == "ps":
        return f"power state {value}"
    if fid == FID_TEMPERATURE_THRESHOLD:
        if name == "tmpth":
            return f"{value - 273} C ({value} K)"
        if name == "tmpsel":
            if value == 0:
                return "Composite Temperature"
            if value == 0xF:
                return "All Temperature Sensors"
            return f"Temperature Sensor {value}"
        if name == "thsel":
            return THSEL_NAMES.get(value, "Reserved")
    if fid == FID_ERROR_RECOVERY:
        if name == "tler":
            return f"{value * 100} ms" if value else "no time limit"
        return "enabled" if value else "disabled"
    if fid == FID_VOLATILE_WRITE_CACHE:
        return "enabled" if value else "disabled"
    if fid == FID_NUMBER_OF_QUEUES:
        what = "submission" if name == "nsqr" else "completion"
        if value == 0xFFFF:
            return f"65535 requested (invalid, 0's based) I/O {what} queues"
        return f"{value + 1} I/O {what} queues"
    if fid == FID_INTERRUPT_COALESCING:
        if name == "thr":
            return f"{value + 1} completion entries"
        return f"{value * 100} microseconds"
    if fid == FID_INTERRUPT_VECTOR_CONFIG:
        if name == "iv":
            return f"vector {value}"
        return "coalescing disabled" if value else "coalescing enabled"
    if fid == FID_ASYNC_EVENT_CONFIG:
        if name == "smart":
            on = [SMART_WARNING_NAMES[b] for b in range(6) if value >> b & 1]
            return ("notify on: " + ", ".join(on)) if on else "no SMART notices"
        return "enabled" if value else "disabled"
    if fid == FID_TIMESTAMP:
        if name == "timestamp":
            return f"{value} ms since 1970-01-01 00:00 UTC"
        if name == "synch":
            return "may have stopped counting" if value else "counting continuously"
        if name == "to":
            return TO_NAMES.get(value, "Reserved")
    return ""


def feature_value_bytes(fid: int, value: int | bytes) -> bytes:
    """The bytes of a feature value: an ``int`` as little-endian of the layout's size."""
    layout = FEATURE_LAYOUTS.get(fid)
    size = layout.sizeof() if layout is not None else 4
    if isinstance(value, int):
        return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    raw = bytes(value)[:size]
    return raw + bytes(size - len(raw))


def parse_feature(fid: int, value: int | bytes) -> cs.Container | None:
    """The parsed fields of a feature value, or None for a feature with no layout."""
    layout = FEATURE_LAYOUTS.get(fid)
    if layout is None:
        return None
    return layout.parse(feature_value_bytes(fid, value))


def build_feature(fid: int, **fields: int) -> int:
    """The value (an int, little-endian) of a feature from its fields; missing fields 0."""
    layout = FEATURE_LAYOUTS[fid]
    full = {name: 0 for name in feature_fields(fid)}
    full.update(fields)
    return int.from_bytes(layout.build(full), "little")


def feature_fields(fid: int) -> list[str]:
    """The field names of a feature's layout, in bit order (highest first)."""
    layout = FEATURE_LAYOUTS.get(fid)
    if layout is None:
        return []
    return [sc.name for sc in layout.subcon.subcon.subcons if sc.name]


def _titles(fid: int) -> dict[str, str]:
    return {sc.name: sc.docs for sc in FEATURE_LAYOUTS[fid].subcon.subcon.subcons if sc.name}


def decode_feature(fid: int, value: int | bytes) -> list[tuple[str, int, str]]:
    """A feature value as ``(field, value, meaning)`` rows, lowest bits first.

    ``meaning`` is the field's title and its value in words, e.g.
    ``("ncqr", 63, "Number of I/O Completion Queues Requested (NCQR), 0's based: 64 I/O
    completion queues")``. A feature without a layout gives one ``value`` row.
    """
    parsed = parse_feature(fid, value)
    if parsed is None:
        raw = int.from_bytes(feature_value_bytes(fid, value), "little")
        return [("value", raw, f"{feature_title(fid)} (FID {fid:#04x}): value {raw:#x}")]
    titles = _titles(fid)
    rows: list[tuple[str, int, str]] = []
    for name in reversed(feature_fields(fid)):
        v = int(parsed[name])
        words = field_words(fid, name, v)
        rows.append((name, v, f"{titles[name]}: {words}" if words else titles[name]))
    return rows


def describe_feature(fid: int, value: int | bytes) -> str:
    """One line: ``Number of Queues: nsqr=63 (64 I/O submission queues), ncqr=63 (...)``."""
    parts = []
    for name, v, _meaning in decode_feature(fid, value):
        words = field_words(fid, name, v) if fid in FEATURE_LAYOUTS else ""
        parts.append(f"{name}={v}" + (f" ({words})" if words else ""))
    return f"{feature_title(fid)}: " + ", ".join(parts)
