"""Events as text in the layout of Linux's NVMe tracepoints, as ftrace prints them.

Linux's NVMe host driver has trace events in ``drivers/nvme/host/trace.h``
(system ``nvme``); with ``echo 1 > /sys/kernel/tracing/events/nvme/enable`` or
``trace-cmd record -e nvme`` a real host logs lines such as::

    kworker/u2:0-9       [000] .....     7.831218: nvme_setup_cmd: nvme0: qid=0, cmdid=28, nsid=0, flags=0x0, meta=0x0, cmd=(nvme_admin_identify cns=1, ctrlid=0)
    kworker/u2:0-9       [000] d.h1.     7.832676: nvme_sq: nvme0: qid=0, head=1, tail=1
    kworker/u2:0-9       [000] d.h1.     7.833407: nvme_complete_rq: nvme0: qid=0, cmdid=28, res=0x0, retries=0, flags=0x0, status=0x0

:func:`to_tracepoint_text` writes the same three trace points for our events
so a developer can put our run beside a kernel trace:

- ``nvme_setup_cmd`` for each command, from its SQE (the ``sqe_fetch`` bytes;
  from ``cmd_start`` when the source did not record them, as in a QEMU
  import). The kernel logs it before ringing the doorbell; we log it at the
  fetch, the first moment the device has the command. ``cmd=(...)`` decodes
  CDW10..15 per opcode as Linux 6.1 does: Create/Delete I/O SQ/CQ, Identify,
  Set/Get Features, Get LBA Status, Format NVM on the admin queue; Read,
  Write, Write Zeroes, Dataset Management on I/O queues; every other opcode
  (Get Log Page included) prints the 24 bytes ``cdw10=...`` as Linux does.
- ``nvme_sq`` and ``nvme_complete_rq`` at each CQE post (the kernel logs them
  when its interrupt handler reaps the CQE): SQ head from the CQE, SQ tail
  from the last tail doorbell, result = DW1:DW0, status = the 15-bit status
  field (SCT/SC/CRD/M/DNR).
- nothing for the Asynchronous Event Request: Linux 6.1 submits it without a
  block-layer request (``nvme_pci_submit_async_event`` copies the SQE and
  rings the doorbell itself), so no ``nvme_setup_cmd``; and its completion is
  handed to ``nvme_complete_async_event`` before ``nvme_handle_cqe`` traces
  anything, so no ``nvme_sq`` nor ``nvme_complete_rq`` either.

A QEMU import has no SQE bytes, only what QEMU's trace points said, which the
importer keeps in ``cmd_start.detail``. Where that is enough the setup line
is in Linux's layout (:func:`linux_args_from_detail`): Identify (``cns``,
``ctrlid``), Set/Get Features (``fid``, save/``sel``, ``cdw11``), Get Log
Page (its CDW10..15 rebuilt from ``lid``, ``lsp``, ``rae``, length and
offset; the bytes QEMU does not trace print as ``??``), Read/Write (``slba``,
``len``; the fields QEMU does not trace print as ``?``), Flush and Doorbell
Buffer Config (no CDW10..15 fields: all zero), and Create/Delete I/O SQ/CQ
(from the ``queue_created``/``queue_deleted`` event that follows the
command). Otherwise the command prints as ``name [QEMU's details]``.

Opcode names are Linux's enum names (``nvme_admin_identify``, ``nvme_cmd_read``);
an opcode Linux does not name prints as ``0x..`` as ``__print_symbolic`` does.

The columns before the timestamp are ftrace's, as the real capture
``reference/linux-6.1-on-qemu-7.2/tracepoints.txt`` shows them:

- TASK-PID: the task that was running when the trace point fired. The kernel
  sets up the admin commands of bring-up from its reset work, an unbound
  workqueue worker (``kworker/u2:0-9`` in the capture; the namespace scan
  ran on another, ``kworker/u2:3-40``, and nvme-cli's commands on ``nvme-PID``:
  we print every admin command as the reset work's), and block I/O from
  kblockd's per-CPU high-priority worker (``kworker/0:1H-37``); the
  completion lines fire in the interrupt handler, on top of whatever task the
  interrupt stopped, which we take to be the task that submitted the command
  (the capture also shows ``<idle>-0`` when the CPU was idle).
- CPU: ``[000]``, the capture's single CPU (``#P:1``).
- flags (irqs-off, need-resched, hardirq/softirq, preempt-depth,
  migrate-disable): ``.....`` for ``nvme_setup_cmd`` (task context,
  interrupts on) and ``d.h1.`` for ``nvme_sq`` and ``nvme_complete_rq``
  (interrupts off, in a hard interrupt, preemption disabled once), as in the
  capture.

:func:`to_ftrace_text` puts ftrace's header (``# tracer: nop``, the entry
count, the column legend) in front, as ``cat /sys/kernel/tracing/trace``
prints it.

``disk=`` is not derived from the NSID: the kernel prints the name of the
block device whose request queue carried the request (``req->q->disk``), so
admin commands have none and block I/O to namespace 1 prints
``disk=nvme0n1``. A command to an NSID that has no block device (inactive, or
beyond NN) can only reach the device as a passthrough through an existing
namespace's device, so it prints that device's name (``disk=nvme0n1,
... nsid=2``), never a disk that does not exist; with no active namespace at
all it prints no ``disk=``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from nvmescope.events import Event
from nvmescope.nvme.commands import SQE_SIZE

#: Linux's ``enum nvme_admin_opcode`` names (include/linux/nvme.h)
LINUX_ADMIN_NAMES: dict[int, str] = {
    0x00: "nvme_admin_delete_sq",
    0x01: "nvme_admin_create_sq",
    0x02: "nvme_admin_get_log_page",
    0x04: "nvme_admin_delete_cq",
    0x05: "nvme_admin_create_cq",
    0x06: "nvme_admin_identify",
    0x08: "nvme_admin_abort_cmd",
    0x09: "nvme_admin_set_features",
    0x0A: "nvme_admin_get_features",
    0x0C: "nvme_admin_async_event",
    0x0D: "nvme_admin_ns_mgmt",
    0x10: "nvme_admin_activate_fw",
    0x11: "nvme_admin_download_fw",
    0x14: "nvme_admin_dev_self_test",
    0x15: "nvme_admin_ns_attach",
    0x18: "nvme_admin_keep_alive",
    0x19: "nvme_admin_directive_send",
    0x1A: "nvme_admin_directive_recv",
    0x1C: "nvme_admin_virtual_mgmt",
    0x1D: "nvme_admin_nvme_mi_send",
    0x1E: "nvme_admin_nvme_mi_recv",
    0x7C: "nvme_admin_dbbuf",
    0x80: "nvme_admin_format_nvm",
    0x81: "nvme_admin_security_send",
    0x82: "nvme_admin_security_recv",
    0x84: "nvme_admin_sanitize_nvm",
    0x86: "nvme_admin_get_lba_status",
}

#: Linux's ``enum nvme_opcode`` names (NVM command set)
LINUX_NVM_NAMES: dict[int, str] = {
    0x00: "nvme_cmd_flush",
    0x01: "nvme_cmd_write",
    0x02: "nvme_cmd_read",
    0x04: "nvme_cmd_write_uncor",
    0x05: "nvme_cmd_compare",
    0x08: "nvme_cmd_write_zeroes",
    0x09: "nvme_cmd_dsm",
    0x0C: "nvme_cmd_verify",
    0x0D: "nvme_cmd_resv_register",
    0x0E: "nvme_cmd_resv_report",
    0x11: "nvme_cmd_resv_acquire",
    0x15: "nvme_cmd_resv_release",
    0x79: "nvme_cmd_zone_mgmt_send",
    0x7A: "nvme_cmd_zone_mgmt_recv",
    0x7D: "nvme_cmd_zone_append",
}

FABRICS_OPCODE = 0x7F
#: Linux's ``enum nvmf_fabrics_type`` names
LINUX_FABRICS_NAMES: dict[int, str] = {
    0x00: "nvme_fabrics_type_property_set",
    0x01: "nvme_fabrics_type_connect",
    0x04: "nvme_fabrics_type_property_get",
    0x05: "nvme_fabrics_type_auth_send",
    0x06: "nvme_fabrics_type_auth_receive",
}


def linux_opcode_name(qid: int, opcode: int, fctype: int = 0) -> str:
    """The name Linux's ``show_opcode_name`` prints for an opcode on queue ``qid``."""
    if opcode == FABRICS_OPCODE:
        return LINUX_FABRICS_NAMES.get(fctype, f"{fctype:#x}")
    table = LINUX_NVM_NAMES if qid else LINUX_ADMIN_NAMES
    return table.get(opcode, f"{opcode:#x}")


