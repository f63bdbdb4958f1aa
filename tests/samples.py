"""One event of any kind with every required field filled in, for tests that need every kind."""

from __future__ import annotations

import msgspec

from nvmescope import events as ev


def sample_event(cls: type, i: int = 7) -> ev.Event:
    """An instance of ``cls`` whose required fields hold ``i`` (ints), ``"s{i}"`` (strings),
    three bytes of ``i`` (bytes), True (bools) or an empty list (anything else)."""
    fields = {}
    for name, f in zip(cls.__struct_fields__, msgspec.structs.fields(cls), strict=True):
        if f.required:
            fields[name] = {int: i, str: f"s{i}", bytes: bytes([i & 0xFF]) * 3, bool: True}.get(
                f.type, []
            )
    return cls(**fields)
