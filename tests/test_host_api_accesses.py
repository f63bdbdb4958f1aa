"""HostAPI reaches the real controller only through config, BAR0 and memory accesses."""

from __future__ import annotations

from nvmescope.machine import Machine
from nvmescope.nvme.commands import pack_sqe, unpack_cqe


def test_config_and_mmio_go_through_the_device_and_are_events():
    m = Machine(scenario=None)
    api = m.api
    assert api.config_read(0x00, 2) == m.ctrl.config_read(0x00, 2)
    api.config_write(0x04, 2, 0x0006)
    assert m.ctrl.snapshot()["pci"]["memory_enabled"]
    vs = api.mmio_read32(0x08)
    assert vs == m.ctrl.snapshot()["registers"]["vs"]
    cap = api.mmio_read64(0x00)
    assert cap & 0xFFFF == m.config.mqes
    api.mmio_write32(0x24, 0x000F000F)
    assert m.ctrl.snapshot()["registers"]["aqa"] == 0x000F000F
    api.mmio_write64(0x28, 0x1234_5000)
    assert m.ctrl.snapshot()["registers"]["asq"] == 0x1234_5000
    kinds = [e.kind for e in m.events]
    assert kinds[:3] == ["config_read", "config_read", "config_write"]
    assert kinds[3:] == ["mmio_read", "mmio_read", "mmio_write", "mmio_write"]
    assert all(e.actor == "host" for e in m.events)


def test_a_script_gets_an_identify_through_the_api_alone():
    m = Machine(scenario=None)
    api = m.api
    api.config_write(0x04, 2, 0x0006)
    asq, acq, buf = api.alloc(), api.alloc(), api.alloc()
    api.mmio_write32(0x24, 0x0001_0001)
    api.mmio_write64(0x28, asq)
    api.mmio_write64(0x30, acq)
    api.mmio_write32(0x14, 0x0046_0001)
    polls = 0
    while not api.mmio_read32(0x1C) & 1:
        t = api.now
        api.run_for(50_000)
        assert api.now == t + 50_000
        polls += 1
        assert polls < 100
    api.mem_write(asq, pack_sqe(opc=0x06, cid=3, prp1=buf, cdw10=1))
    api.mmio_write32(0x1000, 1)
    api.run_until_idle()
    cqe = unpack_cqe(api.peek(acq, 16))
    assert (cqe.p, cqe.cid, cqe.sct, cqe.sc) == (1, 3, 0, 0)
    assert api.peek(buf + 4, 20).decode().strip() == m.config.serial


def test_subscribe_sees_every_later_event_and_can_unsubscribe():
    m = Machine(scenario=None)
    got: list = []
    stop = m.api.subscribe(got.append)
    m.api.config_read(0, 4)
    stop()
    m.api.config_read(0, 4)
    assert len(got) == 1 and len(m.events) == 2


def test_note_is_a_host_step_event():
    m = Machine(scenario=None)
    e = m.api.note("hello", "Say hello to the device.")
    assert e.kind == "host_step" and e.actor == "host" and m.events == [e]


def test_run_until_interrupt_waits_for_the_msix_message():
    m = Machine(scenario="bringup")
    m.run()
    drv = m.driver
    before = m.irq.count(0)
    # send a command by hand on the admin queue and run until vector 0 fires
    sq = drv.sqs[0]
    m.api.mem_write(sq.slot_addr(sq.tail), pack_sqe(opc=0x0A, cid=20, cdw10=0x07))
    sq.tail = (sq.tail + 1) % sq.depth
    m.api.mmio_write32(0x1000, sq.tail)
    events = m.api.run_until_interrupt(0)
    assert m.irq.count(0) == before + 1
    assert events[-1].kind == "irq_msix" and events[-1].vector == 0