def _u16(b: bytes, at: int) -> int:
    return int(struct.unpack_from("<H", b, at)[0])


def _u32(b: bytes, at: int) -> int:
    return int(struct.unpack_from("<I", b, at)[0])


def _u64(b: bytes, at: int) -> int:
    return int(struct.unpack_from("<Q", b, at)[0])


def _common(b: bytes, label: str = "cdw10") -> str:
    return f"{label}=" + " ".join(f"{x:02x}" for x in b)


def decode_admin(opcode: int, cdw10: bytes) -> str:
    """Linux's ``nvme_trace_parse_admin_cmd`` for the 24 bytes CDW10..CDW15."""
    b = cdw10
    if opcode == 0x00:
        return f"sqid={_u16(b, 0)}"
    if opcode == 0x01:
        return f"sqid={_u16(b, 0)}, qsize={_u16(b, 2)}, sq_flags={_u16(b, 4):#x}, cqid={_u16(b, 6)}"
    if opcode == 0x04:
        return f"cqid={_u16(b, 0)}"
    if opcode == 0x05:
        return (
            f"cqid={_u16(b, 0)}, qsize={_u16(b, 2)}, cq_flags={_u16(b, 4):#x}, "
            f"irq_vector={_u16(b, 6)}"
        )
    if opcode == 0x06:
        return f"cns={b[0]}, ctrlid={_u16(b, 2)}"
    if opcode == 0x09:
        return f"fid={b[0]:#x}, sv={b[3] & 0x8:#x}, cdw11={_u32(b, 4):#x}"
    if opcode == 0x0A:
        return f"fid={b[0]:#x}, sel={b[1] & 0x7:#x}, cdw11={_u32(b, 4):#x}"
    if opcode == 0x86:
        return f"slba={_u64(b, 0):#x}, mndw={_u32(b, 8):#x}, rl={_u16(b, 12):#x}, atype={b[15]}"
    if opcode == 0x80:
        return (
            f"lbaf={b[0] & 0xF}, mset={(b[0] >> 4) & 1}, pi={(b[0] >> 5) & 7}, "
            f"pil={b[1] & 1}, ses={(b[1] >> 1) & 7}"
        )
    return _common(b)


