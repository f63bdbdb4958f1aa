"""The command view pairs every command's submit and completion events, on hand-built streams."""

from __future__ import annotations

import re

from rich.console import Console
from streams import Rig

from nvmescope import events as ev
from nvmescope.nvme.commands import make_status
from nvmescope.trace.commands import (
    Command,
    follow,
    follow_instances,
    format_command_table,
    format_command_text,
    format_follow,
    pair_commands,
    parse_follow,
    parse_follow_spec,
)


def kinds(rig: Rig, cmd: Command) -> list[str]:
    return [rig.events[i].kind for i in cmd.events]


def test_one_command_collects_every_event_from_sqe_write_to_cq_doorbell():
    rig = Rig()
    rig.enable()
    rig.command(0, 7, 0x06, "identify")
    [cmd] = pair_commands(rig.events)
    assert (cmd.sqid, cmd.cid, cmd.instance) == (0, 7, 1)
    assert cmd.opname == "identify" and cmd.opcode == 6 and cmd.nsid == 1
    assert kinds(rig, cmd) == [
        "mem_write",
        "doorbell_sq",
        "sqe_fetch",
        "cmd_start",
        "dma_write",
        "cmd_finish",
        "cqe_post",
        "irq_msix",
        "doorbell_cq",
    ]
    assert rig.events[cmd.doorbell].kind == "doorbell_sq"
    assert rig.events[cmd.irq].kind == "irq_msix"
    assert rig.events[cmd.reaped].kind == "doorbell_cq"
    assert cmd.ok and not cmd.outstanding and cmd.status_name == "success"


def test_latency_runs_from_the_doorbell_and_service_time_from_the_fetch_to_the_cqe():
    rig = Rig()
    rig.enable()
    rig.submit(0, 1, 0x06)
    rig.t += 5000  # the SQE waits in the queue
    rig.fetch(0, 1, 0x06)
    rig.work(0, 1, 0x06, "identify", dt=2000)
    rig.post(0, 1)
    [cmd] = pair_commands(rig.events)
    doorbell_ts = rig.events[cmd.doorbell].ts
    fetch_ts = rig.events[cmd.fetch].ts
    cqe_ts = rig.events[cmd.cqe].ts
    assert cmd.latency_ns == cqe_ts - doorbell_ts
    assert cmd.service_ns == cqe_ts - fetch_ts
    assert cmd.latency_ns - cmd.service_ns == fetch_ts - doorbell_ts >= 5000


def test_interleaved_commands_on_two_queues_are_told_apart():
    rig = Rig()
    rig.enable()
    rig.create_queues(1, 16, 0x30000, 0x40000, vector=1)
    rig.submit(1, 3, 0x02)
    rig.submit(1, 4, 0x01)
    rig.submit(0, 3, 0x06)
    rig.fetch(1, 3, 0x02)
    rig.fetch(1, 4, 0x01)
    rig.fetch(0, 3, 0x06)
    rig.work(1, 4, 0x01, "write")
    rig.work(0, 3, 0x06, "identify")
    rig.work(1, 3, 0x02, "read", status=make_status(0, 0x80))
    rig.post(1, 4)
    rig.post(0, 3)
    rig.post(1, 3, status=make_status(0, 0x80))
    cmds = pair_commands(rig.events)
    by = {(c.sqid, c.cid): c for c in cmds}
    assert set(by) == {(1, 3), (1, 4), (0, 3)}
    assert by[(1, 3)].opname == "read" and by[(1, 3)].status_name == "lba_out_of_range"
    assert by[(1, 4)].opname == "write" and by[(1, 4)].ok
    assert by[(0, 3)].opname == "identify"
    for c in cmds:
        own = [
            rig.events[i]
            for i in c.events
            if rig.events[i].sqid == c.sqid and rig.events[i].cid is not None
        ]
        assert all(e.cid == c.cid for e in own)
    # every interrupt went to the commands of its own CQ's vector
    assert rig.events[by[(1, 4)].irq].vector == 1
    assert rig.events[by[(0, 3)].irq].vector == 0
    # submission order: the first event of each
    assert [c.first for c in cmds] == sorted(c.first for c in cmds)


