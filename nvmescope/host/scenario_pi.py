"""The ``protection`` scenario: Format NVM to a format with protection information, then
what PRACT and PRCHK do, and the errors a wrong tuple earns.

The controller needs metadata (``metadata`` knob, MC 3h and DPC 1Fh) and Format NVM
(``format_nvm``): the scenario sets both unless the user does. LBA format 1 has 512
bytes of data and 8 bytes of metadata; the host formats to it with PI Type 1, the tuple
in the last (here: the only) 8 bytes, and a separate metadata buffer (MSET 0, MPTR).
"""

from __future__ import annotations

from ..nvme import identify as idf
from ..nvme import pi
from ..nvme import status as st
from ..nvme.commands import (
    PRINFO_PRACT,
    PRINFO_PRCHK_APP,
    PRINFO_PRCHK_GUARD,
    PRINFO_PRCHK_MASK,
    PRINFO_PRCHK_REF,
)
from .driver import ACTION_NS, LinuxDriver, Task
from .scenarios import Scenario, ScenarioRun, bring_up, check, compare, expect

#: the LBA format the scenario formats to: 512 bytes of data, 8 of metadata
PI_LBAF = 1
PI_TYPE = 1
FORMAT_CDW10 = PI_LBAF | PI_TYPE << 5  # MSET 0 (MPTR), PI Type 1, PIL 0 (last 8 bytes)
BLOCK = 512
APP_TAG = 0x0A11


def _pattern(size: int, seed: int) -> bytes:
    return bytes((i * 37 + seed + (i >> 9)) & 0xFF for i in range(size))


