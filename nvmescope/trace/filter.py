"""Display filters: a small expression language over event fields.

In the spirit of Wireshark's display filters::

    kind == "cqe_post" and status != 0
    sqid == 1 and opcode == "read"
    who == "H" and reg == "CC"
    queue == "sq0" and time > 1037.5
    addr >= 0x100000
    kind in {"doorbell_sq", "doorbell_cq"}      (or ( ... ) or [ ... ])
    kind matches "^err_"            (or: kind ~ "^err_")
    not (actor == "host")
    cid == 4 or cid == 5
    status                          (present and non-zero)
    data contains "hello"           data contains 68:65
    seq in {10..20, 42}

Grammar (lowest precedence first)::

    expr    := and ( ("or" | "||") and )*
    and     := not ( ("and" | "&&") not )*
    not     := ("not" | "!") not | primary
    primary := "(" expr ")" | test
    test    := FIELD [ CMP value | "in" OPEN item ("," item)* CLOSE
                     | "contains" value | ("matches" | "~") STRING ]
    CMP     := "==" | "!=" | "<" | "<=" | ">" | ">="  (or eq ne lt le gt ge)
    OPEN    := "{" | "(" | "["      CLOSE := the matching "}" | ")" | "]"
    value   := NUMBER | STRING | BYTES | "true" | "false" | FIELD | WORD
    item    := value | NUMBER ".." NUMBER

Numbers are decimal, ``0x`` hex, ``0b`` binary or ``0o`` octal (``_`` allowed,
a leading ``-`` allowed), or decimal fractions (``1037.5``); strings are in
double or single quotes with ``\\"``, ``\\'``, ``\\\\``, ``\\n``, ``\\t`` and
``\\xHH`` escapes; bytes are hex pairs joined by colons (``68:65:6c``). On the
right-hand side a known field name is that field of the same event
(``new_tail == old_tail``); any other bare word is a string
(``kind == cqe_post``).

Fields are the fields of the event classes (``seq``, ``ts``, ``actor``,
``sqid``, ``cid``, ``kind`` and every field of every kind) plus aliases:

- ``opcode``: compares to a number or to the opcode's name
  (``opcode == "read"``); ``sqe_fetch`` events get it from the SQE bytes.
- ``status``: the 15-bit status field of ``cqe_post``, ``cmd_finish`` and
  ``err_*``; compares to a number or to a status name (``"invalid_field"``).
- ``sc``, ``sct``, ``dnr``: pieces of ``status`` on every event that has one.
- ``reg``: the register name of a config/MMIO access, and ``sqNtdbl`` /
  ``cqNhdbl`` for doorbells. A 64-bit register's name also matches its
  halves (``reg == "asq"`` matches ``asq.lo`` and ``asq.hi``).
- the trace printout's columns: ``who`` (``actor``; ``"H"`` / ``"D"`` or
  ``"host"`` / ``"device"``), ``queue`` (``"sq0"``, ``"cq1"``, ``"sq1:4"``
  for queue:cid) and ``time`` / ``time_us`` (``ts`` in microseconds, as printed;
  ``ts`` itself is in nanoseconds).

Fields whose values are names from a known list (``kind``, ``reg``,
``opcode``/``opname``, ``status``/``status_name``, ``actor``/``who``,
``queue``) compare case-insensitively, and a name that is not on the list is
a :class:`FilterError` at the value's column with a "did you mean"
suggestion, so a misspelling never silently selects nothing.

A bare event kind is a test of the kind (``doorbell_sq`` means
``kind == "doorbell_sq"``); bare ``err`` and ``ub`` mean any ``err_*`` /
``ub_*`` event.

A field that an event does not have (or has as ``None``) makes every test on
it false, never an error; so does a value of another type (``data == 3`` on
an event whose ``data`` is bytes). ``!=`` is true only when the field is there
and differs. On list fields (``list_pages``, ``segments``) a comparison is
true when any element satisfies it. ``matches`` is an RE2 regular
expression (Python's syntax without backreferences or lookaround) searched
case-insensitively (as Wireshark's is), against strings, names, and bytes
read as Latin-1. RE2 matches in time linear in the text: no pattern can make
a filter run for ever; a pattern RE2 cannot compile is a FilterError.

Compiling checks the expression and raises :class:`FilterError` (one line
that names the 1-based column, and ``.column``). The compiled filter is a
tree of Python closures; nothing is ever passed to ``eval``. ``HELP`` is a
short guide for a terminal; docs/filters.md is the long one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from nvmescope.events import EVENT_TYPES, Event
from nvmescope.nvme.opcodes import ADMIN_OPCODES, NVM_OPCODES, opcode_name
from nvmescope.nvme.pci import CONFIG_REGISTERS
from nvmescope.nvme.registers import REGISTERS
from nvmescope.nvme.status import STATUS, status_name

Predicate = Callable[[Event], bool]
Getter = Callable[[Event], Any]

#: A short guide to the language for a terminal (``nvmescope filters``, ``--filter help``).
HELP = """\
Filter expressions (--filter EXPR) pick the events to show, like Wireshark's display filters.

  kind == "cqe_post" and status != 0     a test is FIELD OP VALUE; and, or, not, ( )
  who == "H" and reg == "CC"             who: H/D (host/device); names ignore case
  queue == "sq1" or queue == "sq0:3"     queue as printed: sq0, cq1, sq1:4 (queue:cid)
  time > 1037.5                          time / time_us in microseconds as printed; ts in ns
  opcode == "identify"                   opcode, status: a number or a name
  kind in {"doorbell_sq", "doorbell_cq"} sets in { }, ( ) or [ ]; ranges: seq in {10..20, 42}
  kind matches "^err_"                   regular expression, ignoring case (also: ~)
  data contains "hello"                  also bytes: data contains 68:65:6c
  err or ub or cqe_post                  bare kinds: err = any err_*, ub = any ub_*
  status and not dnr                     a bare field: the event has it and it is not 0

