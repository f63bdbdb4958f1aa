"""Replay and verify: re-execute a recording's host inputs against a fresh device.

Like rr, the recorded stream is the script. A fresh Machine is built from the
recorded configuration with no driver (``scenario=None``). Walking the
recording in order:

- a host input (``events.HOST_INPUT_KINDS``: config and MMIO accesses,
  doorbells, host memory writes) is performed again at its recorded virtual
  time, after the device has done all its work scheduled before that time;
- a device event is produced by running the device's scheduler until it
  emits one;
- a host annotation (``host_step``, ``host_irq``) is copied through onto the
  bus, and a ``mem_read`` is performed again (so the bytes the host read are
  checked too).

Each event the replay produces is compared with the recorded one, every field
(sequence number and virtual time included). The first difference is the
divergence: its event number, the expected and the actual event. Identical
runs pass.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgspec

from nvmescope.events import HOST, HOST_INPUT_KINDS, Event, describe
from nvmescope.trace.format import RecordingError
from nvmescope.trace.reader import Recording, open_recording

#: scheduler runs without a single event before the replay gives up on the device
MAX_SILENT_STEPS = 100_000


@dataclass
class Divergence:
    """Where a replay first differed from the recording."""

    index: int
    expected: Event | None
    actual: Event | None
    reason: str
    fields: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """A few lines for people: where, why, expected and actual."""
        lines = [f"divergence at event {self.index}: {self.reason}"]
        if self.expected is not None:
            lines.append(f"  expected: {self.expected.kind} {describe(self.expected)}")
        if self.actual is not None:
            lines.append(f"  actual:   {self.actual.kind} {describe(self.actual)}")
        for name in self.fields:
            want = getattr(self.expected, name, None)
            got = getattr(self.actual, name, None)
            lines.append(f"  {name}: expected {want!r}, actual {got!r}")
        return "\n".join(lines)


@dataclass
class VerifyResult:
    ok: bool
    #: events compared and found equal
    checked: int
    #: events in the recording
    total: int
    divergence: Divergence | None = None
    warnings: list[str] = field(default_factory=list)
    #: the device still had work queued when the recording ended (a recording cut short)
    device_busy_at_end: bool = False

    def describe(self) -> str:
        if self.ok:
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
    """The ControllerConfig a recording's header describes."""
    from nvmescope.emulator import ControllerConfig

    return msgspec.convert(data, ControllerConfig, strict=False)


#: limits the specification puts on configuration knobs (a file cannot ask for more)
_SPEC_LIMITS = {
    "msix_vectors": (1, 2048),  # MSI-X Table Size is 11 bits, 0's based
    "max_io_queues": (1, 65535),
    "mqes": (1, 65535),  # CAP.MQES is 16 bits
    "dstrd": (0, 15),  # CAP.DSTRD is 4 bits
    "mdts": (0, 255),
    "nn": (0, 1024),
}


def fresh_machine(recording: Recording) -> Any:
    """A Machine built from the recording's configuration, with no driver."""
    from nvmescope.machine import Machine

    def bad(what: object) -> RecordingError:
        return RecordingError(recording.path, f"the recorded configuration cannot be used: {what}")

    try:
        config = build_config(recording.config) if recording.config else None
    except (msgspec.ValidationError, TypeError, ValueError) as exc:
        raise bad(exc) from None
    if config is not None:
        for name, (lo, hi) in _SPEC_LIMITS.items():
            value = getattr(config, name, None)
            if isinstance(value, int) and not lo <= value <= hi:
                raise bad(f"{name} = {value} is outside {lo}..{hi}")
        for name, value in vars(config).items():
            if isinstance(value, int) and value < 0:
                raise bad(f"{name} = {value} is negative")
    try:
        return Machine(config, None)
    except Exception as exc:  # the configuration came from a file: never a traceback
        raise bad(f"{type(exc).__name__}: {exc}") from None


class _Replayer:
    def __init__(self, machine: Any) -> None:
        self.m = machine
        self.sched = machine.sched
        self.bus = machine.bus
        self.ctrl = machine.ctrl
        self.pending: deque[Event] = deque()
        self.bus.subscribe(self.pending.append)

    def _set_time(self, ts: int) -> None:
        if ts > self.sched.now:
            self.sched.now = ts

    def run_device_before(self, ts: int) -> None:
        """Run device work scheduled before ``ts`` (it happened before the host's access)."""
        steps = 0
        while not self.pending and steps < MAX_SILENT_STEPS:
            when = self.sched.next_time()
            if when is None or when >= ts:
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
            self.m.mem.cpu_write(e.addr, e.data, e.purpose)
        else:  # pragma: no cover - HOST_INPUT_KINDS is the list above
            raise ValueError(kind)

    def annotate(self, e: Any) -> None:
        self._set_time(e.ts)
        if e.kind == "mem_read":
            self.m.mem.cpu_read(e.addr, len(e.data), e.purpose)
        else:
            self.bus.emit(msgspec.structs.replace(e))


def verify(
    recording: Recording | str | os.PathLike[str],
    *,
    stop: int | None = None,
    machine: Any = None,
) -> VerifyResult:
    """Replay ``recording``'s host inputs on a fresh emulator and compare every event.

    ``stop`` limits the comparison to the first ``stop`` events. ``machine``
    (optional) is the Machine to replay on; by default one is built from the
    recorded configuration with no driver. Raises RecordingError if the
    recording cannot be read.
    """
    rec = recording if isinstance(recording, Recording) else open_recording(recording)
    total = len(rec) if stop is None else min(len(rec), max(0, stop))
    m = machine if machine is not None else fresh_machine(rec)
    r = _Replayer(m)
    checked = 0
    result = VerifyResult(ok=True, checked=0, total=total, warnings=list(rec.warnings))
    for n, expected in enumerate(rec.events(0, total)):
        try:
            if not r.pending:
                if expected.kind in HOST_INPUT_KINDS:
                    r.run_device_before(expected.ts)
                    if not r.pending:
                        r.perform(expected)
                elif expected.actor == HOST:
                    r.annotate(expected)
                else:
                    r.device_step()
        except Exception as exc:  # the model must not raise; report it where it happened
            result.ok = False
            result.divergence = Divergence(
                n, expected, None, f"the emulator raised {type(exc).__name__}: {exc}"
            )
            break
        if not r.pending:
            result.ok = False
            result.divergence = Divergence(
                n, expected, None, "the device produced no event where the recording has one"
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
            result.divergence = Divergence(n, expected, actual, reason, fields)
            break
        checked += 1
    result.checked = checked
    if result.ok:
        result.device_busy_at_end = bool(r.pending) or not r.sched.idle
    return result