def decode_nvm(opcode: int, cdw10: bytes) -> str:
    """Linux's ``nvme_trace_parse_nvm_cmd`` for the 24 bytes CDW10..CDW15."""
    b = cdw10
    if opcode in (0x01, 0x02, 0x08, 0x7D):
        return (
            f"slba={_u64(b, 0)}, len={_u16(b, 8)}, ctrl={_u16(b, 10):#x}, "
            f"dsmgmt={_u32(b, 12)}, reftag={_u32(b, 16)}"
        )
    if opcode == 0x09:
        return f"nr={_u32(b, 0)}, attributes={_u32(b, 4)}"
    if opcode == 0x79:
        return f"slba={_u64(b, 0)}, zsa={b[12]}, all={b[13]}"
    if opcode == 0x7A:
        return f"slba={_u64(b, 0)}, numd={_u32(b, 8)}, zra={b[12]}, zrasf={b[13]}, pr={b[14]}"
    return _common(b)


def decode_fabrics(fctype: int, spc: bytes) -> str:
    """Linux's ``nvme_trace_parse_fabrics_cmd``."""
    b = spc
    if fctype == 0x00:
        return f"attrib={b[0]}, ofst={_u32(b, 4):#x}, value={_u64(b, 8):#x}"
    if fctype == 0x01:
        return (
            f"recfmt={_u16(b, 0)}, qid={_u16(b, 2)}, sqsize={_u16(b, 4)}, "
            f"cattr={b[6]}, kato={_u32(b, 8)}"
        )
    if fctype == 0x04:
        return f"attrib={b[0]}, ofst={_u32(b, 4):#x}"
    return _common(b, "specific")


