"""The host model's bring-up beside a real Linux 6.1 guest's, as recorded in recordings/.

Three sequences are compared, each reduced to what both sides must agree on:

- **registers**: every BAR0 register access by name (a write with its value, except
  the admin queues' host addresses; a run of CSTS reads counted once, as nvme_wait_ready
  polls as often as the clock makes it), each MSI-X table access (entry, dword, a
  write's value) and each doorbell (an SQ's with the opcode the device fetched for it);
- **commands**: every admin command the device fetched: opcode, NSID and CDW10..CDW15
  (not the CID, whose upper bits Linux uses as a generation counter, nor the PRPs, which
  are host addresses);
- **config**: every configuration space access of the function (a write with its
  value).

:func:`msix_story` reduces a run to what happens to MSI-X (for the guest with MSI-X
visible).

The guest's window is its driver's probe: from the console line ``nvme nvme0: pci
function`` up to the first I/O submission queue doorbell (the partition scan's first
Read). The model's is the whole ``bringup`` scenario.

A difference is a :class:`Difference`: which side has a run of items the other lacks,
and why (Linux 6.1's code is the authority). :func:`without` takes each listed run out
of its side and reports every run it could not find, so a list of differences cannot
outlive what it explains.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvmescope.emulator import ControllerConfig
from nvmescope.machine import Machine
from nvmescope.trace import open_recording
from nvmescope.trace.format import config_to_data

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
#: a real Linux 6.1 guest's run with the defaults of `nvmescope linux run`
LINUX_BRINGUP = RECORDINGS / "linux-6.1-bringup.nvmetrace"
#: the same with the MSI-X capability visible (-c msix=1)
LINUX_BRINGUP_MSIX = RECORDINGS / "linux-6.1-bringup-msix.nvmetrace"

#: ASQ and ACQ low halves hold host addresses, which differ between hosts
ADDRESS_REGISTERS = {"asq.lo", "acq.lo"}
PROBE_LINE = "nvme nvme0: pci function"

Item = tuple[Any, ...]


def _reg(e: Any) -> str:
    return str(e.reg or f"{e.addr:#x}")


def register_items(events: Iterable[Any], msix_table: int | None) -> list[Item]:
    """BAR0 accesses and doorbells, in order. ``msix_table``: the table's BAR0 offset."""
    out: list[Item] = []
    events = list(events)
    for i, e in enumerate(events):
        if e.kind == "doorbell_sq":
            # with the opcode of the command the device fetched for it (None: nothing)
            fetched = next(
                (f.data[0] for f in events[i + 1 :] if f.kind == "sqe_fetch" and f.sqid == e.sqid),
                None,
            )  # fmt: skip
            out.append(("doorbell", f"SQ{e.sqid} tail", fetched))
        elif e.kind == "doorbell_cq":
            out.append(("doorbell", f"CQ{e.cqid} head"))
        elif e.kind in ("mmio_read", "mmio_write"):
            if msix_table is not None and msix_table <= e.addr < msix_table + 0x1000:
                entry, dword = divmod(e.addr - msix_table, 16)
                if e.kind == "mmio_write":
                    out.append(("msix_write", entry, dword // 4, e.value))
                else:
                    out.append(("msix_read", entry, dword // 4))
            elif e.kind == "mmio_read":
                out.append(("read", _reg(e)))
            else:
                name = _reg(e)
                out.append(("write", name, None if name.lower() in ADDRESS_REGISTERS else e.value))
    return collapse_polls(out)


def collapse_polls(items: list[Item]) -> list[Item]:
    """One read of CSTS where several come in a row: nvme_wait_ready reads CSTS until
    RDY changes, and how many reads that takes depends on the clock, not on the order."""
    out: list[Item] = []
    for item in items:
        if item == ("read", "csts") and out and out[-1] == item:
            continue
        out.append(item)
    return out


def command_items(events: Iterable[Any]) -> list[Item]:
    """Each admin command as the device fetched it: (opcode, NSID, CDW10..CDW15)."""
    out: list[Item] = []
    for e in events:
        if e.kind == "sqe_fetch" and e.sqid == 0:
            d = bytes(e.data)
            dw = [int.from_bytes(d[i : i + 4], "little") for i in range(0, 64, 4)]
            out.append((d[0], dw[1], *dw[10:16]))
    return out


def config_items(events: Iterable[Any]) -> list[Item]:
    """Each configuration access: ("read", offset, size) or ("write", offset, size, value)."""
    out: list[Item] = []
    for e in events:
        if e.kind == "config_read":
            out.append(("read", e.offset, e.size))
        elif e.kind == "config_write":
            out.append(("write", e.offset, e.size, e.value))
    return out


@dataclass(frozen=True)
class Difference:
    """A run of items one side has and the other does not, and why."""

    #: "linux" (the guest does it, the model does not) or "model"
    side: str
    #: which sequence: "registers", "commands" or "config"
    sequence: str
    why: str
    #: the run of consecutive items of that side it covers
    items: tuple[Item, ...]
    #: how many times the run occurs in that side's sequence
    times: int = 1


def without(items: list[Item], differences: Iterable[Difference]) -> tuple[list[Item], list[str]]:
    """``items`` with the first ``times`` occurrences of each difference's run taken out,
    in the order given; and the differences whose run was not found that often (stale)."""
    left = list(items)
    stale: list[str] = []
    for d in differences:
        run = list(d.items)
        for _ in range(d.times):
            at = next(
                (i for i in range(len(left) - len(run) + 1) if left[i : i + len(run)] == run), None
            )
            if at is None:
                stale.append(d.why)
                break
            del left[at : at + len(run)]
    return left, stale


@dataclass
class Sides:
    linux: list[Any]
    model: list[Any]
    msix_table: int | None
    config: ControllerConfig
    recorded_config: dict[str, Any]

    def items(self, sequence: str, side: str) -> list[Item]:
        events = self.linux if side == "linux" else self.model
        if sequence == "registers":
            return register_items(events, self.msix_table)
        if sequence == "commands":
            return command_items(events)
        return config_items(events)


def probe_window(events: list[Any]) -> list[Any]:
    """The guest's events from its driver's first console line to the first I/O doorbell."""
    start = next(
        i for i, e in enumerate(events)
        if e.kind == "host_step" and e.step == "console" and PROBE_LINE in e.text
    )  # fmt: skip
    end = next(
        (i for i in range(start, len(events))
         if events[i].kind == "doorbell_sq" and events[i].sqid != 0),
        len(events),
    )  # fmt: skip
    return events[start:end]


def sides(recording: Path, **knobs: Any) -> Sides:
    """The guest's probe window and the model's bring-up with the recording's knobs."""
    rec = open_recording(recording)
    events = list(rec.events())
    config = dataclasses.replace(ControllerConfig(), **knobs)
    m = Machine(config, scenario="bringup")
    m.run()
    model = list(m.events)
    # the same function in both: its MSI-X table is where the model's driver found it
    table = m.driver.msix_table
    return Sides(
        linux=probe_window(events), model=model, msix_table=table, config=config,
        recorded_config=rec.config,
    )  # fmt: skip


def recorded_config_matches(s: Sides) -> list[str]:
    """The knobs whose recorded value differs from the model's run (none: [])."""
    ours = json.loads(json.dumps(config_to_data(s.config)))
    return sorted(k for k in ours if s.recorded_config.get(k) != ours[k])


def msix_story(events: Iterable[Any], msix_cap: int, msix_table: int, vectors: int) -> list[Item]:
    """What happens to MSI-X, in order, beside the bring-up's landmarks.

    ("mc", enable, function_mask) for each Message Control write; ("intx_disable", bit)
    for each Command write; ("message", entry) when an entry's message data is written
    (its value is the host's choice of vector: not compared; a write repeated at once
    counts once); ("masked", entry, bit) for each Vector Control write, a run masking
    every entry being one ("mask_all",); and the landmarks ("cc.en",) when CC.EN is set,
    ("ready",) when CSTS.RDY becomes 1, ("doorbell", opcode) for each admin command.
    """
    out: list[Item] = []
    events = list(events)
    for i, e in enumerate(events):
        if e.kind == "config_write" and e.offset == msix_cap + 2 and e.size == 2:
            out.append(("mc", bool(e.value & 0x8000), bool(e.value & 0x4000)))
        elif e.kind == "config_write" and e.offset == 0x04 and e.size == 2:
            out.append(("intx_disable", bool(e.value & 0x400)))
        elif e.kind == "mmio_write" and msix_table <= e.addr < msix_table + 16 * vectors:
            entry, dword = divmod(e.addr - msix_table, 16)
            if dword == 8 and out[-1:] != [("message", entry)]:
                out.append(("message", entry))
            elif dword == 12:
                out.append(("masked", entry, bool(e.value & 1)))
        elif e.kind == "mmio_write" and e.reg == "cc" and e.value & 1:
            out.append(("cc.en",))
        elif e.kind == "ctrl_state" and e.state == "ready":
            out.append(("ready",))
        elif e.kind == "doorbell_sq" and e.sqid == 0:
            fetched = next(
                (f.data[0] for f in events[i + 1 :] if f.kind == "sqe_fetch" and f.sqid == 0),
                None,
            )  # fmt: skip
            out.append(("doorbell", fetched))
    return _mask_all(out, vectors)


def _mask_all(items: list[Item], vectors: int) -> list[Item]:
    run = [("masked", n, True) for n in range(vectors)]
    out: list[Item] = []
    i = 0
    while i < len(items):
        if items[i : i + vectors] == run:
            out.append(("mask_all",))
            i += vectors
        else:
            out.append(items[i])
            i += 1
    return out
