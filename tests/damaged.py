"""What the tests of damaged recordings share: ``replay --verify`` through the CLI
(the recordings they damage are the ``small_chunk_recordings`` fixture of conftest)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from nvmescope.cli import app

runner = CliRunner()


def verify_cli(path: Path) -> tuple[int, str]:
    """``nvmescope replay --verify PATH``: its exit code and output (never an exception)."""
    result = runner.invoke(app, ["replay", "--verify", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result.exit_code, result.output
