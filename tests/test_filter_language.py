"""Filter expressions select the events Wireshark-style expressions say they select."""

from __future__ import annotations

import pytest

from nvmescope import events as ev
from nvmescope.nvme.commands import make_status, pack_sqe
from nvmescope.trace.filter import (
    FIELDS,
    FilterError,
    compile_filter,
    filter_events,
    filter_indexes,
)

EVENTS: list[ev.Event] = [
    ev.MmioWrite(addr=0x14, size=4, value=0x460001, reg="cc", old=0, new=0x460001),  # 0
    ev.DoorbellSq(sqid=1, addr=0x1008, old_tail=0, new_tail=1),  # 1
    ev.SqeFetch(
        sqid=1, cid=4, slot=0, addr=0x30000, data=pack_sqe(0x02, 4, nsid=1), new_head=1
    ),  # 2
    ev.CmdStart(sqid=1, cid=4, opcode=0x02, opname="read", nsid=1, admin=False),  # 3
    ev.DmaWrite(sqid=1, cid=4, addr=0x200000, length=5, data=b"hello", purpose="data"),  # 4
    ev.CmdFinish(sqid=1, cid=4, opcode=0x02, opname="read", status=0),  # 5
    ev.CqePost(sqid=1, cid=4, cqid=1, slot=0, addr=0x40000, phase=1, status=0),  # 6
    ev.CqePost(
        sqid=1, cid=5, cqid=1, slot=1, addr=0x40010, phase=1, status=make_status(0, 2, dnr=True)
    ),  # 7
    ev.DoorbellCq(cqid=1, addr=0x100C, old_head=0, new_head=2),  # 8
    ev.condition("err_invalid_field", sqid=0, cid=9, detail="cdw10", status=make_status(0, 2)),  # 9
    ev.condition("ub_mmio_ro", detail="CAP"),  # 10
    ev.IrqMsix(vector=1, address=0xFEE00000, data=0x21),  # 11
    ev.MapPrp(
        sqid=1,
        cid=4,
        prp1=0x5000,
        prp2=0x9000,
        length=12288,
        list_pages=[0x9000],
        segments=[(0x5000, 12288)],
    ),  # 12
    ev.CmdStart(sqid=0, cid=9, opcode=0x02, opname="get_log_page", nsid=0, admin=True),  # 13
]
for _i, _e in enumerate(EVENTS):
    _e.seq = _i
    _e.ts = _i * 100


def select(expr: str) -> list[int]:
    return list(filter_indexes(EVENTS, expr))


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('kind == "cqe_post" and status != 0', [7]),
        ('sqid == 1 and opcode == "read"', [2, 3, 5]),
        ("addr >= 0x100000", [4]),
        ("address >= 0x100000", [11]),
        ('kind in {"doorbell_sq", "doorbell_cq"}', [1, 8]),
        ('kind matches "^err_"', [9]),
        ('kind ~ "^(err|ub)_"', [9, 10]),
        ('not (actor == "host")', [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13]),
        ("cid == 4 or cid == 5", [2, 3, 4, 5, 6, 7, 12]),
        ("status", [7, 9]),
        ('data contains "hello"', [4]),
        ("data contains 68:65", [4]),
        ("data contains 6c:6c:6f", [4]),
        ("value == 0b10001100000000000000001", [0]),
        ("addr == 4104", [1]),
        ("opcode == 2", [2, 3, 5, 13]),
        ('opcode == "get_log_page"', [13]),
        ('status == "invalid_field"', [7, 9]),
        ("sc == 2 and sct == 0", [7, 9]),
        ("dnr", [7]),
        ("dnr == true", [7]),
        ('reg == "cc"', [0]),
        ('reg == "sq1tdbl" or reg == "cq1hdbl"', [1, 8]),
        ("cqe_post", [6, 7]),
        ("err or ub", [9, 10]),
        ("seq in {2..4, 11}", [2, 3, 4, 11]),
        ("new_head > old_head", [8]),
        ("new_tail != old_tail", [1]),
        ("list_pages contains 0x9000", [12]),
        ("segments contains 0x5000", [12]),
        ("kind == cqe_post && cid == 5", [7]),
        ("ts >= 1000 && ts < 1200", [10, 11]),
        ("!dnr && status", [9]),
        ("actor eq host", [0, 1, 8]),
        ('purpose == "data"', [4]),
        ('detail contains "CAP"', [10]),
        ('opname matches "READ"', [3, 5]),
        ("data == 68:65:6c:6c:6f", [4]),
        ('data == "hello"', [4]),
        ("cid == -1", []),
        ("admin == false", [3]),
    ],
)
def test_expression_selects(expr, expected):
    assert select(expr) == expected


def test_a_missing_field_is_false_for_every_operator():
    dbl = EVENTS[1]
    for expr in (
        "status == 0",
        "status != 0",
        "status < 1",
        "status",
        'status contains "x"',
        'status ~ "."',
        "status in {0}",
    ):
        assert compile_filter(expr)(dbl) is False, expr
    # and "not" of a missing-field test is true
    assert compile_filter("not status == 0")(dbl) is True


def test_a_type_mismatch_is_false_not_an_error():
    irq = EVENTS[11]  # its data is an int
    dma = EVENTS[4]  # its data is bytes
    assert compile_filter("data == 0x21")(irq) and not compile_filter("data == 0x21")(dma)
    assert not compile_filter('data == "x"')(irq)
    assert not compile_filter("data contains 68:65")(irq)
    assert not compile_filter("kind < 3")(irq)


def test_precedence_not_binds_tighter_than_and_than_or():
    e = EVENTS[6]  # cqe_post cid 4 status 0
    assert compile_filter("cid == 5 or cid == 4 and status == 0")(e)
    assert not compile_filter("(cid == 5 or cid == 4) and status != 0")(e)
    assert compile_filter("not cid == 5 and not status")(e)
    assert not compile_filter("not (cid == 4 or cid == 5)")(e)


def test_keywords_are_case_insensitive_and_numbers_take_every_base():
    with pytest.raises(FilterError):
        compile_filter("KIND == doorbell_sq")  # field names are case-sensitive, as in Wireshark
    assert select("kind == doorbell_sq AND sqid == 0x1 && NOT cid") == [1]
    assert select("seq == 0o12 or seq == 0xd or seq == 0b1") == [1, 10, 13]
    assert select("addr == 0x20_0000") == [4]
    assert select("seq == 007") == [7]


def test_filter_events_is_lazy_and_accepts_a_compiled_filter():
    pred = compile_filter("kind == cqe_post")
    it = filter_events(iter(EVENTS), pred)
    assert next(it) is EVENTS[6]
    assert [e.seq for e in filter_events(EVENTS, "cqe_post")] == [6, 7]


def test_every_struct_field_and_alias_is_a_known_field():
    for kind, cls in ev.EVENT_TYPES.items():
        for name in cls.__struct_fields__:
            assert name in FIELDS, (kind, name)
    for alias in ("kind", "opcode", "status", "sc", "sct", "dnr", "reg"):
        assert alias in FIELDS
        compile_filter(alias)
