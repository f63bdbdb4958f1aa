"""The ``copy`` scenario: Copy (NVM 19h) and the Deallocated or Unwritten Logical Block
error (DULBE), each step checked against the status the specification requires.

Linux 6.1 sends no Copy of its own (its driver has no Copy); the host here sends them
as ``nvme copy`` would, through the passthrough path. What the device answers depends
on what it advertises, and the scenario reads that first: ONCS bit 8 (Copy), Identify
Namespace MSSRL, MCL and MSRC (the limits), NSFEAT bit 2 (DULBE). Under a
configuration whose limits leave no room (the ``qemu-7.2`` profile: MSSRL = 0, as
QEMU 7.2's namespace reports) every Copy is Command Size Limit Exceeded, and the
scenario expects exactly that.
"""

from __future__ import annotations

from collections.abc import Callable

from nvmescope.nvme import features as f
from nvmescope.nvme import identify as idf
from nvmescope.nvme import status as st

from .driver import ACTION_NS, LinuxDriver, Task
from .scenarios import (
    SUCCESS,
    Scenario,
    ScenarioRun,
    Status,
    _io_ready,
    _pattern,
    check,
    compare,
    expect,
)

#: blocks of each of the two patterns written first, at LBA 0 and LBA 16
COPY_BLOCKS = 8
#: where the first Copy puts its blocks
COPY_DEST = 64
#: a block the scenario never writes (DULBE's unwritten block)
UNWRITTEN_LBA = 200
#: Identify Controller OCFS bit 0: Source Range Entries in descriptor format 0h
OCFS_FORMAT_0H = 1 << 0


def _limits(drv: LinuxDriver) -> tuple[int, int, int, int, int]:
    """MSSRL, MCL, MSRC, NSFEAT and NSZE of namespace 1, from its Identify Namespace."""
    ns = drv.namespaces[1]
    data = idf.IDENTIFY_NAMESPACE.parse(ns.identify)
    return data.mssrl, data.mcl, data.msrc, data.nsfeat, ns.nsze


def copy_scenario(drv: LinuxDriver, run: ScenarioRun) -> Task:
    lba = yield from _io_ready(drv, run)
    if not lba:
        return
    api = drv.api
    oncs = drv._id_field("oncs")
    if not oncs & idf.ONCS_COPY:
        yield from drv.say(
            "no_copy", f"Identify ONCS = {oncs:#x}: bit 8 is clear, this controller has no "
            "Copy. Sent anyway, opcode 19h must be an Invalid Command Opcode. (Run the scenario "
            "with -c copy=true for the rest of the story.)",
        )  # fmt: skip
        comp = yield from drv.nvme_copy(1, 1, COPY_DEST, [(0, 1)], why="Copy without ONCS bit 8")
        yield from expect(drv, run, "Copy to a controller without Copy", comp, st.INVALID_OPCODE)
        return
    mssrl, mcl, msrc, nsfeat, nsze = _limits(drv)
    yield from drv.say(
        "copy_limits", f"ONCS bit 8 says Copy is there; Identify Namespace 1 says how much one "
        f"Copy may take: MSSRL {mssrl} blocks per source range, MCL {mcl} blocks in all, MSRC "
        f"{msrc} (0's based: {msrc + 1} source ranges).",
    )  # fmt: skip

    def within(ranges: list[tuple[int, int]]) -> bool:
        return (
            len(ranges) <= msrc + 1
            and all(n <= mssrl for _, n in ranges)
            and sum(n for _, n in ranges) <= mcl
        )

    ocfs = drv._id_field("ocfs")
    format_0h = bool(ocfs & OCFS_FORMAT_0H)

    def status_for(ranges: list[tuple[int, int]], otherwise: Status = SUCCESS) -> Status:
        if not format_0h:  # the format of every Copy here (no protection information)
            return st.INVALID_FIELD
        return otherwise if within(ranges) else st.CMD_SIZE_LIMIT_EXCEEDED

    size = COPY_BLOCKS * lba
    first, second = _pattern(size, 21), _pattern(size, 42)
    for slba, data in ((0, first), (16, second)):
        buf = api.alloc(size)
        api.mem_write(buf, data, f"write data, {COPY_BLOCKS} blocks at LBA {slba}")
        yield ACTION_NS
        comp = yield from drv.nvme_write(1, 1, slba, COPY_BLOCKS, buf, size, why="copy source")
        yield from expect(drv, run, f"Write {COPY_BLOCKS} blocks at LBA {slba}", comp, SUCCESS)

    if not format_0h:
        yield from drv.say(
            "no_format_0h", f"Identify OCFS = {ocfs:#x}: bit 0 is clear, this controller "
            "takes no Source Range Entries in format 0h, the only format a namespace without "
            "protection information uses (1h is for 64b Guard). Sent anyway, a Copy in format "
            "0h must be Invalid Field in Command. (Run the scenario with -c ocfs=1 for the "
            "Copy part of the story.)",
        )  # fmt: skip
        comp = yield from drv.nvme_copy(1, 1, COPY_DEST, [(0, 1)], why="Copy in format 0h")
        yield from expect(drv, run, "Copy in format 0h without OCFS bit 0", comp, st.INVALID_FIELD)
    else:
        yield from _copy_and_limits(drv, run, lba, first, second, status_for, msrc, mssrl, nsze)
    yield from _dulbe(drv, run, lba, nsfeat, status_for)


