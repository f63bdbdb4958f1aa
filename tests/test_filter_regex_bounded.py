"""`matches` uses RE2: patterns that backtrack for ever in Python's `re` finish in linear
time, and patterns RE2 cannot run (backreferences, lookaround) are refused at compile time."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from nvmescope.trace.filter import FilterError, compile_filter

PATHOLOGICAL = [
    ("text", r"^(\\w+\\s?)*$"),
    ("data", r"(\\x00+)+\\x01"),
    ("text", r"^(a|aa)+$"),
]


@pytest.mark.parametrize(("field", "pattern"), PATHOLOGICAL)
def test_a_catastrophic_backtracking_pattern_finishes_within_a_bound(
    field: str, pattern: str
) -> None:
    script = textwrap.dedent(
        f"""
        from nvmescope.events import HostStep, MemRead
        from nvmescope.trace.filter import compile_filter
        f = compile_filter({field!r} + ' matches "' + {pattern!r} + '"')
        events = [
            HostStep(step="s", text="a" * 60 + "!"),
            HostStep(step="s", text="word " * 40 + "!"),
            MemRead(addr=0, data=bytes(100_000)),
        ]
        print(any(f(ev) for ev in events))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_bytes_matching_still_works_on_data() -> None:
    from nvmescope.events import MemRead

    f = compile_filter(r'data matches "\\x00\\xffNVM"')
    assert f(MemRead(addr=0, data=b"\x00\xffNVMe"))
    assert not f(MemRead(addr=0, data=b"\x00\xfeNVMe"))


@pytest.mark.parametrize("pattern", [r"(a)\\1", "a(?=b)", "(?<!a)b"])
def test_backreferences_and_lookaround_are_refused_at_compile_time(pattern: str) -> None:
    with pytest.raises(FilterError, match="bad regular expression.*not supported"):
        compile_filter(f'text matches "{pattern}"')
