"""The admin command set (NVMe 1.4 chapter 5).

Each handler is a generator ``nvme_<verb>_<object>(ctrl, req)`` run inside the
submission queue's task: it yields after every event it emits, leaves the
status and Dword 0 in ``req`` and returns; the caller posts the completion.
Failures go through ``ctrl.nvme_fail`` (status with DNR, Error Information log
entry, ``err_*`` event).

Supported: Delete/Create I/O SQ and CQ, Get Log Page (01h Error Information,
02h SMART / Health, 03h Firmware Slot, 05h Commands Supported and Effects), Identify (CNS 00h, 01h, 02h, 03h, and
05h/06h for the NVM command set because CAP.CSS advertises I/O command sets),
Abort, Set/Get Features (01h, 02h, 04h, 05h per namespace, 06h, 07h, 08h, 09h, 0Bh, 0Eh, and 16h Host
Behavior Support when CTRATT bit 15 offers extended LBA formats),
Asynchronous Event Request; Doorbell Buffer Config (7Ch) only when
``ControllerConfig.dbbuf`` is on (then Identify OACS bit 8 says so; see the
controller's module docstring for what shadow doorbells change); Format NVM (80h)
only when ``ControllerConfig.format_nvm`` is on (then OACS bit 1 says so); Namespace
Management (0Dh), Namespace Attachment (15h), Identify CNS 10h..13h and Identify
Namespace with NSID FFFFFFFFh only when ``ControllerConfig.ns_mgmt`` is on (OACS bit 3;
emulator/nsmgmt.py); the Changed Namespace List log (04h) when OAES bit 8 is set. Any other
opcode: Invalid Command Opcode.

Choices: no feature is saveable (SV = 1 gives Feature Identifier Not
Saveable); Number of Queues always allocates ``max_io_queues`` of each (like
QEMU: 64 gives 3F003Fh) and gives Command Sequence Error once I/O queues
exist; Abort marks a command still waiting in its SQ and completes when that
command is fetched (it then completes with Command Abort Requested), or at once
with Dword 0 bit 0 set (not aborted) when the command is not found.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import events as ev
from ..nvme import features as f
from ..nvme import identify as idf
from ..nvme import logpages as lp
from ..nvme import registers as r
from ..nvme import status as st
from ..nvme.opcodes import IDENTIFY_CNS
from ..sim import Task
from . import nsaccess, nsmgmt
from .common import (
    LOC_CDW10,
    LOC_CDW11,
    LOC_CDW12,
    LOC_NSID,
    LOC_OPC,
    LOC_PRP1,
    LOC_PRP2,
    NSID_ALL,
    nsid_problem,
)
from .config import ControllerConfig
from .queues import CompletionQueue, SubmissionQueue
from .request import Request

if TYPE_CHECKING:
    from .context import CommandContext
    from .namespace import Namespace


# Asynchronous event types and information (Figure 146-150 in 1.4): declared in nvme/status.py
AER_TYPE_ERROR, AER_TYPE_SMART = st.AER_TYPE_ERROR, st.AER_TYPE_SMART
AER_INFO_INVALID_DB, AER_INFO_INVALID_DB_VALUE = (
    st.AER_INFO_INVALID_DB,
    st.AER_INFO_INVALID_DB_VALUE,
)
AER_INFO_TEMPERATURE = st.AER_INFO_TEMPERATURE
#: log page whose reading (RAE = 0) clears an event type
AER_TYPE_FOR_LOG = {0x01: AER_TYPE_ERROR, 0x02: AER_TYPE_SMART, 0x04: st.AER_TYPE_NOTICE}

#: Commands Supported and Effects (log page 05h) of the NVM command set's I/O
#: opcodes we implement: Flush, Read, Compare and Verify do not change logical block
#: content; Write, Write Zeroes, Dataset Management (deallocate) and Copy do. Verify (0Ch)
#: and Copy (19h) are there only with ``ControllerConfig.verify`` and ``.copy`` (see
#: :func:`io_command_effects`).
IO_COMMAND_EFFECTS = {
    0x00: lp.CMD_EFFECTS_CSUPP,
    0x01: lp.CMD_EFFECTS_CSUPP | lp.CMD_EFFECTS_LBCC,
    0x02: lp.CMD_EFFECTS_CSUPP,
    0x05: lp.CMD_EFFECTS_CSUPP,
    0x08: lp.CMD_EFFECTS_CSUPP | lp.CMD_EFFECTS_LBCC,
    0x09: lp.CMD_EFFECTS_CSUPP | lp.CMD_EFFECTS_LBCC,
    0x0C: lp.CMD_EFFECTS_CSUPP,
    0x19: lp.CMD_EFFECTS_CSUPP | lp.CMD_EFFECTS_LBCC,
}
OPC_VERIFY, OPC_COPY = 0x0C, 0x19


def io_command_effects(cfg: ControllerConfig) -> Mapping[int, int]:
    """The I/O opcodes this configuration implements, with their effects (Verify and
    Copy only where their knobs are on). One read-only table per combination, made once:
    every I/O command looks its opcode up here."""
    return _io_command_effects(bool(cfg.verify), bool(cfg.copy))


@functools.cache
def _io_command_effects(verify: bool, copy: bool) -> Mapping[int, int]:
    off = ({OPC_VERIFY} if not verify else set()) | ({OPC_COPY} if not copy else set())
    return types.MappingProxyType(
        {opc: e for opc, e in IO_COMMAND_EFFECTS.items() if opc not in off}
    )


def oncs(cfg: ControllerConfig) -> int:
    """Identify Controller ONCS of this configuration: :data:`ONCS`, bit 7 (Verify) when
    Verify is implemented and bit 8 (Copy) when Copy is."""
    return ONCS | (idf.ONCS_VERIFY if cfg.verify else 0) | (idf.ONCS_COPY if cfg.copy else 0)


#: Identify Controller LPA: bit 1 Commands Supported and Effects log, bit 2 extended data
#: (the default of ControllerConfig.lpa; bit 0, SMART per namespace, is a knob)
LPA = 0x06
LPA_SMART_PER_NS = 0x01
#: Identify Controller ONCS: Compare (bit 0), Dataset Management (bit 2), Write Zeroes
#: (bit 3), Save / Select in Set/Get Features (bit 4), Timestamp (bit 6)
ONCS = (
    idf.ONCS_COMPARE
    | idf.ONCS_DSM
    | idf.ONCS_WRITE_ZEROES
    | idf.ONCS_SAVE_SELECT
    | idf.ONCS_TIMESTAMP
)

IDENTIFY_SIZE = 4096


def describe(req: Request) -> str:
    """A short description of a command for cmd_start."""
    c = req.cmd
    if not req.admin:
        if c.opc in (0x01, 0x02):
            slba = (c.cdw11 << 32) | c.cdw10
            return f"nsid {c.nsid} slba {slba} nlb {(c.cdw12 & 0xFFFF) + 1}"
        if c.opc == OPC_COPY:
            sdlba = (c.cdw11 << 32) | c.cdw10
            desfmt = (c.cdw12 >> 8) & 0xF
            return f"nsid {c.nsid} sdlba {sdlba} nr {(c.cdw12 & 0xFF) + 1} desfmt {desfmt}"
        return f"nsid {c.nsid}"
    if c.opc == 0x06:
        cns = c.cdw10 & 0xFF
        hit = IDENTIFY_CNS.get(cns)
        return f"cns {cns:#04x} ({hit.title if hit else 'unknown'}) nsid {c.nsid}"
    if c.opc in (0x09, 0x0A):
        return f"fid {c.cdw10 & 0xFF:#04x} cdw11 {c.cdw11:#x}"
    if c.opc == 0x02:
        numd = ((c.cdw11 & 0xFFFF) << 16 | (c.cdw10 >> 16)) + 1
        return f"lid {c.cdw10 & 0xFF:#04x} len {numd * 4}"
    if c.opc in (0x01, 0x05):
        qsize = c.cdw10 >> 16  # 0's based, as CDW10 holds it (and QEMU's trace prints it)
        entries = ev.plural(qsize + 1, "entry", "entries")
        return f"qid {c.cdw10 & 0xFFFF} qsize {qsize} ({entries}) cdw11 {c.cdw11:#x}"
    if c.opc in (0x00, 0x04):
        return f"qid {c.cdw10 & 0xFFFF}"
    if c.opc == 0x08:
        return f"sqid {c.cdw10 & 0xFFFF} cid {c.cdw10 >> 16}"
    if c.opc in (nsmgmt.OPC_NS_MGMT, nsmgmt.OPC_NS_ATTACHMENT):
        return nsmgmt.describe(req)
    return ""


def nvme_admin_cmd(ctrl: CommandContext, req: Request) -> Task:
    handler = ADMIN_HANDLERS.get(req.opcode)
    if req.opcode == OPC_DBBUF_CONFIG and ctrl.config.dbbuf:
        handler = nvme_dbbuf_config
    if req.opcode == OPC_FORMAT_NVM and ctrl.config.format_nvm:
        handler = nvme_format_nvm
    if ctrl.config.ns_mgmt:
        handler = NS_MGMT_HANDLERS.get(req.opcode, handler)
    if handler is None:
        yield from ctrl.nvme_fail(
            req, st.INVALID_OPCODE, "err_invalid_opcode",
            f"admin opcode {req.opcode:#04x} is not supported", LOC_OPC,
        )  # fmt: skip
        return
    yield from handler(ctrl, req)


# -- queues -------------------------------------------------------------------------------
def _io_queue_limits(ctrl: CommandContext) -> tuple[int, int]:
    nq = ctrl.state.features[f.FID_NUMBER_OF_QUEUES]
    return (nq & 0xFFFF) + 1, (nq >> 16) + 1


def _qid_problem(name: str, qid: int, allowed: int, existing: Any) -> str:
    """Why a Create I/O queue identifier is invalid, in words."""
    if qid == 0:
        return f"{name} 0 is the admin queue: I/O queues are 1..{allowed}"
    if qid > allowed:
        return f"{name} {qid} is beyond the {allowed} I/O queues allocated (Number of Queues)"
    if qid in existing:
        return f"{name} {qid} already exists"
    return f"{name} {qid} is invalid"


#: (CC field, the only value this device takes, entry bytes) per queue type: Identify
#: Controller's SQES and CQES say it (required = maximum), CC.EN 0 -> 1 checks it
ENTRY_SIZES = {"cq": ("iocqes", 4, 16), "sq": ("iosqes", 6, 64)}


def _nvme_check_queue_shape(
    ctrl: CommandContext, req: Request, qtype: str, qsize: int, pc: bool
) -> Task:
    """Create I/O CQ/SQ: size within CAP.MQES, entry size from CC, contiguity.

    A task that fails the command and returns True when the shape is wrong.
    """
    name = qtype.upper()
    field, wanted, entry = ENTRY_SIZES[qtype]
    problem = None
    if qsize < 2 or qsize > ctrl.config.mqes + 1:
        problem = (st.INVALID_QSIZE, "err_invalid_qsize",
                   f"{name} size {qsize} outside 2..{ctrl.config.mqes + 1}", LOC_CDW10 + 2)  # fmt: skip
    elif r.CC.get(ctrl.cc, field) != wanted:
        problem = (st.INVALID_QSIZE, "err_invalid_qsize",
                   f"CC.{field.upper()} {r.CC.get(ctrl.cc, field)}: only {entry}-byte entries "
                   f"({wanted})", LOC_CDW10 + 2)  # fmt: skip
    elif not pc:
        problem = (st.INVALID_FIELD, "err_invalid_field",
                   "PC=0: CAP.CQR requires physically contiguous queues", LOC_CDW11)  # fmt: skip
    if problem is None:
        return False
    yield from ctrl.nvme_fail(req, *problem)
    return True


def _nvme_check_queue_base(ctrl: CommandContext, req: Request) -> Task:
    """Create I/O CQ/SQ: the queue base (PRP1) must be page aligned."""
    if req.cmd.prp1 % ctrl.page_size == 0:
        return False
    yield from ctrl.nvme_fail(
        req, st.PRP_OFFSET_INVALID, "err_invalid_prp_offset",
        f"queue base {req.cmd.prp1:#x} is not page aligned", LOC_PRP1,
    )  # fmt: skip
    return True


def nvme_create_cq(ctrl: CommandContext, req: Request) -> Task:
    c = req.cmd
    qid, qsize = c.cdw10 & 0xFFFF, (c.cdw10 >> 16) + 1
    pc, ien, iv = bool(c.cdw11 & 1), bool(c.cdw11 & 2), c.cdw11 >> 16
    _, ncqa = _io_queue_limits(ctrl)
    if qid == 0 or qid > ncqa or qid in ctrl.cqs:
        yield from ctrl.nvme_fail(
            req,
            st.INVALID_QID,
            "err_invalid_qid",
            _qid_problem("CQ", qid, ncqa, ctrl.cqs),
            LOC_CDW10,
        )
        return
    if (yield from _nvme_check_queue_shape(ctrl, req, "cq", qsize, pc)):
        return
    if iv >= ctrl.msix.size or (iv and not ctrl.pci.msix_enabled):
        why = "MSI-X is disabled: pin-based interrupts use vector 0"
        if iv >= ctrl.msix.size:
            why = f"interrupt vector {iv} >= {ctrl.msix.size} vectors"
        yield from ctrl.nvme_fail(req, st.INVALID_VECTOR, "err_invalid_vector", why, LOC_CDW11 + 2)
        return
    if (yield from _nvme_check_queue_base(ctrl, req)):
        return
    yield from ctrl.new_step()
    ctrl.cqs[qid] = CompletionQueue(
        qid, c.prp1, qsize, iv, ien, pc, space=ctrl.sched.signal(f"cq{qid}-space")
    )
    ctrl.state.io_queues_created = True
    yield from ctrl.emit_step(
        ev.QueueCreated(qtype="cq", qid=qid, addr=c.prp1, qsize=qsize, vector=iv, ien=ien, pc=pc),
        req,
    )
    yield from _nvme_shadow_init(ctrl, req, qid, True)


def nvme_create_sq(ctrl: CommandContext, req: Request) -> Task:
    c = req.cmd
    qid, qsize = c.cdw10 & 0xFFFF, (c.cdw10 >> 16) + 1
    pc, qprio, cqid = bool(c.cdw11 & 1), (c.cdw11 >> 1) & 3, c.cdw11 >> 16
    nsqa, _ = _io_queue_limits(ctrl)
    if qid == 0 or qid > nsqa or qid in ctrl.sqs:
        yield from ctrl.nvme_fail(
            req,
            st.INVALID_QID,
            "err_invalid_qid",
            _qid_problem("SQ", qid, nsqa, ctrl.sqs),
            LOC_CDW10,
        )
        return
    if cqid == 0 or cqid not in ctrl.cqs:
        yield from ctrl.nvme_fail(
            req, st.INVALID_CQ, "err_invalid_cqid", f"CQ {cqid} does not exist", LOC_CDW11 + 2
        )
        return
    if (yield from _nvme_check_queue_shape(ctrl, req, "sq", qsize, pc)):
        return
    if (yield from _nvme_check_queue_base(ctrl, req)):
        return
    yield from ctrl.new_step()
    ctrl.sqs[qid] = SubmissionQueue(qid, c.prp1, qsize, cqid, qprio, pc)
    ctrl.cqs[cqid].sqids.append(qid)
    ctrl.state.io_queues_created = True
    yield from ctrl.emit_step(
        ev.QueueCreated(
            qtype="sq", qid=qid, addr=c.prp1, qsize=qsize, cqid=cqid, pc=pc, qprio=qprio
        ),
        req,
    )
    yield from _nvme_shadow_init(ctrl, req, qid, False)


def nvme_del_sq(ctrl: CommandContext, req: Request) -> Task:
    qid = req.cmd.cdw10 & 0xFFFF
    sq = ctrl.sqs.get(qid)
    if qid == 0 or sq is None:
        yield from ctrl.nvme_fail(
            req, st.INVALID_QID, "err_invalid_qid", f"SQ {qid} cannot be deleted", LOC_CDW10
        )
        return
    yield from ctrl.new_step()
    sq.deleted = True
    del ctrl.sqs[qid]
    cq = ctrl.cqs.get(sq.cqid)
    if cq is not None and qid in cq.sqids:
        cq.sqids.remove(qid)
    if cq is not None and cq.space is not None:
        cq.space.fire()  # completions of this SQ waiting for room in a full CQ give up
    # Aborts waiting for a command of this queue: the command will never be fetched
    for key in sorted(k for k in ctrl.state.pending_aborts if k[0] == qid):
        waiter = ctrl.state.pending_aborts.pop(key)
        waiter.dw0 = 1
        ctrl.spawn(ctrl.nvme_complete(waiter), 0, "abort")
    if sq.inflight:
        sq.drained = ctrl.sched.signal(f"sq{qid}-drained")
        yield from ctrl.wait_signal(sq.drained)
    yield from ctrl.emit_step(ev.QueueDeleted(qtype="sq", qid=qid), req)


def nvme_del_cq(ctrl: CommandContext, req: Request) -> Task:
    qid = req.cmd.cdw10 & 0xFFFF
    cq = ctrl.cqs.get(qid)
    if qid == 0 or cq is None:
        yield from ctrl.nvme_fail(
            req, st.INVALID_QID, "err_invalid_qid", f"CQ {qid} cannot be deleted", LOC_CDW10
        )
        return
    if cq.sqids:
        yield from ctrl.nvme_fail(
            req, st.INVALID_QUEUE_DELETION, "err_invalid_delete",
            f"CQ {qid} still serves SQ {sorted(cq.sqids)}", LOC_CDW10,
        )  # fmt: skip
        return
    yield from ctrl.new_step()
    del ctrl.cqs[qid]
    if cq.space is not None:
        cq.space.fire()
    if not ctrl.pci.msix_enabled:
        ctrl.later(ctrl.nvme_irq_recheck)
    yield from ctrl.emit_step(ev.QueueDeleted(qtype="cq", qid=qid), req)


# -- identify -------------------------------------------------------------------------------
def identify_controller_data(ctrl: CommandContext) -> bytes:
    """The Identify Controller page: it depends only on the configuration and VS, so it
    is built once per controller (building 4 KiB with construct costs milliseconds)."""
    # the configuration does not change while a controller lives; VS and UNVMCAP may
    key = (ctrl.vs, nsmgmt.unvmcap(ctrl) if ctrl.config.ns_mgmt else 0)
    cached = ctrl.identify_cache
    if cached is None or cached[0] != key:
        cached = ctrl.identify_cache = (key, _build_identify_controller(ctrl))
    return cached[1]


def _build_identify_controller(ctrl: CommandContext) -> bytes:
    cfg = ctrl.config
    return idf.build_identify_controller(
        vid=cfg.pci_vid & 0xFFFF,
        ssvid=cfg.pci_ssvid & 0xFFFF,
        sn=cfg.serial[:20],
        mn=cfg.model[:40],
        fr=cfg.firmware[:8],
        rab=6,
        ieee=cfg.ieee & 0xFFFFFF,
        mdts=cfg.mdts,
        cntlid=0,
        ver=ctrl.vs,
        oaes=cfg.oaes,
        ctratt=cfg.ctratt,
        cntrltype=1,
        oacs=(idf.OACS_DBBUF if cfg.dbbuf else 0)
        | (OACS_FORMAT_NVM if cfg.format_nvm else 0)
        | (idf.OACS_NS_MGMT if cfg.ns_mgmt else 0),
        tnvmcap=nsmgmt.tnvmcap(ctrl) if cfg.ns_mgmt else 0,
        unvmcap=nsmgmt.unvmcap(ctrl) if cfg.ns_mgmt else 0,
        acl=cfg.acl,
        aerl=cfg.aerl,
        frmw=0x03,  # one slot, slot 1 read-only
        lpa=cfg.lpa,  # Commands Supported and Effects log; extended data (NUMDU, LPOL/LPOU)
        elpe=cfg.elpe,
        npss=0,
        wctemp=cfg.wctemp,
        cctemp=cfg.cctemp,
        sqes=ENTRY_SIZES["sq"][1] * 0x11,  # maximum (7:4) = required (3:0)
        cqes=ENTRY_SIZES["cq"][1] * 0x11,
        nn=cfg.nn,
        oncs=oncs(cfg),
        ocfs=cfg.ocfs if cfg.copy else 0,
        vwc=0x07 if cfg.vwc else 0x00,
        sgls=cfg.sgls,
        nwpc=cfg.nwpc,
        subnqn=cfg.subsystem_nqn[:256],
        psd=[{"max_power": 2500, "entry_lat": 16, "exit_lat": 4}],
    )


def ns_uuid(ctrl: CommandContext, nsid: int) -> bytes:
    """A stable UUID (version 4 layout) derived from the serial number and NSID."""
    raw = bytearray(hashlib.sha256(f"{ctrl.config.serial}/{nsid}".encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return bytes(raw)


def identify_namespace_data(ctrl: CommandContext, nsid: int) -> bytes:
    return namespace_data(ctrl, ctrl.namespaces[nsid])


def namespace_data(ctrl: CommandContext, ns: Namespace) -> bytes:
    """Identify Namespace of ``ns`` (CNS 00h when attached, 11h when allocated)."""
    cfg = ctrl.config
    return idf.build_identify_namespace(
        nsze=ns.nsze,
        ncap=nsaccess.ncap(ns),
        nuse=nsaccess.nuse(ns),
        nsfeat=cfg.nsfeat | (nsaccess.NSFEAT_THINP if nsaccess.thin(ns) else 0),
        nsattr=nsaccess.NSATTR_WRITE_PROTECTED if ns.wps else 0,
        npwg=cfg.npwg,
        npwa=cfg.npwa,
        npdg=cfg.npdg,
        npda=cfg.npda,
        nows=cfg.nows,
        mssrl=cfg.mssrl if cfg.copy else 0,
        mcl=cfg.mcl if cfg.copy else 0,
        msrc=cfg.msrc if cfg.copy else 0,
        nlbaf=len(ns.lba_formats) - 1,
        flbas=idf.encode_flbas(ns.flbas) | (idf.FLBAS_EXTENDED if ns.meta.extended else 0),
        mc=idf.MC_EXTENDED | idf.MC_POINTER if cfg.metadata else 0,
        dpc=idf.DPC_ALL if cfg.metadata else 0,
        dps=ns.meta.dps,
        dlfeat=1,  # deallocated blocks read as zeros
        lbaf=[{"ms": ms, "ds": ds, "rp": 0} for ms, ds in ns.lba_formats],
    )


def nvme_identify(ctrl: CommandContext, req: Request) -> Task:
    c = req.cmd
    cns, csi = c.cdw10 & 0xFF, c.cdw11 >> 24
    nsid = c.nsid
    if cns == 0x01:
        data = identify_controller_data(ctrl)
    elif cns in (0x10, 0x11, 0x12, 0x13) and ctrl.config.ns_mgmt:
        data = yield from nsmgmt.identify(ctrl, req, cns, namespace_data)
        if data is None:
            return
    elif cns == 0x00 and nsid == NSID_ALL and ctrl.config.ns_mgmt:
        data = common_namespace_data(ctrl)
    elif cns in (0x00, 0x02, 0x03, 0x05):
        if cns == 0x02:
            if nsid >= 0xFFFFFFFE:
                yield from ctrl.nvme_fail(
                    req, st.INVALID_NS_OR_FORMAT, "err_invalid_nsid",
                    f"NSID {nsid:#x} for the active namespace list", LOC_NSID,
                )  # fmt: skip
                return
            data = idf.build_active_ns_list(sorted(n for n in ctrl.namespaces if n > nsid))
        else:
            if nsid == 0 or nsid > ctrl.config.nn:
                why = (
                    "NSID 0x0 is not a valid NSID: it names no namespace" if nsid == 0
                    else f"NSID {nsid:#x} (every namespace) is not supported with CNS {cns:02X}h"
                    if nsid == NSID_ALL
                    else f"NSID {nsid:#x} is not a valid NSID: it is above NN ({ctrl.config.nn})"
                )  # fmt: skip
                yield from ctrl.nvme_fail(
                    req, st.INVALID_NS_OR_FORMAT, "err_invalid_nsid", why, LOC_NSID
                )
                return
            if cns == 0x05 and csi != 0:
                yield from ctrl.nvme_fail(
                    req, st.INVALID_FIELD, "err_invalid_field",
                    f"CSI {csi} is not supported", LOC_CDW11 + 3,
                )  # fmt: skip
                return
            if nsid not in ctrl.namespaces and cns == 0x03:
                # descriptors exist only for an active NSID (QEMU: Invalid Field)
                yield from ctrl.nvme_fail(
                    req, st.INVALID_FIELD, "err_invalid_nsid",
                    f"NSID {nsid:#x} is not an active namespace", LOC_NSID,
                )  # fmt: skip
                return
            if nsid not in ctrl.namespaces:
                data = bytes(IDENTIFY_SIZE)  # inactive namespace: zeros
            elif cns == 0x00:
                data = identify_namespace_data(ctrl, nsid)
            elif cns == 0x03:
                data = idf.build_ns_desc_list(
                    [
                        {"nidt": idf.NIDT_UUID, "nid": ns_uuid(ctrl, nsid)},
                        {"nidt": idf.NIDT_CSI, "nid": b"\x00"},
                    ]
                )
            else:
                data = bytes(IDENTIFY_SIZE)  # NVM command set specific namespace: all zero
    elif cns == 0x06:
        if csi != 0:
            yield from ctrl.nvme_fail(
                req, st.INVALID_FIELD, "err_invalid_field", f"CSI {csi} is not supported",
                LOC_CDW11 + 3,
            )  # fmt: skip
            return
        data = bytes(IDENTIFY_SIZE)  # NVM command set specific controller: no limits
    else:
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_invalid_field", f"CNS {cns:#04x} is not supported",
            LOC_CDW10,
        )  # fmt: skip
        return
    yield from ctrl.nvme_map_and_transfer(req, IDENTIFY_SIZE, data, "identify")


# -- log pages -------------------------------------------------------------------------------
def _max_transfer(ctrl: CommandContext) -> int | None:
    """MDTS in bytes (2^MDTS pages of CAP.MPSMIN, 4 KiB); None: MDTS 0h, no maximum (NVMe
    1.4 section 5.15.2.2)."""
    mdts = ctrl.config.mdts
    return (1 << mdts) * 4096 if mdts else None


def nvme_get_log(ctrl: CommandContext, req: Request) -> Task:
    c = req.cmd
    lid, rae = c.cdw10 & 0xFF, bool(c.cdw10 & (1 << 15))
    numd = (((c.cdw11 & 0xFFFF) << 16) | (c.cdw10 >> 16)) + 1
    length = numd * 4
    offset = (c.cdw13 << 32) | c.cdw12
    limit = _max_transfer(ctrl)
    if limit is not None and length > limit:
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_too_large",
            f"{length} bytes is more than MDTS allows", LOC_CDW10 + 2,
        )  # fmt: skip
        return
    if offset & 3:
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_invalid_field", f"log page offset {offset} not dword aligned",
            LOC_CDW12,
        )  # fmt: skip
        return
    now = ctrl.sched.now
    if lid == 0x01:
        log = ctrl.state.error_log_bytes()
    elif lid == 0x02:
        per_ns = ctrl.config.lpa & LPA_SMART_PER_NS
        ns = ctrl.namespaces.get(c.nsid) if c.nsid not in (0, NSID_ALL) else None
        if c.nsid not in (0, NSID_ALL) and not per_ns:
            why = "SMART log per namespace is not supported (LPA bit 0)"
            yield from ctrl.nvme_fail(req, st.INVALID_FIELD, "err_invalid_field", why, LOC_NSID)
            return
        if c.nsid not in (0, NSID_ALL) and ns is None:
            yield from ctrl.nvme_fail(req, *nsid_problem(ctrl, c.nsid))
            return
        # per namespace: that namespace's data units and commands; the temperature, the
        # spare and the rest belong to the controller (as QEMU's)
        log = ctrl.state.smart_log_bytes(now, ns)
    elif lid == 0x03:
        log = ctrl.state.fw_slot_log_bytes()
    elif lid == 0x05:
        log = commands_effects_log(ctrl, c.cdw14 >> 24)
    elif lid == 0x04 and ctrl.config.oaes & nsmgmt.AEC_NS_ATTR:
        log = nsmgmt.changed_ns_log(ctrl)
    else:
        yield from ctrl.nvme_fail(
            req, st.INVALID_LOG_PAGE, "err_invalid_log_page", f"log page {lid:#04x} not supported",
            LOC_CDW10,
        )  # fmt: skip
        return
    if offset > len(log):
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_invalid_field",
            f"offset {offset} beyond the {len(log)}-byte log", LOC_CDW12,
        )  # fmt: skip
        return
    data = log[offset : offset + length]
    if limit is None:
        # no MDTS: NUMD may ask for up to 16 GiB; past the log's end the data is undefined
        # (NUMDL), so only the log's own bytes move, as QEMU 7.2's transfer length
        length = len(data)
    else:
        data += bytes(length - len(data))
    out = yield from ctrl.nvme_map_and_transfer(req, length, data, f"log {lid:#04x}")
    if out is not None and lid == 0x04:
        nsmgmt.changed_ns_log_read(ctrl)
    if out is not None and not rae and lid in AER_TYPE_FOR_LOG:
        etype = AER_TYPE_FOR_LOG[lid]
        ctrl.state.aer_masked.discard(etype)
        ctrl.state.aer_queue[:] = [e for e in ctrl.state.aer_queue if e[0] != etype]
        ctrl.nvme_process_aers()


def commands_effects_log(ctrl: CommandContext, csi: int) -> bytes:
    """Log page 05h: every admin opcode we handle, and the I/O opcodes of the command set.

    The I/O half follows CC.CSS: NVM (000b) lists the NVM command set; all I/O command
    sets (110b) lists the set CDW14.CSI names (only NVM, CSI 00h, exists here); admin
    only (111b) lists no I/O command.
    """
    acs = [0] * 256
    for opc in ADMIN_HANDLERS:
        acs[opc] = lp.CMD_EFFECTS_CSUPP
    if ctrl.config.dbbuf:
        acs[OPC_DBBUF_CONFIG] = lp.CMD_EFFECTS_CSUPP
    if ctrl.config.format_nvm:
        # new block contents (all zeros) and a new block size: NSZE, FLBAS change
        acs[OPC_FORMAT_NVM] = lp.CMD_EFFECTS_CSUPP | lp.CMD_EFFECTS_LBCC | lp.CMD_EFFECTS_NCC
    if ctrl.config.ns_mgmt:
        # the namespace inventory changes; a create or delete changes UNVMCAP (Identify
        # Controller) too
        acs[nsmgmt.OPC_NS_MGMT] = lp.CMD_EFFECTS_CSUPP | lp.CMD_EFFECTS_NIC | lp.CMD_EFFECTS_CCC
        acs[nsmgmt.OPC_NS_ATTACHMENT] = lp.CMD_EFFECTS_CSUPP | lp.CMD_EFFECTS_NIC
    iocs = [0] * 256
    css = r.CC.get(ctrl.cc, "css")
    if css == 0 or (css == 6 and csi == 0):
        for opc, effects in io_command_effects(ctrl.config).items():
            iocs[opc] = effects
    return lp.COMMANDS_SUPPORTED_EFFECTS_LOG.build(
        {"acs": acs, "iocs": iocs, "rsvd2048": bytes(2048)}
    )


# -- features ---------------------------------------------------------------------------------
SUPPORTED_FIDS = (
    f.FID_ARBITRATION,
    f.FID_POWER_MANAGEMENT,
    f.FID_TEMPERATURE_THRESHOLD,
    f.FID_ERROR_RECOVERY,
    f.FID_VOLATILE_WRITE_CACHE,
    f.FID_NUMBER_OF_QUEUES,
    f.FID_INTERRUPT_COALESCING,
    f.FID_INTERRUPT_VECTOR_CONFIG,
    f.FID_ASYNC_EVENT_CONFIG,
    f.FID_TIMESTAMP,
)


def _feature_supported(ctrl: CommandContext, fid: int) -> bool:
    """Host Behavior Support (16h) comes with Extended LBA Formats (CTRATT bit 15), whose
    LBAFEE it carries; the others always."""
    if fid == f.FID_HOST_BEHAVIOR_SUPPORT:
        return bool(ctrl.config.ctratt & idf.CTRATT_ELBAS)
    if fid == nsaccess.FID_NS_WRITE_PROTECT:
        return nsaccess.feature_supported(ctrl)
    return fid in SUPPORTED_FIDS


def _check_feature_nsid(ctrl: CommandContext, req: Request, setting: bool) -> Task:
    nsid = req.cmd.nsid
    if nsid in (0, NSID_ALL):
        return
    if nsid in ctrl.namespaces and setting:
        yield from ctrl.nvme_fail(
            req, st.FEATURE_NOT_NS_SPECIFIC, "err_feature_not_ns_specific",
            "this feature applies to the controller, not a namespace", LOC_NSID,
        )  # fmt: skip
    elif nsid not in ctrl.namespaces:
        yield from ctrl.nvme_fail(req, *nsid_problem(ctrl, nsid))


def nvme_set_feature(ctrl: CommandContext, req: Request) -> Task:
    c = req.cmd
    fid, sv, dw11 = c.cdw10 & 0xFF, bool(c.cdw10 >> 31), c.cdw11
    s = ctrl.state
    if not _feature_supported(ctrl, fid):
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_invalid_feature", f"feature {fid:#04x} not supported",
            LOC_CDW10,
        )  # fmt: skip
        return
    if fid == nsaccess.FID_NS_WRITE_PROTECT:  # namespace specific
        yield from nsaccess.nvme_set_write_protect(ctrl, req)
        return
    if fid == f.FID_ERROR_RECOVERY:
        yield from nvme_set_error_recovery(ctrl, req)
        return
    yield from _check_feature_nsid(ctrl, req, True)
    if req.failed:
        return
    if sv:
        yield from ctrl.nvme_fail(
            req, st.FEATURE_NOT_SAVEABLE, "err_feature_not_saveable",
            f"feature {fid:#04x} cannot be saved", LOC_CDW10 + 3 | (7 << 8),
        )  # fmt: skip
        return
    if fid == f.FID_NUMBER_OF_QUEUES:
        nsqr, ncqr = dw11 & 0xFFFF, dw11 >> 16
        if nsqr == 0xFFFF or ncqr == 0xFFFF:
            yield from ctrl.nvme_fail(
                req, st.INVALID_FIELD, "err_invalid_field", "NSQR/NCQR of 65536", LOC_CDW11
            )
            return
        if s.io_queues_created:  # since the last reset, even if they are deleted again
            yield from ctrl.nvme_fail(
                req, st.COMMAND_SEQUENCE_ERROR, "err_command_sequence",
                "Number of Queues after I/O queues were created", LOC_OPC,
            )  # fmt: skip
            return
        req.dw0 = s.features[fid]
        s.nq_set = True
        return
    if fid == f.FID_POWER_MANAGEMENT:
        if dw11 & 0x1F > 0:  # NPSS = 0: only power state 0
            yield from ctrl.nvme_fail(
                req, st.INVALID_FIELD, "err_invalid_field", f"power state {dw11 & 0x1F}", LOC_CDW11
            )
            return
        s.features[fid] = dw11 & 0xFF
        return
    if fid == f.FID_TEMPERATURE_THRESHOLD:
        tmpth, tmpsel, thsel = dw11 & 0xFFFF, (dw11 >> 16) & 0xF, (dw11 >> 20) & 0x3
        if tmpsel not in (0, 0xF) or thsel > 1:
            yield from ctrl.nvme_fail(
                req, st.INVALID_FIELD, "err_invalid_field",
                f"TMPSEL {tmpsel} / THSEL {thsel} not supported", LOC_CDW11 + 2,
            )  # fmt: skip
            return
        s.temp_thresholds[thsel] = tmpth
        # a threshold the composite temperature already crosses raises the SMART /
        # Health Temperature Threshold event when the host enabled it (AEC bit 1)
        if s.temperature_warning() and s.features[f.FID_ASYNC_EVENT_CONFIG] & 0x02:
            ctrl.nvme_enqueue_event(AER_TYPE_SMART, AER_INFO_TEMPERATURE, 0x02)
        return
    if fid == f.FID_VOLATILE_WRITE_CACHE:
        if not ctrl.config.vwc:
            yield from ctrl.nvme_fail(
                req, st.INVALID_FIELD, "err_invalid_feature", "no volatile write cache", LOC_CDW10
            )
            return
        s.features[fid] = dw11 & 1
        return
    if fid == f.FID_INTERRUPT_VECTOR_CONFIG:
        iv, cd = dw11 & 0xFFFF, (dw11 >> 16) & 1
        if iv >= ctrl.msix.size or (iv == 0 and cd):
            yield from ctrl.nvme_fail(
                req, st.INVALID_FIELD, "err_invalid_field", f"vector {iv} / CD {cd}", LOC_CDW11
            )
            return
        s.irq_vector_cd[iv] = cd
        return
    if fid == f.FID_TIMESTAMP:
        data = yield from ctrl.nvme_map_and_transfer(req, 8, None, "timestamp")
        if data is None:
            return
        s.timestamp_ms = int.from_bytes(data[:6], "little")
        s.timestamp_set_at_ns = ctrl.sched.now
        s.timestamp_origin = 1
        return
    if fid == f.FID_HOST_BEHAVIOR_SUPPORT:
        data = yield from ctrl.nvme_map_and_transfer(
            req, f.HOST_BEHAVIOR_SIZE, None, "host behavior"
        )
        if data is None:
            return
        acre, lbafee = data[0], data[2]
        if acre > 1 or lbafee > 1:
            yield from ctrl.nvme_fail(
                req, st.INVALID_FIELD, "err_invalid_field",
                f"Host Behavior Support: ACRE {acre} / LBAFEE {lbafee} (each 0 or 1)", LOC_PRP1,
            )  # fmt: skip
            return
        s.host_behavior = bytes([acre, 0, lbafee]) + bytes(f.HOST_BEHAVIOR_SIZE - 3)
        return
    if fid == f.FID_INTERRUPT_COALESCING:
        s.features[fid] = dw11 & 0xFFFF
        return
    if fid == f.FID_ASYNC_EVENT_CONFIG:
        # SMART / health critical warnings (7:0) and the notices OAES offers
        s.features[fid] = dw11 & (0xFF | ctrl.config.oaes)
        return
    s.features[fid] = dw11  # arbitration


def nvme_get_feature(ctrl: CommandContext, req: Request) -> Task:
    c = req.cmd
    fid, sel = c.cdw10 & 0xFF, (c.cdw10 >> 8) & 0x7
    s = ctrl.state
    if not _feature_supported(ctrl, fid):
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_invalid_feature", f"feature {fid:#04x} not supported",
            LOC_CDW10,
        )  # fmt: skip
        return
    if sel > 3:
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_invalid_field", f"SEL {sel} is reserved", LOC_CDW10 + 1
        )
        return
    if fid == nsaccess.FID_NS_WRITE_PROTECT:  # namespace specific
        yield from nsaccess.nvme_get_write_protect(ctrl, req, sel)
        return
    if fid == f.FID_ERROR_RECOVERY:
        yield from nvme_get_error_recovery(ctrl, req, sel)
        return
    yield from _check_feature_nsid(ctrl, req, False)
    if req.failed:
        return
    if sel == 3:
        req.dw0 = 0x4  # changeable, not saveable, not namespace specific
        return
    current = sel == 0
    if fid == f.FID_TEMPERATURE_THRESHOLD:
        tmpsel, thsel = (c.cdw11 >> 16) & 0xF, (c.cdw11 >> 20) & 0x3
        if tmpsel not in (0, 0xF) or thsel > 1:
            yield from ctrl.nvme_fail(
                req, st.INVALID_FIELD, "err_invalid_field",
                f"TMPSEL {tmpsel} / THSEL {thsel} not supported", LOC_CDW11 + 2,
            )  # fmt: skip
            return
        value = s.temp_thresholds[thsel] if current else (ctrl.config.wctemp if thsel == 0 else 0)
        req.dw0 = value | (tmpsel << 16) | (thsel << 20)
        return
    if fid == f.FID_INTERRUPT_VECTOR_CONFIG:
        iv = c.cdw11 & 0xFFFF
        if iv >= ctrl.msix.size:
            yield from ctrl.nvme_fail(
                req, st.INVALID_FIELD, "err_invalid_field", f"vector {iv}", LOC_CDW11
            )
            return
        cd = s.irq_vector_cd.get(iv, 0) if current else 0
        if iv == 0 and ctrl.config.admin_vector_cd:
            cd = 1  # the admin queue's vector is never coalesced
        req.dw0 = iv | (cd << 16)
        return
    if fid == f.FID_HOST_BEHAVIOR_SUPPORT:
        data = s.host_behavior if current else bytes(f.HOST_BEHAVIOR_SIZE)
        yield from ctrl.nvme_map_and_transfer(req, f.HOST_BEHAVIOR_SIZE, data, "host behavior")
        return
    if fid == f.FID_TIMESTAMP:
        origin = s.timestamp_origin if current else 0
        ts = s.timestamp_now(ctrl.sched.now) if current else 0
        data = struct.pack("<Q", ts | (origin << 49))
        yield from ctrl.nvme_map_and_transfer(req, 8, data, "timestamp")
        return
    req.dw0 = s.features[fid] if current else s.defaults()[fid]


#: Get Features SEL 011b (supported capabilities): bit 0 saveable, 1 namespace specific,
#: 2 changeable
CAPABILITY_NS_SPECIFIC, CAPABILITY_CHANGEABLE = 0x2, 0x4
#: Error Recovery's defined bits: TLER 15:0 and DULBE 16 (the rest are reserved)
ERROR_RECOVERY_BITS = 0x1FFFF


def nvme_set_error_recovery(ctrl: CommandContext, req: Request) -> Task:
    """Set Features 05h, Error Recovery: a namespace's TLER and DULBE (NSID FFFFFFFFh: every
    namespace's). DULBE may be set only where NSFEAT bit 2 offers it (else Invalid Field);
    the feature is not saveable (SV: Feature Identifier Not Saveable)."""
    c = req.cmd
    nsid, dw11 = c.nsid, c.cdw11 & ERROR_RECOVERY_BITS
    if nsid != NSID_ALL and nsid not in ctrl.namespaces:
        yield from ctrl.nvme_fail(req, *nsid_problem(ctrl, nsid))
        return
    if c.cdw10 >> 31:
        yield from ctrl.nvme_fail(
            req, st.FEATURE_NOT_SAVEABLE, "err_feature_not_saveable",
            "feature 0x05 (Error Recovery) cannot be saved", LOC_CDW10 + 3 | (7 << 8),
        )  # fmt: skip
        return
    if dw11 & f.ERROR_RECOVERY_DULBE and not ctrl.config.nsfeat & idf.NSFEAT_DULBE:
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_invalid_field",
            "DULBE (bit 16) set, but NSFEAT bit 2 says the namespace has no Deallocated or "
            "Unwritten Logical Block error", LOC_CDW11 + 2,
        )  # fmt: skip
        return
    for n in sorted(ctrl.namespaces) if nsid == NSID_ALL else [nsid]:
        ctrl.state.err_rec[n] = dw11


def nvme_get_error_recovery(ctrl: CommandContext, req: Request, sel: int) -> Task:
    """Get Features 05h of one active namespace (FFFFFFFFh names none: Invalid Namespace or
    Format); SEL 01b/10b give the default (nothing is saved), 11b: namespace specific and
    changeable."""
    nsid = req.cmd.nsid
    if nsid == NSID_ALL:
        yield from ctrl.nvme_fail(
            req, st.INVALID_NS_OR_FORMAT, "err_invalid_nsid",
            "Error Recovery is a feature of each namespace: name one, not FFFFFFFFh", LOC_NSID,
        )  # fmt: skip
        return
    if nsid not in ctrl.namespaces:
        yield from ctrl.nvme_fail(req, *nsid_problem(ctrl, nsid))
        return
    if sel == 3:
        req.dw0 = CAPABILITY_NS_SPECIFIC | CAPABILITY_CHANGEABLE
        return
    req.dw0 = ctrl.state.err_rec.get(nsid, 0) if sel == 0 else 0


# -- asynchronous events and abort -------------------------------------------------------------
def nvme_aer(ctrl: CommandContext, req: Request) -> Task:
    s = ctrl.state
    if len(s.aer_reqs) >= ctrl.config.aerl + 1:
        yield from ctrl.nvme_fail(
            req, st.AER_LIMIT, "err_aer_limit",
            f"{len(s.aer_reqs)} requests already outstanding (AERL {ctrl.config.aerl})", LOC_OPC,
        )  # fmt: skip
        return
    if not s.aer_reqs:
        # an event already waiting completes this request now, through the command's own
        # completion (completing it from the event queue as well would post two CQEs)
        dw0 = ctrl.nvme_take_aer_event()
        if dw0 is not None:
            req.dw0 = dw0
            return
    req.held = True
    s.aer_reqs.append(req)
    ctrl.nvme_process_aers()


def nvme_abort(ctrl: CommandContext, req: Request) -> Task:
    c = req.cmd
    sqid, cid = c.cdw10 & 0xFFFF, c.cdw10 >> 16
    s = ctrl.state
    if len(s.pending_aborts) >= ctrl.config.acl + 1:
        yield from ctrl.nvme_fail(
            req, st.ABORT_LIMIT, "err_abort_limit",
            f"{len(s.pending_aborts)} Abort commands outstanding (ACL {ctrl.config.acl})", LOC_OPC,
        )  # fmt: skip
        return
    req.dw0 = 1  # not aborted, unless found below
    if sqid == 0:
        for held in s.aer_reqs:
            if held.cid == cid:
                s.aer_reqs.remove(held)
                held.held = False
                held.set_status(st.ABORT_REQUESTED, dnr=False)
                ctrl.spawn(ctrl.nvme_complete(held), 0, "aer-abort")
                req.dw0 = 0
                return
    sq = ctrl.sqs.get(sqid)
    if sq is None or (sqid, cid) in s.pending_aborts:
        return
    # with shadow doorbells the host may have published commands the device has not read
    # yet: take the SQ's shadow tail first, so a command the host submitted is found
    yield from ctrl.nvme_refresh_sq_tail(sq)
    for slot in sq.unfetched_slots():
        raw = ctrl.port.dma_read(sq.slot_addr(slot) + 2, 2) if ctrl.pci.bus_master else None
        if raw is not None and len(raw) == 2 and int.from_bytes(raw, "little") == cid:
            sq.abort_cids.add(cid)
            req.held = True
            s.pending_aborts[(sqid, cid)] = req
            return


# -- Doorbell Buffer Config (shadow doorbells) -------------------------------------------------
OPC_DBBUF_CONFIG = 0x7C


def _nvme_shadow_init(ctrl: CommandContext, req: Request, qid: int, cq: bool) -> Task:
    """A queue's slots in both buffers get its current tail / head (0 for a new queue): the
    host's next update then rings the MMIO doorbell, whatever the pages held before."""
    queue = ctrl.cqs.get(qid) if cq else ctrl.sqs.get(qid)
    if ctrl.dbbuf is None or queue is None:
        return True
    value = queue.head if isinstance(queue, CompletionQueue) else queue.tail
    for eventidx in (False, True):
        if not (yield from ctrl.nvme_write_shadow(qid, cq, value, eventidx, req)):
            return False
    queue.shadow = value
    return True


