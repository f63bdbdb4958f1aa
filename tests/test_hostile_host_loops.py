"""A host program that makes the device go round (issue 7): with Doorbell Buffer Config
on, a host whose reads (or whose completion queue) land on its own shadow-doorbell or
EventIdx page feeds the device new doorbell values by the device's own DMA. Such a run
must end, within its budget, with ``DeviceBusyError`` (or complete), and the host must
still be able to stop the device with a reset. Driven through the host API only."""

from __future__ import annotations

import pytest

from nvmescope.emulator import ControllerConfig
from nvmescope.host import api as host_api
from nvmescope.host.api import DeviceBusyError
from nvmescope.machine import Machine
from nvmescope.nvme.commands import pack_sqe, unpack_cqe

DB = 0x1000  # SQ y tail doorbell at DB + 8y, CQ y head doorbell at DB + 8y + 4 (DSTRD 0)
CC, CSTS = 0x14, 0x1C
CREATE_IO_SQ, CREATE_IO_CQ, DBBUF = 0x01, 0x05, 0x7C
NVM_WRITE, NVM_READ = 0x01, 0x02
BUDGET = 20_000  # scheduler steps


class Host:
    """Just enough of a host, over ``Machine.api``: an admin queue pair and polling."""

    def __init__(self, **config: int) -> None:
        self.m = Machine(ControllerConfig(dbbuf=True, **config), scenario=None)
        api = self.api = self.m.api
        api.config_write(0x10, 4, 0)
        api.config_write(0x14, 4, 1)  # BAR0 at 0x1_0000_0000
        api.config_write(0x04, 2, 0x0006)  # memory space, bus master
        api.mmio_write32(CC, 0)
        asq, acq = api.alloc(4096), api.alloc(4096)
        api.mmio_write32(0x24, 0x000F_000F)  # 16-entry admin queues
        api.mmio_write64(0x28, asq)
        api.mmio_write64(0x30, acq)
        api.mmio_write32(CC, 0x0046_0001)
        while not api.mmio_read32(CSTS) & 1:
            api.run_for(100_000)
        self.sq = {0: [asq, 16, 0]}  # address, entries, tail
        self.cq = {0: [acq, 16, 0, 1]}  # address, entries, head, phase
        self.cid = 0

    def submit(self, qid: int, opc: int, **fields: int):
        addr, size, tail = self.sq[qid]
        self.cid += 1
        self.api.mem_write(addr + 64 * tail, pack_sqe(opc=opc, cid=self.cid, **fields), "SQE")
        self.sq[qid][2] = (tail + 1) % size
        self.api.mmio_write32(DB + 8 * qid, self.sq[qid][2])
        self.api.run_until_idle(BUDGET)
        addr, size, head, phase = self.cq[qid]
        cqe = unpack_cqe(self.api.mem_read(addr + 16 * head, 16, "CQE"))
        assert cqe.p == phase and (cqe.sct, cqe.sc) == (0, 0), cqe
        self.cq[qid][2] = (head + 1) % size
        self.cq[qid][3] ^= self.cq[qid][2] == 0
        self.api.mmio_write32(DB + 8 * qid + 4, self.cq[qid][2])
        return cqe

    def io_queues(self, sq_ring: int, cq_ring: int) -> None:
        """I/O queue pair 1, two entries each, polled (no interrupts)."""
        self.submit(0, CREATE_IO_CQ, prp1=cq_ring, cdw10=1 | 1 << 16, cdw11=1)
        self.submit(0, CREATE_IO_SQ, prp1=sq_ring, cdw10=1 | 1 << 16, cdw11=1 | 1 << 16)
        self.sq[1], self.cq[1] = [sq_ring, 2, 0], [cq_ring, 2, 0, 1]

    def write_lba(self, lba: int, data: bytes) -> None:
        buf = self.api.alloc(4096)
        self.api.mem_write(buf, data.ljust(512, b"\0"))
        self.submit(1, NVM_WRITE, nsid=1, prp1=buf, cdw10=lba)


