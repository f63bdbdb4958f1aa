"""Copy (NVM opcode 19h; NVM Command Set 1.0 section 3.2.2): blocks copied inside a
namespace, from NR + 1 source ranges to consecutive blocks from SDLBA.

The command's data pointer (PRP or SGL, through the controller's data-transfer path)
addresses the Source Range Entries, in descriptor format 0h (32 bytes an entry) or 1h
(40 bytes); the blocks never cross the link. The checks, in the order made:

1. DESFMT (CDW12 11:8) not offered by Identify Controller OCFS: Invalid Field in
   Command.
2. NR + 1 ranges above MSRC + 1: Command Size Limit Exceeded (before any DMA).
3. A format the namespace's protection information format does not take: format 0h
   belongs to 16b Guard (every namespace here is 16b Guard, with protection
   information in use or not), format 1h to 32b and 64b Guard: Invalid Namespace or
   Format, as the NVM Command Set says (QEMU's hw/nvme, since a fix of late 2022,
   answers Invalid Format, Command Specific 0Ah, instead).
4. The entries are read from host memory (a bad PRP or SGL fails as for any command).
5. A range of more blocks than MSSRL, then all of them together more than MCL:
   Command Size Limit Exceeded.
6. A source range, then the destination, beyond the namespace: LBA Out of Range.
7. With DULBE on, a source block deallocated or never written: Deallocated or
   Unwritten Logical Block.

Every range is checked before any block moves, so a failed Copy changes nothing.
Then each source range is read (a ``copy_range`` event, with the media read time of
the timing model) and the blocks of all of them are written from SDLBA, in range
order (a ``copy_write`` event, with the media program time); the sources are all read
before the destination is written, so a destination that overlaps a source gets the
source's old blocks. The protection information fields of the entries (EILBRT / ELBT,
ELBAT, ELBATM) and CDW12's PRINFOR, PRINFOW, STCW, DTYPE, FUA and LR are carried but
not used: no namespace here has protection information to check. A Copy counts in no
SMART counter (no data moves between host and controller). With
``ControllerConfig.copy`` off, 19h is an Invalid Command Opcode (the I/O path checks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import events as ev
from ..nvme import status as st
from ..nvme.copy import COPY_MAX_BLOCKS, COPY_RANGE_SIZES, split_cdw12, unpack_copy_ranges
from ..sim import Task
from .common import LOC_CDW10, LOC_CDW12
from .dulbe import dulbe_problem
from .nsaccess import capacity_problem
from .request import Request
from .timing import media_ns

if TYPE_CHECKING:
    from .context import CommandContext

#: Protection Information Format of a namespace (ELBAF PIF): 16b Guard. No namespace of
#: this emulator has another; a namespace object may say otherwise with a ``pif``.
PIF_16B_GUARD = 0
#: the descriptor format each protection information format takes (0h: 16b Guard; 1h:
#: 32b and 64b Guard)
_FORMAT_FOR_PIF = {0: 0, 1: 1, 2: 1}
#: a problem in the range list (in host memory, not in the SQE): no parameter location
LOC_NONE = 0xFFFF


def nvme_copy(ctrl: CommandContext, req: Request) -> Task:
    """Copy (19h) on the namespace of ``req`` (active: the I/O path checked)."""
    c = req.cmd
    cfg = ctrl.config
    ns = ctrl.namespaces[c.nsid]
    cdw12 = split_cdw12(c.cdw12)
    nr, desfmt = cdw12.nr, cdw12.desfmt
    sdlba = (c.cdw11 << 32) | c.cdw10
    req.lba = sdlba
    if desfmt not in COPY_RANGE_SIZES or not cfg.ocfs >> desfmt & 1:
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_copy_format",
            f"descriptor format {desfmt}h: OCFS {cfg.ocfs:#x} does not offer it", LOC_CDW12 + 1,
        )  # fmt: skip
        return
    if nr > cfg.msrc + 1:
        yield from ctrl.nvme_fail(
            req, st.CMD_SIZE_LIMIT_EXCEEDED, "err_copy_limit",
            f"{nr} source ranges: MSRC {cfg.msrc} allows {cfg.msrc + 1}", LOC_CDW12,
        )  # fmt: skip
        return
    pif = getattr(ns, "pif", PIF_16B_GUARD)
    if _FORMAT_FOR_PIF.get(pif) != desfmt:
        yield from ctrl.nvme_fail(
            req, st.INVALID_NS_OR_FORMAT, "err_copy_format",
            f"descriptor format {desfmt}h on NSID {ns.nsid}, formatted with "
            f"{'16b' if pif == 0 else '32b or 64b'} Guard protection information, which takes "
            f"format {_FORMAT_FOR_PIF.get(pif, 0)}h", LOC_CDW12 + 1,
        )  # fmt: skip
        return
    size = COPY_RANGE_SIZES[desfmt]
    raw = yield from ctrl.nvme_map_and_transfer(req, nr * size, None, "copy ranges")
    if raw is None:
        return
    ranges = unpack_copy_ranges(raw, nr, desfmt)
    problem = None
    for index, (_slba, nlb) in enumerate(ranges):
        if nlb > cfg.mssrl:
            problem = (st.CMD_SIZE_LIMIT_EXCEEDED, "err_copy_limit",
                       f"range {index}: {nlb} blocks, MSSRL allows {cfg.mssrl}", LOC_NONE)  # fmt: skip
            break
    total = sum(nlb for _slba, nlb in ranges)
    mcl = min(cfg.mcl, COPY_MAX_BLOCKS)  # a configuration built past problems() is clamped
    if problem is None and total > mcl:
        problem = (st.CMD_SIZE_LIMIT_EXCEEDED, "err_copy_limit",
                   f"{total} blocks in all, MCL allows {mcl}", LOC_NONE)  # fmt: skip
    for index, (slba, nlb) in enumerate(ranges):
        if problem is None and not ns.in_range(slba, nlb):
            problem = (st.LBA_OUT_OF_RANGE, "err_lba_range",
                       f"range {index}: LBA {slba}+{nlb} beyond the namespace ({ns.nsze} "
                       "blocks)", LOC_NONE)  # fmt: skip
    if problem is None and not ns.in_range(sdlba, total):
        problem = (st.LBA_OUT_OF_RANGE, "err_lba_range",
                   f"destination LBA {sdlba}+{total} beyond the namespace ({ns.nsze} "
                   "blocks)", LOC_CDW10)  # fmt: skip
    if problem is None:  # the destination's new blocks on a thin-provisioned namespace
        problem = capacity_problem(ns, sdlba, total)
    for index, (slba, nlb) in enumerate(ranges):
        if problem is None:
            problem = dulbe_problem(ctrl, ns, slba, nlb, f"range {index}: ")
    if problem is not None:
        yield from ctrl.nvme_fail(req, *problem)
        return
    blocks: list[bytes] = []
    metas: list[bytes] = []
    dlba = sdlba
    for index, (slba, nlb) in enumerate(ranges):
        read_ns = media_ns(cfg.media_read_ns, nlb * ns.lba_size, cfg.parallel_units)
        yield from ctrl.emit_step(
            ev.CopyRange(nsid=ns.nsid, index=index, slba=slba, nlb=nlb, dlba=dlba), req, read_ns
        )
        blocks.append(ns.read_blocks(slba, nlb))
        if ns.meta.ms:  # the blocks' metadata goes with them, as it is (no PI processing)
            metas.append(ns.meta.read(slba, nlb))
        dlba += nlb
    data = b"".join(blocks)
    program_ns = media_ns(cfg.media_program_ns, len(data), cfg.parallel_units)
    yield from ctrl.emit_step(
        ev.CopyWrite(nsid=ns.nsid, sdlba=sdlba, nlb=total, ranges=nr), req, program_ns
    )
    ns.write_blocks(sdlba, data)
    if metas:
        ns.meta.write(sdlba, b"".join(metas))
    ctrl.state.busy_ns += cfg.io_latency_ns