def nvme_dbbuf_config(ctrl: CommandContext, req: Request) -> Task:
    """Doorbell Buffer Config (NVMe 1.4 section 5.8): PRP1 is the shadow doorbell page,
    PRP2 the EventIdx page, each one memory page (CC.MPS), page aligned."""
    c = req.cmd
    dbs, eis = c.prp1, c.prp2
    page = ctrl.page_size
    problem = None
    for name, addr, loc in (("shadow doorbell", dbs, LOC_PRP1), ("EventIdx", eis, LOC_PRP2)):
        if addr % page and problem is None:
            problem = (f"{name} buffer {addr:#x} is not aligned to the {page}-byte page", loc)
    if problem is None and dbs == eis:
        problem = (f"shadow doorbell and EventIdx buffers are the same page {dbs:#x}", LOC_PRP2)
    nsqa, ncqa = _io_queue_limits(ctrl)
    need = (4 << ctrl.config.dstrd) * (max(nsqa, ncqa) + 1)
    if problem is None and need > page:
        problem = (f"{max(nsqa, ncqa) + 1} queues' doorbells take {need} bytes, more than a "
                   f"{page}-byte page", LOC_OPC)  # fmt: skip
    if problem is not None:
        yield from ctrl.nvme_fail(req, st.INVALID_FIELD, "err_invalid_field", *problem)
        return
    yield from ctrl.new_step()
    ctrl.dbbuf = (dbs, eis)
    for qid in sorted(set(ctrl.sqs) | set(ctrl.cqs)):
        for cq in (False, True):
            if not (yield from _nvme_shadow_init(ctrl, req, qid, cq)):
                # the spec: an invalid buffer address is Invalid Field in Command
                ctrl.dbbuf = None
                for q in (*ctrl.sqs.values(), *ctrl.cqs.values()):
                    q.shadow = None
                yield from ctrl.nvme_fail(
                    req, st.INVALID_FIELD, "err_invalid_field",
                    f"shadow doorbell page {dbs:#x} / EventIdx page {eis:#x} cannot be written",
                    LOC_PRP1,
                )  # fmt: skip
                return


