"""The driver's bring-up touches the registers in the order Linux 6.1 did on QEMU 7.2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nvmescope.emulator.config import profile_config
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


def test_register_order_matches_the_reference_trace():
    # QEMU 7.2's controller, as the trace's: its CAP.NSSRS = 0, so Linux reads no CSTS
    # for NSSRO after VS (tests/test_host_clears_nssro_as_linux.py has NSSRS = 1)
    m = Machine(profile_config("qemu-7.2"), scenario="bringup")
    m.run()
    assert our_accesses(m) == reference_accesses()


def test_with_nssrs_the_order_differs_only_by_the_nssro_read(bringup):
    ours, theirs = our_accesses(bringup), reference_accesses()
    vs = theirs.index(("mmio_read", 0x08, None), 1)
    assert ours == [*theirs[: vs + 1], ("mmio_read", 0x1C, None), *theirs[vs + 1 :]]


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


_ADMIN = re.compile(r"pci_nvme_admin_cmd cid \d+ sqid 0 opc (0x[0-9a-f]+)")
_SUBFIELD = re.compile(r"pci_nvme_(?:identify cid \d+ cns|get_log cid \d+ lid|setfeat cid \d+ nsid "
                       r"0x[0-9a-f]+ fid) (0x[0-9a-f]+)")  # fmt: skip
# what selects the command's variant: CNS for Identify, LID for Get Log Page, FID for Set Features
_HAS_SUBFIELD = {0x06, 0x02, 0x09}


def reference_bringup_admin_commands() -> list[tuple[int, int | None]]:
    """(opcode, CNS/LID/FID) of every admin command before the first I/O command."""
    out: list[tuple[int, int | None]] = []
    for line in TRACE.read_text().splitlines():
        if "pci_nvme_io_cmd" in line:
            return out
        if m := _ADMIN.search(line):
            opc = int(m[1], 16)
            out.append((opc, None))
        elif (m := _SUBFIELD.search(line)) and out and out[-1][1] is None:
            if out[-1][0] in _HAS_SUBFIELD:
                out[-1] = (out[-1][0], int(m[1], 16))
    raise AssertionError("the reference trace has no I/O command")


def our_bringup_admin_commands(m: Machine) -> list[tuple[int, int | None]]:
    out: list[tuple[int, int | None]] = []
    for e in m.events:
        if e.kind == "sqe_fetch" and e.sqid == 0:
            opc, cdw10 = e.data[0], int.from_bytes(e.data[40:44], "little")
            out.append((opc, cdw10 & 0xFF if opc in _HAS_SUBFIELD else None))
    return out


#: commands in the reference bring-up that Linux sends only because QEMU 7.2 advertises
#: something our controller does not; each with the Identify Controller field that decides
SKIPPED = {
    (0x09, 0x16): ("Set Features 16h Host Behavior Support", "CRDT1 = 0 and CTRATT bit 15 clear"),
    (0x7C, None): ("Doorbell Buffer Config", "OACS bit 8 clear"),
    (0x09, 0x0B): ("Set Features 0Bh Async Event Configuration", "OAES has no bit Linux uses"),
    (0x06, 0x05): ("Identify CNS 05h (NVM namespace)", "CTRATT bit 15 (ELBAS) clear"),
}


def test_reference_bringup_sequence_is_what_this_test_expects():
    ref = reference_bringup_admin_commands()
    assert ref[:3] == [(0x06, 0x01), (0x02, 0x05), (0x09, 0x0E)]
    assert set(SKIPPED) <= set(ref)


def test_our_controller_does_not_advertise_what_the_skipped_commands_need(bringup):
    f = bringup.driver.id_ctrl_fields
    assert f.crdt1 == 0 and not f.ctratt & (1 << 15)
    assert not f.oacs & (1 << 8)
    assert not f.oaes & ((1 << 8) | (1 << 9) | (1 << 11) | (1 << 31))
    # and it does advertise what the other conditional commands need
    assert f.lpa & (1 << 1) and f.oncs & (1 << 6)
    assert bringup.driver.vs >= 0x10100


def test_bringup_admin_commands_match_the_reference_trace_minus_the_unadvertised(bringup):
    want = [c for c in reference_bringup_admin_commands() if c not in SKIPPED]
    assert our_bringup_admin_commands(bringup) == want


def test_every_skipped_command_is_announced_with_its_reason(bringup):
    steps = {e.step: e.text for e in bringup.events if e.kind == "host_step"}
    assert "OACS = 0x0, bit 8 clear" in steps["skip_dbbuf"]
    assert "OAES = 0x0" in steps["skip_aen_config"]
    assert "CTRATT = 0x0, bit 15 clear" in steps["skip_id_cs_ns"]
    assert "CRDT1 = 0" in steps["skip_host_behavior"]
    assert "ONCS = 0x1dd, bit 6 set" in steps["timestamp"]
    assert "LPA = 0x6, bit 1 set" in steps["effects_log"]


def test_timestamp_is_the_hosts_time_in_ms_in_an_8_byte_buffer(bringup):
    fetch = next(
        e for e in bringup.events
        if e.kind == "sqe_fetch" and e.data[0] == 0x09 and e.data[40] == 0x0E
    )  # fmt: skip
    dma = next(
        e for e in bringup.events
        if e.kind == "dma_read" and e.cid == fetch.cid and e.sqid == 0 and e.seq > fetch.seq
    )  # fmt: skip
    assert dma.length == 8
    ms = int.from_bytes(dma.data, "little")
    assert ms == 1_700_000_000_000 + dma.ts // 1_000_000


def test_smart_log_is_read_for_the_whole_controller(bringup):
    fetch = next(
        e for e in bringup.events
        if e.kind == "sqe_fetch" and e.data[0] == 0x02 and e.data[40] == 0x02
    )  # fmt: skip
    nsid = int.from_bytes(fetch.data[4:8], "little")
    numd = int.from_bytes(fetch.data[42:44], "little") + 1
    assert nsid == 0xFFFFFFFF and numd * 4 == 512


def test_a_controller_that_offers_shadow_doorbells_gets_doorbell_buffer_config(monkeypatch):
    """OACS bit 8 makes the driver send 7Ch; our device then refuses it and the driver goes on."""
    from nvmescope.emulator import admin
    from nvmescope.nvme import identify as idf

    real = admin.identify_controller_data

    def with_dbbuf(ctrl):
        data = bytearray(real(ctrl))
        fields = idf.IDENTIFY_CONTROLLER.parse(bytes(data))
        fields.oacs |= 1 << 8
        return idf.IDENTIFY_CONTROLLER.build(fields)

    monkeypatch.setattr(admin, "identify_controller_data", with_dbbuf)
    m = Machine(scenario="bringup")
    m.run()
    opcodes = [e.data[0] for e in m.events if e.kind == "sqe_fetch" and e.sqid == 0]
    assert 0x7C in opcodes
    assert opcodes.index(0x7C) == opcodes.index(0x01) + 1  # right after Create I/O SQ
    assert m.driver.up


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
    n = len(our_bringup_admin_commands(bringup)) - 1
    assert n == 12
    assert len(posts) == len(irqs) == len(cq_doorbells) == n
    assert [d.new_head for d in cq_doorbells] == list(range(1, n + 1))