Operators: == != < <= > >= (eq ne lt le gt ge), in, contains, matches (~),
and (&&), or (||), not (!). Values: 42 0x2a 0b101 1.5 "text" 'text' 68:65 true false.
Fields: every event field (seq ts actor sqid cid addr value cqid phase data ...) and
who queue time time_us kind opcode opname status status_name sc sct dnr reg.
Names in kind, reg, opcode, status, who/actor and queue must be known ones: a typo
is an error that points at it. A test on a field an event lacks is false.
The full guide, with every field and more examples: docs/filters.md.
"""

#: How deep parentheses and ``not`` may nest; deeper is a FilterError.
MAX_DEPTH = 64


class FilterError(ValueError):
    """A filter expression that does not parse; ``column`` is 1-based."""

    def __init__(self, message: str, column: int, expression: str = "") -> None:
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        self.reason = message
        self.column = column
        self.expression = expression
        super().__init__(f"column {column}: {message}")

    def caret(self, width: int = 76) -> str:
        """The expression and a caret under the column, two lines, for a terminal; a
        longer expression than ``width`` is shown around the column only (with ``…``)."""
        text, at = self.expression, self.column - 1
        if len(text) > width:
            start = max(0, min(at - width // 2, len(text) - width))
            before = "…" if start else ""
            after = "…" if start + width < len(text) else ""
            text, at = before + text[start : start + width] + after, at - start + len(before)
        return f"{text}\n{' ' * at}^"


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: What a getter returns for a field the event does not have.
MISSING: Any = _Missing()


class Named:
    """A number that also has a name (an opcode, a status): compares to either."""

    __slots__ = ("num", "name")

    def __init__(self, num: int, name: str) -> None:
        self.num = num
        self.name = name.lower()

    def __bool__(self) -> bool:
        return self.num != 0

    def __repr__(self) -> str:
        return f"Named({self.num:#x}, {self.name!r})"


# -- fields -------------------------------------------------------------------------
_COMMON_FIELDS = {
    "seq": "the event's number in the stream, from 0 (every event)",
    "ts": "virtual time in nanoseconds (every event); time is in microseconds",
    "sqid": "submission queue of the command or doorbell (the queue column)",
    "cid": "command identifier (after the ':' in the queue column)",
}


def _struct_fields() -> dict[str, str]:
    out: dict[str, str] = {"kind": "the event kind (cqe_post, doorbell_sq, err_..., ub_...)"}
    for kind in sorted(EVENT_TYPES):
        for name in EVENT_TYPES[kind].__struct_fields__:
            out.setdefault(name, "")
    out.update(_COMMON_FIELDS)
    for name in list(out):
        if not out[name]:
            kinds = [k for k in sorted(EVENT_TYPES) if name in EVENT_TYPES[k].__struct_fields__]
            if len(kinds) == len(EVENT_TYPES):
                out[name] = "every event"
            elif len(kinds) > 4:
                out[name] = f"{len(kinds)} kinds, e.g. " + ", ".join(kinds[:3])
            else:
                out[name] = ", ".join(kinds)
    return out


def _get_opcode(ev: Event) -> Any:
    opcode = getattr(ev, "opcode", None)
    if opcode is not None:
        return Named(opcode, getattr(ev, "opname", "") or opcode_name(opcode, ev.sqid == 0))
    if ev.kind == "sqe_fetch":
        data = ev.data  # type: ignore[attr-defined]
        if data:
            return Named(data[0], opcode_name(data[0], ev.sqid == 0))
    return MISSING


def _raw_status(ev: Event) -> int | None:
    status = getattr(ev, "status", None)
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def _get_status(ev: Event) -> Any:
    status = _raw_status(ev)
    if status is None:
        return MISSING
    return Named(status, status_name((status >> 8) & 7, status & 0xFF))


def _get_sc(ev: Event) -> Any:
    status = _raw_status(ev)
    return MISSING if status is None else status & 0xFF


def _get_sct(ev: Event) -> Any:
    status = _raw_status(ev)
    return MISSING if status is None else (status >> 8) & 7


def _get_dnr(ev: Event) -> Any:
    status = _raw_status(ev)
    return MISSING if status is None else bool((status >> 14) & 1)


def _get_reg(ev: Event) -> Any:
    kind = ev.kind
    if kind == "doorbell_sq":
        return f"sq{ev.sqid}tdbl"
    if kind == "doorbell_cq":
        return f"cq{ev.cqid}hdbl"  # type: ignore[attr-defined]
    reg = getattr(ev, "reg", None)
    return reg.lower() if reg else MISSING


def _get_kind(ev: Event) -> Any:
    return ev.kind


def _get_actor(ev: Event) -> Any:
    actor = ev.actor
    return actor.lower() if isinstance(actor, str) and actor else MISSING


def _lower_getter(name: str) -> Getter:
    def get(ev: Event) -> Any:
        value = getattr(ev, name, None)
        if isinstance(value, str):
            return value.lower() if value else MISSING
        return MISSING if value is None else value

    return get


class QueueNames(tuple[str, ...]):
    """The queues an event belongs to (``sq1``, ``sq1:4``, ``cq1``): ``==`` is membership."""

    __slots__ = ()


def _get_queue(ev: Event) -> Any:
    names: list[str] = []
    sqid, cid = ev.sqid, ev.cid
    if isinstance(sqid, int):
        names.append(f"sq{sqid}")
        if isinstance(cid, int):
            names.append(f"sq{sqid}:{cid}")
    kind = ev.kind
    if kind in ("queue_created", "queue_deleted"):
        qtype, qid = getattr(ev, "qtype", None), getattr(ev, "qid", None)
        if qtype in ("sq", "cq") and isinstance(qid, int):
            names.append(f"{qtype}{qid}")
    else:
        cqid = getattr(ev, "cqid", None)
        if isinstance(cqid, int):
            names.append(f"cq{cqid}")
            if isinstance(cid, int):
                names.append(f"cq{cqid}:{cid}")
    return QueueNames(names) if names else MISSING


def _get_time_us(ev: Event) -> Any:
    ts = ev.ts
    return ts / 1000 if isinstance(ts, int) else MISSING


_TIME_HELP = "ts in microseconds, as the trace prints it (ts itself is in ns)"

ALIASES: dict[str, tuple[Getter, str]] = {
    "kind": (_get_kind, "the event kind (cqe_post, doorbell_sq, err_..., ub_...)"),
    "actor": (_get_actor, "who caused the event: host or device (also H / D)"),
    "who": (_get_actor, "the printout's who column: H / D (or host / device)"),
    "queue": (_get_queue, "the printout's queue column: sq0, sq1:4 (queue:cid), cq1"),
    "time": (_get_time_us, _TIME_HELP),
    "time_us": (_get_time_us, _TIME_HELP),
    "opcode": (_get_opcode, "opcode number or name (cmd_start, cmd_finish, sqe_fetch)"),
    "opname": (_lower_getter("opname"), "the opcode's name (cmd_start, cmd_finish)"),
    "status": (_get_status, "status field, number or name (cqe_post, cmd_finish, err_*)"),
    "status_name": (_lower_getter("status_name"), "the status's name (cmd_finish)"),
    "sc": (_get_sc, "status code, bits 7:0 of status"),
    "sct": (_get_sct, "status code type, bits 10:8 of status"),
    "dnr": (_get_dnr, "do not retry, bit 14 of status"),
    "reg": (_get_reg, "register name (mmio_*, config_*), sqNtdbl / cqNhdbl for doorbells"),
}

#: Every field name a filter may use, with a few words about it (for --help).
FIELDS: dict[str, str] = {**_struct_fields(), **{k: v[1] for k, v in ALIASES.items()}}


def _plain_getter(name: str) -> Getter:
    def get(ev: Event) -> Any:
        value = getattr(ev, name, None)
        return MISSING if value is None else value

    return get


def field_getter(name: str) -> Getter:
    """The function that reads field ``name`` from an event (MISSING when absent)."""
    alias = ALIASES.get(name)
    return alias[0] if alias is not None else _plain_getter(name)


# -- known values ---------------------------------------------------------------------
@dataclass(frozen=True)
class Vocabulary:
    """The names a field's values come from: matched case-insensitively, others refused."""

    what: str  # "event kind", for messages
    names: frozenset[str]  # lower case
    patterns: tuple[re.Pattern[str], ...] = ()
    synonyms: Mapping[str, str] = field(default_factory=dict)  # "h" -> "host"
    halves: Mapping[str, frozenset[str]] = field(default_factory=dict)  # "asq" -> asq.lo/hi
    suggestions: tuple[str, ...] = ()  # more candidates for "did you mean"

    def canonical(self, word: str) -> str | None:
        """The name ``word`` means (lower case), or None when it is not a known name."""
        low = word.lower()
        low = self.synonyms.get(low, low)
        if low in self.names or any(p.fullmatch(low) for p in self.patterns):
            return low
        return None

    def accepted(self, name: str) -> frozenset[str]:
        """The event values that equal the canonical ``name``."""
        return self.halves.get(name, frozenset((name,)))

    def guess(self, word: str) -> str | None:
        candidates = sorted(self.names) + list(self.synonyms) + list(self.suggestions)
        close = difflib.get_close_matches(word.lower(), candidates, n=1, cutoff=0.6)
        if not close:
            return None
        return self.synonyms.get(close[0], close[0])


