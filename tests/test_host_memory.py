"""Host memory: sparse pages, deterministic allocation, CPU events, DMA and MSI routing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as hs

from nvmescope.events import EventBus
from nvmescope.host.memory import (
    ALLOC_BASE,
    MSI_ADDRESS,
    PAGE_SIZE,
    RAM_SIZE,
    HostMemory,
    HostMemoryError,
    InterruptController,
)
from nvmescope.sim import Scheduler


def make() -> tuple[HostMemory, list, InterruptController, Scheduler]:
    sched = Scheduler()
    bus = EventBus(clock=lambda: sched.now)
    seen: list = []
    bus.subscribe(seen.append)
    irq = InterruptController(sched)
    return HostMemory(bus, irq), seen, irq, sched


def test_pages_never_written_read_as_zeros_and_hold_nothing():
    mem, _, _, _ = make()
    assert mem.read(0x1234_5678, 100) == bytes(100)
    assert mem.dma_read(0x1234_5000, 16) == bytes(16)
    assert mem.pages == []


@settings(max_examples=200, deadline=None)
@given(
    addr=hs.integers(min_value=0, max_value=RAM_SIZE - 3 * PAGE_SIZE),
    data=hs.binary(min_size=1, max_size=3 * PAGE_SIZE),
)
def test_dma_write_then_read_round_trips_across_pages(addr, data):
    mem, seen, _, _ = make()
    assert mem.dma_write(addr, data) is True
    assert mem.dma_read(addr, len(data)) == data
    # only the touched pages exist
    first, last = addr // PAGE_SIZE, (addr + len(data) - 1) // PAGE_SIZE
    assert mem.pages == [p * PAGE_SIZE for p in range(first, last + 1)]
    assert seen == []  # DMA emits nothing: the device emits its own events


@settings(max_examples=100, deadline=None)
@given(
    addr=hs.integers(min_value=RAM_SIZE - 64, max_value=2**40),
    length=hs.integers(min_value=65, max_value=8192),
)
def test_dma_beyond_ram_is_a_master_abort(addr, length):
    mem, _, _, _ = make()
    if MSI_ADDRESS <= addr < 0xFF00_0000:
        return
    assert mem.dma_read(addr, length) is None
    assert mem.dma_write(addr, bytes(length)) is False
    assert mem.pages == []


def test_msi_window_write_is_an_interrupt_on_the_vector_in_the_data():
    mem, _, irq, sched = make()
    woke: list[int] = []

    def handler():
        yield irq.signal(5)
        woke.append(sched.now)

    sched.spawn(handler())
    sched.run_one()  # the handler now waits
    assert mem.dma_write(MSI_ADDRESS, (5).to_bytes(4, "little")) is True
    assert irq.count(5) == 1 and irq.count(0) == 0
    while sched.run_one():
        pass
    assert woke == [0]
    assert mem.pages == []  # not a memory write


def test_an_msi_with_nobody_waiting_is_not_lost():
    mem, _, irq, _ = make()
    mem.dma_write(MSI_ADDRESS + 0x100, (2).to_bytes(4, "little"))
    assert irq.signal(2).pending


def test_intx_pin_counts_rising_edges():
    mem, _, irq, _ = make()
    mem.intx(True)
    mem.intx(True)
    mem.intx(False)
    mem.intx(True)
    assert irq.intx_asserted and irq.intx_count == 2


def test_allocation_is_deterministic_page_aligned_and_zeroed():
    a, _, _, _ = make()
    b, _, _, _ = make()
    addrs_a = [a.alloc(n) for n in (1, 4096, 4097, 64 * 1024)]
    addrs_b = [b.alloc(n) for n in (1, 4096, 4097, 64 * 1024)]
    assert addrs_a == addrs_b
    assert addrs_a == [ALLOC_BASE, ALLOC_BASE + 0x1000, ALLOC_BASE + 0x2000, ALLOC_BASE + 0x4000]
    assert all(x % PAGE_SIZE == 0 for x in addrs_a)
    assert a.read(addrs_a[3], 64 * 1024) == bytes(64 * 1024)


def test_allocator_refuses_beyond_ram():
    mem = HostMemory(ram_size=ALLOC_BASE + 2 * PAGE_SIZE)
    mem.alloc_pages(2)
    try:
        mem.alloc_pages(1)
    except HostMemoryError as exc:
        assert "exhausted" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("allocation beyond RAM succeeded")


def test_cpu_accesses_are_host_events_with_the_bytes():
    mem, seen, _, _ = make()
    mem.cpu_write(0x1000_0010, b"\x01\x02\x03", "SQE")
    assert mem.cpu_read(0x1000_0010, 4, "CQE") == b"\x01\x02\x03\x00"
    assert [e.kind for e in seen] == ["mem_write", "mem_read"]
    assert all(e.actor == "host" for e in seen)
    assert seen[0].data == b"\x01\x02\x03" and seen[0].purpose == "SQE"
    assert seen[1].data == b"\x01\x02\x03\x00" and seen[1].addr == 0x1000_0010


def test_cpu_access_outside_ram_does_not_raise():
    mem, seen, _, _ = make()
    mem.cpu_write(RAM_SIZE + 8, b"\xaa" * 8)
    assert mem.cpu_read(RAM_SIZE + 8, 4) == b"\xff" * 4
    assert mem.pages == [] and len(seen) == 2


def test_freed_memory_is_used_again_and_zeroed():
    from nvmescope.host import HostMemory

    mem = HostMemory()
    a = mem.alloc(4096)
    b = mem.alloc(3 * 4096)
    mem.write(a, b"\xaa" * 16)
    mem.free(a)
    mem.free(a)  # twice is harmless
    assert mem.alloc(4096) == a  # the same size comes back from the free list
    assert mem.read(a, 16) == bytes(16)  # zeroed again
    mem.free(b)
    assert mem.alloc(4096) not in (a, b)  # a run of 3 pages is not split
    assert mem.alloc(3 * 4096) == b


def test_a_long_admin_workload_keeps_touching_the_same_pages():
    from nvmescope.machine import Machine

    m = Machine(scenario="bringup")
    m.run()
    before = len(m.mem.allocations)
    for _ in range(50):
        assert m.driver.submit_admin(0x06, cdw10=0x01, data_len=4096).ok
    assert len(m.mem.allocations) - before <= 1