def shadow_values(sq1_tail: int, cq1_head: int) -> bytes:
    """An LBA's first bytes as a shadow-doorbell page would hold them (DSTRD 0)."""
    return bytes(8) + sq1_tail.to_bytes(4, "little") + cq1_head.to_bytes(4, "little")


def feeding_its_own_doorbells(**config: int) -> Host:
    """Two reads that land on the shadow page: LBA 0 says "SQ 1 tail 0, CQ 1 head 0",
    LBA 1 says "tail 1, head 1". Each read publishes the other one and consumes the
    completion before: the device goes round with no host work at all."""
    h = Host(**config)
    api = h.api
    h.io_queues(api.alloc(4096), api.alloc(4096))
    h.write_lba(0, shadow_values(0, 0))
    h.write_lba(1, shadow_values(1, 1))  # SQ 1 tail is back at 0, CQ 1 head too
    shadow, eventidx = api.alloc(4096), api.alloc(4096)
    h.submit(0, DBBUF, prp1=shadow, prp2=eventidx)
    sq_ring = h.sq[1][0]
    api.mem_write(sq_ring, pack_sqe(opc=NVM_READ, cid=100, nsid=1, prp1=shadow, cdw10=0))
    api.mem_write(sq_ring + 64, pack_sqe(opc=NVM_READ, cid=101, nsid=1, prp1=shadow, cdw10=1))
    api.mem_write(shadow + 8, (1).to_bytes(4, "little"))  # SQ 1 tail 1, shadow and MMIO
    api.mmio_write32(DB + 8, 1)
    return h


def assert_reset_stops_it(h: Host) -> None:
    api = h.api
    api.mmio_write32(CC, 0)  # CC.EN = 0: a controller reset
    api.run_until_idle(BUDGET)  # ends: the reset stopped the device's work
    assert not api.mmio_read32(CSTS) & 1
    assert h.m.sched.idle  # nothing left to run


def test_reads_landing_on_the_shadow_page_end_with_device_busy_error_within_the_budget():
    h = feeding_its_own_doorbells()
    before = len(h.m.events)
    with pytest.raises(DeviceBusyError, match=f"after {BUDGET} scheduler steps.*going round"):
        h.api.run_until_idle(BUDGET)
    fetched = [e for e in h.m.events[before:] if e.kind == "sqe_fetch"]
    assert len(fetched) > 10  # it did go round: the reads published each other
    assert {e.cid for e in fetched} == {100, 101}
    assert_reset_stops_it(h)


def test_with_zero_latency_the_loop_still_lets_time_pass_and_the_host_reset_it(monkeypatch):
    """Commands configured to take no time: the loop must not hold virtual time still,
    or every later host access (even the reset) waits for device work due "now" that
    never ends (before: 10 million scheduler steps, 2 minutes, then DeviceBusyError)."""
    monkeypatch.setattr(host_api, "DEFAULT_MAX_STEPS", 100_000)  # fail fast if it regresses
    h = feeding_its_own_doorbells(io_latency_ns=0, cmd_latency_ns=0)
    start = h.api.now
    with pytest.raises(DeviceBusyError):
        h.api.run_until_idle(BUDGET)
    assert h.api.now > start  # the device's work takes time
    assert_reset_stops_it(h)