class _QueueVocabulary(Vocabulary):
    _RE = re.compile(r"(sq|cq)0*(\d+)(?::0*(\d+))?")

    def canonical(self, word: str) -> str | None:
        m = self._RE.fullmatch(word.strip().lower())
        if not m:
            return None
        name = f"{m.group(1)}{int(m.group(2))}"
        return name if m.group(3) is None else f"{name}:{int(m.group(3))}"

    def guess(self, word: str) -> str | None:
        digits = re.findall(r"\d+", word)
        kind = "cq" if word.lower().startswith(("c", "completion")) else "sq"
        return f"{kind}{int(digits[0])}" if digits else None


def _registers() -> Vocabulary:
    names: set[str] = set()
    halves: dict[str, frozenset[str]] = {}
    for reg in REGISTERS:
        name = reg.name.lower()
        names.add(name)
        if reg.size == 8:
            names.update((f"{name}.lo", f"{name}.hi"))
            halves[name] = frozenset((name, f"{name}.lo", f"{name}.hi"))
    names.update(name.lower() for _, _, name in CONFIG_REGISTERS)
    fields = ("addr_lo", "addr_hi", "data", "ctrl")
    return Vocabulary(
        "register name",
        frozenset(names),
        (
            re.compile(r"sq\d+tdbl"),
            re.compile(r"cq\d+hdbl"),
            re.compile(r"msix\[\d+\]\.(?:addr_lo|addr_hi|data|ctrl)"),
            re.compile(r"pba\[\d+\]"),
        ),
        halves=halves,
        suggestions=tuple(f"sq{i}tdbl" for i in range(10))
        + tuple(f"cq{i}hdbl" for i in range(10))
        + tuple(f"msix[{i}].{f}" for i in range(4) for f in fields),
    )


