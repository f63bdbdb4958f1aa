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


def _steps(m: Machine, start: int) -> list[str]:
    return [e.step for e in m.events[start:] if e.kind == "host_step"]


def test_a_real_timeout_is_aborted_then_the_controller_reset_as_linux_does() -> None:
    """nvme_timeout: the first timeout sends an Abort and starts the timer again; the second
    resets the controller (the I/O queues deleted, CC.EN cleared, a new bring-up)."""
    m = _booted()
    buf = m.api.alloc(4096)
    m.api.stop_fetch(IOQ)  # the Read is never fetched: neither it nor its Abort completes
    start = len(m.events)
    c = _read(m, buf)  # it ends when the reset cancels it; the reset goes on
    assert c.timed_out and c.cqe is None
    m.api.run_until_idle()
    steps = _steps(m, start)
    first = steps.index("timeout_abort")
    assert steps[:first].count("timeout_csts") == 1 and "timeout_poll" in steps[:first]
    reset = steps.index("timeout_reset")
    assert first < reset < steps.index("cancel_requests") < steps.index("timeout")
    notes = {e.step: e for e in m.events[start:] if e.kind == "host_step"}
    assert f"I/O {c.cid & 0xFFF} QID {IOQ} timeout, aborting" in notes["timeout_abort"].text
    assert f"I/O {c.cid & 0xFFF} QID {IOQ} timeout, reset controller" in notes["timeout_reset"].text
    (fetch,) = [e for e in m.events[start:] if e.kind == "sqe_fetch" and e.data[0] == 0x08]
    assert int.from_bytes(fetch.data[40:44], "little") == IOQ | (c.cid << 16)
    submitted = next(e.ts for e in m.events[start:] if e.kind == "doorbell_sq")
    assert 30e9 <= notes["timeout_abort"].ts - submitted < 31e9
    assert 60e9 <= notes["timeout_reset"].ts - submitted < 61e9
    # nvme_dev_disable deletes the I/O queues, disables the controller; then a bring-up
    opcodes = [e.data[0] for e in m.events[start:] if e.kind == "sqe_fetch" and e.sqid == 0]
    assert opcodes[opcodes.index(0x08) + 1 : opcodes.index(0x08) + 3] == [0x00, 0x04]
    assert [e.state for e in m.events[start:] if e.kind == "ctrl_state"][-2:] == [
        "disabled", "ready",
    ]  # fmt: skip
    assert m.driver.up and "abort_endio" in steps  # the Abort ended (the SQ was deleted)


def test_a_timed_out_command_the_abort_reaches_completes_with_abort_requested() -> None:
    m = _booted()
    buf = m.api.alloc(4096)
    m.api.stop_fetch(IOQ)
    got: list[Any] = []

    def read() -> Any:
        got.append((yield from m.driver.nvme_read(IOQ, 1, 0, 8, buf, 4096)))

    m.api.spawn(read(), label="read")
    start = len(m.events)
    m.api.run_until(lambda e: e.kind == "cmd_start" and e.sqid == 0 and e.opcode == 0x08)
    m.api.run_for(100_000)  # the Abort finds the Read in SQ1 and waits for it
    m.api.clear_fault("stop_fetch", sqid=IOQ)  # the device fetches the Read: it is aborted
    m.api.run_until_idle()
    (c,) = got
    assert (c.sct, c.sc) == (0, 0x07) and not c.timed_out  # Command Abort Requested
    steps = _steps(m, start)
    assert "timeout_reset" not in steps and "abort_endio" in steps
    (endio,) = [e for e in m.events[start:] if e.kind == "host_step" and e.step == "abort_endio"]
    assert "was aborted" in endio.text


def test_an_admin_command_that_times_out_resets_the_controller_at_once() -> None:
    m = _booted()
    m.api.stop_fetch(0)
    start = len(m.events)
    c = m.driver.submit_admin(0x06, cdw10=0x01, data_len=4096)
    assert c.timed_out
    steps = _steps(m, start)
    assert "timeout_reset" in steps and "timeout_abort" not in steps
