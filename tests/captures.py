"""The real captures in reference/linux-6.1-on-qemu-7.2/, read for tests."""

from __future__ import annotations

from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "linux-6.1-on-qemu-7.2"


def config_space(capture: str | Path) -> bytes:
    """The 4 KiB of PCI configuration space in an ``lspci -xxxx`` capture's hex dump."""
    path = REFERENCE / capture
    data = bytearray()
    for line in path.read_text().splitlines():
        head, sep, rest = line.partition(": ")
        if sep and all(c in "0123456789abcdef" for c in head) and len(rest.split()) == 16:
            data += bytes(int(b, 16) for b in rest.split())
    assert len(data) == 4096
    return bytes(data)