def test_a_host_access_longer_than_a_data_event_is_told_in_pieces_and_records(tmp_path):
    """A script's 40 MiB store and load are 40 ``mem_write`` and 40 ``mem_read`` events of
    at most MAX_DATA_EVENT_BYTES, in address order, whose bytes are the whole; the run
    records (one 40 MiB event was more than a recording's chunk may hold) and verifies."""
    from nvmescope.events import MAX_DATA_EVENT_BYTES
    from nvmescope.trace import Recorder, open_recording, verify

    m = Machine(scenario=None)
    path = tmp_path / "big.nvmetrace"
    rec = Recorder.attach(m, path)
    n = 40 << 20
    data = bytes(range(256)) * (n // 256)
    addr = m.api.alloc(n)
    m.api.mem_write(addr, data, "a long buffer")
    assert m.api.mem_read(addr, n, "read it back") == data
    rec.close()
    for kind in ("mem_write", "mem_read"):
        told = [e for e in m.events if e.kind == kind]
        assert [e.addr for e in told] == [addr + i * MAX_DATA_EVENT_BYTES for i in range(40)]
        assert all(len(e.data) == MAX_DATA_EVENT_BYTES for e in told)
        assert b"".join(e.data for e in told) == data
    with open_recording(path) as recording:
        assert recording.complete and len(recording) == len(m.events)
        assert verify(recording).ok


def test_a_recording_with_a_long_host_access_in_one_event_still_verifies(tmp_path, monkeypatch):
    """A recording made before long host accesses were cut into pieces holds a 3 MiB
    store and load as one event each; the replay re-performs them as recorded."""
    import nvmescope.host.memory as memory
    from nvmescope.trace import Recorder, open_recording, verify

    monkeypatch.setattr(memory, "MAX_DATA_EVENT_BYTES", 1 << 30)  # as before: no pieces
    m = Machine(scenario=None)
    path = tmp_path / "old.nvmetrace"
    rec = Recorder.attach(m, path)
    n = 3 << 20
    addr = m.api.alloc(n)
    m.api.mem_write(addr, b"\x5a" * n)
    m.api.mem_read(addr, n)
    rec.close()
    assert [len(e.data) for e in m.events if e.kind in ("mem_write", "mem_read")] == [n, n]
    monkeypatch.undo()
    with open_recording(path) as recording:
        assert verify(recording).ok


def test_time_past_what_a_recording_holds_is_refused_and_nothing_recorded_is_lost(tmp_path):
    """run_for a delay past 2**64 - 1 ns (or negative, or not whole) is a HostAccessError
    before anything runs; a task that sleeps past it raises TimeLimitError; the recording
    keeps every event, and reads back whole."""
    import pytest

    from nvmescope.host.api import HostAccessError
    from nvmescope.sim import MAX_TIME, TimeLimitError
    from nvmescope.trace import Recorder, open_recording

    m = Machine(scenario=None)
    api = m.api
    path = tmp_path / "t.nvmetrace"
    rec = Recorder.attach(m, path)
    for _ in range(5):
        api.mmio_read32(0)
    for bad in (MAX_TIME + 1, -1, 1.5):
        with pytest.raises(HostAccessError):
            api.run_for(bad)  # type: ignore[arg-type]
    api.run_for(MAX_TIME - api.now - 10)
    api.mmio_read32(0)

    def task():
        yield 100

    api.spawn(task())
    with pytest.raises(TimeLimitError):
        api.run_until_idle()
    rec.close()
    with open_recording(path) as recording:
        assert recording.complete and len(recording) == len(m.events) == 12
        assert max(e.ts for e in recording.events()) <= MAX_TIME


def test_peek_sees_what_a_cpu_load_sees_inside_and_outside_ram():
    m = Machine(scenario=None)
    api = m.api
    buf = api.alloc()
    api.mem_write(buf, b"\x12\x34")
    outside = api.ram_size + 0x1000
    for addr in (buf, outside, 1 << 32):
        assert api.peek(addr, 2) == api.mem_read(addr, 2)
    assert api.peek(outside, 2) == b"\xff\xff"  # a store there is lost, a load reads ones
