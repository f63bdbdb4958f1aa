"""A printer that shows PCI configuration space the way ``lspci`` (pciutils 3.9) does.

``format_lspci(config)`` is the one-line form (``00:03.0 Non-Volatile memory
controller: Red Hat, Inc. QEMU NVM Express Controller (rev 02)``); ``verbose=1``
and ``verbose=2`` are ``lspci -v`` and ``lspci -vv`` (``-vvv`` adds nothing for
these capabilities): the Subsystem, Control and Status flags, latency and
interrupt, the BAR regions and every capability in the list (Power Management,
MSI, MSI-X, PCI Express with DevCap/DevCtl/DevSta, LnkCap/LnkCtl/LnkSta and, for
a version 2 capability, DevCap2/DevCtl2 and LnkCap2/LnkCtl2/LnkSta2; others by
ID), then the extended capabilities from 100h when 4 KiB are given.
``numeric`` is ``-n`` / ``-nn``, ``dump`` the hex dump of ``-x`` / ``-xxx`` /
``-xxxx``, ``driver`` and ``modules`` the kernel's two lines.

The layouts come from :mod:`nvmescope.nvme.pci`. Only a handful of vendor,
device and class names are known (the ones an NVMe controller under QEMU
shows); other IDs print as lspci prints IDs missing from its database
(``Device 4e53:0001``). Any bytes print: short config space reads as zeros, a
capability chain that loops or points outside the header stops the way lspci
stops.

Checked against the real ``lspci -vvv -nn -xxxx`` of QEMU 7.2's controller, before
and after the driver binds (reference/linux-6.1-on-qemu-7.2/). That controller is
a Root Complex Integrated Endpoint, so it has no link lines: LnkCap2, LnkCtl2 and
LnkSta2 follow pciutils 3.9's wording without a capture to check them against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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

__all__ = [
    "class_name",
    "device_name",
    "format_lspci",
    "hex_dump",
    "kernel_modules",
    "subsystem_name",
]

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


#: Subsystem names pci.ids gives under one device: (vendor, device, subvendor, subdevice).
#: pci.ids 2023.04.11 has none for QEMU's NVMe controller (1b36:0010 with 1af4:1100),
#: so lspci prints that subsystem as "Red Hat, Inc. Device 1100".
_SUBSYSTEMS: dict[tuple[int, int, int, int], str] = {}


def _device_text(vendor: int, device: int, numeric: int) -> str:
    if numeric == 1:
        return f"{vendor:04x}:{device:04x}"
    if numeric == 0:
        return device_name(vendor, device)
    vname = _VENDORS.get(vendor)
    dname = _DEVICES.get((vendor, device))
    text = "Device" if vname is None else f"{vname} {dname or 'Device'}"
    return f"{text} [{vendor:04x}:{device:04x}]"


def subsystem_name(
    vendor: int, device: int, subvendor: int, subdevice: int, numeric: int = 0
) -> str:
    """lspci's ``Subsystem:`` text: a name listed under this very device, else the device's
    own name when the subsystem IDs repeat the device IDs, else ``<vendor> Device <id>``."""
    if numeric == 1:
        return f"{subvendor:04x}:{subdevice:04x}"
    vname = _VENDORS.get(subvendor)
    sub = _SUBSYSTEMS.get((vendor, device, subvendor, subdevice))
    if sub is None and (subvendor, subdevice) == (vendor, device):
        sub = _DEVICES.get((vendor, device))
    if numeric >= 2:
        text = "Device" if vname is None else f"{vname} {sub or 'Device'}"
        return f"{text} [{subvendor:04x}:{subdevice:04x}]"
    if vname is None:
        return f"Device {subvendor:04x}:{subdevice:04x}"
    return f"{vname} {sub}" if sub else f"{vname} Device {subdevice:04x}"


def _class_text(base: int, sub: int, numeric: int) -> str:
    code = base << 8 | sub
    if numeric == 1:
        return f"{code:04x}"
    if numeric >= 2:
        if code in _SUBCLASSES:
            return f"{_SUBCLASSES[code]} [{code:04x}]"
        if base in _CLASSES:
            return f"{_CLASSES[base]} [{code:04x}]"
        return f"Class [{code:04x}]"
    return class_name(base, sub)


def _function(address: str) -> int:
    """The function number of ``[domain:]bus:device.function`` (0 if it does not parse)."""
    _, _, fn = address.rpartition(".")
    return int(fn, 16) if fn and all(c in "0123456789abcdefABCDEF" for c in fn) else 0


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


def _cap_express(
    cfg: _Config, where: int, cap: int, verbose: int, mem_bar: bool = True, function: int = 0
) -> list[str]:
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
    if link:
        out += _express_link(e, kind)
    if cap & 0xF >= 2:
        out += _express_dev2(e, kind, mem_bar)
        if link:
            out += _express_link2(e, kind, function)
    return out


def _express_link(e: Any, kind: int) -> list[str]:
    out: list[str] = []

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


_TIMEOUT_RANGES = {
    0: "Not Supported", 1: "Range A", 2: "Range B", 3: "Range AB", 6: "Range BC",
    7: "Range ABC", 14: "Range BCD", 15: "Range ABCD",
}  # fmt: skip
_TIMEOUT_VALUES = {
    0: "50us to 50ms", 1: "50us to 100us", 2: "1ms to 10ms", 5: "16ms to 55ms",
    6: "65ms to 210ms", 9: "260ms to 900ms", 10: "1s to 3.5s", 13: "4s to 13s",
    14: "17s to 64s",
}  # fmt: skip
_OBFF_CAP = ("Not Supported", "Via message", "Via WAKE#", "Via message/WAKE#")
_OBFF_CTL = ("Disabled", "Via message A", "Via message B", "Via WAKE#")
_EPR = ("Not Supported", "Dev Specific", "Form Factor Dev Specific", "Reserved")
_LN_CLS = ("Not Supported", "64byte cachelines", "128byte cachelines", "Reserved")
_MARGIN = {0: "Normal Operating Range", 1: "800-1200mV(full-swing)/400-700mV(half-swing)"}
_DEEMPHASIS = (
    "-6dB de-emphasis, 0dB preshoot", "-3.5dB de-emphasis, 0dB preshoot",
    "-4.4dB de-emphasis, 0dB preshoot", "-2.5dB de-emphasis, 0dB preshoot",
    "0dB de-emphasis, 0dB preshoot", "0dB de-emphasis, 1.9dB preshoot",
    "0dB de-emphasis, 2.5dB preshoot", "-6.0dB de-emphasis, 3.5dB preshoot",
    "-3.5dB de-emphasis, 3.5dB preshoot", "0dB de-emphasis, 3.5dB preshoot",
)  # fmt: skip
_CROSSLINK = ("unsupported", "Upstream Port", "Downstream Port", "incomplete")


def _has_memory_bar(cfg: _Config) -> bool:
    """A type 0 function with a memory BAR (lspci then shows the AtomicOps lines)."""
    if cfg.byte(0x0E) & 0x7F != 0:
        return False
    return any(cfg.long(0x10 + 4 * i) and not cfg.long(0x10 + 4 * i) & 1 for i in range(6))


def _express_dev2(e: Any, kind: int, mem_bar: bool) -> list[str]:
    """DevCap2 and DevCtl2 (PCI Express Base 4.0 sections 7.5.3.15 and 7.5.3.16)."""
    port = kind in (_ROOT_PORT, _DOWNSTREAM)
    switch = kind in (_ROOT_PORT, _UPSTREAM, _DOWNSTREAM)
    t = e.dev_cap2
    out = [
        f"\t\tDevCap2: Completion Timeout: {_TIMEOUT_RANGES.get(t & 0xF, 'Unknown')}, "
        f"TimeoutDis{_flag(t, 1 << 4)} NROPrPrP{_flag(t, 1 << 10)} LTR{_flag(t, 1 << 11)}"
    ]
    line = (
        f"\t\t\t 10BitTagComp{_flag(t, 1 << 16)} 10BitTagReq{_flag(t, 1 << 17)} "
        f"OBFF {_OBFF_CAP[t >> 18 & 3]}, ExtFmt{_flag(t, 1 << 20)} EETLPPrefix{_flag(t, 1 << 21)}"
    )
    if t & (1 << 21):
        line += f", MaxEETLPPrefixes {(t >> 22 & 3) or 4}"
    out.append(line)
    out.append(
        f"\t\t\t EmergencyPowerReduction {_EPR[t >> 24 & 3]}, "
        f"EmergencyPowerReductionInit{_flag(t, 1 << 26)}"
    )
    line = f"\t\t\t FRS{_flag(t, 1 << 31)}"
    if kind == _ROOT_PORT:
        line += f" LN System CLS {_LN_CLS[t >> 14 & 3]},"
    if port:
        line += f" ARIFwd{_flag(t, 1 << 5)}"
    out.append(line)
    if switch or mem_bar:
        line = "\t\t\t AtomicOpsCap:"
        if switch:
            line += f" Routing{_flag(t, 1 << 6)}"
        if kind == _ROOT_PORT or mem_bar:
            line += f" 32bit{_flag(t, 1 << 7)} 64bit{_flag(t, 1 << 8)} 128bitCAS{_flag(t, 1 << 9)}"
        out.append(line)
    w = e.dev_ctl2
    line = (
        f"\t\tDevCtl2: Completion Timeout: {_TIMEOUT_VALUES.get(w & 0xF, 'Unknown')}, "
        f"TimeoutDis{_flag(w, 1 << 4)}"
    )
    if port:
        line += f" ARIFwd{_flag(w, 1 << 5)}"
    line += f" LTR{_flag(w, 1 << 10)} 10BitTagReq{_flag(w, 1 << 12)} OBFF {_OBFF_CTL[w >> 13 & 3]},"
    out.append(line)
    if switch or mem_bar:
        line = "\t\t\t AtomicOpsCtl:"
        if kind == _ROOT_PORT or mem_bar:
            line += f" ReqEn{_flag(w, 1 << 6)}"
        if switch:
            line += f" EgressBlck{_flag(w, 1 << 7)}"
        out.append(line)
    return out


def _speed_vector(vector: int) -> str:
    for bit, text in ((0x40, "2.5-64GT/s"), (0x20, "2.5-32GT/s"), (0x10, "2.5-16GT/s"),
                      (0x08, "2.5-8GT/s"), (0x04, "2.5-5GT/s"), (0x02, "2.5GT/s")):  # fmt: skip
        if vector & bit:
            return text
    return "Unknown"


def _express_link2(e: Any, kind: int, function: int) -> list[str]:
    """LnkCap2, LnkCtl2 and LnkSta2 (PCI Express Base 4.0 sections 7.5.3.18 to 7.5.3.20)."""
    out: list[str] = []
    t = 0
    # Link Capabilities/Control 2 are reserved in an endpoint's functions other than 0
    if not (kind in (_EP, _LEG_END) and function != 0):
        t = e.link_cap2
        if t:
            out.append(
                f"\t\tLnkCap2: Supported Link Speeds: {_speed_vector(t & 0xFE)}, "
                f"Crosslink{_flag(t, 1 << 8)} Retimer{_flag(t, 1 << 23)} "
                f"2Retimers{_flag(t, 1 << 24)} DRS{_flag(t, 1 << 31)}"
            )
        w = e.link_ctl2
        line = (
            f"\t\tLnkCtl2: Target Link Speed: {_SPEEDS.get(w & 0xF, 'Unknown')}, "
            f"EnterCompliance{_flag(w, 1 << 4)} SpeedDis{_flag(w, 1 << 5)}"
        )
        if kind == _DOWNSTREAM:
            line += f", Selectable De-emphasis: {'-3.5dB' if w & (1 << 6) else '-6dB'}"
        out.append(line)
        margin = w >> 7 & 7
        margin_text = _MARGIN.get(
            margin, "200-400mV(full-swing)/100-200mV(half-swing)" if margin < 6 else "Reserved"
        )
        deemph = w >> 12 & 0xF
        out.append(
            f"\t\t\t Transmit Margin: {margin_text}, "
            f"EnterModifiedCompliance{_flag(w, 1 << 10)} ComplianceSOS{_flag(w, 1 << 11)}"
        )
        out.append(
            "\t\t\t Compliance Preset/De-emphasis: "
            + (_DEEMPHASIS[deemph] if deemph < len(_DEEMPHASIS) else "Reserved")
        )
    w = e.link_sta2
    out.append(
        f"\t\tLnkSta2: Current De-emphasis Level: {'-3.5dB' if w & 1 else '-6dB'}, "
        f"EqualizationComplete{_flag(w, 1 << 1)} EqualizationPhase1{_flag(w, 1 << 2)}"
    )
    out.append(
        f"\t\t\t EqualizationPhase2{_flag(w, 1 << 3)} EqualizationPhase3{_flag(w, 1 << 4)} "
        f"LinkEqualizationRequest{_flag(w, 1 << 5)}"
    )
    out.append(
        f"\t\t\t Retimer{_flag(w, 1 << 6)} 2Retimers{_flag(w, 1 << 7)} "
        f"CrosslinkRes: {_CROSSLINK[w >> 8 & 3]}"
    )
    return out


_EXT_CAP_NAMES = {
    0x0001: "Advanced Error Reporting",
    0x0003: "Device Serial Number",
    0x000E: "Alternative Routing-ID Interpretation (ARI)",
    0x0010: "Single Root I/O Virtualization (SR-IOV)",
    0x0018: "Latency Tolerance Reporting",
    0x001E: "L1 PM Substates",
    0x0019: "Secondary PCI Express",
}


def _extended_capabilities(cfg: _Config) -> list[str]:
    """The extended capability list from 100h (lspci -vv reads it from 4 KiB of config space);
    none when the header there is 0, as on QEMU's controller."""
    out: list[str] = []
    where = 0x100
    seen: set[int] = set()
    while where:
        header = cfg.long(where)
        if header in (0, 0xFFFFFFFF):
            break
        head = f"\tCapabilities: [{where:03x} v{header >> 16 & 0xF}] "
        if where in seen:
            out.append(f"\tCapabilities: [{where:03x}] <chain looped>")
            break
        seen.add(where)
        cap_id = header & 0xFFFF
        out.append(head + _EXT_CAP_NAMES.get(cap_id, f"Extended Capability ID {cap_id:#x}"))
        where = header >> 20 & 0xFFC
        if where and where < 0x100:
            out.append(f"\tCapabilities: [{where:03x}] <chain broken>")
            break
    return out


