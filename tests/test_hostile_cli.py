"""Hostile command lines: every bad value is one line and exit 2, every output failure one
line and exit 1, never an internal error (exit 70) or a traceback (issue 7)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nvmescope.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
RECORDING = ROOT / "recordings" / "identify.nvmetrace"


def run(*args: str) -> tuple[int, str]:
    from nvmescope.cli import OutputError

    result = runner.invoke(app, list(args))
    if isinstance(result.exception, OutputError):  # main() turns it into one line, exit 1
        return 1, f"nvmescope: error: {result.exception}\n"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result.exit_code, result.output


def run_main(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """The console script itself (its one output guard), in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "nvmescope", *args],
        stdout=kwargs.pop("stdout", subprocess.PIPE),
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.mark.parametrize("value", ["4294967296", "-1", "0x100000000"])
def test_cdw11_outside_a_dword_is_refused_naming_the_range(value: str) -> None:
    code, text = run("get-feature", "-f", "7", "--cdw11", value)
    assert code == 2
    assert "0..0xffffffff" in text


@pytest.mark.parametrize("value", ["١٢", "１２", "²"])
def test_non_ascii_digits_are_not_numbers(value: str) -> None:
    code, text = run("get-feature", "-f", value)
    assert code == 2 and "not a number" in text
    code, text = run("get-feature", "-f", "7", "--cdw11", value)
    assert code == 2 and "not a number" in text


def test_a_number_of_thousands_of_digits_gets_a_short_message() -> None:
    huge = "9" * 5000
    for args in (
        ("get-feature", "-f", huge),
        ("get-feature", "-f", "7", "--cdw11", huge),
        ("trace", "-c", f"mqes={huge}"),
        ("trace", "io-load", "-p", f"count={huge}"),
    ):
        code, text = run(*args)
        assert code == 2, args
        assert "too long to be a number" in text
        assert "9" * 100 not in text


def test_io_load_queues_beyond_a_16_bit_queue_identifier_are_refused() -> None:
    code, text = run("trace", "io-load", "-p", "queues=65537")
    assert code == 2 and "1..65535" in text


def test_io_load_count_has_a_documented_maximum() -> None:
    code, text = run("trace", "io-load", "-p", "count=1000000000")
    assert code == 2 and "1..300000" in text
    code, text = run("scenarios")
    assert code == 0 and "count=N" in text and "1..300000" in text


def test_doorbell_stride_times_queues_past_the_bar_is_refused_by_the_config_check() -> None:
    from nvmescope.emulator import ControllerConfig

    config = ControllerConfig(dstrd=13, max_io_queues=65535)
    assert any("BAR0" in p for p in config.problems())
    code, text = run("trace", "-c", "dstrd=13", "-c", "max_io_queues=65535")
    assert code == 2 and "BAR0" in text


@pytest.mark.parametrize(
    "target",
    ["/nonexistent/x", "/tmp", "/dev/full", "/proc/version", "/tmp/" + "a" * 300],
)
def test_export_onto_an_unwritable_target_is_one_line_exit_1(target: str) -> None:
    code, text = run("export", "jsonl", str(RECORDING), "-o", target)
    assert code == 1, text
    assert text.count("\n") == 1 and text.startswith("nvmescope: error: ")
    assert "a" * 100 not in text
    assert f"error: {target[:5]}" in text  # the message names the file it could not write


def test_regenerate_recordings_refuses_a_file_and_a_missing_parent(tmp_path: Path) -> None:
    code, text = run("regenerate-recordings", "/dev/full")
    assert code == 2 and "not a directory" in text
    missing = tmp_path / "no" / "such" / "tree"
    code, text = run("regenerate-recordings", str(missing))
    assert code == 2 and "parent directory does not exist" in text
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("args", [("--version",), ("stats", str(RECORDING)), ("trace", "identify")])
def test_a_full_standard_output_is_one_line_and_exit_1(args: tuple[str, ...]) -> None:
    with open("/dev/full", "w") as full:
        proc = run_main(*args, stdout=full)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "No space left on device" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_closed_standard_output_is_one_line_and_exit_1() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nvmescope", "trace", "identify"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        cwd=ROOT,
        preexec_fn=lambda: os.close(1),
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == "nvmescope: error: standard output is closed: nothing can be printed\n"


