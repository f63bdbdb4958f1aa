"""The user's own hands on a live session: compose a command, poke a register, arm a
fault.

The forms (``screens/compose.py``, ``screens/poke.py``) build what is asked; this
mixin of the app hands it to the live session (``LiveSource.compose`` /
``LiveSource.poke``), runs the session until the first thing the user sees of it
(the SQE written into its slot, or the write made), and puts the cursor there: the
user steps on through barrier, doorbell, fetch, PRPs, DMA, CQE and interrupt. A
command composed by hand is followed: when the cursor reaches its data the Detail
panel shows it, and when it reaches its completion the status is said in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nvmescope.events import Event
from nvmescope.nvme.compose import COMPOSED
from nvmescope.nvme.status import describe_status

from .screens.compose import ComposeRequest, ComposeScreen, context_of
from .screens.faults import FaultRequest, FaultScreen
from .screens.poke import PokeRequest, PokeScreen
from .source import LiveSource

if TYPE_CHECKING:
    from .app import NvmeScopeApp

#: events a live session may run to reach the first event of what was asked
MAX_EVENTS_TO_SHOW = 200_000
#: wall time per slice while it does
SLICE_S = 0.25
#: the host's notes that say a command is not sent (host.driver.submit, host.compose.send)
NOT_SENT = frozenset({"no_queue", "dead", "compose_too_big"})


@dataclass
class Followed:
    """A command composed by hand that the cursor is watched for."""

    sqid: int
    cid: int
    title: str
    #: the event of its SQE in memory
    first: int
    data_shown: bool = False
    said: bool = False


class HandsMixin:
    """Compose and poke actions of :class:`~nvmescope.ui.app.NvmeScopeApp`."""

    followed: Followed | None = None
    compose_preset: str = "identify-ctrl"

    def _live_for_hands(self: NvmeScopeApp, what: str) -> LiveSource | None:
        if not isinstance(self.source, LiveSource):
            self.notify(
                f"a recording is what happened: {what} works in a live session "
                "(nvmescope, or nvmescope tui SCENARIO)",
                severity="warning",
                timeout=6,
            )
            return None
        if self.running:
            self.notify("a run is going on: Esc stops it first", timeout=4)
            return None
        self.pause_play()
        return self.source

    # -- compose ----------------------------------------------------------------------------
    def action_compose(self: NvmeScopeApp) -> None:
        source = self._live_for_hands("composing a command")
        if source is None:
            return
        if source.machine.driver is None:
            self.notify("this session has no host driver to send a command", severity="error")
            return
        self.push_screen(ComposeScreen(context_of(source), self.compose_preset), self._compose_done)

    def _compose_done(self: NvmeScopeApp, req: ComposeRequest | None) -> None:
        if req is None or not isinstance(self.source, LiveSource):
            return
        source = self.source
        before = len(source)
        cmd = req.command
        source.compose(cmd)

        # the composed task's events begin with its "compose" note; its SQE follows its own
        # build_sqe note (which gives the reason COMPOSED), with the SQ's lock held between
        # them, so the scenario's SQEs of that opcode, before or after, are never taken for it
        started = built = False
        mine = f"): {COMPOSED}."

        def its_sqe(e: Any) -> bool:
            nonlocal started, built
            if e.kind != "host_step":
                return (
                    built
                    and e.kind == "mem_write"
                    and str(e.purpose).startswith("SQE")
                    and len(e.data) == 64
                    and e.data[0] == cmd.opc
                )
            if not started:
                started = e.step == "compose"
                return False
            if e.step == "build_sqe" and f" in SQ{cmd.sqid} " in e.text and e.text.endswith(mine):
                built = True
            return e.step in NOT_SENT and not built

        hit = self._run_to(its_sqe, before)
        if hit is None:
            self.notify(f"{req.title} was not written to SQ{cmd.sqid}: see the timeline")
            return
        sqe = self.source.event(hit)
        if sqe.kind == "host_step":
            self.notify(f"{req.title} was not sent: {sqe.text}", severity="warning", timeout=8)  # type: ignore[attr-defined]
            return
        cid = int.from_bytes(bytes(sqe.data[2:4]), "little")  # type: ignore[attr-defined]
        self.followed = Followed(cmd.sqid, cid, req.title, hit)
        self.notify(
            f"{req.title} is in SQ{cmd.sqid} (cid {cid}). Step on (s): barrier, doorbell, "
            "fetch, PRPs, DMA, CQE, interrupt.",
            timeout=8,
        )

    def _run_to(self: NvmeScopeApp, predicate: Any, before: int) -> int | None:
        """Run the live session until ``predicate`` matches an event from ``before`` on;
        show every event it ran and put the cursor on that one (None: it never came)."""
        assert isinstance(self.source, LiveSource)
        source = self.source
        hit = next((n for n in range(before, len(source)) if predicate(source.event(n))), None)
        while hit is None and not source.finished and len(source) - before < MAX_EVENTS_TO_SHOW:
            _, hit = source.run(SLICE_S, predicate)
        self._grew(before)
        self.goto(hit if hit is not None else len(source) - 1)
        return hit

    def follow_composed(self: NvmeScopeApp, event: Event | None) -> None:
        """The cursor is on ``event``: say what the followed command's is."""
        f = self.followed
        if f is None or event is None or event.sqid != f.sqid or event.cid != f.cid:
            return
        if self.cursor < f.first:
            return
        if event.kind == "dma_write" and not f.data_shown:
            f.data_shown = True
            self.main.action_focus_panel("detail")
        elif event.kind == "cqe_post" and not f.said:
            f.said = True
            status = int(getattr(event, "status", 0))
            self.notify(
                f"{f.title} (cid {f.cid}) completed: {describe_status(status)}",
                severity="information" if status == 0 else "warning",
                timeout=8,
            )

    # -- poke ---------------------------------------------------------------------------------
    def action_poke(self: NvmeScopeApp) -> None:
        source = self._live_for_hands("writing a register by hand")
        if source is None:
            return
        moment = self.moment
        layout = str(source.config.get("pci_layout") or "nvmescope")
        state = moment.state if moment is not None else None
        self.push_screen(PokeScreen(state, layout), self._poke_done)

    def _poke_done(self: NvmeScopeApp, req: PokeRequest | None) -> None:
        if req is None or not isinstance(self.source, LiveSource):
            return
        before = len(self.source)
        try:
            self.source.poke(req.space, req.offset, req.size, req.value, req.what)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        kinds = ("config_write",) if req.space == "config" else ("mmio_write", "doorbell_sq",
                                                                 "doorbell_cq")  # fmt: skip
        hit = self._run_to(lambda e: e.kind in kinds, before)
        if hit is not None:
            self.notify(f"{req.words}: step on (s) to see the device's answer", timeout=6)

    # -- faults ---------------------------------------------------------------------------------
    def action_faults(self: NvmeScopeApp) -> None:
        source = self._live_for_hands("arming a fault")
        if source is None:
            return
        moment = self.moment
        state = moment.state if moment is not None else None
        self.push_screen(FaultScreen(state, source.machine.config), self._fault_done)

    def _fault_done(self: NvmeScopeApp, req: FaultRequest | None) -> None:
        if req is None or not isinstance(self.source, LiveSource):
            return
        before = len(self.source)
        try:
            self.source.fault(req.action, req.armed, req.args)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        hit = self._run_to(lambda e: e.kind == "fault", before)
        if hit is not None:
            self.notify(f"{req.words}: step on (s) to see what the device does", timeout=6)


__all__ = ["Followed", "HandsMixin"]
