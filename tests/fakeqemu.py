"""QEMU's side of an x-pci-proxy-dev socket, played by a test: the messages QEMU 7.2 sends,
a memfd of guest RAM around the legacy hole, an irqfd and its resample fd, and a clock
the test moves. Used by tests/test_qemu_bridge.py and tests/test_linux_run_parts.py."""

from __future__ import annotations

import os
import socket

from nvmescope.emulator import ControllerConfig
from nvmescope.nvme.commands import pack_sqe
from nvmescope.qemu import proxy as px
from nvmescope.qemu.bridge import ProxyBridge

RAM = 4 << 20  # 4 MiB of guest RAM, in two regions around a hole, as QEMU maps it
HOLE = (0xA0000, 0xC0000)
BAR0 = 0xFEB00000
ASQ, ACQ, DATA = 0x100000, 0x101000, 0x102000


class FakeQemu:
    """QEMU's side of the socket, and the guest's RAM."""

    def __init__(self, config: ControllerConfig | None = None, subscribers: tuple = ()) -> None:
        self.q, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.t = [1_000]
        self.events: list = []
        self.bridge = ProxyBridge(
            config or ControllerConfig(msix=False, bar0_64bit=False),
            b,
            subscribers=(*subscribers, self.events.append),
            clock=lambda: self.t[0],
        )
        self.ram_fd = os.memfd_create("guest-ram")
        os.ftruncate(self.ram_fd, RAM)
        self.irqfd = os.eventfd(0, os.EFD_NONBLOCK)
        self.resample = os.eventfd(0, os.EFD_NONBLOCK)

    def close(self) -> None:
        self.bridge.close()
        self.q.close()
        for fd in (self.ram_fd, self.irqfd, self.resample):
            os.close(fd)

    # -- messages -------------------------------------------------------------------------
    def send(self, cmd: px.Cmd, payload: bytes = b"", fds: list[int] | None = None) -> int | None:
        px.send_message(self.q, cmd, payload, fds)
        self.bridge.serve_one()
        return px.recv_ret(self.q) if cmd in px.NEEDS_REPLY else None

    def sync_sysmem(self) -> None:
        gpas = [0, HOLE[1]] + [0] * 6
        sizes = [HOLE[0], RAM - HOLE[1]] + [0] * 6
        offsets = [0, HOLE[1]] + [0] * 6
        fds = [os.dup(self.ram_fd), os.dup(self.ram_fd)]
        self.send(px.Cmd.SYNC_SYSMEM, px.SYNC_SYSMEM.pack(*gpas, *sizes, *offsets), fds)

    def set_irqfd(self) -> None:
        self.send(px.Cmd.SET_IRQFD, b"", [os.dup(self.irqfd), os.dup(self.resample)])

    def cfg_read(self, addr: int, size: int) -> int:
        return self.send(px.Cmd.PCI_CFGREAD, px.PCI_CONF.pack(addr, 0, size))

    def cfg_write(self, addr: int, size: int, value: int) -> None:
        assert self.send(px.Cmd.PCI_CFGWRITE, px.PCI_CONF.pack(addr, value, size)) == 0

    def bar_read(self, offset: int, size: int = 4) -> int:
        return self.send(px.Cmd.BAR_READ, px.BAR_ACCESS.pack(BAR0 + offset, 0, size, 1))

    def bar_write(self, offset: int, value: int, size: int = 4) -> None:
        self.send(px.Cmd.BAR_WRITE, px.BAR_ACCESS.pack(BAR0 + offset, value, size, 1))

    def probe(self) -> dict[int, int]:
        """QEMU 7.2's probe_pci_info: IDs, then 10h..28h each sized as a BAR."""
        for addr in (0x00, 0x02, 0x0A, 0x2E):
            self.cfg_read(addr, 2)
        sizes = {}
        for i in range(7):
            addr = 0x10 + 4 * i
            orig = self.cfg_read(addr, 4)
            self.cfg_write(addr, 4, 0xFFFFFFFF)
            mask = self.cfg_read(addr, 4)
            self.cfg_write(addr, 4, orig)
            sizes[addr] = (~(mask & 0xFFFFFFF0) + 1) & 0xFFFFFFFF
        return sizes

    # -- guest RAM ------------------------------------------------------------------------
    def poke(self, addr: int, data: bytes) -> None:
        os.pwrite(self.ram_fd, data, addr)

    def peek(self, addr: int, n: int) -> bytes:
        return os.pread(self.ram_fd, n, addr)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


def boot(q: FakeQemu) -> None:
    q.sync_sysmem()
    q.set_irqfd()
    q.probe()
    assert q.send(px.Cmd.DEVICE_RESET) == 0
    q.cfg_write(0x10, 4, BAR0)
    q.cfg_write(0x04, 2, 0x6)


def identify(q: FakeQemu) -> None:
    """The admin queues, CC.EN, then one Identify Controller and its CQ head doorbell."""
    q.bar_write(0x24, 0x001F001F)
    q.bar_write(0x28, ASQ)
    q.bar_write(0x30, ACQ)
    q.bar_write(0x14, 0x460001)
    q.t[0] += 1_000_000
    assert q.bar_read(0x1C) & 1
    q.poke(ASQ, pack_sqe(opc=0x06, cid=7, prp1=DATA, cdw10=0x01))
    q.bar_write(0x1000, 1)
    q.t[0] += 1_000_000
    q.bridge.catch_up()
    q.bar_write(0x1004, 1)
    q.t[0] += 1_000
    q.bridge.catch_up()
