"""Namespaces and their backing store: sparse RAM, or a sparse file that outlives the process.

:class:`Namespace` keeps its medium in sparse 4 KiB pages of RAM. Pages are created
on first write; a page never written reads as zeros (the namespace reports DLFEAT
"deallocated blocks read as zeros"; Dataset Management and Write Zeroes with DEAC
release pages again). Only the pages the host wrote cost memory, so a 64 MiB
namespace costs nothing until used.

:class:`FileNamespace` keeps it in a file of exactly the namespace's size, created
sparse when it does not exist (a hole reads as zeros, as a deallocated block must),
so what one run writes the next run reads. The file is locked (``flock``, exclusive)
while a controller has it open: a second nvmescope, or a second controller in the
same process, gets :class:`BackingFileError`, as it does for a path that is a
directory, not a regular file, in a directory that does not exist, or a file of
another size. :func:`open_namespace` picks the store a :class:`NamespaceConfig`
names; :meth:`Namespace.close` lets the file go.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import gc
import os
import stat

from .allocation import AllocationMap
from .config import NamespaceConfig
from .metastore import MetadataStore

PAGE = 4096


@functools.lru_cache(maxsize=16)
def _zeros(length: int) -> bytes:
    """``length`` zero bytes, one object per length (unwritten blocks read as zeros, and
    every read of them can share it: bytes never change)."""
    return bytes(length)


#: bytes zeroed per write when a file system cannot punch holes
ZERO_CHUNK = 1 << 20


class BackingFileError(ValueError):
    """A namespace's backing file cannot be used; the message is one line naming it."""


