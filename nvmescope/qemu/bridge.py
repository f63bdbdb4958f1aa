"""The x-pci-proxy-dev server: a fresh nvmescope controller behind QEMU's proxy.

One :class:`ProxyBridge` owns a controller, its scheduler and event bus, and the
device's :class:`~nvmescope.qemu.memory.GuestMemory`. It answers each message of
:mod:`nvmescope.qemu.proxy`:

- PCI_CFGREAD / PCI_CFGWRITE: ``Controller.config_read`` / ``config_write`` (the
  ``config_*`` events);
- BAR_READ / BAR_WRITE: the guest-physical address minus the BAR0 address the host
  programmed, then ``Controller.mmio_read`` / ``mmio_write``; an access that falls in no
  BAR of the function (QEMU would not send one) is answered with all ones, noted once;
- DEVICE_RESET: ``Controller.reset("conventional")`` (a ``pci_reset`` event);
- SYNC_SYSMEM, SET_IRQFD: the guest's RAM and INTx (``host_step`` notes, not inputs).

Time: the controller's virtual clock follows the wall clock (``time.monotonic_ns``
from the bridge's start). Before each access the bridge runs all device work due by
now (``Scheduler.advance_to``), so the access is stamped with its wall-clock instant and
comes after that work; between accesses :meth:`ProxyBridge.timeout` says when the next
work is due and the caller wakes up then (CC.EN to CSTS.RDY takes ``rdy_delay_ns`` of
real time). A replay reproduces the order: it re-performs each access at its recorded
instant after the work due by then.

What QEMU does before the guest runs is marked: a ``host_step`` ``qemu_probe`` opens
the recording (QEMU realizing the proxy maps RAM, hands over the irqfds and probes the
function: its IDs, then each of 10h..28h sized as a BAR), and a ``host_step``
``guest_start`` comes before the first access after QEMU's first system reset: from
there on every access is the guest's (its firmware, then Linux).
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Callable

from nvmescope.emulator import Controller, ControllerConfig
from nvmescope.events import Event, EventBus, HostStep
from nvmescope.sim import Scheduler

from . import proxy as px
from .memory import GuestMemory

#: device work run at most per catch-up (a device that keeps itself busy still lets the
#: bridge answer QEMU)
MAX_STEPS_PER_CATCH_UP = 100_000


class ProxyBridge:
    """Serves one x-pci-proxy-dev socket with a fresh controller of ``config``."""

    def __init__(
        self,
        config: ControllerConfig,
        sock: socket.socket,
        *,
        subscribers: tuple[Callable[[Event], None], ...] = (),
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.config = config
        self.sock = sock
        self.sched = Scheduler()
        self.bus = EventBus(clock=lambda: self.sched.now)
        for fn in subscribers:
            self.bus.subscribe(fn)
        self.mem = GuestMemory()
        self.ctrl = Controller(config, self.bus, self.sched, self.mem)
        self._clock = clock
        self._t0 = clock()
        #: messages served, by command name
        self.counts: Counter[str] = Counter()
        self.reset_seen = False
        self.guest_started = False
        self._stray_noted = False
        self.note(
            "qemu_probe",
            "QEMU realizes x-pci-proxy-dev before the guest runs: it maps the guest's RAM "
            "(SYNC_SYSMEM), hands over the INTx irqfd (SET_IRQFD) and probes the function "
            "itself: its IDs, then each of 10h..28h sized as a BAR. Until guest_start, the "
            "accesses are QEMU's own.",
        )

    # -- time -------------------------------------------------------------------------------
    def now(self) -> int:
        """Nanoseconds of wall-clock time since the bridge started."""
        return max(0, self._clock() - self._t0)

    def catch_up(self) -> int:
        """Run the device work due by now; returns how many pieces ran."""
        return self.sched.advance_to(self.now(), MAX_STEPS_PER_CATCH_UP)

    def timeout(self) -> float | None:
        """Seconds until the next device work is due (0: now; None: nothing queued)."""
        due = self.sched.next_time()
        if due is None:
            return None
        return max(0.0, (due - self.now()) / 1e9)

    def note(self, step: str, text: str) -> None:
        """A ``host_step`` annotation at this instant, after the work due by now."""
        self.catch_up()
        self.bus.emit(HostStep(step=step, text=text))

    # -- serving ----------------------------------------------------------------------------
    def serve_one(self) -> px.Cmd:
        """Read one message from QEMU, answer it; returns its command. Raises
        :class:`proxy.ProxyClosed` when QEMU hung up, :class:`proxy.ProxyError` on a
        message that breaks the protocol."""
        msg = px.recv_message(self.sock)
        self.counts[msg.cmd.name] += 1
        reply = self.handle(msg)
        if msg.cmd in px.NEEDS_REPLY:
            px.send_ret(self.sock, reply or 0)
        self.catch_up()
        return msg.cmd

    def handle(self, msg: px.Message) -> int | None:
        """Perform one message on the device; the value QEMU waits for (or None)."""
        cmd = msg.cmd
        if cmd == px.Cmd.SYNC_SYSMEM:
            regions = px.regions(msg.payload, len(msg.fds))
            self.mem.sync(regions, msg.fds)
            where = ", ".join(f"{r.gpa:#x}+{r.size:#x}" for r in regions)
            self.note("sync_sysmem", f"QEMU shares the guest's RAM: {where} (SYNC_SYSMEM)")
            return None
        if cmd == px.Cmd.SET_IRQFD:
            if len(msg.fds) != 2:
                px.close_fds(msg.fds)
                raise px.ProxyError(f"SET_IRQFD with {len(msg.fds)} fds (expected 2)")
            self.mem.set_irqfd(msg.fds[0], msg.fds[1])
            self.note(
                "set_irqfd",
                "QEMU hands over INTx: an irqfd to signal the pin and a resample fd "
                "(SET_IRQFD); no MSI or MSI-X path exists through the proxy",
            )
            return None
        px.close_fds(msg.fds)
        if cmd in (px.Cmd.PCI_CFGREAD, px.Cmd.PCI_CFGWRITE, px.Cmd.BAR_READ, px.Cmd.BAR_WRITE):
            if self.reset_seen and not self.guest_started:
                self.guest_started = True
                self.note(
                    "guest_start",
                    "QEMU reset the machine and started the guest: from here on every "
                    "access is the guest's (its firmware, then Linux)",
                )
        self.catch_up()
        if cmd == px.Cmd.PCI_CFGREAD:
            a = px.config_access(msg.payload)
            return self.ctrl.config_read(a.addr, a.len)
        if cmd == px.Cmd.PCI_CFGWRITE:
            a = px.config_access(msg.payload)
            size = a.len if a.len in (1, 2, 4) else 4
            self.ctrl.config_write(a.addr, a.len, a.val & ((1 << (8 * size)) - 1))
            return 0
        if cmd in (px.Cmd.BAR_READ, px.Cmd.BAR_WRITE):
            return self._bar(px.bar_access(msg.payload), cmd == px.Cmd.BAR_WRITE)
        if cmd == px.Cmd.DEVICE_RESET:
            self.reset_seen = True
            self.ctrl.reset("conventional")
            return 0
        raise px.ProxyError(f"QEMU sent {cmd.name}, which only the device sends")

    def _bar(self, a: px.BarAccess, write: bool) -> int:
        base = self.ctrl.bar0_address
        offset = a.addr - base if base is not None else -1
        if not a.memory or not 0 <= offset < self.ctrl.bar_size or a.size not in (1, 2, 4, 8):
            if not self._stray_noted:
                self._stray_noted = True
                self.note(
                    "bar_stray",
                    f"QEMU sent a {a.size}-byte {'write' if write else 'read'} at "
                    f"{a.addr:#x}, in no BAR of the function: answered with all ones",
                )
            return (1 << (8 * min(max(a.size, 1), 8))) - 1
        if write:
            self.ctrl.mmio_write(offset, a.size, a.val & ((1 << (8 * a.size)) - 1))
            return 0
        return self.ctrl.mmio_read(offset, a.size)

    def close(self) -> None:
        self.mem.close()
        try:
            self.sock.close()
        except OSError:
            pass
