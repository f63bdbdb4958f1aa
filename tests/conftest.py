"""Suite-wide guards, and the fixtures several test files share."""

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


@pytest.fixture(scope="session")
def small_chunk_recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The identify scenario recorded as binary and as JSON lines, 50 events a chunk (a
    real run, so that ``replay --verify`` passes on the pristine files), to damage."""
    from nvmescope.trace.recorder import record

    d = tmp_path_factory.mktemp("damaged")
    out = {}
    for fmt in ("msgpack", "jsonl"):
        path = d / f"identify-{fmt}.nvmetrace"
        record("identify", path, fmt=fmt, chunk_events=50, checkpoint_every=100)
        out[fmt] = path
    return out


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``linux_guest`` (a real Linux boot, about a minute) go first: under
    ``-n`` a worker takes them at once and runs them beside the rest of the suite."""
    items.sort(key=lambda item: item.get_closest_marker("linux_guest") is None)