_KIND_VOCABULARY = Vocabulary("event kind", frozenset(EVENT_TYPES))
_OPCODE_VOCABULARY = Vocabulary(
    "opcode name",
    frozenset(n.name for n in (*ADMIN_OPCODES.values(), *NVM_OPCODES.values())),
    (re.compile(r"(?:admin|io)_0x[0-9a-f]{2}"),),
)
_STATUS_VOCABULARY = Vocabulary(
    "status name",
    frozenset(st.name for st in STATUS.values()),
    (re.compile(r"sct[0-7]_sc[0-9a-f]{2}"),),
)
_ACTOR_VOCABULARY = Vocabulary(
    "actor", frozenset(("host", "device")), synonyms={"h": "host", "d": "device"}
)

#: Fields whose string values are names from a known list, with that list.
VOCABULARIES: dict[str, Vocabulary] = {
    "kind": _KIND_VOCABULARY,
    "reg": _registers(),
    "opcode": _OPCODE_VOCABULARY,
    "opname": _OPCODE_VOCABULARY,
    "status": _STATUS_VOCABULARY,
    "status_name": _STATUS_VOCABULARY,
    "actor": _ACTOR_VOCABULARY,
    "who": _ACTOR_VOCABULARY,
    "queue": _QueueVocabulary("queue", frozenset()),
}


def _name_key(value: Any) -> Any:
    """The lower-case name(s) in a field value, or None when it has none."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, Named):
        return value.name
    if isinstance(value, QueueNames):
        return value
    return None


def _name_test(get: Getter, accepted: frozenset[str], positive: bool) -> Predicate:
    """``field == name`` (``positive``) or ``field != name`` over a set of accepted names."""

    def test(ev: Event) -> bool:
        key = _name_key(get(ev))
        if key is None:
            return False
        if isinstance(key, QueueNames):
            hit = any(name in accepted for name in key)
        else:
            hit = key in accepted
        return hit is positive

    return test


# -- value semantics ------------------------------------------------------------------
def _is_num(v: Any) -> bool:
    return isinstance(v, int | float)


def _cmp_scalar(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Two comparable values, or None when the types do not compare."""
    if isinstance(a, Named):
        if _is_num(b):
            return a.num, b
        if isinstance(b, str):
            return a.name, b.lower()
        if isinstance(b, Named):
            return a.num, b.num
        return None
    if isinstance(b, Named):
        swapped = _cmp_scalar(b, a)
        return None if swapped is None else (swapped[1], swapped[0])
    if _is_num(a) and _is_num(b):
        return a, b
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    if isinstance(a, bytes):
        if isinstance(b, bytes):
            return a, b
        if isinstance(b, str):
            return a, b.encode("utf-8", "surrogatepass")
    if isinstance(a, str) and isinstance(b, bytes):
        return a.encode("utf-8", "surrogatepass"), b
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        if len(a) == len(b) and all(_is_num(x) for x in a) and all(_is_num(y) for y in b):
            return tuple(a), tuple(b)
    return None


_RELATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
}


_FAST_TYPES = (int, str)


def _relate(op: str, a: Any, b: Any) -> bool:
    ta = type(a)
    if ta is type(b) and ta in _FAST_TYPES:
        return _RELATIONS[op](a, b)
    if a is MISSING or b is MISSING:
        return False
    if isinstance(a, list):  # multi-valued field: any element
        return any(_relate(op, x, b) for x in a)
    pair = _cmp_scalar(a, b)
    if pair is None:
        return False
    return _RELATIONS[op](pair[0], pair[1])


def _contains(a: Any, needle: Any) -> bool:
    if a is MISSING or needle is MISSING:
        return False
    if isinstance(a, QueueNames):
        return isinstance(needle, str) and any(needle.lower() in name for name in a)
    if isinstance(a, Named):
        a = a.name
        needle = needle.lower() if isinstance(needle, str) else needle
    if isinstance(a, str):
        return isinstance(needle, str) and needle in a
    if isinstance(a, bytes):
        if isinstance(needle, bytes):
            return needle in a
        if isinstance(needle, str):
            return needle.encode("utf-8", "surrogatepass") in a
        if isinstance(needle, int):
            return 0 <= needle <= 255 and needle in a
        return False
    if isinstance(a, list | tuple):
        for item in a:
            if isinstance(item, list | tuple):
                if any(_relate("==", x, needle) for x in item):
                    return True
            elif _relate("==", item, needle):
                return True
    return False


#: RE2's memory budget for one compiled pattern (its default is 8 MiB)
REGEX_MAX_MEM = 8 << 20


