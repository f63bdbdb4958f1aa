"""The driver's bring-up touches the registers in the order Linux 6.1 did on QEMU 7.2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nvmescope.machine import Machine

TRACE = (
    Path(__file__).resolve().parents[1] / "reference/linux-6.1-on-qemu-7.2/qemu-trace-pci_nvme.log"
)
_READ = re.compile(r"pci_nvme_mmio_read addr (0x[0-9a-f]+) size (\d+)")
_WRITE = re.compile(r"pci_nvme_mmio_write addr (0x[0-9a-f]+) data (0x[0-9a-f]+) size (\d+)")
# ASQ/ACQ low halves hold host addresses, which differ between hosts
_ADDRESS_REGISTERS = {0x28, 0x30}


def reference_accesses() -> list[tuple[str, int, int | None]]:
    """(kind, addr, written value) of every BAR0 access up to CC = 0x460061."""
    out: list[tuple[str, int, int | None]] = []
    for line in TRACE.read_text().splitlines():
        if m := _READ.search(line):
            out.append(("mmio_read", int(m[1], 16), None))
        elif m := _WRITE.search(line):
            addr, value = int(m[1], 16), int(m[2], 16)
            out.append(("mmio_write", addr, None if addr in _ADDRESS_REGISTERS else value))
            if addr == 0x14 and value & 1:
                return out
    raise AssertionError("the reference trace never enables the controller")


def our_accesses(m: Machine) -> list[tuple[str, int, int | None]]:
    out: list[tuple[str, int, int | None]] = []
    for e in m.events:
        if e.kind not in ("mmio_read", "mmio_write") or e.addr >= 0x1000:
            continue  # the MSI-X table is not a controller register (QEMU does not trace it)
        if e.kind == "mmio_read":
            out.append(("mmio_read", e.addr, None))
        else:
            out.append(("mmio_write", e.addr, None if e.addr in _ADDRESS_REGISTERS else e.value))
            if e.addr == 0x14 and e.value & 1:
                return out
    raise AssertionError("the driver never enabled the controller")


@pytest.fixture(scope="module")
def bringup() -> Machine:
    m = Machine(scenario="bringup")
    m.run()
    return m


def test_reference_trace_is_present():
    assert TRACE.is_file()
    assert len(reference_accesses()) > 15


def test_register_order_matches_the_reference_trace(bringup):
    assert our_accesses(bringup) == reference_accesses()


def test_admin_queue_addresses_are_page_aligned_and_32_bit(bringup):
    writes = {e.addr: e.value for e in bringup.events if e.kind == "mmio_write" and e.addr < 0x40}
    assert writes[0x28] % 4096 == 0 and writes[0x30] % 4096 == 0
    assert writes[0x2C] == 0 and writes[0x34] == 0
    assert writes[0x28] != writes[0x30]


def test_bringup_reaches_ready_and_creates_the_queues(bringup):
    snap = bringup.ctrl.snapshot()
    assert snap["registers"]["csts"] & 0x3 == 0x1
    assert [q["sqid"] for q in snap["sqs"]] == [0, 1]
    assert [q["cqid"] for q in snap["cqs"]] == [0, 1]
    assert snap["sqs"][1]["size"] == min(bringup.config.mqes + 1, 1024)
    assert snap["aer_outstanding"] == [31]
    ready = [e for e in bringup.events if e.kind == "ctrl_state" and e.state == "ready"]
    assert len(ready) == 1
    drv = bringup.driver
    assert drv.up and drv.ns_list == [1]
    assert bringup.scenario.ok


def test_admin_commands_follow_linux_order(bringup):
    starts = [(e.opname, e.detail) for e in bringup.events if e.kind == "cmd_start"]
    names = [name for name, _ in starts]
    assert names == [
        "identify",
        "set_features",
        "create_io_cq",
        "create_io_sq",
        "async_event_request",
        "identify",
        "identify",
        "identify",
    ]
    cns = [e.detail for e in bringup.events if e.kind == "cmd_start" and e.opname == "identify"]
    assert [re.search(r"cns (0x[0-9a-f]+)", d)[1] for d in cns] == ["0x01", "0x02", "0x03", "0x00"]


def test_every_host_action_is_announced_by_a_host_step(bringup):
    announced = {"config_read", "config_write", "mmio_write", "doorbell_sq", "doorbell_cq",
                 "mem_write", "host_irq"}  # fmt: skip
    events = bringup.events
    for i, e in enumerate(events):
        if e.actor != "host" or e.kind not in announced:
            continue
        if e.kind == "host_irq":
            continue  # the interrupt announces itself
        prev = [p for p in events[:i] if p.actor == "host"][-1]
        assert prev.kind == "host_step", (i, e.kind, prev.kind)


def test_one_cq_head_doorbell_per_interrupt_batch(bringup):
    irqs = [e for e in bringup.events if e.kind == "host_irq"]
    cq_doorbells = [e for e in bringup.events if e.kind == "doorbell_cq"]
    posts = [e for e in bringup.events if e.kind == "cqe_post"]
    # the AER is still outstanding: every other command posted one CQE, one irq, one doorbell
    assert len(posts) == len(irqs) == len(cq_doorbells) == 7
    assert [d.new_head for d in cq_doorbells] == list(range(1, 8))
