"""The NVM command set I/O commands (NVM Command Set 1.0 / NVMe 1.4 chapter 6):
Flush, Write and Read on the RAM-backed namespace.

Metadata (formats with MS > 0) is not transferred: MPTR is ignored. Any other
I/O opcode gets Invalid Command Opcode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..nvme import status as st
from ..sim import Task
from .admin import (
    IO_COMMAND_EFFECTS,
    LOC_CDW10,
    LOC_CDW12,
    LOC_NSID,
    LOC_OPC,
    NSID_ALL,
    _max_transfer,
)
from .request import Request

if TYPE_CHECKING:
    from .controller import Controller


def nvme_io_cmd(ctrl: Controller, req: Request) -> Task:
    opc = req.opcode
    if opc not in IO_COMMAND_EFFECTS:
        yield from ctrl.nvme_fail(
            req, st.INVALID_OPCODE, "err_invalid_opcode",
            f"I/O opcode {opc:#04x} is not supported", LOC_OPC,
        )  # fmt: skip
        return
    nsid = req.cmd.nsid
    if opc == 0x00 and nsid == NSID_ALL and ctrl.config.vwc:
        return  # flush of every namespace: RAM-backed, nothing to do
    ns = ctrl.namespaces.get(nsid)
    if ns is None:
        yield from ctrl.nvme_fail(
            req, st.INVALID_NS_OR_FORMAT, "err_invalid_nsid",
            f"NSID {nsid:#x} is not an active namespace", LOC_NSID,
        )  # fmt: skip
        return
    if opc == 0x00:
        return
    yield from nvme_rw(ctrl, req, write=opc == 0x01)


def nvme_rw(ctrl: Controller, req: Request, write: bool) -> Task:
    c = req.cmd
    ns = ctrl.namespaces[c.nsid]
    slba = (c.cdw11 << 32) | c.cdw10
    nlb = (c.cdw12 & 0xFFFF) + 1
    length = nlb * ns.lba_size
    req.lba = slba
    if length > _max_transfer(ctrl):
        yield from ctrl.nvme_fail(
            req, st.INVALID_FIELD, "err_too_large",
            f"{length} bytes is more than MDTS allows", LOC_CDW12,
        )  # fmt: skip
        return
    if not ns.in_range(slba, nlb):
        yield from ctrl.nvme_fail(
            req, st.LBA_OUT_OF_RANGE, "err_lba_range",
            f"LBA {slba}+{nlb} beyond the namespace ({ns.nsze} blocks)", LOC_CDW10,
        )  # fmt: skip
        return
    s = ctrl.state
    if write:
        s.host_write_commands += 1
        data = yield from ctrl.nvme_map_and_transfer(req, length, None, "write data")
        if data is None:
            return
        ns.write_blocks(slba, data)
        s.data_units_written += length // 512
    else:
        s.host_read_commands += 1
        out = yield from ctrl.nvme_map_and_transfer(
            req, length, ns.read_blocks(slba, nlb), "read data"
        )
        if out is not None:
            s.data_units_read += length // 512
    s.busy_ns += ctrl.config.io_latency_ns
