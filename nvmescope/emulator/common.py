"""What the command sets share: the SQE byte offsets a failure's Parameter Error
Location points at, the broadcast NSID, the shape of a check's answer, and the answer to
a command that names a namespace that is not there (``admin.py``, ``nvm.py`` and the files
they use import it; it imports none of them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..nvme import status as st

if TYPE_CHECKING:
    from .context import CommandContext

#: what a check answers when a command must fail: (SCT, SC), the err_* kind, the words,
#: the Parameter Error Location (the arguments of ``ctrl.nvme_fail`` after the request)
Problem = tuple[tuple[int, int], str, str, int]

# byte offsets of fields in the SQE, for the error log's Parameter Error Location
LOC_PRP2 = 32
LOC_OPC, LOC_NSID, LOC_PRP1, LOC_CDW10, LOC_CDW11, LOC_CDW12, LOC_CDW13 = 0, 4, 24, 40, 44, 48, 52

NSID_ALL = 0xFFFFFFFF


def nsid_problem(ctrl: CommandContext, nsid: int) -> Problem:
    """The answer to a command naming ``nsid`` where an active namespace is needed and
    there is none (the arguments of ``ctrl.nvme_fail`` after the request).

    NVMe 2.x base 3.2.1.5 (1.4 section 6.1.5): an invalid NSID (0h, above NN, or the
    broadcast FFFFFFFFh where the command does not take it) is Invalid Namespace or
    Format; an inactive NSID (valid, up to NN, but no namespace attached) is Invalid
    Field in Command unless the command says otherwise (Identify Namespace returns zeros
    for it instead). The detail says which of the three it is."""
    nn = ctrl.config.nn
    if nsid == 0:
        return (st.INVALID_NS_OR_FORMAT, "err_invalid_nsid",
                "NSID 0x0 is not a valid NSID: it names no namespace", LOC_NSID)  # fmt: skip
    if nsid > nn:
        return (st.INVALID_NS_OR_FORMAT, "err_invalid_nsid",
                f"NSID {nsid:#x} is not a valid NSID: it is above NN ({nn})", LOC_NSID)  # fmt: skip
    return (st.INVALID_FIELD, "err_invalid_nsid",
            f"NSID {nsid:#x} is valid (up to NN={nn}) but no namespace is attached: it is not "
            "an active namespace", LOC_NSID)  # fmt: skip


__all__ = [
    "LOC_CDW10",
    "LOC_CDW11",
    "LOC_CDW12",
    "LOC_CDW13",
    "LOC_NSID",
    "LOC_OPC",
    "LOC_PRP1",
    "LOC_PRP2",
    "NSID_ALL",
    "Problem",
    "nsid_problem",
]
