"""The NVM command set I/O commands (NVM Command Set 1.0 / NVMe 1.4 chapter 6):
Flush, Write, Read, Compare, Write Zeroes, Dataset Management and Verify on the
namespaces (sparse RAM or a sparse file: ``namespace.py``).

- Compare (05h) reads NLB + 1 blocks of host data and compares them with the
  namespace; any byte that differs is Compare Failure (SCT 2h, SC 85h).
- Write Zeroes (08h) moves no data: the blocks read as zeros afterwards. With
  CDW12.DEAC (bit 25) the blocks are deallocated as well (DLFEAT 001b: a
  deallocated block reads as zeros), so their pages are released.
- Dataset Management (09h) reads NR + 1 16-byte ranges (context attributes,
  length in logical blocks, starting LBA) from host memory; with the Deallocate
  attribute (CDW11.AD, bit 2) every range is deallocated. IDR and IDW are hints
  and change nothing. Every range is checked before any is deallocated.
- Copy (19h): ``copy.py``.
- With DULBE on (Feature 05h, where NSFEAT bit 2 offers it), Read, Compare and Verify
  of a deallocated or never written block fail with Deallocated or Unwritten Logical
  Block (``dulbe.py``).
- Verify (0Ch) checks that NLB + 1 blocks can be read, moving no data: here the
  medium never fails, so a Verify of blocks that exist succeeds (it counts as a
  SMART Host Read Command, as Compare and Read do). It is not limited by MDTS.
  With ``ControllerConfig.verify`` off it is an Invalid Command Opcode (and ONCS bit 7
  is clear, as on QEMU 7.2).

Every command checks its namespace (``admin.nsid_problem``: an invalid NSID is
Invalid Namespace or Format, an inactive one Invalid Field in Command), its LBA
range (LBA Out of Range) and, when it moves data, MDTS (Invalid Field in Command).
Flush with NSID FFFFFFFFh flushes every namespace (VWC bits 2:1 say so). A
file-backed namespace whose file system fails (a full disk under a sparse file, an
I/O error) answers with a media error: Write Fault for what writes, Unrecovered Read
Error for what reads.
Metadata (formats with MS > 0: interleaved in the data buffer or through MPTR) and
end-to-end protection information are ``metadata.py``'s and ``protection.py``'s; each
command here calls them at one point. With CC.CSS 111b (admin commands only) and any
other I/O opcode: Invalid Command Opcode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..nvme import registers as r
from ..nvme import status as st
from ..nvme.commands import DSM_AD, DSM_RANGE_SIZE, WRITE_ZEROES_DEAC, unpack_dsm_ranges
from ..sim import Task
from . import metadata as md
from .admin import _max_transfer, io_command_effects
from .common import LOC_CDW10, LOC_CDW12, LOC_OPC, NSID_ALL, Problem, nsid_problem
from .copy import nvme_copy
from .dulbe import dulbe_problem
from .nsaccess import NS_NOT_READY, capacity_problem, io_access_problem
from .request import Request
from .timing import media_ns

if TYPE_CHECKING:
    from .context import CommandContext

OPC_FLUSH, OPC_WRITE, OPC_READ, OPC_COMPARE, OPC_WRITE_ZEROES, OPC_DSM = 0, 1, 2, 5, 8, 9
OPC_VERIFY, OPC_COPY = 0x0C, 0x19
#: CC.CSS 111b: the host enabled no I/O command set, only admin commands
CC_CSS_ADMIN_ONLY = 7
_CC_CSS = r.CC.field("css")


def nvme_io_cmd(ctrl: CommandContext, req: Request) -> Task:
    opc = req.opcode
    if _CC_CSS.get(ctrl.cc) == CC_CSS_ADMIN_ONLY:
        yield from ctrl.nvme_fail(
            req, st.INVALID_OPCODE, "err_invalid_opcode",
            f"I/O opcode {opc:#04x}: CC.CSS 111b enabled admin commands only", LOC_OPC,
        )  # fmt: skip
        return
    if opc not in io_command_effects(ctrl.config):
        yield from ctrl.nvme_fail(
            req, st.INVALID_OPCODE, "err_invalid_opcode",
            f"I/O opcode {opc:#04x} is not supported", LOC_OPC,
        )  # fmt: skip
        return
    nsid = req.cmd.nsid
    try:
        if opc == OPC_FLUSH and nsid == NSID_ALL and ctrl.config.vwc:
            for n in sorted(ctrl.namespaces):  # flush of every namespace
                ctrl.namespaces[n].flush()
            return
        ns = ctrl.namespaces.get(nsid)
        if ns is None:
            yield from ctrl.nvme_fail(req, *nsid_problem(ctrl, nsid))
            return
        problem = io_access_problem(ctrl, req, ns)  # not ready, write protected
        if problem is not None:
            yield from ctrl.nvme_fail(req, *problem, dnr=problem[0] != NS_NOT_READY)
            return
        if opc == OPC_FLUSH:
            ns.flush()
        elif opc == OPC_COMPARE:
            yield from nvme_compare(ctrl, req)
        elif opc == OPC_WRITE_ZEROES:
            yield from nvme_write_zeroes(ctrl, req)
        elif opc == OPC_DSM:
            yield from nvme_dsm(ctrl, req)
        elif opc == OPC_VERIFY:
            yield from nvme_verify(ctrl, req)
        elif opc == OPC_COPY:
            yield from nvme_copy(ctrl, req)
        else:
            yield from nvme_rw(ctrl, req, write=opc == OPC_WRITE)
    except OSError as exc:  # a file-backed namespace's file system failed
        code = st.UNRECOVERED_READ_ERROR if opc in (OPC_READ, OPC_COMPARE) else st.WRITE_FAULT
        yield from ctrl.nvme_fail(
            req, code, "err_media", f"NSID {nsid}: the backing file: {exc.strerror or exc}"
        )


def _lba_args(req: Request) -> tuple[int, int]:
    """SLBA (CDW10-11) and the number of blocks (CDW12 NLB, 0's based) of ``req``."""
    c = req.cmd
    return (c.cdw11 << 32) | c.cdw10, (c.cdw12 & 0xFFFF) + 1


def _range_problem(
    ctrl: CommandContext, req: Request, slba: int, nlb: int, what: str = "", loc: int = LOC_CDW10
) -> Problem | None:
    """LBA Out of Range unless blocks slba .. slba + nlb - 1 exist (for ``nvme_fail``)."""
    ns = ctrl.namespaces.get(req.cmd.nsid)
    if ns is None:  # detached or deleted (Namespace Attachment) while the command ran
        return nsid_problem(ctrl, req.cmd.nsid)
    if ns.in_range(slba, nlb):
        return None
    return (st.LBA_OUT_OF_RANGE, "err_lba_range",
            f"{what}LBA {slba}+{nlb} beyond the namespace ({ns.nsze} blocks)", loc)  # fmt: skip


def _transfer_problem(
    ctrl: CommandContext, req: Request, slba: int, nlb: int, length: int
) -> Problem | None:
    """A command that moves ``length`` bytes: Invalid Field past MDTS, else its LBA range."""
    limit = _max_transfer(ctrl)
    if limit is not None and length > limit:
        return (st.INVALID_FIELD, "err_too_large",
                f"{length} bytes is more than MDTS allows", LOC_CDW12)  # fmt: skip
    return _range_problem(ctrl, req, slba, nlb)


def _meta_problem(ctrl: CommandContext, req: Request, slba: int, opc: str) -> Problem | None:
    """What the namespace's metadata or protection information refuses (for ``nvme_fail``)."""
    store = ctrl.namespaces[req.cmd.nsid].meta
    if not store.ms:
        return None
    return md.command_problem(store, req, slba, opc, req.cmd.psdt, ctrl.config.sgls)


def nvme_verify(ctrl: CommandContext, req: Request) -> Task:
    """Verify (0Ch): NLB + 1 blocks checked on the medium; no data moves."""
    slba, nlb = _lba_args(req)
    req.lba = slba
    problem = _range_problem(ctrl, req, slba, nlb) or _meta_problem(ctrl, req, slba, "verify")
    if problem is None:
        problem = dulbe_problem(ctrl, ctrl.namespaces[req.cmd.nsid], slba, nlb)
    if problem is not None:
        yield from ctrl.nvme_fail(req, *problem)
        return
    ctrl.state.host_read_commands += 1
    ctrl.state.busy_ns += ctrl.config.io_latency_ns
    ns = ctrl.namespaces[req.cmd.nsid]
    if ns.meta.pi is not None and md.pi_command(req).prchk:  # the stored PI is checked
        data = ns.read_blocks(slba, nlb)
        yield from md.read_check(ctrl, req, ns.meta, slba, data, ns.meta.read(slba, nlb))


def nvme_compare(ctrl: CommandContext, req: Request) -> Task:
    """Compare (05h): the host's NLB + 1 blocks against the namespace's."""
    ns = ctrl.namespaces[req.cmd.nsid]
    slba, nlb = _lba_args(req)
    length = nlb * ns.lba_size
    req.lba = slba
    xfer = ns.meta.dptr_length(nlb, ns.meta.extended and md.pi_command(req).pract)
    problem = _transfer_problem(ctrl, req, slba, nlb, xfer) or _meta_problem(
        ctrl, req, slba, "compare"
    )
    if problem is None:
        problem = dulbe_problem(ctrl, ns, slba, nlb)
    if problem is not None:
        yield from ctrl.nvme_fail(req, *problem)
        return
    s = ctrl.state
    s.host_read_commands += 1  # SMART: Host Read Commands counts Compare and Read
    ns.host_read_commands += 1
    media_time = media_ns(ctrl.config.media_read_ns, length, ctrl.config.parallel_units)
    data = yield from ctrl.nvme_map_and_transfer(req, xfer, None, "compare data", media_time)
    if data is None:
        return
    s.busy_ns += ctrl.config.io_latency_ns
    media = ns.read_blocks(slba, nlb)
    if ns.meta.ms:
        got = yield from md.nvme_meta_from_host(ctrl, req, ns.meta, data, nlb, "compare")
        if got is None:
            return
        data, host_meta = got
        media_meta = ns.meta.read(slba, nlb)
        ok = yield from md.read_check(ctrl, req, ns.meta, slba, media, media_meta)
        if not ok:
            return
        if data == media and (block := md.compare_meta(ns.meta, host_meta, media_meta)) is not None:
            yield from ctrl.nvme_fail(
                req, st.COMPARE_FAILURE, "err_compare_failure",
                f"LBA {slba + block}: the metadata differs from the namespace's",
            )  # fmt: skip
            return
    if data == media:
        return
    first = next(i for i in range(length) if data[i] != media[i])
    yield from ctrl.nvme_fail(
        req, st.COMPARE_FAILURE, "err_compare_failure",
        f"LBA {slba + first // ns.lba_size} byte {first % ns.lba_size}: host "
        f"{data[first]:#04x}, namespace {media[first]:#04x}",
    )  # fmt: skip


def nvme_write_zeroes(ctrl: CommandContext, req: Request) -> Task:
    """Write Zeroes (08h): NLB + 1 blocks read as zeros; DEAC deallocates them too."""
    ns = ctrl.namespaces[req.cmd.nsid]
    slba, nlb = _lba_args(req)
    req.lba = slba
    problem = _range_problem(ctrl, req, slba, nlb) or _meta_problem(ctrl, req, slba, "write_zeroes")
    if problem is not None:
        yield from ctrl.nvme_fail(req, *problem)
        return
    ns.zero_blocks(slba, nlb, deallocate=bool(req.cmd.cdw12 & WRITE_ZEROES_DEAC))
    if ns.meta.ms and (meta := md.zeroed_meta(ns.meta, req, nlb)) is not None:
        ns.meta.write(slba, meta)
    ctrl.state.busy_ns += ctrl.config.io_latency_ns


def nvme_dsm(ctrl: CommandContext, req: Request) -> Task:
    """Dataset Management (09h): read the NR + 1 ranges; AD deallocates each of them."""
    c = req.cmd
    ns = ctrl.namespaces[c.nsid]
    nr = (c.cdw10 & 0xFF) + 1
    data = yield from ctrl.nvme_map_and_transfer(req, nr * DSM_RANGE_SIZE, None, "dsm ranges")
    if data is None:
        return
    ranges = unpack_dsm_ranges(data, nr)
    req.lba = ranges[0].slba
    for index, (_cattr, nlb, slba) in enumerate(ranges):
        # the range in error is in the data buffer, not a field of the SQE
        problem = _range_problem(ctrl, req, slba, nlb, f"range {index}: ", 0xFFFF)
        if problem is not None:
            yield from ctrl.nvme_fail(req, *problem)
            return
    if c.cdw11 & DSM_AD:
        for _cattr, nlb, slba in ranges:
            ns.zero_blocks(slba, nlb, deallocate=True)
    ctrl.state.busy_ns += ctrl.config.io_latency_ns


def nvme_rw(ctrl: CommandContext, req: Request, write: bool) -> Task:
    ns = ctrl.namespaces[req.cmd.nsid]
    slba, nlb = _lba_args(req)
    length = nlb * ns.lba_size
    req.lba = slba
    xfer = ns.meta.dptr_length(
        nlb, ns.meta.extended and md.pi_command(req).pract
    )  # with metadata, if extended
    problem = _transfer_problem(ctrl, req, slba, nlb, xfer) or _meta_problem(
        ctrl, req, slba, "write" if write else "read"
    )
    if problem is None and write:
        problem = capacity_problem(ns, slba, nlb)  # thin provisioning: NCAP
    if problem is None and not write:
        problem = dulbe_problem(ctrl, ns, slba, nlb)
    if problem is not None:
        yield from ctrl.nvme_fail(req, *problem)
        return
    s = ctrl.state
    if write:
        s.host_write_commands += 1
        ns.host_write_commands += 1
        media = media_ns(ctrl.config.media_program_ns, length, ctrl.config.parallel_units)
        data = yield from ctrl.nvme_map_and_transfer(req, xfer, None, "write data", media)
        if data is None:
            return
        if ns.meta.ms:
            got = yield from md.nvme_write_meta(ctrl, req, ns.meta, slba, nlb, data)
            if got is None:
                return
            data, meta = got
            ns.meta.write(slba, meta)
        ns.write_blocks(slba, data)
        s.data_units_written += length // 512
        ns.data_units_written += length // 512
    else:
        s.host_read_commands += 1
        ns.host_read_commands += 1
        media = media_ns(ctrl.config.media_read_ns, length, ctrl.config.parallel_units)
        data = ns.read_blocks(slba, nlb)
        if ns.meta.ms:
            meta = ns.meta.read(slba, nlb)
            ok = yield from md.read_check(ctrl, req, ns.meta, slba, data, meta)
            if not ok:
                return
            data = md.read_buffer(ns.meta, req, data, meta)
        out = yield from ctrl.nvme_map_and_transfer(req, xfer, data, "read data", media)
        if out is not None and ns.meta.ms:
            ok = yield from md.nvme_read_meta_out(ctrl, req, ns.meta, meta)
            out = out if ok else None
        if out is not None:
            s.data_units_read += length // 512
            ns.data_units_read += length // 512
    s.busy_ns += ctrl.config.io_latency_ns
