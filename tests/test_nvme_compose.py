"""A command's own fields by opcode: they encode into CDW10-15 and decode back, the SQE
decoder reads the same values out of what they build, each refuses what it cannot
hold, and the transfer each command needs follows its fields."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nvmescope.nvme import compose as cmp
from nvmescope.nvme.commands import pack_sqe
from nvmescope.nvme.decode import decode

ALL = sorted(cmp.COMMAND_FIELDS)
#: features whose fields Set or Get Features carry in CDW11, and some that have none
FIDS = [1, 2, 4, 7, 8, 9, 0x0B, 0x0E, 0x80]


@pytest.mark.parametrize("key", ALL, ids=lambda k: f"{'admin' if k[0] else 'io'}-{k[1]:02x}")
def test_no_two_fields_of_a_command_share_a_bit(key: tuple[bool, int]) -> None:
    for fid in FIDS:
        seen: set[tuple[int, int]] = set()
        for f in cmp.fields_for(*key, fid=fid):
            for dw, hi, lo in f.parts:
                assert dw in cmp.CDWS and 31 >= hi >= lo >= 0
                bits = {(dw, b) for b in range(lo, hi + 1)}
                assert not bits & seen, f"{f.name} overlaps (FID {fid:#x})"
                seen |= bits


@st.composite
def command_values(draw: st.DrawFn) -> tuple[bool, int, dict[str, int]]:
    admin, opc = draw(st.sampled_from(ALL))
    fid = draw(st.sampled_from(FIDS))
    fields = cmp.fields_for(admin, opc, fid=fid)
    values = {f.name: draw(st.integers(0, f.limit)) for f in fields}
    if "fid" in values:  # the value fields are those of the FID the command carries
        values["fid"] = fid
    return admin, opc, values


@given(command_values())
def test_fields_encode_and_decode_back(case: tuple[bool, int, dict[str, int]]) -> None:
    admin, opc, values = case
    fields = cmp.fields_for(admin, opc, values.get("fid"))
    dwords = cmp.encode(fields, values)
    assert cmp.decode_fields(fields, dwords) == values


@given(st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, (1 << 64) - 1),
       st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFF))  # fmt: skip
def test_the_sqe_decoder_reads_the_values_the_fields_put(
    cns: int, cntid: int, slba: int, nlb: int, numd: int, iv: int
) -> None:
    ident = cmp.encode(cmp.fields_for(True, 0x06), {"cns": cns, "cntid": cntid})
    tree = decode("sqe", pack_sqe(0x06, 1, **{f"cdw{n}": v for n, v in ident.items()}),
                  {"admin": True})  # fmt: skip
    assert f"CNS {cns:02x}h" in tree.find("cdw10").meaning
    assert f"CNTID {cntid}" in tree.find("cdw10").meaning
    rw = cmp.encode(cmp.fields_for(False, 0x02), {"slba": slba, "nlb": nlb})
    tree = decode("sqe", pack_sqe(0x02, 1, **{f"cdw{n}": v for n, v in rw.items()}),
                  {"admin": False})  # fmt: skip
    assert f"SLBA {slba} " in tree.find("cdw10").meaning
    assert f"NLB {nlb} ({nlb + 1} logical blocks" in tree.find("cdw12").meaning
    log = cmp.encode(cmp.fields_for(True, 0x02), {"lid": 2, "numd": numd})
    tree = decode("sqe", pack_sqe(0x02, 1, **{f"cdw{n}": v for n, v in log.items()}),
                  {"admin": True})  # fmt: skip
    assert f"NUMDL {numd & 0xFFFF}" in tree.find("cdw10").meaning
    assert f"NUMDU {numd >> 16}" in tree.find("cdw11").meaning
    get = cmp.encode(cmp.fields_for(True, 0x0A, fid=0x09), {"fid": 0x09, "iv": iv})
    tree = decode("sqe", pack_sqe(0x0A, 1, **{f"cdw{n}": v for n, v in get.items()}),
                  {"admin": True})  # fmt: skip
    assert f"IV {iv} (vector {iv})" in tree.find("cdw11").meaning


def test_set_features_value_fields_come_from_the_feature_layouts() -> None:
    names = [f.name for f in cmp.fields_for(True, 0x09, fid=0x07)]
    assert names == ["fid", "sv", "ncqr", "nsqr"]
    nsqr = cmp.fields_for(True, 0x09, fid=0x07)[-1]
    assert nsqr.parts == ((11, 15, 0),) and nsqr.zeros_based
    # a feature with no layout (or a data buffer for a value) is CDW11 whole
    assert [f.name for f in cmp.fields_for(True, 0x09, fid=0x0E)][-1] == "cdw11"


def test_get_features_takes_the_cdw11_fields_the_spec_names_for_its_feature() -> None:
    # Interrupt Vector Configuration: the vector whose configuration is returned
    ivc = cmp.fields_for(True, 0x0A, fid=0x09)
    assert [f.name for f in ivc] == ["fid", "sel", "iv"]
    assert ivc[-1].parts == ((11, 15, 0),) and ivc[-1].title == "Interrupt Vector (IV)"
    # Temperature Threshold: which sensor's threshold, over or under
    temp = {f.name: f for f in cmp.fields_for(True, 0x0A, fid=0x04)}
    assert temp["tmpsel"].parts == ((11, 19, 16),) and temp["thsel"].parts == ((11, 21, 20),)
    assert "tmpth" not in temp  # the threshold itself is what Get Features returns
    # a feature whose Get Features takes nothing in CDW11: FID and SEL only
    assert [f.name for f in cmp.fields_for(True, 0x0A, fid=0x07)] == ["fid", "sel"]
    assert [f.name for f in cmp.fields_for(True, 0x0A, fid=0x0E)] == ["fid", "sel"]


def test_an_opcode_with_no_table_gets_cdw10_to_15_whole() -> None:
    assert [f.name for f in cmp.fields_for(True, 0x84)] == [f"cdw{n}" for n in cmp.CDWS]


def test_a_value_too_large_for_its_field_is_refused() -> None:
    cns = cmp.fields_for(True, 0x06)[0]
    with pytest.raises(cmp.ComposeError, match="CNS holds 0 to 255, not 256"):
        cmp.encode([cns], {"cns": 256})


@pytest.mark.parametrize(
    ("text", "value"), [("12", 12), ("0x1f", 31), ("1Fh", 31), ("0X1F", 31), (" 7 ", 7),
                        ("1_000", 1000), ("0xffffffff", 0xFFFFFFFF)],
)  # fmt: skip
def test_numbers_are_decimal_or_hex(text: str, value: int) -> None:
    assert cmp.parse_number(text, 0xFFFFFFFF, "X") == value


@pytest.mark.parametrize(
    ("text", "words"),
    [("", "give a number"), ("-1", "is not a number"), ("+1", "is not a number"),
     ("abc", "is not a number"), ("0x", "is not a number"), ("1e3", "is not a number"),
     ("0x0x5", "is not a number"), ("12.5", "is not a number"), ("٣", "is not a number"),
     ("0x100000000", "holds 0 to 4294967295"), ("9" * 30, "too long")],
)  # fmt: skip
def test_what_is_not_a_number_or_too_large_is_refused_in_one_line(text: str, words: str) -> None:
    with pytest.raises(cmp.ComposeError, match=words) as got:
        cmp.parse_number(text, 0xFFFFFFFF, "X")
    assert "\n" not in str(got.value)


@given(st.text(max_size=30))
def test_any_text_is_a_number_or_a_compose_error(text: str) -> None:
    try:
        value = cmp.parse_number(text, 0xFFFF, "X")
    except cmp.ComposeError:
        return
    assert 0 <= value <= 0xFFFF


def test_the_transfer_follows_the_fields() -> None:
    assert cmp.transfer(True, 0x06, {"cns": 1}) == cmp.Transfer(4096, cmp.TO_HOST)
    assert cmp.transfer(True, 0x02, {"numd": 127}).length == 512
    assert cmp.transfer(False, 0x02, {"nlb": 7}, lba_size=4096) == cmp.Transfer(32768, cmp.TO_HOST)
    assert cmp.transfer(False, 0x01, {"nlb": 0}).direction == cmp.TO_DEVICE
    assert cmp.transfer(True, 0x05, {"qsize": 63}).queue == 64 * 16
    assert cmp.transfer(True, 0x01, {"qsize": 63}).queue == 64 * 64
    assert cmp.transfer(True, 0x0A, {"fid": 0x0E}) == cmp.Transfer(8, cmp.TO_HOST)
    assert cmp.transfer(True, 0x09, {"fid": 0x07}) == cmp.Transfer()
    assert cmp.transfer(False, 0x09, {"nr": 1}).length == 32


def test_every_preset_names_fields_its_opcode_has() -> None:
    wanted = {"identify-ctrl", "identify-ns", "active-ns", "smart-log", "error-log", "get-nq",
              "set-nq", "create-cq", "create-sq", "read", "write"}  # fmt: skip
    assert {p.name for p in cmp.PRESETS} == wanted
    for p in cmp.PRESETS:
        names = {f.name for f in cmp.fields_for(p.admin, p.opc, p.values.get("fid"))}
        assert set(p.values) <= names, p.name
