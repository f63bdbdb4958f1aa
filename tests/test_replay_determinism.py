"""Replay determinism: any host program, recorded and replayed with verify, never diverges.

A random host program is a sequence of HostAPI calls a script could make: PCI
config writes (MSI-X on or off), admin queue and CC/CSTS register accesses,
SQEs written to the admin SQ (Identify, Get/Set Features, Create I/O CQ/SQ,
Doorbell Buffer Config, garbage opcodes), SQ tail and CQ head doorbells (in
range or not), reads of the CQ, and every way of letting time pass (``step``,
``run_for``, ``run_until_idle``). It is recorded, then ``verify`` replays it
on a fresh device: every event must be identical, whatever the program did.

CI runs a modest number of examples. A long campaign:

    NVMESCOPE_REPLAY_EXAMPLES=2000 .venv/bin/python -m pytest -q \
        tests/test_replay_determinism.py

(``NVMESCOPE_REPLAY_EXAMPLES`` sets hypothesis' ``max_examples``.)
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvmescope.emulator import ControllerConfig
from nvmescope.host.api import DeviceBusyError, HostAccessError
from nvmescope.machine import Machine
from nvmescope.nvme.commands import pack_sqe
from nvmescope.nvme.pci import MSIX_CAP_OFFSET
from nvmescope.trace import Recorder, verify

MAX_EXAMPLES = int(os.environ.get("NVMESCOPE_REPLAY_EXAMPLES", "25"))
ADMIN_ENTRIES = 8
MSI_ADDRESS = 0xFEE0_0000

# admin opcodes: Identify, Get/Set Features, Create I/O CQ/SQ, Delete I/O SQ, DBBUF, junk
OPCODES = st.sampled_from([0x06, 0x0A, 0x09, 0x05, 0x01, 0x00, 0x7C, 0x02, 0xC5])

STEP = st.one_of(
    # what a well-behaved host does most: submit k commands, consume what completed;
    # a batch is submit, run until idle, consume (a polling host)
    st.tuples(st.just("batch"), st.integers(1, 3), OPCODES),
    st.tuples(st.just("batch"), st.integers(1, 3), st.just(0x06)),
    st.tuples(st.just("submit"), st.integers(1, 3), OPCODES),
    st.tuples(st.just("consume")),
    st.tuples(st.just("submit"), st.integers(1, 3), st.just(0x06)),
    st.tuples(st.just("consume")),
    st.tuples(st.just("idle")),
    st.tuples(st.just("run_for"), st.integers(0, 3_000)),
    st.tuples(st.just("run_for"), st.integers(0, 40_000)),
    st.tuples(st.just("step"), st.integers(1, 12)),
    st.tuples(st.just("idle")),
    st.tuples(st.just("sqe"), st.integers(0, ADMIN_ENTRIES - 1), OPCODES, st.integers(0, 3)),
    st.tuples(st.just("sq_tail"), st.integers(0, ADMIN_ENTRIES)),
    st.tuples(st.just("cq_head"), st.integers(0, ADMIN_ENTRIES)),
    st.tuples(st.just("io_doorbell"), st.integers(1, 2), st.booleans(), st.integers(0, 4)),
    st.tuples(st.just("read_cq"), st.integers(0, ADMIN_ENTRIES - 1)),
    st.tuples(st.just("csts")),
    st.tuples(st.just("cc"), st.sampled_from([0x0046_0001, 0x0046_0000, 0x0046_4001, 0x4000])),
    st.tuples(st.just("intm"), st.booleans()),
    st.tuples(st.just("command_reg"), st.sampled_from([0x0006, 0x0002, 0x0000])),
)

PROGRAM = st.tuples(
    st.sampled_from([False, False, True]),  # MSI-X (INTx more often: more of its paths)
    st.booleans(),  # Doorbell Buffer Config offered
    st.lists(STEP, min_size=6, max_size=40),
)


def _expand(steps: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The program with each ``batch`` spelled out as submit, idle, consume."""
    out: list[tuple[Any, ...]] = []
    for step in steps:
        if step[0] == "batch":
            out += [("submit", step[1], step[2]), ("idle",), ("consume",)]
        else:
            out.append(step)
    return out


