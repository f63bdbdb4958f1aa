"""A file the user names (--config, a lesson, linux run --script) is read bounded, and a
FIFO or a device is refused at once instead of waiting for a writer for ever."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nvmescope.files import (
    DIRECTORY,
    MISSING,
    NOT_REGULAR,
    TOO_BIG,
    UserFileError,
    read_bounded,
)


def test_a_regular_file_within_the_limit_is_read_whole(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 10)
    assert read_bounded(tmp_path / "f", 10) == b"x" * 10


@pytest.mark.parametrize(
    ("name", "kind"),
    [("missing", MISSING), ("adir", DIRECTORY), ("fifo", NOT_REGULAR), ("big", TOO_BIG),
     ("/dev/zero", NOT_REGULAR), ("afile/below", MISSING)],
)  # fmt: skip
def test_what_is_not_a_small_regular_file_is_told_apart(tmp_path, name, kind):
    (tmp_path / "adir").mkdir()
    (tmp_path / "big").write_bytes(b"x" * 11)
    (tmp_path / "afile").write_bytes(b"")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UserFileError) as caught:
        read_bounded(tmp_path / name, 10)
    assert caught.value.kind == kind


def test_a_fifo_given_as_configuration_is_one_line_not_a_hang(tmp_path):
    os.mkfifo(tmp_path / "c.toml")
    done = subprocess.run(
        [sys.executable, "-m", "nvmescope", "id-ctrl", "--config", "c.toml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert (
        done.stderr
        == "nvmescope: error: --config c.toml: not a regular file, not a configuration file\n"
    )
