"""What may stop an I/O command at its namespace before the medium: readiness, write
protection and capacity (NVMe 1.4 / 2.0; generic status values of the NVM command set).

- **Namespace Not Ready** (SCT 0h, SC 82h, DNR clear): for ``not_ready_ns`` of virtual
  time after each CC.EN 0 -> 1, every I/O command to the namespace gets it, as a drive
  that reports ready before its media is (its mapping tables still loading after a power
  loss or a reset; NVMe 2.0 names this "Controller Ready Independent of Media") answers:
  DNR clear says the same command may succeed later, and a host retries it (Linux does,
  after the Command Retry Delay). Admin commands are not affected.
- **Namespace is Write Protected** (SCT 0h, SC 20h, DNR set): while Feature 84h (Namespace
  Write Protection Config) puts the namespace in Write Protect, Write Protect Until Power
  Cycle or Permanent Write Protect, every command that would change its blocks (Write,
  Write Zeroes, Dataset Management with Deallocate, Format NVM) fails with it; reads,
  Compare, Verify and Flush work. Identify Namespace NSATTR bit 0 says so.
- **Capacity Exceeded** (SCT 0h, SC 81h, DNR set): a thin-provisioned namespace (NCAP less
  than NSZE, NSFEAT bit 0) allocates its blocks in 4 KiB pages when first written; a Write
  that would allocate more than NCAP's worth fails, before any data moves. NUSE counts the
  blocks of the pages allocated; deallocating (Dataset Management, Write Zeroes with DEAC)
  gives them back.

Feature 84h (CDW11 bits 2:0 WPS) is namespace specific: NSID names one active namespace
(FFFFFFFFh and an inactive NSID are refused). A state ``nwpc`` does not offer, or a
reserved one, is Invalid Field in Command; Write Protect Until Power Cycle and Permanent
Write Protect cannot be left (Feature Not Changeable). A power cycle is a new controller:
no reset a host can ask for (CC.EN, NSSR, FLR, a conventional PCI reset) ends Write
Protect Until Power Cycle here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..nvme import status as st
from ..nvme.commands import DSM_AD
from ..nvme.copy import OPC_COPY
from ..sim import Task
from .common import NSID_ALL, Problem, nsid_problem
from .namespace import PAGE, Namespace
from .request import Request

if TYPE_CHECKING:
    from .context import CommandContext

NS_NOT_READY = (st.SCT_GENERIC, 0x82)
CAPACITY_EXCEEDED = (st.SCT_GENERIC, 0x81)
NS_WRITE_PROTECTED = (st.SCT_GENERIC, 0x20)

#: Feature 84h, Namespace Write Protection Config
FID_NS_WRITE_PROTECT = 0x84
WPS_NONE, WPS_PROTECT, WPS_UNTIL_POWER_CYCLE, WPS_PERMANENT = 0, 1, 2, 3
WPS_NAMES = {
    WPS_NONE: "No Write Protect",
    WPS_PROTECT: "Write Protect",
    WPS_UNTIL_POWER_CYCLE: "Write Protect Until Power Cycle",
    WPS_PERMANENT: "Permanent Write Protect",
}
#: the NWPC bit that offers each state (No Write Protect and Write Protect: bit 0)
WPS_NWPC_BIT = {WPS_NONE: 0x1, WPS_PROTECT: 0x1, WPS_UNTIL_POWER_CYCLE: 0x2, WPS_PERMANENT: 0x4}
#: Identify Namespace NSATTR bit 0: the namespace is currently write protected
NSATTR_WRITE_PROTECTED = 0x01
#: Identify Namespace NSFEAT bit 0: thin provisioning (NCAP may be less than NSZE)
NSFEAT_THINP = 0x01
#: Get Features SEL 011b: the capabilities of 84h: namespace specific (bit 1), changeable
#: (bit 2); not saveable
CAPABILITIES_84H = 0x6

OPC_WRITE, OPC_WRITE_ZEROES, OPC_DSM = 0x01, 0x08, 0x09
#: I/O commands that change a namespace's blocks (Dataset Management only with AD; Copy
#: writes its destination range)
MODIFYING_OPCODES = frozenset({OPC_WRITE, OPC_WRITE_ZEROES, OPC_DSM, OPC_COPY})
LOC_NSID, LOC_CDW11 = 4, 44


def thin(ns: Namespace) -> bool:
    """The namespace is thin provisioned: NCAP below NSZE."""
    return ns.capacity_bytes < ns.size_bytes


def ncap(ns: Namespace) -> int:
    """Identify Namespace NCAP, in logical blocks of the format in use."""
    return min(ns.nsze, ns.capacity_bytes // ns.lba_size)


def nuse(ns: Namespace) -> int:
    """Identify Namespace NUSE: the blocks allocated (thin provisioning), else NCAP."""
    if not thin(ns):
        return ncap(ns)
    return min(ns.nsze, ns.pages_used * PAGE // ns.lba_size)


def not_ready_problem(ctrl: CommandContext, ns: Namespace) -> Problem | None:
    """Namespace Not Ready while the namespace's media is still coming up after CC.EN."""
    if not ns.not_ready_ns:
        return None
    left = ctrl.enabled_ns + ns.not_ready_ns - ctrl.sched.now
    if left <= 0:
        return None
    return (NS_NOT_READY, "err_ns_not_ready",
            f"NSID {ns.nsid} is not ready yet: its media comes up {ns.not_ready_ns} ns after "
            f"CC.EN=1 ({left} ns from now); DNR is clear, the command may be retried", LOC_NSID)  # fmt: skip


