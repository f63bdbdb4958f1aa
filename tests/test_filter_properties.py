"""Properties: random text raises only FilterError; well-formed expressions always evaluate."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import sample_event

from nvmescope import events as ev
from nvmescope.nvme.commands import pack_sqe
from nvmescope.nvme.opcodes import ADMIN_OPCODES, NVM_OPCODES
from nvmescope.nvme.registers import REGISTERS
from nvmescope.nvme.status import STATUS
from nvmescope.trace.filter import FIELDS, VOCABULARIES, FilterError, compile_filter

#: one event of every kind, plus a few with the optional fields filled in
EVENTS: list[ev.Event] = [sample_event(cls) for cls in ev.EVENT_TYPES.values()] + [
    ev.SqeFetch(sqid=0, cid=3, slot=1, addr=0x10040, data=pack_sqe(6, 3), new_head=2),
    ev.SqeFetch(sqid=1, cid=3, slot=1, addr=0x10040, data=b"", new_head=2),
    ev.MapPrp(prp1=1, prp2=2, length=3, list_pages=[4, 5], segments=[(1, 2), (3, 4)]),
    ev.CmdFinish(sqid=1, cid=2, opcode=1, opname="write", status=0x4002, dnr=True),
    ev.MmioWrite(addr=0x14, size=4, value=1, reg="cc"),
    ev.MmioWrite(addr=0x2000, size=4, value=1),
]

FIELD_NAMES = sorted(FIELDS)
#: fields whose values are any value; the others take names from a known list
PLAIN_FIELDS = [name for name in FIELD_NAMES if name not in VOCABULARIES]
VOCAB_FIELDS = sorted(VOCABULARIES)
KNOWN_NAMES: dict[str, list[str]] = {
    "kind": sorted(ev.EVENT_TYPES),
    "reg": [r.name for r in REGISTERS] + ["asq.lo", "sq1tdbl", "cq0hdbl", "msix[1].ctrl", "bar0"],
    "opcode": sorted(n.name for n in [*ADMIN_OPCODES.values(), *NVM_OPCODES.values()]),
    "status": sorted(st.name for st in STATUS.values()) + ["sct7_sc80"],
    "actor": ["host", "device", "H", "D"],
    "queue": ["sq0", "cq1", "sq1:4", "cq02"],
}
KNOWN_NAMES["opname"] = KNOWN_NAMES["opcode"]
KNOWN_NAMES["status_name"] = KNOWN_NAMES["status"]
KNOWN_NAMES["who"] = KNOWN_NAMES["actor"]
TEXT_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))

literal = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.integers(min_value=0, max_value=2**64).map(hex),
    st.integers(min_value=0, max_value=2**16).map(bin),
    st.builds(lambda a, b: f"{a}.{b:03d}", st.integers(-(10**9), 10**9), st.integers(0, 999)),
    st.sampled_from(["true", "false", "read", "cqe_post", "host"]),
    st.text(alphabet=TEXT_ALPHABET, max_size=8).map(
        lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    ),
    st.binary(min_size=2, max_size=6).map(lambda b: b.hex(":")),
    st.sampled_from(FIELD_NAMES),
)


def _any_case(upper: list[bool], word: str) -> str:
    return "".join(c.upper() if i < len(upper) and upper[i] else c for i, c in enumerate(word))


@st.composite
def known_name(draw: st.DrawFn, field_name: str) -> str:
    """A known value of ``field_name``, in any case, double-quoted, single-quoted or bare."""
    word = draw(st.sampled_from(KNOWN_NAMES[field_name]))
    word = _any_case(draw(st.lists(st.booleans(), max_size=len(word))), word)
    quote = draw(st.sampled_from(['"', "'", ""]))
    if not quote and (not word.isidentifier() or word.lower() in BARE_WORDS_TAKEN):
        quote = '"'
    return f"{quote}{word}{quote}"


#: words that are not read as a bare string on the right-hand side
BARE_WORDS_TAKEN = set(FIELDS) | {"true", "false", "and", "or", "not", "in", "contains",
                                  "matches", "eq", "ne", "lt", "le", "gt", "ge"}  # fmt: skip


def vocab_value(field_name: str, in_set: bool = False) -> st.SearchStrategy[str]:
    """A value for a known-names field: a name, a number, or (outside sets) another field."""
    names = known_name(field_name)
    if field_name == "queue":  # queue takes names only
        return names
    if in_set:  # a bare word in a set is a value, never a field
        return st.one_of(names, st.integers(0, 2**16).map(str))
    return st.one_of(names, st.integers(0, 2**16).map(str), st.sampled_from(FIELD_NAMES))


vocab_test = st.sampled_from(VOCAB_FIELDS).flatmap(
    lambda f: st.one_of(
        st.builds(
            lambda o, v: f"{f} {o} {v}", st.sampled_from(["==", "!=", "eq", "ne"]), vocab_value(f)
        ),
        st.builds(lambda v: f"{f} contains {v}", vocab_value(f)),
        st.builds(
            lambda vs, br: f"{f} in {br[0]}{', '.join(vs)}{br[1]}",
            st.lists(vocab_value(f, in_set=True), min_size=1, max_size=4),
            st.sampled_from(["{}", "()", "[]"]),
        ),
    )
)
regex = st.sampled_from(['"^err_"', '"."', '"q"', '"(a|b)*c"', '"read$"', '""'])
field = st.sampled_from(PLAIN_FIELDS)
cmp = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "eq", "ne", "lt", "le", "gt", "ge"])


def _set(items: list[str]) -> str:
    return "{" + ", ".join(items) + "}"


test_expr = st.one_of(
    vocab_test,
    st.builds(
        lambda f, o, r: f"{f} {o} {r}",
        st.sampled_from(VOCAB_FIELDS),
        st.sampled_from(["matches", "~"]),
        regex,
    ),
    st.builds(lambda f, o, v: f"{f} {o} {v}", field, cmp, literal),
    st.builds(lambda f, v: f"{f} contains {v}", field, literal),
    st.builds(lambda f, op, r: f"{f} {op} {r}", field, st.sampled_from(["matches", "~"]), regex),
    st.builds(lambda f, vs: f"{f} in {_set(vs)}", field, st.lists(literal, min_size=1, max_size=4)),
    st.builds(
        lambda f, lo, hi: f"{f} in {{{lo}..{hi}}}",
        field,
        st.integers(-5, 100),
        st.integers(-5, 2**40),
    ),
    field,
    st.sampled_from(VOCAB_FIELDS),
    st.sampled_from(sorted(ev.EVENT_TYPES) + ["err", "ub"]),
)

expression = st.recursive(
    test_expr,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} and {b}", inner, inner),
        st.builds(lambda a, b: f"{a} || {b}", inner, inner),
        st.builds(lambda a: f"not {a}", inner),
        st.builds(lambda a: f"!({a})", inner),
        st.builds(lambda a: f"({a})", inner),
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expression)
def test_well_formed_expressions_compile_and_evaluate_on_every_kind(expr):
    pred = compile_filter(expr)
    for event in EVENTS:
        assert pred(event) in (True, False)


@settings(max_examples=400, deadline=None)
@given(expression)
def test_not_is_the_complement(expr):
    pred = compile_filter(expr)
    neg = compile_filter(f"not ({expr})")
    for event in EVENTS:
        assert neg(event) is (not pred(event))


TOKENS = st.sampled_from(
    ["kind", "cid", "status", "data", "==", "!=", "<", ">=", "and", "or", "not", "(", ")", "{", "}", ",",
     "..", "in", "contains", "matches", "~", '"x"', '"', "0x1f", "12", "68:65", "-", "!", "&&", "||",
     "=", "&", " ", "\\", "'", "0b", "1_", "#", "read", "true", '"a\nb"', "\t", "\n",
     "who", "queue", "time", "reg", "opcode", "[", "]", "1.5", "2.", "'sq1'", '"CC"', "us", "H"]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=TEXT_ALPHABET, max_size=40), st.lists(TOKENS, max_size=14).map(" ".join)
    )
)
def test_random_text_raises_nothing_but_filter_error(text):
    try:
        pred = compile_filter(text)
    except FilterError as err:
        assert 1 <= err.column <= len(text) + 1
        assert "\n" not in str(err)
        return
    for event in EVENTS:
        assert pred(event) in (True, False)
