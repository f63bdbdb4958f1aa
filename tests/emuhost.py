"""A tiny host for driving the Controller directly in tests.

- :class:`EmuHost` implements HostPort: dict-backed sparse 4 KiB pages that are
  either mapped or not, and an MSI collector (writes to FEE0_0000h..FEEF_FFFFh).
- :class:`Rig` wires an EmuHost, a Scheduler, an EventBus and a Controller, and
  has the few host steps tests need (enable, submit, reap).
"""

from __future__ import annotations

import struct

from nvmescope.emulator import Controller, ControllerConfig
from nvmescope.events import EventBus
from nvmescope.nvme.commands import pack_sqe, unpack_cqe
from nvmescope.nvme.pci import MSIX_CAP_OFFSET
from nvmescope.sim import Scheduler

PAGE = 4096
MSI_LO, MSI_HI = 0xFEE00000, 0xFEEFFFFF


class EmuHost:
    def __init__(self) -> None:
        self.pages: dict[int, bytearray] = {}
        self.msi: list[tuple[int, int]] = []
        self.intx_level = False
        self.intx_changes: list[bool] = []
        self._next = 0x100000

    # -- host CPU side ------------------------------------------------------------
    def map(self, addr: int, length: int) -> None:
        for page in range(addr // PAGE, (addr + length + PAGE - 1) // PAGE):
            self.pages.setdefault(page, bytearray(PAGE))

    def unmap(self, addr: int, length: int) -> None:
        for page in range(addr // PAGE, (addr + length + PAGE - 1) // PAGE):
            self.pages.pop(page, None)

    def alloc(self, npages: int = 1) -> int:
        addr = self._next
        self._next += npages * PAGE
        self.map(addr, npages * PAGE)
        return addr

    def _mapped(self, addr: int, length: int) -> bool:
        if addr < 0 or length < 0:
            return False
        return all(
            p in self.pages for p in range(addr // PAGE, (addr + max(length, 1) - 1) // PAGE + 1)
        )

    def write(self, addr: int, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            page, off = divmod(addr + pos, PAGE)
            n = min(PAGE - off, len(data) - pos)
            self.pages[page][off : off + n] = data[pos : pos + n]
            pos += n

    def read(self, addr: int, length: int) -> bytes:
        out = bytearray()
        pos = 0
        while pos < length:
            page, off = divmod(addr + pos, PAGE)
            n = min(PAGE - off, length - pos)
            out += self.pages[page][off : off + n]
            pos += n
        return bytes(out)

    # -- HostPort --------------------------------------------------------------------
    def dma_read(self, addr: int, length: int) -> bytes | None:
        if not self._mapped(addr, length):
            return None
        return self.read(addr, length)

    def dma_write(self, addr: int, data: bytes) -> bool:
        if MSI_LO <= addr <= MSI_HI and len(data) == 4:
            self.msi.append((addr, struct.unpack("<I", data)[0]))
            return True
        if not self._mapped(addr, len(data)):
            return False
        self.write(addr, data)
        return True

    def intx(self, asserted: bool) -> None:
        self.intx_level = asserted
        self.intx_changes.append(asserted)


class Rig:
    """Controller + host + clock + bus, with the host steps tests need."""

    def __init__(self, config: ControllerConfig | None = None, aqsize: int = 32) -> None:
        self.sched = Scheduler()
        self.bus = EventBus(lambda: self.sched.now)
        self.events: list = []
        self.bus.subscribe(self.events.append)
        self.host = EmuHost()
        self.ctrl = Controller(config or ControllerConfig(), self.bus, self.sched, self.host)
        self.aqsize = aqsize
        self.asq = self.host.alloc()
        self.acq = self.host.alloc()
        self.cq_head: dict[int, int] = {0: 0}
        self.cq_phase: dict[int, int] = {0: 1}
        self.sq_tail: dict[int, int] = {0: 0}
        self.sq_base: dict[int, int] = {0: self.asq}
        self.sq_size: dict[int, int] = {0: aqsize}
        self.cq_base: dict[int, int] = {0: self.acq}
        self.cq_size: dict[int, int] = {0: aqsize}
        self.cid = 0

    def run(self, limit: int = 1_000_000) -> None:
        n = 0
        while self.sched.run_one():
            n += 1
            assert n < limit, "scheduler did not go idle"

    def kinds(self, start: int = 0) -> list[str]:
        return [e.kind for e in self.events[start:]]

    # -- bring-up ---------------------------------------------------------------
    def pci_setup(self, msix: bool = True) -> None:
        c = self.ctrl
        c.config_write(0x10, 4, 0xFEB00000)
        c.config_write(0x14, 4, 0)
        c.config_write(0x04, 2, 0x0006)  # memory space + bus master
        if msix:
            for v in range(4):
                base = c.table_offset + 16 * v
                c.mmio_write(base, 4, MSI_LO)
                c.mmio_write(base + 4, 4, 0)
                c.mmio_write(base + 8, 4, 0x40 + v)
                c.mmio_write(base + 12, 4, 0)  # unmask
            c.config_write(MSIX_CAP_OFFSET + 2, 2, 0x8000)

    def enable(self, msix: bool = True, cc: int = 0x460061) -> None:
        self.pci_setup(msix)
        c = self.ctrl
        c.mmio_write(0x24, 4, ((self.aqsize - 1) << 16) | (self.aqsize - 1))
        c.mmio_write(0x28, 8, self.asq)
        c.mmio_write(0x30, 8, self.acq)
        c.mmio_write(0x14, 4, cc)
        self.run()

    # -- commands -------------------------------------------------------------------
    def next_cid(self) -> int:
        self.cid += 1
        return self.cid

    def submit(self, sqid: int, sqe: bytes, ring: bool = True) -> None:
        tail = self.sq_tail[sqid]
        self.host.write(self.sq_base[sqid] + 64 * tail, sqe)
        self.sq_tail[sqid] = (tail + 1) % self.sq_size[sqid]
        if ring:
            self.ring_sq(sqid)

    def ring_sq(self, sqid: int) -> None:
        self.ctrl.mmio_write(0x1000 + 8 * sqid, 4, self.sq_tail[sqid])

    def admin(self, opc: int, **fields: int):
        cid = fields.pop("cid", None)
        cid = self.next_cid() if cid is None else cid
        self.submit(0, pack_sqe(opc, cid, **fields))
        self.run()
        return self.reap(0)

    def reap(self, cqid: int, ring: bool = True):
        """The next CQE of ``cqid`` whose phase is current, or None."""
        head = self.cq_head[cqid]
        raw = self.host.read(self.cq_base[cqid] + 16 * head, 16)
        cqe = unpack_cqe(raw)
        if cqe.p != self.cq_phase[cqid]:
            return None
        head += 1
        if head == self.cq_size[cqid]:
            head = 0
            self.cq_phase[cqid] ^= 1
        self.cq_head[cqid] = head
        if ring:
            self.ctrl.mmio_write(0x1000 + 8 * cqid + 4, 4, head)
            self.run()
        return cqe

    def create_io_pair(
        self,
        qid: int = 1,
        qsize: int = 16,
        vector: int = 1,
        qprio: int = 0,
        cq_size: int | None = None,
    ) -> None:
        """Create I/O CQ ``qid`` (``cq_size`` entries, else ``qsize``) and I/O SQ ``qid``
        completing to it (``qsize`` entries, QPRIO ``qprio``)."""
        cq = self.host.alloc()
        sq = self.host.alloc()
        cqs = qsize if cq_size is None else cq_size
        r1 = self.admin(0x05, prp1=cq, cdw10=((cqs - 1) << 16) | qid, cdw11=(vector << 16) | 3)
        assert r1.sc == 0 and r1.sct == 0, r1
        cdw11 = (qid << 16) | (qprio << 1) | 1
        r2 = self.admin(0x01, prp1=sq, cdw10=((qsize - 1) << 16) | qid, cdw11=cdw11)
        assert r2.sc == 0 and r2.sct == 0, r2
        self.cq_base[qid], self.cq_size[qid], self.cq_head[qid], self.cq_phase[qid] = (
            cq, cqs, 0, 1,
        )  # fmt: skip
        self.sq_base[qid], self.sq_size[qid], self.sq_tail[qid] = sq, qsize, 0


def io(rig: Rig, opc: int, nsid: int = 1, **fields: int):
    """Submit one command on I/O SQ 1, run it, and return its CQE (on CQ 1) and the
    events that carry its CID."""
    cid = rig.next_cid()
    start = len(rig.events)
    rig.submit(1, pack_sqe(opc, cid, nsid=nsid, **fields))
    rig.run()
    cqe = rig.reap(1)
    assert cqe is not None and cqe.cid == cid
    return cqe, [e for e in rig.events[start:] if getattr(e, "cid", None) == cid]


def buffer(rig: Rig, length: int) -> tuple[int, dict[str, int]]:
    """A page-aligned host buffer of ``length`` bytes and the PRP1/PRP2 that map it."""
    pages = -(-length // PAGE)
    buf = rig.host.alloc(max(pages, 1))
    if pages <= 1:
        return buf, {"prp1": buf}
    if pages == 2:
        return buf, {"prp1": buf, "prp2": buf + PAGE}
    prp_list = rig.host.alloc()
    rig.host.write(
        prp_list, struct.pack(f"<{pages - 1}Q", *(buf + PAGE * i for i in range(1, pages)))
    )
    return buf, {"prp1": buf, "prp2": prp_list}


def assert_works_after_flr(rig: Rig) -> None:
    """After a function level reset and a fresh bring-up, Identify succeeds."""
    rig.ctrl.config_write(0x68, 2, 0x8000)  # PCIe Device Control: Initiate FLR
    rig.run()
    rig.sq_tail, rig.cq_head, rig.cq_phase = {0: 0}, {0: 0}, {0: 1}
    rig.enable()
    assert rig.ctrl.csts & 0x3 == 0x1, f"CSTS {rig.ctrl.csts:#x} after FLR and enable"
    cqe = rig.admin(0x06, prp1=rig.host.alloc(), cdw10=1, cid=0xBEEF)
    assert cqe is not None and (cqe.cid, cqe.sct, cqe.sc) == (0xBEEF, 0, 0), cqe
