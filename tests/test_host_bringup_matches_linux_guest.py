"""The host model's bring-up beside a real Linux 6.1 guest's on the same controller.

recordings/linux-6.1-bringup.nvmetrace is a real guest's run (`nvmescope linux run`,
the defaults: no MSI-X capability, a 32-bit BAR0, so Linux uses INTx). The model runs
the ``bringup`` scenario with the same knobs. The register and doorbell order, the
admin commands (opcode, NSID, CDW10..CDW15) and the configuration accesses must be the
same, except for the differences listed here, each with its reason from Linux 6.1's
drivers/nvme/host/{pci,core}.c and drivers/pci/. Every listed difference must be found
in its side's sequence (:func:`guest_bringup.without` reports it stale otherwise), so
the list cannot outlive what it explains. tests/guest_bringup.py says what is compared.
"""

from __future__ import annotations

import pytest
from guest_bringup import LINUX_BRINGUP, Difference, sides, without

from nvmescope.qemu.options import PROXY_KNOBS

# -- what differs, and why ---------------------------------------------------------------
AER_WHY = (
    "Linux 6.1's nvme_enable_aen returns before it queues async_event_work when OAES has "
    "none of the notices it handles (our OAES is 0), so it never submits an Asynchronous "
    "Event Request; the model submits one anyway, because its scenarios (errors: an invalid "
    "doorbell write reported by an asynchronous event) need the controller to have one"
)
REGISTERS = [Difference("model", "registers", AER_WHY, (("doorbell", "SQ0 tail", 0x0C),))]
COMMANDS = [Difference("model", "commands", AER_WHY, ((0x0C, 0, 0, 0, 0, 0, 0, 0),))]


def _r(offset: int, size: int) -> tuple[str, int, int]:
    return ("read", offset, size)


CONFIG = [
    Difference(
        "model", "config",
        "the model is the platform's enumeration as well: nvme_pci_enable reads the IDs, "
        "sizes BAR0 and places it; in the guest SeaBIOS placed BAR0 and Linux's PCI core "
        "sized it at boot (pci_scan_device, __pci_read_base), before nvme_probe ran",
        (_r(0x00, 4), _r(0x10, 4), ("write", 0x10, 4, 0xFFFFFFFF), _r(0x10, 4),
         ("write", 0x10, 4, 0xFEB00000)),
    ),
    Difference(
        "model", "config",
        "the model's function starts with Memory Space and Bus Master Enable off and the "
        "driver sets them (pci_enable_device_mem, pci_set_master); in the guest the firmware "
        "had set both (Command 0106h at probe), so Linux reads Command and writes nothing",
        (("write", 0x04, 2, 0x0002), ("write", 0x04, 2, 0x0006)),
    ),
    Difference(
        "model", "config",
        "the model walks the capability list for MSI-X at probe; Linux found the MSI-X "
        "capability at enumeration (pci_msi_init/pci_msix_init keep dev->msix_cap), and its "
        "probe walks for it no more (this function has none: the proxy carries no MSI-X)",
        (_r(0x34, 1), _r(0x40, 2), _r(0x60, 2)),
    ),
    Difference(
        "linux", "config",
        "pci_enable_device_flags first reads PMCSR to learn the function's power state; "
        "the model has no power management",
        (_r(0x44, 2),),
    ),
    Difference(
        "linux", "config",
        "do_pci_enable_device reads Interrupt Pin and, the function having a pin, Command, to "
        "clear INTx Disable if it were set; the model does not look",
        (_r(0x3D, 1), _r(0x04, 2)),
    ),
    Difference(
        "linux", "config",
        "pci_set_master reads Command and, Bus Master Enable already being set, writes "
        "nothing; pci_alloc_irq_vectors' INTx path (pci_intx(dev, 1)) reads it again at "
        "probe and in nvme_setup_io_queues",
        (_r(0x04, 2),),
        times=3,
    ),
    Difference(
        "linux", "config",
        "pci_save_state (nvme_pci_enable, after CMBSZ): the header's 16 dwords, then "
        "pci_save_pcie_state's Device Control, Link Control, Device Control 2 and Link "
        "Control 2; the model saves no state",
        (*(_r(o, 4) for o in range(0x00, 0x40, 4)), _r(0x68, 2), _r(0x70, 2), _r(0x88, 2),
         _r(0x90, 2)),
    ),
    Difference(
        "linux", "config",
        "pci_save_state's pci_save_pcix_state looks for a PCI-X capability "
        "(pci_find_capability: Status for the capability list, then the list from 34h); "
        "there is none, so it saves nothing",
        (_r(0x06, 2), _r(0x34, 1), _r(0x40, 2), _r(0x60, 2)),
    ),
]  # fmt: skip
DIFFERENCES = {"registers": REGISTERS, "commands": COMMANDS, "config": CONFIG}


@pytest.fixture(scope="module")
def both():
    return sides(LINUX_BRINGUP, **PROXY_KNOBS)


def test_the_model_runs_with_the_knobs_the_guest_s_controller_had(both):
    from guest_bringup import recorded_config_matches

    assert PROXY_KNOBS == {"msix": False, "bar0_64bit": False}
    assert both.recorded_config["msix"] is False
    assert recorded_config_matches(both) == []


def test_the_window_is_the_driver_s_probe_and_nothing_else(both):
    assert both.linux[0].kind == "host_step" and "pci function" in both.linux[0].text
    assert not any(e.kind == "doorbell_sq" and e.sqid for e in both.linux)
    assert any(e.kind == "ctrl_state" and e.state == "ready" for e in both.linux)


@pytest.mark.parametrize("sequence", ["registers", "commands", "config"])
def test_the_model_s_bring_up_is_the_guest_s_but_for_the_listed_differences(both, sequence):
    diffs = DIFFERENCES[sequence]
    linux, stale_l = without(both.items(sequence, "linux"), [d for d in diffs if d.side == "linux"])
    model, stale_m = without(both.items(sequence, "model"), [d for d in diffs if d.side == "model"])
    assert stale_l + stale_m == [], "listed differences not found (fixed? remove them)"
    assert model == linux


def test_the_sequences_are_not_empty(both):
    regs = both.items("registers", "linux")
    assert ("write", "cc", 0x460061) in regs and ("read", "cmbsz") in regs
    assert [c[0] for c in both.items("commands", "linux")] == [
        0x06, 0x02, 0x09, 0x02, 0x09, 0x05, 0x01, 0x06, 0x06, 0x06, 0x06, 0x06,
    ]  # fmt: skip


def test_a_difference_not_found_is_reported_stale():
    d = Difference("model", "commands", "a command nobody sends", ((0x7F, 0, 0, 0, 0, 0, 0, 0),))
    left, stale = without([(0x06, 0, 1, 0, 0, 0, 0, 0)], [d])
    assert stale == ["a command nobody sends"] and left == [(0x06, 0, 1, 0, 0, 0, 0, 0)]