def protection(drv: LinuxDriver, run: ScenarioRun) -> Task:
    if not (yield from bring_up(drv, run, rows=False)):
        return
    api = drv.api
    ident = yield from drv.identify(0x00, nsid=1, why="what metadata and PI namespace 1 offers")
    data = ident.data if ident.ok and ident.data else bytes(4096)
    ns = idf.IDENTIFY_NAMESPACE.parse(data)
    yield from check(
        drv, run, "MC and DPC", "Identify Namespace", "MC 0x3, DPC 0x1f",
        f"MC {ns.mc:#x}, DPC {ns.dpc:#x}", (ns.mc, ns.dpc) == (0x3, 0x1F),
    )  # fmt: skip
    ms, lbads = ns.lbaf[PI_LBAF].ms, ns.lbaf[PI_LBAF].ds
    yield from drv.say(
        "format_pi", f"LBA format {PI_LBAF} keeps {ms} bytes of metadata beside each "
        f"{1 << lbads}-byte block. Format NVM to it with PI Type 1 (the reference tag is the "
        "LBA, counting up) and MSET 0: the metadata travels in a buffer of its own, whose "
        "address goes in MPTR.",
    )  # fmt: skip
    comp = yield from drv.submit(0, 0x80, nsid=1, cdw10=FORMAT_CDW10, why="PI Type 1")
    yield from expect(drv, run, "Format NVM to LBA format 1, PI Type 1", comp, st.SUCCESS)
    ident = yield from drv.identify(0x00, nsid=1, why="the format in use now")
    ns = idf.IDENTIFY_NAMESPACE.parse(ident.data if ident.ok and ident.data else bytes(4096))
    yield from check(
        drv, run, "FLBAS and DPS after the format", "Identify Namespace",
        f"LBA format {PI_LBAF}, DPS {PI_TYPE:#x}",
        f"LBA format {idf.flbas_index(ns.flbas)}, DPS {ns.dps:#x}",
        (idf.flbas_index(ns.flbas), ns.dps) == (PI_LBAF, PI_TYPE),
    )  # fmt: skip

    # PRACT: the device inserts the tuple, and (MS 8) no metadata moves at all
    nlb, slba = 4, 16
    size = nlb * BLOCK
    payload = _pattern(size, 3)
    buf = api.alloc(size)
    api.mem_write(buf, payload, f"write data, {nlb} blocks at LBA {slba}")
    yield ACTION_NS
    yield from drv.say(
        "pract_write", f"Write {nlb} blocks at LBA {slba} with PRACT: the device computes each "
        "block's guard (CRC-16 T10 DIF of its 512 bytes), takes the application tag from "
        f"LBAT ({APP_TAG:#06x}) and the reference tag from ILBRT ({slba}), one more per block. "
        "The tuple is all the metadata, so nothing moves through MPTR.",
    )  # fmt: skip
    comp = yield from drv.nvme_write(
        1, 1, slba, nlb, buf, size, prinfo=PRINFO_PRACT, ilbrt=slba, lbat=APP_TAG,
        why="PRACT: the device inserts PI",
    )  # fmt: skip
    yield from expect(drv, run, "Write with PRACT", comp, st.SUCCESS)

    meta = api.alloc(nlb * pi.PI_SIZE)
    rbuf = api.alloc(size)
    yield from drv.say(
        "prchk_read", "Read them back without PRACT, checking guard, application tag and "
        "reference tag (PRCHK 111b): the data comes into the data buffer, the 8-byte tuples "
        f"into the metadata buffer at {meta:#x} (MPTR), in a DMA of their own.",
    )  # fmt: skip
    comp = yield from drv.nvme_read(
        1, 1, slba, nlb, rbuf, size, mptr=meta, prinfo=PRINFO_PRCHK_MASK, ilbrt=slba,
        lbat=APP_TAG, lbatm=0xFFFF, why="PRCHK: guard, application tag, reference tag",
    )  # fmt: skip
    yield from expect(drv, run, "Read checking every field", comp, st.SUCCESS)
    yield from compare(drv, run, "read back the data written", rbuf, payload)
    got = api.mem_read(meta, nlb * pi.PI_SIZE, "protection information read")
    yield ACTION_NS
    want = b"".join(
        pi.pack_tuple(pi.crc16_t10dif(payload[i * BLOCK : (i + 1) * BLOCK]), APP_TAG, slba + i)
        for i in range(nlb)
    )
    yield from check(
        drv, run, "the tuples the device inserted", "metadata buffer",
        "guard = CRC of each block, LBAT, LBA", "the same" if got == want else got.hex(),
        got == want,
    )  # fmt: skip
    comp = yield from drv.nvme_read(
        1, 1, slba, nlb, rbuf, size, prinfo=PRINFO_PRACT | PRINFO_PRCHK_MASK, ilbrt=slba,
        lbat=APP_TAG, lbatm=0xFFFF, why="PRACT: the device checks, then strips the PI",
    )  # fmt: skip
    yield from expect(drv, run, "Read with PRACT (PI stripped)", comp, st.SUCCESS)

    # a tuple the host built wrong: its guard
    bad_lba = 24
    block = _pattern(BLOCK, 9)
    good = pi.crc16_t10dif(block)
    api.mem_write(buf, block, f"write data, LBA {bad_lba}")
    api.mem_write(meta, pi.pack_tuple(good ^ 0xFFFF, 0, bad_lba), "a tuple with a wrong guard")
    yield ACTION_NS
    yield from drv.say(
        "guard_error", f"Now a deliberate mistake: write LBA {bad_lba} with a tuple the host "
        f"built, whose guard is {good ^ 0xFFFF:#06x} where the block's CRC is {good:#06x}, "
        "and PRCHK asking for the guard check. The device must refuse it and write nothing.",
    )  # fmt: skip
    comp = yield from drv.nvme_write(
        1, 1, bad_lba, 1, buf, BLOCK, mptr=meta, prinfo=PRINFO_PRCHK_GUARD, ilbrt=bad_lba,
        why="a wrong guard",
    )  # fmt: skip
    yield from expect(drv, run, "Write with a wrong guard", comp, st.E2E_GUARD_CHECK)
    comp = yield from drv.nvme_read(
        1, 1, bad_lba, 1, rbuf, BLOCK, prinfo=PRINFO_PRACT, why="nothing was written (PRACT: "
        "the tuple is stripped, no metadata buffer needed)",
    )  # fmt: skip
    yield from expect(drv, run, f"Read LBA {bad_lba}", comp, st.SUCCESS)
    yield from compare(drv, run, f"LBA {bad_lba} still unwritten (zeros)", rbuf, bytes(BLOCK))

    # a reference tag other than the one expected
    ref_lba = 28
    yield from drv.say(
        "ref_error", f"PRACT without PRCHK takes any ILBRT: write LBA {ref_lba} with "
        "reference tag 5, then read it checking the reference tag against its LBA.",
    )  # fmt: skip
    comp = yield from drv.nvme_write(
        1, 1, ref_lba, 1, buf, BLOCK, prinfo=PRINFO_PRACT, ilbrt=5, why="reference tag 5"
    )
    yield from expect(drv, run, f"Write LBA {ref_lba} with reference tag 5", comp, st.SUCCESS)
    comp = yield from drv.nvme_read(
        1, 1, ref_lba, 1, rbuf, BLOCK, mptr=meta, prinfo=PRINFO_PRCHK_REF, ilbrt=ref_lba,
        why="expect reference tag 28",
    )  # fmt: skip
    yield from expect(drv, run, "Read expecting another reference tag", comp, st.E2E_REF_TAG_CHECK)
    comp = yield from drv.nvme_read(
        1, 1, ref_lba, 1, rbuf, BLOCK, mptr=meta, prinfo=PRINFO_PRCHK_APP, ilbrt=ref_lba,
        lbat=0x1234, lbatm=0xFFFF, why="expect application tag 0x1234",
    )  # fmt: skip
    yield from expect(drv, run, "Read expecting another application tag", comp,
                      st.E2E_APP_TAG_CHECK)  # fmt: skip
    comp = yield from drv.nvme_read(
        1, 1, ref_lba, 1, rbuf, BLOCK, mptr=meta, prinfo=PRINFO_PRCHK_REF, ilbrt=99,
        why="Type 1: ILBRT must be the SLBA's low 32 bits",
    )  # fmt: skip
    yield from expect(drv, run, "Read with ILBRT not the SLBA", comp, st.INVALID_PROTECTION_INFO)
    comp = yield from drv.nvme_read(
        1, 1, 100, 1, rbuf, BLOCK, mptr=meta, prinfo=PRINFO_PRCHK_MASK, ilbrt=100,
        why="an unwritten block: its tuple is all FFh, the escape value",
    )  # fmt: skip
    yield from expect(drv, run, "Read an unwritten block, checking", comp, st.SUCCESS)


PROTECTION = Scenario(
    "protection",
    "Format NVM to PI Type 1; PRACT inserts and strips, PRCHK checks; a wrong guard, "
    "reference tag and application tag.",
    "On a controller with metadata and Format NVM (-c metadata=true -c format_nvm=true, set "
    "unless you set them), the host formats namespace 1 to 512 + 8 bytes with PI Type 1 and "
    "a separate metadata buffer (MPTR). It writes 4 blocks with PRACT (the device inserts "
    "each tuple), reads them back with every check and the tuples into the metadata buffer, "
    "recomputes each guard itself, and reads again with PRACT (stripped). Then the errors: a "
    "tuple with a wrong guard (End-to-end Guard Check Error, nothing written), a reference "
    "tag and an application tag other than expected (SC 84h, 83h), an ILBRT that is not the "
    "SLBA (Invalid Protection Information), and an unwritten block whose all-FFh tuple "
    "passes every check.",
    protection,
    knobs={"metadata": True, "format_nvm": True},
)
