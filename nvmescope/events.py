"""Typed event records and the bus that fans them out.

Every moment of the model is one event. An event carries a sequence number,
a virtual timestamp in nanoseconds, the actor that caused it (``host`` or
``device``) and, where it belongs to one command, the ``(sqid, cid)`` pair.
The kinds read like QEMU's ``pci_nvme_*`` trace points, grouped as QEMU
groups them: normal events, ``err_*`` (the host asked for something invalid
and got a status code) and ``ub_*`` (the host did something the specification
leaves undefined and the device ignored it).

Events are ``msgspec.Struct`` values: immutable in spirit, cheap to build,
and encodable to MessagePack or JSON without any code of ours (``kind`` is
the tag that picks the class when a recording is read back).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import msgspec

from nvmescope.nvme import pci as _pci
from nvmescope.nvme.commands import (
    CQE_SIZE,
    SQE_SIZE,
    make_status,
    sgl_type_name,
    unpack_cqe,
    unpack_sqe,
)
from nvmescope.nvme.opcodes import opcode_name
from nvmescope.nvme.status import COMMON_STATUSES, describe_status

HOST = "host"
DEVICE = "device"


class Event(msgspec.Struct, kw_only=True, tag_field="kind", omit_defaults=True, gc=False):
    """Fields every event has."""

    seq: int = 0
    ts: int = 0
    actor: str = DEVICE
    sqid: int | None = None
    cid: int | None = None

    # a short label for tables; subclasses override
    title: ClassVar[str] = "event"

    @property
    def kind(self) -> str:
        return type(self).__struct_config__.tag  # type: ignore[return-value]


#: Host events that are inputs to the device: a replay re-performs these.
HOST_INPUT_KINDS = frozenset(
    {
        "config_read",
        "config_write",
        "mmio_read",
        "mmio_write",
        "doorbell_sq",
        "doorbell_cq",
        "mem_write",
        "fault",
        "pci_reset",
    }
)


# -- PCI configuration space ----------------------------------------------
class ConfigRead(Event, tag="config_read", kw_only=True):
    offset: int
    size: int
    value: int
    reg: str = ""
    actor: str = HOST


class ConfigWrite(Event, tag="config_write", kw_only=True):
    offset: int
    size: int
    value: int
    reg: str = ""
    old: int = 0
    new: int = 0
    actor: str = HOST


#: The resets a host gives the whole function (``Controller.reset``), by the name a
#: ``pci_reset`` event carries, with what they are (PCI Express Base 4.0, 6.6)
PCI_RESETS: dict[str, str] = {
    "flr": "Function Level Reset (as by Device Control's Initiate Function Level Reset)",
    "conventional": "Conventional Reset (the platform's reset signal: a power-on, warm or "
    "hot reset, QEMU's system reset)",
}


class PciReset(Event, tag="pci_reset", kw_only=True):
    """The host reset the function (``reset``: a name of :data:`PCI_RESETS`): an input a
    replay performs again. The device's ``ctrl_state`` (``flr`` or
    ``conventional_reset``) follows as its next step: the controller and configuration
    space back to their power-on values, the namespaces' data kept."""

    reset: str
    actor: str = HOST


# -- BAR0 -------------------------------------------------------------------
class MmioRead(Event, tag="mmio_read", kw_only=True):
    addr: int
    size: int
    value: int
    reg: str = ""
    actor: str = HOST
    #: False when the source did not record the value read (QEMU's mmio_read trace has none)
    value_known: bool = True


class MmioWrite(Event, tag="mmio_write", kw_only=True):
    addr: int
    size: int
    value: int
    reg: str = ""
    old: int = 0
    new: int = 0
    actor: str = HOST


class DoorbellSq(Event, tag="doorbell_sq", kw_only=True):
    """The host wrote an SQ tail doorbell (the MMIO write itself)."""

    addr: int
    old_tail: int
    new_tail: int
    #: the whole value the host wrote, when it differs from new_tail (replay re-writes it)
    value: int | None = None
    #: the device did not take the write (a ub_db_* event follows and says why)
    ignored: bool = False
    actor: str = HOST


class DoorbellCq(Event, tag="doorbell_cq", kw_only=True):
    """The host wrote a CQ head doorbell (the MMIO write itself)."""

    addr: int
    cqid: int
    old_head: int
    new_head: int
    #: the whole value the host wrote, when it differs from new_head (replay re-writes it)
    value: int | None = None
    #: the device did not take the write (a ub_db_* event follows and says why)
    ignored: bool = False
    actor: str = HOST


# -- command processing -----------------------------------------------------
class SqeFetch(Event, tag="sqe_fetch", kw_only=True):
    """The device read one submission queue entry from host memory."""

    slot: int
    addr: int
    data: bytes
    new_head: int
    #: why the arbiter chose this SQ ("round robin: SQ2 after SQ1"); empty in imports
    arbitration: str = ""


class CmdStart(Event, tag="cmd_start", kw_only=True):
    opcode: int
    opname: str
    nsid: int = 0
    admin: bool = True
    detail: str = ""


#: the most address ranges one command's data maps to: one per page of the longest transfer
#: (MDTS 20, 2^20 pages of 4 KiB) and the first page's part; a recording's event claiming
#: more is refused when it is read, before its list is built (a tuple of a 3-byte pair
#: takes 64 bytes as objects: a crafted 11 KB file made 2.3 GB)
MAX_MAP_ITEMS = (1 << 20) + 1
#: the most SGL segments and descriptors the device walks for one command (emulator/sgl.py)
MAX_SGL_ITEMS = 16384
_Pages = Annotated[list[int], msgspec.Meta(max_length=MAX_MAP_ITEMS)]
_Ranges = Annotated[list[tuple[int, int]], msgspec.Meta(max_length=MAX_MAP_ITEMS)]
_SglRanges = Annotated[list[tuple[int | None, int]], msgspec.Meta(max_length=MAX_SGL_ITEMS)]
_Descriptors = Annotated[list[tuple[int, int, int, int]], msgspec.Meta(max_length=MAX_SGL_ITEMS)]
_SglPages = Annotated[list[int], msgspec.Meta(max_length=MAX_SGL_ITEMS)]


class MapPrp(Event, tag="map_prp", kw_only=True):
    """The device walked the PRP entries of a command into address ranges."""

    prp1: int
    prp2: int
    length: int
    list_pages: _Pages = []
    segments: _Ranges = []


