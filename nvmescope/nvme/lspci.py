"""A printer that shows PCI configuration space the way ``lspci`` (pciutils 3.9) does.

``format_lspci(config)`` is the one-line form (``00:03.0 Non-Volatile memory
controller: Red Hat, Inc. QEMU NVM Express Controller (rev 02)``); ``verbose=1``
and ``verbose=2`` are ``lspci -v`` and ``lspci -vv``: the Subsystem, Control and
Status flags, latency and interrupt, the BAR regions and every capability in the
list (Power Management, MSI, MSI-X, PCI Express with its DevCap/DevCtl/DevSta
and LnkCap/LnkCtl/LnkSta lines; others by ID).

The layouts come from :mod:`nvmescope.nvme.pci`. Only a handful of vendor,
device and class names are known (the ones an NVMe controller under QEMU
shows); other IDs print as lspci prints IDs missing from its database
(``Device 4e53:0001``). Any bytes print: short config space reads as zeros, a
capability chain that loops or points outside the header stops the way lspci
stops.
"""

from __future__ import annotations

from collections.abc import Mapping

from nvmescope.nvme.pci import (
    CAP_ID_MSI,
    CAP_ID_MSIX,
    CAP_ID_PCIE,
    CAP_ID_PM,
    CONFIG_SPACE_SIZE,
    MSIX_CAP,
    PCIE_CAP,
    PM_CAP,
    STATUS_CAP_LIST,
    TYPE0_HEADER,
)

__all__ = ["class_name", "device_name", "format_lspci"]

# ----------------------------------------------------------------------------------
# names (a tiny slice of pci.ids)
# ----------------------------------------------------------------------------------

_VENDORS: dict[int, str] = {
    0x1AF4: "Red Hat, Inc.",
    0x1B36: "Red Hat, Inc.",
    0x1234: "Technical Corp.",
    0x8086: "Intel Corporation",
}
_DEVICES: dict[tuple[int, int], str] = {
    (0x1B36, 0x0010): "QEMU NVM Express Controller",
    (0x1AF4, 0x1100): "QEMU Virtual Machine",
    (0x8086, 0x5845): "QEMU NVM Express Controller",
}
_CLASSES: dict[int, str] = {
    0x00: "Unclassified device",
    0x01: "Mass storage controller",
    0x02: "Network controller",
    0x03: "Display controller",
    0x06: "Bridge",
    0x0C: "Serial bus controller",
}
_SUBCLASSES: dict[int, str] = {
    0x0100: "SCSI storage controller",
    0x0101: "IDE interface",
    0x0106: "SATA controller",
    0x0107: "Serial Attached SCSI controller",
    0x0108: "Non-Volatile memory controller",
    0x0180: "Mass storage controller",
    0x0200: "Ethernet controller",
    0x0300: "VGA compatible controller",
    0x0600: "Host bridge",
    0x0601: "ISA bridge",
    0x0604: "PCI bridge",
    0x0C03: "USB controller",
    0x0C05: "SMBus",
}
_PROG_IFS: dict[tuple[int, int], str] = {
    (0x0108, 0x01): "NVMHCI",
    (0x0108, 0x02): "NVM Express",
    (0x0106, 0x01): "AHCI 1.0",
    (0x0C03, 0x30): "XHCI",
}


def device_name(vendor: int, device: int) -> str:
    """lspci's name for a vendor/device pair (``Device 4e53:0001`` when unknown)."""
    vname = _VENDORS.get(vendor)
    dname = _DEVICES.get((vendor, device))
    if vname is None:
        return f"Device {vendor:04x}:{device:04x}"
    if dname is None:
        return f"{vname} Device {device:04x}"
    return f"{vname} {dname}"


def class_name(base: int, sub: int) -> str:
    """lspci's name for a class/subclass pair."""
    code = base << 8 | sub
    if code in _SUBCLASSES:
        return _SUBCLASSES[code]
    if base in _CLASSES:
        return f"{_CLASSES[base]} [{code:04x}]"
    return f"Class {code:04x}"


# ----------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------


def _flag(value: int, mask: int) -> str:
    return "+" if value & mask else "-"


