"""The scoreboard of the protocol checks: a model of every block from the events alone
predicts what each Read delivers and whether each Compare succeeds; the shipped I/O
recordings agree with it, and a recording tampered with is caught."""

from __future__ import annotations

import msgspec
import pytest
from tui import RECORDINGS

from nvmescope.trace import open_recording
from nvmescope.trace.checks import run_checks
from nvmescope.trace.scoreboard import Scoreboard

IO = ("io", "io-load", "prp-list", "sgl", "dsm", "copy")


def events(name: str) -> list:
    with open_recording(RECORDINGS / f"{name}.nvmetrace") as rec:
        return list(rec.events())


def model_of(evs: list) -> Scoreboard:
    board = Scoreboard()
    for e in evs:
        board.feed(e, lambda *a, **k: None)
    return board


@pytest.mark.parametrize("name", IO)
def test_the_shipped_io_recordings_agree_with_the_model(name):
    evs = events(name)
    assert not [f for f in run_checks(evs) if f.check in ("data_mismatch", "compare_mismatch")]
    assert model_of(evs).blocks, "the model learned no block: the test would prove nothing"


def _tamper(evs: list, pick) -> list:
    out = list(evs)
    index = next(i for i, e in enumerate(out) if pick(e))
    e = out[index]
    data = bytearray(e.data)
    data[len(data) // 2] ^= 0xFF
    out[index] = msgspec.structs.replace(e, data=bytes(data))
    return out


@pytest.mark.parametrize("name", ["io", "sgl", "prp-list"])
def test_a_read_that_delivers_other_bytes_is_a_data_mismatch(name):
    evs = events(name)
    bad = _tamper(evs, lambda e: e.kind == "dma_write" and e.purpose == "read data")
    found = [f for f in run_checks(bad) if f.check == "data_mismatch"]
    assert len(found) == 1 and found[0].severity == "error"
    assert "different from what the recording last put there" in found[0].message


def test_a_compare_that_succeeds_on_other_data_is_a_compare_mismatch():
    evs = events("dsm")
    # the Compare of the deallocated blocks failed, as it must; say it succeeded
    index = max(i for i, e in enumerate(evs) if e.kind == "cqe_post" and e.status & 0x7FF == 0x285)
    bad = list(evs)
    bad[index] = msgspec.structs.replace(bad[index], status=0)
    found = [f for f in run_checks(bad) if f.check == "compare_mismatch"]
    assert len(found) == 1 and "succeeded" in found[0].message


def test_the_model_predicts_what_a_copy_wrote():
    evs = events("copy")
    board = model_of(evs[: next(i for i, e in enumerate(evs) if e.kind == "copy_write") + 3])
    # the copy's destination, LBA 64..71, holds what LBA 16..19 and then LBA 0..3 held
    want = [board.blocks[(1, lba)][0] for lba in (16, 17, 18, 19, 0, 1, 2, 3)]
    assert [board.blocks[(1, 64 + i)][0] for i in range(8)] == want


def test_a_read_of_a_copy_that_delivers_other_bytes_is_a_data_mismatch():
    evs = events("copy")
    after = next(i for i, e in enumerate(evs) if e.kind == "copy_write")
    index = next(
        i for i, e in enumerate(evs)
        if i > after and e.kind == "dma_write" and e.purpose == "read data"
    )  # fmt: skip
    bad = list(evs)
    data = bytearray(bad[index].data)
    data[-1] ^= 0xFF  # the last block of the copy: LBA 3's data, copied to LBA 71
    bad[index] = msgspec.structs.replace(bad[index], data=bytes(data))
    found = [f for f in run_checks(bad) if f.check == "data_mismatch"]
    assert len(found) == 1 and "LBA 71" in found[0].message


def test_the_model_keeps_digests_not_data():
    board = model_of(events("io-load"))
    digest, seq = next(iter(board.blocks.values()))
    assert isinstance(digest, int) and isinstance(seq, int)


def test_a_write_whose_completion_a_reset_dropped_leaves_its_blocks_unknown():
    # its data reached the medium, its CQE was held back by a fault and lost to the
    # reset: the read after it delivers the new data, which is no mismatch
    from nvmescope.machine import Machine

    m = Machine(scenario="bringup")
    m.run()
    api, drv = m.api, m.driver
    buf = api.alloc(4096)
    api.mem_write(buf, b"\x11" * 4096, "data")
    drv.run(drv.nvme_write(1, 1, 0, 8, buf, 4096))
    api.delay_completions(1000)
    api.mem_write(buf, b"\x22" * 4096, "data")
    drv.run(drv.submit(1, 0x01, nsid=1, cdw12=7, prp1=buf, wait=False))
    api.run_for(100_000)
    drv.run(drv.nvme_reset_ctrl(scan=False))
    api.clear_faults()
    rb = api.alloc(4096)
    assert drv.run(drv.nvme_read(1, 1, 0, 8, rb, 4096)).ok
    assert api.peek(rb, 1) == b"\x22"
    assert not [f for f in run_checks(m.events) if f.check == "data_mismatch"]