def decode_cmd(qid: int, sqe: bytes) -> str:
    """The ``cmd=(...)`` part for a 64-byte SQE submitted on queue ``qid``."""
    opcode, fctype = sqe[0], sqe[4]
    cdw10 = sqe[40:64]
    name = linux_opcode_name(qid, opcode, fctype)
    if opcode == FABRICS_OPCODE:
        args = decode_fabrics(fctype, cdw10)
    elif qid:
        args = decode_nvm(opcode, cdw10)
    else:
        args = decode_admin(opcode, cdw10)
    return f"{name} {args}"


ASYNC_EVENT_REQUEST = 0x0C
_QUEUE_OPCODES = frozenset({0x00, 0x01, 0x04, 0x05})
_DETAIL_KV = re.compile(r"\b([a-z_][a-z0-9_]*)=(0x[0-9a-fA-F]+|\d+)\b")


def _detail_numbers(detail: str) -> dict[str, int]:
    """``key=value`` numbers in a cmd_start detail (the first of each key)."""
    out: dict[str, int] = {}
    for key, raw in _DETAIL_KV.findall(detail):
        out.setdefault(key, int(raw, 0))
    return out


def _bytes_text(values: list[int | None]) -> str:
    return "cdw10=" + " ".join("??" if v is None else f"{v:02x}" for v in values)


def _le(value: int, size: int) -> list[int | None]:
    return list((value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))


def linux_args_from_detail(qid: int, opcode: int, detail: str) -> str | None:
    """Linux's ``cmd=(name ARGS)`` ARGS rebuilt from an imported ``cmd_start`` detail.

    None when the detail does not carry what Linux prints for this opcode.
    """
    a = _detail_numbers(detail)
    if qid == 0:
        if opcode == 0x06 and {"cns", "ctrlid"} <= a.keys():
            return f"cns={a['cns'] & 0xFF}, ctrlid={a['ctrlid'] & 0xFFFF}"
        if opcode == 0x09 and {"fid", "save", "cdw11"} <= a.keys():
            sv = 0x8 if a["save"] else 0
            return f"fid={a['fid'] & 0xFF:#x}, sv={sv:#x}, cdw11={a['cdw11'] & 0xFFFFFFFF:#x}"
        if opcode == 0x0A and {"fid", "sel", "cdw11"} <= a.keys():
            return (
                f"fid={a['fid'] & 0xFF:#x}, sel={a['sel'] & 0x7:#x}, "
                f"cdw11={a['cdw11'] & 0xFFFFFFFF:#x}"
            )
        if opcode == 0x02 and {"lid", "lsp", "rae", "len", "off"} <= a.keys():
            length = a["len"]
            if length < 4 or length % 4 or length > 4 << 32:
                return None
            numd = length // 4 - 1
            cdw10 = (a["lid"] & 0xFF) | (a["lsp"] & 0x7F) << 8 | (a["rae"] & 1) << 15
            cdw10 |= (numd & 0xFFFF) << 16
            # CDW11: NUMDU, then LSI (not traced); CDW12/13: LPO; CDW14/15 not traced
            raw: list[int | None] = _le(cdw10, 4) + _le(numd >> 16, 2) + [None, None]
            raw += _le(a["off"], 8) + [None] * 8
            return _bytes_text(raw)
        if opcode == 0x7C:  # Doorbell Buffer Config: CDW10..15 are reserved
            return _bytes_text([0] * 24)
        return None
    if opcode in (0x01, 0x02) and {"slba", "nlb"} <= a.keys() and a["nlb"] >= 1:
        return (
            f"slba={a['slba'] & (1 << 64) - 1}, len={(a['nlb'] - 1) & 0xFFFF}, "
            "ctrl=?, dsmgmt=?, reftag=?"
        )
    if opcode == 0x00:  # Flush: CDW10..15 are reserved
        return _bytes_text([0] * 24)
    return None


def linux_queue_args(opcode: int, event: Any) -> str | None:
    """Create/Delete I/O SQ/CQ arguments in Linux's layout from the queue event they caused."""
    kind = event.kind
    if opcode == 0x05 and kind == "queue_created" and event.qtype == "cq":
        flags = int(bool(event.pc)) | int(bool(event.ien)) << 1
        return (
            f"cqid={event.qid}, qsize={max(event.qsize - 1, 0)}, cq_flags={flags:#x}, "
            f"irq_vector={event.vector}"
        )
    if opcode == 0x01 and kind == "queue_created" and event.qtype == "sq":
        return (
            f"sqid={event.qid}, qsize={max(event.qsize - 1, 0)}, sq_flags={int(bool(event.pc)):#x}, "
            f"cqid={event.cqid}"
        )
    if opcode == 0x00 and kind == "queue_deleted" and event.qtype == "sq":
        return f"sqid={event.qid}"
    if opcode == 0x04 and kind == "queue_deleted" and event.qtype == "cq":
        return f"cqid={event.qid}"
    return None


