"""A namespace backed by a sparse file (issue 10): what one Machine or process writes, the
next one reads; a path that cannot be one is a one-line error and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.config import NamespaceConfig
from nvmescope.emulator.namespace import BackingFileError
from nvmescope.machine import Machine
from nvmescope.nvme import status as st

MIB = 1 << 20


def cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    """The command in a process of its own, as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "nvmescope", *args], cwd=cwd, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def one_line_error(code: int, err: str, words: str, exit_code: int = 2) -> None:
    assert code == exit_code, err
    assert err.count("\n") == 1 and err.startswith("nvmescope: error: "), err
    assert words in err and "Traceback" not in err, err


def on_file(path: Path, size: int = 4 * MIB, flbas: int = 4) -> ControllerConfig:
    return ControllerConfig(namespaces=(NamespaceConfig(size=size, flbas=flbas, file=str(path)),))


def up(config: ControllerConfig) -> Machine:
    m = Machine(config, scenario="bringup")
    m.run()
    assert m.driver is not None and m.driver.up
    return m


def test_a_file_backed_namespace_keeps_its_data_for_the_next_machine(tmp_path):
    path = tmp_path / "ns1.img"
    m = up(on_file(path))
    drv, api = m.driver, m.api
    data = bytes(range(256)) * 32  # two 4 KiB blocks
    buf = api.alloc(8192)
    api.mem_write(buf, data, "data")
    assert drv.run(drv.nvme_write(1, 1, 100, 2, buf, 8192)).ok
    assert drv.run(drv.nvme_flush(1, 1)).ok
    m.close()
    # created sparse at exactly the namespace's size: two blocks written cost two blocks
    assert path.stat().st_size == 4 * MIB and path.stat().st_blocks * 512 <= 64 * 1024
    again = up(on_file(path))
    drv, api = again.driver, again.api
    out = api.alloc(8192)
    assert drv.run(drv.nvme_read(1, 1, 100, 2, out, 8192)).ok
    assert api.peek(out, 8192) == data
    assert drv.run(drv.nvme_read(1, 1, 0, 1, out, 4096)).ok and api.peek(out, 4096) == bytes(4096)
    again.close()


def test_deallocated_blocks_of_a_file_read_as_zeros(tmp_path):
    m = up(on_file(tmp_path / "ns1.img"))
    drv, api = m.driver, m.api
    buf = api.alloc(4 * 4096)
    api.mem_write(buf, b"\xee" * 4 * 4096, "data")
    assert drv.run(drv.nvme_write(1, 1, 0, 4, buf, 4 * 4096)).ok
    assert drv.run(drv.nvme_write_zeroes(1, 1, 1, 2, deallocate=True)).ok
    assert drv.run(drv.nvme_read(1, 1, 0, 4, buf, 4 * 4096)).ok
    got = api.peek(buf, 4 * 4096)
    assert got == b"\xee" * 4096 + bytes(2 * 4096) + b"\xee" * 4096
    m.close()


def test_a_second_machine_on_a_file_in_use_is_refused_until_the_first_closes(tmp_path):
    path = tmp_path / "ns1.img"
    first = Machine(on_file(path), scenario=None)
    with pytest.raises(BackingFileError, match="in use by another nvmescope"):
        Machine(on_file(path), scenario=None)
    first.close()
    Machine(on_file(path), scenario=None).close()


def test_a_file_system_that_fails_under_a_namespace_is_a_media_error_not_an_exception(tmp_path):
    m = up(on_file(tmp_path / "ns1.img"))
    drv, api = m.driver, m.api
    buf = api.alloc(4096)
    m.ctrl.namespaces[1].close()  # as if the file went away under the device
    done = drv.run(drv.nvme_read(1, 1, 0, 1, buf, 4096))
    assert (done.sct, done.sc) == (st.SCT_MEDIA, 0x81)  # Unrecovered Read Error
    done = drv.run(drv.nvme_write(1, 1, 0, 1, buf, 4096))
    assert (done.sct, done.sc) == (st.SCT_MEDIA, 0x80)  # Write Fault
    assert any(e.kind == "err_media" for e in m.events)


