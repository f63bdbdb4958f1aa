"""The configuration file: a controller and its namespaces in TOML (``--config FILE``).

    # nvmescope --config FILE: every key is optional
    [controller]                # any knob `nvmescope config` lists, by its name
    serial = "LAB-7"
    mdts = 5

    [[namespace]]               # one table per namespace, NSIDs 1, 2, ... in order
    size = "64MiB"              # bytes: an integer, or a text with KiB, MiB, GiB or TiB
    lba_size = 512              # the LBA data size in use (or flbas = N, an index)

    [[namespace]]
    nsid = 3                    # optional: here NSID 2 stays inactive (NN is raised to 3)
    size = "1GiB"
    lba_size = 4096
    lba_formats = [[0, 9], [0, 12]]   # (ms, lbads) pairs, or {ms = 0, lbads = 12} tables
    file = "ns3.img"            # a sparse file that keeps the data (relative to this file)

    [[namespace]]               # metadata and PI need metadata = true in [controller]
    flbas = 1                   # a format with metadata (here 8 bytes a block)
    mset = 1                    # 1: extended LBA; 0: a separate buffer through MPTR
    pi = 1                      # protection information Type 1 (0: none)
    pil = 0                     # PI in the last 8 bytes of the metadata (1: the first)

A namespace table leaves out what the controller's knobs say (``namespace_size_bytes``,
``flbas``, ``lba_formats``); without any table the controller has its one RAM namespace
of those knobs, as without a file. NN (``nn``) is raised to the highest NSID unless the
``[controller]`` table sets it.

:func:`load_config_file` applies a file to a configuration (a profile's, or the
default); every mistake is a :class:`ConfigFileError` of one line that names the file,
the line and the key: a syntax error (tomllib's words), an unknown table or key, a
value of the wrong type, a value out of its range (``ControllerConfig.problems``), a
file larger than :data:`MAX_CONFIG_BYTES`, not UTF-8, or no file at all.
:func:`locate_problem` finds the line of a problem found later (after ``-c`` knobs).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from typing import Any

from ..files import (
    DIRECTORY,
    MISSING,
    NOT_REGULAR,
    TOO_BIG,
    UserFileError,
    loads_toml,
    read_bounded,
)
from .config import MAX_NAMESPACES, NAMESPACE_RANGES, ControllerConfig, NamespaceConfig

#: the largest configuration file read (a real one is a few hundred bytes)
MAX_CONFIG_BYTES = 1 << 20
#: the keys of a [[namespace]] table, each with what it says (its range, where it has
#: one, is ``config.NAMESPACE_RANGES``'s)
NAMESPACE_KEYS: dict[str, str] = {
    "nsid": "the namespace ID; default: one more than the previous table's (1 for the first)",
    "size": 'bytes, an integer or a text such as "64MiB" (KiB, MiB, GiB, TiB); default: '
    "namespace_size_bytes",
    "lba_size": "the LBA data size in use, e.g. 512 or 4096 (the first format of that size "
    "without metadata); or flbas",
    "flbas": "the index of the LBA format in use; default: the controller's flbas",
    "lba_formats": "[ms, lbads] pairs or {ms, lbads} tables; default: the controller's",
    "file": "a sparse file that keeps the data, created when missing, relative to the "
    'configuration file; default "": RAM',
    "capacity": "NCAP in bytes like size (less than size: thin provisioning); default: "
    "namespace_capacity_bytes, else the size",
    "not_ready_ns": "virtual ns after each CC.EN=1 during which I/O is Namespace Not Ready; "
    "default: namespace_not_ready_ns",
    "mset": "a metadata format's MSET: 1 extended LBA, 0 a separate buffer (MPTR); default: "
    "the controller's mset",
    "pi": "protection information: 0 none, 1..3 Type 1..3 (needs 8 bytes of metadata); "
    "default: the controller's pi",
    "pil": "where PI is in the metadata: 1 the first 8 bytes, 0 the last; default: the "
    "controller's pil",
}
#: the multipliers a size text may end with
SIZE_UNITS = {"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_SIZE_TEXT = re.compile(r"\s*(\d{1,16})\s*([A-Za-z]*)\s*")
_TABLE_LINE = re.compile(r"\s*(\[\[?)\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?\s*(#.*)?$")
_KEY_LINE = re.compile(r"\s*([\"']?)([A-Za-z0-9_.-]+)\1\s*=")
_LEADING_KEY = re.compile(r"[a-z][a-z0-9_]*")


class ConfigFileError(ValueError):
    """A configuration file that cannot be used: one line naming the file, line and key."""


@dataclass
class LoadedFile:
    """What :func:`load_config_file` read: the file's name, its text, and the keys it set."""

    path: str
    text: str
    #: controller knobs the [controller] table set
    knobs: set[str] = field(default_factory=set)
    #: number of [[namespace]] tables
    namespaces: int = 0

    def line_of(self, index: int, key: str) -> int:
        """The line of ``key`` in the [controller] table (``index`` -1) or in the
        ``index``-th [[namespace]] table; that table's header, or 1, when not found."""
        return _find_line(self.text, index, key)

    def where(self, index: int, key: str) -> str:
        return f"{self.path}:{self.line_of(index, key)}"


