"""The compiled filter's fast paths (and/or without generators, a comparison with a
constant that reads a plain field directly) answer what the general comparison answers,
for every event and any expression."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvmescope.trace import filter as flt
from nvmescope.trace import open_recording

ROOT = Path(__file__).resolve().parent.parent
EVENTS = []
for name in ("io", "errors"):
    with open_recording(ROOT / "recordings" / f"{name}.nvmetrace") as _rec:
        EVENTS += list(_rec.events())

NUMERIC = ["sqid", "cid", "nsid", "status", "opcode", "size", "slot", "addr", "value", "sc", "dnr"]
TEXT = [("who", ["H", "D"]), ("reg", ["CC", "CSTS", "AQA"]), ("opname", ["Identify", "Read"])]
OPS = ["==", "!=", "<", "<=", ">", ">="]

numeric = st.tuples(st.sampled_from(NUMERIC), st.sampled_from(OPS), st.integers(-1, 40)).map(
    lambda t: f"{t[0]} {t[1]} {t[2]}"
)
text = st.tuples(st.sampled_from(TEXT), st.sampled_from(["==", "!="])).flatmap(
    lambda t: st.sampled_from(t[0][1]).map(lambda v: f'{t[0][0]} {t[1]} "{v}"')
)
expressions = st.recursive(
    st.one_of(numeric, text, st.sampled_from(["doorbell_sq", "cqe_post", "mmio_write"])),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=4).map(lambda xs: "(" + " and ".join(xs) + ")"),
        st.lists(inner, min_size=2, max_size=4).map(lambda xs: "(" + " or ".join(xs) + ")"),
        inner.map(lambda a: f"not {a}"),
    ),
    max_leaves=6,
)


def _general(expr: str) -> flt.Predicate:
    """``expr`` compiled with the general forms only (what the fast paths replace)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(
            flt,
            "_joined",
            lambda preds, conjunction: (
                (lambda ev: all(p(ev) for p in preds))
                if conjunction
                else (lambda ev: any(p(ev) for p in preds))
            ),
        )
        m.setattr(
            flt,
            "_compare",
            lambda name, get, rel, value: lambda ev: flt._relate(rel, get(ev), value),
        )
        return flt.compile_filter(expr)


@settings(max_examples=200, deadline=None)
@given(expr=expressions)
def test_the_fast_paths_answer_what_the_general_comparison_answers(expr: str) -> None:
    fast = flt.compile_filter(expr)
    general = _general(expr)
    for event in EVENTS:
        assert fast(event) == general(event), (expr, event)


def test_a_comparison_with_a_constant_reads_a_plain_field_without_its_getter() -> None:
    # the fast path is taken: a plain field, an int constant
    pred = flt.compile_filter("sqid == 1")
    assert pred.__name__ == "plain"
    assert flt.compile_filter('who == "H"').__name__ != "plain"  # an alias: its getter