WRITE_THEN_READ = """\
[[namespace]]
size = "1MiB"
lba_size = 512

[[namespace]]
nsid = 2
size = "4MiB"
lba_size = 4096
file = "ns2.img"
"""


def test_data_written_in_one_process_is_read_back_in_the_next(tmp_path):
    (tmp_path / "ns.toml").write_text(WRITE_THEN_READ)
    args = ["trace", "io-persist", "--config", "ns.toml", "-p", "nsid=2", "-p", "count=8"]
    code, out, err = cli(*args, cwd=tmp_path)
    assert code == 0, err
    assert "Check 'data': 8 blocks as written: as expected." in out
    assert (tmp_path / "ns2.img").stat().st_size == 4 * MIB
    code, out, err = cli(*args, "-p", "write=0", cwd=tmp_path)
    assert code == 0, err
    assert "Check 'data': 8 blocks as written: as expected." in out
    assert not [e for e in out.splitlines() if " write " in e and "opcode 0x01" in e]
    # on RAM a new process reads zeros: the check fails (exit 1), which is the point
    (tmp_path / "ram.toml").write_text(WRITE_THEN_READ.replace('file = "ns2.img"', ""))
    code, _, err = cli("trace", "io-persist", "--config", "ram.toml", "-p", "nsid=2",
                       "-p", "write=0", "-p", "count=8", cwd=tmp_path)  # fmt: skip
    one_line_error(code, err, "data: expected 8 blocks as written, got 0", exit_code=1)


@pytest.mark.parametrize(
    ("file", "setup", "words"),
    [
        ("sub", lambda d: (d / "sub").mkdir(), "is a directory"),
        ("nowhere/ns.img", None, "its directory does not exist"),
        ("small.img", lambda d: (d / "small.img").write_bytes(bytes(100)), "100 bytes, but"),
        ("/dev/null", None, "not a regular file"),
    ],
    ids=["directory", "no-directory", "wrong-size", "not-regular"],
)
def test_a_namespace_file_that_cannot_be_one_is_one_line_and_exit_2(tmp_path, file, setup, words):
    if setup is not None:
        setup(tmp_path)
    (tmp_path / "ns.toml").write_text(f'[[namespace]]\nsize = "1MiB"\nfile = "{file}"\n')
    code, out, err = cli("id-ctrl", "--config", "ns.toml", cwd=tmp_path)
    one_line_error(code, err, words)
    assert "namespace 1's file" in err and out == ""


def test_a_namespace_file_in_use_by_another_nvmescope_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "ns.toml").write_text(WRITE_THEN_READ)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from nvmescope.cli import build_config; "
         "from nvmescope.machine import Machine; m = Machine(build_config(['ns.toml']), None); "
         "print('ready', flush=True); sys.stdin.read()"],
        cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        code, _, err = cli("id-ns", "-n", "2", "--config", "ns.toml", cwd=tmp_path)
        one_line_error(code, err, "in use by another nvmescope")
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
    assert cli("id-ctrl", "--config", "ns.toml", cwd=tmp_path)[0] == 0  # free again


def test_a_file_the_device_created_is_removed_when_it_cannot_be_used(tmp_path, monkeypatch):
    path = tmp_path / "ns1.img"

    def no_room(fd: int, size: int) -> None:
        raise OSError(27, "File too large")

    monkeypatch.setattr(os, "ftruncate", no_room)
    with pytest.raises(BackingFileError, match="File too large"):
        Machine(on_file(path), scenario=None)
    assert not path.exists()


def test_the_file_backed_example_of_the_host_api_page_runs(tmp_path):
    from test_host_api_example import fenced_blocks

    doc = (Path(__file__).resolve().parents[1] / "docs" / "host-api.md").read_text()
    example = next(b for lang, b in fenced_blocks(doc) if lang == "python" and "ns1.img" in b)
    done = subprocess.run(
        [sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[1] 4096"]
    assert (tmp_path / "ns1.img").stat().st_size == 1 << 20
