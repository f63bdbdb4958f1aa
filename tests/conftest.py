"""Suite-wide guards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

RECORDINGS = Path(__file__).resolve().parent.parent / "recordings"


@pytest.fixture(autouse=True, scope="session")
def _recordings_stay_as_shipped() -> Iterator[None]:
    """No test may leave a file in recordings/ (a sidecar of marks, a copy, ...)."""
    before = {p.name for p in RECORDINGS.iterdir()}
    yield
    added = sorted({p.name for p in RECORDINGS.iterdir()} - before)
    assert not added, f"tests left files in recordings/: {added}"
