"""The host model's Compare, Write Zeroes and Dataset Management helpers: what the device
is sent (opcode, SLBA, NLB, DEAC, NR, AD and the ranges) and what the host says of them
(blocks and LBA, ranges), against the emulator after a bring-up."""

from __future__ import annotations

import pytest

from nvmescope.emulator import ControllerConfig
from nvmescope.machine import Machine
from nvmescope.nvme.commands import unpack_sqe

BLOCK = 512


@pytest.fixture
def booted() -> Machine:
    m = Machine(ControllerConfig(), scenario="bringup")
    m.run()
    assert m.driver is not None and m.driver.up
    return m


def _written(m: Machine, slba: int, data: bytes) -> None:
    buf = m.api.alloc(len(data))
    m.api.mem_write(buf, data, "test data")
    assert m.driver.run(m.driver.nvme_write(1, 1, slba, len(data) // BLOCK, buf, len(data))).ok


def _fetched(m: Machine, start: int):
    return [unpack_sqe(e.data) for e in m.events[start:] if e.kind == "sqe_fetch" and e.sqid == 1]


def _said(m: Machine, start: int) -> list[str]:
    return [e.text for e in m.events[start:] if e.kind == "host_step"]


def test_compare_sends_the_blocks_and_fails_on_a_difference(booted):
    m, drv = booted, booted.driver
    data = bytes(range(256)) * 8  # 4 blocks
    _written(m, 16, data)
    start = len(m.events)
    assert drv.run(drv.nvme_compare(1, 1, 16, 4, data)).ok
    (sqe,) = _fetched(m, start)
    assert (sqe.opc, sqe.cdw10, sqe.cdw11, sqe.cdw12) == (0x05, 16, 0, 3)
    assert any("Compare of 4 blocks at LBA 16, NSID 1" in t for t in _said(m, start))
    other = bytearray(data)
    other[700] ^= 1
    c = drv.run(drv.nvme_compare(1, 1, 16, 4, bytes(other)))
    assert not c.ok and c.status_name == "compare_failure"


@pytest.mark.parametrize("deallocate", [False, True])
def test_write_zeroes_zeroes_the_blocks_and_sets_deac_when_asked(booted, deallocate):
    m, drv = booted, booted.driver
    _written(m, 40, b"\xaa" * (8 * BLOCK))
    start = len(m.events)
    assert drv.run(drv.nvme_write_zeroes(1, 1, 42, 3, deallocate=deallocate)).ok
    (sqe,) = _fetched(m, start)
    assert sqe.opc == 0x08 and sqe.cdw10 == 42 and sqe.cdw12 & 0xFFFF == 2
    assert bool(sqe.cdw12 >> 25 & 1) == deallocate
    assert any("Write Zeroes of 3 blocks at LBA 42, NSID 1" in t for t in _said(m, start))
    ns = m.ctrl.namespaces[1]
    assert ns.read_blocks(42, 3) == bytes(3 * BLOCK)
    assert ns.read_blocks(40, 2) == b"\xaa" * (2 * BLOCK)
    assert ns.read_blocks(45, 3) == b"\xaa" * (3 * BLOCK)


def test_dataset_management_sends_its_ranges_and_deallocates_them(booted):
    m, drv = booted, booted.driver
    _written(m, 0, b"\x55" * (32 * BLOCK))
    start = len(m.events)
    assert drv.run(drv.nvme_dsm(1, 1, [(2, 3), (20, 1)])).ok
    (sqe,) = _fetched(m, start)
    assert (sqe.opc, sqe.cdw10 & 0xFF, sqe.cdw11) == (0x09, 1, 1 << 2)
    assert any("Dataset Management of 2 ranges, NSID 1" in t for t in _said(m, start))
    ns = m.ctrl.namespaces[1]
    assert ns.read_blocks(2, 3) == bytes(3 * BLOCK) and ns.read_blocks(20, 1) == bytes(BLOCK)
    assert ns.read_blocks(5, 15) == b"\x55" * (15 * BLOCK)


def test_dataset_management_takes_1_to_256_ranges(booted):
    drv = booted.driver
    with pytest.raises(ValueError, match="1 to 256 ranges"):
        drv.run(drv.nvme_dsm(1, 1, []))
    with pytest.raises(ValueError, match="1 to 256 ranges"):
        drv.run(drv.nvme_dsm(1, 1, [(0, 1)] * 257))
