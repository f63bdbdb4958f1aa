"""`nvmescope list-ns -a`: the allocated namespace list (Identify CNS 10h), as nvme-cli's."""

from __future__ import annotations

from typer.testing import CliRunner

from nvmescope.cli import app

runner = CliRunner()


def test_list_ns_all_prints_the_allocated_list_where_namespaces_are_managed():
    result = runner.invoke(app, ["list-ns", "-a", "-c", "ns_mgmt=1"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "[   0]:0x1\n"


def test_list_ns_all_without_namespace_management_is_one_line_and_exit_1():
    result = runner.invoke(app, ["list-ns", "--all"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "nvmescope: error: NVMe status: Invalid Field in Command (SCT 0h SC 02h, DNR) (0x4002)"
    ]
