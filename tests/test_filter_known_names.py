"""Names (kinds, registers, opcodes, statuses, actors) match in any case; unknown ones are errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nvmescope import events as ev
from nvmescope.nvme.commands import make_status
from nvmescope.nvme.opcodes import ADMIN_OPCODES, NVM_OPCODES
from nvmescope.nvme.pci import CONFIG_REGISTERS
from nvmescope.nvme.registers import REGISTERS
from nvmescope.nvme.status import STATUS
from nvmescope.trace.filter import VOCABULARIES, FilterError, compile_filter, filter_indexes

EVENTS: list[ev.Event] = [
    ev.MmioWrite(addr=0x14, size=4, value=1, reg="cc"),  # 0
    ev.MmioWrite(addr=0x28, size=4, value=0x1000, reg="asq.lo"),  # 1
    ev.MmioWrite(addr=0x2C, size=4, value=0, reg="asq.hi"),  # 2
    ev.MmioWrite(addr=0x28, size=8, value=0x1000, reg="asq"),  # 3
    ev.MmioRead(addr=0x1C, size=4, value=1, reg="csts"),  # 4
    ev.DoorbellSq(sqid=1, addr=0x1008, old_tail=0, new_tail=1),  # 5
    ev.CmdStart(sqid=0, cid=1, opcode=0x06, opname="identify"),  # 6
    ev.CmdFinish(sqid=1, cid=2, opcode=0x02, opname="read", status=make_status(0, 2)),  # 7
    ev.CqePost(sqid=1, cid=2, cqid=1, slot=0, addr=0, phase=1, status=make_status(0, 2)),  # 8
    ev.ConfigWrite(offset=0x4, size=2, value=6, reg="command"),  # 9
    ev.MmioWrite(addr=0x2000, size=4, value=0, reg="msix[0].addr_lo"),  # 10
    ev.condition("err_invalid_field", sqid=1, cid=2, status=make_status(0, 2)),  # 11
]
for _i, _e in enumerate(EVENTS):
    _e.seq = _i


def select(expr: str) -> list[int]:
    return list(filter_indexes(EVENTS, expr))


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('reg == "CC"', [0]),
        ('reg == "cc"', [0]),
        ("reg == CSTS", [4]),
        ('reg != "CC"', [1, 2, 3, 4, 5, 9, 10]),
        ('reg == "SQ1TDBL"', [5]),
        ('reg == "ASQ"', [1, 2, 3]),  # a 64-bit register's name covers its halves
        ('reg == "asq.lo"', [1]),
        ('reg in {"ASQ.HI", "cc"}', [0, 2]),
        ('reg == "MSIX[0].ADDR_LO"', [10]),
        ("reg == command", [9]),
        ('kind == "CQE_POST"', [8]),
        ('kind != "MMIO_WRITE"', [4, 5, 6, 7, 8, 9, 11]),
        ('kind == "Err_Invalid_Field"', [11]),
        ('opcode == "IDENTIFY"', [6]),
        ('opname == "Read"', [7]),
        ('opcode in ["READ", 6]', [6, 7]),
        ('opcode contains "DENT"', [6]),
        ('status == "INVALID_FIELD"', [7, 8, 11]),
        ('status != "Success"', [7, 8, 11]),
        ('status == "sct0_sc02"', []),  # the name of an unnamed code is accepted
        ('kind in ("cqe_post", "cmd_finish")', [7, 8]),
        ('kind in ["cqe_post", "cmd_finish"]', [7, 8]),
        ("kind in {cqe_post}", [8]),
        ("seq in (1..2, 9)", [1, 2, 9]),
        ("seq in [0x1..0x2]", [1, 2]),
        ("kind == 'cqe_post'", [8]),
        ("kind in ('cqe_post', 'cmd_start')", [6, 8]),
    ],
)
def test_names_select_in_any_case(expr, expected):
    assert select(expr) == expected


def test_single_and_double_quotes_read_the_same():
    for body, value in (("it\\'s", "it's"), ('say \\"hi\\"', 'say "hi"'), ('a"b', 'a"b')):
        pred = compile_filter(f"detail == '{body}'")
        assert pred(ev.condition("ub_mmio_ro", detail=value)), body
    assert compile_filter('detail == "it\'s"')(ev.condition("ub_mmio_ro", detail="it's"))


@pytest.mark.parametrize(
    ("expr", "column", "words"),
    [
        ('kind == "cqe_posts"', 9, "unknown event kind 'cqe_posts' (did you mean 'cqe_post'?)"),
        ("kind == cqe_posts", 9, "(did you mean 'cqe_post'?)"),
        ('kind != "CQE_POSTS"', 9, "(did you mean 'cqe_post'?)"),
        ('status == "bogus_status"', 11, "unknown status name 'bogus_status'"),
        ('status == "invalid_feild"', 11, "did you mean 'invalid_field'?"),
        ('status_name == "sucess"', 16, "did you mean 'success'?"),
        ('opcode == "nope"', 11, "unknown opcode name 'nope'"),
        ('opcode == "idenitfy"', 11, "did you mean 'identify'?"),
        ('opname == "reed"', 11, "did you mean 'read'?"),
        ('reg == "ccc"', 8, "unknown register name 'ccc' (did you mean 'cc'?)"),
        ('reg == "sq1tdb"', 8, "did you mean 'sq1tdbl'?"),
        ("reg in {cc, csts, aqa, foo}", 24, "unknown register name 'foo'"),
        ('kind in ("cqe_post", "doorbel_sq")', 22, "did you mean 'doorbell_sq'?"),
        ('kind in ["cqe_post" "x"]', 21, "expected ',' or ']' in the set"),
        ("kind in (cqe_post}", 18, "expected ',' or ')' in the set"),
        ('kind in {"cqe_post"..3}', 20, "a range is two numbers"),
        ("kind == err", 9, "'err' is a family of kinds, not a kind"),
        ('kind == "UB"', 9, 'kind matches "^ub_"'),
        ('actor == "D" and kind == "mmio_wrte"', 26, "did you mean 'mmio_write'?"),
        ('kind < "cqe_postt"', 8, "did you mean 'cqe_post'?"),
        ("KIND == cqe_post", 1, "unknown field 'KIND' (did you mean 'kind'?)"),
        ("Cqe_Post", 1, "unknown field 'Cqe_Post' (did you mean 'cqe_post'?)"),
        ("opname == 'it\\'s'", 11, "unknown opcode name"),
    ],
)
def test_an_unknown_name_is_an_error_at_its_column(expr, column, words):
    with pytest.raises(FilterError) as info:
        compile_filter(expr)
    err = info.value
    assert err.column == column, str(err)
    assert words in str(err)
    assert err.caret().split("\n")[1] == " " * (column - 1) + "^"


EVERY_NAME = {
    "kind": sorted(ev.EVENT_TYPES),
    "reg": sorted(
        {r.name for r in REGISTERS}
        | {f"{r.name}.{h}" for r in REGISTERS if r.size == 8 for h in ("lo", "hi")}
        | {name for _, _, name in CONFIG_REGISTERS}
    ),
    "opcode": sorted({n.name for n in [*ADMIN_OPCODES.values(), *NVM_OPCODES.values()]}),
    "status": sorted(st.name for st in STATUS.values()),
    "actor": ["host", "device"],
}


@pytest.mark.parametrize("field", sorted(EVERY_NAME))
def test_every_name_the_model_uses_is_known_in_every_case(field):
    for name in EVERY_NAME[field]:
        for spelled in (name, name.upper(), name.capitalize()):
            compile_filter(f'{field} == "{spelled}"')


@given(
    st.sampled_from(sorted(VOCABULARIES)),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
)
def test_a_name_compiles_or_is_refused_at_its_column(field, word):
    quoted = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    expr = f"{field} == {quoted}"
    try:
        pred = compile_filter(expr)
    except FilterError as err:
        assert err.column == len(field) + 5
        return
    for event in EVENTS:
        assert pred(event) in (True, False)
    # a name that compiles compiles in every case, and selects the same events
    if word.upper() != word and word.upper().lower() == word.lower():
        upper = compile_filter(f"{field} == {quoted.upper()}")
        assert [upper(e) for e in EVENTS] == [pred(e) for e in EVENTS]