def _copy_and_limits(
    drv: LinuxDriver, run: ScenarioRun, lba: int, first: bytes, second: bytes,
    status_for: Callable[..., Status], msrc: int, mssrl: int, nsze: int,
) -> Task:  # fmt: skip
    api = drv.api
    size = COPY_BLOCKS * lba
    # -- one Copy of two ranges, in the order given -------------------------------------------
    ranges = [(16, 4), (0, 4)]
    yield from drv.say(
        "copy", f"Copy two source ranges, LBA 16..19 then LBA 0..3, to LBA {COPY_DEST}: the "
        "command names the destination (SDLBA, CDW10-11) and the number of ranges (NR, "
        "0's based, CDW12); the ranges themselves are 32-byte Source Range Entries in host "
        "memory (descriptor format 0h). The device reads the entries, then the blocks, on "
        "its own side of the link: no data crosses it.",
    )  # fmt: skip
    comp = yield from drv.nvme_copy(1, 1, COPY_DEST, ranges, why="two ranges to LBA 64")
    yield from expect(drv, run, "Copy LBA 16..19 and 0..3 to LBA 64", comp, status_for(ranges))
    if comp.ok:
        rbuf = api.alloc(size)
        comp = yield from drv.nvme_read(1, 1, COPY_DEST, 8, rbuf, size, why="the copy")
        yield from expect(drv, run, f"Read LBA {COPY_DEST}..{COPY_DEST + 7}", comp, SUCCESS)
        want = second[: 4 * lba] + first[: 4 * lba]
        yield from compare(drv, run, "the copy holds LBA 16..19 then LBA 0..3", rbuf, want)

    # -- the limits ---------------------------------------------------------------------------
    if msrc + 2 <= 256:
        many = [(i, 1) for i in range(msrc + 2)]
        comp = yield from drv.nvme_copy(1, 1, COPY_DEST, many, why="one range more than MSRC")
        yield from expect(
            drv, run, f"Copy of {msrc + 2} ranges (MSRC {msrc})", comp, st.CMD_SIZE_LIMIT_EXCEEDED
        )
    if mssrl < 0x10000 and mssrl + 1 <= nsze:
        long = [(0, mssrl + 1)]
        comp = yield from drv.nvme_copy(1, 1, COPY_DEST, long, why="one block more than MSSRL")
        yield from expect(
            drv, run, f"Copy of one range of {mssrl + 1} blocks (MSSRL {mssrl})", comp,
            st.CMD_SIZE_LIMIT_EXCEEDED,
        )  # fmt: skip
    beyond = [(nsze - 1, 2)]
    comp = yield from drv.nvme_copy(1, 1, COPY_DEST, beyond, why="a source past the end")
    yield from expect(
        drv, run, "Copy from the namespace's last block and one past it", comp,
        status_for(beyond, st.LBA_OUT_OF_RANGE),
    )  # fmt: skip
    comp = yield from drv.nvme_copy(1, 1, nsze - 1, [(0, 2)], why="a destination past the end")
    yield from expect(
        drv, run, "Copy to the namespace's last block and one past it", comp,
        status_for([(0, 2)], st.LBA_OUT_OF_RANGE),
    )  # fmt: skip


