"""Namespace Management (admin 0Dh) and Namespace Attachment (15h), NVMe 2.0 base 5.22/5.23.

Only with ``ControllerConfig.ns_mgmt`` (Identify Controller OACS bit 3); otherwise both
opcodes are Invalid Command Opcode and Identify CNS 10h..13h Invalid Field.

The controller keeps every allocated namespace in ``ctrl.allocated`` (NSID -> namespace);
those attached to it, its active namespaces, are also in ``ctrl.namespaces``. The NVM
subsystem has this one controller, CNTLID 0h: a Controller List names it or is invalid.
Attachment outlives a controller reset (it is the subsystem's, not the controller's).

- Create (SEL 0h): the host's 4096-byte buffer is laid out as Identify Namespace; the
  controller takes NSZE, NCAP, FLBAS, DPS and NMIC (the other fields are the host's
  hints or ignored). The new namespace gets the lowest NSID 1..NN that is not allocated
  (Dword 0 of the completion), the controller's LBA formats, sparse RAM as its store, and
  is attached to no controller. Refused: a CSI other than NVM (I/O Command Set Not
  Supported); NSZE 0, NCAP above NSZE, DPS or NMIC non-zero (no protection information,
  no sharing: Invalid Field); NCAP below NSZE (Thin Provisioning Not Supported: NSFEAT
  bit 0 is clear); an LBA format not in the list, or one with metadata (Invalid Format);
  more bytes than UNVMCAP (Namespace Insufficient Capacity); every NSID up to NN in use
  (Namespace Identifier Unavailable).
- Delete (SEL 1h): NSID FFFFFFFFh deletes every allocated namespace. An attached
  namespace is detached first (a Namespace Attribute Changed notice, as for a detach).
  Its store is let go: RAM is freed; a file-backed namespace (configured with a file)
  closes its file and releases the file's lock, and the file stays on disk with its data
  (the capacity it took is unallocated again). Refused: NSID 0h or above NN (Invalid
  Namespace or Format); a valid NSID not allocated (Invalid Field).
- Attach (SEL 0h) / detach (SEL 1h) of NSID with a Controller List (4096 bytes: a count,
  then the identifiers). Refused: another SEL (Invalid Field); NSID 0h, FFFFFFFFh or above
  NN (Invalid Namespace or Format); a valid NSID not allocated (Invalid Field); a count of
  0, an identifier other than 0h or one named twice (Controller List Invalid); attaching
  an attached namespace (Namespace Already Attached); detaching one that is not
  (Namespace Not Attached). Namespace Is Private needs a second controller, which this
  subsystem never has.

Capacity: TNVMCAP is ``ControllerConfig.tnvmcap`` (0: twice the configured namespaces'
bytes, so as much again can be created); UNVMCAP is what no allocated namespace holds.

Notices: every attach or detach (a delete's too) puts the NSID in the Changed Namespace
List (log page 04h) and, when Feature 0Bh bit 8 is set, queues the Notice "Namespace
Attribute Changed" (information 00h, log page 04h). The event completes an outstanding
Asynchronous Event Request and then masks Notices until the host reads log 04h with RAE
cleared (``admin.nvme_get_log``); the same event is never queued twice. Reading the log
returns the NSIDs changed since the last read and empties the list: up to 1024 of them,
or FFFFFFFFh in entry 0 and zeros when more changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..nvme import identify as idf
from ..nvme import logpages as lp
from ..nvme import status as st
from ..sim import Task
from .config import NamespaceConfig
from .namespace import Namespace
from .request import Request

if TYPE_CHECKING:
    from .context import CommandContext

OPC_NS_MGMT = 0x0D
OPC_NS_ATTACHMENT = 0x15
SEL_CREATE, SEL_DELETE = 0x0, 0x1
SEL_ATTACH, SEL_DETACH = 0x0, 0x1
#: this controller's identifier (Identify Controller CNTLID), the subsystem's only one
CNTLID = 0
NSID_ALL = 0xFFFFFFFF
DATA_SIZE = 4096
#: Feature 0Bh / OAES bit 8: Namespace Attribute Notices
AEC_NS_ATTR = 1 << 8
LOC_NSID, LOC_PRP1, LOC_CDW10, LOC_CDW11 = 4, 24, 40, 44
#: I/O Command Set Not Supported (command specific 29h)
IOCS_NOT_SUPPORTED = (st.SCT_COMMAND_SPECIFIC, 0x29)
KIND = "err_ns_management"


# -- capacity ------------------------------------------------------------------------------
def tnvmcap(ctrl: CommandContext) -> int:
    """Total NVM Capacity in bytes: the knob, or twice the configured namespaces' bytes."""
    if ctrl.config.tnvmcap:
        return ctrl.config.tnvmcap
    return 2 * ctrl.configured_bytes


