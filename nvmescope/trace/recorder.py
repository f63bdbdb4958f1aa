"""Recording a Machine: a bus subscriber that writes a ``.nvmetrace`` file.

    rec = Recorder.attach(machine, "run.nvmetrace")
    machine.run()
    summary = rec.close()

or, for the CLI's ``nvmescope record SCENARIO -o FILE``:

    summary = record("identify", "identify.nvmetrace")

The recorder only buffers each event; every ``chunk_events`` events it
encodes, compresses, writes and flushes one chunk, so a recorder killed at
any moment leaves a file that opens up to its last complete chunk.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import msgspec

from nvmescope import events as ev
from nvmescope.events import Event
from nvmescope.trace.format import (
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_CHUNK_EVENTS,
    Header,
    RecordingSummary,
    TraceWriter,
    config_to_data,
)


class Recorder:
    """Writes every event it is given (it is a bus subscriber) to a recording."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        config: Any = None,
        scenario: str | None = None,
        seed: int | None = None,
        fmt: str = "msgpack",
        chunk_events: int = DEFAULT_CHUNK_EVENTS,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        extra: dict[str, Any] | None = None,
        fsync: bool = False,
    ) -> None:
        header = Header(
            config=config_to_data(config), scenario=scenario, seed=seed, extra=dict(extra or {})
        )
        self.writer = TraceWriter(
            path,
            header,
            fmt=fmt,
            chunk_events=chunk_events,
            checkpoint_every=checkpoint_every,
            fsync=fsync,
        )
        self._unsubscribe: Any = None
        self.summary: RecordingSummary | None = None

    def __call__(self, event: Event) -> None:
        self.writer.append(event)

    @property
    def events(self) -> int:
        """Events recorded so far (written or buffered)."""
        return self.writer.stats.events + len(self.writer._buffer)

    @classmethod
    def attach(
        cls,
        machine: Any,
        path: str | os.PathLike[str],
        *,
        scenario: str | None = None,
        seed: int | None = None,
        **options: Any,
    ) -> Recorder:
        """Record ``machine`` from now on: subscribe to its bus; the header gets its config.

        Events the machine emitted before attaching are written first, so a
        recording always starts at event 0.
        """
        config = getattr(machine, "config", None)
        if config is None:
            config = getattr(getattr(machine, "ctrl", None), "config", None)
        if scenario is None:
            scenario = _scenario_name(machine)
        if seed is None:
            seed = getattr(machine, "seed", None)
        extra = dict(options.pop("extra", None) or {})
        run = getattr(machine, "scenario", None)
        if "params" not in extra and run is not None:
            # the scenario's parameters (defaults included) say how to run it again
            extra["params"] = dict(getattr(run, "params", None) or {})
        rec = cls(path, config=config, scenario=scenario, seed=seed, extra=extra, **options)
        for event in list(getattr(machine, "events", []) or []):
            rec.writer.append(event)
        rec._unsubscribe = machine.bus.subscribe(rec.writer.append)
        return rec

    def close(self) -> RecordingSummary:
        """Stop recording; write the rest, the index and the trailer."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.summary is None:
            stats = self.writer.close()
            first, last = stats.first_ts or 0, stats.last_ts or 0
            self.summary = RecordingSummary(
                path=str(self.writer.path),
                format=self.writer.fmt,
                events=stats.events,
                bytes=stats.bytes,
                chunks=stats.chunks,
                checkpoints=stats.checkpoints,
                scenario=self.writer.header.scenario,
                virtual_ns=last - first,
                kinds=dict(sorted(stats.kinds.items())),
            )
        return self.summary

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _scenario_name(machine: Any) -> str | None:
    scenario = getattr(machine, "scenario", None)
    if scenario is None or isinstance(scenario, str):
        return scenario
    name = getattr(scenario, "name", None)
    return name if isinstance(name, str) else None


def record(
    scenario: str,
    path: str | os.PathLike[str],
    config: Any = None,
    fmt: str = "msgpack",
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    *,
    chunk_events: int = DEFAULT_CHUNK_EVENTS,
    max_events: int | None = None,
    params: dict[str, int] | None = None,
) -> RecordingSummary:
    """Run ``scenario`` on a fresh Machine and record every event to ``path``.

    ``params`` are the scenario's parameters (e.g. ``{"count": 1000}`` for io-load);
    the header keeps them, defaults included, in ``extra["params"]``.

    ``config`` is a ControllerConfig (or None for the defaults). ``max_events``
    stops the run after that many events (the recording is still complete).
    An unknown scenario raises ``machine.UnknownScenario`` (a ValueError whose
    message lists the known ones) before the file is created.
    """
    from nvmescope.machine import Machine  # the machine layer is below trace

    # the file is the only copy of the events: memory stays bounded however long the run
    machine = Machine(config, scenario, params=params, keep_events=False)
    rec = Recorder.attach(
        machine,
        path,
        scenario=scenario,
        fmt=fmt,
        checkpoint_every=checkpoint_every,
        chunk_events=chunk_events,
    )
    try:
        if max_events is None:
            machine.run()
        else:
            count = rec.events
            while count < max_events and machine.step() is not None:
                count += 1
    finally:
        summary = rec.close()
        machine.close()  # a file-backed namespace's file: closed and unlocked
    return summary


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    fmt: str = "jsonl",
    *,
    checkpoint_every: int | None = None,
) -> RecordingSummary:
    """Write recording ``src`` again as ``dst`` in ``fmt`` ("jsonl" or "msgpack").

    Same header, same events; checkpoints are computed afresh. Raises
    RecordingError if ``src`` cannot be read (a partial source converts its
    readable part).
    """
    from nvmescope.trace.reader import open_recording

    with open_recording(src) as rec:
        header = msgspec.structs.replace(rec.header)
        every = checkpoint_every or header.checkpoint_every or DEFAULT_CHECKPOINT_EVERY
        chunk = header.chunk_events or DEFAULT_CHUNK_EVENTS
        writer = TraceWriter(dst, header, fmt=fmt, chunk_events=chunk, checkpoint_every=every)
        try:
            for event in rec.events():
                writer.append(event)
        finally:
            stats = writer.close()
    return RecordingSummary(
        path=str(dst),
        format=fmt,
        events=stats.events,
        bytes=stats.bytes,
        chunks=stats.chunks,
        checkpoints=stats.checkpoints,
        scenario=header.scenario,
        virtual_ns=(stats.last_ts or 0) - (stats.first_ts or 0),
        kinds=dict(sorted(stats.kinds.items())),
    )


def synthetic_admin_events(count: int, *, first_seq: int = 0) -> Iterator[Event]:
    """A realistic stream of ``count`` events without running the emulator.

    The host enables the controller (MMIO), then loops Identify, Get Log Page
    and Get Features on the admin queue pair: SQE written to memory, tail
    doorbell, fetch, start, PRP map, DMA of the data, finish, CQE post, MSI-X,
    the host's handler, its CQE read and the head doorbell. For the file-format
    benchmark and tests of the recording layer (``apply`` folds it like a real
    run: registers, queues, memory and interrupts all change).
    """
    asq, acq, buf = 0x10000, 0x11000, 0x12000
    qsize = 32
    seq = first_seq
    ts = 0
    made = 0

    def stamp(e: Event) -> Event:
        nonlocal seq, ts, made
        e.seq, e.ts = seq, ts
        seq += 1
        ts += 250
        made += 1
        return e

    bring_up: list[Event] = [
        ev.MmioRead(addr=0x0, size=8, value=0x0040_0020_0F01_07FF, reg="cap"),
        ev.MmioRead(addr=0x8, size=4, value=0x0001_0400, reg="vs"),
        ev.MmioWrite(addr=0x24, size=4, value=0x001F_001F, reg="aqa", new=0x001F_001F),
        ev.MmioWrite(addr=0x28, size=8, value=asq, reg="asq", new=asq),
        ev.MmioWrite(addr=0x30, size=8, value=acq, reg="acq", new=acq),
        ev.MmioWrite(addr=0x14, size=4, value=0x0046_0001, reg="cc", new=0x0046_0001),
        ev.CtrlState(state="ready", csts_old=0, csts_new=1, detail="CSTS.RDY=1"),
        ev.MmioRead(addr=0x1C, size=4, value=1, reg="csts"),
    ]
    for e in bring_up:
        if made >= count:
            return
        yield stamp(e)
    commands = (
        (0x06, "identify", 1),
        (0x02, "get_log_page", 0x007F0002),
        (0x0A, "get_features", 7),
    )
    tail = head = 0
    phase = 1
    cid = 0
    while True:
        opcode, opname, cdw10 = commands[cid % 3]
        slot = tail
        sqe = (
            bytes([opcode, 0])
            + cid.to_bytes(2, "little")
            + bytes(20)
            + buf.to_bytes(8, "little")
            + bytes(8)
            + cdw10.to_bytes(4, "little")
            + bytes(20)
        )
        tail = (tail + 1) % qsize
        data = bytes((cid + i) & 0xFF for i in range(64)) * 64 if opcode != 0x0A else b""
        cqe_status = 0
        dw0 = 7 if opcode == 0x0A else 0
        cqe = (
            dw0.to_bytes(4, "little")
            + bytes(4)
            + tail.to_bytes(2, "little")
            + bytes(2)
            + cid.to_bytes(2, "little")
            + ((cqe_status << 1) | phase).to_bytes(2, "little")
        )
        steps: list[Event] = [
            ev.HostStep(step="submit", text=f"host submits {opname} (cid {cid})"),
            ev.MemWrite(addr=asq + slot * 64, data=sqe, purpose="SQE"),
            ev.DoorbellSq(addr=0x1000, old_tail=slot, new_tail=tail, sqid=0),
            ev.SqeFetch(slot=slot, addr=asq + slot * 64, data=sqe, new_head=tail, sqid=0, cid=cid),
            ev.CmdStart(opcode=opcode, opname=opname, sqid=0, cid=cid),
        ]
        if data:
            steps += [
                ev.MapPrp(prp1=buf, prp2=0, length=4096, segments=[(buf, 4096)], sqid=0, cid=cid),
                ev.DmaWrite(addr=buf, length=4096, data=data, purpose="data", sqid=0, cid=cid),
            ]
        steps += [
            ev.CmdFinish(opcode=opcode, opname=opname, status=0, dw0=dw0, sqid=0, cid=cid),
            ev.CqePost(
                cqid=0,
                slot=head,
                addr=acq + head * 16,
                phase=phase,
                status=0,
                dw0=dw0,
                sqhd=tail,
                data=cqe,
                new_tail=(head + 1) % qsize,
                sqid=0,
                cid=cid,
            ),
            ev.IrqMsix(vector=0, address=0xFEE0_0000, data=0x20, sqid=0, cid=cid),
            ev.Interrupt(vector=0),
            ev.MemRead(addr=acq + head * 16, data=cqe, purpose="CQE"),
        ]
        head = (head + 1) % qsize
        if head == 0:
            phase ^= 1
        steps.append(ev.DoorbellCq(addr=0x1004, cqid=0, old_head=(head - 1) % qsize, new_head=head))
        for e in steps:
            if made >= count:
                return
            yield stamp(e)
        cid = (cid + 1) & 0xFFFF