class Namespace:
    """Namespace ``nsid`` of ``nsze`` logical blocks of ``lba_size`` bytes, in RAM."""

    #: the backing file's path ("" for RAM)
    file = ""

    def __init__(self, ns: NamespaceConfig) -> None:
        assert ns.nsid is not None and ns.size is not None and ns.flbas is not None
        self.nsid = ns.nsid
        self.lba_formats = tuple(ns.lba_formats or ())
        self.flbas = ns.flbas
        self.lba_size = ns.lba_size
        self.nsze = ns.size // self.lba_size
        self._pages: dict[int, bytearray] = {}
        #: NCAP in bytes (less than the size: thin provisioning, see ``nsaccess.py``)
        self.capacity_bytes = ns.capacity if ns.capacity else ns.size
        #: virtual ns after CC.EN 0 -> 1 during which I/O is Namespace Not Ready
        self.not_ready_ns = ns.not_ready_ns or 0
        #: Namespace Write Protection Config (Feature 84h) state: 0 No Write Protect, 1 Write
        #: Protect, 2 Write Protect Until Power Cycle, 3 Permanent Write Protect
        self.wps = 0
        #: the blocks that hold data (written, not deallocated since): DULBE reads it
        self.allocated = AllocationMap()
        #: the blocks' metadata (metadata.py), in the format in use: MSET, PI and PIL
        self.meta = MetadataStore(
            self.lba_formats[self.flbas][0], self.lba_size, ns.mset or 0, ns.pi or 0, ns.pil or 0
        )
        # SMART / Health per namespace (LPA bit 0): this namespace's share of the counters
        self.data_units_read = 0  # in 512-byte units, as the controller's
        self.data_units_written = 0
        self.host_read_commands = 0
        self.host_write_commands = 0

    def format(self, flbas: int, mset: int = 0, pi: int = 0, pil: int = 0) -> None:
        """Format NVM: LBA format ``flbas`` (with MSET, PI and PIL) from now on; every block
        reads as zeros again (its metadata as a deallocated block's).

        The capacity in bytes stays; NSZE becomes what it holds in the new block size.
        """
        size = self.size_bytes
        self.flbas = flbas
        self.lba_size = 1 << self.lba_formats[flbas][1]
        self.nsze = size // self.lba_size
        self._erase()
        self.meta = MetadataStore(self.lba_formats[flbas][0], self.lba_size, mset, pi, pil)

    def _erase(self) -> None:
        self._pages.clear()
        self.allocated.clear()

    @property
    def size_bytes(self) -> int:
        return self.nsze * self.lba_size

    @property
    def pages_used(self) -> int:
        return len(self._pages)

    def new_pages(self, offset: int, length: int) -> int:
        """How many 4 KiB pages a write of ``length`` bytes at ``offset`` would allocate."""
        if length <= 0:
            return 0
        first, last = offset // PAGE, (offset + length - 1) // PAGE
        return sum(1 for p in range(first, last + 1) if p not in self._pages)

    def in_range(self, slba: int, nlb: int) -> bool:
        """True when blocks ``slba`` .. ``slba + nlb - 1`` all exist."""
        return 0 <= slba and nlb >= 0 and slba + nlb <= self.nsze

    def read(self, offset: int, length: int) -> bytes:
        page, within = divmod(offset, PAGE)
        if 0 < length <= PAGE - within:  # inside one page (a 4 KiB block, say)
            data = self._pages.get(page)
            if data is None:
                return _zeros(length)
            return bytes(data[within : within + length])
        out = bytearray(length)
        pos = 0
        while pos < length:
            page, within = divmod(offset + pos, PAGE)
            n = min(PAGE - within, length - pos)
            data = self._pages.get(page)
            if data is not None:
                out[pos : pos + n] = data[within : within + n]
            pos += n
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            page, within = divmod(offset + pos, PAGE)
            n = min(PAGE - within, len(data) - pos)
            buf = self._pages.get(page)
            if buf is None:
                buf = self._pages[page] = bytearray(PAGE)
            buf[within : within + n] = data[pos : pos + n]
            pos += n

    def zero(self, offset: int, length: int, deallocate: bool) -> None:
        """Make ``length`` bytes at ``offset`` read as zeros.

        ``deallocate``: the pages wholly inside the range are released (deallocated:
        they read as zeros, as DLFEAT says, and cost nothing); the others are zeroed in
        place. A page never written is already zeros and stays unallocated either way.
        """
        if length <= 0:
            return
        end = offset + length
        first, last = offset // PAGE, (end - 1) // PAGE
        if last - first + 1 > len(self._pages):
            pages = sorted(p for p in self._pages if first <= p <= last)
        else:
            pages = [p for p in range(first, last + 1) if p in self._pages]
        for page in pages:
            start = max(offset, page * PAGE) - page * PAGE
            stop = min(end, (page + 1) * PAGE) - page * PAGE
            if deallocate and start == 0 and stop == PAGE:
                del self._pages[page]
            else:
                self._pages[page][start:stop] = bytes(stop - start)

    def zero_blocks(self, slba: int, nlb: int, deallocate: bool) -> None:
        """Blocks read as zeros; ``deallocate``: they are deallocated too, else they are
        written (with zeros) and so allocated."""
        self.zero(slba * self.lba_size, nlb * self.lba_size, deallocate)
        self.meta.deallocate(slba, nlb)
        if deallocate:
            self.allocated.deallocate(slba, nlb)
        else:
            self.allocated.allocate(slba, nlb)

    def read_blocks(self, slba: int, nlb: int) -> bytes:
        return self.read(slba * self.lba_size, nlb * self.lba_size)

    def write_blocks(self, slba: int, data: bytes) -> None:
        self.write(slba * self.lba_size, data)
        self.allocated.allocate(slba, -(-len(data) // self.lba_size))

    def flush(self) -> None:
        """Flush: what was written is on the medium (RAM: it already is)."""

    def close(self) -> None:
        """Let the backing store go (RAM: nothing to do)."""


class FileNamespace(Namespace):
    """A namespace whose blocks are the bytes of a sparse file (see the module docstring).

    An error of the file system while the device runs (a full disk under a sparse
    file, an I/O error) is an ``OSError`` from the block methods; the NVM command set
    answers it with a media error status.
    """

    def __init__(self, ns: NamespaceConfig) -> None:
        super().__init__(ns)
        self.file = ns.file
        self._fd: int | None = None
        self._fd = _open_backing_file(ns.file, self.size_bytes, self.nsid)
        self._load_allocation()

    def _load_allocation(self) -> None:
        """A file written by an earlier run: its data extents (not its holes) are the
        allocated blocks. A block the file system keeps only in part counts as allocated,
        and so does one deallocated where the file system could not punch a hole (its
        zeros were written)."""
        fd, size, pos = self._require(), self.size_bytes, 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after pos (or no SEEK_DATA here)
                return
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            first = start // self.lba_size
            self.allocated.allocate(first, -(-end // self.lba_size) - first)
            pos = end

    @property
    def pages_used(self) -> int:
        """The file's allocated 4 KiB pages (what it costs on disk)."""
        if self._fd is None:
            return 0
        return -(-os.fstat(self._fd).st_blocks * 512 // PAGE)

    def new_pages(self, offset: int, length: int) -> int:
        """How many 4 KiB pages of the range are holes of the file (a write allocates them)."""
        if length <= 0:
            return 0
        fd = self._require()
        first, last = offset // PAGE, (offset + length - 1) // PAGE
        holes, page = 0, first
        while page <= last:
            try:
                data = os.lseek(fd, page * PAGE, os.SEEK_DATA) // PAGE
            except OSError:  # ENXIO: nothing but holes from here to the end of the file
                return holes + last - page + 1
            holes += min(data, last + 1) - page  # the pages before the data are holes
            if data > last:
                break
            hole = -(-os.lseek(fd, data * PAGE, os.SEEK_HOLE) // PAGE)  # first hole after
            page = max(hole, data + 1)
        return holes

    def _erase(self) -> None:
        fd = self._require()
        os.ftruncate(fd, 0)
        os.ftruncate(fd, self.size_bytes)
        self.allocated.clear()

    def _require(self) -> int:
        if self._fd is None:
            raise OSError(errno.EBADF, f"{self.file}: the namespace's file was closed")
        return self._fd

    def read(self, offset: int, length: int) -> bytes:
        data = os.pread(self._require(), length, offset)
        if len(data) < length:  # only if someone shortened the file behind our back
            data += bytes(length - len(data))
        return data

    def write(self, offset: int, data: bytes) -> None:
        fd = self._require()
        view = memoryview(data)
        while view:
            done = os.pwrite(fd, view, offset)
            view, offset = view[done:], offset + done

    def zero(self, offset: int, length: int, deallocate: bool) -> None:
        """Zeros over ``length`` bytes at ``offset``: holes punched where the file system
        can (the blocks are deallocated either way, as the RAM store's), else written."""
        if length <= 0:
            return
        fd = self._require()
        if _punch_hole(fd, offset, length):
            return
        while length > 0:
            n = min(length, ZERO_CHUNK)
            self.write(offset, bytes(n))
            offset, length = offset + n, length - n

    def flush(self) -> None:
        """Flush: the written blocks reach the disk (fdatasync), as a volatile write cache
        commits to non-volatile media."""
        os.fdatasync(self._require())

    def close(self) -> None:
        """Close the file and release its lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        self.close()


def open_namespace(ns: NamespaceConfig) -> Namespace:
    """The namespace ``ns`` (resolved: see ``ControllerConfig.namespace_configs``) describes,
    on the store it names: RAM, or its file (:class:`BackingFileError` if it cannot be)."""
    return FileNamespace(ns) if ns.file else Namespace(ns)


def _open_backing_file(path: str, size: int, nsid: int) -> int:
    """Open (or create, sparse, at ``size`` bytes) and lock ``path``; its descriptor."""

    def refuse(why: str) -> BackingFileError:
        return BackingFileError(f"namespace {nsid}'s file {path}: {why}")

    created = False
    try:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            created = True
        except FileExistsError:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except IsADirectoryError:
        raise refuse("is a directory") from None
    except FileNotFoundError:
        raise refuse("its directory does not exist") from None
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise refuse("not a regular file")
        if not _lock(fd):
            raise refuse("in use by another nvmescope (it holds the file's lock)")
        if created:
            os.ftruncate(fd, size)
        elif info.st_size != size:
            raise refuse(
                f"{info.st_size} bytes, but the namespace is {size} bytes (give the size "
                "the file was made with, or another file)"
            )
    except BaseException as exc:
        os.close(fd)
        if created:
            os.unlink(path)
        if isinstance(exc, OSError):
            raise refuse(exc.strerror or str(exc)) from None
        raise
    return fd


def _lock(fd: int) -> bool:
    """Take the file's exclusive lock without waiting. A namespace of this process that
    nobody can reach any more still holds its lock until it is collected: collect once,
    then try again."""
    for attempt in range(2):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt == 0:
                gc.collect()
    return False


#: fallocate(2) flags: deallocate a range and keep the file's size
_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
_fallocate: object = None


def _punch_hole(fd: int, offset: int, length: int) -> bool:
    """Deallocate ``length`` bytes at ``offset`` of the file (they then read as zeros).
    False where the platform or the file system cannot (the caller writes zeros)."""
    global _fallocate
    if _fallocate is None:
        try:
            import ctypes
            import ctypes.util

            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            func = libc.fallocate
            func.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong)
            func.restype = ctypes.c_int
            _fallocate = func
        except (OSError, AttributeError):
            _fallocate = False
    if not _fallocate:
        return False
    flags = _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE
    return _fallocate(fd, flags, offset, length) == 0  # type: ignore[operator]
