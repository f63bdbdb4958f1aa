"""A command's timer is Linux 6.1's: io_timeout (30 s) for I/O, admin_timeout (60 s) for
admin commands; nvme_timeout names the request by its blk-mq tag (the cid's bits 11:0),
and a note says what Linux does when no completion is found, which the model does not."""

from __future__ import annotations

from typing import Any

from nvmescope.machine import Machine

IOQ = 1


def _booted() -> Machine:
    m = Machine(scenario="bringup")
    m.run()
    return m


def _notes(m: Machine, start: int, step: str) -> list[Any]:
    return [e for e in m.events[start:] if e.kind == "host_step" and e.step == step]


def _read(m: Machine, buf: int) -> Any:
    return m.driver.run(m.driver.nvme_read(IOQ, 1, 0, 8, buf, 4096))


def test_an_io_command_times_out_after_30_s_and_is_named_by_its_tag() -> None:
    m = _booted()
    buf = m.api.alloc(4096)
    for _ in range(64):  # an I/O word holds 64 tags: then tag 0 comes back, generation 1
        assert _read(m, buf).ok
    m.api.drop_interrupt()
    start = len(m.events)
    c = _read(m, buf)
    assert c.ok and c.cid >> 12, c.cid  # a cid with a generation in bits 15:12
    (fetch,) = [e for e in m.events[start:] if e.kind == "sqe_fetch"]
    (polled,) = _notes(m, start, "timeout_polled")
    assert 30e9 <= polled.ts - fetch.ts < 31e9
    assert polled.text.startswith(f"I/O {c.cid & 0xFFF} QID {IOQ} timeout, completion polled")


def test_an_admin_command_waits_60_s() -> None:
    m = _booted()
    m.api.drop_interrupt()
    start = len(m.events)
    c = m.driver.submit_admin(0x06, cdw10=0x01, data_len=4096)
    assert c.ok
    (fetch,) = [e for e in m.events[start:] if e.kind == "sqe_fetch"]
    (polled,) = _notes(m, start, "timeout_polled")
    assert 60e9 <= polled.ts - fetch.ts < 61e9
    assert polled.text.startswith(f"I/O {c.cid & 0xFFF} QID 0 timeout, completion polled")


def test_a_real_timeout_says_what_linux_would_do_next() -> None:
    m = _booted()
    buf = m.api.alloc(4096)
    m.api.stop_fetch(IOQ)
    start = len(m.events)
    c = _read(m, buf)
    assert c.timed_out
    (note,) = _notes(m, start, "timeout")
    assert "within 30 s" in note.text
    assert f"'I/O {c.cid & 0xFFF} QID {IOQ} timeout, aborting'" in note.text
    assert "this model stops waiting" in note.text
    (csts,) = _notes(m, start, "timeout_csts")
    assert "resets the controller at once" in csts.text
