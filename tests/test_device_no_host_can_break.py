"""A device no host can break: hypothesis throws sequences of good I/O, garbage SQEs
(with data pointers into unmapped memory, the MSI range, the queues themselves,
misaligned, PRP lists and SGLs that loop), bad doorbell values, PCI configuration
writes and controller resets at the controller, and checks what the specification
promises after every sequence:

- no exception escapes and every run ends within a bounded number of steps;
- every command fetched gets exactly one CQE, unless its controller was reset or it
  failed fatally (CSTS.CFS) first, or it is an Asynchronous Event Request no event
  has answered yet; none gets two;
- the device never posts into a full completion queue (an entry the host has not
  consumed is never overwritten);
- data a successful Write wrote is what a successful Read reads back (a scoreboard
  of every block, as a cocotb test bench keeps one), and a successful Copy puts
  there what its source ranges held;
- CSTS.CFS is set only where the specification allows it here: a completion the
  device could not write (bus mastering off or its CQ unmapped by a config write);
- after a function level reset and a proper bring-up the device works again.

The host here consumes completions from the device's own ``cqe_post`` events, not
by reading the ring, so a command whose data lands on the CQ ring (which the device
must allow: it is host memory) cannot fool it.

``NVMESCOPE_FUZZ_EXAMPLES`` sets how many sequences to try (60 by default; the
documented long run in docs/testing.md uses 100,000).
"""

from __future__ import annotations

import os
import struct

from emuhost import MSI_LO, Rig, assert_works_after_flr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from nvmescope.emulator import ControllerConfig
from nvmescope.nvme.commands import pack_sgl_descriptor, pack_sqe
from nvmescope.nvme.copy import pack_copy_ranges

BLOCK = 512
QSIZE = 8
LBAS = 64  # the blocks the good I/O uses
EXAMPLES = int(os.environ.get("NVMESCOPE_FUZZ_EXAMPLES", "60"))
STEP_LIMIT = 200_000
#: opcodes a garbage command may not have: they would change the namespace behind the
#: scoreboard's back (I/O) or take the test's queues away (admin); each is tested alone
NVM_WRITERS = {0x01, 0x04, 0x08, 0x09, 0x0D, 0x11, 0x15, 0x19}
ADMIN_QUEUE_OPS = {0x00, 0x01, 0x04, 0x05, 0x80, 0x84}


