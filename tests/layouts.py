"""The one helper the layout tests share: parse, build and size checked together."""

from __future__ import annotations

from typing import Any

import construct as cs

from nvmescope.nvme.identify import to_plain


def common(layout: cs.Construct, raw: bytes, expected: Any, size: int) -> None:
    """Parse, build and sizeof agree, as construct's own tests check them
    (a layout whose size depends on its data is sized by what it parses).

    ``expected`` is a dict of the fields to check, or the whole parsed value."""
    try:
        assert layout.sizeof() == size
    except cs.SizeofError:
        assert len(layout.build(layout.parse(raw))) == size
    assert len(raw) == size
    parsed = to_plain(layout.parse(raw))
    if isinstance(expected, dict):
        for key, value in expected.items():
            assert parsed[key] == value, key
    else:
        assert parsed == expected
    assert layout.build(parsed) == raw
