"""Metadata: the MS bytes a namespace keeps beside each logical block (NVM Command Set
1.0 section 5.2; NVMe 1.4 8.2), and how they travel with a command.

A format with MS > 0 keeps MS bytes of metadata per block. Format NVM MSET chooses
how they move (Identify Namespace FLBAS bit 4):

- MSET 1, extended LBA: interleaved with the data in the data buffer the PRPs or SGL
  describe, each block's data followed by its metadata (LBA size + MS bytes a block);
  MDTS counts the metadata then, as the specification says.
- MSET 0, a separate buffer: MPTR (CDW4-5) is the address of one contiguous buffer of
  NLB x MS bytes (PSDT 00b or 01b). With PSDT 10b MPTR is the address of an SGL segment
  holding one SGL descriptor (a Data Block, a Bit Bucket in a read, or a Segment that
  leads on), walked as the data's SGL is (``sgl.py``; a length that does not match is
  Metadata SGL Length Invalid), when Identify SGLS bit 19 offers it (``-c sgls=0x80001``);
  without that bit PSDT 10b is Invalid Field in Command. The metadata moves in DMAs of its
  own, after the data's, with the purpose "read metadata" / "write metadata" /
  "compare metadata".

With protection information (``protection.py``) and PRACT set on a format whose
metadata is the 8-byte tuple alone (MS 8), no metadata moves at all: the device
inserts the tuple on a write and strips it on a read. MS 16 or 64 with PRACT: the
metadata moves and the device writes its tuple over the host's.

Metadata of a deallocated (or never written) block reads as zeros, with the PI tuple,
if the format has one, all FFh (DLFEAT bit 4 clear: the Guard is not a CRC), which
disables the checks of that block by the escape values. Write Zeroes leaves the
metadata zero, but for the tuple that PRINFO says (PRACT 1: generated from ILBRT and
LBAT; PRACT 0: zeros). Dataset Management's deallocate deallocates the metadata too.

Metadata is kept in RAM per block. A namespace backed by a file keeps no metadata: a
metadata format is refused for it (a configuration problem at start, Invalid Format
from Format NVM).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from .. import events as ev
from ..nvme import status as st
from ..nvme.identify import SGLS_MPTR_SGL
from . import protection as pi
from .common import Problem
from .metastore import MetadataStore
from .request import Request
from .sgl import SGL_DESCRIPTOR_SIZE, nvme_map_sgl, unpack_descriptor
from .timing import transfer_ns

if TYPE_CHECKING:
    from .context import CommandContext

#: CDW0 PSDT 10b: MPTR holds the address of an SGL segment (SGLS bit 19; not offered)
PSDT_SGL_MPTR_SEGMENT = 2
#: SQE byte 1 bits 7:6 (PSDT): the Parameter Error Location of a refused PSDT
LOC_PSDT = 1 | (6 << 8)
#: SQE bytes 16..23 (MPTR)
LOC_MPTR = 16
#: CDW12 PRINFO (bits 29:26) starts at SQE byte 51, bit 2
LOC_CDW12_PRINFO = 51 | (2 << 8)


def pi_command(req: Request) -> pi.PiCommand:
    c = req.cmd
    return pi.PiCommand.from_cdws(c.cdw12, c.cdw14, c.cdw15)


def command_problem(
    store: MetadataStore, req: Request, slba: int, opc: str, psdt: int, sgls: int = 0
) -> Problem | None:
    """What refuses this command before any data moves, because of its metadata or PI
    (``opc``: "read", "write", "compare", "write_zeroes" or "verify")."""
    cmd = pi_command(req)
    moves = opc in ("read", "write", "compare") and store.moves(cmd.pract)
    if (
        moves and not store.extended and psdt == PSDT_SGL_MPTR_SEGMENT
        and not sgls & SGLS_MPTR_SGL
    ):  # fmt: skip
        return (st.INVALID_FIELD, "err_invalid_sgl",
                "PSDT 10b: MPTR as an SGL segment is not offered (Identify SGLS bit 19 is "
                "clear); use PSDT 01b with a contiguous metadata buffer", LOC_PSDT)  # fmt: skip
    fmt = store.pi
    if fmt is None:
        return None  # PRINFO means nothing without protection information
    why = ""
    if opc == "write_zeroes" and cmd.prchk:
        why = f"PRCHK {cmd.prchk:03b}b: Write Zeroes checks nothing (PRCHK must be 000b)"
    elif opc in ("compare", "verify") and cmd.pract:
        why = f"PRACT 1: {'Compare' if opc == 'compare' else 'Verify'} cannot insert or strip PI"
    else:
        why = pi.prinfo_problem(fmt, cmd, slba)
    if why:
        return (st.INVALID_PROTECTION_INFO, "err_invalid_pi", why, LOC_CDW12_PRINFO)
    return None


def nvme_mptr_sgl(
    ctrl: CommandContext, req: Request, length: int, to_host: bool, purpose: str
) -> Generator[Any, None, list[tuple[int | None, int]] | None]:
    """PSDT 10b: read the one SGL descriptor at MPTR and walk it for ``length`` bytes of
    metadata; the (address, length) pieces (None: a Bit Bucket), or None (``req`` failed)."""
    addr = req.cmd.mptr
    raw = ctrl.port.dma_read(addr, SGL_DESCRIPTOR_SIZE)
    if raw is None or len(raw) != SGL_DESCRIPTOR_SIZE:
        yield from ctrl.nvme_fail(
            req, st.DATA_TRANSFER_ERROR, "err_dma",
            f"{purpose}: the SGL segment at MPTR {addr:#x} is not mapped", LOC_MPTR,
        )  # fmt: skip
        return None
    desc = bytes(raw)
    yield from ctrl.emit_step(
        ev.SglSegmentRead(addr=addr, descriptors=[unpack_descriptor(desc)]), req
    )
    smap = nvme_map_sgl(ctrl.port, desc, length, to_host, ctrl.config.sgls, True)
    for seg in smap.reads:
        yield from ctrl.emit_step(
            ev.SglSegmentRead(addr=seg.addr, descriptors=list(seg.descriptors)), req
        )
    if smap.error is not None:
        code = smap.error
        if code == st.DATA_SGL_LENGTH_INVALID:
            code = st.METADATA_SGL_LENGTH_INVALID
        kind = "err_dma" if code == st.DATA_TRANSFER_ERROR else "err_invalid_sgl"
        yield from ctrl.nvme_fail(req, code, kind, f"metadata SGL: {smap.detail}", LOC_MPTR)
        return None
    return list(smap.segments)


def nvme_mptr_transfer(
    ctrl: CommandContext, req: Request, length: int, to_host: bytes | None, purpose: str
) -> Generator[Any, None, bytes | None]:
    """Move ``length`` bytes of metadata through MPTR: one contiguous buffer, or (PSDT 10b)
    what its SGL describes; write ``to_host`` there, or read it (returned). None (``req``
    failed) when it cannot."""
    yield from ctrl.new_step()
    if not ctrl.pci.bus_master:
        yield from ctrl.emit_step(ev.condition("ub_dma_disabled", detail=purpose), req)
        yield from ctrl.nvme_fail(req, st.DATA_TRANSFER_ERROR, "err_dma", "bus master disabled",
                                  LOC_MPTR)  # fmt: skip
        return None
    pieces: list[tuple[int | None, int]] = [(req.cmd.mptr, length)]
    if req.cmd.psdt == PSDT_SGL_MPTR_SEGMENT:
        got_pieces = yield from nvme_mptr_sgl(ctrl, req, length, to_host is not None, purpose)
        if got_pieces is None:
            return None
        pieces = got_pieces
    pieces = ev.dma_pieces(pieces)  # each at most MAX_DATA_EVENT_BYTES
    chunks: list[bytes] = []
    pos = 0
    for addr, n in pieces:
        if addr is None:  # a Bit Bucket: this part of the metadata is thrown away
            pos += n
            continue
        if len(pieces) > 1:
            yield from ctrl.new_step()
        delay = transfer_ns(ctrl.config, n) if ctrl.config.link_mbps > 0 else 0
        if to_host is not None:
            piece = to_host[pos : pos + n]
            ok = ctrl.port.dma_write(addr, piece)
            if ok:
                yield from ctrl.emit_step(
                    ev.DmaWrite(addr=addr, length=n, data=piece, purpose=purpose), req, delay
                )
        else:
            got = ctrl.port.dma_read(addr, n)
            ok = got is not None and len(got) == n
            if ok:
                assert got is not None
                chunks.append(bytes(got))
                yield from ctrl.emit_step(
                    ev.DmaRead(addr=addr, length=n, data=bytes(got), purpose=purpose), req, delay
                )
        if not ok:
            yield from ctrl.nvme_fail(
                req, st.DATA_TRANSFER_ERROR, "err_dma",
                f"{purpose}: MPTR host address {addr:#x} (+{n}) not mapped", LOC_MPTR,
            )  # fmt: skip
            return None
        pos += n
    return to_host if to_host is not None else b"".join(chunks)


def nvme_meta_from_host(
    ctrl: CommandContext, req: Request, store: MetadataStore, buf: bytes, nlb: int, what: str
) -> Generator[Any, None, tuple[bytes, bytes] | None]:
    """(data, metadata) of a command that sent ``buf`` through its data pointer: split
    from it (extended LBA), or read through MPTR; zeros when no metadata moves."""
    cmd = pi_command(req)
    if not store.moves(cmd.pract):
        return buf, bytes(nlb * store.ms)
    if store.extended:
        return store.split(buf)
    meta = yield from nvme_mptr_transfer(ctrl, req, nlb * store.ms, None, f"{what} metadata")
    if meta is None:
        return None
    return buf, meta


def pi_fail(ctrl: CommandContext, req: Request, err: pi.PiError) -> Generator[Any, None, None]:
    kind = {
        "guard": "err_e2e_guard",
        "application tag": "err_e2e_app_tag",
        "reference tag": "err_e2e_ref_tag",
    }[err.field]
    yield from ctrl.nvme_fail(req, err.status, kind, err.describe())


def nvme_write_meta(
    ctrl: CommandContext, req: Request, store: MetadataStore, slba: int, nlb: int, buf: bytes
) -> Generator[Any, None, tuple[bytes, bytes] | None]:
    """A Write's (data, metadata) to keep, from what came through the data pointer:
    metadata from the buffer or MPTR, then PI inserted (PRACT) or checked (PRCHK)."""
    got = yield from nvme_meta_from_host(ctrl, req, store, buf, nlb, "write")
    if got is None:
        return None
    data, meta = got
    if store.pi is not None:
        cmd = pi_command(req)
        if cmd.pract:
            meta = pi.generate(store.pi, data, meta, cmd)
        else:
            err = pi.check(store.pi, data, meta, cmd, slba)
            if err is not None:
                yield from pi_fail(ctrl, req, err)
                return None
    return data, meta


def read_check(
    ctrl: CommandContext, req: Request, store: MetadataStore, slba: int, data: bytes, meta: bytes
) -> Generator[Any, None, bool]:
    """Check the stored PI of the blocks read (Read, Compare, Verify): False (``req``
    failed) when a check PRCHK asks for fails."""
    if store.pi is None:
        return True
    err = pi.check(store.pi, data, meta, pi_command(req), slba)
    if err is None:
        return True
    yield from pi_fail(ctrl, req, err)
    return False


def read_buffer(store: MetadataStore, req: Request, data: bytes, meta: bytes) -> bytes:
    """What a Read's data pointer receives: the data, interleaved with the metadata when
    extended (and not stripped by PRACT)."""
    if store.extended and store.moves(pi_command(req).pract):
        return store.interleave(data, meta)
    return data


def nvme_read_meta_out(
    ctrl: CommandContext, req: Request, store: MetadataStore, meta: bytes
) -> Generator[Any, None, bool]:
    """After a Read's data: its metadata through MPTR when separate (False: failed)."""
    if store.extended or not store.moves(pi_command(req).pract):
        return True
    out = yield from nvme_mptr_transfer(ctrl, req, len(meta), meta, "read metadata")
    return out is not None


def zeroed_meta(store: MetadataStore, req: Request, nlb: int) -> bytes | None:
    """The metadata Write Zeroes leaves: zeros, with the tuple PRACT generates; None when
    it is what a deallocated block reads as anyway (no PI: zeros)."""
    meta = bytes(nlb * store.ms)
    if store.pi is None:
        return None
    cmd = pi_command(req)
    if cmd.pract:
        meta = pi.generate(store.pi, bytes(nlb * store.lba_size), meta, cmd)
    return meta


def compare_meta(store: MetadataStore, host: bytes, media: bytes) -> int | None:
    """The index of the first block whose metadata (the PI tuple left out) differs."""
    if store.pi is not None:
        host, media = pi.strip_tuples(store.pi, host), pi.strip_tuples(store.pi, media)
    if host == media:
        return None
    ms = store.ms
    return next(
        i
        for i in range(len(host) // ms)
        if host[i * ms : (i + 1) * ms] != media[i * ms : (i + 1) * ms]
    )