class PrpListRead(Event, tag="prp_list_read", kw_only=True):
    """The device read one page of a command's PRP list: the entries it held (the
    last one of a full page may point at the next list page)."""

    addr: int
    entries: _Pages = []


class SglSegmentRead(Event, tag="sgl_segment_read", kw_only=True):
    """The device read one SGL segment: its descriptors as (type, sub type, address,
    length)."""

    addr: int
    descriptors: _Descriptors = []


class MapSgl(Event, tag="map_sgl", kw_only=True):
    """The device walked the SGL of a command into address ranges (an address of None
    is a Bit Bucket: data thrown away)."""

    #: SGL Descriptor 1, in the command: type, address, length
    sgl_type: int
    addr: int
    sgl_length: int
    #: the bytes of data the command moves
    length: int
    segment_pages: _SglPages = []
    segments: _SglRanges = []


#: the most data one DMA or host memory event carries. A longer contiguous piece of a
#: transfer (one SGL Data Block, or PRP pages that follow each other) is told as several
#: DMA events of at most this many bytes, in address order, and a longer access of the
#: host CPU as several ``mem_write`` or ``mem_read`` events, so that one event stays well
#: inside what a recording's chunk may hold (32 MiB) and what a panel can show; a
#: transfer of MDTS 7 (512 KiB) is never split
MAX_DATA_EVENT_BYTES = 1 << 20


def dma_pieces(segments: Sequence[tuple[int | None, int]]) -> Sequence[tuple[int | None, int]]:
    """``segments`` (address, length; an address of None is an SGL Bit Bucket, passed on
    whole) with each longer than MAX_DATA_EVENT_BYTES cut into pieces of at most that;
    ``segments`` itself when none is (every transfer of MDTS 8 or less: the hot path)."""
    limit = MAX_DATA_EVENT_BYTES
    if all(n <= limit for _, n in segments):
        return segments
    out: list[tuple[int | None, int]] = []
    for addr, n in segments:
        if addr is None or n <= limit:
            out.append((addr, n))
        else:
            out.extend((addr + at, min(limit, n - at)) for at in range(0, n, limit))
    return out


class DmaRead(Event, tag="dma_read", kw_only=True):
    """The device read host memory."""

    addr: int
    length: int
    data: bytes = b""
    purpose: str = ""


class DmaWrite(Event, tag="dma_write", kw_only=True):
    """The device wrote host memory."""

    addr: int
    length: int
    data: bytes = b""
    purpose: str = ""


class CopyRange(Event, tag="copy_range", kw_only=True):
    """A Copy read one of its source ranges from the medium (no host memory is touched):
    Source Range Entry ``index``, ``nlb`` blocks from ``slba``, bound for ``dlba``."""

    nsid: int
    index: int
    slba: int
    nlb: int
    dlba: int


class CopyWrite(Event, tag="copy_write", kw_only=True):
    """A Copy wrote what its source ranges held to ``nlb`` blocks from ``sdlba``."""

    nsid: int
    sdlba: int
    nlb: int
    ranges: int


class CmdFinish(Event, tag="cmd_finish", kw_only=True):
    opcode: int
    opname: str
    status: int  # the 15-bit status field: (sct << 8) | sc, plus crd/m/dnr above
    sc: int = 0
    sct: int = 0
    dnr: bool = False
    dw0: int = 0
    dw1: int = 0
    status_name: str = ""


class CqePost(Event, tag="cqe_post", kw_only=True):
    cqid: int
    slot: int
    addr: int
    phase: int
    status: int
    dw0: int = 0
    dw1: int = 0
    sqhd: int = 0
    data: bytes = b""
    new_tail: int = 0


class CqFull(Event, tag="cq_full", kw_only=True):
    """A completion is held back because the CQ has no free entry."""

    cqid: int
    head: int
    tail: int


# -- interrupts ------------------------------------------------------------
class IrqMsix(Event, tag="irq_msix", kw_only=True):
    vector: int
    #: the message address and data; None when the source did not record them (a QEMU import)
    address: int | None = 0
    data: int | None = 0
    masked: bool = False
    pending: bool = False
    delivered: bool = True
    #: held back by a ``mask_vector`` fault (the vector's Mask bit itself is clear)
    by_fault: bool = False


class IrqIntx(Event, tag="irq_intx", kw_only=True):
    asserted: bool
    intms: int = 0


class IrqCoalesced(Event, tag="irq_coalesced", kw_only=True):
    vector: int
    count: int


# -- controller ------------------------------------------------------------
class CtrlState(Event, tag="ctrl_state", kw_only=True):
    """The controller changed state (enable, ready, reset, shutdown, fatal)."""

    state: str
    csts_old: int = 0
    csts_new: int = 0
    detail: str = ""


class QueueCreated(Event, tag="queue_created", kw_only=True):
    qtype: str  # "sq" or "cq"
    qid: int
    addr: int
    qsize: int
    cqid: int = 0
    vector: int = 0
    ien: bool = True
    pc: bool = True
    #: an SQ's QPRIO (00b urgent, 01b high, 10b medium, 11b low; used by WRR arbitration)
    qprio: int = 0


class QueueDeleted(Event, tag="queue_deleted", kw_only=True):
    qtype: str
    qid: int


# -- the host ----------------------------------------------------------------
class HostStep(Event, tag="host_step", kw_only=True):
    """What the host did next and why, in one sentence a student understands."""

    step: str
    text: str
    actor: str = HOST


class MemWrite(Event, tag="mem_write", kw_only=True):
    """The host CPU wrote its own memory (an SQE, a PRP list, a buffer)."""

    addr: int
    data: bytes
    purpose: str = ""
    actor: str = HOST


class MemRead(Event, tag="mem_read", kw_only=True):
    """The host CPU read its own memory (a CQE, a data buffer)."""

    addr: int
    data: bytes
    purpose: str = ""
    actor: str = HOST


class Interrupt(Event, tag="host_irq", kw_only=True):
    """The host's interrupt handler ran for a vector."""

    vector: int
    actor: str = HOST


# -- faults: the host makes the device misbehave (HostAPI.fault) ----------------------
#: the most hits a counted fault is armed for, and the longest completion delay (100 s)
MAX_FAULT_COUNT = 1_000_000
MAX_FAULT_DELAY_NS = 100_000_000_000


class FaultError(ValueError):
    """A fault the device cannot arm or clear as asked: an unknown action, or an argument
    missing, unknown, not an integer or outside its range. Raised before anything happens,
    so nothing is recorded; the message says why in one line."""