def read_config_text(path: str) -> str:
    """The text of the file at ``path``: a ConfigFileError when it is not a file we read
    (missing, a directory, unreadable, larger than MAX_CONFIG_BYTES, not UTF-8)."""
    try:
        data = read_bounded(path, MAX_CONFIG_BYTES)
    except UserFileError as exc:
        words = {
            MISSING: "no such file (nor a profile of that name)",
            DIRECTORY: "is a directory, not a configuration file",
            TOO_BIG: f"larger than {MAX_CONFIG_BYTES} bytes: not a configuration file",
            NOT_REGULAR: "not a regular file, not a configuration file",
        }.get(exc.kind, exc.reason)
        raise ConfigFileError(f"{path}: {words}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigFileError(
            f"{path}:{line}: not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})"
        ) from None


def load_config_file(
    path: str | os.PathLike[str], base: ControllerConfig
) -> tuple[ControllerConfig, LoadedFile]:
    """``base`` with the file's [controller] knobs and [[namespace]] tables applied, and
    what was read (for :func:`locate_problem`). The result is checked: a problem of the
    file's values is a ConfigFileError naming its line."""
    name = os.fspath(path)
    text = read_config_text(name)
    loaded = LoadedFile(name, text)
    try:
        data = loads_toml(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(_syntax_error(name, str(exc))) from None
    config = replace(base)
    for key in data:
        if key not in ("controller", "namespace"):
            raise ConfigFileError(
                f"{loaded.where(-2, key)}: {key}: no such table or key (a configuration file "
                "has a [controller] table and [[namespace]] tables)"
            )
    controller = data.get("controller", {})
    if not isinstance(controller, dict):
        raise ConfigFileError(f"{loaded.where(-2, 'controller')}: controller: must be a table")
    fields = {f.name: f for f in dataclasses.fields(ControllerConfig)}
    for key, value in controller.items():
        where = loaded.where(-1, key)
        if key == "namespaces":
            raise ConfigFileError(f"{where}: namespaces: give [[namespace]] tables instead")
        if key not in fields:
            raise ConfigFileError(
                f"{where}: {key}: no such knob in [controller] (see `nvmescope config`)"
            )
        setattr(config, key, _knob_value(where, key, str(fields[key].type), value))
        loaded.knobs.add(key)
    tables = data.get("namespace", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigFileError(
            f"{loaded.where(-2, 'namespace')}: namespace: must be [[namespace]] tables"
        )
    loaded.namespaces = len(tables)
    if len(tables) > MAX_NAMESPACES:  # before each is read and checked (thousands: seconds)
        raise ConfigFileError(
            f"{loaded.where(-2, 'namespace')}: namespace: at most {MAX_NAMESPACES} "
            f"[[namespace]] tables (got {len(tables)})"
        )
    folder = os.path.dirname(os.path.abspath(name))
    spaces = [
        _namespace(loaded, index, table, config, folder) for index, table in enumerate(tables)
    ]
    config.namespaces = tuple(spaces)
    if spaces and "nn" not in loaded.knobs and isinstance(config.nn, int):
        highest = max(ns.nsid or 0 for ns in config.namespace_configs())
        config.nn = max(config.nn, min(highest, NAMESPACE_RANGES["nsid"][1]))
    problem = locate_problem(config, loaded, set())
    if problem is not None:
        raise ConfigFileError(problem)
    return config, loaded


def locate_problem(
    config: ControllerConfig, loaded: LoadedFile, overridden: set[str]
) -> str | None:
    """The first of ``config.problems()`` as one line at the file's line, when the file
    set the value in question; None when there is no problem or it is not the file's (a
    profile's, or a ``-c`` knob's: ``overridden`` names the knobs ``-c`` set after it)."""
    problems = config.problems()
    if not problems:
        return None
    text = problems[0]
    keyed = {t: (i, k) for i, k, t in config.namespace_problems()}
    index, key = keyed.get(text, (-1, ""))
    if not key:
        found = _LEADING_KEY.match(text)
        key = found.group() if found else ""
    if index >= 0 and key in NAMESPACE_KEYS:
        return f"{loaded.where(index, key)}: {text}"  # only a file sets a namespace's keys
    if key in overridden:
        return None
    if key in loaded.knobs:
        return f"{loaded.where(-1, key)}: {text}"
    if index >= 0:  # a namespace's problem with a knob it took from elsewhere
        return f"{loaded.where(index, '')}: {text}"
    return None


def _syntax_error(path: str, message: str) -> str:
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", message)
    if found is None:
        found = re.search(r"\s*\(at end of document\)\s*$", message)
        if found is None:
            return f"{path}: {message}"
        return f"{path}: {message[: found.start()]} (at the end of the file)"
    return f"{path}:{found.group(1)}: {message[: found.start()]} (column {found.group(2)})"


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _knob_value(where: str, key: str, kind: str, value: Any) -> Any:
    """A [controller] value checked against the knob's type."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigFileError(f"{where}: {key}: expected true or false, got {_type_name(value)}")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigFileError(f"{where}: {key}: expected an integer, got {_type_name(value)}")
    if kind == "str":
        if isinstance(value, str):
            return value
        raise ConfigFileError(f"{where}: {key}: expected a text, got {_type_name(value)}")
    if kind.startswith("tuple[tuple[int, int]"):
        return _formats(where, key, value)
    raise ConfigFileError(f"{where}: {key}: this knob cannot be set from a file")


def _formats(where: str, key: str, value: Any) -> tuple[tuple[int, int], ...]:
    """LBA formats: an array of [ms, lbads] pairs or {ms, lbads} tables (ms defaults to 0)."""
    usage = f"{key}: an array of [ms, lbads] pairs or {{ms = 0, lbads = 12}} tables"
    if not isinstance(value, list):
        raise ConfigFileError(f"{where}: {usage}, got {_type_name(value)}")
    out: list[tuple[int, int]] = []
    for entry in value:
        if isinstance(entry, dict) and set(entry) <= {"ms", "lbads"} and "lbads" in entry:
            pair = [entry.get("ms", 0), entry["lbads"]]
        elif isinstance(entry, list) and len(entry) == 2:
            pair = entry
        else:
            raise ConfigFileError(f"{where}: {usage}")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
            raise ConfigFileError(f"{where}: {usage}")
        out.append((pair[0], pair[1]))
    return tuple(out)


def _size(where: str, label: str, value: Any, key: str = "size") -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        found = _SIZE_TEXT.fullmatch(value)
        if found is not None and found.group(2) in SIZE_UNITS:
            return int(found.group(1)) * SIZE_UNITS[found.group(2)]
    raise ConfigFileError(
        f'{where}: {label}{key}: expected bytes, an integer or a text such as "64MiB" '
        f"(KiB, MiB, GiB, TiB), got {value!r}"[:300]
    )


def _namespace(
    loaded: LoadedFile, index: int, table: dict[str, Any], config: ControllerConfig, folder: str
) -> NamespaceConfig:
    """The NamespaceConfig of the ``index``-th [[namespace]] table."""
    label = f"namespace {index + 1}: "

    def where(key: str) -> str:
        return loaded.where(index, key)

    for key in table:
        if key not in NAMESPACE_KEYS:
            raise ConfigFileError(
                f"{where(key)}: {label}{key}: no such key (a namespace takes "
                f"{', '.join(NAMESPACE_KEYS)})"
            )
    ints: dict[str, int | None] = {}
    for key in ("nsid", "flbas", "lba_size", "not_ready_ns", "mset", "pi", "pil"):
        value = table.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ConfigFileError(
                f"{where(key)}: {label}{key}: expected an integer, got {_type_name(value)}"
            )
        ints[key] = value
    size = _size(where("size"), label, table["size"]) if "size" in table else None
    capacity = (
        _size(where("capacity"), label, table["capacity"], "capacity")
        if "capacity" in table
        else None
    )
    formats = (
        _formats(where("lba_formats"), label + "lba_formats", table["lba_formats"])
        if "lba_formats" in table
        else None
    )
    flbas = ints["flbas"]
    lba_size = ints["lba_size"]
    if lba_size is not None:
        if flbas is not None:
            raise ConfigFileError(
                f"{where('lba_size')}: {label}lba_size and flbas say the same thing: give one"
            )
        choices = formats if formats is not None else config.lba_formats
        lbads = lba_size.bit_length() - 1
        pick = next(
            (
                n
                for n, (ms, ds) in enumerate(choices)
                if isinstance(ms, int) and ms == 0 and ds == lbads
            ),
            None,
        )
        if lba_size < 512 or lba_size & (lba_size - 1) or pick is None:
            sizes = sorted({1 << ds for ms, ds in choices if ms == 0 and 0 <= ds < 64})
            raise ConfigFileError(
                f"{where('lba_size')}: {label}lba_size={lba_size}: no LBA format of that data "
                f"size without metadata (lba_formats offer {', '.join(map(str, sizes))})"
            )
        flbas = pick
    path = table.get("file", "")
    if not isinstance(path, str):
        raise ConfigFileError(
            f"{where('file')}: {label}file: expected a path (a text), got {_type_name(path)}"
        )
    if path:
        if "\x00" in path:
            raise ConfigFileError(f"{where('file')}: {label}file: a path has no NUL character")
        path = os.path.abspath(os.path.join(folder, os.path.expanduser(path)))
    return NamespaceConfig(
        nsid=ints["nsid"], size=size, flbas=flbas, lba_formats=formats, file=path,
        capacity=capacity, not_ready_ns=ints["not_ready_ns"],
        mset=ints["mset"], pi=ints["pi"], pil=ints["pil"],
    )  # fmt: skip


def _find_line(text: str, index: int, key: str) -> int:
    """The line of ``key`` in the table ``index`` names (-2 the top level, -1 [controller],
    N the N-th [[namespace]]); the table's header line, or 1, when the key is not seen."""
    table, count = "", -1
    header = 0
    for number, line in enumerate(text.splitlines(), 1):
        found = _TABLE_LINE.match(line)
        if found is not None and not _KEY_LINE.match(line):
            name = found.group(2).strip().strip("\"'")
            if found.group(1) == "[[" and name == "namespace":
                count += 1
                table = f"namespace{count}"
            else:
                table = name
            if (index == -1 and table == "controller") or (
                index >= 0 and table == f"namespace{index}"
            ):
                header = header or number
            continue
        keyed = _KEY_LINE.match(line)
        if keyed is None:
            continue
        name = keyed.group(2)
        here = {-2: "", -1: "controller"}.get(index, f"namespace{index}")
        if table == here and name == key:
            return number
        if table == "" and index == -1 and name == f"controller.{key}":
            return number
    return header or 1