@pytest.mark.parametrize(
    "place",
    [
        "cq-ring-on-shadow",
        "cq-ring-on-eventidx",
        "read-data-on-eventidx",
        "sq-ring-on-shadow",
        "shadow-on-msix-target",
    ],
)
@pytest.mark.parametrize("latency", [5_000, 0])
def test_buffers_overlapping_the_doorbell_pages_end_within_the_budget(place, latency):
    """Whatever lands where: the run completes or ends with DeviceBusyError, the device
    raises nothing else, and a reset stops it."""
    h = Host(io_latency_ns=latency, cmd_latency_ns=latency)
    api = h.api
    shadow, eventidx = api.alloc(4096), api.alloc(4096)
    sq_ring = shadow if place == "sq-ring-on-shadow" else api.alloc(4096)
    cq_ring = {"cq-ring-on-shadow": shadow, "cq-ring-on-eventidx": eventidx}.get(
        place, api.alloc(4096)
    )
    h.io_queues(api.alloc(4096), api.alloc(4096))
    h.write_lba(0, shadow_values(1, 1))
    h.write_lba(1, shadow_values(0, 0))
    h.submit(0, DBBUF, prp1=shadow, prp2=eventidx)
    # queue pair 2 where the hostile placement is (the driver's queue pair 1 stays sound)
    ien = 2 if place == "shadow-on-msix-target" else 0  # interrupts on vector 0
    h.submit(0, CREATE_IO_CQ, prp1=cq_ring, cdw10=2 | 1 << 16, cdw11=1 | ien)
    h.submit(0, CREATE_IO_SQ, prp1=sq_ring, cdw10=2 | 1 << 16, cdw11=1 | 2 << 16)
    target = eventidx if place == "read-data-on-eventidx" else shadow
    for slot, lba in ((0, 0), (1, 1)):
        sqe = pack_sqe(opc=NVM_READ, cid=200 + slot, nsid=1, prp1=target, cdw10=lba)
        if place != "sq-ring-on-shadow":
            api.mem_write(sq_ring + 64 * slot, sqe)
    if place == "shadow-on-msix-target":
        # MSI-X vector 0's message address is the shadow page: each interrupt of CQ 2
        # writes its message data (1) as SQ 2's tail
        table = api.config_read(0x54, 4) & ~7  # the MSI-X capability (at 50h): BIR 0
        api.mmio_write32(table, shadow + 16)  # entry 0: message address (low, high)
        api.mmio_write32(table + 4, 0)
        api.mmio_write32(table + 8, 1)  # message data
        api.mmio_write32(table + 12, 0)  # unmasked
        api.config_write(0x52, 2, 0x8000)  # MSI-X enable
    api.mem_write(shadow + 16, (1).to_bytes(4, "little"))  # SQ 2 tail 1
    api.mmio_write32(DB + 16, 1)
    try:
        api.run_until_idle(BUDGET)
    except DeviceBusyError:
        pass
    assert_reset_stops_it(h)


def test_run_until_on_a_device_that_goes_round_ends_within_its_budget():
    h = feeding_its_own_doorbells()
    with pytest.raises(DeviceBusyError, match=f"no event matched after {BUDGET} scheduler"):
        h.api.run_until(lambda e: e.kind == "irq_msix", max_steps=BUDGET)
    assert_reset_stops_it(h)


def test_step_and_run_until_have_a_budget_when_a_host_task_goes_round_silently():
    """A host task that only sleeps emits no event: ``step()`` used to run it for ever."""
    m = Machine(scenario=None)

    def spin():
        while True:
            yield 1_000

    m.api.spawn(spin())
    with pytest.raises(DeviceBusyError, match="no event after 500 scheduler steps"):
        m.api.step(max_steps=500)
    with pytest.raises(DeviceBusyError, match="no event matched after 500 scheduler steps"):
        m.api.run_until(lambda e: True, max_steps=500)
    quiet = Machine(scenario=None)
    assert quiet.api.step(max_steps=1) is None  # idle: no error, no event


def test_a_prp_list_chained_to_itself_is_walked_only_as_far_as_the_length():
    """The last entry of a full PRP list page may point at the page itself: the device
    reads the list again and again, but never more pages than the transfer needs."""
    h = Host(mdts=0)  # MDTS 0: the device takes up to 16 MiB (32,768 blocks)
    api = h.api
    h.io_queues(api.alloc(4096), api.alloc(4096))
    data = api.alloc(512 * 4096)  # 2 MiB of host memory, 512 pages
    plist = api.alloc(4096)
    entries = [data + 4096 * (1 + i) for i in range(511)] + [plist]  # ... then itself
    api.mem_write(plist, b"".join(e.to_bytes(8, "little") for e in entries))
    before = len(h.m.events)
    h.submit(1, NVM_WRITE, nsid=1, prp1=data, prp2=plist, cdw10=0, cdw12=32_767)
    [walk] = [e for e in h.m.events[before:] if e.kind == "map_prp"]
    assert walk.length == 16 << 20
    # 4,095 pages after PRP1: 8 full passes of 511 entries, then 7 entries
    assert walk.list_pages == [plist] * 9
    assert sum(n for _, n in walk.segments) == walk.length