def _run_program(m: Machine, msix: bool, steps: list[tuple[Any, ...]]) -> None:
    api = m.api
    api.config_write(0x04, 2, 0x0006)
    if msix:
        table = m.ctrl.table_offset
        for v in range(4):
            api.mmio_write32(table + 16 * v, MSI_ADDRESS)
            api.mmio_write32(table + 16 * v + 4, 0)
            api.mmio_write32(table + 16 * v + 8, v)
            api.mmio_write32(table + 16 * v + 12, 0)
        api.config_write(MSIX_CAP_OFFSET + 2, 2, 0x8000)
    asq, acq = api.alloc(), api.alloc()
    bufs = [api.alloc(), api.alloc(), api.alloc(), api.alloc()]
    api.mmio_write32(0x24, ((ADMIN_ENTRIES - 1) << 16) | (ADMIN_ENTRIES - 1))
    api.mmio_write64(0x28, asq)
    api.mmio_write64(0x30, acq)
    api.mmio_write32(0x14, 0x0046_0001)
    for _ in range(20):  # most programs start on a ready controller
        if api.mmio_read32(0x1C) & 1:
            break
        api.run_for(5_000)
    cid = 0
    tail = head = 0
    phase = 1

    def sqe_for(opc: int, b: int) -> bytes:
        # a command that makes sense for its opcode often enough: queue 1, size 4,
        # the buffers as PRPs (Doorbell Buffer Config takes two pages)
        return pack_sqe(
            opc=opc, cid=cid, prp1=bufs[b], prp2=bufs[(b + 1) % 4],
            cdw10=(3 << 16) | 1 if opc in (0x05, 0x01) else (1 if opc == 0x06 else 7),
            cdw11=(1 << 16) | 1 if opc == 0x01 else (1 if opc == 0x05 else 0),
        )  # fmt: skip

    for step in _expand(steps):
        what = step[0]
        if what == "run_for":
            api.run_for(step[1])
        elif what == "step":
            for _ in range(step[1]):
                api.step()
        elif what == "idle":
            api.run_until_idle(max_steps=200_000)
        elif what == "submit":
            _, count, opc = step
            for _ in range(count):
                cid += 1
                api.mem_write(asq + 64 * tail, sqe_for(opc, cid % 4), "SQE")
                tail = (tail + 1) % ADMIN_ENTRIES
            api.mmio_write32(0x1000, tail)
        elif what == "consume":
            moved = False
            while True:
                cqe = api.mem_read(acq + 16 * head, 16, "CQE")
                if (cqe[14] & 1) != phase:
                    break
                head = (head + 1) % ADMIN_ENTRIES
                phase ^= head == 0
                moved = True
            if moved:
                api.mmio_write32(0x1004, head)
        elif what == "sqe":
            _, slot, opc, b = step
            cid += 1
            api.mem_write(asq + 64 * slot, sqe_for(opc, b), "SQE")
        elif what == "sq_tail":
            api.mmio_write32(0x1000, step[1])
        elif what == "cq_head":
            api.mmio_write32(0x1004, step[1])
        elif what == "io_doorbell":
            _, qid, is_cq, value = step
            api.mmio_write32(0x1000 + 8 * qid + (4 if is_cq else 0), value)
        elif what == "read_cq":
            api.mem_read(acq + 16 * step[1], 16, "CQE")
        elif what == "csts":
            api.mmio_read32(0x1C)
        elif what == "cc":
            api.mmio_write32(0x14, step[1])
        elif what == "intm":
            api.mmio_write32(0x0C if step[1] else 0x10, 1)
        elif what == "command_reg":
            api.config_write(0x04, 2, step[1])
    api.run_until_idle(max_steps=200_000)


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(program=PROGRAM)
def test_a_recorded_host_program_replays_without_divergence(tmp_path_factory, program):
    msix, dbbuf, steps = program
    path = tmp_path_factory.mktemp("replay") / "program.nvmetrace"
    m = Machine(ControllerConfig(dbbuf=dbbuf), scenario=None)
    rec = Recorder.attach(m, path, chunk_events=64)
    try:
        _run_program(m, msix, steps)
    except (DeviceBusyError, HostAccessError):
        pass  # a program may keep the device busy: what it recorded must still replay
    rec.close()
    result = verify(path)
    assert result.ok, result.describe()
    assert result.checked == result.total == len(m.events)