def compile_regex(text: str, error: Callable[[str], Exception]) -> Any:
    """A case-insensitive RE2 pattern for ``matches``: linear-time search, no backtracking.

    Backreferences, lookaround and patterns beyond :data:`REGEX_MAX_MEM` are refused
    with ``error(reason)`` raised, never run.
    """
    import re2

    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = REGEX_MAX_MEM
    try:
        return re2.compile(text, options)
    except Exception as exc:  # re2.error, and anything from a strange pattern
        reason = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        reason = str(reason).splitlines()[0] if str(reason) else "invalid pattern"
        if re.search(r"\\[1-9]|\(\?<?[=!]", text):
            reason += " (backreferences and lookaround are not supported: RE2 syntax)"
        raise error(f"bad regular expression: {reason}") from None


def _text_of(a: Any) -> str | None:
    if isinstance(a, str):
        return a
    if isinstance(a, Named):
        return a.name
    if isinstance(a, bytes):
        return a.decode("latin-1")
    return None


def _truthy(a: Any) -> bool:
    return a is not MISSING and bool(a)


# -- tokens ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Token:
    type: str  # num str bytes ident op eof
    value: Any
    column: int  # 1-based
    text: str


_KEYWORD_OPS = {
    "and": "and",
    "or": "or",
    "not": "not",
    "in": "in",
    "contains": "contains",
    "matches": "matches",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
}
_SYMBOL_OPS = (
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "..",
    "<",
    ">",
    "~",
    "!",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
)
_SYMBOL_ALIASES = {"&&": "and", "||": "or", "!": "not", "~": "matches"}
_BYTES_RE = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})+(?![\w:])")
_NUMBER_RE = re.compile(r"-?(?:0[xX][0-9A-Fa-f_]+|0[bB][01_]+|0[oO][0-7_]+|[0-9][0-9_]*)")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FRACTION_RE = re.compile(r"-?[0-9]+(?:_[0-9]+)*\.[0-9]+(?:_[0-9]+)*")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "0": "\0"}