# -- Format NVM -------------------------------------------------------------------------------
OPC_FORMAT_NVM = 0x80
#: Identify Controller OACS bit 1: Format NVM
OACS_FORMAT_NVM = 1 << 1
#: Command Specific Status 0Ah of Format NVM: the LBA format is not supported
INVALID_FORMAT = (st.SCT_COMMAND_SPECIFIC, 0x0A)


def nvme_format_nvm(ctrl: CommandContext, req: Request) -> Task:
    """Format NVM (NVMe 1.4 section 5.23): CDW10 LBAF 3:0 (with LBAFU 13:12 when CTRATT
    bit 15 offers extended formats), MSET 4, PI 7:5, PIL 8, SES 11:9. NSID is one
    namespace or FFFFFFFFh (every one, each of which must have the format in its own list;
    FNA is 0: a format applies per namespace). A format with metadata is taken when the
    ``metadata`` knob is on (MC 3h), for a RAM namespace (a file keeps no metadata):
    Invalid Format otherwise; PI 1..3 needs MS >= 8 (Invalid Format, as QEMU), PI 4..7
    is reserved (Invalid Field). SES 000b (no secure erase) or 001b (user data erase:
    every format erases here anyway); 010b is refused, FNA bit 2 says there is no
    cryptographic erase."""
    c = req.cmd
    lbaf = (c.cdw10 & 0xF) | (
        ((c.cdw10 >> 12) & 0x3) << 4 if ctrl.config.ctratt & idf.CTRATT_ELBAS else 0
    )
    mset, pi, pil, ses = (
        (c.cdw10 >> 4) & 1,
        (c.cdw10 >> 5) & 0x7,
        (c.cdw10 >> 8) & 1,
        (c.cdw10 >> 9) & 0x7,
    )
    nsid = c.nsid
    targets = sorted(ctrl.namespaces) if nsid == NSID_ALL else [nsid]
    if nsid != NSID_ALL and nsid not in ctrl.namespaces:
        yield from ctrl.nvme_fail(req, *nsid_problem(ctrl, nsid))
        return
    problem = None
    if ses > 1:
        problem = (st.INVALID_FIELD, f"SES {ses}: only no secure erase (0) or user data erase (1)")
    for n in targets:  # every namespace formatted must have the format (in its own list)
        formats = ctrl.namespaces[n].lba_formats
        if problem is not None:
            break
        if lbaf >= len(formats):
            problem = (INVALID_FORMAT, f"LBA format {lbaf}: namespace {n} has {len(formats)}")
        elif formats[lbaf][0] and not ctrl.config.metadata:
            problem = (INVALID_FORMAT, f"LBA format {lbaf} has {formats[lbaf][0]} bytes of "
                       "metadata, and this controller moves none (MC 0)")  # fmt: skip
        elif formats[lbaf][0] and ctrl.namespaces[n].file:
            problem = (INVALID_FORMAT, f"LBA format {lbaf} has {formats[lbaf][0]} bytes of "
                       f"metadata, and namespace {n} is backed by a file, which keeps "
                       "none")  # fmt: skip
        elif pi and formats[lbaf][0] < 8:
            problem = (INVALID_FORMAT, f"PI {pi:03b}b needs 8 bytes of metadata; LBA format "
                       f"{lbaf} has {formats[lbaf][0]}")  # fmt: skip
        elif pi > 3:
            problem = (st.INVALID_FIELD, f"PI {pi:03b}b is reserved (Type 1 to 3 are 001b..011b)")
    kind = "err_invalid_field"
    protected = [n for n in targets if ctrl.namespaces[n].wps]
    if problem is None and protected:  # a format changes every block
        problem = (nsaccess.NS_WRITE_PROTECTED, f"NSID {protected[0]} is write protected")
        kind = "err_ns_write_protected"
    if problem is not None:
        yield from ctrl.nvme_fail(req, problem[0], kind, problem[1], LOC_CDW10)
        return
    yield from ctrl.new_step()
    for n in targets:
        try:
            ctrl.namespaces[n].format(lbaf, mset, pi, pil)
        except OSError as exc:  # a file-backed namespace's file system failed
            yield from ctrl.nvme_fail(
                req, st.WRITE_FAULT, "err_media", f"NSID {n}: the backing file: "
                f"{exc.strerror or exc}",
            )  # fmt: skip
            return