def _short_address(address: str) -> str:
    """``0000:00:03.0`` prints as ``00:03.0``; another domain is kept."""
    domain, sep, rest = address.partition(":")
    if sep and rest.count(":") == 1 and domain.strip("0") == "":
        return rest
    return address


def _size(value: int) -> str:
    if not value:
        return ""
    suffixes = ("", "K", "M", "G", "T")
    i = 0
    while i < len(suffixes) - 1 and value % 1024 == 0:
        value //= 1024
        i += 1
    return f" [size={value}{suffixes[i]}]"


class _Config:
    def __init__(self, data: bytes) -> None:
        raw = bytes(data)[:CONFIG_SPACE_SIZE]
        self.raw = raw + bytes(CONFIG_SPACE_SIZE - len(raw))

    def byte(self, off: int) -> int:
        return self.raw[off] if 0 <= off < len(self.raw) else 0

    def word(self, off: int) -> int:
        return self.byte(off) | self.byte(off + 1) << 8

    def long(self, off: int) -> int:
        return self.word(off) | self.word(off + 2) << 16


# ----------------------------------------------------------------------------------
# regions
# ----------------------------------------------------------------------------------


def _regions(cfg: _Config, cmd: int, count: int, bar_sizes: Mapping[int, int]) -> list[str]:
    out = []
    i = 0
    while i < count:
        flg = cfg.long(0x10 + 4 * i)
        if flg == 0xFFFFFFFF:
            flg = 0
        size = bar_sizes.get(i, 0)
        index = i
        if not flg and not size:
            i += 1
            continue
        if flg & 1:
            addr = flg & ~3 & 0xFFFFFFFF
            text = f"\tRegion {index}: I/O ports at " + (f"{addr:04x}" if addr else "<unassigned>")
            if not cmd & 0x1:
                text += " [disabled]"
        else:
            kind = flg >> 1 & 3
            addr = flg & ~0xF & 0xFFFFFFFF
            where = ""
            if kind == 2:
                if i >= count - 1:
                    where = "<invalid-64bit-slot>"
                else:
                    i += 1
                    addr |= cfg.long(0x10 + 4 * i) << 32
            if not where:
                where = f"{addr:08x}" if addr else "<unassigned>"
            width = {0: "32-bit", 1: "low-1M", 2: "64-bit"}.get(kind, "type 3")
            pref = "" if flg & 0x8 else "non-"
            text = f"\tRegion {index}: Memory at {where} ({width}, {pref}prefetchable)"
            if not cmd & 0x2:
                text += " [disabled]"
        out.append(text + _size(size))
        i += 1
    return out


# ----------------------------------------------------------------------------------
# capabilities
# ----------------------------------------------------------------------------------

_AUX_CURRENT = (0, 55, 100, 160, 220, 270, 320, 375)


def _cap_pm(cfg: _Config, where: int, verbose: int) -> list[str]:
    pm = PM_CAP.parse(cfg.raw[where : where + PM_CAP.sizeof()])
    pmc, pmcsr = pm.pmc, pm.pmcsr
    out = [f"Power Management version {pmc & 7}"]
    if verbose < 2:
        return out
    out.append(
        f"\t\tFlags: PMEClk{_flag(pmc, 0x8)} DSI{_flag(pmc, 0x20)} D1{_flag(pmc, 0x200)} "
        f"D2{_flag(pmc, 0x400)} AuxCurrent={_AUX_CURRENT[pmc >> 6 & 7]}mA "
        f"PME(D0{_flag(pmc, 0x800)},D1{_flag(pmc, 0x1000)},D2{_flag(pmc, 0x2000)},"
        f"D3hot{_flag(pmc, 0x4000)},D3cold{_flag(pmc, 0x8000)})"
    )
    out.append(
        f"\t\tStatus: D{pmcsr & 3} NoSoftRst{_flag(pmcsr, 0x8)} PME-Enable{_flag(pmcsr, 0x100)} "
        f"DSel={pmcsr >> 9 & 0xF} DScale={pmcsr >> 13 & 3} PME{_flag(pmcsr, 0x8000)}"
    )
    return out