def tokenize(text: str) -> list[Token]:
    """The tokens of a filter expression, ending with an ``eof`` token."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        col = i + 1
        if ch.isspace():
            i += 1
            continue
        if ch in "\"'":
            value, i = _read_string(text, i)
            tokens.append(Token("str", value, col, text[col - 1 : i]))
            continue
        m = _BYTES_RE.match(text, i)
        if m:
            raw = bytes.fromhex(m.group().replace(":", ""))
            tokens.append(Token("bytes", raw, col, m.group()))
            i = m.end()
            continue
        if ch.isdigit() or (ch == "-" and i + 1 < n and text[i + 1].isdigit()):
            m = _FRACTION_RE.match(text, i)
            if m:
                end = m.end()
                if end < n and (text[end].isalnum() or text[end] == "_" or _lone_dot(text, end)):
                    j = end
                    while j < n and (text[j].isalnum() or text[j] in "_."):
                        j += 1
                    raise FilterError(_not_a_number(text[i:j]), col, text)
                literal = m.group()
                tokens.append(Token("num", float(literal.replace("_", "")), col, literal))
                i = end
                continue
            m = _NUMBER_RE.match(text, i)
            end = m.end() if m else i + 1
            if end < n and (text[end].isalnum() or text[end] == "_"):
                j = end
                while j < n and (text[j].isalnum() or text[j] == "_"):
                    j += 1
                raise FilterError(_not_a_number(text[i:j]), col, text)
            literal = text[i:end]
            digits = literal.lstrip("-")
            if not m or digits.endswith("_"):
                raise FilterError(f"'{literal}' is not a number", col, text)
            try:
                value = int(literal, 0) if not _is_decimal_with_zeros(literal) else int(literal)
            except ValueError:
                raise FilterError(f"'{literal}' is not a number", col, text) from None
            tokens.append(Token("num", value, col, literal))
            i = end
            continue
        m = _IDENT_RE.match(text, i)
        if m:
            word = m.group()
            lower = word.lower()
            if lower in _KEYWORD_OPS:
                tokens.append(Token("op", _KEYWORD_OPS[lower], col, word))
            elif lower in ("true", "false"):
                tokens.append(Token("num", lower == "true", col, word))
            else:
                tokens.append(Token("ident", word, col, word))
            i = m.end()
            continue
        for sym in _SYMBOL_OPS:
            if text.startswith(sym, i):
                tokens.append(Token("op", _SYMBOL_ALIASES.get(sym, sym), col, sym))
                i += len(sym)
                break
        else:
            if ch == "=":
                raise FilterError("use '==' to compare", col, text)
            if ch == "&" or ch == "|":
                raise FilterError(f"use '{ch * 2}' or '{'and' if ch == '&' else 'or'}'", col, text)
            raise FilterError(f"unexpected character {ch!r}", col, text)
    tokens.append(Token("eof", None, n + 1, ""))
    return tokens


def _not_a_number(word: str) -> str:
    for unit in ("ns", "us", "ms"):
        head = word[: -len(unit)]
        if word.lower().endswith(unit) and (
            _NUMBER_RE.fullmatch(head) or _FRACTION_RE.fullmatch(head)
        ):
            return (
                f"'{word}' is not a number (write it without the unit: "
                "time and time_us are in microseconds, ts in nanoseconds)"
            )
    return f"'{word}' is not a number"


def _lone_dot(text: str, i: int) -> bool:
    """A '.' at ``i`` that does not start a '..' range."""
    return text[i] == "." and not text.startswith("..", i)


def _is_decimal_with_zeros(literal: str) -> bool:
    digits = literal.lstrip("-")
    return len(digits) > 1 and digits[0] == "0" and digits.replace("_", "").isdigit()


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= n:
                break
            esc = text[i + 1]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                i += 2
                continue
            if esc == "x":
                hexpart = text[i + 2 : i + 4]
                if len(hexpart) == 2 and all(c in "0123456789abcdefABCDEF" for c in hexpart):
                    out.append(chr(int(hexpart, 16)))
                    i += 4
                    continue
            raise FilterError(f"unknown escape '\\{esc}' in a string", i + 1, text)
        out.append(ch)
        i += 1
    raise FilterError(f"string is not closed: missing {quote}", start + 1, text)


# -- parser ---------------------------------------------------------------------------
_CMP_OPS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_KINDS = frozenset(EVENT_TYPES)
_KIND_FAMILIES = {"err": "err_", "ub": "ub_"}


@dataclass(frozen=True)
class KindScreen:
    """What a compiled filter says about event kinds: an event of a kind outside
    ``kinds`` never matches; when ``exact``, the filter is a test of the kind alone (an
    event of a kind in ``kinds`` always matches). A scan that knows each event's kind
    (the UI's index of a recording) tests only the events it must decode."""

    kinds: frozenset[str]
    exact: bool


def kind_screen(predicate: Predicate) -> KindScreen | None:
    """The kinds ``predicate`` (from :func:`compile_filter`) can match; None if any."""
    screen = getattr(predicate, "kind_screen", None)
    return screen if isinstance(screen, KindScreen) else None


def _screened(predicate: Predicate, screen: KindScreen | None) -> Predicate:
    if screen is not None:
        predicate.kind_screen = screen  # type: ignore[attr-defined]
    return predicate


def _kinds_test(accepted: frozenset[str]) -> Predicate:
    return _screened(lambda ev: ev.kind in accepted, KindScreen(accepted, exact=True))


def _any_screen(preds: tuple[Predicate, ...]) -> KindScreen | None:
    """``or``: the union, when every part says; exact when every part is."""
    screens = [kind_screen(p) for p in preds]
    if any(sc is None for sc in screens):
        return None
    known = [sc for sc in screens if sc is not None]
    return KindScreen(frozenset().union(*(sc.kinds for sc in known)), all(sc.exact for sc in known))


def _all_screen(preds: tuple[Predicate, ...]) -> KindScreen | None:
    """``and``: the intersection of the parts that say; exact when every part is."""
    screens = [kind_screen(p) for p in preds]
    known = [sc for sc in screens if sc is not None]
    if not known:
        return None
    kinds = frozenset(_KINDS).intersection(*(sc.kinds for sc in known))
    return KindScreen(kinds, len(known) == len(screens) and all(sc.exact for sc in known))


_SET_BRACKETS = {"{": "}", "(": ")", "[": "]"}
#: Field names a newcomer guesses, and the field they mean.
_FIELD_GUESSES = {
    "type": "kind",
    "event": "kind",
    "register": "reg",
    "op": "opcode",
    "cmd": "opcode",
    "command": "opcode",
    "timestamp": "ts",
    "t": "time",
    "sq": "sqid",
    "cq": "cqid",
}


def _describe(tok: Token) -> str:
    if tok.type == "eof":
        return "the end"
    return f"'{tok.text}'"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0

    # helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        if tok.type != "eof":
            self.pos += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> FilterError:
        return FilterError(message, (tok or self.tok).column, self.text)

    def is_op(self, *ops: str) -> bool:
        return self.tok.type == "op" and self.tok.value in ops

    # grammar
    def parse(self) -> Predicate:
        if self.tok.type == "eof":
            raise self.error("the expression is empty")
        pred = self.parse_or()
        if self.tok.type != "eof":
            if self.is_op(")"):
                raise self.error("')' without a matching '('")
            raise self.error(f"expected 'and', 'or' or the end, found {_describe(self.tok)}")
        return pred

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.is_op("or"):
            op = self.advance()
            if self.tok.type == "eof":
                raise self.error(f"expected a test after '{op.text}'")
            parts.append(self.parse_and())
        return any_of(*parts)

    def parse_and(self) -> Predicate:
        parts = [self.parse_not()]
        while self.is_op("and"):
            op = self.advance()
            if self.tok.type == "eof":
                raise self.error(f"expected a test after '{op.text}'")
            parts.append(self.parse_not())
        return all_of(*parts)

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} deep", tok)

    def parse_not(self) -> Predicate:
        if self.is_op("not"):
            op = self.advance()
            if self.tok.type == "eof":
                raise self.error(f"expected a test after '{op.text}'")
            self.enter(op)
            inner = self.parse_not()
            self.depth -= 1
            screen = kind_screen(inner)
            # the complement of a test of the kind alone is one too; of anything else, any kind
            negated = KindScreen(_KINDS - screen.kinds, True) if screen and screen.exact else None
            return _screened(lambda ev: not inner(ev), negated)
        return self.parse_primary()

    def parse_primary(self) -> Predicate:
        tok = self.tok
        if self.is_op("("):
            self.advance()
            self.enter(tok)
            if self.is_op(")"):
                raise self.error("expected a test inside '()'")
            if self.tok.type == "eof":
                raise self.error("expected a test after '('")
            inner = self.parse_or()
            self.depth -= 1
            if not self.is_op(")"):
                if self.tok.type == "eof":
                    raise self.error(f"missing ')' to close the '(' at column {tok.column}")
                raise self.error(f"expected ')' or 'and'/'or', found {_describe(self.tok)}")
            self.advance()
            return inner
        if tok.type == "ident":
            return self.parse_test()
        if tok.type == "eof":
            raise self.error("expected a test")
        if tok.type == "op":
            raise self.error(f"expected a field name, found {_describe(tok)}")
        raise self.error(f"expected a field name before the value {_describe(tok)}")

    def field(self, tok: Token) -> Getter:
        name = tok.value
        if name in FIELDS:
            return field_getter(name)
        candidates = list(FIELDS) + sorted(_KINDS)
        lower = name.lower()
        if lower in FIELDS or lower in _KINDS:
            close = [lower]
        elif lower in _FIELD_GUESSES:
            close = [_FIELD_GUESSES[lower]]
        else:
            close = difflib.get_close_matches(lower, candidates, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise self.error(f"unknown field '{name}'{hint}", tok)

    def known_name(self, name: str, vocab: Vocabulary, tok: Token) -> str:
        """The canonical name of the string ``tok`` for field ``name``, or a FilterError."""
        word = tok.value
        canon = vocab.canonical(word)
        if canon is not None:
            return canon
        shown = word if len(word) <= 40 else word[:37] + "..."
        if name == "kind" and word.lower() in _KIND_FAMILIES:
            family = word.lower()
            raise self.error(
                f"'{shown}' is a family of kinds, not a kind: write {family} alone, "
                f'or kind matches "^{_KIND_FAMILIES[family]}"',
                tok,
            )
        if name == "queue":
            example = vocab.guess(word)
            hint = f" (did you mean '{example}'?)" if example else ""
            raise self.error(
                f"'{shown}' is not a queue: write sqN or cqN (sq0, cq1, sq1:4 for queue:cid)"
                + hint,
                tok,
            )
        guess = vocab.guess(word)
        if guess is not None:
            hint = f" (did you mean '{guess}'?)"
        elif len(vocab.names) <= 6 and not vocab.patterns:
            shown_names = sorted(vocab.names) + sorted(s.upper() for s in vocab.synonyms)
            hint = " (one of: " + ", ".join(shown_names) + ")"
        else:
            hint = ""
        raise self.error(f"unknown {vocab.what} '{shown}'{hint}", tok)

    def check_number(self, name: str, tok: Token) -> None:
        if name == "queue" and tok.type == "num":
            raise self.error(
                'queue is a name like "sq1" or "cq1"; for a number use sqid or cqid', tok
            )

    def parse_test(self) -> Predicate:
        tok = self.advance()
        name = tok.value
        if name not in FIELDS and (name in _KINDS or name in _KIND_FAMILIES):
            if self.tok.type == "op" and self.tok.value in _CMP_OPS | {"in", "contains", "matches"}:
                raise self.error(f"'{name}' is an event kind, not a field", tok)
            if name in _KINDS:
                return _kinds_test(frozenset((name,)))
            prefix = _KIND_FAMILIES[name]
            return _kinds_test(frozenset(k for k in _KINDS if k.startswith(prefix)))
        get = self.field(tok)
        nxt = self.tok
        if nxt.type != "op" or nxt.value not in _CMP_OPS | {"in", "contains", "matches"}:
            return lambda ev: _truthy(get(ev))
        op = self.advance()
        vocab = VOCABULARIES.get(name)
        if op.value in _CMP_OPS:
            vtok = self.tok
            const = vtok.type in ("num", "str", "bytes") or (
                vtok.type == "ident" and vtok.value not in FIELDS
            )
            rhs = self.parse_value(op)
            rel = op.value
            if not const:
                return lambda ev: _relate(rel, get(ev), rhs(ev))
            value = rhs(None)  # type: ignore[arg-type]
            if vocab is not None:
                self.check_number(name, vtok)
                if isinstance(value, str):
                    canon = self.known_name(name, vocab, vtok)
                    if rel in ("==", "!="):
                        accepted = vocab.accepted(canon)
                        if name == "kind":
                            if rel == "==":
                                return _kinds_test(frozenset(accepted) & _KINDS)
                            return _kinds_test(_KINDS - frozenset(accepted))
                        return _name_test(get, accepted, rel == "==")
                    if name == "queue":
                        raise self.error(f"queue compares with == and != only, not {op.text}", op)
                    value = canon
            return _compare(name, get, rel, value)
        if op.value == "contains":
            vtok = self.tok
            rhs = self.parse_value(op)
            if vocab is not None and vtok.type == "str":
                needle = vtok.value.lower()
                return lambda ev: _contains(get(ev), needle)
            return lambda ev: _contains(get(ev), rhs(ev))
        if op.value == "matches":
            pat_tok = self.tok
            if pat_tok.type != "str":
                raise self.error(f"expected a regular expression in quotes after '{op.text}'")
            self.advance()
            pattern = compile_regex(pat_tok.value, lambda why: self.error(why, pat_tok))

            def match(ev: Event) -> bool:
                value = get(ev)
                if isinstance(value, QueueNames):
                    return any(pattern.search(name) for name in value)
                text = _text_of(value)
                return text is not None and pattern.search(text) is not None

            return match
        return self.parse_set(op, name, get)

    def parse_value(self, after: Token) -> Getter:
        tok = self.tok
        if tok.type in ("num", "str", "bytes"):
            self.advance()
            value = tok.value
            return lambda ev: value
        if tok.type == "ident":
            self.advance()
            if tok.value in FIELDS:
                return field_getter(tok.value)
            word = tok.value
            return lambda ev: word
        raise self.error(f"expected a value after '{after.text}'")

    def parse_set(self, op: Token, name: str, get: Getter) -> Predicate:
        if not self.is_op(*_SET_BRACKETS):
            raise self.error(f"expected '{{', '(' or '[' to open the set after '{op.text}'")
        close = _SET_BRACKETS[self.advance().value]
        vocab = VOCABULARIES.get(name)
        values: list[Any] = []
        ranges: list[tuple[Any, Any]] = []
        names: set[str] = set()
        while True:
            tok = self.tok
            if tok.type in ("ident", "str") and vocab is not None:
                self.advance()
                if self.is_op(".."):
                    raise self.error("a range is two numbers: lo..hi", self.tok)
                names.update(vocab.accepted(self.known_name(name, vocab, tok)))
            elif tok.type == "ident":
                self.advance()
                values.append(tok.value)
            elif tok.type in ("num", "str", "bytes"):
                self.advance()
                if vocab is not None:
                    self.check_number(name, tok)
                if self.is_op(".."):
                    dots = self.advance()
                    hi = self.tok
                    if tok.type != "num" or hi.type != "num":
                        raise self.error("a range is two numbers: lo..hi", dots)
                    self.advance()
                    ranges.append((tok.value, hi.value))
                else:
                    values.append(tok.value)
            else:
                raise self.error(f"expected a value in the set, found {_describe(tok)}")
            if self.is_op(","):
                self.advance()
                continue
            if self.is_op(close):
                self.advance()
                break
            raise self.error(f"expected ',' or '{close}' in the set, found {_describe(self.tok)}")
        vals = tuple(values)
        rngs = tuple(ranges)
        accepted = frozenset(names)
        by_name = _name_test(get, accepted, True)

        def member(ev: Event) -> bool:
            a = get(ev)
            if a is MISSING:
                return False
            if accepted and by_name(ev):
                return True
            if any(_relate("==", a, v) for v in vals):
                return True
            return any(_relate(">=", a, lo) and _relate("<=", a, hi) for lo, hi in rngs)

        if name == "kind" and not vals and not rngs:
            return _kinds_test(accepted & _KINDS)  # kind in {a, b}: names only
        return member


# -- what the parser builds: a filter runs once per event over millions of them, so its
# parts avoid generators and the general comparison where the answer is known simpler
def _joined(preds: tuple[Predicate, ...], conjunction: bool) -> Predicate:
    """``and`` (``conjunction``) or ``or`` of ``preds``, stopping at the first answer
    that decides it."""
    if len(preds) == 2:
        a, b = preds
        return (lambda ev: a(ev) and b(ev)) if conjunction else (lambda ev: a(ev) or b(ev))
    decisive = not conjunction  # False decides an `and`, True an `or`

    def joined(ev: Event) -> bool:
        for p in preds:
            if bool(p(ev)) is decisive:
                return decisive
        return conjunction

    return joined


def _compare(name: str, get: Getter, rel: str, value: Any) -> Predicate:
    """``field REL constant``: ``_relate`` itself, with its first case (two ints or two
    strings) taken at once, and a plain field read without the getter's call."""
    if type(value) not in _FAST_TYPES or value is MISSING:
        return lambda ev: _relate(rel, get(ev), value)
    op, kind = _RELATIONS[rel], type(value)
    if name in ALIASES or name not in FIELDS:

        def via_getter(ev: Event) -> bool:
            a = get(ev)
            return op(a, value) if type(a) is kind else _relate(rel, a, value)

        return via_getter

    def plain(ev: Event) -> bool:
        a = getattr(ev, name, None)
        if type(a) is kind:
            return op(a, value)
        return False if a is None else _relate(rel, a, value)

    return plain


def all_of(*preds: Predicate) -> Predicate:
    """True where every one of ``preds`` is (compiled filters, or any tests), keeping what
    their kind screens say: a breakpoint within a filter scans only its candidates."""
    return preds[0] if len(preds) == 1 else _screened(_joined(preds, True), _all_screen(preds))


def any_of(*preds: Predicate) -> Predicate:
    """True where one of ``preds`` is (the enabled breakpoints, say), screened likewise."""
    return preds[0] if len(preds) == 1 else _screened(_joined(preds, False), _any_screen(preds))


def compile_filter(text: str) -> Predicate:
    """Compile a filter expression into ``event -> bool``; raises FilterError if it is wrong."""
    if not isinstance(text, str):
        raise FilterError("a filter expression is text", 1, str(text))
    return _Parser(text).parse()


def filter_events(events: Iterable[Event], expr: str | Predicate) -> Iterator[Event]:
    """The events that match ``expr`` (an expression or a compiled filter), lazily."""
    pred = compile_filter(expr) if isinstance(expr, str) else expr
    for event in events:
        if pred(event):
            yield event


def filter_indexes(events: Iterable[Event], expr: str | Predicate) -> Iterator[int]:
    """Positions (0-based) in ``events`` of the events that match ``expr``, lazily."""
    pred = compile_filter(expr) if isinstance(expr, str) else expr
    for index, event in enumerate(events):
        if pred(event):
            yield index
