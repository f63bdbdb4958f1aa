"""The PRP list page and the Commands Supported and Effects log, declared once in nvme/
and decoded by the generic walker like every other layout."""

from __future__ import annotations

import struct

from layouts import common

from nvmescope.nvme import logpages
from nvmescope.nvme.commands import PRP_ENTRY_SIZE, PRP_LIST, PRP_LIST_ENTRIES
from nvmescope.nvme.decode import LAYOUTS, decode


def test_a_prp_list_page_is_512_little_endian_page_addresses():
    pages = [0x10019000 + 0x1000 * i for i in range(PRP_LIST_ENTRIES)]
    raw = struct.pack(f"<{PRP_LIST_ENTRIES}Q", *pages)
    common(PRP_LIST, raw, pages, 4096)
    assert PRP_ENTRY_SIZE * PRP_LIST_ENTRIES == LAYOUTS["prp_list"].size == 4096


def test_prp_list_entries_decode_at_their_offsets_with_their_addresses():
    raw = struct.pack("<3Q", 0x10019000, 0x1001A000, 0x1001B200) + bytes(4096 - 24)
    tree = decode("prp_list", raw)
    entry = tree.find("[1]")
    assert (entry.offset, entry.size, entry.value) == (8, 8, 0x1001A000)
    assert "page address 0x1001a000" in entry.meaning
    assert "not page aligned" in tree.find("[2]").meaning  # an offset is refused by the device
    assert tree.at(17) is tree.find("[2]")


def test_the_commands_supported_and_effects_log_decodes_one_entry_per_opcode():
    acs = [0] * 256
    acs[0x06] = logpages.CMD_EFFECTS_CSUPP
    iocs = [0] * 256
    iocs[0x01] = logpages.CMD_EFFECTS_CSUPP | logpages.CMD_EFFECTS_LBCC
    raw = struct.pack("<256I", *acs) + struct.pack("<256I", *iocs) + bytes(2048)
    common(logpages.COMMANDS_SUPPORTED_EFFECTS_LOG, raw, {"acs": acs, "iocs": iocs}, 4096)
    tree = decode("cmd_effects_log", raw)
    identify = tree.find("acs[6]")
    assert identify.offset == 6 * 4 and "Command Supported (CSUPP)" in identify.meaning
    write = tree.find("iocs[1]")
    assert write.offset == 1024 + 4 and "Logical Block Content Change (LBCC)" in write.meaning
    assert "not supported" in tree.find("acs[7]").meaning
