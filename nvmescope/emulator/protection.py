"""End-to-end protection information (NVM Command Set 1.0 section 5.2; NVMe 1.4 8.3):
the 8-byte tuple with a 16-bit guard, inserted, stripped and checked by the device.

A namespace formatted with PI (Format NVM PI 001b..011b: Type 1, 2, 3) keeps one tuple
in each block's metadata, in its first 8 bytes (PIL 1, DPS bit 3) or its last 8 bytes
(PIL 0). The tuple, big-endian as T10 DIF: Guard (2 bytes, CRC-16 T10 DIF, polynomial
8BB7h, initial value 0, over the block's data and, when the tuple is last, the metadata
bytes before it), Application Tag (2 bytes), Reference Tag (4 bytes).

A command says what to do in CDW12 PRINFO (bits 29:26): PRACT (bit 29; the device
inserts PI on a write, and strips it on a read when it is all the metadata, MS 8) and
PRCHK (bits 28:26: guard, application tag, reference tag). CDW14 is the (Expected)
Initial Logical Block Reference Tag, ILBRT; CDW15 the (Expected) Logical Block
Application Tag, LBAT (15:0), and its mask, LBATM (31:16).

The rules kept here, as the specification and QEMU 7.2 (hw/nvme/dif.c) have them:

- Type 1 and 2: the reference tag counts up from ILBRT, one per block; Type 3 keeps
  ILBRT for every block. Type 1 with PRCHK reference tag and an ILBRT other than the
  low 32 bits of SLBA: Invalid Protection Information (SCT 1h, SC 81h).
- The checks of a block, in this order: guard (End-to-end Guard Check Error, SCT 2h SC
  82h), application tag under the mask (83h), reference tag (84h). They are skipped for
  a block whose application tag is FFFFh (Type 1, 2), or whose application tag is FFFFh
  and reference tag FFFFFFFFh (Type 3): the escape values.
- Type 3's reference tag is compared with ILBRT when PRCHK asks for it (QEMU 7.2 does
  so; Linux never sets that bit for Type 3).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..nvme import commands as cmds
from ..nvme import pi as nvme_pi
from ..nvme import status as st

PI_TUPLE, PI_SIZE = nvme_pi.PI_TUPLE, nvme_pi.PI_SIZE
APP_ESCAPE, REF_ESCAPE = nvme_pi.APP_ESCAPE, nvme_pi.REF_ESCAPE
crc16_t10dif = nvme_pi.crc16_t10dif
#: CDW12 PRINFO bits 29:26 (declared in nvme/commands.py)
PRINFO_SHIFT = cmds.PRINFO_SHIFT
PRACT = cmds.PRINFO_PRACT
PRCHK_GUARD, PRCHK_APP, PRCHK_REF = (
    cmds.PRINFO_PRCHK_GUARD, cmds.PRINFO_PRCHK_APP, cmds.PRINFO_PRCHK_REF,
)  # fmt: skip
PRCHK_MASK = cmds.PRINFO_PRCHK_MASK
#: Identify Namespace DPS: bits 2:0 the PI type, bit 3 PI in the first 8 bytes
DPS_FIRST = 0x8


@dataclass(frozen=True)
class PiFormat:
    """How a namespace keeps PI: its type (1..3), where in the metadata, the sizes."""

    pi_type: int
    first: bool
    lba_size: int
    ms: int

    @property
    def offset(self) -> int:
        """Where the tuple starts in a block's metadata."""
        return 0 if self.first else self.ms - PI_SIZE


@dataclass(frozen=True)
class PiCommand:
    """What one command asks: PRINFO, ILBRT, LBAT and LBATM."""

    prinfo: int
    ilbrt: int
    lbat: int
    lbatm: int

    @classmethod
    def from_cdws(cls, cdw12: int, cdw14: int, cdw15: int) -> PiCommand:
        return cls((cdw12 >> PRINFO_SHIFT) & 0xF, cdw14, cdw15 & 0xFFFF, cdw15 >> 16)

    @property
    def pract(self) -> bool:
        return bool(self.prinfo & PRACT)

    @property
    def prchk(self) -> int:
        return self.prinfo & PRCHK_MASK