class Host:
    """A host on the Rig that keeps its own books: the completions the device posted
    (from its events), the blocks it wrote, the commands it sent."""

    def __init__(self) -> None:
        self.rig = Rig(ControllerConfig(sgls=0x1 | 1 << 16), aqsize=QSIZE)
        self.rig.enable()
        self.rig.create_io_pair(qsize=QSIZE)
        self.blocks: dict[int, bytes | None] = {}
        self.seen = len(self.rig.events)  # events looked at (the Rig consumed the set-up's)
        self.cid = 0x100
        self.disturbed = False  # a config write or a reset happened
        self.fetched: dict[tuple[int, int], int] = {}
        self.posted: dict[tuple[int, int], int] = {}
        self.outstanding = {0: 0, 1: 0}
        self.reset_at = 0  # the first event since the last controller reset
        self.writes: dict[tuple[int, int], tuple[int, bytes]] = {}  # sent, not completed
        #: Copies sent, not completed: (sdlba, source ranges)
        self.copies: dict[tuple[int, int], tuple[int, list[tuple[int, int]]]] = {}
        self.aers: set[tuple[int, int]] = set()

    def next_cid(self) -> int:
        self.cid = (self.cid + 1) & 0xFFFF
        return self.cid

    def run(self) -> None:
        rig = self.rig
        for _ in range(STEP_LIMIT):
            if not rig.sched.run_one():
                break
            self._look()
        else:
            raise AssertionError(f"the device did not go idle within {STEP_LIMIT} steps")
        self._look()

    def _look(self) -> None:
        """Check every new event and consume completions as the device posts them."""
        events = self.rig.events
        while self.seen < len(events):
            e = events[self.seen]
            self.seen += 1
            kind = e.kind
            if kind == "sqe_fetch":
                key = (e.sqid, e.cid)
                self.fetched[key] = self.fetched.get(key, 0) + 1
                if e.sqid == 0 and e.data[:1] == b"\x0c":
                    self.aers.add(key)  # completes only when an event comes, if ever
            elif kind == "cqe_post":
                key = (e.sqid, e.cid)
                self.posted[key] = self.posted.get(key, 0) + 1
                written = self.writes.pop(key, None)
                if written is not None and e.status & 0x7FF == 0:
                    # the device wrote the blocks before this completion: a write that
                    # completes later than the host looked (its doorbell came late) counts
                    lba, data = written
                    for i in range(len(data) // BLOCK):
                        self.blocks[lba + i] = data[i * BLOCK : (i + 1) * BLOCK]
                copied = self.copies.pop(key, None)
                if copied is not None and e.status & 0x7FF == 0:
                    self._copied(*copied)
                assert self.posted[key] <= self.fetched.get(key, 0), f"a second CQE for {key}"
                cq = e.cqid
                assert self.outstanding.get(cq, 0) < QSIZE - 1, f"CQ{cq} posted while full"
                self.outstanding[cq] = self.outstanding.get(cq, 0) + 1
            elif kind == "ctrl_state" and "reset" in getattr(e, "detail", ""):
                self.disturbed = True

    def consume(self) -> None:
        """Ring each CQ head doorbell past every entry the device posted."""
        for cq in (0, 1):
            n = self.outstanding.get(cq, 0)
            if not n:
                continue
            head = (self.rig.cq_head[cq] + n) % QSIZE
            self.rig.cq_head[cq] = head
            self.outstanding[cq] = 0
            self.rig.ctrl.mmio_write(0x1000 + 8 * cq + 4, 4, head)
            self.run()

    def send(self, sqid: int, sqe: bytes) -> tuple[int, int]:
        rig = self.rig
        if rig.ctrl.csts & 0x3 != 0x1:
            return (sqid, -1)  # not ready (a reset or CFS): nothing is sent
        tail = rig.sq_tail[sqid]
        if (tail + 1) % QSIZE == self._sq_head(sqid):
            return (sqid, -1)
        rig.submit(sqid, sqe)
        self.run()
        self.consume()
        return (sqid, struct.unpack_from("<H", sqe, 2)[0])

    def _sq_head(self, sqid: int) -> int:
        since = self.rig.events[self.reset_at :]
        heads = [e.new_head for e in since if e.kind == "sqe_fetch" and e.sqid == sqid]
        return heads[-1] if heads else 0

    def status_of(self, key: tuple[int, int]) -> int | None:
        for e in reversed(self.rig.events):
            if e.kind == "cqe_post" and (e.sqid, e.cid) == key:
                return e.status
        return None

    # -- good I/O, kept on the scoreboard --------------------------------------------------
    def write(self, lba: int, nlb: int, seed: int) -> None:
        data = bytes((seed + i * 13) & 0xFF for i in range(nlb * BLOCK))
        buf = self.rig.host.alloc()
        self.rig.host.write(buf, data)
        cid = self.next_cid()
        self.writes[(1, cid)] = (lba, data)  # applied when (if ever) it completes
        self.send(1, pack_sqe(0x01, cid, nsid=1, prp1=buf, cdw10=lba, cdw12=nlb - 1))

    def copy(self, sdlba: int, ranges: list[tuple[int, int]]) -> None:
        total = sum(n for _, n in ranges)
        sdlba = min(sdlba, LBAS - total)
        buf = self.rig.host.alloc()
        self.rig.host.write(buf, pack_copy_ranges(ranges))
        cid = self.next_cid()
        self.copies[(1, cid)] = (sdlba, ranges)  # applied when (if ever) it completes
        self.send(1, pack_sqe(0x19, cid, nsid=1, prp1=buf, cdw10=sdlba, cdw12=len(ranges) - 1))

    def _copied(self, sdlba: int, ranges: list[tuple[int, int]]) -> None:
        """The destination holds what the sources held; unknown (None) if a Write was in
        flight beside the Copy (either may have reached the medium first)."""
        sources = [self.blocks.get(lba, bytes(BLOCK)) for s, n in ranges for lba in range(s, s + n)]
        for i, block in enumerate(sources):
            self.blocks[sdlba + i] = None if self.writes else block

    def read(self, lba: int, nlb: int) -> None:
        buf = self.rig.host.alloc()
        key = self.send(1, pack_sqe(0x02, self.next_cid(), nsid=1, prp1=buf, cdw10=lba,
                                    cdw12=nlb - 1))  # fmt: skip
        if self.status_of(key) != 0:
            return
        got = self.rig.host.read(buf, nlb * BLOCK)
        for i in range(nlb):
            want = self.blocks.get(lba + i, bytes(BLOCK))
            if want is None:  # a Copy raced a Write: either answer is right
                continue
            assert got[i * BLOCK : (i + 1) * BLOCK] == want, f"LBA {lba + i} reads back wrong"

    # -- hostile ----------------------------------------------------------------------------
    def garbage(self, sqid: int, raw: bytes, target: str, psdt: int) -> None:
        sqe = bytearray(raw)
        if sqid and sqe[0] in NVM_WRITERS or not sqid and sqe[0] in ADMIN_QUEUE_OPS:
            sqe[0] = 0x02 if sqid else 0x06
        sqe[1] = (sqe[1] & 0x3F) | (psdt << 6)
        struct.pack_into("<H", sqe, 2, self.next_cid())
        rig = self.rig
        pointers = {
            "unmapped": 0x7000_0000,
            "msi": MSI_LO,
            "sq ring": rig.sq_base[sqid],
            "cq ring": rig.cq_base[1],
            "misaligned": rig.host.alloc() + 3,
            "looping list": self._loop(),
            "as drawn": struct.unpack_from("<Q", sqe, 24)[0],
        }
        struct.pack_into("<Q", sqe, 24, pointers[target])
        if target == "looping list":
            struct.pack_into("<Q", sqe, 32, pointers[target])
        self.send(sqid, bytes(sqe))

    def _loop(self) -> int:
        """A page that is both a PRP list whose last entry points at itself and an SGL
        segment whose last descriptor does."""
        page = self.rig.host.alloc()
        self.rig.host.write(page, struct.pack("<511Q", *([page] * 511)) + struct.pack("<Q", page))
        self.rig.host.write(page, pack_sgl_descriptor(0x2, page, 16))
        return page

    def doorbell(self, which: int, value: int) -> None:
        # values a queue of QSIZE entries cannot hold: the device ignores them (and may
        # raise an Asynchronous Event); a valid stale tail would replay old commands
        offset = 0x1000 + 8 * (which // 2) + 4 * (which % 2)
        self.rig.ctrl.mmio_write(offset, 4, QSIZE + value)
        self.run()

    def config(self, offset: int, value: int) -> None:
        self.disturbed = True
        self.rig.ctrl.config_write(offset, 2, value)
        self.run()

    def reset(self) -> None:
        self.disturbed = True
        rig = self.rig
        rig.ctrl.config_write(0x04, 2, 0x0006)  # memory space and bus master back on first
        rig.ctrl.mmio_write(0x14, 4, 0)
        self.run()
        assert rig.ctrl.csts & 0x1 == 0, f"CSTS {rig.ctrl.csts:#x} after CC.EN = 0"
        rig.sq_tail, rig.cq_head, rig.cq_phase = {0: 0}, {0: 0}, {0: 1}
        self.outstanding = {0: 0, 1: 0}
        self.reset_at = len(rig.events)
        rig.enable()
        self.seen = len(rig.events)
        if rig.ctrl.csts & 0x3 == 0x1:
            rig.create_io_pair(qsize=QSIZE)
        self.seen = len(rig.events)


lbas = hs.integers(0, LBAS - 4)
op = hs.one_of(
    hs.tuples(hs.just("write"), lbas, hs.integers(1, 4), hs.integers(0, 255)),
    hs.tuples(hs.just("read"), lbas, hs.integers(1, 4)),
    hs.tuples(
        hs.just("copy"), lbas, hs.lists(hs.tuples(lbas, hs.integers(1, 4)), min_size=1, max_size=3)
    ),
    hs.tuples(
        hs.just("garbage"),
        hs.sampled_from([0, 1]),
        hs.binary(min_size=64, max_size=64),
        hs.sampled_from(
            ["unmapped", "msi", "sq ring", "cq ring", "misaligned", "looping list", "as drawn"]
        ),
        hs.sampled_from([0, 0, 1, 2, 3]),
    ),
    hs.tuples(hs.just("doorbell"), hs.integers(0, 3), hs.integers(0, 0xFFFF)),
    hs.tuples(hs.just("config"), hs.sampled_from([0x04, 0x3C, 0x44, 0x68]), hs.integers(0, 0xFFFF)),
    hs.tuples(hs.just("reset")),
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(hs.lists(op, max_size=30))
def test_no_sequence_of_host_actions_breaks_the_device(ops):
    host = Host()
    for action, *args in ops:
        getattr(host, action)(*args)
    host.run()
    fatal = bool(host.rig.ctrl.csts & 0x2)
    if fatal:
        assert host.disturbed, "CSTS.CFS with no config write or reset to explain it"
    if not host.disturbed:
        for key, n in host.fetched.items():
            assert n == 1, f"{key} fetched {n} times"
            if key not in host.aers:
                assert host.posted.get(key, 0) == 1, f"{key} fetched and never completed"
    # a function level reset and a fresh bring-up give a device that works
    assert_works_after_flr(host.rig)


def test_the_scoreboard_catches_a_device_that_loses_a_write(monkeypatch):
    # the test must be able to fail: a namespace that drops every other write is caught
    from nvmescope.emulator.namespace import Namespace

    original = Namespace.write_blocks
    calls = []

    def lossy(self, slba, data):
        calls.append(slba)
        if len(calls) % 2 == 0:
            return
        original(self, slba, data)

    monkeypatch.setattr(Namespace, "write_blocks", lossy)
    host = Host()
    host.write(0, 1, 1)
    host.write(1, 1, 2)
    try:
        host.read(0, 2)
    except AssertionError as e:
        assert "reads back wrong" in str(e)
    else:
        raise AssertionError("a lost write went unnoticed")