def _cap_msi(cfg: _Config, where: int, ctrl: int, verbose: int) -> list[str]:
    is64 = ctrl & 0x80
    out = [
        f"MSI: Enable{_flag(ctrl, 0x1)} Count={1 << (ctrl >> 4 & 7)}/{1 << (ctrl >> 1 & 7)} "
        f"Maskable{_flag(ctrl, 0x100)} 64bit{_flag(ctrl, 0x80)}"
    ]
    if verbose < 2:
        return out
    lo = cfg.long(where + 4)
    if is64:
        hi, data = cfg.long(where + 8), cfg.word(where + 12)
        out.append(f"\t\tAddress: {hi:08x}{lo:08x}  Data: {data:04x}")
        mask_at = where + 16
    else:
        data = cfg.word(where + 8)
        out.append(f"\t\tAddress: {lo:08x}  Data: {data:04x}")
        mask_at = where + 12
    if ctrl & 0x100:
        out.append(f"\t\tMasking: {cfg.long(mask_at):08x}  Pending: {cfg.long(mask_at + 4):08x}")
    return out


def _cap_msix(cfg: _Config, where: int, verbose: int) -> list[str]:
    m = MSIX_CAP.parse(cfg.raw[where : where + MSIX_CAP.sizeof()])
    out = [
        f"MSI-X: Enable{_flag(m.mc, 0x8000)} Count={(m.mc & 0x7FF) + 1} Masked{_flag(m.mc, 0x4000)}"
    ]
    if verbose < 2:
        return out
    out.append(f"\t\tVector table: BAR={m.table & 7} offset={m.table & ~7 & 0xFFFFFFFF:08x}")
    out.append(f"\t\tPBA: BAR={m.pba & 7} offset={m.pba & ~7 & 0xFFFFFFFF:08x}")
    return out


_L0S = ("<64ns", "<128ns", "<256ns", "<512ns", "<1us", "<2us", "<4us", "unlimited")
_L1 = ("<1us", "<2us", "<4us", "<8us", "<16us", "<32us", "<64us", "unlimited")
_SPEEDS = {1: "2.5GT/s", 2: "5GT/s", 3: "8GT/s", 4: "16GT/s", 5: "32GT/s", 6: "64GT/s"}
_ASPM_SUPPORT = ("not supported", "L0s", "L1", "L0s L1")
_ASPM_ENABLED = ("Disabled", "L0s Enabled", "L1 Enabled", "L0s L1 Enabled")

# PCI Express device/port types
_EP, _LEG_END, _ROOT_PORT, _UPSTREAM, _DOWNSTREAM = 0, 1, 4, 5, 6
_PCI_BRIDGE, _PCIE_BRIDGE, _ROOT_INT_EP, _ROOT_EC = 7, 8, 9, 10


def _power_limit(value: int, scale: int) -> str:
    watts = value * (1.0, 0.1, 0.01, 0.001)[scale]
    return f"{watts:g}W"


def _link_compare(kind: int, sta: int, cap: int) -> str:
    if kind in (_ROOT_PORT, _DOWNSTREAM, _PCIE_BRIDGE):
        return ""
    if sta < cap:
        return " (downgraded)"
    if sta > cap:
        return " (strange)"
    return " (ok)"


