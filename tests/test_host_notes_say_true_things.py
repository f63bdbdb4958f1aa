"""The host's notes and the event descriptions say only true, whole, readable things
(issue 8, "Narration and descriptions"), and the host model's command identifiers carry
Linux 6.1's generation counter."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nvmescope import events as ev
from nvmescope.cli import app
from nvmescope.emulator.config import ControllerConfig
from nvmescope.events import describe
from nvmescope.host import SCENARIOS
from nvmescope.host.driver import AER_CID
from nvmescope.machine import Machine
from nvmescope.nvme import registers as r
from nvmescope.nvme.commands import pack_cqe, pack_sqe

REFERENCE = (
    Path(__file__).resolve().parent.parent
    / "reference"
    / "linux-6.1-on-qemu-7.2"
    / "qemu-trace-pci_nvme.log"
)


@cache
def _events(scenario: str) -> tuple[Any, ...]:
    machine = Machine(ControllerConfig(), scenario=scenario)
    while machine.step() is not None:
        pass
    return tuple(machine.events)


def _register_notes(events: tuple[Any, ...]) -> list[tuple[str, r.Register, int, int]]:
    """(note, register, first bit, last bit) for every host note that announces one BAR0
    register access (the access is the host's next event)."""
    out = []
    for note, nxt in zip(events, events[1:], strict=False):
        if note.kind != "host_step" or nxt.kind not in ("mmio_read", "mmio_write"):
            continue
        hit = r.register_at(nxt.addr)
        if hit is None:
            continue
        reg, within = hit
        out.append((note.text, reg, 8 * within, 8 * (within + nxt.size) - 1))
    return out


def _meaning_words(field: r.BitField) -> str:
    """The first two words of a field's meaning, lower case: "doorbell stride"."""
    words = re.findall(r"[A-Za-z']+", field.meaning.split("(")[0])
    return " ".join(words[:2]).lower()


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_register_notes_name_only_the_fields_in_the_bytes_accessed(scenario: str) -> None:
    notes = _register_notes(_events(scenario))
    assert notes
    for text, reg, lo, hi in notes:
        if reg.size == 4 and lo == 0 and hi == 31:
            continue  # the whole register: every field is in the bytes read
        for f in reg.fields:
            inside = f.lo <= hi and f.hi >= lo  # the field has bits in the access
            named = re.search(rf"\b{f.name.upper()}\b", text) is not None
            meant = _meaning_words(f) in text.lower()
            assert inside or not (named or meant), (
                f"{reg.name.upper()} bits {hi}:{lo} note names {f.name.upper()} "
                f"(bits {f.hi}:{f.lo}): {text}"
            )


def test_cap_notes_list_every_field_of_their_half_from_the_table() -> None:
    notes = [n for n in _register_notes(_events("bringup")) if n[1] is r.CAP]
    assert len(notes) >= 2
    for text, _reg, lo, hi in notes:
        inside = [
            f.name.upper()
            for f in sorted(r.CAP.fields, key=lambda f: f.lo)
            if f.lo >= lo and f.hi <= hi
        ]
        listed = ", ".join(inside[:-1]) + " and " + inside[-1]
        assert f"bits {hi}:{lo}" in text and f"({listed})" in text, text


GARBLED = {
    "doubled word": re.compile(r"\b([A-Za-z]{2,}) \1\b", re.IGNORECASE),
    "'(s)' plural": re.compile(r"\(s\)"),
    "'x1'-style count": re.compile(r"\bx\d+\b"),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_note_or_description_is_garbled(scenario: str) -> None:
    for event in _events(scenario):
        text = describe(event)
        for what, pattern in GARBLED.items():
            assert not pattern.search(text), f"{what} in {event.kind}: {text}"
        assert text.count("(") == text.count(")"), f"unbalanced parentheses: {text}"


def test_io_notes_say_blocks_and_what_a_segment_is() -> None:
    texts = [describe(e) for e in _events("io")]
    assert any("Write of 1 block at LBA 0, NSID 1" in t for t in texts)
    assert any("Read of 1 block at LBA 0, NSID 1" in t for t in texts)
    assert not any("Write Write" in t or "Write Read" in t for t in texts)
    maps = [t for t in texts if t.startswith("device maps PRPs")]
    assert any("1 segment (one physically contiguous piece" in t for t in maps)
    two = ev.MapPrp(
        prp1=0x1000, prp2=0x9000, length=8192, segments=[(0x1000, 4096), (0x9000, 4096)]
    )
    assert describe(two).endswith(
        "into 2 segments (physically contiguous pieces of host memory, one per run of "
        "adjacent PRP pages)"
    )


def test_the_errors_scenario_says_which_nsid_and_why() -> None:
    texts = [describe(e) for e in _events("errors")]
    beyond = [t for t in texts if "beyond NN" in t and t.startswith("Bad input: I/O")]
    assert beyond, "no beyond-NN case"
    assert all(re.search(r"Read 1 block from NSID \d+", t) for t in beyond), beyond


def test_config_dword_read_names_device_and_vendor_id_padded() -> None:
    read = ev.ConfigRead(offset=0, size=4, value=0x00101B36, reg="vendor_id")
    assert describe(read) == (
        "host reads PCI config vendor_id and device_id (4 B at 0x0) = 0x00101b36 "
        "(device_id 0x0010, vendor_id 0x1b36)"
    )
    word = ev.ConfigRead(offset=4, size=2, value=6, reg="command")
    assert describe(word).endswith("command (2 B at 0x4) = 0x0006")


def test_a_cqe_is_shown_whole_and_an_sqe_decoded() -> None:
    cqe = pack_cqe(dw0=7, dw1=0, sqhd=5, sqid=1, cid=4097, phase=1, status=0x0002)
    text = describe(ev.MemRead(addr=0x1000, data=cqe, purpose="CQE CQ1 slot 4"))
    assert text.endswith(
        "DW0 0x7, DW1 0x0, SQ head 5, SQ ID 1, cid 4097, phase 1, status "
        f"{ev.describe_status(0x0002)}"
    )
    # the host says which phase tag is new: the entry it waits for decodes as before
    new = describe(ev.MemRead(addr=0x1000, data=cqe, purpose="CQE CQ1 slot 4, new if P=1"))
    assert new.endswith(f"phase 1, status {ev.describe_status(0x0002)}")
    sqe = pack_sqe(0x02, 8192, nsid=1, prp1=0x2000, prp2=0, cdw10=4, cdw12=7)
    text = describe(ev.MemWrite(addr=0x3000, data=sqe, purpose="SQE read"))
    assert text.endswith(
        "opcode 0x02 (read) cid 8192 nsid 1 prp1=0x2000 prp2=0x0 cdw10=0x4 cdw12=0x7"
    )


def test_a_completion_queue_wrap_says_the_expected_phase_flipped() -> None:
    wraps = [e.text for e in _events("admin-tour") if getattr(e, "step", "") == "cq_wrap"]
    assert wraps
    assert "expected phase flips from 1 to 0" in wraps[0]


def test_the_story_says_why_slot_and_cid_numbers_differ() -> None:
    notes = [e.text for e in _events("identify") if getattr(e, "step", "") == "highlight_numbers"]
    assert len(notes) == 1
    assert "Asynchronous Event Request (cid 31) took an SQ slot" in notes[0]
    assert "tag (bits 11:0)" in notes[0]


def test_the_printed_story_keeps_every_bring_up_step() -> None:
    result = CliRunner().invoke(app, ["trace", "identify", "--story"])
    assert result.exit_code == 0, result.output
    before = result.output.split("# ---- the story")[0]
    for step in (
        "config_read        host reads PCI config vendor_id and device_id",
        "PCI config bar0",
        "PCI config command",
        "PCI config capabilities_ptr",
        "PCI config msix.table",
        "config_write       host writes PCI config msix.mc",
        "host writes MSIX[0].ADDR_LO",
        "host writes MSIX[0].CTRL",
        "host reads CSTS",
        "host reads CAP.LO",
        "host reads CAP.HI",
        "host reads VS",
        "host writes ASQ.HI",
        "host writes ACQ.HI",
        "host writes CC",
        "cmd_start",
    ):
        assert step in before, step
    # a CSTS poll that saw nothing new is not repeated
    csts = re.findall(r"host reads CSTS .* = (0x[0-9a-f]+)", before)
    assert all(a != b for a, b in zip(csts, csts[1:], strict=False)), csts


def _reference_admin_cids() -> list[int]:
    text = REFERENCE.read_text()
    return [int(c) for c in re.findall(r"pci_nvme_admin_cmd cid (\d+) sqid 0", text)]


def test_admin_cids_carry_linux_generation_counter_as_in_the_reference() -> None:
    ours = [
        e.cid for e in _events("admin-tour") if e.kind == "sqe_fetch" and e.sqid == 0
    ]  # fmt: skip
    theirs = _reference_admin_cids()
    assert AER_CID in theirs and AER_CID in ours
    ours_tags = [c for c in ours if c != AER_CID]
    theirs_tags = [c for c in theirs if c != AER_CID]
    n = min(len(ours_tags), len(theirs_tags))
    assert n >= 30
    assert ours_tags[:n] == theirs_tags[:n]
    assert theirs_tags[:8] == [0, 1, 2, 3, 4096, 4097, 4098, 4099]


def test_the_generation_counter_is_four_bits_and_wraps() -> None:
    from nvmescope.host.driver import HostSQ, LinuxDriver, _PendingTable

    drv = LinuxDriver.__new__(LinuxDriver)
    drv._pending = _PendingTable()
    drv._tags = {}
    sq = HostSQ(0, 0x1000, 32, 0)
    cids = [drv._alloc_cid(sq) for _ in range(4 * 17)]
    # synchronous commands: tags 0..3 of the first 4-tag word, each use one generation on
    assert cids[:8] == [0, 1, 2, 3, 4096, 4097, 4098, 4099]
    assert [c >> 12 for c in cids[::4]] == [*range(16), 0]
    # a tag still in use is skipped; with all four busy the next word is used
    for c in cids[-4:]:
        drv._pending[(0, c)] = None
    assert drv._alloc_cid(sq) & 0xFFF == 4
    assert drv._pending.count[0] == 4 and drv._tag_free(sq)  # 4 of the 30 admin tags
    drv._pending[(1, 7)] = drv._pending[(1, 4096 + 8)] = None
    assert not drv._tag_free(HostSQ(1, 0x2000, 3, 1))  # both tags of a 3-entry SQ held
    assert drv._pending.tags[1] == {7: 1, 8: 1}
    del drv._pending[(1, 7)]
    assert drv._tag_free(HostSQ(1, 0x2000, 3, 1)) and drv._pending.tags[1] == {8: 1}
    for c in cids[-4:]:
        drv._pending.pop((0, c))
    assert drv._pending.tags[0] == {} and drv._pending.count[0] == 0


def test_io_cids_are_tags_from_the_first_word_as_in_the_reference() -> None:
    text = REFERENCE.read_text()
    theirs = [int(c) for c in re.findall(r"pci_nvme_io_cmd cid (\d+) ", text)]
    # the reference guest's CPU started in word 7 (tags 448...): tags run up in one word
    assert theirs == list(range(theirs[0], theirs[0] + len(theirs)))
    ours = [e.cid for e in _events("io") if e.kind == "sqe_fetch" and e.sqid == 1]
    assert ours == list(range(len(ours)))


def test_device_fetch_and_post_describe_the_whole_entry() -> None:
    events = _events("identify")
    fetches = [e for e in events if e.kind == "sqe_fetch"]
    posts = [e for e in events if e.kind == "cqe_post"]
    assert fetches and posts
    for e in fetches:
        assert re.search(rf"opcode 0x[0-9a-f]{{2}} \(\w+\) cid {e.cid} nsid ", describe(e))
    for e in posts:
        text = describe(e)
        assert f"SQ head {e.sqhd}, SQ ID {e.sqid}, cid {e.cid}, phase {e.phase}, status " in text


def test_a_completion_with_a_stale_generation_is_named_as_such() -> None:
    from nvmescope.host.driver import HostCQ, LinuxDriver
    from nvmescope.nvme.commands import unpack_cqe

    class Notes:
        def __init__(self) -> None:
            self.texts: list[str] = []

        def note(self, step: str, text: str) -> None:
            self.texts.append(text)

    drv = LinuxDriver.__new__(LinuxDriver)
    drv.api = Notes()  # type: ignore[assignment]
    drv._pending = {(1, 4096 | 5): None}  # type: ignore[dict-item]
    cq = HostCQ(1, 0x1000, 16, 1)
    for cid in (5, 9):
        cqe = unpack_cqe(pack_cqe(dw0=0, dw1=0, sqhd=1, sqid=1, cid=cid, phase=1, status=0))
        assert list(drv.nvme_handle_cqe(cq, 0, cqe))
    stale, unknown = drv.api.texts
    assert "tag 5 is in use, but with generation 1, not 0" in stale
    assert "genctr mismatch" in stale
    assert unknown.endswith(
        "completion for cid 9 on SQ1, which the driver did not send (Linux: 'invalid id 9 "
        "completed on queue 1'): ignored."
    )


def test_bar0_values_are_padded_to_the_access_width() -> None:
    read = ev.MmioRead(addr=0x1C, size=4, value=1, reg="csts")
    assert describe(read) == "host reads CSTS @0x1c (4 B) = 0x00000001"
    wide = ev.MmioRead(addr=0x0, size=8, value=0x0F0107FF, reg="cap")
    assert describe(wide).endswith("(8 B) = 0x000000000f0107ff")
    write = ev.MmioWrite(addr=0x14, size=4, value=0x460061, reg="cc", old=0x460060, new=0x460061)
    assert describe(write) == (
        "host writes CC @0x14 <- 0x00460061 (was 0x00460060, now 0x00460061)"
    )
    checked = 0
    for event in _events("bringup"):
        if event.kind in ("mmio_read", "mmio_write"):
            text = describe(event)
            values = re.split(r" = | <- ", text, maxsplit=1)[1]
            for value in re.findall(r"0x[0-9a-f]+", values):
                assert len(value) == 2 + 2 * event.size, text
                checked += 1
    assert checked > 50


def test_the_doorbell_ordering_note_says_what_linux_does() -> None:
    """Linux 6.1 copies the SQE and rings the doorbell with writel(), which is ordered after
    earlier stores: no wmb() of its own, except before a shadow doorbell store."""
    notes = [e.text for e in _events("identify") if getattr(e, "step", "") == "wmb"]
    assert notes and all("writel()" in t and "no wmb() of its own" in t for t in notes)
    assert not any(t.startswith("Write barrier (wmb)") for t in notes)
    m = Machine(ControllerConfig(dbbuf=True), scenario="io")
    m.run()
    io_notes = {e.text for e in m.events if getattr(e, "step", "") == "wmb"}
    assert any("explicit wmb()" in t and "shadow doorbell" in t for t in io_notes)
    assert any("writel()" in t for t in io_notes)  # the admin queue rings by MMIO only


def test_create_queue_starts_show_qsize_as_cdw10_holds_it_and_the_entries() -> None:
    """QSIZE is 0's based: QEMU's trace prints 'qsize=1023' for a 1024-entry queue; a
    QSIZE of 0 is a one-entry queue, invalid, not a 'zero' queue size."""
    texts = [describe(e) for e in _events("errors")]
    assert any("create_io_cq (opcode 0x05) nsid 0 qid 1 qsize 1023 (1024 entries)" in t
               for t in texts)  # fmt: skip
    assert any("qid 2 qsize 0 (1 entry)" in t for t in texts)
    (err,) = [t for t in texts if t.startswith("the queue size is invalid")]
    assert "QSIZE 0h (a one-entry queue)" in err and "is zero" not in err
    reference = REFERENCE.read_text()
    assert "cqid=1, vector=1, qsize=1023" in reference


def test_the_first_cap_high_half_note_names_what_nvme_pci_enable_uses() -> None:
    """nvme_pci_enable takes MQES and DSTRD from CAP (and NSSRS counts from VS 1.1 on);
    MPSMAX is never looked at by Linux 6.1, and MPSMIN only in nvme_enable_ctrl."""
    notes = [e.text for e in _events("bringup") if getattr(e, "step", "") == "read_cap_hi"]
    first, enable, again = notes
    why = first.split("): ", 1)[1]
    assert "DSTRD" in why and "MPSMAX" not in why and "MPSMIN" not in why
    assert "MPSMIN" in enable.split("): ", 1)[1] and "MPSMAX" not in enable.split("): ", 1)[1]
    assert "CRMS" in again


def test_a_cc_field_changed_while_enabled_is_not_described_as_aqa() -> None:
    """ub_mmio_while_enabled serves AQA/ASQ/ACQ and CC.MPS/AMS/CSS alike: its sentence
    names neither, the detail says which and what the device did."""
    m = Machine(ControllerConfig(), scenario="bringup")
    m.run()
    m.api.mmio_write32(0x24, 0x0007_0007)  # AQA while enabled
    m.api.mmio_write32(0x14, 0x0046_0061 | 1 << 7)  # CC.MPS while enabled
    m.api.run_until_idle()
    aqa, cc = [describe(e) for e in m.events if e.kind == "ub_mmio_while_enabled"]
    assert aqa.endswith("written while CC.EN=1: AQA, ignored")
    assert cc.endswith("written while CC.EN=1: CC.MPS/AMS/CSS, the old values kept")
    assert "AQA" not in cc


def test_an_invalid_nsid_is_not_called_inactive() -> None:
    """The specification tells an invalid NSID (0h, or above NN and not FFFFFFFFh) from an
    inactive one; both earn Invalid Namespace or Format, and the detail says which."""
    texts = [describe(e) for e in _events("errors") if e.kind == "err_invalid_nsid"]
    assert any("NSID 0xdead is not a valid NSID: it is above NN (1)" in t for t in texts)
    assert any("NSID 0x0 is not a valid NSID: it names no namespace" in t for t in texts)
    assert any("NSID 0x2 is not a valid NSID: it is above NN (1)" in t for t in texts)
    assert not any("0x0 is not an active" in t or "0x2 is not an active" in t for t in texts)
    m = Machine(ControllerConfig(nn=4), scenario="bringup")
    m.run()
    buf = m.api.alloc(4096)
    assert not m.driver.run(m.driver.nvme_read(1, 3, 0, 1, buf, 512)).ok
    (inactive,) = [describe(e) for e in m.events if e.kind == "err_invalid_nsid"]
    assert inactive.endswith(
        "NSID 0x3 is valid (up to NN=4) but no namespace is attached: it is not an active namespace"
    )


def test_a_dma_to_no_memory_says_what_a_real_bus_would_do() -> None:
    texts = [describe(e) for e in _events("errors")]
    (case,) = [t for t in texts if t.startswith("Bad input: DMA to unmapped memory")]
    assert "as QEMU's does" in case and "posted" in case and "Unsupported Request" in case
    (err,) = [t for t in texts if t.startswith("a DMA reached no host memory")]
    assert "not mapped by the host: data transfer error" not in err


def test_host_behavior_note_says_only_what_is_switched_on() -> None:
    """Linux 6.1's nvme_configure_host_options sets ACRE when CRDT1 is not 0 and LBAFEE when
    CTRATT.ELBAS is set: the note must not claim retry delays are honoured with ACRE=0."""
    from nvmescope.emulator.config import profile_config
    from nvmescope.host.driver import LinuxDriver

    m = Machine(profile_config("qemu-7.2"), scenario="bringup")
    m.run()
    (note,) = [e.text for e in m.events if getattr(e, "step", "") == "host_behavior"]
    assert "extended LBA formats (LBAFEE=1" in note and "ACRE stays 0" in note
    assert "honours" not in note

    class Notes:
        texts: list[str] = []

        def note(self, step: str, text: str) -> None:
            self.texts.append(text)

    drv = LinuxDriver.__new__(LinuxDriver)
    drv.api = Notes()  # type: ignore[assignment]
    drv._id_field = {"crdt1": 3, "ctratt": 0}.__getitem__  # type: ignore[method-assign]
    task = drv.nvme_configure_host_options()
    next(task)  # the note, then the Set Features it announces (not run here)
    assert "the host honours its command retry delays (ACRE=1" in Notes.texts[0]
    assert "LBAFEE stays 0" in Notes.texts[0]


def test_a_cq_slot_read_that_finds_no_new_completion_says_so_instead_of_a_status() -> None:
    old = pack_cqe(dw0=0, dw1=0, sqhd=3, sqid=1, cid=9, phase=1, status=0)
    stale = describe(ev.MemRead(addr=0x1000, data=old, purpose="CQE CQ1 slot 4, new if P=0"))
    assert stale == "host reads CQ1 slot 4: no new completion (phase tag 1, not 0; an old entry)"
    assert "Successful" not in stale
    empty = describe(ev.MemRead(addr=0x1000, data=bytes(16), purpose="CQE CQ1 slot 5, new if P=1"))
    # what it found comes first, where a narrow timeline cuts the line
    assert empty == (
        "host reads CQ1 slot 5: no new completion (phase tag 0, not 1; all zeros: never written)"
    )
    # a purpose that only looks like one is described as any other read
    for odd in ("CQE CQ1 slot 5, new if P=", "CQE CQ1 slot 5, new if P=01", "CQE, new if P=2"):
        assert describe(ev.MemRead(addr=0x1000, data=bytes(16), purpose=odd)).startswith(
            f"host reads 16 B of its memory @0x1000 ({odd}): DW0 0x0"
        )


def test_the_driver_says_which_phase_tag_it_waits_for_in_each_cq_slot_read() -> None:
    from nvmescope.machine import Machine

    m = Machine(scenario="identify")
    m.run()
    reads = [e for e in m.events if e.kind == "mem_read" and e.purpose.startswith("CQE")]
    stale = [e for e in reads if "no new completion" in describe(e)]
    # a poll of the CQ ends at a slot with the old phase tag: some reads find none
    assert reads and stale and len(stale) < len(reads)
    for e in reads:
        wanted = int(e.purpose.rsplit(ev.NEW_IF_PHASE, 1)[1])
        assert ((e.data[14] & 1) == wanted) == (e not in stale)