def test_ctrl_c_while_recording_keeps_a_valid_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nvmescope.machine import Machine
    from nvmescope.trace import open_recording

    real_step = Machine.step
    steps = {"n": 0}

    def step(self: Machine) -> object:
        steps["n"] += 1
        if steps["n"] > 500:
            raise KeyboardInterrupt
        return real_step(self)

    monkeypatch.setattr(Machine, "step", step)
    out = tmp_path / "cut.nvmetrace"
    code, text = run("record", "io-load", "-o", str(out), "-p", "count=1000")
    assert code == 130
    assert "interrupted: kept 500 events" in text
    rec = open_recording(out)
    assert len(rec) == 500
    rec.close()


@pytest.mark.parametrize(
    "args",
    [
        ["export", "jsonl", str(RECORDING), "-o", "\x00"],
        ["export", "tracepoint", str(RECORDING), "-o", "out\x00.txt"],
        ["show", "a\x00.nvmetrace"],
    ],
)
def test_a_path_holding_a_nul_byte_is_one_line_and_exit_2(args: list[str]) -> None:
    code, text = run(*args)
    assert code == 2
    assert "NUL byte" in text and text.count("\n") == 1


LONG = "x" * 100_000


@pytest.mark.parametrize(
    "args",
    [
        ("show", str(RECORDING), "-f", LONG),
        ("show", str(RECORDING), "-f", "seq == " + "9" * 100_000),
        ("show", str(RECORDING), "--follow", "1" * 100_000 + ":1"),
        ("trace", LONG),
        ("show", LONG),
        ("list", "-c", LONG + "=1"),
    ],
    ids=["filter-field", "filter-number", "follow", "scenario", "path", "knob"],
)
def test_an_error_about_a_huge_argument_does_not_repeat_it_whole(args) -> None:
    """Each message stays one line of a few hundred characters, its start and end kept."""
    code, text = run(*args)
    assert code in (1, 2)
    errors = [line for line in text.splitlines() if line.startswith("nvmescope: error:")]
    assert len(errors) == 1 and len(errors[0]) < 600, errors[0][:200]
    assert len(text) < 1500


def test_a_filter_that_matches_nothing_echoes_a_huge_filter_shortened() -> None:
    code, text = run("show", str(RECORDING), "-f", "seq == 0x" + "f" * 100_000)
    assert code == 0 and "0 of 399 events matched" in text and len(text) < 600


def test_a_scenario_asking_for_more_memory_than_the_host_has_stops_with_one_line() -> None:
    """Every value in its range, together more queue memory than the host's 512 MiB: the
    allocation fails as for Linux (-ENOMEM), the scenario says so and stops, and the
    command says it in one line, exit 1 (it was an internal error, exit 70)."""
    code, text = run("trace", "multi-queue", "-c", "mqes=65535", "-p", "qsize=65536")
    assert code == 1
    assert "The host has no memory left for this" in text
    errors = [line for line in text.splitlines() if line.startswith("nvmescope: error:")]
    assert errors == [
        "nvmescope: error: scenario multi-queue: stopped: the host ran out of memory (host "
        "memory exhausted: cannot allocate 1024 pages; it has 512 MiB)"
    ]


@pytest.mark.parametrize("command", ["show", "replay"])
def test_to_before_from_is_refused_as_bad_input(command: str) -> None:
    code, text = run(command, str(RECORDING), "--from", "10", "--to", "5")
    assert code == 2 and "--to 5 is before --from 10" in text
    code, text = run(command, str(RECORDING), "--from", "10", "--to", "10")
    assert code == 0  # an empty range is a range
