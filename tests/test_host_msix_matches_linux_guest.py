"""The model's MSI-X set-up beside a real Linux 6.1 guest's.

recordings/linux-6.1-bringup-msix.nvmetrace is a real guest's run with the MSI-X
capability visible (`nvmescope linux run -c msix=1`). The proxy delivers no MSI-X
message (each ``irq_msix`` says "not delivered"); the run still completes every command
without a timeout, because nvme's handlers are registered shared and the guest's
``irqpoll`` polls every shared handler on each timer tick. The model runs ``bringup``
with the same knobs. Both sides are reduced to their MSI-X story
(:func:`guest_bringup.msix_story`: Message Control, INTx Disable, each entry's message
and mask, and the landmarks CC.EN, CSTS.RDY and each admin command's doorbell). They
must agree except for the differences listed, each found in its side's story.

The model keeps a simpler set-up on purpose (vector 0 programmed and unmasked at probe,
MSI-X enabled once, each I/O vector before its Create I/O CQ): every shipped recording
and lesson is built on it. What Linux 6.1 does instead is listed, with where it does it.
"""

from __future__ import annotations

import pytest
from guest_bringup import (
    LINUX_BRINGUP_MSIX,
    Difference,
    msix_story,
    recorded_config_matches,
    sides,
    without,
)

from nvmescope.qemu.options import PROXY_KNOBS
from nvmescope.trace import open_recording

KNOBS = {**PROXY_KNOBS, "msix": True}
A = "msix"

DIFFERENCES = [
    Difference(
        "model", A,
        "the model's function starts with Memory Space and Bus Master Enable off and the "
        "driver sets them; in the guest the firmware had (Command 0106h at probe)",
        (("intx_disable", False), ("intx_disable", False)),
    ),
    Difference(
        "model", A,
        "the model's MSI-X set-up at probe: vector 0 programmed and unmasked, MSI-X Enable "
        "set once, INTx Disable; the vector is live before CC.EN",
        (("message", 0), ("masked", 0, False), ("mc", True, False), ("intx_disable", True)),
    ),
    Difference(
        "model", A,
        "the model programs and unmasks an I/O queue's vector before its Create I/O CQ",
        (("message", 1), ("masked", 1, False), ("doorbell", 0x05), ("doorbell", 0x01)),
    ),
    Difference(
        "model", A,
        "the model's Asynchronous Event Request (Linux sends none while OAES is 0: see "
        "tests/test_host_bringup_matches_linux_guest.py)",
        (("doorbell", 0x0C),),
    ),
    Difference(
        "linux", A,
        "nvme_pci_enable's pci_alloc_irq_vectors(1, 1) runs msix_capability_init: Message "
        "Control with Enable and Function Mask (C040h), entry 0 given data EFh (x86's "
        "MANAGED_IRQ_SHUTDOWN_VECTOR: reserved, not started), INTx Disable "
        "(pci_intx_for_msi), every one of the 65 entries masked (msix_mask_all), the "
        "Function Mask cleared (8040h); vector 0 stays masked",
        (("mc", True, True), ("message", 0), ("intx_disable", True), ("mask_all",),
         ("mc", True, False)),
    ),
    Difference(
        "linux", A,
        "nvme_pci_configure_admin_queue requests the admin queue's IRQ (queue_request_irq) "
        "only after nvme_enable_ctrl saw CSTS.RDY: entry 0 gets its vector and is unmasked",
        (("message", 0), ("masked", 0, False)),
    ),
    Difference(
        "linux", A,
        "nvme_setup_io_queues frees the admin IRQ (entry 0 masked, its message cleared), "
        "pci_free_irq_vectors disables MSI-X (0040h) and turns INTx back on, nvme_setup_irqs "
        "allocates two vectors (msix_capability_init again: C040h, entries 0 and 1, INTx "
        "Disable, all masked, 8040h) and the admin IRQ is requested again (entry 0 unmasked)",
        (("masked", 0, True), ("message", 0), ("masked", 0, True), ("mc", False, False),
         ("intx_disable", False), ("mc", True, True), ("message", 0), ("message", 1),
         ("intx_disable", True), ("mask_all",), ("mc", True, False), ("message", 0),
         ("masked", 0, False)),
    ),
    Difference(
        "linux", A,
        "nvme_create_queue requests an I/O queue's IRQ after Create I/O CQ and Create I/O SQ "
        "(queue_request_irq): entry 1 gets its vector and is unmasked",
        (("doorbell", 0x05), ("doorbell", 0x01), ("message", 1), ("masked", 1, False)),
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def both():
    return sides(LINUX_BRINGUP_MSIX, **KNOBS)


def story(s, side: str) -> list:
    events = s.linux if side == "linux" else s.model
    mc = next(e.offset for e in s.model if e.kind == "config_write" and e.reg == "msix.mc")
    return msix_story(events, mc - 2, s.msix_table, s.config.msix_vectors)


def test_the_model_runs_with_the_knobs_the_guest_s_controller_had(both):
    assert both.recorded_config["msix"] is True
    assert recorded_config_matches(both) == []


def test_linux_masks_every_vector_and_unmasks_vector_0_only_after_ready(both):
    linux = story(both, "linux")
    assert linux.count(("mask_all",)) == 2
    ready = linux.index(("ready",))
    assert linux.index(("masked", 0, False)) > ready
    assert linux[:1] == [("mc", True, True)]
    disabled = linux.index(("mc", False, False))
    assert linux.index(("doorbell", 0x05)) > disabled > ready


def test_every_message_was_lost_and_no_command_timed_out():
    events = list(open_recording(LINUX_BRINGUP_MSIX).events())
    msix = [e for e in events if e.kind == "irq_msix"]
    assert msix and not any(e.delivered for e in msix)
    console = [e.text for e in events if e.kind == "host_step" and e.step == "console"]
    assert console and not any("timeout" in line for line in console)
    done = [e for e in events if e.kind == "cqe_post"]
    assert len(done) == len([e for e in events if e.kind == "sqe_fetch"]) > 20


def test_the_model_s_msix_story_is_linux_s_but_for_the_listed_differences(both):
    linux, stale_l = without(story(both, "linux"), [d for d in DIFFERENCES if d.side == "linux"])
    model, stale_m = without(story(both, "model"), [d for d in DIFFERENCES if d.side == "model"])
    assert stale_l + stale_m == [], "listed differences not found (fixed? remove them)"
    # what is left: the landmarks, in the same order
    assert model == linux
    assert ("cc.en",) in linux and ("doorbell", 0x06) in linux