@pytest.mark.parametrize("units", [1, 4])
def test_the_cq_head_re_read_after_eventidx_takes_at_most_one_round_per_entry(units):
    """With pin-based interrupts the device writes the CQ's EventIdx and reads the
    shadow head again until it stops moving. Only another CPU consuming entries at the
    same time can move it between the two (a racing CPU is modelled on the memory: it
    wakes when four entries wait, then consumes one per look until none is left); the
    device takes at most one round per entry posted, and the run ends. With one unit the
    commands complete one after another, and the rounds are exactly those the racing CPU
    causes; with four, several commands' rounds interleave, each within the bound."""
    h = Host(parallel_units=units)
    api = h.api
    h.io_queues(api.alloc(4096), api.alloc(4096))
    shadow, eventidx = api.alloc(4096), api.alloc(4096)
    h.submit(0, DBBUF, prp1=shadow, prp2=eventidx)
    # queue pair 2: 8 entries, interrupts on (INTx: no MSI-X was enabled)
    sq_ring, cq_ring = api.alloc(4096), api.alloc(4096)
    h.submit(0, CREATE_IO_CQ, prp1=cq_ring, cdw10=2 | 7 << 16, cdw11=1 | 2)
    h.submit(0, CREATE_IO_SQ, prp1=sq_ring, cdw10=2 | 7 << 16, cdw11=1 | 2 << 16)
    cq = h.m.ctrl.cqs[2]
    head_slot = shadow + 2 * 8 + 4
    real_read = h.m.mem.dma_read
    looks: list[int] = []
    awake = [False]

    def racing_cpu(addr: int, length: int) -> bytes | None:
        if addr == head_slot and length == 4:
            looks.append(cq.pending)
            awake[0] = cq.pending >= 4 or (awake[0] and cq.pending > 0)
            head = (cq.head + 1) % cq.size if awake[0] else cq.head
            h.m.mem.write(addr, head.to_bytes(4, "little"))
        return real_read(addr, length)

    h.m.mem.dma_read = racing_cpu
    buf = api.alloc(4096)
    for slot in range(7):
        sqe = pack_sqe(opc=NVM_READ, cid=300 + slot, nsid=1, prp1=buf, cdw10=slot)
        api.mem_write(sq_ring + 64 * slot, sqe)
    api.mem_write(shadow + 16, (7).to_bytes(4, "little"))
    api.mmio_write32(DB + 16, 7)
    api.run_until_idle(BUDGET)
    posts = [e for e in h.m.events if e.kind == "cqe_post" and e.cqid == 2]
    assert len(posts) == 7 and all(e.status == 0 for e in posts)
    # rounds of EventIdx write + shadow read after each completion posted
    rounds, per_post = 0, []
    for e in h.m.events:
        if e.kind == "cqe_post" and e.cqid == 2:
            per_post.append(rounds)
            rounds = 0
        elif e.kind == "dma_write" and e.purpose == "eventidx" and e.addr == eventidx + 2 * 8 + 4:
            rounds += 1
    per_post = per_post[1:] + [rounds]  # the rounds that follow each post
    if units == 1:
        assert max(per_post) == 5  # four entries waited: four moves, then one to see it stop
        assert all(n <= cq.size + 1 for n in per_post)
    per_command: dict[int | None, int] = {}
    for e in h.m.events:
        if e.kind == "dma_write" and e.purpose == "eventidx" and e.addr == eventidx + 2 * 8 + 4:
            per_command[e.cid] = per_command.get(e.cid, 0) + 1
    assert per_command and all(n <= cq.size + 1 for n in per_command.values())
    assert looks and max(looks) < cq.size
    assert not any(e.kind.startswith("ub_") for e in h.m.events)
