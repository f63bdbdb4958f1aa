"""`nvmescope linux build`'s parts, without the network: the tools it needs and the line
that says what to install, kernel modules' .modinfo and their load order, the archives,
the guest's scripts."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from nvmescope.qemu import guest as g


def fake_module(path: Path, **info: str | list[str]) -> None:
    """A minimal ELF64 relocatable file whose .modinfo holds ``info`` (key=value\\0...)."""
    items = []
    for key, value in info.items():
        for one in value if isinstance(value, list) else [value]:
            items.append(f"{key}={one}".encode() + b"\0")
    modinfo = b"".join(items)
    shstrtab = b"\0.modinfo\0.shstrtab\0"
    body_off = 64
    modinfo_off = body_off
    shstr_off = modinfo_off + len(modinfo)
    shoff = (shstr_off + len(shstrtab) + 7) // 8 * 8
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 3, 2)
    sections = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    sections += struct.pack("<IIQQQQIIQQ", 1, 1, 2, 0, modinfo_off, len(modinfo), 0, 0, 1, 0)
    sections += struct.pack("<IIQQQQIIQQ", 10, 3, 0, 0, shstr_off, len(shstrtab), 0, 0, 1, 0)
    data = header + modinfo + shstrtab
    data += bytes(shoff - len(data)) + sections
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_modinfo_reads_the_section_of_an_elf_module(tmp_path):
    fake_module(tmp_path / "x.ko", depends="a,b", softdep="pre: c", alias=["x1", "x2"])
    assert g.modinfo(tmp_path / "x.ko") == {
        "depends": ["a,b"],
        "softdep": ["pre: c"],
        "alias": ["x1", "x2"],
    }
    (tmp_path / "y.ko").write_bytes(b"not an elf file at all")
    with pytest.raises(g.GuestError, match="not an ELF64 kernel module"):
        g.modinfo(tmp_path / "y.ko")


def test_module_order_puts_dependencies_and_soft_dependencies_first(tmp_path):
    k = tmp_path / "kernel"
    fake_module(k / "drivers/nvme/host/nvme.ko", depends="nvme-core")
    fake_module(k / "drivers/nvme/host/nvme-core.ko", depends="t10-pi")
    fake_module(k / "block/t10-pi.ko", depends="crc-t10dif,crc64-rocksoft")
    fake_module(k / "lib/crc-t10dif.ko", softdep="pre: crct10dif", depends="crct10dif_common")
    fake_module(k / "lib/crc64-rocksoft.ko", softdep="pre: crc64", depends="crc64")
    fake_module(k / "lib/crc64.ko", depends="")
    fake_module(k / "crypto/crct10dif_common.ko", depends="")
    fake_module(k / "crypto/crct10dif_generic.ko", alias="crypto-crct10dif",
                depends="crct10dif_common")  # fmt: skip
    fake_module(k / "arch/x86/crypto/crct10dif-pclmul.ko", alias="crypto-crct10dif")
    order = [Path(m).stem for m in g.module_order(tmp_path)]
    assert order == ["crct10dif_common", "crct10dif_generic", "crc-t10dif", "crc64",
                     "crc64-rocksoft", "t10-pi", "nvme-core", "nvme"]  # fmt: skip
    assert g.module_order(tmp_path)[-1] == "kernel/drivers/nvme/host/nvme.ko"


def test_a_kernel_without_nvme_is_one_line(tmp_path):
    fake_module(tmp_path / "kernel/lib/crc64.ko")
    with pytest.raises(g.GuestError, match="no module nvme"):
        g.module_order(tmp_path)


def only_tools(tmp_path: Path, names: list[str]) -> str:
    """A PATH holding only these programs (links to the real ones)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in names:
        real = shutil.which(name)
        if real is not None:
            (bin_dir / name).symlink_to(real)
    return str(bin_dir)


@pytest.mark.parametrize(
    ("missing", "line"),
    [
        ("qemu-system-x86_64", "qemu-system-x86_64 not found: install Debian's qemu-system-x86 "
         "(apt-get install qemu-system-x86)"),
        ("cpio", "cpio not found: install Debian's cpio (apt-get install cpio)"),
        ("apt-get", "apt-get not found: install Debian's apt (apt-get install apt)"),
    ],
)  # fmt: skip
def test_a_missing_tool_is_one_line_saying_what_to_install(tmp_path, missing, line):
    present = [t for t in g.BUILD_TOOLS if t != missing]
    env = {**os.environ, "PATH": only_tools(tmp_path, present)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", env["PATH"])
        if all(shutil.which(t) for t in present):
            with pytest.raises(g.MissingTool) as caught:
                g.check_tools(g.BUILD_TOOLS)
            assert str(caught.value) == line
    done = subprocess.run(
        [sys.executable, "-m", "nvmescope", "linux", "build", "--cache", str(tmp_path / "c")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    if all(shutil.which(t) for t in present):
        assert done.stderr == f"nvmescope: error: {line}\n"
    else:  # this machine lacks another tool too: the first missing one is named
        assert done.stderr.startswith("nvmescope: error: ") and "not found: install" in done.stderr
    assert not (tmp_path / "c").exists()


def test_a_damaged_manifest_is_no_guest(tmp_path):
    (tmp_path / "guest.json").write_text("{not json")
    assert g.load_guest(tmp_path) is None
    (tmp_path / "guest.json").write_text('{"cache": 1}')
    assert g.load_guest(tmp_path) is None


@pytest.mark.skipif(shutil.which("cpio") is None, reason="cpio is not installed")
def test_the_run_archive_holds_the_script_and_the_files(tmp_path):
    import gzip

    data = g.run_archive("echo hi\n", {"/nvmescope/user.sh": b"nvme list\n"})
    listing = subprocess.run(
        ["cpio", "-t", "--quiet"], input=gzip.decompress(data), capture_output=True, check=True
    ).stdout.decode()
    assert set(listing.split()) == {"nvmescope", "nvmescope/run.sh", "nvmescope/user.sh"}


def test_apt_without_package_lists_is_one_line_saying_apt_get_update(monkeypatch):
    def no_lists(args, cwd=None, env=None):
        raise g.GuestError(f"{args[0]}: E: No packages found")

    monkeypatch.setattr(g, "_run", no_lists)
    with pytest.raises(g.GuestError, match=r"run `apt-get update`"):
        g.kernel_package()


def test_a_kernel_of_another_series_is_refused(monkeypatch):
    monkeypatch.setattr(g, "_run", lambda args, cwd=None, env=None: (
        "linux-image-amd64\n  Depends: linux-image-6.12.9-amd64\n"
    ))  # fmt: skip
    with pytest.raises(g.GuestError, match="not Linux 6.1"):
        g.kernel_package()