def write_protect_problem(ns: Namespace, opc: int, cdw11: int) -> Problem | None:
    """Namespace is Write Protected for a command that would change a protected namespace."""
    if not ns.wps or opc not in MODIFYING_OPCODES or (opc == OPC_DSM and not cdw11 & DSM_AD):
        return None
    return (NS_WRITE_PROTECTED, "err_ns_write_protected",
            f"NSID {ns.nsid} is in {WPS_NAMES[ns.wps]} (Feature 84h): it takes no writes", 0)  # fmt: skip


def io_access_problem(ctrl: CommandContext, req: Request, ns: Namespace) -> Problem | None:
    """The namespace's own refusal of I/O command ``req`` (not ready, write protected), if
    any; the command's own checks (MDTS, LBA range) come after not ready, before protection."""
    return not_ready_problem(ctrl, ns) or write_protect_problem(ns, req.opcode, req.cmd.cdw11)


def capacity_problem(ns: Namespace, slba: int, nlb: int) -> Problem | None:
    """Capacity Exceeded when writing blocks ``slba`` .. + ``nlb`` would allocate more
    than NCAP's worth of pages on a thin-provisioned namespace."""
    if not thin(ns):
        return None
    new = ns.new_pages(slba * ns.lba_size, nlb * ns.lba_size)
    if not new:
        return None
    limit = ns.capacity_bytes // PAGE
    used = ns.pages_used
    if used + new <= limit:
        return None
    return (CAPACITY_EXCEEDED, "err_capacity_exceeded",
            f"LBA {slba}+{nlb} needs {new} more 4 KiB pages; NSID {ns.nsid} has {used} of its "
            f"{limit} (NCAP {ncap(ns)} blocks) allocated", 48)  # fmt: skip


# -- Feature 84h: Namespace Write Protection Config -----------------------------------------
def feature_supported(ctrl: CommandContext) -> bool:
    return bool(ctrl.config.nwpc & 0x1)


def _target(ctrl: CommandContext, req: Request) -> Task:
    """The namespace Feature 84h names, or None after failing ``req``."""

    nsid = req.cmd.nsid
    if nsid == NSID_ALL:
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_invalid_field",
            "Feature 84h names one namespace; FFFFFFFFh is not one", LOC_NSID,
        )  # fmt: skip
        return None
    ns = ctrl.namespaces.get(nsid)
    if ns is None:
        yield from ctrl.nvme_fail(req, *nsid_problem(ctrl, nsid))
    return ns


def nvme_set_write_protect(ctrl: CommandContext, req: Request) -> Task:
    """Set Features 84h: CDW11 bits 2:0 WPS, the namespace's new write protection state."""
    ns = yield from _target(ctrl, req)
    if ns is None:
        return
    if req.cmd.cdw10 >> 31:  # SV: nothing is saveable here
        yield from ctrl.nvme_fail(
            req, st.FEATURE_NOT_SAVEABLE, "err_feature_not_saveable",
            "feature 0x84 cannot be saved", 40 + 3 | (7 << 8),
        )  # fmt: skip
        return
    wps = req.cmd.cdw11 & 0x7
    offered = wps in WPS_NWPC_BIT and ctrl.config.nwpc & WPS_NWPC_BIT[wps]
    if not offered:
        why = WPS_NAMES[wps] + " is not offered (NWPC)" if wps in WPS_NAMES else "reserved"
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_invalid_field", f"WPS {wps}: {why}", LOC_CDW11
        )
        return
    if ns.wps in (WPS_UNTIL_POWER_CYCLE, WPS_PERMANENT):
        yield from ctrl.nvme_fail(
            req, st.FEATURE_NOT_CHANGEABLE, "err_feature_not_changeable",
            f"NSID {ns.nsid} is in {WPS_NAMES[ns.wps]}: no Set Features leaves it", LOC_CDW11,
        )  # fmt: skip
        return
    yield from ctrl.new_step()
    ns.wps = wps


def nvme_get_write_protect(ctrl: CommandContext, req: Request, sel: int) -> Task:
    """Get Features 84h: Dword 0 bits 2:0 the state (SEL 0 current, 1 default, 2 saved:
    nothing is saved, so the default), or the capabilities (SEL 3)."""
    ns = yield from _target(ctrl, req)
    if ns is None:
        return
    if sel == 3:
        req.dw0 = CAPABILITIES_84H
    else:
        req.dw0 = ns.wps if sel == 0 else WPS_NONE