@dataclass(frozen=True)
class FaultArg:
    """One argument of a fault: its name, its range and what it means."""

    name: str
    low: int
    high: int
    help: str
    #: the value when the host gives none (None: the host must give one, unless ``optional``)
    default: int | None = None
    #: giving none is a choice of its own (``force_status`` without ``sqid``: any SQ)
    optional: bool = False
    #: the controller's own bound from its configuration: a value is at most
    #: ``limit(config)`` too (a vector below ``msix_vectors``, an SQ up to ``max_io_queues``)
    limit: Callable[[Any], int] | None = None
    #: ``limit`` in words, for people
    limit_words: str = ""
    #: values offered by name, (words, value): the faults form lists them; any value in
    #: range is taken all the same
    choices: tuple[tuple[str, int], ...] = ()
    #: a value in words (``force_status``'s status: its title, SCT and SC), or None
    words: Callable[[int], str] | None = None

    def bounds(self, config: Any = None) -> tuple[int, int]:
        """(lowest, highest) value allowed; on the controller ``config`` describes, if given."""
        high = self.high
        if self.limit is not None and config is not None:
            high = min(high, self.limit(config))
        return self.low, high

    def range_words(self) -> str:
        """``0..2047 (at most msix_vectors - 1)``: the range for people."""
        low, high = self.bounds()
        more = f" (at most {self.limit_words})" if self.limit_words else ""
        return f"{low}..{high}{more}"


@dataclass(frozen=True)
class FaultAction:
    """One fault the device can be made to have: :data:`FAULTS` lists them."""

    name: str
    title: str
    #: what the device does while the fault is armed
    device: str
    #: what the host sees
    host: str
    args: tuple[FaultArg, ...] = ()
    #: the argument that tells one armed instance of this fault from another and names
    #: the one to clear; None: armed at most once (arming it again replaces it)
    key: str | None = None
    #: armed for ``count`` hits, after which it clears itself
    counted: bool = False

    def arg(self, name: str) -> FaultArg:
        return next(a for a in self.args if a.name == name)


def _max_sqid(config: Any) -> int:
    return int(config.max_io_queues)


def _max_vector(config: Any) -> int:
    return int(config.msix_vectors) - 1


_COUNT_HELP = "how many times it strikes before it clears itself"
#: force_status's statuses by name: ``Internal Error (SCT 0h SC 06h)`` -> 06h
_STATUS_CHOICES = tuple(
    (describe_status(make_status(sct, sc)), make_status(sct, sc)) for sct, sc in COMMON_STATUSES
)

#: Every fault, with each argument's range: the one table the device, the host API, the
#: replay and the TUI read. The ``fault`` event's fields are the arguments' names.
FAULTS: dict[str, FaultAction] = {
    f.name: f
    for f in (
        FaultAction(
            "drop_interrupt", "Drop interrupts",
            "the next interrupt message the device sends (an MSI-X message, or the INTx "
            "assert) is lost on the way: the device emits fault_irq_dropped and goes on as "
            "if it had sent it",
            "no interrupt: the completion waits in the CQ until the command's timer fires; "
            "then nvme_timeout polls the CQ, finds it and says 'completion polled'",
            (FaultArg("count", 1, MAX_FAULT_COUNT, "how many interrupt messages to lose", 1),),
            counted=True,
        ),
        FaultAction(
            "delay_completions", "Delay completions",
            "every completion is held back delay_ns after cmd_finish (fault_cqe_delayed) "
            "before its CQE is posted, until cleared; the SQ's next command waits with it",
            "completions arrive late",
            (FaultArg("delay_ns", 1, MAX_FAULT_DELAY_NS, "how long each CQE is held back, "
                      "in ns (HostAPI.delay_completions takes microseconds)"),),
        ),
        FaultAction(
            "mask_vector", "Mask an MSI-X vector",
            "MSI-X vector `vector` behaves as if its Mask bit were set: a message for it is "
            "not sent and its Pending Bit is set (irq_msix masked, by_fault); when the fault "
            "is cleared, a pending message is sent then, as when the host clears the Mask bit",
            "no interrupt on the vector while armed, its PBA bit reads 1; one interrupt when "
            "cleared",
            (FaultArg("vector", 0, 2047, "the MSI-X vector", limit=_max_vector,
                      limit_words="msix_vectors - 1"),),
            key="vector",
        ),
        FaultAction(
            "force_status", "Force a completion status",
            "the next `count` commands fetched (from SQ `sqid` only, if given) complete with "
            "`status` without being executed: cmd_start, fault_status_forced, cmd_finish, "
            "cqe_post; no data moves",
            "the command fails (or succeeds) with the chosen status and did nothing",
            (
                FaultArg("status", 0, 0x7FFF, "the 15-bit Status Field: DNR << 14 | M << 13 | "
                         "CRD << 11 | SCT << 8 | SC", choices=_STATUS_CHOICES,
                         words=describe_status),
                FaultArg("sqid", 0, 0xFFFF, "only commands from this SQ (not given: any SQ)",
                         optional=True, limit=_max_sqid, limit_words="max_io_queues"),
                FaultArg("count", 1, MAX_FAULT_COUNT, _COUNT_HELP, 1),
            ),
            key="sqid", counted=True,
        ),
        FaultAction(
            "stop_fetch", "Stop fetching from an SQ",
            "the device fetches nothing from SQ `sqid` (its doorbell writes are still taken "
            "and recorded; each one gives a fault_fetch_stopped) until cleared; then it "
            "fetches what waits",
            "commands sit in the SQ: no completion, no interrupt, until the fault is cleared "
            "or the driver times them out",
            (FaultArg("sqid", 0, 0xFFFF, "the submission queue", limit=_max_sqid,
                      limit_words="max_io_queues"),),
            key="sqid",
        ),
    )
}  # fmt: skip

#: the ``fault`` event's argument fields, in the order people read them
FAULT_ARGS = ("sqid", "vector", "delay_ns", "status", "count")


