"""What a command set sees of the controller: the narrow interface it reaches it through.

The command sets (``admin.py``, ``nvm.py``) and the files they use (``nsmgmt.py``,
``nsaccess.py``, ``copy.py``, ``dulbe.py``, ``metadata.py``, ``state.py``'s error log)
run one command of one controller at a time. They see the controller as a
:class:`CommandContext`: its configuration and state, its namespaces and queues, the
few registers a command reads, and the services a command needs (fail it, move its
data, complete it, queue an asynchronous event, take a step of its own). The
:class:`~nvmescope.emulator.controller.Controller` is the one class that provides it;
no command set imports ``controller.py``, so each is a file you can read alone and
the emulator's imports have no circle (``tests/test_layering.py`` checks both).

Steps: the device emits one event per scheduler step. A command's task is a generator;
``yield from ctx.emit_step(event, req)`` emits ``event`` as this step's event (starting
a new step first when this one already has one) and ``yield from ctx.new_step()``
starts a new step without an event. ``spawn`` runs device work as a task of its own,
``later`` a function as one step of its own, ``wait_signal`` waits on something the
host fires (the time waiting is not device work).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .. import events as ev
    from ..sim import Scheduler, Task
    from .config import ControllerConfig
    from .interrupts import MsixTable
    from .namespace import Namespace
    from .pci import ConfigSpace
    from .port import HostPort
    from .queues import CompletionQueue, SubmissionQueue
    from .request import Request
    from .state import ControllerState


class CommandContext(Protocol):
    """The controller as a command set sees it (see the module docstring)."""

    # -- what a command reads and changes ---------------------------------------------------
    #: the knobs the controller was made with; they do not change while it lives
    config: ControllerConfig
    #: features, log pages, SMART counters, the error log, the AER queue
    state: ControllerState
    #: the active namespaces (attached), and every allocated one, by NSID
    namespaces: dict[int, Namespace]
    allocated: dict[int, Namespace]
    #: NSIDs whose attachment changed since log 04h was last read
    changed_nsids: set[int]
    #: bytes of the namespaces the configuration made (Namespace Management's base)
    configured_bytes: int
    #: the scheduler's time when CC.EN last went 0 -> 1 (Namespace Not Ready counts from it)
    enabled_ns: int
    sqs: dict[int, SubmissionQueue]
    cqs: dict[int, CompletionQueue]
    #: Doorbell Buffer Config's shadow doorbell and EventIdx buffers, or None
    dbbuf: tuple[int, int] | None
    cc: int
    vs: int
    sched: Scheduler
    port: HostPort
    pci: ConfigSpace
    msix: MsixTable
    #: the Identify Controller page built last, with what it was built from
    identify_cache: tuple[Any, bytes] | None

    @property
    def page_size(self) -> int:
        """CC.MPS as bytes."""
        ...

    # -- steps --------------------------------------------------------------------------
    def new_step(self) -> Task: ...

    def emit_step(
        self, event: ev.Event, req: Request | None = None, delay: int | None = None
    ) -> Task: ...

    def spawn(
        self, body: Task, delay: int = 0, label: str = "", done: Callable[[], None] | None = None
    ) -> None: ...

    def wait_signal(self, signal: Any) -> Task: ...

    def later(self, fn: Callable[[], None], delay: int = 0) -> None: ...

    # -- a command's services ---------------------------------------------------------------
    def nvme_fail(
        self,
        req: Request,
        code: tuple[int, int],
        kind: str,
        detail: str,
        loc: int = 0xFFFF,
        dnr: bool = True,
    ) -> Task: ...

    def nvme_map_and_transfer(
        self, req: Request, length: int, to_host: bytes | None, purpose: str, media_ns: int = 0
    ) -> Generator[Any, None, bytes | None]: ...

    def nvme_complete(self, req: Request) -> Task: ...

    def nvme_write_shadow(
        self, qid: int, cq: bool, value: int, eventidx: bool, req: Request | None = None
    ) -> Generator[Any, None, bool]: ...

    def nvme_refresh_sq_tail(self, sq: SubmissionQueue) -> Task: ...

    # -- asynchronous events and interrupts ------------------------------------------------
    def nvme_enqueue_event(self, etype: int, info: int, lid: int) -> None: ...

    def nvme_take_aer_event(self) -> int | None: ...

    def nvme_process_aers(self) -> None: ...

    def nvme_irq_recheck(self) -> None: ...


__all__ = ["CommandContext"]
