"""The Linux guest, assembled from Debian packages (``nvmescope linux build``).

What goes in, all from the machine's own apt sources (Debian 12, bookworm):

- the kernel: ``linux-image-amd64``'s Linux 6.1 image (``linux-image-6.1.0-N-amd64``),
  booted by QEMU with ``-kernel``;
- an initramfs (a ``cpio -H newc`` archive, gzip'd) holding ``busybox-static`` with its
  applets, nvme-cli 2.3 (Debian's ``nvme-cli``, version ``2.4+really2.3``) and every
  library ``ldd`` names for it (taken from the packages, not from this machine), the
  modules ``nvme`` and ``nvme-core`` and everything they need (``depends=`` and
  ``softdep=pre:`` of each module's ``.modinfo``, read from the ELF file), in the order
  they load, and the ``/init`` script below.

Each package is fetched with ``apt-get download`` (no root needed, nothing installed)
and unpacked with ``dpkg-deb -x`` into ``CACHE/root``; the result is ``CACHE/vmlinuz``,
``CACHE/initramfs.cpio.gz`` and ``CACHE/guest.json`` (what was built, from what).
``CACHE`` is ``~/.cache/nvmescope/linux`` unless ``--cache`` or ``$NVMESCOPE_LINUX_CACHE``
says otherwise. A second build with the same packages is a no-op.

``/init`` mounts /proc, /sys and /dev, then sources ``/nvmescope/run.sh`` if it exists
(each run appends it as a second archive: :func:`run_archive`) and powers off. The run
script calls the helpers ``/init`` defines: ``probe`` (load the modules; wait for
``/dev/nvme0n1``), ``step NAME COMMAND...`` (run it between markers), ``write_read``
(a 4 KiB O_DIRECT write at LBA 8 of 512-byte blocks, read back and compared) and
``remove`` (remove the function through sysfs: the driver deletes its queues and
shuts the controller down). Lines beginning ``@@nvmescope`` are for the host
(:mod:`nvmescope.qemu.run` reads them).
"""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: where the guest is built unless told otherwise
CACHE_ENV = "NVMESCOPE_LINUX_CACHE"
#: the apt packages and what each gives the guest
KERNEL_META = "linux-image-amd64"
BUSYBOX = "busybox-static"
NVME_CLI = "nvme-cli"
#: the Linux the guest must run (the host model is Linux 6.1's driver)
KERNEL_SERIES = "6.1."
#: the modules the guest loads, last first: their dependencies are found in .modinfo
NVME_MODULES = ("nvme",)
#: the one marker that starts a line meant for the host
MARKER = "@@nvmescope"
#: the tools each part needs, and the Debian package that has it
TOOLS: dict[str, str] = {
    "apt-get": "apt",
    "dpkg-deb": "dpkg",
    "cpio": "cpio",
    "ldd": "libc-bin",
    "qemu-system-x86_64": "qemu-system-x86",
}
BUILD_TOOLS = ("apt-get", "dpkg-deb", "cpio", "ldd", "qemu-system-x86_64")
RUN_TOOLS = ("cpio", "qemu-system-x86_64")
#: a manifest's format; a cache with another is built again
MANIFEST_VERSION = 1