def _cap_express(cfg: _Config, where: int, cap: int, verbose: int) -> list[str]:
    kind = cap >> 4 & 0xF
    link = kind not in (_ROOT_INT_EP, _ROOT_EC)
    names = {
        _EP: "Endpoint",
        _LEG_END: "Legacy Endpoint",
        _ROOT_PORT: f"Root Port (Slot{_flag(cap, 0x100)})",
        _UPSTREAM: "Upstream Port",
        _DOWNSTREAM: f"Downstream Port (Slot{_flag(cap, 0x100)})",
        _PCI_BRIDGE: "PCI-Express to PCI/PCI-X Bridge",
        _PCIE_BRIDGE: f"PCI/PCI-X to PCI-Express Bridge (Slot{_flag(cap, 0x100)})",
        _ROOT_INT_EP: "Root Complex Integrated Endpoint",
        _ROOT_EC: "Root Complex Event Collector",
    }
    version = f"(v{cap & 0xF}) " if verbose >= 2 else ""
    out = [f"Express {version}{names.get(kind, f'Unknown type {kind}')}, MSI {cap >> 9 & 0x1F:02x}"]
    if verbose < 2:
        return out
    e = PCIE_CAP.parse(cfg.raw[where : where + PCIE_CAP.sizeof()])
    endpoint = kind in (_EP, _LEG_END)

    t = e.dev_cap
    line = f"\t\tDevCap:\tMaxPayload {128 << (t & 7)} bytes, PhantFunc {(1 << (t >> 3 & 3)) - 1}"
    if endpoint:
        line += f", Latency L0s {_L0S[t >> 6 & 7]}, L1 {_L1[t >> 9 & 7]}"
    out.append(line)
    line = f"\t\t\tExtTag{_flag(t, 0x20)}"
    if endpoint or kind in (_UPSTREAM, _PCI_BRIDGE):
        line += f" AttnBtn{_flag(t, 0x1000)} AttnInd{_flag(t, 0x2000)} PwrInd{_flag(t, 0x4000)}"
    line += f" RBE{_flag(t, 0x8000)}"
    if endpoint or kind == _ROOT_INT_EP:
        line += f" FLReset{_flag(t, 1 << 28)}"
    if kind in (_EP, _UPSTREAM, _PCI_BRIDGE):
        line += f" SlotPowerLimit {_power_limit(t >> 18 & 0xFF, t >> 26 & 3)}"
    out.append(line)

    w = e.dev_ctl
    out.append(
        f"\t\tDevCtl:\tCorrErr{_flag(w, 0x1)} NonFatalErr{_flag(w, 0x2)} FatalErr{_flag(w, 0x4)} "
        f"UnsupReq{_flag(w, 0x8)}"
    )
    line = (
        f"\t\t\tRlxdOrd{_flag(w, 0x10)} ExtTag{_flag(w, 0x100)} PhantFunc{_flag(w, 0x200)} "
        f"AuxPwr{_flag(w, 0x400)} NoSnoop{_flag(w, 0x800)}"
    )
    if kind == _PCI_BRIDGE:
        line += f" BrConfRtry{_flag(w, 0x8000)}"
    if (endpoint or kind == _ROOT_INT_EP) and t & (1 << 28):
        line += f" FLReset{_flag(w, 0x8000)}"
    out.append(line)
    out.append(
        f"\t\t\tMaxPayload {128 << (w >> 5 & 7)} bytes, MaxReadReq {128 << (w >> 12 & 7)} bytes"
    )
    w = e.dev_sta
    out.append(
        f"\t\tDevSta:\tCorrErr{_flag(w, 0x1)} NonFatalErr{_flag(w, 0x2)} FatalErr{_flag(w, 0x4)} "
        f"UnsupReq{_flag(w, 0x8)} AuxPwr{_flag(w, 0x10)} TransPend{_flag(w, 0x20)}"
    )
    if not link:
        return out

    t = e.link_cap
    aspm = t >> 10 & 3
    cap_speed, cap_width = t & 0xF, t >> 4 & 0x3F
    line = (
        f"\t\tLnkCap:\tPort #{t >> 24}, Speed {_SPEEDS.get(cap_speed, 'unknown')}, "
        f"Width x{cap_width}, ASPM {_ASPM_SUPPORT[aspm]}"
    )
    if aspm:
        line += ", Exit Latency "
        if aspm & 1:
            line += f"L0s {_L0S[t >> 12 & 7]}"
        if aspm & 2:
            line += f"{', ' if aspm & 1 else ''}L1 {_L1[t >> 15 & 7]}"
    out.append(line)
    out.append(
        f"\t\t\tClockPM{_flag(t, 1 << 18)} Surprise{_flag(t, 1 << 19)} LLActRep{_flag(t, 1 << 20)} "
        f"BwNot{_flag(t, 1 << 21)} ASPMOptComp{_flag(t, 1 << 22)}"
    )
    w = e.link_ctl
    line = f"\t\tLnkCtl:\tASPM {_ASPM_ENABLED[w & 3]};"
    if kind in (_ROOT_PORT, _EP, _LEG_END, _PCI_BRIDGE):
        line += f" RCB {128 if w & 0x8 else 64} bytes,"
    line += f" Disabled{_flag(w, 0x10)} CommClk{_flag(w, 0x40)}"
    out.append(line)
    out.append(
        f"\t\t\tExtSynch{_flag(w, 0x80)} ClockPM{_flag(w, 0x100)} AutWidDis{_flag(w, 0x200)} "
        f"BWInt{_flag(w, 0x400)} AutBWInt{_flag(w, 0x800)}"
    )
    w = e.link_sta
    sta_speed, sta_width = w & 0xF, w >> 4 & 0x3F
    out.append(
        f"\t\tLnkSta:\tSpeed {_SPEEDS.get(sta_speed, 'unknown')}"
        f"{_link_compare(kind, sta_speed, cap_speed)}, Width x{sta_width}"
        f"{_link_compare(kind, sta_width, cap_width)}"
    )
    out.append(
        f"\t\t\tTrErr{_flag(w, 0x400)} Train{_flag(w, 0x800)} SlotClk{_flag(w, 0x1000)} "
        f"DLActive{_flag(w, 0x2000)} BWMgmt{_flag(w, 0x4000)} ABWMgmt{_flag(w, 0x8000)}"
    )
    return out