def _dulbe(
    drv: LinuxDriver, run: ScenarioRun, lba: int, nsfeat: int, status_for: Callable[..., Status]
) -> Task:
    api = drv.api
    size = COPY_BLOCKS * lba
    # -- DULBE ----------------------------------------------------------------------------------
    dulbe = bool(nsfeat & idf.NSFEAT_DULBE)
    yield from drv.say(
        "dulbe", f"Identify Namespace NSFEAT = {nsfeat:#x}: bit 2 "
        f"{'set' if dulbe else 'clear'}, the Deallocated or Unwritten Logical Block error "
        f"{'may' if dulbe else 'may not'} be enabled. Set Features 05h (Error Recovery) for "
        "namespace 1 with DULBE (bit 16): from then on, reading a block that holds no data "
        "is an error instead of zeros.",
    )  # fmt: skip
    comp = yield from drv.set_features(
        f.FID_ERROR_RECOVERY, f.ERROR_RECOVERY_DULBE, nsid=1, why="DULBE on"
    )
    yield from expect(
        drv, run, "Set Features Error Recovery, DULBE", comp, SUCCESS if dulbe else st.INVALID_FIELD
    )
    if not dulbe:
        return
    comp = yield from drv.get_features(f.FID_ERROR_RECOVERY, nsid=1, why="DULBE reads back")
    yield from check(
        drv, run, "Get Features Error Recovery", "get features 05h", "DULBE set",
        f"dw0 {comp.dw0:#x}", comp.ok and bool(comp.dw0 & f.ERROR_RECOVERY_DULBE),
    )  # fmt: skip
    buf = api.alloc(size)
    comp = yield from drv.nvme_read(1, 1, UNWRITTEN_LBA, 1, buf, lba, why="a block never written")
    yield from expect(
        drv, run, f"Read LBA {UNWRITTEN_LBA}, never written", comp, st.DEALLOCATED_OR_UNWRITTEN
    )
    comp = yield from drv.nvme_dsm(1, 1, [(4, 4)], why="deallocate LBA 4..7")
    yield from expect(drv, run, "Deallocate LBA 4..7", comp, SUCCESS)
    comp = yield from drv.nvme_read(1, 1, 0, 8, buf, size, why="LBA 4..7 deallocated")
    yield from expect(
        drv, run, "Read LBA 0..7, 4..7 deallocated", comp, st.DEALLOCATED_OR_UNWRITTEN
    )
    comp = yield from drv.nvme_read(1, 1, 0, 4, buf, 4 * lba, why="the blocks kept")
    yield from expect(drv, run, "Read LBA 0..3, still written", comp, SUCCESS)
    source = [(0, 8)]
    comp = yield from drv.nvme_copy(1, 1, COPY_DEST, source, why="a source deallocated in part")
    yield from expect(
        drv, run, "Copy from LBA 0..7, 4..7 deallocated", comp,
        status_for(source, st.DEALLOCATED_OR_UNWRITTEN),
    )  # fmt: skip
    comp = yield from drv.set_features(f.FID_ERROR_RECOVERY, 0, nsid=1, why="DULBE off")
    yield from expect(drv, run, "Set Features Error Recovery, DULBE off", comp, SUCCESS)
    comp = yield from drv.nvme_read(1, 1, 4, 4, buf, 4 * lba, why="zeros again")
    yield from expect(drv, run, "Read LBA 4..7 with DULBE off", comp, SUCCESS)
    yield from compare(drv, run, "LBA 4..7 read as zeros", buf, bytes(4 * lba))


COPY_SCENARIO = Scenario(
    "copy",
    "Copy source ranges inside the namespace; its limits; DULBE turns unwritten blocks "
    "into an error.",
    "Runs on a controller whose namespace offers DULBE (-c nsfeat=0x14, which the scenario "
    "sets unless you set nsfeat yourself). After the bring-up the host writes two patterns, "
    "copies LBA 16..19 and 0..3 to LBA 64 with one Copy (its Source Range Entries in host "
    "memory, the blocks never crossing the link: copy_range and copy_write events) and "
    "reads the copy back; then one range more than MSRC and one block more than MSSRL "
    "(Command Size Limit Exceeded), a source and a destination past the namespace's end "
    "(LBA Out of Range). Then it enables DULBE with Set Features 05h: a block never written, "
    "blocks deallocated by Dataset Management and a Copy from them are Deallocated or "
    "Unwritten Logical Block; with DULBE off again they read as zeros.",
    copy_scenario,
    knobs={"nsfeat": 0x14},
)