def unvmcap(ctrl: CommandContext) -> int:
    """Unallocated NVM Capacity in bytes: what no allocated namespace holds."""
    return max(0, tnvmcap(ctrl) - sum(ns.size_bytes for ns in ctrl.allocated.values()))


def _nsid_invalid(ctrl: CommandContext, nsid: int) -> str | None:
    """Why ``nsid`` is not a valid NSID for these commands (None when it is valid)."""
    if nsid == 0:
        return "NSID 0x0 is not a valid NSID: it names no namespace"
    if nsid == NSID_ALL:
        return "NSID 0xffffffff (every namespace) is not taken here"
    if nsid > ctrl.config.nn:
        return f"NSID {nsid:#x} is not a valid NSID: it is above NN ({ctrl.config.nn})"
    return None


def _check_nsid(ctrl: CommandContext, req: Request, nsid: int) -> Task:
    """A valid, allocated NSID, or the command fails (and True is returned)."""
    why = _nsid_invalid(ctrl, nsid)
    if why is not None:
        yield from ctrl.nvme_fail(req, st.INVALID_NS_OR_FORMAT, "err_invalid_nsid", why, LOC_NSID)
        return True
    if nsid not in ctrl.allocated:
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_invalid_nsid",
            f"NSID {nsid:#x} is valid (up to NN={ctrl.config.nn}) but no namespace is allocated "
            "with it", LOC_NSID,
        )  # fmt: skip
        return True
    return False


# -- notices ---------------------------------------------------------------------------------
def ns_attr_changed(ctrl: CommandContext, nsid: int) -> None:
    """``nsid`` was attached or detached: note it in the Changed Namespace List, and queue
    the Namespace Attribute Changed notice if the host enabled it (Feature 0Bh bit 8)."""
    ctrl.changed_nsids.add(nsid)
    if ctrl.state.features[0x0B] & AEC_NS_ATTR:
        ctrl.nvme_enqueue_event(st.AER_TYPE_NOTICE, st.AER_INFO_NS_ATTR_CHANGED, 0x04)


def changed_ns_log(ctrl: CommandContext) -> bytes:
    """Log page 04h as of now (:func:`changed_ns_log_read` empties it once it was sent)."""
    changed = sorted(ctrl.changed_nsids)
    if len(changed) > lp.CHANGED_NS_LIST_ENTRIES:
        changed = [lp.CHANGED_NS_OVERFLOW]
    return lp.CHANGED_NS_LIST.build(changed + [0] * (lp.CHANGED_NS_LIST_ENTRIES - len(changed)))


def changed_ns_log_read(ctrl: CommandContext) -> None:
    """The host read the Changed Namespace List: those changes were reported."""
    ctrl.changed_nsids.clear()


# -- Identify ----------------------------------------------------------------------------------
def identify(
    ctrl: CommandContext,
    req: Request,
    cns: int,
    namespace_data: Callable[[CommandContext, Namespace], bytes],
) -> Task:
    """Identify CNS 10h..13h: the data, or None when the command failed (``namespace_data``
    builds an Identify Namespace page)."""
    c = req.cmd
    nsid = c.nsid
    if cns == 0x10:
        if nsid >= 0xFFFFFFFE:
            yield from ctrl.nvme_fail(
                req, st.INVALID_NS_OR_FORMAT, "err_invalid_nsid",
                f"NSID {nsid:#x} for the allocated namespace list", LOC_NSID,
            )  # fmt: skip
            return None
        return idf.build_active_ns_list(sorted(n for n in ctrl.allocated if n > nsid))
    if cns == 0x13:
        cntid = c.cdw10 >> 16
        return idf.build_controller_list([CNTLID] if CNTLID >= cntid else [])
    why = _nsid_invalid(ctrl, nsid)
    if why is not None:
        yield from ctrl.nvme_fail(req, st.INVALID_NS_OR_FORMAT, "err_invalid_nsid", why, LOC_NSID)
        return None
    if cns == 0x11:
        ns = ctrl.allocated.get(nsid)
        if ns is None:
            return bytes(DATA_SIZE)  # an unallocated NSID: zeros
        return namespace_data(ctrl, ns)
    # CNS 12h: the controllers attached to an allocated NSID, identifiers >= CNTID
    if nsid not in ctrl.allocated:
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_invalid_nsid",
            f"NSID {nsid:#x} is not an allocated namespace", LOC_NSID,
        )  # fmt: skip
        return None
    cntid = c.cdw10 >> 16
    attached = nsid in ctrl.namespaces and CNTLID >= cntid
    return idf.build_controller_list([CNTLID] if attached else [])