INIT = f"""#!/bin/busybox sh
# nvmescope's guest (nvmescope/qemu/guest.py): mount, run /nvmescope/run.sh, power off.
# Lines that start with {MARKER} are for the host that watches the console.
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() {{ echo "{MARKER} $*"; }}
uptime_s() {{ cut -d' ' -f1 /proc/uptime; }}
probe() {{
  say "probe begin $(uptime_s)"
  for m in $(cat /etc/nvmescope/modules); do
    insmod "/lib/modules/$m" || say "insmod failed: $m"
  done
  n=0
  while [ ! -b /dev/nvme0n1 ] && [ $n -lt 300 ]; do usleep 100000; n=$((n + 1)); done
  if [ -b /dev/nvme0n1 ]; then say "probe ok $(uptime_s)"; return 0; fi
  say "probe failed $(uptime_s)"
  return 1
}}
step() {{
  name=$1
  shift
  say "step $name begin: $*"
  "$@"
  rc=$?
  say "step $name end rc=$rc"
  return $rc
}}
write_read() {{
  dd if=/dev/urandom of=/tmp/w bs=4096 count=1 2>/dev/null
  dd if=/tmp/w of=/dev/nvme0n1 bs=4096 seek=1 count=1 oflag=direct conv=notrunc || return 1
  dd if=/dev/nvme0n1 of=/tmp/r bs=4096 skip=1 count=1 iflag=direct || return 1
  if cmp /tmp/w /tmp/r; then say "readback equal $(md5sum < /tmp/w | cut -c1-32)"; return 0; fi
  say "readback differs"
  return 1
}}
remove() {{
  dev=$(readlink /sys/class/nvme/nvme0/device)
  echo 1 > /sys/class/nvme/nvme0/device/remove && say "removed ${{dev##*/}}"
}}
say "guest up $(uptime_s)"
[ -f /nvmescope/run.sh ] && . /nvmescope/run.sh
say "guest done $(uptime_s)"
sync
poweroff -f
"""


class GuestError(Exception):
    """The guest cannot be built or found: one line for people."""


class MissingTool(GuestError):
    """A program the guest needs is not installed: the line says what to install."""


