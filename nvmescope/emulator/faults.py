"""Faults: the device misbehaves as real devices do, when the host asks, for teaching
what a driver sees.

The faults, their arguments and each argument's range are one table,
:data:`nvmescope.events.FAULTS`; :func:`nvmescope.events.check_fault` refuses
anything outside it with a :class:`~nvmescope.events.FaultError` before anything
happens. The host arms and clears them (``HostAPI.fault``, which calls
:meth:`Controller.inject_fault`); each arming or clearing is one ``fault`` event,
a host input that a replay performs again at its virtual time. Each time a fault
changes what the device does, the device says so in its own event:

- ``drop_interrupt`` (``count``): the next ``count`` interrupt messages (MSI-X, or
  the INTx assert) are lost: ``fault_irq_dropped`` instead of ``irq_msix`` /
  ``irq_intx``. The device goes on as if it had sent them: no pending bit, and for
  INTx the pin counts as asserted (the PCIe Assert_INTx message was lost), so the
  next assert comes only after the level has fallen.
- ``delay_completions`` (``delay_ns``): after ``cmd_finish`` every completion waits
  ``delay_ns`` (``fault_cqe_delayed``) before its CQE is posted, until cleared. The
  device works an SQ one command at a time, so the SQ's next command waits too. A
  CQE already held back when the fault is cleared still waits its time.
- ``mask_vector`` (``vector``): the vector behaves as if its Mask bit were set:
  the masked path of the MSI-X table is taken (``irq_msix`` masked and pending,
  ``by_fault``; the PBA bit reads 1), and clearing the fault rechecks the pending
  bits the way clearing the Mask bit does, so a pending message is sent then.
- ``force_status`` (``status``, ``sqid``, ``count``): the next ``count`` commands
  fetched (from SQ ``sqid`` only, if given) complete with ``status`` without being
  executed: ``cmd_start``, ``fault_status_forced``, ``cmd_finish``, ``cqe_post``,
  the interrupt; no data moves. A fault for the command's own SQ strikes before
  one for any SQ.
- ``stop_fetch`` (``sqid``): the device fetches nothing from the SQ: its doorbell
  writes are taken and recorded as always, then ``fault_fetch_stopped`` says the
  commands wait; clearing the fault schedules the SQ, which fetches what waits.

Faults belong to the host's experiment, not to the device's state: they outlive
controller resets, NVM subsystem resets and function level resets, and are gone
only when cleared (or used up). While none is armed, the queue engine pays one
attribute check per place a fault could strike (``Faults.on``).
"""

from __future__ import annotations

from ..events import ArmedFault, fault_key


class Faults:
    """The faults armed on one controller, and the views of them the queue engine reads.

    ``on`` is the hot path's one check: False while nothing is armed. ``armed`` maps
    each instance's key (``events.fault_key``) to its :class:`ArmedFault`, in the order
    they were armed; the other attributes are derived from it on every change.
    """

    def __init__(self) -> None:
        self.armed: dict[str, ArmedFault] = {}
        self._derive()

    def _derive(self) -> None:
        armed = self.armed
        self.on = bool(armed)
        drop = armed.get("drop_interrupt")
        self.drops = (drop.count or 0) if drop is not None else 0
        delay = armed.get("delay_completions")
        self.delay_ns = (delay.delay_ns or 0) if delay is not None else 0
        self.masked = frozenset(
            f.vector for f in armed.values() if f.action == "mask_vector" and f.vector is not None
        )
        self.stopped = frozenset(
            f.sqid for f in armed.values() if f.action == "stop_fetch" and f.sqid is not None
        )
        self.forcing = any(f.action == "force_status" for f in armed.values())

    def arm(self, fault: ArmedFault) -> None:
        """Arm ``fault``; it replaces an armed instance with the same key."""
        self.armed[fault.key] = fault
        self._derive()

    def clear(self, key: str) -> None:
        """Clear the instance named ``key`` (nothing when none is armed)."""
        if self.armed.pop(key, None) is not None:
            self._derive()

    def _use(self, fault: ArmedFault) -> int:
        """One hit of a counted fault: how many are left (0: it is used up and cleared)."""
        left = max(0, (fault.count or 1) - 1)
        if left:
            self.armed[fault.key] = ArmedFault(
                action=fault.action, sqid=fault.sqid, vector=fault.vector,
                delay_ns=fault.delay_ns, status=fault.status, count=left, seq=fault.seq,
            )  # fmt: skip
        else:
            del self.armed[fault.key]
        self._derive()
        return left

    def take_drop(self) -> int | None:
        """An interrupt message is about to be sent: None to send it, else it is lost
        and this is how many drops remain armed."""
        if not self.drops:
            return None
        return self._use(self.armed["drop_interrupt"])

    def take_force(self, sqid: int) -> tuple[int, int, bool] | None:
        """A command from SQ ``sqid`` is about to be executed: None to execute it, else
        (the status to complete it with, how many remain to force, armed for any SQ)."""
        if not self.forcing:
            return None
        fault = self.armed.get(fault_key("force_status", sqid))
        if fault is None:
            fault = self.armed.get("force_status")
        if fault is None or fault.status is None:
            return None
        return fault.status, self._use(fault), fault.sqid is None

    def current(self) -> list[ArmedFault]:
        """The faults armed now, in the order they were armed."""
        return list(self.armed.values())


__all__ = ["Faults"]