def check_fault(
    action: str, armed: bool, args: Mapping[str, Any], config: Any = None
) -> dict[str, int | None]:
    """The arguments of arming (or clearing) ``action``, defaults filled in, each checked
    against its range in :data:`FAULTS` (and the controller's, from ``config``). An
    argument given as None counts as not given. Clearing takes only the argument that
    names the instance (``vector`` for mask_vector, ``sqid`` for stop_fetch and
    force_status). Raises :class:`FaultError` (one line) otherwise."""
    spec = FAULTS.get(action) if isinstance(action, str) else None
    if spec is None:
        raise FaultError(f"no fault {action!r}: the faults are {', '.join(FAULTS)}")
    if not isinstance(armed, bool):
        raise FaultError(f"fault {action}: armed must be True or False, not {armed!r}")
    given = {name: value for name, value in args.items() if value is not None}
    names = [a.name for a in spec.args]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise FaultError(
            f"fault {action} takes {', '.join(names) or 'no argument'}, not {', '.join(unknown)}"
        )
    wanted = list(spec.args)
    if not armed:
        extra = sorted(name for name in given if name != spec.key)
        if extra:
            raise FaultError(
                f"clearing fault {action} takes {spec.key or 'no argument'}, not {', '.join(extra)}"
            )
        wanted = [spec.arg(spec.key)] if spec.key is not None else []
    out: dict[str, int | None] = {}
    for a in wanted:
        value = given.get(a.name, a.default if armed else None)
        low, high = a.bounds(config)
        if value is None:
            if a.optional:
                out[a.name] = None
                continue
            raise FaultError(f"fault {action} needs {a.name}: {a.help}, {low}..{high}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise FaultError(f"fault {action}: {a.name} must be an integer, not {value!r}")
        if not low <= value <= high:
            why = f" ({a.limit_words} on this controller)" if high < a.high else ""
            raise FaultError(f"fault {action}: {a.name} {value} is outside {low}..{high}{why}")
        out[a.name] = value
    return out


def fault_key(action: str, sqid: int | None = None, vector: int | None = None) -> str:
    """The name of one armed instance of a fault: ``drop_interrupt``, ``mask_vector:3``,
    ``stop_fetch:1``, ``force_status:2`` (SQ 2 only), ``force_status`` (any SQ)."""
    spec = FAULTS.get(action)
    key = spec.key if spec is not None else None
    value = sqid if key == "sqid" else vector if key == "vector" else None
    return action if value is None else f"{action}:{value}"


def fault_words(
    action: str,
    sqid: int | None = None,
    vector: int | None = None,
    delay_ns: int | None = None,
    status: int | None = None,
    count: int | None = None,
) -> str:
    """What an armed fault does, in a few words."""
    n = count if count is not None else 1
    next_n = "the next" if n == 1 else f"the next {n}"
    if action == "drop_interrupt":
        return f"{next_n} interrupt message{'s' if n != 1 else ''} will be lost"
    if action == "delay_completions" and delay_ns is not None:
        return f"every CQE is held back {_ns_words(delay_ns)}"
    if action == "mask_vector" and vector is not None:
        return f"MSI-X vector {vector} behaves as masked"
    if action == "force_status" and status is not None:
        where = f"from SQ{sqid}" if sqid is not None else "from any SQ"
        return (
            f"{next_n} command{'s' if n != 1 else ''} {where} complete{'s' if n == 1 else ''} "
            f"with {describe_status(status)}, not executed"
        )
    if action == "stop_fetch" and sqid is not None:
        return f"SQ{sqid} is not fetched"
    given = (("sqid", sqid), ("vector", vector), ("delay_ns", delay_ns), ("status", status),
             ("count", count))  # fmt: skip
    return " ".join([action] + [f"{name}={value}" for name, value in given if value is not None])


def _ns_words(ns: int) -> str:
    if ns % 1_000_000 == 0:
        return f"{ns // 1_000_000} ms"
    if ns % 1000 == 0:
        return f"{ns // 1000} us"
    return f"{ns} ns"


class ArmedFault(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A fault armed now: its action and arguments (``count``: the hits left of a counted
    fault) and ``seq``, the ``fault`` event that armed it. ``HostAPI.armed_faults()`` and
    ``trace.state.State.faults`` hold these."""

    action: str
    sqid: int | None = None
    vector: int | None = None
    delay_ns: int | None = None
    status: int | None = None
    count: int | None = None
    seq: int = -1

    @property
    def key(self) -> str:
        """The instance's name (:func:`fault_key`), unique among the faults armed."""
        return fault_key(self.action, self.sqid, self.vector)

    def clear_args(self) -> dict[str, int]:
        """The arguments that clear this instance: ``HostAPI.clear_fault(action, **these)``."""
        spec = FAULTS.get(self.action)
        if spec is None or spec.key is None:
            return {}
        value = getattr(self, spec.key)
        return {} if value is None else {spec.key: value}

    def describe(self) -> str:
        """What the fault does, in a few words (``str()`` of it says the same)."""
        return fault_words(
            self.action, self.sqid, self.vector, self.delay_ns, self.status, self.count
        )

    def __str__(self) -> str:
        return self.describe()


class Fault(Event, tag="fault", kw_only=True):
    """The host armed (``armed``) or cleared a fault of the device (``HostAPI.fault``): a
    host input that a replay performs again. ``action`` is a name of :data:`FAULTS`; the
    other fields are its arguments (``sqid`` among them), None where not given."""

    action: str
    armed: bool = True
    vector: int | None = None
    delay_ns: int | None = None
    status: int | None = None
    count: int | None = None
    actor: str = HOST


class FaultIrqDropped(Event, tag="fault_irq_dropped", kw_only=True):
    """A ``drop_interrupt`` fault struck: the interrupt message the device sent (MSI-X
    vector ``vector`` with its address and data, or the INTx assert when ``vector`` is
    None) is lost; the host never sees it. ``remaining``: drops left armed."""

    vector: int | None = None
    address: int | None = None
    data: int | None = None
    remaining: int = 0


class FaultCqeDelayed(Event, tag="fault_cqe_delayed", kw_only=True):
    """A ``delay_completions`` fault holds this command's CQE back ``delay_ns`` before
    the device posts it to CQ ``cqid``."""

    cqid: int
    delay_ns: int


class FaultStatusForced(Event, tag="fault_status_forced", kw_only=True):
    """A ``force_status`` fault struck: the command completes with ``status`` without
    being executed. ``any_sq``: the fault was armed for any SQ (else for this command's);
    ``remaining``: commands left to force."""

    status: int
    remaining: int = 0
    any_sq: bool = False


class FaultFetchStopped(Event, tag="fault_fetch_stopped", kw_only=True):
    """A ``stop_fetch`` fault: the device does not fetch from SQ ``sqid``, where
    ``waiting`` commands are published and not fetched."""

    waiting: int = 0


# -- conditions: err_* and ub_* -----------------------------------------------
class Condition(Event, kw_only=True):
    """Base of err_* and ub_* events: the name is the kind."""

    detail: str = ""
    status: int = 0


class Err(Condition, kw_only=True):
    """The host asked for something invalid; the device answered with a status."""


class Ub(Condition, kw_only=True):
    """The host did something the specification leaves undefined; it was ignored."""


#: Every err_* kind with the sentence a student sees.
ERR_KINDS: dict[str, str] = {
    "err_invalid_opcode": "opcode not supported",
    "err_invalid_field": "a field of the command is invalid",
    "err_invalid_nsid": "the namespace ID is invalid or inactive",
    "err_invalid_qid": "the queue identifier is invalid or in use",
    "err_invalid_qsize": "the queue size is invalid: QSIZE 0h (a one-entry queue) or more "
    "entries than CAP.MQES allows",
    "err_invalid_cqid": "the completion queue named does not exist",
    "err_invalid_vector": "the interrupt vector is invalid",
    "err_invalid_delete": "the queue cannot be deleted while SQs still use it",
    "err_invalid_prp_offset": "a PRP entry breaks the offset rules",
    "err_invalid_sgl": "the command's SGL is not allowed here or breaks the SGL rules",
    "err_invalid_log_page": "the log page identifier is not supported",
    "err_invalid_feature": "the feature identifier is not supported",
    "err_feature_not_changeable": "the feature cannot be changed",
    "err_feature_not_saveable": "the feature cannot be saved",
    "err_aer_limit": "more Asynchronous Event Requests than AERL allows",
    "err_abort_limit": "more Abort commands than ACL allows",
    "err_dma": "a DMA reached no host memory at its address",
    "err_lba_range": "the LBA range is beyond the namespace",
    "err_too_large": "the transfer is larger than MDTS allows",
    "err_compare_failure": "the data compared differs from the namespace's: Compare Failure",
    "err_copy_limit": "a Copy asks for more ranges or blocks than MSRC, MSSRL or MCL allow: "
    "Command Size Limit Exceeded",
    "err_copy_format": "the Copy's descriptor format is not supported, or not the one the "
    "namespace's protection information format takes",
    "err_dulbe": "with DULBE on, the command read a deallocated or unwritten block: "
    "Deallocated or Unwritten Logical Block",
    "err_media": "the namespace's backing file failed (disk full, I/O error): a media error",
    "err_e2e_guard": "a block's protection information guard is not its data's CRC: "
    "End-to-end Guard Check Error",
    "err_e2e_app_tag": "a block's application tag is not the one expected: End-to-end "
    "Application Tag Check Error",
    "err_e2e_ref_tag": "a block's reference tag is not the one expected: End-to-end Reference "
    "Tag Check Error",
    "err_invalid_pi": "PRINFO, ILBRT or the command cannot go together with the namespace's "
    "protection information: Invalid Protection Information",
    "err_sq_full_doorbell": "an SQ tail doorbell would make the queue more than full",
    "err_startfail": "enabling the controller failed: CSTS.CFS",
    "err_fused": "fused operations are not supported",
    "err_qemu": "QEMU reported an error we have no kind for (its trace name is in the detail)",
    "err_feature_not_ns_specific": "the feature applies to the controller, not a namespace",
    "err_command_sequence": "the command is not allowed at this point (command sequence error)",
    "err_ns_management": "Namespace Management or Attachment refused: capacity, NSID, "
    "attachment or controller list",
    "err_ns_not_ready": "the namespace is not ready yet (its media is coming up): retry later",
    "err_ns_write_protected": "the namespace is write protected (Feature 84h): no writes",
    "err_capacity_exceeded": "the write would allocate more than the namespace's capacity (NCAP)",
}

#: Every ub_* kind with the sentence a student sees.
UB_KINDS: dict[str, str] = {
    "ub_mmio_misaligned": "BAR0 access not naturally aligned: ignored",
    "ub_mmio_size": "BAR0 access size is not 4 or 8 bytes: ignored",
    "ub_mmio_out_of_range": "BAR0 access beyond the registers: reads 0, write ignored",
    "ub_mmio_ro": "write to a read-only register: ignored",
    "ub_mmio_reserved": "write to reserved bits: ignored",
    "ub_mmio_disabled": "BAR0 access with memory space disabled: no answer",
    "ub_mmio_while_enabled": "a register or field that may change only while the controller "
    "is disabled was written while CC.EN=1",
    "ub_cc_while_not_ready": "CC changed while the controller is resetting",
    "ub_db_invalid_queue": "doorbell for a queue that does not exist: ignored",
    "ub_db_invalid_value": "doorbell value beyond the queue size: ignored, AER raised",
    "ub_db_while_disabled": "doorbell while the controller is disabled: ignored",
    "ub_db_after_shutdown": "doorbell after shutdown completed, before a reset: ignored",
    "ub_cq_head_passes_tail": "CQ head doorbell beyond the entries posted: ignored",
    "ub_dma_disabled": "bus mastering is off: the device cannot DMA",
    "ub_cfg_ro": "write to a read-only config-space register: ignored",
    "ub_msix_table_access": "MSI-X table access not 4 or 8 bytes aligned: ignored",
    "ub_nssr_unsupported": "NSSR written but CAP.NSSRS is 0: ignored",
    "ub_shutdown_while_disabled": "shutdown requested while disabled",
    "ub_qemu": "QEMU reported undefined behaviour we have no kind for (its trace name is in the detail)",
    "ub_cfg_access": "config access not 1, 2 or 4 bytes aligned inside 4 KiB: ignored",
    "ub_intm_with_msix": "INTMS/INTMC accessed while MSI-X is enabled: ignored",
}


def _make_condition_classes() -> dict[str, type[Condition]]:
    classes: dict[str, type[Condition]] = {}
    for base, table in ((Err, ERR_KINDS), (Ub, UB_KINDS)):
        for name in table:
            cls_name = "".join(part.capitalize() for part in name.split("_"))
            cls = types.new_class(cls_name, (base,), {"tag": name, "kw_only": True})
            cls.__module__ = __name__
            cls.__doc__ = table[name]
            classes[name] = cls
    return classes


CONDITIONS: dict[str, type[Condition]] = _make_condition_classes()


def condition(name: str, **fields: Any) -> Condition:
    """Build the err_* / ub_* event called ``name``."""
    return CONDITIONS[name](**fields)


def _all_subclasses(cls: type) -> list[type]:
    out: list[type] = []
    for sub in cls.__subclasses__():
        if sub.__struct_config__.tag is not None and sub not in (Err, Ub, Condition):
            out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


#: kind -> class, for every concrete event kind (normal, err_*, ub_*).
EVENT_TYPES: dict[str, type[Event]] = {}
for _cls in _all_subclasses(Event):
    _tag = _cls.__struct_config__.tag
    if isinstance(_tag, str) and _tag not in EVENT_TYPES:
        EVENT_TYPES[_tag] = _cls

#: Normal kinds, in the order a student meets them.
NORMAL_KINDS: tuple[str, ...] = tuple(k for k in EVENT_TYPES if not k.startswith(("err_", "ub_")))

AnyEvent = Event  # annotation alias: any concrete event


# -- the bus ---------------------------------------------------------------------
Subscriber = Callable[[Event], None]


class EventBus:
    """Stamps events with a sequence number and the virtual time, and fans them out.

    Subscribers are called synchronously, in the order they subscribed. The bus
    keeps no history itself; a recorder or a list is just another subscriber.
    """

    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._subscribers: list[Subscriber] = []
        #: the subscribers as a tuple, made again when one comes or goes (an event is
        #: delivered to the subscribers there were when it was emitted)
        self._fanout: tuple[Subscriber, ...] = ()
        self.seq = 0
        #: (sqid, cid) the device is working on, stamped on device events that name none
        self.context: tuple[int, int] | None = None

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn`` for every event from now on; returns an unsubscribe function."""
        self._subscribers.append(fn)
        self._fanout = tuple(self._subscribers)

        def unsubscribe() -> None:
            if fn in self._subscribers:
                self._subscribers.remove(fn)
                self._fanout = tuple(self._subscribers)

        return unsubscribe

    def emit(self, event: Event, context: tuple[int, int] | None = None) -> Event:
        """Stamp ``event`` (seq, ts; a device event that names no command gets ``context``,
        else the bus's own ``context``) and hand it to every subscriber."""
        event.seq = self.seq
        event.ts = self._clock()
        if event.sqid is None and event.actor == DEVICE:
            context = context or self.context
            if context is not None:
                event.sqid, event.cid = context
        self.seq += 1
        for fn in self._fanout:
            fn(event)
        return event


def to_builtins(event: Event) -> dict[str, Any]:
    """The event as plain data (bytes as hex), kind first, for JSON and tables."""
    raw = msgspec.to_builtins(event, enc_hook=None)
    out: dict[str, Any] = {"kind": event.kind}
    for key, value in raw.items():
        if key == "kind":
            continue
        out[key] = value
    for name in event.__struct_fields__:
        value = getattr(event, name)
        if isinstance(value, bytes):
            out[name] = value.hex()
    return out


# -- words for people ------------------------------------------------------------
def queue_tag(event: Event) -> str:
    """The printout's queue:cid column: ``sq1:4``, ``sq0``, ``cq1`` (a CQ head doorbell), or ''."""
    if event.kind == "doorbell_cq":
        cqid = getattr(event, "cqid", None)
        if cqid is not None:
            return f"cq{cqid}"
    if event.sqid is None:
        return ""
    if event.cid is None:
        return f"sq{event.sqid}"
    return f"sq{event.sqid}:{event.cid}"


def _hexdump_head(data: bytes, n: int = 8) -> str:
    head = data[:n].hex(" ")
    return head + (" …" if len(data) > n else "")


def plural(n: int, one: str, many: str | None = None) -> str:
    """``n`` and the noun, singular or plural: "1 segment", "2 segments"."""
    return f"{n} {one}" if n == 1 else f"{n} {many or one + 's'}"


def _entries(entries: list[int], shown: int = 4) -> str:
    """The first few PRP entries of a list page, and how many more."""
    words = ", ".join(f"{x:#x}" for x in entries[:shown])
    return words + (f", ... {len(entries) - shown} more" if len(entries) > shown else "")


def _descriptors(descs: list[tuple[int, int, int, int]], shown: int = 3) -> str:
    """The first few SGL descriptors of a segment, named, and how many more."""
    words = "; ".join(
        f"{sgl_type_name(t).removeprefix('SGL ')} {a:#x} {n} B" for t, _sub, a, n in descs[:shown]
    )
    return words + (f"; ... {len(descs) - shown} more" if len(descs) > shown else "")


def sqe_words(data: bytes, name: str = "") -> str:
    """A 64-byte SQE's key fields, decoded: opcode (and ``name``), cid, nsid, PRPs (or SGL
    Descriptor 1 when PSDT selects SGLs) and every command dword 10-15 that is not zero."""
    sqe = unpack_sqe(data)
    named = f" ({name})" if name else ""
    nsid = f"{sqe.nsid:#x}" if sqe.nsid >= 0xFFFF0000 else str(sqe.nsid)
    words = " ".join(
        f"cdw{i}={v:#x}"
        for i, v in zip(
            range(10, 16),
            (sqe.cdw10, sqe.cdw11, sqe.cdw12, sqe.cdw13, sqe.cdw14, sqe.cdw15),
            strict=True,
        )
        if v
    )
    if sqe.psdt in (1, 2):  # the data pointer holds SGL Descriptor 1
        length, ident = sqe.prp2 & 0xFFFFFFFF, sqe.prp2 >> 56
        kind = sgl_type_name(ident >> 4).removeprefix("SGL ")
        sub = f" sub type {ident & 0xF:#x}" if ident & 0xF else ""
        pointer = f"SGL {kind}{sub} @{sqe.prp1:#x} {length} B"
    else:
        pointer = f"prp1={sqe.prp1:#x} prp2={sqe.prp2:#x}"
    return f"opcode {sqe.opc:#04x}{named} cid {sqe.cid} nsid {nsid} {pointer}" + (
        f" {words}" if words else " cdw10-15 all 0"
    )


def cqe_words(data: bytes) -> str:
    """A 16-byte CQE whole: both dwords, SQ head, SQ ID, cid, phase tag and the status."""
    cqe = unpack_cqe(data)
    return (
        f"DW0 {cqe.dw0:#x}, DW1 {cqe.dw1:#x}, SQ head {cqe.sqhd}, SQ ID {cqe.sqid}, "
        f"cid {cqe.cid}, phase {cqe.p}, status {describe_status(cqe.status)}"
    )


#: how a host's read of a CQ slot says which phase tag makes it a new completion
#: ("CQE CQ1 slot 4, new if P=1"), so that its line can say whether it found one
NEW_IF_PHASE = ", new if P="


def stale_slot_words(data: bytes) -> str:
    """What a CQ slot that holds no new completion holds instead (the host clears a CQ
    before it creates it, so all zeros were never written)."""
    return "all zeros: never written" if not any(data) else "an old entry"


def _cq_slot_read(data: bytes, wanted: int) -> str:
    """What a host read of a CQ slot found, given the phase tag that makes it new: the
    completion, or (the other tag) no completion, whatever its bytes decode as."""
    phase = data[14] & 1
    if phase == wanted:
        return f", a new completion: {cqe_words(data)}"
    return f": no new completion (phase tag {phase}, not {wanted}; {stale_slot_words(data)})"


def _decode_queue_entry(data: bytes, purpose: str) -> str:
    """A host memory access that is one SQE or one CQE, decoded field by field; else the
    first bytes in hex."""
    if purpose.startswith("SQE") and len(data) == SQE_SIZE:
        # the host names the command in the purpose ("SQE identify")
        return sqe_words(data, purpose[4:] if purpose.startswith("SQE ") else "")
    if purpose.startswith("CQE") and len(data) == CQE_SIZE:
        return cqe_words(data)
    return _hexdump_head(data)


def _config_fields(offset: int, size: int, reg: str) -> list[tuple[int, int, str]]:
    """The config registers (offset, size, name) a ``size``-byte access at ``offset``
    touches, in the capability layout whose register at ``offset`` is named ``reg``."""
    for layout in _pci.CAP_LAYOUTS:
        if not reg or _pci.config_register_name(offset, layout) == reg:
            regs = _pci.config_registers(layout)
            return [f for f in regs if f[0] < offset + size and offset < f[0] + f[1]]
    return []


def _digits(size: int) -> int:
    """Hex digits of an access of ``size`` bytes (a value read from a file may claim any
    size: the padding never exceeds a 64-bit register's)."""
    return 2 * min(max(size, 0), 8)


def _config_access(e: Any) -> tuple[str, str, str]:
    """``vendor_id and device_id (4 B at 0x0) = 0x00014e53 (device_id 0x0001, vendor_id
    0x4e53)``: every register the access covers, the value padded to the access width."""
    width = _digits(e.size)
    size = width // 2  # the registers it covers: at most 8 bytes' worth

    def pad(v: int, digits: int) -> str:
        return f"{v:#0{digits + 2}x}"

    fields = _config_fields(e.offset, size, e.reg)
    if len(fields) <= 1:
        name = e.reg or pad(e.offset, 2)
        return f"{name} ({e.size} B at {e.offset:#x})", pad(e.value, width), ""
    names, parts = [], []
    end = e.offset + size
    for start, n, name in fields:
        lo, hi = max(start, e.offset), min(start + n, end)
        whole = lo == start and hi == start + n
        label = name if whole else f"part of {name}"
        names.append(label)
        value = (e.value >> 8 * (lo - e.offset)) & ((1 << 8 * (hi - lo)) - 1)
        parts.append(f"{label} {pad(value, 2 * (hi - lo))}")
    label = ", ".join(names[:-1]) + " and " + names[-1]
    # most significant first, as the value reads
    split = f" ({', '.join(reversed(parts))})"
    return f"{label} ({e.size} B at {e.offset:#x})", pad(e.value, width), split


def describe(event: Event) -> str:
    """One line a student can read: what happened, with the numbers that matter."""
    k = event.kind
    e: Any = event
    if k == "config_read":
        where, value, split = _config_access(e)
        return f"host reads PCI config {where} = {value}{split}"
    if k == "config_write":
        where, value, split = _config_access(e)
        now = f"{e.new:#0{_digits(e.size) + 2}x}"
        return f"host writes PCI config {where} <- {value}{split} (now {now})"
    if k == "pci_reset":
        what = PCI_RESETS.get(e.reset, e.reset).split(" (")[0]
        return f"host resets the PCI function: {what}"
    if k == "mmio_read":
        # values padded to the access width, as a register dump shows them (0x00000000)
        value = f"{e.value:#0{_digits(e.size) + 2}x}" if e.value_known else "? (value not recorded)"
        return f"host reads {(e.reg or 'BAR0').upper()} @{e.addr:#x} ({e.size} B) = {value}"
    if k == "mmio_write":
        w = _digits(e.size) + 2
        return (
            f"host writes {(e.reg or 'BAR0').upper()} @{e.addr:#x} <- {e.value:#0{w}x} "
            f"(was {e.old:#0{w}x}, now {e.new:#0{w}x})"
        )
    if k == "doorbell_sq":
        return (
            f"host rings SQ{e.sqid} tail doorbell @{e.addr:#x}: tail {e.old_tail} -> {e.new_tail}"
        )
    if k == "doorbell_cq":
        return (
            f"host rings CQ{e.cqid} head doorbell @{e.addr:#x}: head {e.old_head} -> {e.new_head}"
        )
    if k == "sqe_fetch":
        where = f"device fetches SQE from SQ{e.sqid} slot {e.slot} @{e.addr:#x}"
        why = f" [{e.arbitration}]" if e.arbitration else ""
        if len(e.data) == SQE_SIZE:
            name = opcode_name(e.data[0], e.sqid == 0) if e.sqid is not None else ""
            return f"{where}; SQ head -> {e.new_head}: {sqe_words(e.data, name)}{why}"
        return f"{where} (cid {e.cid}); SQ head -> {e.new_head}{why}"
    if k == "cmd_start":
        what = "admin" if e.admin else "I/O"
        extra = f" {e.detail}" if e.detail else ""
        nsid = (
            "" if "nsid" in e.detail else f" nsid {e.nsid if e.nsid < 0xFFFF0000 else hex(e.nsid)}"
        )
        return f"device starts {what} command {e.opname} (opcode {e.opcode:#04x}){nsid}{extra}"
    if k == "map_prp":
        lists = f", via {plural(len(e.list_pages), 'PRP list page')}" if e.list_pages else ""
        n = len(e.segments)
        pieces = (
            "1 segment (one physically contiguous piece of host memory)"
            if n == 1
            else f"{n} segments (physically contiguous pieces of host memory, one per run of "
            "adjacent PRP pages)"
        )
        return (
            f"device maps PRPs prp1={e.prp1:#x} prp2={e.prp2:#x} for {e.length} B "
            f"into {pieces}{lists}"
        )
    if k == "prp_list_read":
        return (
            f"device reads the PRP list page @{e.addr:#x}: "
            f"{plural(len(e.entries), 'entry', 'entries')} ({_entries(e.entries)})"
        )
    if k == "sgl_segment_read":
        return (
            f"device reads the SGL segment @{e.addr:#x}: "
            f"{plural(len(e.descriptors), 'descriptor')} ({_descriptors(e.descriptors)})"
        )
    if k == "map_sgl":
        buckets = sum(n for a, n in e.segments if a is None)
        thrown = f", {buckets} B into bit buckets" if buckets else ""
        via = f", via {plural(len(e.segment_pages), 'SGL segment')}" if e.segment_pages else ""
        return (
            f"device maps the SGL ({sgl_type_name(e.sgl_type)} @{e.addr:#x}, {e.sgl_length} B) "
            f"for {e.length} B into {plural(len(e.segments), 'piece')} of host memory"
            f"{thrown}{via}"
        )
    if k == "dma_read":
        why = f" ({e.purpose})" if e.purpose else ""
        return f"device DMA-reads {e.length} B from host @{e.addr:#x}{why}"
    if k == "dma_write":
        why = f" ({e.purpose})" if e.purpose else ""
        return f"device DMA-writes {e.length} B to host @{e.addr:#x}{why}"
    if k == "copy_range":
        return (
            f"device reads Copy source range {e.index}: {plural(e.nlb, 'block')} from LBA "
            f"{e.slba} of NSID {e.nsid}, bound for LBA {e.dlba}"
        )
    if k == "copy_write":
        return (
            f"device writes the {plural(e.ranges, 'source range')} to "
            f"{plural(e.nlb, 'block')} from LBA {e.sdlba} of NSID {e.nsid} (the Copy's SDLBA)"
        )
    if k == "cmd_finish":
        return f"device finishes {e.opname}: {describe_status(e.status)}, dw0={e.dw0:#x}"
    if k == "cqe_post":
        where = f"device posts CQE to CQ{e.cqid} slot {e.slot} @{e.addr:#x}"
        if len(e.data) == CQE_SIZE:
            return f"{where}: {cqe_words(e.data)}"
        return (
            f"{where}: DW0 {e.dw0:#x}, DW1 {e.dw1:#x}, SQ head {e.sqhd}, phase {e.phase}, "
            f"status {describe_status(e.status)}"
        )
    if k == "cq_full":
        return f"CQ{e.cqid} is full (head {e.head}, tail {e.tail}): completion held back"
    if k == "irq_msix":
        if e.masked and e.by_fault:
            return (
                f"MSI-X vector {e.vector} is masked by a fault (mask_vector): pending bit set, "
                "no message sent"
            )
        if e.masked:
            return f"MSI-X vector {e.vector} is masked: pending bit set, no message sent"
        if e.address is None or e.data is None:
            return (
                f"device raises MSI-X vector {e.vector} "
                "(message address and data unknown: not recorded)"
            )
        lost = "" if e.delivered else " (not delivered: nothing took the write)"
        return f"device raises MSI-X vector {e.vector}: writes {e.data:#x} to {e.address:#x}{lost}"
    if k == "irq_intx":
        return f"device {'asserts' if e.asserted else 'deasserts'} INTx"
    if k == "irq_coalesced":
        return (
            f"interrupt on vector {e.vector} held back by interrupt coalescing: "
            f"{plural(e.count, 'completion')} waiting for it"
        )
    if k == "ctrl_state":
        detail = f": {e.detail}" if e.detail else ""
        return f"controller {e.state} (CSTS {e.csts_old:#x} -> {e.csts_new:#x}){detail}"
    if k == "queue_created":
        if e.qtype == "cq":
            return (
                f"device creates I/O CQ{e.qid} @{e.addr:#x}, {e.qsize} entries, vector {e.vector}"
            )
        return f"device creates I/O SQ{e.qid} @{e.addr:#x}, {e.qsize} entries, completing to CQ{e.cqid}"
    if k == "queue_deleted":
        return f"device deletes I/O {e.qtype.upper()}{e.qid}"
    if k == "host_step":
        return e.text
    if k == "mem_write":
        why = f" ({e.purpose})" if e.purpose else ""
        return (
            f"host writes {len(e.data)} B to its memory @{e.addr:#x}{why}: "
            f"{_decode_queue_entry(e.data, e.purpose)}"
        )
    if k == "mem_read":
        where, sep, wanted = e.purpose.rpartition(NEW_IF_PHASE)
        if sep and where.startswith("CQE ") and len(e.data) == CQE_SIZE and wanted in ("0", "1"):
            # the driver's read of a CQ slot: what it found first, before a narrow timeline
            # cuts the line (the address is in the Detail panel)
            return f"host reads {where[4:]}{_cq_slot_read(e.data, int(wanted))}"
        why = f" ({e.purpose})" if e.purpose else ""
        return (
            f"host reads {len(e.data)} B of its memory @{e.addr:#x}{why}: "
            f"{_decode_queue_entry(e.data, e.purpose)}"
        )
    if k == "host_irq":
        return f"host interrupt handler runs for vector {e.vector}"
    if k == "fault":
        if not e.armed:
            spec = FAULTS.get(e.action)
            which = getattr(e, spec.key) if spec is not None and spec.key else None
            named = f" ({spec.key} {which})" if spec is not None and which is not None else ""
            return f"host clears fault {e.action}{named}"
        words = fault_words(e.action, e.sqid, e.vector, e.delay_ns, e.status, e.count)
        return f"host arms fault {e.action}: {words}"
    if k == "fault_irq_dropped":
        left = f" ({plural(e.remaining, 'drop')} left armed)" if e.remaining else ""
        if e.vector is None:
            return f"fault drop_interrupt: the INTx assert is lost, the host never sees it{left}"
        return (
            f"fault drop_interrupt: the MSI-X message of vector {e.vector} is lost, the host "
            f"never sees it{left}"
        )
    if k == "fault_cqe_delayed":
        return (
            f"fault delay_completions: the CQE for CQ{e.cqid} is held back {_ns_words(e.delay_ns)}"
        )
    if k == "fault_status_forced":
        left = f" ({plural(e.remaining, 'command')} left to force)" if e.remaining else ""
        return (
            f"fault force_status: the command completes with {describe_status(e.status)} "
            f"without being executed{left}"
        )
    if k == "fault_fetch_stopped":
        where = f"SQ{e.sqid}" if e.sqid is not None else "the SQ"
        return (
            f"fault stop_fetch: the device does not fetch from {where} "
            f"({plural(e.waiting, 'command')} waiting)"
        )
    if isinstance(event, Condition):
        table = ERR_KINDS if k.startswith("err_") else UB_KINDS
        detail = f": {e.detail}" if e.detail else ""
        return f"{table.get(k, k)}{detail}"
    return k