# -- Namespace Management --------------------------------------------------------------------
def _create_problem(ctrl: CommandContext, req: Request, data: bytes) -> tuple | None:
    """What refuses a create with host data ``data`` (``nvme_fail``'s arguments after req)."""
    cfg = ctrl.config
    csi = req.cmd.cdw11 >> 24
    if csi != 0:
        return (IOCS_NOT_SUPPORTED, KIND, f"CSI {csi:#x}: only the NVM command set (0h)",
                LOC_CDW11 + 3)  # fmt: skip
    ns = idf.IDENTIFY_NAMESPACE.parse(data)
    index = idf.flbas_index(ns.flbas) if cfg.ctratt & idf.CTRATT_ELBAS else ns.flbas & 0xF
    formats = tuple(cfg.lba_formats)
    if ns.nsze == 0:
        return (st.INVALID_FIELD, "err_invalid_field", "NSZE 0: a namespace of no blocks",
                0xFFFF)  # fmt: skip
    if ns.ncap > ns.nsze:
        return (st.INVALID_FIELD, "err_invalid_field",
                f"NCAP {ns.ncap} is more than NSZE {ns.nsze}", 0xFFFF)  # fmt: skip
    if ns.ncap < ns.nsze:
        return (st.THIN_PROVISIONING_NOT_SUPPORTED, KIND,
                f"NCAP {ns.ncap} below NSZE {ns.nsze}: thin provisioning (NSFEAT bit 0) is "
                "not supported", 0xFFFF)  # fmt: skip
    if ns.dps:
        return (st.INVALID_FIELD, "err_invalid_field",
                f"DPS {ns.dps:#x}: end-to-end protection is not supported", 0xFFFF)  # fmt: skip
    if ns.nmic:
        return (st.INVALID_FIELD, "err_invalid_field",
                f"NMIC {ns.nmic:#x}: this subsystem has one controller, no shared namespaces",
                0xFFFF)  # fmt: skip
    if index >= len(formats):
        return (st.INVALID_FORMAT, KIND,
                f"FLBAS {ns.flbas:#x} names LBA format {index}; there are {len(formats)}",
                0xFFFF)  # fmt: skip
    if formats[index][0]:
        return (st.INVALID_FORMAT, KIND,
                f"LBA format {index} has {formats[index][0]} bytes of metadata, which this "
                "device does not transfer", 0xFFFF)  # fmt: skip
    size = ns.nsze << formats[index][1]
    free = unvmcap(ctrl)
    if size > free:
        return (st.NS_INSUFFICIENT_CAPACITY, KIND,
                f"{ns.nsze} blocks of {1 << formats[index][1]} bytes ({size} bytes) is more "
                f"than the {free} bytes unallocated (UNVMCAP)", 0xFFFF)  # fmt: skip
    if _free_nsid(ctrl) is None:
        return (st.NS_ID_UNAVAILABLE, KIND,
                f"every NSID up to NN={cfg.nn} is allocated", 0xFFFF)  # fmt: skip
    return None


def _free_nsid(ctrl: CommandContext) -> int | None:
    return next((n for n in range(1, ctrl.config.nn + 1) if n not in ctrl.allocated), None)


