"""Replay and verify: re-execute a recording's host inputs against a fresh device.

Like rr, the recorded stream is the script. A fresh Machine is built from the
recorded configuration with no driver (``scenario=None``). Walking the
recording in order:

- a host input (``events.HOST_INPUT_KINDS``: config and MMIO accesses,
  doorbells, host memory writes, resets of the function, the arming and
  clearing of faults) is
  performed again at its recorded virtual time, after the device has done all
  its work scheduled before that time;
- a device event is produced by running the device's scheduler until it
  emits one;
- a host annotation (``host_step``, ``host_irq``) is copied through onto the
  bus, and a ``mem_read`` is performed again (so the bytes the host read are
  checked too).

Each event the replay produces is compared with the recorded one, every field
(sequence number and virtual time included). The first difference is the
divergence: its event number, the expected and the actual event. Identical
runs pass.

A file-backed namespace (``[[namespace]]`` with a ``file``) is replayed on RAM:
the recording holds every byte the host wrote, not what the file held before the
run (``VerifyResult.warnings`` says so, one line per namespace). Such a replay
verifies as long as the run read no block of it that the run had not written (or
zeroed, or formatted) first; the first read of one is a refusal
(``VerifyResult.refused``), never a divergence the emulator did not cause.

A difference in a bytes field (an SQE, a DMA buffer, a CQE the host read) is
reported by byte offset and by the field of the specification's layout that
byte belongs to (``offset 0x4 is in field nsid, Namespace Identifier
(NSID)``), decoded with the layouts of :mod:`nvmescope.nvme.decode`: an SQE
fetch or SQE write as an SQE, a CQE read as a CQE, and the data of Identify
(by the CNS of its SQE), Get Log Page (error, SMART, firmware slot, commands
supported and effects) and PRP lists as their data structures.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import msgspec

from nvmescope.emulator.config import NamespaceConfig
from nvmescope.emulator.namespace import Namespace
from nvmescope.events import HOST, HOST_INPUT_KINDS, Event, FaultError, describe
from nvmescope.nvme.decode import LAYOUTS, decode
from nvmescope.trace.format import RecordingError
from nvmescope.trace.reader import Recording, open_recording

#: scheduler runs without a single event before the replay gives up on the device
MAX_SILENT_STEPS = 100_000


#: preceding events a divergence keeps for context
CONTEXT_EVENTS = 3
#: hexdump rows (16 bytes each) shown around the first differing byte
HEXDUMP_ROWS = 3
#: longest repr of a non-bytes field value in a divergence line
MAX_VALUE_CHARS = 120


def _short(value: object) -> str:
    """A field value for one line: its repr, cut short if long (a list of segments, say)."""
    text = repr(value)
    if len(text) > MAX_VALUE_CHARS:
        size = f" ({len(value)} items)" if isinstance(value, (list, tuple, dict)) else ""
        text = text[: MAX_VALUE_CHARS - 3] + "..." + size
    return text


def _hex_row(data: bytes, start: int, other: bytes | None = None) -> str:
    """16 bytes from ``start`` as hex; with ``other``, bytes equal to it print as ``..``."""
    cells = []
    for i in range(start, start + 16):
        if i >= len(data):
            cells.append("  ")
        elif other is not None and i < len(other) and other[i] == data[i]:
            cells.append("..")
        else:
            cells.append(f"{data[i]:02x}")
    return " ".join(cells)


#: Identify data layouts by CNS
IDENTIFY_LAYOUTS = {0x00: "identify_ns", 0x01: "identify_ctrl", 0x02: "active_ns_list",
                    0x03: "ns_desc_list"}  # fmt: skip
#: Get Log Page data layouts by the ``log 0xNN`` purpose the device gives its DMA
LOG_LAYOUTS = {0x01: "error_log_entry", 0x02: "smart_log", 0x03: "fw_slot_log",
               0x05: "cmd_effects_log"}  # fmt: skip
SQE_BYTES, CQE_BYTES = 64, 16


def bytes_layout(event: Event, sqe: bytes | None = None) -> tuple[str, dict[str, Any]] | None:
    """The layout (and decode context) that the bytes of ``event`` are, when one is known.

    ``sqe`` is the 64-byte SQE of the command the event belongs to (for the CNS of
    an Identify's data).
    """
    e: Any = event
    kind = event.kind
    purpose = str(getattr(e, "purpose", "") or "")
    admin = {"admin": event.sqid == 0} if event.sqid is not None else {}
    if kind == "sqe_fetch" or (kind == "mem_write" and purpose.startswith("SQE")):
        return "sqe", admin
    if kind == "mem_read" and purpose.startswith("CQE"):
        return "cqe", {}
    if kind not in ("dma_read", "dma_write"):
        return None
    if purpose == "identify" and sqe is not None and len(sqe) >= SQE_BYTES:
        layout = IDENTIFY_LAYOUTS.get(sqe[40])
        return (layout, {}) if layout else None
    if purpose.startswith("log 0x"):
        try:
            layout = LOG_LAYOUTS.get(int(purpose[4:], 16))
        except ValueError:
            return None
        return (layout, {}) if layout else None
    if purpose.lower().startswith("prp list"):
        return "prp_list", {}
    return None


def field_at(layout: str, context: dict[str, Any], data: bytes, offset: int) -> str | None:
    """``nsid, Namespace Identifier (NSID)``: the field of ``layout`` holding byte ``offset``.

    A buffer longer than the layout is read as an array of it (log entries); a
    shorter one is zero-filled to the layout's size. None when nothing decodes.
    """
    size = LAYOUTS[layout].size
    if offset < 0 or size <= 0:
        return None
    base = offset // size * size
    chunk = data[base : base + size]
    chunk = chunk + bytes(size - len(chunk))
    try:
        node = decode(layout, chunk, context).at(offset - base)
    except (KeyError, ValueError):
        return None
    if node is None or not node.path:
        return None
    where = node.path if base == 0 else f"entry {offset // size}: {node.path}"
    return f"{where}, {node.title}" if node.title else where


def describe_bytes(
    name: str,
    expected: bytes,
    actual: bytes,
    field_of: Callable[[int], str | None] | None = None,
) -> list[str]:
    """Where two byte strings differ: the first differing byte, how many differ, a hexdump.

    The first line names the first difference (``data differs at offset 0x4d (byte 77):
    expected 01, actual 07; 3 bytes differ``); then at most ``HEXDUMP_ROWS`` rows of 16
    bytes around it, each as an ``expected`` line and an ``actual`` line on which the
    bytes equal to the expected ones print as ``..``.
    """
    common = min(len(expected), len(actual))
    first = next((i for i in range(common) if expected[i] != actual[i]), None)
    differ = sum(1 for i in range(common) if expected[i] != actual[i])
    differ += abs(len(expected) - len(actual))
    lines: list[str] = []
    if len(expected) != len(actual):
        lines.append(
            f"{name} length differs: expected {len(expected)} bytes, actual {len(actual)} bytes"
        )
    if first is None:
        if not lines:  # equal (should not be asked)
            return [f"{name}: the same {len(expected)} bytes"]
        first = common  # the first byte only one side has
    want = f"{expected[first]:02x}" if first < len(expected) else "(none)"
    got = f"{actual[first]:02x}" if first < len(actual) else "(none)"
    lines.append(
        f"{name} differs at offset {first:#x} (byte {first}): expected {want}, actual {got}; "
        f"{differ} byte{'s' if differ != 1 else ''} differ{'s' if differ == 1 else ''}"
    )
    where = field_of(first) if field_of is not None else None
    if where:
        lines.append(f"offset {first:#x} is in field {where}")
    longest = max(len(expected), len(actual))
    row = first // 16 * 16
    rows = [r for r in (row - 16, row, row + 16) if 0 <= r < longest][:HEXDUMP_ROWS]
    width = len(f"{rows[-1]:04x}")
    for r in rows:
        lines.append(f"  {r:0{width}x}  expected  {_hex_row(expected, r)}".rstrip())
        lines.append(f"  {r:0{width}x}  actual    {_hex_row(actual, r, expected)}".rstrip())
    return lines


@dataclass
class Divergence:
    """Where a replay first differed from the recording.

    ``index`` is the event number; ``expected`` the recorded event and ``actual``
    the one the replay produced (None when the device produced none); ``fields``
    the names of the fields that differ; ``context`` up to ``CONTEXT_EVENTS``
    recorded events just before it (they replayed identically), oldest first,
    so a printer can show what led there.
    """

    index: int
    expected: Event | None
    actual: Event | None
    reason: str
    fields: list[str] = field(default_factory=list)
    context: list[Event] = field(default_factory=list)
    #: the recorded SQE of the command the event belongs to (to decode its data)
    sqe: bytes | None = None

    @property
    def context_first(self) -> int:
        """The event number of ``context[0]`` (``index`` when there is no context)."""
        return self.index - len(self.context)

    def headline(self) -> str:
        return f"divergence at event {self.index}: {self.reason}"

    def field_lines(self) -> list[str]:
        """One short line per differing field; bytes fields get an offset and a hexdump."""
        lines: list[str] = []
        for name in self.fields:
            want = getattr(self.expected, name, None)
            got = getattr(self.actual, name, None)
            if isinstance(want, bytes) and isinstance(got, bytes):
                found = bytes_layout(self.expected, self.sqe) if self.expected else None
                field_of = partial(field_at, found[0], found[1], want) if found else None
                lines.extend(describe_bytes(name, want, got, field_of))
            else:
                lines.append(f"{name}: expected {_short(want)}, actual {_short(got)}")
        return lines

    def describe(self, events: bool = True) -> str:
        """A few lines for people: where and why, the two events, then each differing field.

        ``events=False`` leaves out the expected/actual event lines (for a printer
        that shows them, and ``context``, with its own formatter).
        """
        lines = [self.headline()]
        if events:
            for label, event in (("expected", self.expected), ("actual", self.actual)):
                text = f"{event.kind} {describe(event)}" if event is not None else "(no event)"
                lines.append(f"  {label + ':':<9} {text}")
        lines.extend("  " + line for line in self.field_lines())
        return "\n".join(lines)


@dataclass
class VerifyResult:
    ok: bool
    #: events compared and found equal
    checked: int
    #: events in the recording
    total: int
    divergence: Divergence | None = None
    #: what is odd about the recording (a partial file, configuration knobs this
    #: nvmescope does not know and ignored), one line each, for the CLI to print
    warnings: list[str] = field(default_factory=list)
    #: the device still had work queued when the recording ended (a recording cut short)
    device_busy_at_end: bool = False
    #: why the replay could not verify the recording (a file-backed namespace's block read
    #: before the run wrote it: its contents came from the file), one line; else None
    refused: str | None = None

    def describe(self) -> str:
        if self.refused is not None:
            return self.refused
        if self.ok:
            if self.total == 0:
                return "the recording has no events: nothing was verified"
            return f"replay matches the recording: {self.checked} of {self.total} events identical"
        assert self.divergence is not None
        return self.divergence.describe()


def differing_fields(expected: Event, actual: Event) -> list[str]:
    """Names of the fields that differ ("kind" when the kinds differ)."""
    if type(expected) is not type(actual):
        return ["kind"]
    return [
        name
        for name in expected.__struct_fields__
        if getattr(expected, name) != getattr(actual, name)
    ]


def build_config(data: dict[str, Any]) -> Any:
    """The ControllerConfig a recording's header describes (unknown knobs are ignored:
    :func:`config_warnings` names them)."""
    from nvmescope.emulator import ControllerConfig

    return msgspec.convert(data, ControllerConfig, strict=False)


def unknown_config_knobs(data: dict[str, Any]) -> list[str]:
    """The knobs in a recorded configuration that this nvmescope's ControllerConfig lacks."""
    from dataclasses import fields

    from nvmescope.emulator import ControllerConfig

    known = {f.name for f in fields(ControllerConfig)}
    return sorted(str(name) for name in data if name not in known)


