"""Event streams built by hand, the way the host and the device would emit them."""

from __future__ import annotations

from nvmescope import events as ev
from nvmescope.nvme.commands import pack_sqe


class Rig:
    """Builds event streams the way the host and the device would emit them."""

    def __init__(self) -> None:
        self.t = 0
        self.events: list[ev.Event] = []
        self.bus = ev.EventBus(lambda: self.t)
        self.bus.subscribe(self.events.append)
        self.sq: dict[int, dict] = {}
        self.cq: dict[int, dict] = {}

    def emit(self, event: ev.Event, dt: int = 100, ctx: tuple[int, int] | None = None) -> ev.Event:
        self.t += dt
        self.bus.context = ctx
        out = self.bus.emit(event)
        self.bus.context = None
        return out

    def enable(self, size: int = 8, asq: int = 0x10000, acq: int = 0x20000) -> None:
        aqa = ((size - 1) << 16) | (size - 1)
        self.emit(ev.MmioWrite(addr=0x24, size=4, value=aqa, reg="aqa", new=aqa))
        self.emit(ev.MmioWrite(addr=0x28, size=8, value=asq, reg="asq", new=asq))
        self.emit(ev.MmioWrite(addr=0x30, size=8, value=acq, reg="acq", new=acq))
        self.emit(ev.MmioWrite(addr=0x14, size=4, value=0x460001, reg="cc", old=0, new=0x460001))
        self.sq[0] = {"addr": asq, "size": size, "tail": 0, "head": 0, "cqid": 0}
        self.cq[0] = {"addr": acq, "size": size, "tail": 0, "head": 0, "phase": 1, "vector": 0}

    def create_queues(self, qid: int, size: int, sq_addr: int, cq_addr: int, vector: int) -> None:
        self.emit(ev.QueueCreated(qtype="cq", qid=qid, addr=cq_addr, qsize=size, vector=vector))
        self.emit(ev.QueueCreated(qtype="sq", qid=qid, addr=sq_addr, qsize=size, cqid=qid))
        self.sq[qid] = {"addr": sq_addr, "size": size, "tail": 0, "head": 0, "cqid": qid}
        self.cq[qid] = {
            "addr": cq_addr,
            "size": size,
            "tail": 0,
            "head": 0,
            "phase": 1,
            "vector": vector,
        }

    def write_sqe(
        self, sqid: int, cid: int, opc: int, nsid: int = 1, slot: int | None = None
    ) -> int:
        q = self.sq[sqid]
        slot = q["tail"] if slot is None else slot
        self.emit(
            ev.MemWrite(
                addr=q["addr"] + 64 * slot, data=pack_sqe(opc, cid, nsid=nsid), purpose="sqe"
            )
        )
        return slot

    def ring_sq(self, sqid: int, count: int = 1, new_tail: int | None = None) -> None:
        q = self.sq[sqid]
        old = q["tail"]
        new = (old + count) % q["size"] if new_tail is None else new_tail
        self.emit(ev.DoorbellSq(sqid=sqid, addr=0x1000 + 8 * sqid, old_tail=old, new_tail=new))
        q["tail"] = new

    def submit(self, sqid: int, cid: int, opc: int, nsid: int = 1) -> None:
        self.write_sqe(sqid, cid, opc, nsid)
        self.ring_sq(sqid)

    def fetch(self, sqid: int, cid: int, opc: int, nsid: int = 1) -> None:
        q = self.sq[sqid]
        slot = q["head"]
        q["head"] = (slot + 1) % q["size"]
        data = pack_sqe(opc, cid, nsid=nsid)
        self.emit(
            ev.SqeFetch(
                sqid=sqid,
                cid=cid,
                slot=slot,
                addr=q["addr"] + 64 * slot,
                data=data,
                new_head=q["head"],
            )
        )

    def work(
        self, sqid: int, cid: int, opc: int, opname: str, status: int = 0, dt: int = 1000
    ) -> None:
        ctx = (sqid, cid)
        self.emit(ev.CmdStart(opcode=opc, opname=opname, nsid=1, admin=sqid == 0), ctx=ctx)
        self.emit(ev.DmaWrite(addr=0x80000, length=4096, purpose="data"), dt=dt, ctx=ctx)
        self.emit(ev.CmdFinish(opcode=opc, opname=opname, status=status), ctx=ctx)

    def post(self, sqid: int, cid: int, status: int = 0, irq: bool = True) -> None:
        cqid = self.sq[sqid]["cqid"]
        q = self.cq[cqid]
        slot = q["tail"]
        q["tail"] = (slot + 1) % q["size"]
        self.emit(
            ev.CqePost(
                cqid=cqid, slot=slot, addr=q["addr"] + 16 * slot, phase=q["phase"], status=status
            ),
            ctx=(sqid, cid),
        )
        if q["tail"] == 0:
            q["phase"] ^= 1
        if irq:
            self.emit(ev.IrqMsix(vector=q["vector"]))

    def reap(self, cqid: int, count: int = 1) -> None:
        q = self.cq[cqid]
        old = q["head"]
        q["head"] = (old + count) % q["size"]
        self.emit(
            ev.DoorbellCq(cqid=cqid, addr=0x1004 + 8 * cqid, old_head=old, new_head=q["head"])
        )

    def command(self, sqid: int, cid: int, opc: int, opname: str, status: int = 0) -> None:
        """A whole command: SQE write, doorbell, fetch, work, CQE, interrupt, CQ doorbell."""
        self.submit(sqid, cid, opc)
        self.fetch(sqid, cid, opc)
        self.work(sqid, cid, opc, opname, status)
        self.post(sqid, cid, status)
        self.reap(self.sq[sqid]["cqid"])