@dataclass(frozen=True)
class PiError:
    """A check that failed: which field, of which block, expected and got."""

    field: str  # "guard", "application tag" or "reference tag"
    lba: int
    expected: int
    got: int
    #: (SCT, SC) of the failure
    status: tuple[int, int]

    def describe(self) -> str:
        width = 8 if self.field == "reference tag" else 4
        return (
            f"LBA {self.lba}: {self.field} check failed: expected {self.expected:#0{width + 2}x}, "
            f"got {self.got:#0{width + 2}x}"
        )


E2E_GUARD, E2E_APP_TAG, E2E_REF_TAG = st.E2E_GUARD_CHECK, st.E2E_APP_TAG_CHECK, st.E2E_REF_TAG_CHECK


def prinfo_problem(fmt: PiFormat, cmd: PiCommand, slba: int) -> str:
    """Why PRINFO and ILBRT are Invalid Protection Information for Type 1 ("" if not)."""
    if fmt.pi_type == 1 and cmd.prchk & PRCHK_REF and (slba & 0xFFFFFFFF) != cmd.ilbrt:
        return (
            f"Type 1 checks the reference tag: ILBRT {cmd.ilbrt:#010x} is not the low 32 bits "
            f"of SLBA {slba} ({slba & 0xFFFFFFFF:#010x})"
        )
    return ""


def _guard(fmt: PiFormat, data: bytes, meta: bytes) -> int:
    crc = crc16_t10dif(data)
    if not fmt.first and fmt.offset:
        crc = crc16_t10dif(meta[: fmt.offset], crc)
    return crc


def generate(fmt: PiFormat, data: bytes, meta: bytes, cmd: PiCommand) -> bytes:
    """``meta`` (MS bytes per block of ``data``) with a new tuple in every block: the guard
    of the block, LBAT, and the reference tag from ILBRT (counting up but for Type 3)."""
    out = bytearray(meta)
    ref = cmd.ilbrt
    for i in range(len(data) // fmt.lba_size):
        block = data[i * fmt.lba_size : (i + 1) * fmt.lba_size]
        at = i * fmt.ms
        guard = _guard(fmt, block, out[at : at + fmt.ms])
        PI_TUPLE.pack_into(out, at + fmt.offset, guard, cmd.lbat, ref & REF_ESCAPE)
        if fmt.pi_type != 3:
            ref = (ref + 1) & REF_ESCAPE
    return bytes(out)


def read_tuple(fmt: PiFormat, meta: bytes, index: int) -> tuple[int, int, int]:
    """(guard, application tag, reference tag) of block ``index`` of ``meta``."""
    return PI_TUPLE.unpack_from(meta, index * fmt.ms + fmt.offset)


def check(fmt: PiFormat, data: bytes, meta: bytes, cmd: PiCommand, slba: int) -> PiError | None:
    """The first failed check of PRCHK over the blocks of ``data`` (None if none)."""
    ref = cmd.ilbrt
    prchk = cmd.prchk
    for i in range(len(data) // fmt.lba_size):
        guard, app, got_ref = read_tuple(fmt, meta, i)
        escaped = app == APP_ESCAPE and (fmt.pi_type != 3 or got_ref == REF_ESCAPE)
        if not escaped:
            lba = slba + i
            if prchk & PRCHK_GUARD:
                block = data[i * fmt.lba_size : (i + 1) * fmt.lba_size]
                want = _guard(fmt, block, meta[i * fmt.ms : (i + 1) * fmt.ms])
                if guard != want:
                    return PiError("guard", lba, want, guard, E2E_GUARD)
            if prchk & PRCHK_APP and (app & cmd.lbatm) != (cmd.lbat & cmd.lbatm):
                return PiError("application tag", lba, cmd.lbat & cmd.lbatm, app & cmd.lbatm,
                               E2E_APP_TAG)  # fmt: skip
            if prchk & PRCHK_REF and got_ref != ref:
                return PiError("reference tag", lba, ref, got_ref, E2E_REF_TAG)
        if fmt.pi_type != 3:
            ref = (ref + 1) & REF_ESCAPE
    return None


def strip_tuples(fmt: PiFormat, meta: bytes) -> bytes:
    """``meta`` with every tuple's bytes zeroed (to compare what is not PI)."""
    out = bytearray(meta)
    for at in range(fmt.offset, len(out), fmt.ms):
        out[at : at + PI_SIZE] = bytes(PI_SIZE)
    return bytes(out)
