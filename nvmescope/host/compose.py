"""A command composed by hand (the TUI's compose form, or a script), sent by the driver.

``nvme.compose.HandCommand`` is the SQE as the user built it: the SQ, opcode, NSID, CDW10-15,
and either PRPs typed by hand (any value, wrong ones too: seeing the device answer a
bad PRP is part of the lesson) or a buffer the driver allocates for the transfer
length (with a PRP list when it needs one). :func:`send` is the host task that sends
it the way the driver sends any command (build the SQE in the SQ's next slot, write
barrier, tail doorbell; the interrupt handler reads the CQE and rings the CQ head
doorbell), and keeps the host's own books for the commands that change them: a
queue created by hand gets its memory and is one the driver then uses, one deleted
by hand is forgotten, and an interrupt vector a new CQ names gets a handler.
"""

from __future__ import annotations

from nvmescope.nvme.commands import CQE_SIZE, SQE_SIZE
from nvmescope.nvme.compose import COMPOSED, MAX_HAND_BUFFER, POKE_SIZES, HandCommand
from nvmescope.sim import Task

from .api import HostAPI
from .driver import NOTE_NS, Completion, HostCQ, HostSQ, LinuxDriver


def send(drv: LinuxDriver, cmd: HandCommand) -> Task:
    """The host task: send ``cmd`` on its SQ, wait for its completion, return it."""
    if not cmd.hand_prps and max(cmd.length, cmd.queue_bytes) > MAX_HAND_BUFFER:
        yield from drv.say(
            "compose_too_big", f"A {cmd.length}-byte buffer is more than the "
            f"{MAX_HAND_BUFFER >> 20} MiB the host allocates for a command composed by hand: "
            "nothing is sent (type the PRPs by hand to describe any length).",
        )  # fmt: skip
        return None
    yield from drv.say(
        "compose", f"A command composed by hand: opcode {cmd.opc:02X}h on SQ{cmd.sqid}"
        + (", with the PRPs as typed." if cmd.hand_prps else "."),
    )  # fmt: skip
    creates = cmd.admin and cmd.opc in (0x01, 0x05)
    qid = cmd.cdw10 & 0xFFFF
    depth = (cmd.cdw10 >> 16) + 1
    prp1, prp2 = cmd.prp1, cmd.prp2 or 0
    owned: list[int] = []
    if creates and prp1 is None:
        prp1 = drv.api.alloc(max(1, cmd.queue_bytes))
        owned.append(prp1)
        yield from drv.say(
            "compose_queue", f"Allocate the new queue's memory: {depth} entries of "
            f"{SQE_SIZE if cmd.opc == 0x01 else CQE_SIZE} bytes at {prp1:#x} (PRP1).",
        )  # fmt: skip
    if creates and cmd.opc == 0x05 and cmd.cdw11 >> 1 & 1:
        vector = cmd.cdw11 >> 16
        if vector < drv.msix_vectors and vector not in drv._isrs:
            yield from drv.msix_program_vector(vector)
            yield from drv.request_irq(vector, f"I/O CQ{qid}, composed by hand")
    fields = dict(
        why=COMPOSED, nsid=cmd.nsid, cdw10=cmd.cdw10, cdw11=cmd.cdw11, cdw12=cmd.cdw12,
        cdw13=cmd.cdw13, cdw14=cmd.cdw14, cdw15=cmd.cdw15,
    )  # fmt: skip
    if prp1 is not None:
        comp: Completion = yield from drv.submit(
            cmd.sqid, cmd.opc, prp1=prp1, prp2=prp2,
            data_len=0 if creates else cmd.length, **fields,
        )  # fmt: skip
    elif cmd.to_device and cmd.length:
        data = cmd.data[: cmd.length] + bytes(max(0, cmd.length - len(cmd.data)))
        comp = yield from drv.submit(cmd.sqid, cmd.opc, data_out=data, **fields)
    else:
        comp = yield from drv.submit(cmd.sqid, cmd.opc, data_len=cmd.length, **fields)
    if comp.ok and cmd.admin:
        if cmd.opc == 0x05 and prp1 is not None:
            drv.cqs[qid] = HostCQ(qid, prp1, depth, cmd.cdw11 >> 16)
            owned.clear()
        elif cmd.opc == 0x01 and prp1 is not None:
            drv.sqs[qid] = HostSQ(qid, prp1, depth, cmd.cdw11 >> 16)
            owned.clear()
        elif cmd.opc == 0x00:
            drv.sqs.pop(qid, None)
        elif cmd.opc == 0x04:
            drv.cqs.pop(qid, None)
    # a queue the device refused: its memory goes back
    for addr in owned:
        drv.api.free(addr)
    return comp


def poke(api: HostAPI, space: str, offset: int, size: int, value: int, what: str = "") -> Task:
    """The host task of a write made by hand: one note saying what is written, then the
    write itself, to BAR0 (a register or a doorbell, 4 or 8 bytes) or to PCI
    configuration space (1, 2 or 4 bytes). A space or size it does not take is a
    ValueError before anything happens."""
    sizes = POKE_SIZES.get(space)
    if sizes is None or size not in sizes:
        raise ValueError(f"a poke writes {', '.join(POKE_SIZES)} with sizes {POKE_SIZES}")
    if not 0 <= offset < 1 << 32 or not 0 <= value < 1 << (8 * size):
        raise ValueError(f"offset {offset:#x} or value {value:#x} does not fit a {size}-byte poke")
    return _poke(api, space, offset, size, value, what)


def _poke(api: HostAPI, space: str, offset: int, size: int, value: int, what: str) -> Task:
    place = "BAR0" if space == "bar0" else "configuration space"
    name = f" ({what})" if what else ""
    api.note(
        "poke", f"By hand: write {value:#0{2 + 2 * size}x} to {place} offset {offset:#x}{name}, "
        f"{size} bytes.",
    )  # fmt: skip
    yield NOTE_NS
    if space == "config":
        api.config_write(offset, size, value)
    elif size == 8:
        api.mmio_write64(offset, value)
    else:
        api.mmio_write32(offset, value)


__all__ = ["COMPOSED", "MAX_HAND_BUFFER", "POKE_SIZES", "HandCommand", "poke", "send"]
