"""The x-pci-proxy-dev bridge against a QEMU played by the test: the same messages, the same
fds (a memfd of guest RAM, an irqfd and its resample fd), a clock the test moves."""

from __future__ import annotations

import os
import struct

import pytest
from fakeqemu import ACQ, ASQ, DATA, HOLE, RAM, FakeQemu, boot

from nvmescope.nvme.commands import pack_sqe, unpack_cqe
from nvmescope.qemu import proxy as px
from nvmescope.qemu.memory import GuestMemory

pytestmark = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="needs memfd_create")


@pytest.fixture
def qemu():
    fake = FakeQemu()
    yield fake
    fake.close()


def test_qemu_s_own_probe_sees_one_32_bit_bar_and_nothing_undefined(qemu):
    qemu.sync_sysmem()
    qemu.set_irqfd()
    sizes = qemu.probe()
    assert sizes == {0x10: 16384, 0x14: 0, 0x18: 0, 0x1C: 0, 0x20: 0, 0x24: 0, 0x28: 0}
    assert qemu.bridge.mem.regions == [(0, HOLE[0]), (HOLE[1], RAM - HOLE[1])]
    assert not [k for k in qemu.kinds() if k.startswith(("ub_", "err_"))]
    steps = [e.step for e in qemu.events if e.kind == "host_step"]
    assert steps == ["qemu_probe", "sync_sysmem", "set_irqfd"]


def test_the_first_access_after_qemu_s_reset_is_the_guest_s(qemu):
    qemu.sync_sysmem()
    qemu.probe()
    assert qemu.send(px.Cmd.DEVICE_RESET) == 0
    qemu.cfg_read(0x00, 4)
    kinds = qemu.kinds()
    reset = kinds.index("pci_reset")
    assert kinds[reset + 1] == "ctrl_state" and qemu.events[reset + 1].state == "conventional_reset"
    start = next(i for i, e in enumerate(qemu.events) if getattr(e, "step", "") == "guest_start")
    assert start > reset and kinds[start + 1] == "config_read"


def test_bar_accesses_are_guest_physical_addresses_and_time_follows_the_clock(qemu):
    boot(qemu)
    assert qemu.bar_read(0x08) == 0x00010400  # VS
    assert qemu.bar_read(0x00, 8) == qemu.bridge.ctrl.cap
    qemu.bar_write(0x24, 0x001F001F)
    qemu.bar_write(0x28, ASQ)
    qemu.bar_write(0x30, ACQ)
    qemu.t[0] += 5_000
    enabled_at = qemu.bridge.now()
    qemu.bar_write(0x14, 0x460001)
    delay = qemu.bridge.ctrl.config.rdy_delay_ns
    assert qemu.bridge.timeout() == pytest.approx(delay / 1e9)
    qemu.t[0] += delay - 1
    assert qemu.bar_read(0x1C) & 1 == 0
    qemu.t[0] += 1
    assert qemu.bar_read(0x1C) & 1 == 1
    ready = next(e for e in qemu.events if e.kind == "ctrl_state" and e.state == "ready")
    assert ready.ts == enabled_at + delay
    access = next(e for e in qemu.events if e.kind == "mmio_write" and e.reg == "cc")
    assert access.ts == enabled_at


def test_a_command_reads_and_writes_guest_ram_and_intx_signals_the_irqfd(qemu):
    boot(qemu)
    qemu.bar_write(0x24, 0x001F001F)
    qemu.bar_write(0x28, ASQ)
    qemu.bar_write(0x30, ACQ)
    qemu.bar_write(0x14, 0x460001)
    qemu.t[0] += 1_000_000
    assert qemu.bar_read(0x1C) & 1
    qemu.poke(ASQ, pack_sqe(opc=0x06, cid=7, prp1=DATA, cdw10=0x01))
    qemu.bar_write(0x1000, 1)
    qemu.t[0] += 1_000_000
    qemu.bridge.catch_up()
    cqe = unpack_cqe(qemu.peek(ACQ, 16))
    assert cqe.cid == 7 and cqe.status == 0 and cqe.p == 1
    assert qemu.peek(DATA + 4, 20).rstrip(b" ") == b"NVMESCOPE0001"  # SN
    assert os.eventfd_read(qemu.irqfd) == 1
    assert qemu.bridge.mem.intx_asserted
    # the guest takes the interrupt (EOI): the line is still asserted, so it fires again
    os.eventfd_write(qemu.resample, 1)
    qemu.bridge.mem.resample()
    assert os.eventfd_read(qemu.irqfd) == 1
    # the head doorbell consumes the CQE: the pin drops, a resample is then quiet
    qemu.bar_write(0x1004, 1)
    qemu.bridge.catch_up()
    assert not qemu.bridge.mem.intx_asserted
    os.eventfd_write(qemu.resample, 1)
    qemu.bridge.mem.resample()
    with pytest.raises(BlockingIOError):
        os.eventfd_read(qemu.irqfd)
    kinds = qemu.kinds()
    assert "irq_intx" in kinds and "irq_msix" not in kinds
    fetch = next(e for e in qemu.events if e.kind == "sqe_fetch")
    assert fetch.data == pack_sqe(opc=0x06, cid=7, prp1=DATA, cdw10=0x01)


def test_a_stray_bar_access_is_all_ones_and_noted_once(qemu):
    boot(qemu)
    before = len(qemu.events)
    value = qemu.send(px.Cmd.BAR_READ, px.BAR_ACCESS.pack(0xC000_0000, 0, 4, 1))
    qemu.send(px.Cmd.BAR_READ, px.BAR_ACCESS.pack(0xC000_0000, 0, 4, 1))
    assert value == 0xFFFFFFFF
    new = qemu.events[before:]
    assert [e.step for e in new if e.kind == "host_step"] == ["bar_stray"]
    assert not [e for e in new if e.kind.startswith("mmio")]


def test_guest_memory_is_the_regions_and_nothing_else(qemu):
    qemu.sync_sysmem()
    mem: GuestMemory = qemu.bridge.mem
    assert mem.dma_write(0x1000, b"abc") and qemu.peek(0x1000, 3) == b"abc"
    assert mem.dma_read(HOLE[0] - 2, 4) is None  # runs into the hole
    assert mem.dma_read(HOLE[1], 4) == bytes(4)
    assert mem.dma_read(RAM - 2, 4) is None  # beyond RAM
    assert not mem.dma_write(0xFEE00000, struct.pack("<I", 0x21))  # no MSI through the proxy
    qemu.poke(HOLE[1] + 8, b"xyz")
    assert mem.dma_read(HOLE[1] + 8, 3) == b"xyz"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (px.HEADER.pack(42, 0), "unknown proxy command 42"),
        (px.HEADER.pack(px.Cmd.PCI_CFGREAD, 4) + bytes(4), "PCI_CFGREAD of 4 bytes"),
        (px.HEADER.pack(px.Cmd.BAR_READ, 4096), "BAR_READ of 4096 bytes"),
        (px.HEADER.pack(px.Cmd.RET, 8) + bytes(8), "RET, which only the device sends"),
    ],
)
def test_a_message_that_breaks_the_protocol_is_a_proxy_error(qemu, raw, error):
    qemu.q.sendall(raw)
    with pytest.raises(px.ProxyError, match=error):
        qemu.bridge.serve_one()


def test_qemu_hanging_up_is_proxy_closed(qemu):
    qemu.q.sendall(px.HEADER.pack(px.Cmd.PCI_CFGREAD, 12)[:10])
    qemu.q.close()
    with pytest.raises(px.ProxyClosed):
        qemu.bridge.serve_one()
