"""The reference captures the tests compare against are part of the repository."""

from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "linux-6.1-on-qemu-7.2"


def test_reference_captures_ship_with_the_repository():
    # other tests skip when these are missing; this one makes that a failure
    for name in ("qemu-trace-pci_nvme.log", "guest-console.log", "README.md"):
        assert (REFERENCE / name).stat().st_size > 1000, name
