"""One command on its way through the controller (QEMU's NvmeRequest)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..nvme.commands import Sqe, make_status
from ..nvme.opcodes import opcode_name


@dataclass(slots=True)
class Request:
    sqid: int
    cmd: Sqe
    admin: bool
    #: the 15-bit status field (dnr, m, crd, sct, sc)
    status: int = 0
    dw0: int = 0
    dw1: int = 0
    #: completed later by somebody else (Asynchronous Event Request, Abort)
    held: bool = False
    #: err_* kind of the failure, for the error log and the event
    err_kind: str = ""
    #: SQE byte (7:0) and bit (10:8) of the field in error, FFFFh when none applies
    parm_err_loc: int = 0xFFFF
    lba: int = 0
    #: the CQ this command completes to, fixed when it was fetched (the SQ may be
    #: deleted while the command is in flight; its completion still goes there)
    cqid: int = 0
    #: the SQ head the controller reported last for this command's SQ (set when posting)
    sq_head: int = 0
    #: the SubmissionQueue it was fetched from (None for a request made otherwise): a
    #: completion waiting for CQ space is dropped once that SQ is deleted
    fetched_from: Any = None

    @property
    def cid(self) -> int:
        return self.cmd.cid

    @property
    def opcode(self) -> int:
        return self.cmd.opc

    @property
    def opname(self) -> str:
        return opcode_name(self.cmd.opc, self.admin)

    @property
    def context(self) -> tuple[int, int]:
        return (self.sqid, self.cmd.cid)

    @property
    def failed(self) -> bool:
        return (self.status & 0x7FF) != 0

    def set_status(self, code: tuple[int, int], dnr: bool = True) -> None:
        sct, sc = code
        self.status = make_status(sct, sc, dnr=dnr)