def config_warnings(data: dict[str, Any]) -> list[str]:
    """One line naming the recorded configuration knobs a replay ignores (none: [])."""
    unknown = unknown_config_knobs(data)
    if not unknown:
        return []
    shown = ", ".join(f"{name}={_short(data[name])}" for name in unknown[:8])
    more = f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
    return [
        f"the recorded configuration has {len(unknown)} knob(s) this nvmescope does not "
        f"know; the replay ignores them: {shown}{more}"
    ]


class _UnknownStart(Namespace):
    """A RAM namespace standing in for a file-backed one on replay: it remembers the first
    read of a byte the run had not written (what the file held before the run, which the
    recording does not have). It tracks 512-byte sectors (every LBA format's multiple)."""

    def __init__(self, ns: NamespaceConfig, path: str) -> None:
        super().__init__(ns)
        self.path = path
        #: 4 KiB page -> a bit per 512-byte sector the run has written
        self._known: dict[int, int] = {}
        self._all_known = False
        #: the byte offset of the first read of an unwritten sector, or None
        self.unknown_read: int | None = None

    def _mark(self, offset: int, length: int) -> None:
        for sector in range(offset // 512, (offset + length + 511) // 512):
            page, bit = divmod(sector, 8)
            self._known[page] = self._known.get(page, 0) | (1 << bit)

    def read(self, offset: int, length: int) -> bytes:
        if self.unknown_read is None and not self._all_known:
            for sector in range(offset // 512, (offset + length + 511) // 512):
                page, bit = divmod(sector, 8)
                if not self._known.get(page, 0) >> bit & 1:
                    self.unknown_read = sector * 512
                    break
        return super().read(offset, length)

    def write(self, offset: int, data: bytes) -> None:
        self._mark(offset, len(data))
        super().write(offset, data)

    def zero(self, offset: int, length: int, deallocate: bool) -> None:
        self._mark(offset, max(0, length))
        super().zero(offset, length, deallocate)

    def _erase(self) -> None:
        self._all_known = True  # Format NVM: every block reads as zeros now
        super()._erase()

    def refusal(self) -> str:
        assert self.unknown_read is not None
        return (
            f"cannot verify: namespace {self.nsid} was file-backed ({self.path}) and the run "
            f"read LBA {self.unknown_read // self.lba_size} of it before writing it: what the "
            "file held before the run is not in the recording"
        )


def recorded_nsids(data: dict[str, Any]) -> list[int]:
    """The active NSIDs of a recorded configuration ([1] when it names none, or cannot be
    read: the single namespace of before)."""
    try:
        config = build_config(data) if data else None
        spaces = config.namespace_configs() if config is not None else []
    except (msgspec.ValidationError, TypeError, ValueError, IndexError):
        spaces = []
    return sorted(ns.nsid for ns in spaces if isinstance(ns.nsid, int)) or [1]


def file_backed_warnings(data: dict[str, Any]) -> list[str]:
    """One line per file-backed namespace of a recorded configuration (none: [])."""
    try:
        config = build_config(data) if data else None
        spaces = config.namespace_configs() if config is not None else []
    except (msgspec.ValidationError, TypeError, ValueError, IndexError):
        return []
    return [
        f"namespace {ns.nsid} was file-backed ({ns.file}): the replay runs it on RAM; the "
        "file's contents before the run are not in the recording"
        for ns in spaces
        if ns.file
    ]


def fresh_machine(recording: Recording) -> Any:
    """A Machine built from the recording's configuration, with no driver. A file-backed
    namespace is replayed on RAM (its file is neither opened nor locked)."""
    from nvmescope.machine import Machine

    def bad(what: object) -> RecordingError:
        return RecordingError(recording.path, f"the recorded configuration cannot be used: {what}")

    try:
        config = build_config(recording.config) if recording.config else None
    except (msgspec.ValidationError, TypeError, ValueError) as exc:
        raise bad(exc) from None
    if config is not None:
        # the same rule as the command line's --config: a controller that could exist
        problems = config.problems()
        if problems:
            raise bad(problems[0])
    files: dict[int, str] = {}
    if config is not None and config.namespaces:
        files = {ns.nsid or 0: ns.file for ns in config.namespace_configs() if ns.file}
        config.namespaces = tuple(replace(ns, file="") for ns in config.namespaces)
    try:
        m = Machine(config, None)
        if files:
            for ns in m.config.namespace_configs():
                if ns.nsid in files:
                    m.ctrl.namespaces[ns.nsid] = _UnknownStart(ns, files[ns.nsid])
        return m
    except Exception as exc:  # the configuration came from a file: never a traceback
        raise bad(f"{type(exc).__name__}: {exc}") from None


#: a recording whose header says ``extra["guest_memory"] == GUEST_MEMORY_DEVICE_READS``
#: has no event for the host's own stores (a real guest's CPU wrote its memory: the
#: QEMU bridge); what the device read is in its read events, and the replay puts those
#: bytes where the device reads them, just before the step that reads them
GUEST_MEMORY_DEVICE_READS = "device_reads"
#: ``extra["time_base"]`` of a recording whose timestamps are real time (the QEMU bridge)
TIME_BASE_WALL_CLOCK = "wall_clock"
#: an SGL descriptor: address, length, 3 reserved bytes, the SGL Identifier
_SGL_DESCRIPTOR = struct.Struct("<QI3xB")


def device_read_bytes(e: Any) -> tuple[int, bytes] | None:
    """(address, bytes) the device read in the step that emitted ``e`` (None: no read)."""
    kind = e.kind
    if kind in ("sqe_fetch", "dma_read") and isinstance(getattr(e, "data", None), bytes):
        return e.addr, e.data
    if kind == "prp_list_read":
        return e.addr, b"".join(struct.pack("<Q", x & (2**64 - 1)) for x in e.entries)
    if kind == "sgl_segment_read":
        return e.addr, b"".join(
            _SGL_DESCRIPTOR.pack(a & (2**64 - 1), n & 0xFFFFFFFF, ((t & 0xF) << 4) | (sub & 0xF))
            for t, sub, a, n in e.descriptors
        )
    return None


class _Replayer:
    def __init__(self, machine: Any, feed_reads: bool = False) -> None:
        self.m = machine
        self.sched = machine.sched
        self.bus = machine.bus
        self.ctrl = machine.ctrl
        self.pending: deque[Event] = deque()
        self.bus.subscribe(self.pending.append)
        #: put the bytes of each recorded device read into memory before its step
        self.feed_reads = feed_reads
        #: the recording's clock is the wall clock (the QEMU bridge): its annotations,
        #: like its accesses, come after the device work due by their instant
        self.wall_clock = False

    def feed(self, e: Event) -> None:
        """Before the device step that should emit ``e``: the bytes it read, in memory."""
        found = device_read_bytes(e) if self.feed_reads else None
        if found is not None and found[1]:
            addr, data = found
            if 0 <= addr and addr + len(data) <= 1 << 64:
                self.m.mem.write(addr, data)

    def _set_time(self, ts: int) -> None:
        if ts > self.sched.now:
            self.sched.now = ts

    def run_device_before(self, ts: int) -> None:
        """Run device work due at or before ``ts``: it happened before the host's access.

        A host access made at virtual time ``ts`` comes after everything the device had
        due at that instant (``HostAPI`` finishes it before a script's access, and a
        task's access at ``ts`` runs after the device work queued before it). Running
        only the work due strictly before ``ts`` (as this once did) left out the work the
        live run had done at that same instant and gave false divergences."""
        steps = 0
        while not self.pending and steps < MAX_SILENT_STEPS:
            when = self.sched.next_time()
            if when is None or when > ts:
                return
            self.sched.run_one()
            steps += 1

    def device_step(self) -> bool:
        """Run the scheduler until the device emits an event; False if it has nothing to do."""
        steps = 0
        while not self.pending:
            if steps >= MAX_SILENT_STEPS or not self.sched.run_one():
                return False
            steps += 1
        return True

    def perform(self, e: Any) -> None:
        kind = e.kind
        self._set_time(e.ts)
        ctrl = self.ctrl
        if kind == "config_read":
            ctrl.config_read(e.offset, e.size)
        elif kind == "config_write":
            ctrl.config_write(e.offset, e.size, e.value)
        elif kind == "mmio_read":
            ctrl.mmio_read(e.addr, e.size)
        elif kind == "mmio_write":
            ctrl.mmio_write(e.addr, e.size, e.value)
        elif kind == "doorbell_sq":
            ctrl.mmio_write(e.addr, 4, e.new_tail if e.value is None else e.value)
        elif kind == "doorbell_cq":
            ctrl.mmio_write(e.addr, 4, e.new_head if e.value is None else e.value)
        elif kind == "mem_write":
            # one event as recorded (a recording made before long host accesses were cut
            # into pieces holds them whole)
            self.m.mem.cpu_write(e.addr, e.data, e.purpose, whole=True)
        elif kind == "pci_reset":
            ctrl.reset(e.reset)
        elif kind == "fault":
            # a fault the device cannot take (a recording changed by hand) raises
            # FaultError here: the replay reports it as the divergence
            ctrl.inject_fault(
                e.action, e.armed, sqid=e.sqid, vector=e.vector, delay_ns=e.delay_ns,
                status=e.status, count=e.count,
            )  # fmt: skip
        else:  # pragma: no cover - HOST_INPUT_KINDS is the list above
            raise ValueError(kind)

    def annotate(self, e: Any) -> None:
        self._set_time(e.ts)
        if e.kind == "mem_read":
            self.m.mem.cpu_read(e.addr, len(e.data), e.purpose, whole=True)
        else:
            self.bus.emit(msgspec.structs.replace(e))


def verify(
    recording: Recording | str | os.PathLike[str],
    *,
    stop: int | None = None,
    machine: Any = None,
    partial: bool = False,
) -> VerifyResult:
    """Replay ``recording``'s host inputs on a fresh emulator and compare every event.

    ``stop`` limits the comparison to the first ``stop`` events. ``machine``
    (optional) is the Machine to replay on; by default one is built from the
    recorded configuration with no driver. Raises RecordingError if the
    recording cannot be read or any of its frames is damaged
    (``Recording.verify_frames``); a recording cut short (a killed recorder) is
    damage too unless ``partial`` (then the part that is there is replayed).
    """
    rec = recording if isinstance(recording, Recording) else open_recording(recording)
    # every frame the replay relies on (events chunks, pages, checkpoints, the index)
    # must be intact: a flipped bit anywhere is a RecordingError, not "verified"
    rec.verify_frames(partial=partial)
    total = len(rec) if stop is None else min(len(rec), max(0, stop))
    m = machine if machine is not None else fresh_machine(rec)
    extra = rec.header.extra if isinstance(rec.header.extra, dict) else {}
    r = _Replayer(m, feed_reads=extra.get("guest_memory") == GUEST_MEMORY_DEVICE_READS)
    r.wall_clock = extra.get("time_base") == TIME_BASE_WALL_CLOCK
    if r.feed_reads:
        # a QEMU guest's recording: the proxy carried no MSI, the messages were lost
        m.mem.deliver_msi = False
    checked = 0
    warnings = list(rec.warnings)
    if machine is None:
        warnings.extend(config_warnings(rec.config))
        warnings.extend(file_backed_warnings(rec.config))
    result = VerifyResult(ok=True, checked=0, total=total, warnings=warnings)
    unknown = [ns for ns in m.ctrl.namespaces.values() if isinstance(ns, _UnknownStart)]
    context: deque[Event] = deque(maxlen=CONTEXT_EVENTS)
    #: the recorded SQE of each command in flight, by (sqid, cid)
    sqes: dict[tuple[int | None, int | None], bytes] = {}
    for n, expected in enumerate(rec.events(0, total)):
        if expected.kind == "sqe_fetch":
            data = getattr(expected, "data", b"") or b""
            if len(data) >= SQE_BYTES:
                sqes[(expected.sqid, int.from_bytes(data[2:4], "little"))] = data
        try:
            if not r.pending:
                if expected.kind in HOST_INPUT_KINDS:
                    r.run_device_before(expected.ts)
                    if not r.pending:
                        r.perform(expected)
                elif expected.actor == HOST:
                    if r.wall_clock:
                        # the QEMU bridge notes after the device work due by then
                        r.run_device_before(expected.ts)
                    if not r.pending:
                        r.annotate(expected)
                else:
                    r.feed(expected)
                    r.device_step()
        except Exception as exc:  # the model must not raise; report it where it happened
            result.ok = False
            why = f"the emulator raised {type(exc).__name__}: {exc}"
            if isinstance(exc, FaultError):  # the recording asks for a fault no device takes
                why = f"the recorded fault cannot be armed: {exc}"
            result.divergence = Divergence(n, expected, None, why, context=list(context))
            break
        read = next((ns for ns in unknown if ns.unknown_read is not None), None)
        if read is not None:  # the run read what the file held: nothing to compare with
            result.ok = False
            result.refused = read.refusal()
            break
        if not r.pending:
            result.ok = False
            result.divergence = Divergence(
                n,
                expected,
                None,
                "the device produced no event where the recording has one",
                context=list(context),
            )
            break
        actual = r.pending.popleft()
        if actual != expected:
            result.ok = False
            fields = differing_fields(expected, actual)
            reason = (
                "a different kind of event"
                if fields == ["kind"]
                else "the event differs in " + ", ".join(fields)
            )
            result.divergence = Divergence(
                n,
                expected,
                actual,
                reason,
                fields,
                context=list(context),
                sqe=sqes.get((expected.sqid, expected.cid)),
            )
            break
        context.append(expected)
        checked += 1
    result.checked = checked
    if result.ok:
        result.device_busy_at_end = bool(r.pending) or not r.sched.idle
    return result
