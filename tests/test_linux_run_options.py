"""`nvmescope linux run`'s options are checked before a guest boots: a script that is not
a regular file, too big or empty, and --tui off a terminal, each one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nvmescope", "linux", "run", "-o", "x.nvmetrace", *args],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=cwd,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("script", "words"),
    [
        ("/dev/zero", "not a regular file"),
        ("/tmp", "not a regular file"),
        ("missing.sh", "No such file"),
        ("empty.sh", "the script is empty"),
        ("big.sh", "larger than"),
    ],
)
def test_a_bad_script_is_one_line_before_anything_runs(tmp_path, script, words):
    (tmp_path / "empty.sh").write_text("")
    (tmp_path / "big.sh").write_text("true\n" * 300_000)
    result = run("--script", script, cwd=tmp_path)
    assert result.returncode == 2
    assert f"--script {script}: {words}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.nvmetrace").exists()


def test_tui_off_a_terminal_is_refused_before_the_guest_boots(tmp_path):
    result = run("--tui", "--", "true", cwd=tmp_path)
    assert result.returncode == 2 and "--tui: the TUI needs a terminal" in result.stderr
    assert not (tmp_path / "x.nvmetrace").exists()


@pytest.mark.parametrize("command", ["build", "run"])
@pytest.mark.parametrize(("cache", "env", "words"), [
    ("/dev/null", None, "--cache /dev/null: not a directory"),
    ("afile", None, "--cache afile: not a directory"),
    (None, "afile", "$NVMESCOPE_LINUX_CACHE afile: not a directory"),
])  # fmt: skip
def test_a_cache_that_is_not_a_directory_is_one_line(tmp_path, command, cache, env, words):
    (tmp_path / "afile").write_text("not a cache\n")
    args = [sys.executable, "-m", "nvmescope", "linux", command]
    if command == "run":
        args += ["-o", "x.nvmetrace"]
    if cache is not None:
        args += ["--cache", cache]
    if command == "run":
        args += ["--", "true"]
    environ = {k: v for k, v in os.environ.items() if k != "NVMESCOPE_LINUX_CACHE"}
    if env is not None:
        environ["NVMESCOPE_LINUX_CACHE"] = env
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        cwd=tmp_path, env=environ,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"nvmescope: error: {words}\n"
    assert not (tmp_path / "x.nvmetrace").exists()
    assert (tmp_path / "afile").read_text() == "not a cache\n"
