"""The recording commands from the command line: record, replay, show, stats, export, import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nvmescope.cli import app
from nvmescope.trace import open_recording

runner = CliRunner()
QEMU_LOG = (
    Path(__file__).resolve().parents[1] / "reference/linux-6.1-on-qemu-7.2/qemu-trace-pci_nvme.log"
)


def run(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def identify_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "identify.nvmetrace"
    code, out, err = run("record", "identify", "-o", path)
    assert code == 0, err
    assert out.startswith("recorded ")
    return path


def test_record_then_verify_passes(identify_file):
    code, out, _ = run("replay", identify_file, "--verify")
    assert code == 0
    assert "verified" in out and "identical" in out


def test_record_keeps_the_configuration_and_replay_uses_it(tmp_path):
    path = tmp_path / "small.nvmetrace"
    assert run("record", "bringup", "-o", path, "-c", "mqes=63", "-c", "serial=CFG1")[0] == 0
    rec = open_recording(path)
    assert rec.config["mqes"] == 63 and rec.config["serial"] == "CFG1"
    assert run("replay", path, "--verify")[0] == 0


def test_a_changed_recording_diverges_with_the_event_number(tmp_path, identify_file):
    # rewrite the recording with one device event altered: verify must name it
    from nvmescope.trace import TraceWriter

    rec = open_recording(identify_file)
    events = list(rec.events())
    target = next(i for i, e in enumerate(events) if e.kind == "cqe_post")
    events[target].phase ^= 1
    bad = tmp_path / "bad.nvmetrace"
    writer = TraceWriter(bad, rec.header)
    for e in events:
        writer.append(e)
    writer.close()
    code, out, err = run("replay", bad, "--verify")
    assert code == 1
    assert f"event {target}" in out
    assert err.strip().endswith(f"replay diverged at event {target}")


def test_replay_prints_a_window_of_events(identify_file):
    code, out, _ = run("replay", identify_file, "--from", "10", "--to", "13")
    assert code == 0
    assert [int(line.split()[0]) for line in out.splitlines()] == [10, 11, 12]


def test_jsonl_recordings_are_the_same_content(tmp_path, identify_file):
    path = tmp_path / "id.jsonl"
    assert run("export", "jsonl", identify_file, "-o", path)[0] == 0
    assert list(open_recording(path).events()) == list(open_recording(identify_file).events())
    first = json.loads(path.read_text().splitlines()[0])
    assert first["scenario"] == "identify"


def test_show_filters_events(identify_file):
    code, out, _ = run("show", identify_file, "--filter", 'kind == "cqe_post" and cid == 4099')
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 1 and "cqe_post" in lines[0]


def test_show_commands_pairs_submission_and_completion(identify_file):
    code, out, _ = run("show", identify_file, "--commands")
    assert code == 0
    assert "identify" in out and "success" in out and "latency" in out


def test_show_follow_lists_every_event_of_one_command(identify_file):
    code, out, _ = run("show", identify_file, "--follow", "0:0")
    assert code == 0
    for kind in ("doorbell_sq", "sqe_fetch", "dma_write", "cqe_post", "irq_msix"):
        assert kind in out


def test_show_state_answers_the_state_at_an_event(identify_file):
    rec = open_recording(identify_file)
    ready = next(
        i for i, e in enumerate(rec.events()) if e.kind == "ctrl_state" and e.state == "ready"
    )
    code, before, _ = run("show", identify_file, "--state", ready - 1)
    code2, after, _ = run("show", identify_file, "--state", ready)
    assert code == code2 == 0
    csts = [ln for ln in before.splitlines() if ln.strip().startswith("CSTS")][0]
    assert "rdy=1" not in csts
    assert "rdy=1" in [ln for ln in after.splitlines() if ln.strip().startswith("CSTS")][0]


def test_show_checks_of_a_clean_run_find_nothing(identify_file):
    code, out, _ = run("show", identify_file, "--checks")
    assert code == 0
    assert out.splitlines()[-1].startswith("0 error(s), 0 warning(s)")


def test_stats_draws_opcode_table(identify_file):
    code, out, _ = run("stats", identify_file)
    assert code == 0
    assert "identify" in out and "p99" in out


def test_export_chrome_writes_perfetto_json(tmp_path, identify_file):
    out_file = tmp_path / "t.json"
    code, _, _ = run("export", "chrome", identify_file, "-o", out_file)
    assert code == 0
    doc = json.loads(out_file.read_text())
    slices = [e for e in doc["traceEvents"] if e.get("ph") in ("B", "X")]
    assert slices


def test_export_tracepoint_text(identify_file):
    code, out, _ = run("export", "tracepoint", identify_file)
    assert code == 0
    assert "nvme_setup_cmd: nvme0: qid=0" in out and "nvme_complete_rq" in out


def test_import_qemu_trace_then_show(tmp_path):
    path = tmp_path / "q.nvmetrace"
    code, out, _ = run("import", "qemu-trace", QEMU_LOG, "-o", path)
    assert code == 0
    assert "0 unknown" in out
    code, out, _ = run("show", path, "--filter", 'kind == "doorbell_sq"')
    assert code == 0 and out.count("doorbell_sq") > 10
    code, _, err = run("replay", path, "--verify")
    assert code == 1 and "imported from a qemu-trace" in err


@pytest.mark.parametrize(
    "content",
    [b"", b"NVMETRACE" + b"\xff" * 100, b"hello world\n", bytes(range(256)) * 4],
)
def test_a_file_that_is_not_a_recording_is_one_line_and_exit_1(tmp_path, content):
    path = tmp_path / "bad.nvmetrace"
    path.write_bytes(content)
    for command in (["show"], ["replay"], ["stats"], ["replay", "--verify"]):
        code, out, err = run(*command[:1], path, *command[1:])
        assert code == 1, (command, err)
        assert err.count("\n") == 1 and str(path) in err
        assert "Traceback" not in out + err


def test_a_truncated_recording_opens_with_a_warning(tmp_path):
    from nvmescope.trace import record

    whole = tmp_path / "whole.nvmetrace"
    record("identify", whole, chunk_events=32)
    data = whole.read_bytes()
    cut = tmp_path / "cut.nvmetrace"
    cut.write_bytes(data[: len(data) * 2 // 3])
    code, out, err = run("show", cut)
    assert code == 0
    assert "warning" in err and out.count("\n") > 10


def test_a_missing_file_and_a_bad_qemu_log_are_one_line(tmp_path):
    code, _, err = run("show", tmp_path / "nope.nvmetrace")
    assert code == 1 and err.count("\n") == 1
    log = tmp_path / "bad.log"
    log.write_bytes(b"\x00\x01\x02garbage")
    code, _, err = run("import", "qemu-trace", log, "-o", tmp_path / "x.nvmetrace")
    assert code == 1 and err.count("\n") == 1


def test_progress_bars_stay_quiet_when_piped(tmp_path):
    code, out, err = run("record", "admin-tour", "-o", tmp_path / "a.nvmetrace")
    assert code == 0 and err == ""
    assert out.count("\n") == 1


def test_scenario_parameters_size_the_workload(tmp_path):
    small, big = tmp_path / "s.nvmetrace", tmp_path / "b.nvmetrace"
    assert run("record", "io-load", "-o", small, "-p", "count=8")[0] == 0
    assert run("record", "io-load", "-o", big, "-p", "count=64", "-p", "queues=2")[0] == 0
    assert len(open_recording(big)) > 4 * len(open_recording(small)) // 2
    assert open_recording(big).header.extra["params"]["count"] == 64
    code, _, err = run("record", "io-load", "-o", small, "-p", "bogus=1")
    assert code == 2 and "it takes: count, depth, queues" in err
    code, _, err = run("trace", "io", "-p", "count=1")
    assert code == 2 and "io has no such parameter" in err


@pytest.mark.parametrize("exporter", ["jsonl", "chrome", "tracepoint"])
def test_an_export_never_writes_over_its_input(tmp_path, identify_file, exporter):
    victim = tmp_path / "v.nvmetrace"
    victim.write_bytes(identify_file.read_bytes())
    link = tmp_path / "link.nvmetrace"
    link.symlink_to(victim)
    for target in (victim, link):
        code, _, err = run("export", exporter, victim, "-o", target)
        assert code == 2 and "that is the input file" in err
    assert victim.read_bytes() == identify_file.read_bytes()


def test_an_import_never_writes_over_its_log(tmp_path):
    log = tmp_path / "q.log"
    log.write_bytes(QEMU_LOG.read_bytes())
    code, _, err = run("import", "qemu-trace", log, "-o", log)
    assert code == 2 and log.read_bytes() == QEMU_LOG.read_bytes()


def test_user_text_is_printed_literally_not_as_emoji(identify_file):
    code, _, err = run("show", identify_file, "-f", 'kind == ":x:"')
    assert code == 2
    assert ":x:" in err and "\u274c" not in err


def test_show_takes_one_view_at_a_time(identify_file):
    code, _, err = run("show", identify_file, "--commands", "--checks")
    assert code == 2 and "choose one view" in err


def test_verify_of_a_recording_without_events_fails(tmp_path):
    from nvmescope.trace import TraceWriter

    empty = tmp_path / "empty.nvmetrace"
    TraceWriter(empty).close()
    code, _, err = run("replay", empty, "--verify")
    assert code == 1 and "no events" in err


def test_verify_takes_no_window(identify_file):
    code, _, err = run("replay", identify_file, "--verify", "--from", "3")
    assert code == 2 and "--from/--to" in err


def test_state_shows_the_entries_waiting_in_a_ring(identify_file):
    rec = open_recording(identify_file)
    doorbell = next(
        i for i, e in enumerate(rec.events()) if e.kind == "doorbell_sq" and e.sqid == 0
    )
    code, out, _ = run("show", identify_file, "--state", doorbell)
    assert code == 0
    lines = out.splitlines()
    assert lines[1].lstrip().startswith("event") and "doorbell_sq" in lines[1]
    sq0 = lines.index(next(ln for ln in lines if ln.startswith("  SQ0 ")))
    assert "slot 0" in lines[sq0 + 1] and "identify cid 0" in lines[sq0 + 1]
    assert "base address 0x" in out


SHIPPED = Path(__file__).resolve().parents[1] / "recordings"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """`nvmescope regenerate-recordings` into a fresh directory, run from somewhere else."""
    import os

    where = tmp_path_factory.mktemp("elsewhere")
    target = where / "recordings"
    old = Path.cwd()
    os.chdir(where)
    try:
        code, out, err = run("regenerate-recordings", target)
    finally:
        os.chdir(old)
    assert code == 0, err
    return target


def test_regenerating_writes_every_shipped_recording_wherever_it_runs(regenerated):
    names = sorted(p.name for p in regenerated.iterdir())
    # all but a real Linux guest's runs (linux-*: not made again, see docs/linux-guest.md)
    shipped = sorted(p.name for p in SHIPPED.glob("*.nvmetrace") if not p.name.startswith("linux-"))
    assert names == shipped
    assert "qemu-linux-6.1-bringup.nvmetrace" in names  # not skipped outside the checkout
    assert len(shipped) < len(list(SHIPPED.glob("*.nvmetrace")))


def test_regenerating_changes_nothing_when_nothing_changed(regenerated):
    """Byte for byte: a header, an event or a chunk that differs means the shipped
    recordings are stale (regenerate them on purpose) or regeneration is not deterministic."""
    stale = [
        p.name for p in sorted(SHIPPED.glob("*.nvmetrace"))
        if not p.name.startswith("linux-") and (regenerated / p.name).read_bytes() != p.read_bytes()
    ]  # fmt: skip
    assert not stale, f"regenerate-recordings would rewrite {stale}"


def test_regenerating_twice_gives_the_same_bytes(regenerated, tmp_path):
    code, _, err = run("regenerate-recordings", tmp_path / "again")
    assert code == 0, err
    for path in sorted(regenerated.iterdir()):
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize("name", ["multi-queue", "queue-wrap", "wrr", "coalescing"])
def test_the_queue_scenarios_recordings_replay_and_stay_small(name):
    path = SHIPPED / f"{name}.nvmetrace"
    assert path.stat().st_size < 300_000
    code, out, err = run("replay", path, "--verify")
    assert code == 0, err
    assert "verified" in out and "identical" in out
    assert open_recording(path).scenario == name


@pytest.mark.parametrize("name", ["abort", "reset-under-io", "io-errors"])
def test_the_fault_scenarios_recordings_replay_with_verify(name):
    code, out, err = run("replay", SHIPPED / f"{name}.nvmetrace", "--verify")
    assert code == 0, err
    assert "verified" in out and "identical" in out
