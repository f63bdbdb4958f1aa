"""The protection information tuple with a 16-bit guard (NVM Command Set 1.0 5.2.1.1,
as T10 DIF): Guard, Application Tag, Reference Tag, big-endian, 8 bytes; and the guard's
CRC-16 T10 DIF (polynomial 8BB7h, initial value 0, not reflected, no final XOR). The
device (``emulator/protection.py``) and a host that builds its own PI both use these."""

from __future__ import annotations

import struct

#: the PI tuple: guard, application tag, reference tag (big-endian)
PI_TUPLE = struct.Struct(">HHI")
PI_SIZE = PI_TUPLE.size  # 8
#: the application tag that disables the checks of a block (Type 1, 2; with the
#: reference tag FFFFFFFFh, Type 3)
APP_ESCAPE = 0xFFFF
REF_ESCAPE = 0xFFFFFFFF
POLYNOMIAL = 0x8BB7


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ POLYNOMIAL) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _crc_table()


def crc16_t10dif(data: bytes, crc: int = 0) -> int:
    """CRC-16 T10 DIF of ``data``, continuing from ``crc`` (0 to start)."""
    table = _TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def pack_tuple(guard: int, app: int, ref: int) -> bytes:
    return PI_TUPLE.pack(guard & 0xFFFF, app & 0xFFFF, ref & REF_ESCAPE)
