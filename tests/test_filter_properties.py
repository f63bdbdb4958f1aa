"""Properties: random text raises only FilterError; well-formed expressions always evaluate."""

from __future__ import annotations

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvmescope import events as ev
from nvmescope.nvme.commands import pack_sqe
from nvmescope.trace.filter import FIELDS, FilterError, compile_filter


def sample(cls: type) -> ev.Event:
    fields = {}
    for name, ftype in zip(cls.__struct_fields__, msgspec.structs.fields(cls), strict=True):
        if ftype.required:
            fields[name] = {int: 7, str: "x", bytes: b"\x01\x02", bool: True}.get(ftype.type, [])
    return cls(**fields)


#: one event of every kind, plus a few with the optional fields filled in
EVENTS: list[ev.Event] = [sample(cls) for cls in ev.EVENT_TYPES.values()] + [
    ev.SqeFetch(sqid=0, cid=3, slot=1, addr=0x10040, data=pack_sqe(6, 3), new_head=2),
    ev.SqeFetch(sqid=1, cid=3, slot=1, addr=0x10040, data=b"", new_head=2),
    ev.MapPrp(prp1=1, prp2=2, length=3, list_pages=[4, 5], segments=[(1, 2), (3, 4)]),
    ev.CmdFinish(sqid=1, cid=2, opcode=1, opname="write", status=0x4002, dnr=True),
    ev.MmioWrite(addr=0x14, size=4, value=1, reg="cc"),
    ev.MmioWrite(addr=0x2000, size=4, value=1),
]

FIELD_NAMES = sorted(FIELDS)
TEXT_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))

literal = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.integers(min_value=0, max_value=2**64).map(hex),
    st.integers(min_value=0, max_value=2**16).map(bin),
    st.sampled_from(["true", "false", "read", "cqe_post", "host"]),
    st.text(alphabet=TEXT_ALPHABET, max_size=8).map(
        lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    ),
    st.binary(min_size=2, max_size=6).map(lambda b: b.hex(":")),
    st.sampled_from(FIELD_NAMES),
)
regex = st.sampled_from(['"^err_"', '"."', '"q"', '"(a|b)*c"', '"read$"', '""'])
field = st.sampled_from(FIELD_NAMES)
cmp = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "eq", "ne", "lt", "le", "gt", "ge"])


def _set(items: list[str]) -> str:
    return "{" + ", ".join(items) + "}"


test_expr = st.one_of(
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
     "=", "&", " ", "\\", "'", "0b", "1_", "#", "read", "true", '"a\nb"', "\t", "\n"]
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