def _capabilities(cfg: _Config, verbose: int) -> list[str]:
    out: list[str] = []
    where = cfg.byte(0x34) & ~3
    seen: set[int] = set()
    while where:
        head = f"\tCapabilities: [{where:02x}] "
        if where in seen:
            out.append(head + "<chain looped>")
            break
        seen.add(where)
        cap_id, nxt, cap = cfg.byte(where), cfg.byte(where + 1) & ~3, cfg.word(where + 2)
        if cap_id == 0xFF:
            out.append(head + "<chain broken>")
            break
        if cap_id == CAP_ID_PM:
            lines = _cap_pm(cfg, where, verbose)
        elif cap_id == CAP_ID_MSI:
            lines = _cap_msi(cfg, where, cap, verbose)
        elif cap_id == CAP_ID_MSIX:
            lines = _cap_msix(cfg, where, verbose)
        elif cap_id == CAP_ID_PCIE:
            lines = _cap_express(cfg, where, cap, verbose)
        elif cap_id == 0x09:
            lines = [f"Vendor Specific Information: Len={cap & 0xFF:02x} <?>"]
        else:
            lines = [f"#{cap_id:02x} [{cap:04x}]"]
        out.append(head + lines[0])
        out.extend(lines[1:])
        where = nxt
    return out


# ----------------------------------------------------------------------------------
# the printer
# ----------------------------------------------------------------------------------


