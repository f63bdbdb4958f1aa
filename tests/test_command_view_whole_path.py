"""The command view names what an admin command asks for, and --follow shows the host's side too."""

from __future__ import annotations

from functools import cache

from nvmescope import events as ev
from nvmescope.machine import Machine
from nvmescope.trace.commands import (
    follow,
    format_command_text,
    pair_commands,
    selector_from_detail,
    selector_text,
)


@cache
def run(scenario: str) -> tuple[ev.Event, ...]:
    return tuple(Machine(scenario=scenario).run())


def test_identify_get_log_page_and_features_show_cns_lid_fid():
    cmds = pair_commands(run("identify"))
    whats = [c.what for c in cmds]
    assert "identify cns=0x01 (ctrl)" in whats
    assert "identify cns=0x02 (active_ns_list)" in whats
    assert "identify cns=0x00 (ns)" in whats
    assert "get_log_page lid=0x02 (smart)" in whats
    assert "set_features fid=0x07 (number_of_queues)" in whats
    identifies = [c.what for c in cmds if c.opname == "identify"]
    assert len(identifies) > 2 and len(set(identifies)) > 2  # not "identify" six times alike
    text = format_command_text(cmds)
    assert "identify cns=0x01 (ctrl)" in text


def test_other_opcodes_and_io_have_no_selector():
    cmds = pair_commands(run("io"))
    assert {c.what for c in cmds if c.sqid == 1} <= {"read", "write", "flush"}
    assert selector_text(0x02, False, 0x1) == ""  # a read on an I/O queue
    assert selector_text(0x05, True, 0x1) == ""  # create_io_cq


def test_a_selector_unknown_to_the_tables_still_shows_its_number():
    assert selector_text(0x06, True, 0x7F) == "cns=0x7f"
    assert selector_text(0x0A, True, 0x1215) == "fid=0x15 (lba_status_information_report_interval)"


def test_an_imported_command_takes_its_selector_from_the_detail():
    detail = "cns=0x1 (Identify Controller) ctrlid=0 csi=0x0"
    assert selector_from_detail(0x06, True, detail) == "cns=0x01 (ctrl)"
    assert selector_from_detail(0x02, True, "lid=0x5 lsp=0x0") == "lid=0x05 (cmd_effects)"
    assert selector_from_detail(0x09, True, "no numbers") == ""


def _command(events, sqid, opname, nth=0):
    return [c for c in pair_commands(events) if c.sqid == sqid and c.opname == opname][nth]


def test_follow_includes_the_host_interrupt_and_its_read_of_the_cqe():
    events = run("io")
    cmd = _command(events, 1, "read")
    mine = follow(events, 1, cmd.cid, cmd.instance)
    kinds = [e.kind for e in mine]
    assert "host_irq" in kinds
    irq = next(e for e in mine if e.kind == "irq_msix")
    handler = next(e for e in mine if e.kind == "host_irq")
    assert handler.vector == irq.vector and handler.seq > irq.seq
    cqe = next(e for e in mine if e.kind == "cqe_post")
    reads = [e for e in mine if e.kind == "mem_read"]
    assert [r.addr for r in reads] == [cqe.addr]
    assert cqe.seq < reads[0].seq < next(e for e in mine if e.kind == "doorbell_cq").seq
    assert kinds.index("host_irq") < kinds.index("mem_read")


def test_follow_includes_the_host_writes_of_the_data_and_the_prp_list():
    events = run("io")
    writes = [c for c in pair_commands(events) if c.sqid == 1 and c.opname == "write"]
    big = next(c for c in writes if "PRP list" in str([events[i] for i in c.events]))
    mine = follow(events, 1, big.cid, big.instance)
    host_writes = [e for e in mine if e.kind == "mem_write"]
    purposes = [e.purpose for e in host_writes]
    assert len(host_writes) == 3, purposes  # data, PRP list, SQE
    prp = next(e for e in mine if e.kind == "map_prp")
    assert host_writes[0].addr == prp.prp1 and len(host_writes[0].data) == prp.length
    assert host_writes[1].addr == prp.prp2
    assert all(w.seq < next(e for e in mine if e.kind == "doorbell_sq").seq for w in host_writes)


def test_a_reused_prp_list_page_belongs_to_each_command_that_wrote_it():
    events = run("io")
    cmds = [c for c in pair_commands(events) if c.sqid == 1]
    lists = {}
    for c in cmds:
        for i in c.events:
            e = events[i]
            if e.kind == "mem_write" and "PRP list" in e.purpose:
                assert i not in lists, "a write belongs to one command"
                lists[i] = c.label
    assert len(lists) >= 2


def test_a_machine_run_ties_every_command_s_cqe_read_and_handler():
    events = run("identify")
    for c in pair_commands(events):
        if c.cqe is not None and c.opname != "async_event_request":
            assert c.cqe_read is not None and c.host_irq is not None, c.label
            assert events[c.cqe_read].addr == events[c.cqe].addr


def test_a_rewritten_buffer_belongs_once_and_stale_writes_stay_out():
    from streams import Rig

    rig = Rig()
    rig.enable()
    rig.create_queues(1, 8, 0x30000, 0x40000, vector=1)
    stale = rig.emit(ev.MemWrite(addr=0x50000, data=bytes(512), purpose="write data"))
    fresh = rig.emit(ev.MemWrite(addr=0x50000, data=bytes(512), purpose="write data"))
    other = rig.emit(ev.MemWrite(addr=0x90000, data=bytes(512), purpose="unrelated"))
    rig.submit(1, 5, 0x01)
    rig.fetch(1, 5, 0x01)
    ctx = (1, 5)
    rig.emit(ev.CmdStart(opcode=1, opname="write", nsid=1, admin=False), ctx=ctx)
    rig.emit(ev.MapPrp(prp1=0x50000, prp2=0, length=512, segments=[(0x50000, 512)]), ctx=ctx)
    rig.emit(ev.DmaRead(addr=0x50000, length=512, purpose="write data"), ctx=ctx)
    rig.emit(ev.CmdFinish(opcode=1, opname="write", status=0), ctx=ctx)
    rig.post(1, 5)
    rig.emit(ev.Interrupt(vector=1))
    [cmd] = pair_commands(rig.events)
    assert fresh.seq in cmd.events
    assert stale.seq not in cmd.events and other.seq not in cmd.events
    assert cmd.host_irq == rig.events[-1].seq
