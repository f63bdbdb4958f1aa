"""A scoreboard of the namespaces: what every block should hold, from the events alone.

A cocotb test bench keeps one beside the device it tests; this one reads a recording
(or a live session) and predicts, from a reference model of the namespaces, what every
completed I/O command should have found, then compares with what the device did:

- a Write that completed successfully sets its blocks to the data the device read
  from the host (its ``dma_read`` events, ``write data``);
- Write Zeroes and a Dataset Management deallocate set blocks to zeros
  (deallocated blocks read as zeros: this device's DLFEAT says so); a Format NVM
  makes every block of its namespace unknown again (its block size may change);
- a Copy that completed successfully sets its destination blocks, from SDLBA on, to
  what its source ranges held before it (its Source Range Entries are the device's
  ``dma_read`` events, ``copy ranges``; every source is read before the destination is
  written, as this device does); a source block the model does not know makes its
  destination block unknown; a Copy that failed changed nothing (this device checks
  every range before it moves a block);
- a Read that completed successfully must have delivered (its ``dma_write`` events,
  ``read data``, with the Bit Buckets of an SGL left out) exactly what the model holds
  for every block the model knows; a Compare must have succeeded exactly when the
  host's data equals the model's.

A block the recording never wrote is unknown, not zero (a file-backed namespace keeps
what an earlier run wrote), and is not checked. The model keeps a digest per block
(Python's hash of its bytes), not the data, and at most :data:`MAX_BLOCKS` blocks: a million-block recording
costs tens of megabytes, not the data's gigabytes. The logical block size is the
command's data length over its block count.

Findings (``data_mismatch`` and ``compare_mismatch``, errors) name the command, the
block and the event that last wrote it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nvmescope.events import Event
from nvmescope.nvme.commands import SQE_SIZE, unpack_sqe
from nvmescope.nvme.copy import COPY_RANGE_SIZES, split_cdw12, unpack_copy_ranges

#: controller states after which the commands in flight are gone
RESET_STATES = frozenset({"reset", "disabled", "fatal", "flr", "conventional_reset", "nssr"})

OPC_WRITE, OPC_READ, OPC_COMPARE, OPC_WRITE_ZEROES, OPC_DSM = 0x01, 0x02, 0x05, 0x08, 0x09
OPC_COPY = 0x19
OPC_FORMAT_NVM = 0x80
#: I/O commands the scoreboard follows
TRACKED = frozenset({OPC_WRITE, OPC_READ, OPC_COMPARE, OPC_WRITE_ZEROES, OPC_DSM, OPC_COPY})
#: the blocks the model keeps at most (about 100 bytes each)
MAX_BLOCKS = 2_000_000
#: a range larger than this is forgotten (unknown again) rather than marked block by block
MAX_ZERO_RANGE = 1 << 16
#: the digest of a block of zeros, whatever its size
ZERO = -1
#: Compare Failure, SCT 2h SC 85h: ``cqe_post.status`` & :data:`SCT_SC` (DNR, M, CRD aside)
COMPARE_FAILURE = 0x285
SCT_SC = 0x7FF
DSM_AD = 1 << 2

Find = Callable[..., None]


@dataclass
class _Io:
    opc: int
    nsid: int
    slba: int
    nlb: int
    cdw11: int
    seq: int
    cdw12: int = 0
    length: int = 0
    segments: list[tuple[int | None, int]] | None = None
    chunks: list[bytes] = field(default_factory=list)


#: the kinds of event the scoreboard looks at
KINDS = frozenset({"sqe_fetch", "ctrl_state", "map_prp", "map_sgl", "dma_read", "dma_write",
                   "cqe_post"})  # fmt: skip
_ZERO_HASH: dict[int, int] = {}
#: the purposes of the device's reads of host memory that carry a command's data
_DATA_OUT = frozenset({"write data", "compare data", "dsm ranges", "copy ranges"})


def _digest(block: bytes) -> int:
    """A block's digest: Python's own hash of the bytes (the model lives for one process,
    never on disk), or :data:`ZERO` for a block of zeros."""
    digest = hash(block)
    zero = _ZERO_HASH.get(len(block))
    if zero is None:
        zero = _ZERO_HASH[len(block)] = hash(bytes(len(block)))
    return ZERO if digest == zero else digest


class Scoreboard:
    """Feed it events in order (:meth:`feed`); it reports through ``find``."""

    def __init__(self) -> None:
        self._pending: dict[tuple[int, int], _Io] = {}
        #: (nsid, lba) -> (digest, seq of the event that set it)
        self.blocks: dict[tuple[int, int], tuple[int, int]] = {}
        self.full = False

    def feed(self, event: Event, find: Find, kind: str | None = None) -> None:
        """Take the next event (``kind``: its kind, if the caller has it already)."""
        kind = kind or event.kind
        if kind not in KINDS:
            return
        e: Any = event
        key = (event.sqid, event.cid)
        if kind == "sqe_fetch":
            self._on_fetch(e)
        elif kind == "ctrl_state" and e.state in RESET_STATES:
            # a command in flight may or may not have reached the medium before the reset
            # dropped its completion: what it was writing is unknown from now on
            for io in self._pending.values():
                self._lost(io)
            self._pending.clear()
        elif key in self._pending:
            io = self._pending[key]
            if kind in ("map_prp", "map_sgl"):
                io.length = e.length
                io.segments = list(e.segments) if kind == "map_sgl" else None
            elif kind == "dma_read" and e.purpose in _DATA_OUT:
                io.chunks.append(bytes(e.data))
            elif kind == "dma_write" and e.purpose == "read data":
                io.chunks.append(bytes(e.data))
            elif kind == "cqe_post":
                del self._pending[key]
                self._on_completion(io, e, find)

    def _on_fetch(self, e: Any) -> None:
        if len(e.data) != SQE_SIZE or e.sqid is None:
            return
        sqe = unpack_sqe(e.data)
        admin = e.sqid == 0
        if (not admin and sqe.opc in TRACKED) or (admin and sqe.opc == OPC_FORMAT_NVM):
            slba = (sqe.cdw11 << 32) | sqe.cdw10
            nlb = (sqe.cdw12 & 0xFFFF) + 1
            self._pending[(e.sqid, sqe.cid)] = _Io(
                sqe.opc if not admin else OPC_FORMAT_NVM, sqe.nsid, slba, nlb, sqe.cdw11, e.seq,
                sqe.cdw12,
            )  # fmt: skip

    # -- completions -------------------------------------------------------------------------
    def _on_completion(self, io: _Io, e: Any, find: Find) -> None:
        status = e.status & SCT_SC
        if io.opc == OPC_FORMAT_NVM:
            if status == 0:
                self._forget(lambda nsid: io.nsid in (nsid, 0xFFFFFFFF))
            return
        if io.opc == OPC_COMPARE:
            self._check_compare(io, status, find)
            return
        if status != 0:
            return
        if io.opc == OPC_WRITE:
            data = b"".join(io.chunks)
            size = len(data) // io.nlb if io.nlb and len(data) % io.nlb == 0 else 0
            for i in range(io.nlb if size else 0):
                self._set(io.nsid, io.slba + i, _digest(data[i * size : (i + 1) * size]), e.seq)
            if not size:  # a length we cannot cut into blocks: what it wrote is unknown
                self._unknown(io.nsid, io.slba, io.nlb)
        elif io.opc == OPC_WRITE_ZEROES:
            self._zero(io.nsid, io.slba, io.nlb, e.seq)
        elif io.opc == OPC_DSM and io.cdw11 & DSM_AD:
            raw = b"".join(io.chunks)
            for off in range(0, len(raw) - 15, 16):
                nlb = int.from_bytes(raw[off + 4 : off + 8], "little")
                slba = int.from_bytes(raw[off + 8 : off + 16], "little")
                self._zero(io.nsid, slba, nlb, e.seq)
        elif io.opc == OPC_READ:
            self._check_read(io, e, find)
        elif io.opc == OPC_COPY:
            self._copy(io, e.seq)

    def _copy_ranges(self, io: _Io) -> list[tuple[int, int]] | None:
        """A Copy's source ranges (slba, nlb) from the entries it read, or None."""
        fields = split_cdw12(io.cdw12)
        raw = b"".join(io.chunks)
        if fields.desfmt not in COPY_RANGE_SIZES:
            return None
        if len(raw) < fields.nr * COPY_RANGE_SIZES[fields.desfmt]:
            return None
        return [tuple(r) for r in unpack_copy_ranges(raw, fields.nr, fields.desfmt)]

    def _copy(self, io: _Io, seq: int) -> None:
        """The destination from SDLBA (``io.slba``) takes what the sources held."""
        ranges = self._copy_ranges(io)
        if ranges is None:  # the entries are not in the recording: the destination is lost
            self._forget(lambda nsid: nsid == io.nsid, io.slba)
            return
        total = sum(nlb for _, nlb in ranges)
        if total > MAX_ZERO_RANGE:
            self._unknown(io.nsid, io.slba, total)
            return
        sources = [self.blocks.get((io.nsid, slba + i)) for slba, nlb in ranges for i in range(nlb)]
        for i, known in enumerate(sources):
            if known is None:
                self.blocks.pop((io.nsid, io.slba + i), None)
            else:
                self._set(io.nsid, io.slba + i, known[0], seq)

    def _check_read(self, io: _Io, e: Any, find: Find) -> None:
        blocks = self._delivered(io)
        if blocks is None:
            return
        for i, got in enumerate(blocks):
            known = self.blocks.get((io.nsid, io.slba + i))
            if got is None or known is None or _digest(got) == known[0]:
                continue
            lba = io.slba + i
            find(
                "error",
                "data_mismatch",
                f"Read of {io.nlb} block(s) at LBA {io.slba} (NSID {io.nsid}) delivered "
                f"LBA {lba} different from what the recording last put there (seq {known[1]}"
                f"{', zeros' if known[0] == ZERO else ''}).",
                related=(io.seq, known[1]),
            )
            return

    def _check_compare(self, io: _Io, status: int, find: Find) -> None:
        if status not in (0, COMPARE_FAILURE):
            return
        data = b"".join(io.chunks)
        size = len(data) // io.nlb if io.nlb and data and len(data) % io.nlb == 0 else 0
        if not size:
            return
        known = [self.blocks.get((io.nsid, io.slba + i)) for i in range(io.nlb)]
        if any(k is None for k in known):
            return  # the model cannot tell
        same = all(
            _digest(data[i * size : (i + 1) * size]) == k[0]
            for i, k in enumerate(known)
            if k is not None
        )
        if same != (status == 0):
            said = "succeeded" if status == 0 else "failed (Compare Failure)"
            truth = "equals" if same else "differs from"
            find(
                "error",
                "compare_mismatch",
                f"Compare of {io.nlb} block(s) at LBA {io.slba} (NSID {io.nsid}) {said}, but "
                f"the host's data {truth} what the recording last put there.",
                related=(io.seq,),
            )

    def _delivered(self, io: _Io) -> list[bytes | None] | None:
        """The blocks a Read delivered, in order (None for a block a Bit Bucket took)."""
        data = b"".join(io.chunks)
        total = io.length or len(data)
        if not io.nlb or total % io.nlb:
            return None
        size = total // io.nlb
        if not io.segments or all(a is not None for a, _ in io.segments):
            if len(data) != total:
                return None
            return [data[i * size : (i + 1) * size] for i in range(io.nlb)]
        # an SGL with Bit Buckets: place what arrived where it belongs
        whole = bytearray(total)
        have = bytearray(total)
        pos = src = 0
        for addr, n in io.segments:
            if addr is not None:
                whole[pos : pos + n] = data[src : src + n]
                have[pos : pos + n] = b"\1" * n
                src += n
            pos += n
        return [
            bytes(whole[i * size : (i + 1) * size])
            if all(have[i * size : (i + 1) * size])
            else None
            for i in range(io.nlb)
        ]

    def _lost(self, io: _Io) -> None:
        if io.opc in (OPC_WRITE, OPC_WRITE_ZEROES):
            self._unknown(io.nsid, io.slba, io.nlb)
        elif io.opc == OPC_DSM:
            self._forget(lambda nsid: nsid == io.nsid)
        elif io.opc == OPC_COPY:
            ranges = self._copy_ranges(io)
            if ranges is None:
                self._forget(lambda nsid: nsid == io.nsid, io.slba)
            else:
                self._unknown(io.nsid, io.slba, sum(n for _, n in ranges))
        elif io.opc == OPC_FORMAT_NVM:
            self._forget(lambda nsid: io.nsid in (nsid, 0xFFFFFFFF))

    # -- the model ----------------------------------------------------------------------------
    def _set(self, nsid: int, lba: int, digest: int, seq: int) -> None:
        if (nsid, lba) not in self.blocks and len(self.blocks) >= MAX_BLOCKS:
            self.full = True
            return
        self.blocks[(nsid, lba)] = (digest, seq)

    def _zero(self, nsid: int, slba: int, nlb: int, seq: int) -> None:
        if nlb > MAX_ZERO_RANGE:
            self._unknown(nsid, slba, nlb)
            return
        for lba in range(slba, slba + nlb):
            self._set(nsid, lba, ZERO, seq)

    def _unknown(self, nsid: int, slba: int, nlb: int) -> None:
        if nlb <= len(self.blocks):
            for lba in range(slba, slba + nlb):
                self.blocks.pop((nsid, lba), None)
        else:
            self._forget(lambda n: n == nsid, slba, slba + nlb)

    def _forget(self, which: Callable[[int], bool], low: int = 0, high: int = 1 << 64) -> None:
        for key in [k for k in self.blocks if which(k[0]) and low <= k[1] < high]:
            del self.blocks[key]


__all__ = ["MAX_BLOCKS", "Scoreboard"]