def format_lspci(
    config: bytes,
    address: str = "0000:00:03.0",
    verbose: int = 0,
    driver: str | None = None,
    bar_sizes: Mapping[int, int] | None = None,
    irq: int | None = None,
) -> str:
    """``lspci`` (``verbose`` 0), ``lspci -v`` (1) or ``lspci -vv`` (2) of one function.

    ``config`` is the configuration space (64 bytes or more; zeros beyond).
    ``bar_sizes`` maps a BAR index to its size in bytes (lspci learns sizes from
    the kernel; config space alone does not hold them). ``irq`` defaults to the
    Interrupt Line register. ``driver`` adds ``Kernel driver in use:``.
    """
    cfg = _Config(config)
    hdr = TYPE0_HEADER.parse(cfg.raw[: TYPE0_HEADER.sizeof()])
    sizes = dict(bar_sizes or {})
    code = hdr.class_code << 8 | hdr.subclass
    line = (
        f"{_short_address(address)} {class_name(hdr.class_code, hdr.subclass)}: "
        f"{device_name(hdr.vendor_id, hdr.device_id)}"
    )
    if hdr.revision_id:
        line += f" (rev {hdr.revision_id:02x})"
    if verbose:
        progif_name = _PROG_IFS.get((code, hdr.prog_if))
        if hdr.prog_if or progif_name:
            line += (
                f" (prog-if {hdr.prog_if:02x}" + (f" [{progif_name}]" if progif_name else "") + ")"
            )
    out = [line]
    if not verbose:
        return line + "\n" + (f"\tKernel driver in use: {driver}\n" if driver else "")

    htype = hdr.header_type & 0x7F
    if htype == 0 and hdr.subsystem_vendor_id not in (0, 0xFFFF):
        sub = _DEVICES.get((hdr.subsystem_vendor_id, hdr.subsystem_id))
        vname = _VENDORS.get(hdr.subsystem_vendor_id)
        if vname is None:
            text = f"Device {hdr.subsystem_vendor_id:04x}:{hdr.subsystem_id:04x}"
        elif sub is None:
            text = f"{vname} Device {hdr.subsystem_id:04x}"
        else:
            text = f"{vname} {sub}"
        out.append(f"\tSubsystem: {text}")

    cmd, status = hdr.command, hdr.status
    irq_line = hdr.interrupt_line if irq is None else irq
    devsel = ("fast", "medium", "slow", "??")[status >> 9 & 3]
    if verbose >= 2:
        out.append(
            f"\tControl: I/O{_flag(cmd, 0x1)} Mem{_flag(cmd, 0x2)} BusMaster{_flag(cmd, 0x4)} "
            f"SpecCycle{_flag(cmd, 0x8)} MemWINV{_flag(cmd, 0x10)} VGASnoop{_flag(cmd, 0x20)} "
            f"ParErr{_flag(cmd, 0x40)} Stepping{_flag(cmd, 0x80)} SERR{_flag(cmd, 0x100)} "
            f"FastB2B{_flag(cmd, 0x200)} DisINTx{_flag(cmd, 0x400)}"
        )
        out.append(
            f"\tStatus: Cap{_flag(status, 0x10)} 66MHz{_flag(status, 0x20)} UDF{_flag(status, 0x40)} "
            f"FastB2B{_flag(status, 0x80)} ParErr{_flag(status, 0x100)} DEVSEL={devsel} "
            f">TAbort{_flag(status, 0x800)} <TAbort{_flag(status, 0x1000)} "
            f"<MAbort{_flag(status, 0x2000)} >SERR{_flag(status, 0x4000)} "
            f"<PERR{_flag(status, 0x8000)} INTx{_flag(status, 0x8)}"
        )
        if cmd & 0x4:
            lat = f"\tLatency: {hdr.latency_timer}"
            if htype == 0 and (hdr.min_gnt or hdr.max_lat):
                parts = []
                if hdr.min_gnt:
                    parts.append(f"{hdr.min_gnt * 250}ns min")
                if hdr.max_lat:
                    parts.append(f"{hdr.max_lat * 250}ns max")
                lat += " (" + ", ".join(parts) + ")"
            if hdr.cache_line_size:
                lat += f", Cache Line Size: {hdr.cache_line_size * 4} bytes"
            out.append(lat)
        if hdr.interrupt_pin or irq_line:
            pin = chr(ord("A") + hdr.interrupt_pin - 1) if hdr.interrupt_pin else "?"
            out.append(f"\tInterrupt: pin {pin} routed to IRQ {irq_line}")
    else:
        flags = []
        if cmd & 0x4:
            flags.append("bus master")
        if cmd & 0x20:
            flags.append("VGA palette snoop")
        if cmd & 0x80:
            flags.append("stepping")
        if cmd & 0x200:
            flags.append("fast Back2Back")
        if status & 0x20:
            flags.append("66MHz")
        if status & 0x40:
            flags.append("user-definable features")
        flags.append(f"{devsel} devsel")
        text = ", ".join(flags)
        if cmd & 0x4:
            text += f", latency {hdr.latency_timer}"
        if irq_line:
            text += f", IRQ {irq_line}"
        out.append(f"\tFlags: {text}")

    out += _regions(cfg, cmd, {0: 6, 1: 2, 2: 1}.get(htype, 0), sizes)
    if status & STATUS_CAP_LIST:
        out += _capabilities(cfg, verbose)
    if driver:
        out.append(f"\tKernel driver in use: {driver}")
    return "\n".join(out) + "\n\n"