def hex_dump(config: bytes, length: int) -> str:
    """``lspci -x`` (64 bytes), ``-xxx`` (256) or ``-xxxx`` (4096): 16 bytes a line."""
    cfg = _Config(config)
    return "".join(
        f"{off:02x}: " + " ".join(f"{b:02x}" for b in cfg.raw[off : off + 16]) + "\n"
        for off in range(0, length, 16)
    )


def kernel_modules(config: bytes) -> list[str]:
    """The Linux modules whose PCI ID table matches, as ``Kernel modules:`` lists them: the
    nvme driver claims every function of class 01 08 02 (PCI_CLASS_STORAGE_EXPRESS)."""
    cfg = _Config(config)
    if (cfg.byte(0x0B), cfg.byte(0x0A), cfg.byte(0x09)) == (0x01, 0x08, 0x02):
        return ["nvme"]
    return []


def _capabilities(cfg: _Config, verbose: int, function: int = 0) -> list[str]:
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
            lines = _cap_express(cfg, where, cap, verbose, _has_memory_bar(cfg), function)
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
    numeric: int = 0,
    modules: Sequence[str] = (),
    dump: int = 0,
) -> str:
    """``lspci`` (``verbose`` 0), ``lspci -v`` (1) or ``lspci -vv`` (2) of one function.

    ``config`` is the configuration space (64 bytes or more; zeros beyond; 4 KiB
    for the extended capabilities). ``bar_sizes`` maps a BAR index to its size in
    bytes (lspci learns sizes from the kernel; config space alone does not hold
    them). ``irq`` is the host kernel's IRQ number for the function and defaults to
    the Interrupt Line register. ``driver`` adds ``Kernel driver in use:`` and
    ``modules`` ``Kernel modules:`` (see :func:`kernel_modules`). ``numeric`` 1 is
    ``-n`` (IDs only), 2 is ``-nn`` (names and IDs). ``dump`` 64, 256 or 4096 adds
    the hex dump of ``-x``, ``-xxx`` or ``-xxxx``.
    """
    cfg = _Config(config)
    hdr = TYPE0_HEADER.parse(cfg.raw[: TYPE0_HEADER.sizeof()])
    sizes = dict(bar_sizes or {})
    code = hdr.class_code << 8 | hdr.subclass
    line = (
        f"{_short_address(address)} {_class_text(hdr.class_code, hdr.subclass, numeric)}: "
        f"{_device_text(hdr.vendor_id, hdr.device_id, numeric)}"
    )
    if hdr.revision_id:
        line += f" (rev {hdr.revision_id:02x})"
    if verbose:
        progif_name = None if numeric == 1 else _PROG_IFS.get((code, hdr.prog_if))
        if hdr.prog_if or progif_name:
            line += (
                f" (prog-if {hdr.prog_if:02x}" + (f" [{progif_name}]" if progif_name else "") + ")"
            )
    out = [line]
    kernel: list[str] = []
    if driver:
        kernel.append(f"\tKernel driver in use: {driver}")
    if modules:
        kernel.append(f"\tKernel modules: {', '.join(modules)}")
    htype = hdr.header_type & 0x7F
    subsystem = ""
    if htype == 0 and hdr.subsystem_vendor_id not in (0, 0xFFFF):
        text = subsystem_name(
            hdr.vendor_id, hdr.device_id, hdr.subsystem_vendor_id, hdr.subsystem_id, numeric
        )
        subsystem = f"\tSubsystem: {text}"
    if not verbose:
        # lspci -k: the Subsystem line too, then the kernel's lines
        if kernel and subsystem:
            out.append(subsystem)
        out += kernel
        if dump:
            return "\n".join(out) + "\n" + hex_dump(config, dump) + "\n"
        return "\n".join(out) + "\n"

    if subsystem:
        out.append(subsystem)

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
        out += _capabilities(cfg, verbose, _function(address))
    if verbose >= 2 and len(config) > 0x100:
        out += _extended_capabilities(cfg)
    out += kernel
    return "\n".join(out) + "\n" + (hex_dump(config, dump) if dump else "") + "\n"