def test_a_doorbell_publishing_several_sqes_belongs_to_each_of_them():
    rig = Rig()
    rig.enable()
    rig.write_sqe(0, 1, 0x06)
    rig.write_sqe(0, 2, 0x06, slot=1)
    rig.ring_sq(0, count=2)
    for cid in (1, 2):
        rig.fetch(0, cid, 0x06)
        rig.work(0, cid, 0x06, "identify")
        rig.post(0, cid, irq=False)
    rig.emit(ev.IrqMsix(vector=0))
    a, b = pair_commands(rig.events)
    assert a.doorbell == b.doorbell
    assert a.sqe_write != b.sqe_write
    assert a.irq == b.irq  # one interrupt covers both completions


def test_a_reused_cid_makes_numbered_instances_and_follow_tells_them_apart():
    rig = Rig()
    rig.enable()
    for _ in range(3):
        rig.command(0, 9, 0x06, "identify")
    rig.command(0, 10, 0x0A, "get_features")
    cmds = [c for c in pair_commands(rig.events) if c.cid == 9]
    assert [c.instance for c in cmds] == [1, 2, 3]
    assert len({tuple(c.events) for c in cmds}) == 3
    followed = follow_instances(rig.events, 0, 9)
    assert [f.command.instance for f in followed] == [1, 2, 3]
    assert all(f.of == 3 for f in followed)
    assert [e.seq for e in followed[1].events] == cmds[1].events  # seq == index for a whole run
    flat = follow(rig.events, 0, 9)
    assert len(flat) == sum(len(c.events) for c in cmds)
    assert all(e.kind != "cmd_start" or e.cid == 9 for e in flat)
    assert [e.seq for e in flat] == sorted(e.seq for e in flat)
    text = format_follow(followed).plain
    assert "instance 2 of 3" in text and "SQ0:9#3" in text


def test_a_command_without_completion_is_outstanding_and_says_why_after_a_reset():
    rig = Rig()
    rig.enable()
    rig.command(0, 1, 0x06, "identify")
    rig.submit(0, 2, 0x0C)
    rig.fetch(0, 2, 0x0C)
    rig.emit(ev.CmdStart(opcode=0x0C, opname="async_event_request"), ctx=(0, 2))
    rig.submit(0, 3, 0x06)  # published, never fetched
    cmds = pair_commands(rig.events)
    assert [c.cid for c in cmds] == [1, 2, 3]
    assert not cmds[0].outstanding
    assert cmds[1].outstanding and cmds[1].lost == "" and cmds[1].latency_ns is None
    assert cmds[2].outstanding and cmds[2].fetch is None and "never fetched" in cmds[2].lost
    assert cmds[2].opname == "identify"  # read from the SQE the host wrote

    rig.emit(ev.MmioWrite(addr=0x14, size=4, value=0, reg="cc", old=0x460001, new=0))
    cmds = pair_commands(rig.events)
    assert "reset" in cmds[1].lost


def test_a_completion_without_a_fetch_still_makes_a_command():
    # an imported trace may lack the fetch; stamped events still pair
    rig = Rig()
    rig.enable()
    rig.work(0, 5, 0x06, "identify")
    rig.post(0, 5)
    [cmd] = pair_commands(rig.events)
    assert cmd.cid == 5 and cmd.start is not None and cmd.cqe is not None and cmd.fetch is None
    assert cmd.latency_ns is None and cmd.service_ns is None


def test_the_ring_wraps_and_slots_are_matched_to_the_right_doorbell():
    rig = Rig()
    rig.enable(size=4)
    for cid in range(10):
        rig.command(0, cid, 0x06, "identify")
    cmds = pair_commands(rig.events)
    assert [c.cid for c in cmds] == list(range(10))
    for c in cmds:
        db = rig.events[c.doorbell]
        assert db.new_tail == (c.slot + 1) % 4
        assert rig.events[c.reaped].kind == "doorbell_cq"


def test_the_table_lists_every_command_with_status_and_latency():
    rig = Rig()
    rig.enable()
    rig.command(0, 1, 0x06, "identify")
    rig.command(0, 2, 0x09, "set_features", status=make_status(1, 0x0D, dnr=True))
    rig.submit(0, 3, 0x06)
    cmds = pair_commands(rig.events)
    text = format_command_text(cmds)
    lines = text.splitlines()
    assert len(lines) == 4
    assert "identify" in lines[1] and "success" in lines[1]
    assert "feature_not_saveable" in lines[2]
    assert "outstanding" in lines[3]
    console = Console(width=160, record=True)
    console.print(format_command_table(cmds))
    out = console.export_text()
    assert "SQ0:2#1" in out and "set_features" in out