def default_cache() -> Path:
    """``$NVMESCOPE_LINUX_CACHE``, else ``$XDG_CACHE_HOME/nvmescope/linux``, else
    ``~/.cache/nvmescope/linux``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nvmescope" / "linux"


def check_tools(names: Iterable[str]) -> None:
    """Raise :class:`MissingTool` for the first of ``names`` not on the PATH."""
    for name in names:
        if shutil.which(name) is None:
            package = TOOLS.get(name, name)
            raise MissingTool(
                f"{name} not found: install Debian's {package} (apt-get install {package})"
            )


@dataclass
class Guest:
    """A built guest: the kernel, the initramfs and what they were made of."""

    cache: str
    kernel: str
    initramfs: str
    kernel_version: str
    #: package -> version, of everything unpacked
    packages: dict[str, str] = field(default_factory=dict)
    #: the modules, in the order /init loads them (paths under /lib/modules)
    modules: list[str] = field(default_factory=list)
    #: the libraries of nvme-cli, as ldd named them
    libraries: list[str] = field(default_factory=list)
    version: int = MANIFEST_VERSION

    @property
    def manifest(self) -> Path:
        return Path(self.cache) / "guest.json"

    def save(self) -> None:
        self.manifest.write_text(json.dumps(asdict(self), indent=2) + "\n")

    def ready(self) -> bool:
        """The files it names are all there."""
        return Path(self.kernel).is_file() and Path(self.initramfs).is_file()


def load_guest(cache: Path) -> Guest | None:
    """The guest built in ``cache`` (None when there is none, or a damaged manifest)."""
    path = cache / "guest.json"
    try:
        data = json.loads(path.read_text())
        guest = Guest(**data)
    except (OSError, ValueError, TypeError):
        return None
    if guest.version != MANIFEST_VERSION or not guest.ready():
        return None
    return guest


# -- apt -----------------------------------------------------------------------------------
def _run(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a program; its standard output, or a GuestError naming the last line it said."""
    full = {**os.environ, "LC_ALL": "C", **(env or {})}
    try:
        done = subprocess.run(args, cwd=cwd, env=full, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise GuestError(f"{args[0]}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit status {done.returncode}"
        raise GuestError(f"{' '.join(args[:3])}: {last}")
    return done.stdout


def kernel_package() -> str:
    """The Linux 6.1 image package ``linux-image-amd64`` stands for."""
    try:
        out = _run(["apt-cache", "depends", KERNEL_META])
    except GuestError:
        raise GuestError(
            f"apt knows no {KERNEL_META}: run `apt-get update` (the guest needs Debian 12's, "
            "bookworm's, package lists)"
        ) from None
    for line in out.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "Depends:" and words[1].startswith("linux-image-"):
            name = words[1]
            if not name.startswith("linux-image-" + KERNEL_SERIES):
                raise GuestError(
                    f"{KERNEL_META} is {name}, not Linux 6.1: the guest needs Debian 12's "
                    "(bookworm) kernel"
                )
            return name
    raise GuestError(f"apt knows no {KERNEL_META}: the guest needs Debian 12's (bookworm) apt")


def _download(packages: list[str], debs: Path) -> dict[str, Path]:
    """Each package's .deb in ``debs`` (fetched by apt-get download unless there)."""
    debs.mkdir(parents=True, exist_ok=True)
    # apt-get names only what it would fetch into its working directory: ask from an
    # empty one, so that it names every package
    with tempfile.TemporaryDirectory(prefix="nvmescope-apt-") as empty:
        out = _run(["apt-get", "download", "--print-uris", *packages], cwd=Path(empty))
    wanted: dict[str, Path] = {}
    fetch: list[str] = []
    for line in out.splitlines():
        m = re.match(r"'[^']+' (\S+) (\d+) ", line)
        if not m:
            continue
        filename, size = m.group(1), int(m.group(2))
        name = filename.split("_", 1)[0]
        wanted[name] = debs / filename
        path = debs / filename
        if not (path.is_file() and path.stat().st_size == size):
            fetch.append(name)
    missing = [p for p in packages if p not in wanted]
    if missing:
        raise GuestError(f"apt-get download cannot find {', '.join(missing)}")
    if fetch:
        _run(["apt-get", "download", *fetch], cwd=debs)
    return {p: wanted[p] for p in packages}


def _deb_field(deb: Path, name: str) -> str:
    return _run(["dpkg-deb", "-f", str(deb), name]).strip()


def _library_depends(deb: Path) -> list[str]:
    """The libraries a package depends on (first alternative of each)."""
    text = ", ".join(x for x in (_deb_field(deb, "Pre-Depends"), _deb_field(deb, "Depends")) if x)
    out: list[str] = []
    for part in text.split(","):
        first = part.split("|")[0].strip()
        name = first.split(" ")[0].split(":")[0]
        if name and re.match(r"^(lib|zlib)", name):
            out.append(name)
    return out


def _fetch_with_libraries(roots: list[str], debs: Path) -> dict[str, Path]:
    """``roots`` and, transitively, the library packages they depend on."""
    got: dict[str, Path] = {}
    todo = list(roots)
    while todo:
        batch = [p for p in dict.fromkeys(todo) if p not in got]
        todo = []
        if not batch:
            break
        fetched = _download(batch, debs)
        got.update(fetched)
        for deb in fetched.values():
            todo.extend(_library_depends(deb))
    return got


# -- kernel modules ------------------------------------------------------------------------
def modinfo(path: Path) -> dict[str, list[str]]:
    """The ``.modinfo`` section of a kernel module (an ELF64 file): key -> values."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise GuestError(f"{path.name}: not an ELF64 kernel module")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(i: int) -> tuple[int, int, int]:
        name, _type, _flags, _addr, offset, size = struct.unpack_from(
            "<IIQQQQ", data, shoff + i * shentsize
        )
        return name, offset, size

    _, stroff, _ = section(shstrndx)
    out: dict[str, list[str]] = {}
    for i in range(shnum):
        name, offset, size = section(i)
        end = data.index(b"\0", stroff + name)
        if data[stroff + name : end] != b".modinfo":
            continue
        for item in data[offset : offset + size].split(b"\0"):
            key, sep, value = item.decode("utf-8", "replace").partition("=")
            if sep:
                out.setdefault(key, []).append(value)
    return out


def _norm(name: str) -> str:
    return name.replace("-", "_")


def module_order(moddir: Path, wanted: Iterable[str] = NVME_MODULES) -> list[str]:
    """The modules ``wanted`` need, dependencies first: paths relative to ``moddir``
    (``lib/modules/VERSION``). ``depends=`` names modules; a ``softdep=pre:`` name is a
    module or an alias (``crct10dif``: the generic implementation is taken)."""
    files = {_norm(p.stem): p for p in sorted((moddir / "kernel").rglob("*.ko"))}
    aliases: dict[str, list[str]] | None = None

    def by_alias(name: str) -> str | None:
        nonlocal aliases
        if aliases is None:
            aliases = {}
            for mod, path in files.items():
                if "crypto" in path.parts:  # the algorithms a softdep names live there
                    for alias in modinfo(path).get("alias", []):
                        aliases.setdefault(alias, []).append(mod)
        found = aliases.get(name, []) + aliases.get(f"crypto-{name}", [])
        generic = [m for m in found if m.endswith("_generic")]
        return (generic or sorted(found) or [None])[0]

    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        mod = _norm(name)
        if mod not in files:
            mod = by_alias(name) or ""
        if not mod or mod in seen:
            return
        seen.add(mod)
        info = modinfo(files[mod])
        for soft in info.get("softdep", []):
            words = soft.split()
            if words[:1] == ["pre:"]:
                for dep in words[1:]:
                    if dep.endswith(":"):
                        break
                    visit(dep)
        for deps in info.get("depends", []):
            for dep in filter(None, deps.split(",")):
                visit(dep)
        order.append(str(files[mod].relative_to(moddir)))

    for name in wanted:
        if _norm(name) not in files:
            raise GuestError(f"the kernel package has no module {name}")
        visit(name)
    return order


# -- libraries -----------------------------------------------------------------------------
def _in_root(root: Path, path: str) -> Path:
    """``path`` as the unpacked packages see it: symlinks followed inside ``root``."""
    current = Path(path)
    for _ in range(40):
        inside = root / current.relative_to("/")
        if inside.is_symlink():
            target = Path(os.readlink(inside))
            current = target if target.is_absolute() else (current.parent / target)
            current = Path(os.path.normpath(current))
            continue
        return inside
    raise GuestError(f"{path}: too many symbolic links")


def libraries(root: Path, binary: Path) -> list[tuple[str, Path]]:
    """(path in the guest, file to copy) of every library ldd names for ``binary``,
    resolved among the unpacked packages first."""
    dirs = [root / "lib/x86_64-linux-gnu", root / "usr/lib/x86_64-linux-gnu"]
    env = {"LD_LIBRARY_PATH": ":".join(str(d) for d in dirs if d.is_dir())}
    out = _run(["ldd", str(binary)], env=env)
    found: list[tuple[str, Path]] = []
    for line in out.splitlines():
        line = line.strip()
        if "not found" in line:
            raise GuestError(f"{binary.name} needs {line.split()[0]}, in no package fetched")
        if "=>" in line:
            name, _, rest = line.partition("=>")
            path = rest.strip().split(" (")[0]
            if not path:
                continue
            src = Path(path)
            found.append((f"/lib/x86_64-linux-gnu/{name.strip()}", src))
        elif line.startswith("/"):
            interp = line.split(" (")[0]
            src = _in_root(root, interp)
            found.append((interp, src if src.exists() else Path(interp)))
    return found


# -- the archive ---------------------------------------------------------------------------
def cpio_archive(tree: Path) -> bytes:
    """``tree`` as a ``cpio -H newc`` archive (the entries in sorted order)."""
    names = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    listing = "\0".join(names).encode() + b"\0"
    try:
        done = subprocess.run(
            ["cpio", "-o", "-H", "newc", "-0", "--quiet", "-R", "0:0"],
            cwd=tree, input=listing, capture_output=True, check=False,
        )  # fmt: skip
    except OSError as exc:
        raise GuestError(f"cpio: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise GuestError(f"cpio: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def run_archive(script: str, files: dict[str, bytes] | None = None) -> bytes:
    """A second initramfs archive (gzip'd) with ``/nvmescope/run.sh`` and ``files``
    (guest path -> bytes): the kernel unpacks it over the first."""
    with tempfile.TemporaryDirectory(prefix="nvmescope-run-") as tmp:
        tree = Path(tmp)
        (tree / "nvmescope").mkdir()
        (tree / "nvmescope" / "run.sh").write_text(script)
        for name, data in (files or {}).items():
            path = tree / name.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return gzip.compress(cpio_archive(tree), mtime=0)


def build(cache: Path, say: Callable[[str], None], *, force: bool = False) -> tuple[Guest, bool]:
    """Build the guest in ``cache``; returns it and whether anything was built (False:
    the one there was made of the same packages). ``say`` hears what is done."""
    check_tools(BUILD_TOOLS)
    cache.mkdir(parents=True, exist_ok=True)
    # one build at a time in a cache (two test workers, two terminals)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(cache, say, force)


def _build(cache: Path, say: Callable[[str], None], force: bool) -> tuple[Guest, bool]:
    kernel_pkg = kernel_package()
    debs = _fetch_with_libraries([kernel_pkg, BUSYBOX, NVME_CLI], cache / "debs")
    versions = {name: _deb_field(deb, "Version") for name, deb in sorted(debs.items())}
    old = load_guest(cache)
    if old is not None and old.packages == versions and not force:
        say(f"the guest in {cache} is up to date (Linux {old.kernel_version}); --force rebuilds")
        return old, False
    for name in (kernel_pkg, BUSYBOX, NVME_CLI):
        say(f"package {name} {versions[name]}")
    libs = sorted(set(debs) - {kernel_pkg, BUSYBOX, NVME_CLI})
    say(f"packages of nvme-cli's libraries: {', '.join(libs)}")
    root = cache / "root"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir()
    for deb in debs.values():
        _run(["dpkg-deb", "-x", str(deb), str(root)])
    say(f"unpacked {len(debs)} packages with dpkg-deb -x into {root}")

    kversion = kernel_pkg.removeprefix("linux-image-")
    vmlinuz = root / "boot" / f"vmlinuz-{kversion}"
    moddir = root / "lib" / "modules" / kversion
    if not vmlinuz.is_file() or not moddir.is_dir():
        raise GuestError(f"{kernel_pkg} holds no boot/vmlinuz-{kversion} and its modules")
    order = module_order(moddir)
    say(f"modules, in load order: {' '.join(Path(m).stem for m in order)}")

    with tempfile.TemporaryDirectory(prefix="nvmescope-initramfs-", dir=cache) as tmp:
        tree = Path(tmp)
        for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "etc"):
            (tree / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / "bin" / "busybox", tree / "bin" / "busybox")
        nvme = root / "usr" / "sbin" / "nvme"
        shutil.copy2(nvme, tree / "usr" / "sbin" / "nvme")
        libs_found = libraries(root, nvme)
        for guest_path, src in libs_found:
            dst = tree / guest_path.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            dst.chmod(0o755)
        say(f"nvme-cli and the {len(libs_found)} libraries ldd names: "
            f"{' '.join(Path(p).name for p, _ in libs_found)}")  # fmt: skip
        for rel in order:
            dst = tree / "lib" / "modules" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(moddir / rel, dst)
        (tree / "etc" / "nvmescope").mkdir()
        (tree / "etc" / "nvmescope" / "modules").write_text("\n".join(order) + "\n")
        (tree / "init").write_text(INIT)
        (tree / "init").chmod(0o755)
        archive = gzip.compress(cpio_archive(tree), mtime=0)
    initramfs = cache / "initramfs.cpio.gz"
    initramfs.write_bytes(archive)
    kernel = cache / "vmlinuz"
    shutil.copyfile(vmlinuz, kernel)
    say(f"kernel {kernel} (Linux {kversion}, {kernel.stat().st_size // 1024} KiB)")
    say(f"initramfs {initramfs} (cpio -H newc, gzip, {len(archive) // 1024} KiB)")
    guest = Guest(
        cache=str(cache),
        kernel=str(kernel),
        initramfs=str(initramfs),
        kernel_version=kversion,
        packages=versions,
        modules=order,
        libraries=[p for p, _ in libs_found],
    )
    guest.save()
    shutil.rmtree(root)
    return guest, True
