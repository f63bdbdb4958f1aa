"""The Deallocated or Unwritten Logical Block error (DULBE).

Where Identify Namespace NSFEAT bit 2 offers it and the host set Feature 05h Error
Recovery bit 16 for the namespace, a Read, Verify, Compare, or a Copy's source range
that touches a block that is deallocated (Dataset Management, Write Zeroes with DEAC,
Format NVM) or was never written fails with Deallocated or Unwritten Logical Block
(SCT 2h Media and Data Integrity Errors, SC 87h) instead of reading zeros. The
namespace's :class:`~nvmescope.emulator.allocation.AllocationMap` knows the blocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..nvme import features as f
from ..nvme import status as st
from .common import Problem

if TYPE_CHECKING:
    from .context import CommandContext
    from .namespace import Namespace


def dulbe_enabled(ctrl: CommandContext, nsid: int) -> bool:
    """The host enabled DULBE for namespace ``nsid`` (Feature 05h bit 16)."""
    return bool(ctrl.state.err_rec.get(nsid, 0) & f.ERROR_RECOVERY_DULBE)


def dulbe_problem(
    ctrl: CommandContext, ns: Namespace, slba: int, nlb: int, what: str = "", loc: int = 0xFFFF
) -> Problem | None:
    """Deallocated or Unwritten Logical Block when DULBE is on for ``ns`` and a block of
    ``slba`` .. ``slba + nlb - 1`` holds no data; else None."""
    if not dulbe_enabled(ctrl, ns.nsid):
        return None
    lba = ns.allocated.first_unallocated(slba, nlb)
    if lba is None:
        return None
    return (st.DEALLOCATED_OR_UNWRITTEN, "err_dulbe",
            f"{what}LBA {lba} of NSID {ns.nsid} is deallocated or was never written "
            "(DULBE is on)", loc)  # fmt: skip