def test_parse_follow_reads_sqid_and_cid_and_rejects_the_rest():
    assert parse_follow("1:4") == (1, 4)
    assert parse_follow("0x1:0x10") == (1, 16)
    for bad in ("1", "a:b", "1:2:3", "1:70000"):
        try:
            parse_follow(bad)
        except ValueError as exc:
            assert "SQID" in str(exc)
        else:
            raise AssertionError(bad)


def test_pairing_is_one_pass_over_any_iterable():
    rig = Rig()
    rig.enable()
    rig.command(0, 1, 0x06, "identify")
    once = iter(rig.events)
    [cmd] = pair_commands(once)
    assert cmd.cqe is not None


def test_a_doorbell_the_device_ignored_publishes_nothing():
    rig = Rig()
    rig.enable(size=8)
    rig.ring_sq(0, new_tail=40)  # beyond the queue: the device ignores it
    rig.emit(ev.condition("ub_db_invalid_value", detail="SQ 0 tail 40 >= size 8"))
    rig.sq[0]["tail"] = 0
    rig.ring_sq(0, new_tail=3)  # ignored too (no condition, but the next old_tail says so)
    rig.sq[0]["tail"] = 0
    rig.command(0, 1, 0x06, "identify")
    cmds = pair_commands(rig.events)
    assert [(c.cid, c.outstanding) for c in cmds] == [(1, False)]
    assert rig.events[cmds[0].doorbell].new_tail == 1


# -- on real machine runs -------------------------------------------------------------------
def machine_events(scenario: str) -> list[ev.Event]:
    from nvmescope.machine import Machine

    return Machine(scenario=scenario).run()


def test_every_fetched_command_of_a_machine_run_is_paired_in_order():
    events = machine_events("admin-tour")
    cmds = pair_commands(events)
    assert len(cmds) == sum(e.kind == "sqe_fetch" for e in events)
    assert sum(not c.outstanding for c in cmds) == sum(e.kind == "cqe_post" for e in events)
    for c in cmds:
        own = [events[i] for i in c.events]
        assert [e.seq for e in own] == sorted(e.seq for e in own)
        assert own[c.events.index(c.fetch)].kind == "sqe_fetch"
        assert c.doorbell is not None and c.doorbell < c.fetch
        db = events[c.doorbell]  # its tail range [old_tail, new_tail) covers the slot
        if db.old_tail <= db.new_tail:
            assert db.old_tail <= c.slot < db.new_tail
        else:
            assert c.slot >= db.old_tail or c.slot < db.new_tail
        for e in own:  # stamped events are this command's
            if e.actor == "device" and e.cid is not None and e.kind not in ("irq_msix", "irq_intx"):
                assert (e.sqid, e.cid) == (c.sqid, c.cid)
        if not c.outstanding:
            assert c.fetch < c.start < c.finish < c.cqe
            cqe = events[c.cqe]
            assert (cqe.sqid, cqe.cid, cqe.status) == (c.sqid, c.cid, c.status)
            assert c.latency_ns >= c.service_ns >= 0
    # every cqe_post belongs to exactly one command
    posts = [i for c in cmds for i in c.events if events[i].kind == "cqe_post"]
    assert len(posts) == len(set(posts))
    # the AER the driver leaves waiting is the outstanding one
    assert {c.opname for c in cmds if c.outstanding} == {"async_event_request"}


def test_the_command_view_of_the_errors_scenario_carries_each_error_status():
    events = machine_events("errors")
    cmds = pair_commands(events)
    failed = {
        (c.sqid, c.cid, c.instance): c.status_name for c in cmds if not c.outstanding and not c.ok
    }
    posted_errors = [e for e in events if e.kind == "cqe_post" and e.status & 0x7FF]
    assert len(failed) == len(posted_errors) >= 5
    assert "invalid_opcode" in failed.values() and "prp_offset_invalid" in failed.values()


def test_follow_on_a_machine_run_returns_only_that_commands_events():
    events = machine_events("identify")
    cmds = pair_commands(events)
    target = next(c for c in cmds if c.opname == "identify" and not c.outstanding)
    followed = follow(events, target.sqid, target.cid)
    assert [e.seq for e in followed] == target.events
    kinds_seen = [e.kind for e in followed]
    assert kinds_seen[:3] == ["mem_write", "doorbell_sq", "sqe_fetch"]
    assert "cqe_post" in kinds_seen and "irq_msix" in kinds_seen


