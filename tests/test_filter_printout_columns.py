"""The trace printout's column headers (who, queue, time) work as filter fields."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nvmescope import events as ev
from nvmescope.trace.filter import FIELDS, FilterError, compile_filter, filter_indexes

EVENTS: list[ev.Event] = [
    ev.MmioWrite(addr=0x14, size=4, value=1, reg="cc", old=0, new=1),  # 0 host
    ev.DoorbellSq(sqid=1, addr=0x1008, old_tail=0, new_tail=1),  # 1 host sq1
    ev.CmdStart(sqid=1, cid=4, opcode=0x02, opname="read", nsid=1, admin=False),  # 2 sq1:4
    ev.CqePost(sqid=1, cid=4, cqid=1, slot=0, addr=0x40000, phase=1, status=0),  # 3 sq1:4 cq1
    ev.CqePost(sqid=1, cid=5, cqid=2, slot=0, addr=0x40000, phase=1, status=0),  # 4 sq1:5 cq2
    ev.DoorbellCq(cqid=1, addr=0x100C, old_head=0, new_head=1),  # 5 host cq1
    ev.CmdStart(sqid=0, cid=3, opcode=0x05, opname="create_io_cq", admin=True),  # 6 sq0:3
    ev.QueueCreated(sqid=0, cid=3, qtype="cq", qid=1, addr=0x8000, qsize=64),  # 7 sq0:3, cq1
    ev.QueueCreated(sqid=0, cid=6, qtype="sq", qid=1, addr=0x9000, qsize=64, cqid=1),  # 8 sq0, sq1
    ev.IrqMsix(vector=1),  # 9 no queue
]
for _i, _e in enumerate(EVENTS):
    _e.seq = _i
    _e.ts = 1_037_000 + _i * 150  # 1037.000 us, 1037.150 us, ...


def select(expr: str) -> list[int]:
    return list(filter_indexes(EVENTS, expr))


HOST = [0, 1, 5]
DEVICE = [2, 3, 4, 6, 7, 8, 9]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('who == "H"', HOST),
        ('who == "D"', DEVICE),
        ("who == h", HOST),
        ('who == "host"', HOST),
        ('who == "Device"', DEVICE),
        ('who != "H"', DEVICE),
        ('who in ("H")', HOST),
        ('actor == "D"', DEVICE),
        ('actor == "HOST"', HOST),
        ("who == actor", list(range(10))),
        ('queue == "sq0"', [6, 7, 8]),
        ('queue == "sq1"', [1, 2, 3, 4, 8]),
        ('queue == "SQ1"', [1, 2, 3, 4, 8]),
        ('queue == "sq01"', [1, 2, 3, 4, 8]),
        ('queue == "cq1"', [3, 5, 7]),
        ('queue == "cq2"', [4]),
        ('queue == "sq1:4"', [2, 3]),
        ('queue == "sq0:3"', [6, 7]),
        ('queue == "cq1:4"', [3]),
        ('queue != "sq1"', [5, 6, 7]),
        ('queue in {"sq0", "cq2"}', [4, 6, 7, 8]),
        ('queue matches "^cq"', [3, 4, 5, 7]),
        ('queue contains "CQ"', [3, 4, 5, 7]),
        ("queue", [1, 2, 3, 4, 5, 6, 7, 8]),
        ("not queue", [0, 9]),
        ("time == 1037", [0]),
        ("time == 1037.150", [1]),
        ("time == 1037.15", [1]),
        ("time_us == 1037.3", [2]),
        ("time > 1037.5", [4, 5, 6, 7, 8, 9]),
        ("time >= 1037.45 and time < 1037.75", [3, 4]),
        ("time in {1037.1..1037.3, 1038.35}", [1, 2, 9]),
        ("time > 1_037.5 and time < 1038", [4, 5, 6]),
        ("ts == 1037150", [1]),
        ("ts > 1037.5", list(range(10))),
        ("time == ts", []),
    ],
)
def test_printout_column_selects(expr, expected):
    assert select(expr) == expected


def test_the_column_names_are_fields_with_help():
    for name in ("who", "queue", "time", "time_us", "ts", "actor", "sqid"):
        assert name in FIELDS
        assert FIELDS[name], name


@given(st.integers(0, 10**12), st.integers(0, 10**12), st.sampled_from(["==", "!=", "<", ">="]))
def test_time_in_microseconds_is_exactly_ts_in_nanoseconds(ts, k, op):
    """`time OP k/1000` (three decimals, as printed) selects what `ts OP k` selects."""
    event = ev.IrqMsix(vector=0, ts=ts)
    micro = f"{k // 1000}.{k % 1000:03d}"
    assert compile_filter(f"time {op} {micro}")(event) is compile_filter(f"ts {op} {k}")(event)


@pytest.mark.parametrize(
    ("expr", "column", "words"),
    [
        ('who == "X"', 8, "unknown actor 'X' (one of: device, host, D, H)"),
        ('who == "hots"', 8, "did you mean 'host'?"),
        ('queue == "sq"', 10, "'sq' is not a queue: write sqN or cqN"),
        ('queue == "q1"', 10, "did you mean 'sq1'?"),
        ('queue == "completion1"', 10, "did you mean 'cq1'?"),
        ("queue == 1", 10, "for a number use sqid or cqid"),
        ("queue in {sq1, 2}", 16, "for a number use sqid or cqid"),
        ('queue > "sq1"', 7, "queue compares with == and != only"),
        ("time > 1037.150us", 8, "without the unit"),
        ("ts > 5ns", 6, "without the unit"),
        ("time == 1.2.3", 9, "'1.2.3' is not a number"),
        ("time == 1.5x", 9, "'1.5x' is not a number"),
    ],
)
def test_printout_column_errors(expr, column, words):
    with pytest.raises(FilterError) as info:
        compile_filter(expr)
    assert info.value.column == column
    assert words in str(info.value)