#: the task that sets up admin commands in the real capture (the reset work)
ADMIN_TASK = "kworker/u2:0-9"
#: the task that sets up block I/O in the real capture (kblockd's worker)
IO_TASK = "kworker/0:1H-37"
#: ftrace's flags for a trace point in task context with interrupts on
TASK_FLAGS = "....."
#: ftrace's flags inside the interrupt handler: irqs off, hardirq, preempt depth 1
HARDIRQ_FLAGS = "d.h1."


def ftrace_header(entries: int, cpus: int = 1) -> list[str]:
    """The header ``cat /sys/kernel/tracing/trace`` prints before its entries (Linux 6.1)."""
    return [
        "# tracer: nop",
        "#",
        f"# entries-in-buffer/entries-written: {entries}/{entries}   #P:{cpus}",
        "#",
        "#                                _-----=> irqs-off/BH-disabled",
        "#                               / _----=> need-resched",
        "#                              | / _---=> hardirq/softirq",
        "#                              || / _--=> preempt-depth",
        "#                              ||| / _-=> migrate-disable",
        "#                              |||| /     delay",
        "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION",
        "#              | |         |   |||||     |         |",
    ]


def _task_column(task: str) -> str:
    comm, _, pid = task.rpartition("-")
    if not comm or not pid.isdigit():
        comm, pid = task, "0"
    return f"{comm:>16}-{int(pid):<7}"