def test_follow_specs_accept_the_labels_the_command_table_prints():
    assert parse_follow_spec("SQ2:500#3") == (2, 500, 3)
    assert parse_follow_spec("2:500#3") == (2, 500, 3)
    assert parse_follow_spec("sq2:500") == (2, 500, None)
    assert parse_follow_spec("Sq0x2:0x1F4") == (2, 500, None)
    assert parse_follow_spec(" 1:4 ") == (1, 4, None)
    assert parse_follow("SQ1:4") == (1, 4)  # the old call keeps its (sqid, cid) answer
    for bad in ("SQ1:4#0", "SQ1:4#", "q1:4", "1:4#x", "#3", "1:70000#1"):
        try:
            parse_follow_spec(bad)
        except ValueError as exc:
            assert "\n" not in str(exc)
        else:
            raise AssertionError(bad)
    try:
        parse_follow("1:4#2")
    except ValueError as exc:
        assert "parse_follow_spec" in str(exc)
    else:
        raise AssertionError("an instance must not be dropped silently")


def test_follow_can_select_one_instance_of_a_reused_cid():
    rig = Rig()
    rig.enable()
    for _ in range(3):
        rig.command(0, 9, 0x06, "identify")
    every = follow_instances(rig.events, 0, 9)
    [second] = follow_instances(rig.events, 0, 9, instance=2)
    assert second.command.instance == 2 and second.of == 3
    assert second.events == every[1].events
    assert follow(rig.events, 0, 9, instance=3) == every[2].events
    assert follow_instances(rig.events, 0, 9, instance=4) == []
    label = parse_follow_spec(second.command.label)
    assert label == (0, 9, 2)


def test_text_outputs_end_lines_use_one_time_unit_and_show_who_acted():
    rig = Rig()
    rig.enable()
    rig.submit(0, 1, 0x06, nsid=0xFFFFFFFF)
    rig.t += 5000
    rig.fetch(0, 1, 0x06, nsid=0xFFFFFFFF)
    rig.t += 12_000_000  # (no cmd_start: the nsid comes from the SQE)
    rig.post(0, 1)
    rig.command(0, 2, 0x06, "identify")
    cmds = pair_commands(rig.events)
    text = format_command_text(cmds)
    assert text.endswith("\n") and not text.endswith("\n\n")
    rows = [line.split("  ") for line in text.splitlines()]
    header = [c.strip() for c in rows[0] if c.strip()]
    assert header[:7] == ["#", "command", "opcode", "nsid", "status", "latency", "service"]
    row1 = text.splitlines()[1]
    assert " 0xffffffff " in row1 and "4294967295" not in row1
    lat = [cmds[0].latency_ns, cmds[1].latency_ns]
    assert f"{lat[0] / 1000:.3f} us" in row1
    assert f"{lat[1] / 1000:.3f} us" in text.splitlines()[2]
    assert not re.search(r"\d (ns|ms)\b", text)  # one unit for the whole column
    out = format_follow(follow_instances(rig.events, 0, 1)).plain
    doorbell = next(e for e in rig.events if e.kind == "doorbell_sq")
    fetch = next(e for e in rig.events if e.kind == "sqe_fetch")
    line = next(x for x in out.splitlines() if "doorbell_sq" in x)
    assert f"{doorbell.ts / 1000:.3f}us  H  doorbell_sq" in line
    line = next(x for x in out.splitlines() if "sqe_fetch" in x)
    assert f"{fetch.ts / 1000:.3f}us  D  sqe_fetch" in line


def test_commands_published_by_shadow_doorbells_get_their_latency():
    # with Doorbell Buffer Config most I/O commands are published only through the shadow
    # doorbell in host memory: the command view still finds what published each one
    from nvmescope.emulator import ControllerConfig
    from nvmescope.machine import Machine
    from nvmescope.trace.commands import pair_commands

    m = Machine(ControllerConfig(dbbuf=True), scenario="io-load")
    m.run()
    io = [c for c in pair_commands(m.events) if c.sqid and c.sqid > 0]
    assert len(io) == 64
    shadow_published = [c for c in io if m.events[c.doorbell].kind == "mem_write"]
    assert len(shadow_published) > 32
    assert all(c.latency_ns is not None and c.latency_ns > 0 for c in io)
