"""Feature value layouts put each field at the specification's bits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nvmescope.nvme import features
from nvmescope.nvme.features import (
    FEATURE_LAYOUTS,
    build_feature,
    decode_feature,
    feature_fields,
    parse_feature,
)

#: (fid, field, hi, lo) from NVMe 1.4 section 5.21.1.
SPEC_BITS = [
    (0x01, "ab", 2, 0), (0x01, "lpw", 15, 8), (0x01, "mpw", 23, 16), (0x01, "hpw", 31, 24),
    (0x02, "ps", 4, 0), (0x02, "wh", 7, 5),
    (0x04, "tmpth", 15, 0), (0x04, "tmpsel", 19, 16), (0x04, "thsel", 21, 20),
    (0x05, "tler", 15, 0), (0x05, "dulbe", 16, 16),
    (0x06, "wce", 0, 0),
    (0x07, "nsqr", 15, 0), (0x07, "ncqr", 31, 16),
    (0x08, "thr", 7, 0), (0x08, "time", 15, 8),
    (0x09, "iv", 15, 0), (0x09, "cd", 16, 16),
    (0x0B, "smart", 7, 0), (0x0B, "nan", 8, 8), (0x0B, "fan", 9, 9), (0x0B, "tln", 10, 10),
    (0x0B, "anacn", 11, 11), (0x0B, "plealcn", 12, 12), (0x0B, "lsin", 13, 13),
    (0x0B, "egealcn", 14, 14), (0x0B, "dlpcn", 31, 31),
    (0x0E, "timestamp", 47, 0), (0x0E, "synch", 48, 48), (0x0E, "to", 51, 49),
]  # fmt: skip


def test_every_field_sits_at_its_spec_bits():
    for fid, name, hi, lo in SPEC_BITS:
        top = (1 << (hi - lo + 1)) - 1
        assert build_feature(fid, **{name: top}) == top << lo, (fid, name)
        assert parse_feature(fid, top << lo)[name] == top
    covered = {(fid, name) for fid, name, _, _ in SPEC_BITS}
    for fid in FEATURE_LAYOUTS:
        assert {(fid, n) for n in feature_fields(fid)} <= covered


def test_number_of_queues_matches_nvme_cli_reference():
    # get-feature -f 7: Current value 0x003f003f, 64 SQs and 64 CQs allocated
    assert build_feature(0x07, nsqr=63, ncqr=63) == 0x003F003F
    rows = dict((name, (value, meaning)) for name, value, meaning in decode_feature(7, 0x3F003F))
    assert rows["nsqr"][0] == 63 and "64 I/O submission queues" in rows["nsqr"][1]
    assert rows["ncqr"][0] == 63 and "64 I/O completion queues" in rows["ncqr"][1]


def test_timestamp_is_an_8_byte_structure():
    assert FEATURE_LAYOUTS[0x0E].sizeof() == 8
    raw = features.feature_value_bytes(
        0x0E, build_feature(0x0E, timestamp=0x0123456789AB, synch=1, to=1)
    )
    assert raw == bytes([0xAB, 0x89, 0x67, 0x45, 0x23, 0x01, 0x03, 0x00])
    rows = {name: value for name, value, _ in decode_feature(0x0E, raw)}
    assert rows == {"timestamp": 0x0123456789AB, "synch": 1, "to": 1}


def test_meanings_are_words():
    rows = {n: m for n, _, m in decode_feature(0x04, 343)}
    assert rows["tmpth"].endswith("70 C (343 K)")
    assert rows["thsel"].endswith("Over Temperature Threshold")
    rows = {n: m for n, _, m in decode_feature(0x01, 7 | (3 << 8))}
    assert rows["ab"].endswith("no limit") and rows["lpw"].endswith("weight 4")
    rows = {n: m for n, _, m in decode_feature(0x0B, 0x105)}
    assert "available spare" in rows["smart"] and "read only" not in rows["smart"]
    assert rows["nan"].endswith("enabled") and rows["fan"].endswith("disabled")
    assert decode_feature(0x06, 1)[0][2].endswith("enabled")
    rows = {n: m for n, _, m in decode_feature(0x05, 1 << 16 | 30)}
    assert rows["tler"].endswith("3000 ms") and rows["dulbe"].endswith("enabled")


def test_feature_without_layout_gives_its_value():
    assert decode_feature(0x80, 0x1234) == [
        ("value", 0x1234, "Software Progress (FID 0x80): value 0x1234")
    ]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(FEATURE_LAYOUTS)), st.integers(0, 2**64 - 1))
def test_decoded_fields_reassemble_the_defined_bits(fid, value):
    bits = {name: (hi, lo) for f, name, hi, lo in SPEC_BITS if f == fid}
    size = FEATURE_LAYOUTS[fid].sizeof()
    value &= (1 << (8 * size)) - 1
    mask = 0
    total = 0
    for name, v, meaning in decode_feature(fid, value):
        hi, lo = bits[name]
        assert v == (value >> lo) & ((1 << (hi - lo + 1)) - 1)
        assert meaning
        total |= v << lo
        mask |= ((1 << (hi - lo + 1)) - 1) << lo
    assert total == value & mask
    assert build_feature(fid, **{n: v for n, v, _ in decode_feature(fid, value)}) == value & mask
