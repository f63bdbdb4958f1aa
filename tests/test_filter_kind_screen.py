"""A compiled filter says which event kinds it can match (``kind_screen``), and the TUI's
filter uses the analysis's index of every event's kind to decode only what it must: a
filter of kinds alone decodes nothing. What it finds must be what testing every event
finds, for any expression."""

from __future__ import annotations

from array import array
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvmescope.trace import open_recording
from nvmescope.trace.filter import compile_filter, kind_screen
from nvmescope.ui.source import Analysis, matching

ROOT = Path(__file__).resolve().parent.parent
RECORDING = ROOT / "recordings" / "io.nvmetrace"

with open_recording(RECORDING) as _rec:
    EVENTS = list(_rec.events())
KINDS_SEEN = sorted({e.kind for e in EVENTS})

# expressions built from kind tests and tests of other fields, with and/or/not
kind_test = st.one_of(
    st.sampled_from(KINDS_SEEN),
    st.sampled_from(KINDS_SEEN).map(lambda k: f'kind == "{k}"'),
    st.sampled_from(KINDS_SEEN).map(lambda k: f'kind != "{k}"'),
    st.lists(st.sampled_from(KINDS_SEEN), min_size=1, max_size=3).map(
        lambda ks: "kind in {" + ", ".join(ks) + "}"
    ),
    st.sampled_from(["err", "ub"]),
)
other_test = st.sampled_from(["sqid == 1", "sqid == 0", "cid == 3", "status != 0", "nsid == 1"])
expressions = st.recursive(
    st.one_of(kind_test, other_test),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda ab: f"({ab[0]} and {ab[1]})"),
        st.tuples(inner, inner).map(lambda ab: f"({ab[0]} or {ab[1]})"),
        inner.map(lambda a: f"not ({a})"),
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(expressions)
def test_a_filter_never_matches_a_kind_outside_its_screen_and_exact_means_exact(expr):
    pred = compile_filter(expr)
    screen = kind_screen(pred)
    if screen is None:
        return
    for event in EVENTS:
        hit = pred(event)
        if hit:
            assert event.kind in screen.kinds, (expr, event.kind)
        if screen.exact:
            assert hit == (event.kind in screen.kinds), (expr, event.kind)


class _Counting:
    """A recording that counts the events decoded through it."""

    def __init__(self, rec) -> None:
        self.rec = rec
        self.decoded = 0

    def __len__(self) -> int:
        return len(self.rec)

    def event_runs(self, start=0, stop=None):
        for first, events in self.rec.event_runs(start, stop):
            self.decoded += len(events)
            yield first, events


def _index() -> bytearray:
    analysis = Analysis()
    analysis.feed(EVENTS)
    assert len(analysis.kinds) == len(EVENTS)
    return analysis.kinds


@settings(max_examples=150, deadline=None)
@given(expressions, st.integers(0, len(EVENTS)), st.integers(0, len(EVENTS)))
def test_the_index_of_kinds_finds_exactly_what_testing_every_event_finds(expr, a, b):
    start, stop = min(a, b), max(a, b)
    pred = compile_filter(expr)
    with open_recording(RECORDING) as rec:
        plain = matching(rec, pred, start, stop)
        indexed = matching(rec, pred, start, stop, kinds=_index())
    assert indexed == plain
    assert plain == array("L", (n for n in range(start, stop) if pred(EVENTS[n])))


@pytest.mark.parametrize("expr", ["doorbell_sq", "kind in {cqe_post, irq_msix}", "not mmio_read"])
def test_a_filter_of_kinds_alone_decodes_no_event(expr):
    with open_recording(RECORDING) as rec:
        counting = _Counting(rec)
        rows = matching(counting, compile_filter(expr), kinds=_index())  # type: ignore[arg-type]
        assert counting.decoded == 0
        assert list(rows) == [n for n, e in enumerate(EVENTS) if compile_filter(expr)(e)]
        assert rows, expr


def test_without_a_whole_index_every_event_is_tested():
    # a live session's index may lag the events: then the filter reads them all
    pred = compile_filter("doorbell_sq")
    with open_recording(RECORDING) as rec:
        counting = _Counting(rec)
        rows = matching(counting, pred, kinds=_index()[:10])  # type: ignore[arg-type]
        assert counting.decoded == len(EVENTS)
        assert list(rows) == [n for n, e in enumerate(EVENTS) if pred(e)]


@settings(max_examples=150, deadline=None)
@given(expressions, expressions, st.integers(0, len(EVENTS) - 1), st.booleans())
def test_a_scan_with_the_index_finds_the_event_a_scan_of_every_event_finds(a, b, start, forward):
    # breakpoints combine with any_of, a breakpoint within a filter with all_of
    from nvmescope.trace.filter import all_of, any_of
    from nvmescope.ui.source import scan

    index = _index()
    with open_recording(RECORDING) as rec:
        for pred in (compile_filter(a), any_of(compile_filter(a), compile_filter(b)),
                     all_of(compile_filter(a), compile_filter(b))):  # fmt: skip
            assert scan(rec, pred, start, forward, kinds=index) == scan(rec, pred, start, forward)


def test_a_breakpoint_on_a_kind_is_found_without_decoding_the_events_between():
    from nvmescope.ui.source import scan

    pred = compile_filter("irq_msix")
    last = max(n for n, e in enumerate(EVENTS) if e.kind == "irq_msix")
    with open_recording(RECORDING) as rec:
        counting = _Counting(rec)
        counting.event = lambda n: (_ for _ in ()).throw(AssertionError("decoded"))  # type: ignore[attr-defined]
        assert scan(counting, pred, len(EVENTS) - 1, False, kinds=_index()) == last  # type: ignore[arg-type]
        assert counting.decoded == 0


@pytest.mark.parametrize("forward", [True, False])
def test_a_scan_over_dense_candidates_tests_each_one(forward):
    # most kinds are candidates and most of them fail the field test: every one is tested
    from nvmescope.ui.source import scan

    pred = compile_filter("not mmio_read and sqid == 1")
    index = _index()
    with open_recording(RECORDING) as rec:
        for start in range(len(EVENTS)):
            assert scan(rec, pred, start, forward, kinds=index) == scan(rec, pred, start, forward)