class TracepointWriter:
    """Turns events into tracepoint lines one event at a time (``feed`` -> lines)."""

    def __init__(
        self,
        ctrl_id: int = 0,
        admin_task: str = ADMIN_TASK,
        io_task: str = IO_TASK,
        cpu: int = 0,
        active_nsids: Collection[int] = (1,),
    ) -> None:
        self.ctrl = f"nvme{ctrl_id}"
        self.tasks = (_task_column(admin_task), _task_column(io_task))
        self.cpu = f"[{cpu:03d}]"
        self.active = sorted(set(active_nsids))
        self.sq_tail: dict[int, int] = {}
        self.nsid: dict[tuple[int, int], int] = {}
        self.announced: set[tuple[int, int]] = set()
        #: Asynchronous Event Requests in flight: Linux traces neither their setup nor
        #: their completion
        self.aers: set[tuple[int, int]] = set()
        #: an imported queue command waiting for its queue_created/queue_deleted event
        self.waiting: tuple[Any, str] | None = None

    def line(self, ts_ns: int, name: str, body: str, qid: int = 0, flags: str = TASK_FLAGS) -> str:
        secs, rem = divmod(max(ts_ns, 0), 1_000_000_000)
        task = self.tasks[1 if qid else 0]
        return f"{task} {self.cpu} {flags} {secs:5d}.{rem // 1000:06d}: {name}: {self.ctrl}: {body}"

    def disk(self, qid: int, nsid: int | None) -> str:
        """``disk=NAME, `` of the block device a command on ``qid`` went through."""
        if not qid or nsid is None or not self.active:
            return ""
        through = nsid if nsid in self.active else self.active[0]
        return f"disk={self.ctrl}n{through}, "

    def setup(
        self, event: Event, qid: int, cid: int, nsid: int, flags: int, cmd: str, meta: int = 0
    ) -> str:
        """``nvme_setup_cmd``: Linux 6.1 prints the SQE's MPTR as ``meta``."""
        key = (qid, cid)
        self.announced.add(key)
        self.nsid[key] = nsid
        return self.line(
            event.ts,
            "nvme_setup_cmd",
            f"{self.disk(qid, nsid)}qid={qid}, cmdid={cid}, nsid={nsid}, flags={flags:#x}, "
            f"meta={meta:#x}, cmd=({cmd})",
            qid,
        )

    def feed(self, event: Event) -> list[str]:
        """The lines this event makes (after any line held back for it)."""
        if self.waiting is None:
            return self._feed(event)
        start, name = self.waiting
        self.waiting = None
        args = None
        if (event.sqid, event.cid) == (start.sqid, start.cid):
            args = linux_queue_args(start.opcode, event)
        held = self._imported_setup(start, name, args)
        return [held, *self._feed(event)]

    def close(self) -> list[str]:
        """The lines still held back at the end of the events."""
        if self.waiting is None:
            return []
        start, name = self.waiting
        self.waiting = None
        return [self._imported_setup(start, name, None)]

    def _imported_setup(self, e: Any, name: str, args: str | None) -> str:
        if args is None:
            args = f"[{e.detail or 'cdw10 not recorded'}]"
        return self.setup(e, e.sqid, e.cid, e.nsid, 0, f"{name} {args}")

    def _feed(self, event: Event) -> list[str]:
        kind = event.kind
        e: Any = event
        if kind == "doorbell_sq":
            if event.sqid is not None:
                self.sq_tail[event.sqid] = e.new_tail
            return []
        if kind == "sqe_fetch":
            data: bytes = e.data or b""
            if len(data) < SQE_SIZE:
                return []  # the bytes were not recorded: cmd_start will announce it
            qid = event.sqid if event.sqid is not None else 0
            cid = _u16(data, 2)
            if qid == 0 and data[0] == ASYNC_EVENT_REQUEST:
                self.aers.add((qid, cid))
                self.announced.add((qid, cid))
                return []
            line = self.setup(
                event, qid, cid, _u32(data, 4), data[1], decode_cmd(qid, data), _u64(data, 16)
            )
            return [line]
        if kind == "cmd_start":
            if event.sqid is None or event.cid is None:
                return []
            key = (event.sqid, event.cid)
            if key in self.announced:
                return []
            if event.sqid == 0 and e.opcode == ASYNC_EVENT_REQUEST:
                self.aers.add(key)
                self.announced.add(key)
                return []
            name = linux_opcode_name(event.sqid, e.opcode)
            if event.sqid == 0 and e.opcode in _QUEUE_OPCODES:
                self.waiting = (e, name)  # its arguments are in the queue event that follows
                return []
            return [
                self._imported_setup(
                    e, name, linux_args_from_detail(event.sqid, e.opcode, e.detail)
                )
            ]
        if kind == "cqe_post":
            qid = event.sqid if event.sqid is not None else 0
            cid = event.cid if event.cid is not None else 0
            key = (qid, cid)
            self.announced.discard(key)
            if key in self.aers:
                self.aers.discard(key)
                return []  # Linux hands an AER's CQE to nvme_complete_async_event untraced
            disk = self.disk(qid, self.nsid.pop(key, None))
            tail = self.sq_tail.get(qid, 0)
            result = (e.dw0 & 0xFFFFFFFF) | ((e.dw1 & 0xFFFFFFFF) << 32)
            return [
                self.line(
                    event.ts,
                    "nvme_sq",
                    f"{disk}qid={qid}, head={e.sqhd}, tail={tail}",
                    qid,
                    HARDIRQ_FLAGS,
                ),
                self.line(
                    event.ts,
                    "nvme_complete_rq",
                    f"{disk}qid={qid}, cmdid={cid}, res={result:#x}, retries=0, flags=0x0, "
                    f"status={e.status:#x}",
                    qid,
                    HARDIRQ_FLAGS,
                ),
            ]
        return []


def to_tracepoint_text(
    events: Iterable[Event],
    ctrl_id: int = 0,
    admin_task: str = ADMIN_TASK,
    io_task: str = IO_TASK,
    active_nsids: Collection[int] = (1,),
) -> Iterator[str]:
    """One line (no newline) per tracepoint hit, in event order; streams its input."""
    writer = TracepointWriter(
        ctrl_id=ctrl_id, admin_task=admin_task, io_task=io_task, active_nsids=active_nsids
    )
    for event in events:
        yield from writer.feed(event)
    yield from writer.close()


def to_ftrace_text(
    events: Iterable[Event], ctrl_id: int = 0, active_nsids: Collection[int] = (1,)
) -> list[str]:
    """The whole ``trace`` file: ftrace's header, then one line per tracepoint hit."""
    lines = list(to_tracepoint_text(events, ctrl_id=ctrl_id, active_nsids=active_nsids))
    return ftrace_header(len(lines)) + lines