def nvme_ns_mgmt(ctrl: CommandContext, req: Request) -> Task:
    c = req.cmd
    sel = c.cdw10 & 0xF
    if sel == SEL_CREATE:
        data = yield from ctrl.nvme_map_and_transfer(req, DATA_SIZE, None, "namespace management")
        if data is None:
            return
        problem = _create_problem(ctrl, req, data)
        if problem is not None:
            yield from ctrl.nvme_fail(req, *problem)
            return
        ns = idf.IDENTIFY_NAMESPACE.parse(data)
        cfg = ctrl.config
        index = idf.flbas_index(ns.flbas) if cfg.ctratt & idf.CTRATT_ELBAS else ns.flbas & 0xF
        formats = tuple(cfg.lba_formats)
        nsid = _free_nsid(ctrl)
        assert nsid is not None
        yield from ctrl.new_step()
        ctrl.allocated[nsid] = Namespace(
            NamespaceConfig(nsid, ns.nsze << formats[index][1], index, formats)
        )
        req.dw0 = nsid
        return
    if sel != SEL_DELETE:
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_invalid_field",
            f"SEL {sel:#x}: only create (0h) and delete (1h)", LOC_CDW10,
        )  # fmt: skip
        return
    nsid = c.nsid
    if nsid == NSID_ALL:
        targets = sorted(ctrl.allocated)
    else:
        if (yield from _check_nsid(ctrl, req, nsid)):
            return
        targets = [nsid]
    yield from ctrl.new_step()
    for n in targets:
        if ctrl.namespaces.pop(n, None) is not None:
            ns_attr_changed(ctrl, n)
        ctrl.allocated.pop(n).close()


# -- Namespace Attachment --------------------------------------------------------------------
def nvme_ns_attachment(ctrl: CommandContext, req: Request) -> Task:
    c = req.cmd
    sel, nsid = c.cdw10 & 0xF, c.nsid
    if sel not in (SEL_ATTACH, SEL_DETACH):
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_invalid_field",
            f"SEL {sel:#x}: only attach (0h) and detach (1h)", LOC_CDW10,
        )  # fmt: skip
        return
    if (yield from _check_nsid(ctrl, req, nsid)):
        return
    data = yield from ctrl.nvme_map_and_transfer(req, DATA_SIZE, None, "controller list")
    if data is None:
        return
    ids = idf.parse_controller_list(data)
    problem = None
    if not ids:
        problem = "the Controller List is empty (Number of Identifiers 0)"
    elif any(i != CNTLID for i in ids):
        bad = next(i for i in ids if i != CNTLID)
        problem = (
            f"controller {bad:#x} is not in this subsystem (its one controller is {CNTLID:#x})"
        )
    elif len(ids) > 1:
        problem = f"controller {CNTLID:#x} is named {len(ids)} times"
    if problem is not None:
        yield from ctrl.nvme_fail(req, st.CONTROLLER_LIST_INVALID, KIND, problem, LOC_PRP1)
        return
    attached = nsid in ctrl.namespaces
    if sel == SEL_ATTACH and attached:
        yield from ctrl.nvme_fail(
            req, st.NS_ALREADY_ATTACHED, KIND,
            f"namespace {nsid} is already attached to controller {CNTLID:#x}", LOC_NSID,
        )  # fmt: skip
        return
    if sel == SEL_DETACH and not attached:
        yield from ctrl.nvme_fail(
            req, st.NS_NOT_ATTACHED, KIND,
            f"namespace {nsid} is not attached to controller {CNTLID:#x}", LOC_NSID,
        )  # fmt: skip
        return
    yield from ctrl.new_step()
    if sel == SEL_ATTACH:
        # in place, in NSID order (others hold this dict)
        active = sorted([*ctrl.namespaces.items(), (nsid, ctrl.allocated[nsid])])
        ctrl.namespaces.clear()
        ctrl.namespaces.update(active)
    else:
        del ctrl.namespaces[nsid]
    ns_attr_changed(ctrl, nsid)


def describe(req: Request) -> str:
    """cmd_start's words for the two commands."""
    c = req.cmd
    sel = c.cdw10 & 0xF
    if req.opcode == OPC_NS_MGMT:
        what = {SEL_CREATE: "create", SEL_DELETE: "delete"}.get(sel, f"sel {sel:#x}")
        return f"{what} nsid {c.nsid:#x}" if sel == SEL_DELETE else what
    what = {SEL_ATTACH: "attach", SEL_DETACH: "detach"}.get(sel, f"sel {sel:#x}")
    return f"{what} nsid {c.nsid}"
