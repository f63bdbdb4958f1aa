"""QEMU 7.2's x-pci-proxy-dev wire protocol (``hw/remote/mpqemu-link.h``), declared once.

QEMU runs the guest with ``-device x-pci-proxy-dev,fd=N``, N one end of a
``socketpair(AF_UNIX, SOCK_STREAM)``; the device process serves the other end. Every
message is a 16-byte header (``int32 cmd``, 4 bytes of padding, ``uint64 size``), then
``size`` bytes of payload (at most 192, the largest message's); file descriptors travel
as SCM_RIGHTS with the header, on the same ``sendmsg``. The commands:

=====  ============  =======================================================  ==========
cmd    name          payload                                                  reply
=====  ============  =======================================================  ==========
0      SYNC_SYSMEM   ``u64 gpas[8], u64 sizes[8], i64 offsets[8]``; one       none
                     memfd per region (guest RAM, shared)
1      RET           ``u64`` (the value read, or 0)                           -
2      PCI_CFGWRITE  ``u32 addr, u32 val, i32 len``                           RET
3      PCI_CFGREAD   ``u32 addr, u32 val (0), i32 len``                       RET: value
4      BAR_WRITE     ``u64 addr, u64 val, u32 size, u8 memory`` (24 bytes);   RET
                     ``addr`` is a guest-physical address, not an offset
5      BAR_READ      the same, ``val`` 0                                      RET: value
6      SET_IRQFD     no payload; two fds: the INTx irqfd and its resample fd  none
7      DEVICE_RESET  no payload                                               RET
=====  ============  =======================================================  ==========
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass, field
from enum import IntEnum

#: cmd, 4 bytes of padding, size
HEADER = struct.Struct("<i4xQ")
#: PciConfDataMsg: addr, val, len
PCI_CONF = struct.Struct("<IIi")
#: BarAccessMsg: addr, val, size, memory (then 3 bytes of padding)
BAR_ACCESS = struct.Struct("<QQIB3x")
#: SyncSysmemMsg: the guest-physical address, size and file offset of up to 8 regions
REGIONS = 8
SYNC_SYSMEM = struct.Struct(f"<{REGIONS}Q{REGIONS}Q{REGIONS}q")
#: the RET payload
RET = struct.Struct("<Q")
#: the largest payload (MPQemuMsg's data union) and the most fds a message carries
MAX_PAYLOAD = SYNC_SYSMEM.size
MAX_FDS = 8

assert HEADER.size == 16 and PCI_CONF.size == 12 and BAR_ACCESS.size == 24
assert SYNC_SYSMEM.size == 192


class Cmd(IntEnum):
    SYNC_SYSMEM = 0
    RET = 1
    PCI_CFGWRITE = 2
    PCI_CFGREAD = 3
    BAR_WRITE = 4
    BAR_READ = 5
    SET_IRQFD = 6
    DEVICE_RESET = 7


#: the commands QEMU waits on a RET for
NEEDS_REPLY = frozenset(
    {Cmd.PCI_CFGWRITE, Cmd.PCI_CFGREAD, Cmd.BAR_WRITE, Cmd.BAR_READ, Cmd.DEVICE_RESET}
)
#: the payload size each command must have
PAYLOAD_SIZE = {
    Cmd.SYNC_SYSMEM: SYNC_SYSMEM.size,
    Cmd.PCI_CFGWRITE: PCI_CONF.size,
    Cmd.PCI_CFGREAD: PCI_CONF.size,
    Cmd.BAR_WRITE: BAR_ACCESS.size,
    Cmd.BAR_READ: BAR_ACCESS.size,
    Cmd.SET_IRQFD: 0,
    Cmd.DEVICE_RESET: 0,
}


class ProxyClosed(Exception):
    """QEMU closed its end of the socket."""


class ProxyError(Exception):
    """A message that breaks the protocol: one line saying how."""


@dataclass
class Message:
    cmd: Cmd
    payload: bytes = b""
    fds: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ConfigAccess:
    addr: int
    val: int
    len: int


@dataclass(frozen=True)
class BarAccess:
    addr: int
    val: int
    size: int
    memory: bool


@dataclass(frozen=True)
class Region:
    """One range of guest RAM: its guest-physical address, size and offset in its fd."""

    gpa: int
    size: int
    offset: int


def close_fds(fds: list[int]) -> None:
    """Close file descriptors that came with a message (errors ignored)."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def recv_message(sock: socket.socket) -> Message:
    """Read one message (blocking). Raises :class:`ProxyClosed` at the end of the stream and
    :class:`ProxyError` for a message that breaks the protocol (its fds closed)."""
    head, fds = b"", []
    while len(head) < HEADER.size:
        try:
            data, got, _flags, _addr = socket.recv_fds(sock, HEADER.size - len(head), MAX_FDS)
        except ConnectionResetError:
            raise ProxyClosed() from None
        fds.extend(got)
        if not data:
            close_fds(fds)
            raise ProxyClosed()
        head += data
    raw_cmd, size = HEADER.unpack(head)
    try:
        cmd = Cmd(raw_cmd)
    except ValueError:
        close_fds(fds)
        raise ProxyError(f"unknown proxy command {raw_cmd}") from None
    if size > MAX_PAYLOAD:
        close_fds(fds)
        raise ProxyError(f"proxy command {cmd.name} of {size} bytes (at most {MAX_PAYLOAD})")
    payload = b""
    while len(payload) < size:
        chunk = sock.recv(size - len(payload))
        if not chunk:
            close_fds(fds)
            raise ProxyClosed()
        payload += chunk
    want = PAYLOAD_SIZE.get(cmd)
    if want is not None and size != want:
        close_fds(fds)
        raise ProxyError(f"proxy command {cmd.name} of {size} bytes (expected {want})")
    return Message(cmd, payload, fds)


def send_ret(sock: socket.socket, value: int) -> None:
    """Answer the command QEMU waits on: RET with a u64."""
    sock.sendall(HEADER.pack(Cmd.RET, RET.size) + RET.pack(value & 0xFFFF_FFFF_FFFF_FFFF))


def send_message(
    sock: socket.socket, cmd: Cmd, payload: bytes = b"", fds: list[int] | None = None
) -> None:
    """Send one message, as QEMU does (for tests that play QEMU's part)."""
    data = HEADER.pack(cmd, len(payload)) + payload
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)


def recv_ret(sock: socket.socket) -> int:
    """Read a RET (for tests that play QEMU's part)."""
    msg = recv_message(sock)
    if msg.cmd != Cmd.RET or len(msg.payload) != RET.size:
        raise ProxyError(f"expected RET, got {msg.cmd.name}")
    return RET.unpack(msg.payload)[0]


def config_access(payload: bytes) -> ConfigAccess:
    return ConfigAccess(*PCI_CONF.unpack(payload))


def bar_access(payload: bytes) -> BarAccess:
    addr, val, size, memory = BAR_ACCESS.unpack(payload)
    return BarAccess(addr, val, size, bool(memory))


def regions(payload: bytes, nfds: int) -> list[Region]:
    """The regions of a SYNC_SYSMEM: one per fd it carried."""
    values = SYNC_SYSMEM.unpack(payload)
    gpas, sizes, offsets = values[:REGIONS], values[REGIONS : 2 * REGIONS], values[2 * REGIONS :]
    if not 0 < nfds <= REGIONS:
        raise ProxyError(f"SYNC_SYSMEM with {nfds} fds (1 to {REGIONS})")
    return [Region(gpas[i], sizes[i], offsets[i]) for i in range(nfds)]
