"""Reading a file the user names (a configuration, a lesson, a guest script): bounded,
and never stuck on something that is not a regular file.

:func:`read_bounded` opens the path without blocking (a FIFO or a terminal would wait
for a writer for ever), checks on the open file that it is a regular file and no larger
than the limit, then reads at most the limit plus one byte (a file that grows while it
is read is still caught). What is wrong is a :class:`UserFileError` whose ``kind`` says
which (each caller words it for its own option).

:func:`written_in_place` is for a file the user names as an output: what is written goes
to a temporary name beside it, renamed over it only once all of it is written, so a
failed export or import leaves what was there.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MISSING, DIRECTORY, NOT_REGULAR, TOO_BIG, UNREADABLE = (
    "missing", "directory", "not_regular", "too_big", "unreadable"
)  # fmt: skip


class UserFileError(OSError):
    """``kind``: MISSING, DIRECTORY, NOT_REGULAR, TOO_BIG or UNREADABLE; ``reason``: the
    system's words (strerror) where there are some."""

    def __init__(self, kind: str, reason: str = "") -> None:
        super().__init__(reason or kind)
        self.kind = kind
        self.reason = reason


def open_regular(path: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
    """A descriptor of the regular file at ``path`` (opened without blocking, so a FIFO
    or a terminal is refused rather than waited on; blocking again once it is known to
    be a file) and its status; UserFileError otherwise. The caller closes it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise UserFileError(MISSING, exc.strerror or "") from None
    except IsADirectoryError as exc:
        raise UserFileError(DIRECTORY, exc.strerror or "") from None
    except OSError as exc:
        kind = MISSING if exc.errno == errno.ENOTDIR else UNREADABLE
        raise UserFileError(kind, exc.strerror or str(exc)) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UserFileError(DIRECTORY, "Is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise UserFileError(NOT_REGULAR, "not a regular file")
        os.set_blocking(fd, True)
    except BaseException as exc:
        os.close(fd)
        if isinstance(exc, OSError) and not isinstance(exc, UserFileError):
            raise UserFileError(UNREADABLE, exc.strerror or str(exc)) from None
        raise
    return fd, info


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them."""
    fd, info = open_regular(path)
    try:
        if info.st_size > limit:
            raise UserFileError(TOO_BIG)
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except UserFileError:
        raise
    except OSError as exc:
        raise UserFileError(UNREADABLE, exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise UserFileError(TOO_BIG)
    return data


def loads_toml(text: str) -> dict[str, Any]:
    """``tomllib.loads``, whose every refusal is a ``tomllib.TOMLDecodeError`` in words:
    besides a syntax error, arrays or tables nested deeper than Python's stack (a
    RecursionError) and an integer of more digits than Python converts (a ValueError)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise
    except RecursionError:
        raise tomllib.TOMLDecodeError("arrays or tables nested too deeply") from None
    except ValueError:
        limit = sys.get_int_max_str_digits()
        raise tomllib.TOMLDecodeError(f"a number of more than {limit} digits") from None


@contextmanager
def written_in_place(path: str | os.PathLike[str]) -> Iterator[Path]:
    """The path to write ``path``'s new contents to: a temporary name beside it, renamed
    over ``path`` when the block ends without an exception and removed when it does not,
    so a failure leaves what was at ``path``. Only for a regular file or a new name: a
    device, a FIFO or anything else is written where it is (``/dev/stdout`` stays a
    device, a FIFO's reader gets the data)."""
    target = Path(path)
    try:
        regular = stat.S_ISREG(os.stat(target).st_mode)
    except OSError:  # not there yet (or not to be looked at: the write will say why)
        regular = not os.path.lexists(target)
    if not regular:
        yield target
        return
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


__all__ = ["UserFileError", "loads_toml", "open_regular", "read_bounded", "written_in_place"]
