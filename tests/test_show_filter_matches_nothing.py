"""`show --filter EXPR` that matches no event says so on stderr instead of printing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nvmescope.cli import app
from nvmescope.trace import open_recording

runner = CliRunner()


@pytest.fixture(scope="module")
def identify_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "identify.nvmetrace"
    result = runner.invoke(app, ["record", "identify", "-o", str(path)])
    assert result.exit_code == 0, result.stderr
    return path


def test_a_filter_that_matches_nothing_says_0_of_n(identify_file):
    n = len(open_recording(identify_file))
    result = runner.invoke(app, ["show", str(identify_file), "--filter", "sqid == 9"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.strip() == f"0 of {n} events matched sqid == 9"


def test_the_count_is_of_the_events_in_the_range(identify_file):
    args = ["show", str(identify_file), "--filter", "sqid == 9", "--from", "3", "--to", "10"]
    result = runner.invoke(app, args)
    assert result.stderr.strip() == "0 of 7 events matched sqid == 9"


def test_a_filter_that_matches_says_nothing_on_stderr(identify_file):
    result = runner.invoke(app, ["show", str(identify_file), "--filter", 'kind == "cqe_post"'])
    assert result.exit_code == 0 and result.stdout
    assert result.stderr == ""
