"""Hostile files, second pass: a failed export or import leaves the file already at -o, a
FIFO or a device as a recording is refused at once, an index that claims more than the file
can hold is not decompressed, and a QEMU trace's values are as wide as QEMU prints them."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import msgspec
import pytest
import zstandard

from nvmescope.events import MmioRead
from nvmescope.trace import RecordingError, open_recording
from nvmescope.trace.format import (
    FRAME_EVENTS,
    FRAME_INDEX,
    TRAILER,
    TRAILER_MAGIC,
    Header,
    file_header_bytes,
    frame_bytes,
)
from nvmescope.trace.qemu_import import MAX_DETAIL, QemuTraceError, import_qemu_trace

ROOT = Path(__file__).resolve().parent.parent
IO = ROOT / "recordings" / "io.nvmetrace"
MULTI = ROOT / "recordings" / "multi-queue.nvmetrace"


def nvmescope(*args: str) -> tuple[int, str]:
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "nvmescope", *args], capture_output=True, text=True, timeout=120
    )
    return proc.returncode, proc.stderr


def test_a_failed_import_leaves_the_recording_already_at_the_output(tmp_path: Path) -> None:
    precious = tmp_path / "precious.nvmetrace"
    precious.write_bytes(IO.read_bytes())
    log = tmp_path / "bad.log"
    log.write_text("1@1.0:pci_nvme_mmio_doorbell_sq sqid 0xffffffffffffffff new_tail 1\n")
    code, err = nvmescope("import", "qemu-trace", str(log), "-o", str(precious))
    assert code == 1 and "line 1" in err and "16-bit" in err and "Traceback" not in err
    assert precious.read_bytes() == IO.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] != [] and not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("kind", ["jsonl", "chrome"])
def test_an_export_that_fails_midway_leaves_the_file_already_at_the_output(
    tmp_path: Path, kind: str
) -> None:
    damaged = tmp_path / "damaged.nvmetrace"
    data = bytearray(MULTI.read_bytes())
    with open_recording(MULTI) as rec:
        chunks = rec._chunks  # type: ignore[attr-defined]
    at = chunks[-2].offset + 40  # inside the payload of the second-to-last chunk
    data[at] ^= 0xFF
    damaged.write_bytes(bytes(data))
    victim = tmp_path / "victim.out"
    victim.write_bytes(IO.read_bytes())
    code, err = nvmescope("export", kind, str(damaged), "-o", str(victim))
    assert code == 1 and "checksum" in err
    assert victim.read_bytes() == IO.read_bytes()
    assert not list(tmp_path.glob(".*partial"))


def test_an_export_still_writes_to_a_device_in_place(tmp_path: Path) -> None:
    code, err = nvmescope("export", "jsonl", str(IO), "-o", os.devnull)
    assert code == 0, err
    assert Path(os.devnull).exists() and not Path(os.devnull).is_file()


def test_a_fifo_or_a_device_is_refused_as_a_recording_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "f.nvmetrace"
    os.mkfifo(fifo)
    # in a child process first: opening a FIFO for reading used to wait for a writer
    code, err = nvmescope("show", str(fifo))
    assert code == 1 and "not a regular file" in err
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(RecordingError, match="not a regular file"):
            open_recording(path)


def test_an_index_that_claims_more_than_the_file_can_hold_is_not_decompressed(
    tmp_path: Path,
) -> None:
    count = 5_000_000  # 25 MB of index entries, compressed to a few KB
    body = b"\x82\xa6events\x01\xa6frames\xdd" + count.to_bytes(4, "big") + b"\x94\0\0\0\0" * count
    events = msgspec.msgpack.encode([MmioRead(seq=0, addr=0, size=4, value=0)])
    out = bytearray(file_header_bytes(Header()))
    out += frame_bytes(FRAME_EVENTS, zstandard.compress(events), len(events), 0, 1)
    offset = len(out)
    out += frame_bytes(FRAME_INDEX, zstandard.compress(body), len(body), 1, 0)
    out += TRAILER.pack(TRAILER_MAGIC, offset)
    path = tmp_path / "bomb.nvmetrace"
    path.write_bytes(bytes(out))
    with open_recording(path) as rec:
        assert len(rec) == 1  # read frame by frame
        assert any("more than an index" in w for w in rec.warnings)


@pytest.mark.parametrize(
    "line",
    [
        "pci_nvme_create_cq addr 0xffffffffffffffff cqid 1 vector 0 qsize 3 qflags 1 ien 1",
        "pci_nvme_create_cq addr 0x1000 cqid 1 vector 0 qsize 0xffffffffffffffff qflags 1 ien 1",
        "pci_nvme_create_sq addr 0xfffffffffffff800 sqid 1 cqid 1 qsize 63 qflags 1",
        "pci_nvme_shadow_doorbell_cq cqid 0xffffffffffffffff new_shadow_doorbell 1",
    ],
    ids=["cq-past-the-address-space", "qsize-2^64", "sq-past-the-address-space", "wide-cqid"],
)
def test_a_qemu_value_wider_than_qemu_prints_it_is_refused_at_its_line(line: str) -> None:
    with pytest.raises(QemuTraceError, match="^line 1: "):
        import_qemu_trace([f"1@1.0:{line}"])


def test_detail_lines_folded_into_one_command_stay_bounded_and_linear() -> None:
    lines = ["1@1.0:pci_nvme_admin_cmd cid 1 sqid 0 opc 0x9 opname 'x'"]
    lines += ["1@1.0:pci_nvme_dsm " + "a" * 200] * 20_000
    start = time.process_time()
    result = import_qemu_trace(lines)
    assert time.process_time() - start < 30  # quadratic, it took minutes
    detail = result.events[-1].detail
    assert MAX_DETAIL <= len(detail) <= MAX_DETAIL + 1 and detail.endswith("…")


def test_a_crafted_opcode_name_of_megabytes_is_cut_in_the_command_table() -> None:
    from nvmescope.trace.commands import MAX_CELL, format_command_text, pair_commands

    with open_recording(IO) as rec:
        commands = pair_commands(rec.events())
    commands[0].opname = "x" * 10_000_000
    lines = format_command_text(commands).splitlines()
    assert max(len(line) for line in lines) < 10 * MAX_CELL
    assert "x" * (MAX_CELL - 1) + "…" in lines[1]


def test_an_event_listing_more_ranges_than_any_command_maps_is_refused_unbuilt(
    tmp_path: Path,
) -> None:
    from nvmescope.events import MAX_MAP_ITEMS, MapPrp

    too_many = MapPrp(seq=0, prp1=0, prp2=0, length=0, segments=[(0, 0)] * (MAX_MAP_ITEMS + 1))
    raw = msgspec.msgpack.encode([too_many])
    out = bytearray(file_header_bytes(Header()))
    out += frame_bytes(FRAME_EVENTS, zstandard.compress(raw), len(raw), 0, 1)
    path = tmp_path / "amplified.nvmetrace"
    path.write_bytes(bytes(out))
    code, err = nvmescope("show", str(path))
    assert code == 1 and "cannot decode" in err and "length <= " in err
    assert "Traceback" not in err
