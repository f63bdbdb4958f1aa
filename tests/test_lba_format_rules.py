"""Identify Namespace's FLBAS names formats past the sixteenth in bits 6:5, and a
format with metadata cannot be in use on a device that moves no metadata."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nvmescope.cli import app
from nvmescope.nvme.identify import encode_flbas, flbas_index


@pytest.mark.parametrize("index", range(64))
def test_flbas_encodes_and_decodes_every_format_index(index):
    flbas = encode_flbas(index)
    assert flbas & 0x10 == 0 and flbas < 0x80  # bit 4 (metadata at the end) stays clear
    assert flbas_index(flbas) == index


def test_format_17_in_use_is_flbas_0x21_and_its_4_kib_blocks(tmp_path):
    formats = [[0, 9]] * 17 + [[0, 12]] * 3
    (tmp_path / "lf.toml").write_text(
        f"[controller]\nctratt = 0x8000\nlba_formats = {formats}\nflbas = 17\n"
    )
    result = CliRunner().invoke(app, ["id-ns", "-H", "-c", str(tmp_path / "lf.toml")])
    assert result.exit_code == 0, result.output
    assert "flbas   : 0x21" in result.stdout
    assert "LBA Format 17 : Metadata Size: 0   bytes - Data Size: 4096 bytes" in result.stdout


@pytest.mark.parametrize("args", [["-c", "flbas=1"], ["-c", "flbas=5"]])
def test_a_format_with_metadata_cannot_be_in_use(args):
    result = CliRunner().invoke(app, ["list", *args])
    assert result.exit_code == 2
    assert "bytes of metadata per block" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