ADMIN_HANDLERS = {
    0x00: nvme_del_sq,
    0x01: nvme_create_sq,
    0x02: nvme_get_log,
    0x04: nvme_del_cq,
    0x05: nvme_create_cq,
    0x06: nvme_identify,
    0x08: nvme_abort,
    0x09: nvme_set_feature,
    0x0A: nvme_get_feature,
    0x0C: nvme_aer,
}

#: with ``ControllerConfig.ns_mgmt``: Namespace Management and Attachment (emulator/nsmgmt.py)
NS_MGMT_HANDLERS = {
    nsmgmt.OPC_NS_MGMT: nsmgmt.nvme_ns_mgmt,
    nsmgmt.OPC_NS_ATTACHMENT: nsmgmt.nvme_ns_attachment,
}


def common_namespace_data(ctrl: CommandContext) -> bytes:
    """Identify Namespace with NSID FFFFFFFFh where Namespace Management is supported: the
    capabilities every namespace shares (the LBA formats a create may choose, DLFEAT); the
    sizes and the format in use are zero."""
    cfg = ctrl.config
    return idf.build_identify_namespace(
        nlbaf=len(cfg.lba_formats) - 1,
        dlfeat=1,
        lbaf=[{"ms": ms, "ds": ds, "rp": 0} for ms, ds in cfg.lba_formats],
    )
