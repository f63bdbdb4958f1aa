"""BAR0 printed the way ``nvme show-regs`` (nvme-cli 2.3) prints it, plain and ``-H``.

``format_show_regs(values, human)`` takes each register's value by its name in
:mod:`nvmescope.nvme.registers` (``cap``, ``vs``, ``cc``, ... ``pmrmscu``) and
returns the text. The plain form is one ``name : hex`` line per register; the
``-H`` form follows each with its fields decoded, one line each, named by the
specification's long name and acronym. The bit positions come from the register
declarations; this module only says how nvme-cli words and orders them.

One line is worded as nvme-cli 2.3 words it although the bit says the opposite:
PMRSTS.NRDY clear prints "Not Ready".

A value that is ``None`` (a recording that has not seen that register yet) prints
as ``?``; real nvme-cli has no such case.

``SHOW_REGS_ORDER`` is nvme-cli's order, which is not the offset order: CRTO comes
right after NSSR, INTMS/INTMC after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from nvmescope.nvme import registers as r

__all__ = ["SHOW_REGS_ORDER", "format_show_regs", "register_by_name"]

#: nvme-cli 2.3's order of the registers it prints.
SHOW_REGS_ORDER: tuple[str, ...] = (
    "cap",
    "vs",
    "cc",
    "csts",
    "nssr",
    "crto",
    "intms",
    "intmc",
    "aqa",
    "asq",
    "acq",
    "cmbloc",
    "cmbsz",
    "bpinfo",
    "bprsel",
    "bpmbl",
    "cmbmsc",
    "cmbsts",
    "pmrcap",
    "pmrctl",
    "pmrsts",
    "pmrebs",
    "pmrswtp",
    "pmrmscl",
    "pmrmscu",
)

# nvme-cli pads most names to 8 columns; four it separates with a tab instead
_TAB_LABELS = frozenset({"cmbmsc", "cmbsts", "pmrmscl", "pmrmscu"})


def register_by_name(name: str) -> r.Register:
    """The declaration of a register printed by show-regs (core or optional)."""
    for reg in r.REGISTERS + r.OPTIONAL_REGISTERS:
        if reg.name == name:
            return reg
    raise KeyError(name)


def _label(name: str) -> str:
    shown = "version" if name == "vs" else name
    if name in _TAB_LABELS:
        return f"{shown}\t: "
    return f"{shown:<8s}: "


def _yes(flag: int) -> str:
    return "Yes" if flag else "No"


def _supported(flag: int) -> str:
    return "Supported" if flag else "Not Supported"


def _pick(table: Mapping[int, str], value: int) -> str:
    return table.get(value, "Reserved")


# -- one decoder per register: the lines after the value, and whether a blank line ends them


def _cap(v: int) -> tuple[list[str], bool]:
    c = r.CAP
    css = c.get(v, "css")
    return [
        f"Controller Ready With Media Support (CRWMS): {_supported(r.CAP_CRWMS.get(v))}",
        f"Controller Ready Independent of Media Support (CRIMS): {_supported(r.CAP_CRIMS.get(v))}",
        "Controller Memory Buffer Supported (CMBS): The Controller Memory Buffer is "
        f"{_supported(c.get(v, 'cmbs'))}",
        "Persistent Memory Region Supported (PMRS): The Persistent Memory Region is "
        f"{_supported(c.get(v, 'pmrs'))}",
        f"Memory Page Size Maximum         (MPSMAX): {1 << (12 + c.get(v, 'mpsmax'))} bytes",
        f"Memory Page Size Minimum         (MPSMIN): {1 << (12 + c.get(v, 'mpsmin'))} bytes",
        f"Boot Partition Support              (BPS): {_yes(c.get(v, 'bps'))}",
        f"Command Sets Supported              (CSS): NVM command set is {_supported(css & 1)}",
        f"{'':43s}One or more I/O Command Sets are {_supported(css & 0x40)}",
        f"{'':43s}"
        + ("Only Admin Command Set Supported" if css & 0x80 else "I/O Command Set is Supported"),
        f"NVM Subsystem Reset Supported     (NSSRS): {_yes(c.get(v, 'nssrs'))}",
        f"Doorbell Stride                   (DSTRD): {1 << (2 + c.get(v, 'dstrd'))} bytes",
        f"Timeout                              (TO): {c.get(v, 'to') * 500} ms",
        "Arbitration Mechanism Supported     (AMS): Weighted Round Robin with Urgent Priority "
        f"Class is {'supported' if c.get(v, 'ams') & 1 else 'not supported'}",
        f"Contiguous Queues Required          (CQR): {_yes(c.get(v, 'cqr'))}",
        f"Maximum Queue Entries Supported    (MQES): {c.get(v, 'mqes') + 1}",
    ], True


def _vs(v: int) -> tuple[list[str], bool]:
    ter = r.VS.get(v, "ter")
    text = f"NVMe specification {r.VS.get(v, 'mjr')}.{r.VS.get(v, 'mnr')}"
    return [text + (f".{ter}" if ter else "")], True


_SHN = {
    0: "No notification; no effect",
    1: "Normal shutdown notification",
    2: "Abrupt shutdown notification",
}
_CC_AMS = {
    0: "Round Robin",
    1: "Weighted Round Robin with Urgent Priority Class",
    7: "Vendor Specific",
}
_CC_CSS = {0: "NVM Command Set", 6: "All supported I/O Command Sets", 7: "Admin Command Set only"}


def _cc(v: int) -> tuple[list[str], bool]:
    c = r.CC
    return [
        "Controller Ready Independent of Media Enable (CRIME): "
        + ("Enabled" if r.CC_CRIME.get(v) else "Disabled"),
        f"I/O Completion Queue Entry Size (IOCQES): {1 << c.get(v, 'iocqes')} bytes",
        f"I/O Submission Queue Entry Size (IOSQES): {1 << c.get(v, 'iosqes')} bytes",
        f"Shutdown Notification              (SHN): {_pick(_SHN, c.get(v, 'shn'))}",
        f"Arbitration Mechanism Selected     (AMS): {_pick(_CC_AMS, c.get(v, 'ams'))}",
        f"Memory Page Size                   (MPS): {1 << (12 + c.get(v, 'mps'))} bytes",
        f"I/O Command Set Selected           (CSS): {_pick(_CC_CSS, c.get(v, 'css'))}",
        f"Enable                              (EN): {_yes(c.get(v, 'en'))}",
    ], True


_SHST = {
    0: "Normal operation (no shutdown has been requested)",
    1: "Shutdown processing occurring",
    2: "Shutdown processing complete",
}


def _csts(v: int) -> tuple[list[str], bool]:
    c = r.CSTS
    return [
        f"Processing Paused               (PP): {_yes(c.get(v, 'pp'))}",
        f"NVM Subsystem Reset Occurred (NSSRO): {_yes(c.get(v, 'nssro'))}",
        f"Shutdown Status               (SHST): {_pick(_SHST, c.get(v, 'shst'))}",
        f"Controller Fatal Status        (CFS): {'True' if c.get(v, 'cfs') else 'False'}",
        f"Ready                          (RDY): {_yes(c.get(v, 'rdy'))}",
    ], True


def _nssr(v: int) -> tuple[list[str], bool]:
    return [f"NVM Subsystem Reset Control (NSSRC): {r.NSSR.get(v, 'nssrc')}"], True


def _crto(v: int) -> tuple[list[str], bool]:
    # both timeouts are in 500 ms units; nvme-cli shows whole seconds
    return [
        f"CRIMT                               : {r.CRTO.get(v, 'crimt') // 2} secs",
        f"CRWMT                               : {r.CRTO.get(v, 'crwmt') // 2} secs",
    ], False


def _intms(v: int) -> tuple[list[str], bool]:
    return [f"Interrupt Vector Mask Set (IVMS): {r.INTMS.get(v, 'ivms'):x}"], True


def _intmc(v: int) -> tuple[list[str], bool]:
    return [f"Interrupt Vector Mask Clear (IVMC): {r.INTMC.get(v, 'ivmc'):x}"], True


def _aqa(v: int) -> tuple[list[str], bool]:
    return [
        f"Admin Completion Queue Size (ACQS): {r.AQA.get(v, 'acqs') + 1}",
        f"Admin Submission Queue Size (ASQS): {r.AQA.get(v, 'asqs') + 1}",
    ], True


def _asq(v: int) -> tuple[list[str], bool]:
    return [f"Admin Submission Queue Base (ASQB): {r.ASQ.get(v, 'asqb') << 12:x}"], True


def _acq(v: int) -> tuple[list[str], bool]:
    return [f"Admin Completion Queue Base (ACQB): {r.ACQ.get(v, 'acqb') << 12:x}"], True


_CMB_ABSENT = "Controller Memory Buffer feature is not supported"
_SZU = {0: "4 KB", 1: "64 KB", 2: "1 MB", 3: "16 MB", 4: "256 MB", 5: "4 GB", 6: "64 GB"}


def _cmbloc(v: int, cmbsz: int) -> tuple[list[str], bool]:
    if not cmbsz:
        return [_CMB_ABSENT], True
    c = r.CMBLOC
    return [
        f"Offset                                                        (OFST): "
        f"{c.get(v, 'ofst'):#x} (See cmbsz.szu for granularity)",
        f"CMB Queue Dword Alignment                                     (CQDA): {c.get(v, 'cqda')}",
        f"CMB Data Metadata Mixed Memory Support                      (CDMMMS): "
        f"{_supported(c.get(v, 'cdmmms'))}",
        f"CMB Data Pointer and Command Independent Locations Support (CDPCILS): "
        f"{_supported(c.get(v, 'cdpcils'))}",
        f"CMB Data Pointer Mixed Locations Support                    (CDPMLS): "
        f"{_supported(c.get(v, 'cdpmls'))}",
        f"CMB Queue Physically Discontiguous Support                   (CQPDS): "
        f"{_supported(c.get(v, 'cqpds'))}",
        f"CMB Queue Mixed Memory Support                               (CQMMS): "
        f"{_supported(c.get(v, 'cqmms'))}",
        f"Base Indicator Register                                        (BIR): "
        f"{c.get(v, 'bir'):#x}",
    ], True


def _cmbsz(v: int) -> tuple[list[str], bool]:
    if not v:
        return [_CMB_ABSENT], True
    c = r.CMBSZ
    return [
        f"Size                      (SZ): {c.get(v, 'sz')}",
        f"Size Units               (SZU): {_pick(_SZU, c.get(v, 'szu'))}",
        f"Write Data Support       (WDS): Write Data and metadata transfer in Controller Memory "
        f"Buffer is {_supported(c.get(v, 'wds'))}",
        f"Read Data Support        (RDS): Read Data and metadata transfer in Controller Memory "
        f"Buffer is {_supported(c.get(v, 'rds'))}",
        f"PRP SGL List Support   (LISTS): PRP/SG Lists in Controller Memory Buffer is "
        f"{_supported(c.get(v, 'lists'))}",
        f"Completion Queue Support (CQS): Admin and I/O Completion Queues in Controller Memory "
        f"Buffer is {_supported(c.get(v, 'cqs'))}",
        f"Submission Queue Support (SQS): Admin and I/O Submission Queues in Controller Memory "
        f"Buffer is {_supported(c.get(v, 'sqs'))}",
    ], True


_BRS = {
    0: "No Boot Partition read operation requested",
    1: "Boot Partition read in progress",
    2: "Boot Partition read completed successfully",
    3: "Error completing Boot Partition read",
}


def _bpinfo(v: int) -> tuple[list[str], bool]:
    c = r.BPINFO
    return [
        f"Active Boot Partition ID      (ABPID): {c.get(v, 'abpid')}",
        f"Boot Read Status                (BRS): {_BRS[c.get(v, 'brs')]}",
        f"Boot Partition Size            (BPSZ): {c.get(v, 'bpsz')}",
    ], False


def _bprsel(v: int) -> tuple[list[str], bool]:
    c = r.BPRSEL
    return [
        f"Boot Partition Identifier      (BPID): {c.get(v, 'bpid')}",
        f"Boot Partition Read Offset    (BPROF): {c.get(v, 'bprof'):x}",
        f"Boot Partition Read Size      (BPRSZ): {c.get(v, 'bprsz'):x}",
    ], False


def _bpmbl(v: int) -> tuple[list[str], bool]:
    return [
        f"Boot Partition Memory Buffer Base Address (BMBBA): {r.BPMBL.get(v, 'bmbba') << 12:x}"
    ], False


def _cmbmsc(v: int) -> tuple[list[str], bool]:
    c = r.CMBMSC
    return [
        f"Controller Base Address         (CBA): {c.get(v, 'cba') << 12:x}",
        f"Controller Memory Space Enable (CMSE): {c.get(v, 'cmse')}",
        "Capabilities Registers Enabled  (CRE): CMBLOC and CMBSZ registers are "
        + ("enabled" if c.get(v, "cre") else "NOT enabled"),
    ], True


def _cmbsts(v: int) -> tuple[list[str], bool]:
    return [f"Controller Base Address Invalid (CBAI): {r.CMBSTS.get(v, 'cbai')}"], True


_PMRTU = {0: "PMR time unit is 500 milliseconds", 1: "PMR time unit is minutes"}


def _pmrcap(v: int) -> tuple[list[str], bool]:
    c = r.PMRCAP
    cmss = "Supported" if c.get(v, "cmss") else "Not Supported"
    return [
        "Controller Memory Space Supported                   (CMSS): "
        f"Referencing PMR with host supplied addresses is {cmss}",
        f"Persistent Memory Region Timeout                   (PMRTO): {c.get(v, 'pmrto')}",
        f"Persistent Memory Region Write Barrier Mechanisms (PMRWBM): {c.get(v, 'pmrwbm')}",
        f"Persistent Memory Region Time Units                (PMRTU): "
        f"{_pick(_PMRTU, c.get(v, 'pmrtu'))}",
        f"Base Indicator Register                              (BIR): {c.get(v, 'bir')}",
        "Write Data Support                                   (WDS): Write data to the PMR is "
        + ("supported" if c.get(v, "wds") else "not supported"),
        "Read Data Support                                    (RDS): Read data from the PMR is "
        + ("supported" if c.get(v, "rds") else "not supported"),
    ], False


def _pmrctl(v: int) -> tuple[list[str], bool]:
    return [f"Enable (EN): PMR is {'Enabled' if r.PMRCTL.get(v, 'en') else 'Disabled'}"], False


_HSTS = {0: "Normal Operation", 1: "Restore Error", 2: "Read Only", 3: "Unreliable"}


def _pmrsts(v: int) -> tuple[list[str], bool]:
    c = r.PMRSTS
    # nvme-cli 2.3 words NRDY backwards: a clear bit (the region is not "not ready")
    # prints "Not Ready", as the capture in reference/ shows; kept, to print what it prints
    ready = "Ready" if c.get(v, "nrdy") else "Not Ready"
    return [
        f"Controller Base Address Invalid (CBAI): {c.get(v, 'cbai')}",
        f"Health Status                   (HSTS): {_pick(_HSTS, c.get(v, 'hsts'))}",
        f"Not Ready                       (NRDY): The Persistent Memory Region is {ready} to "
        "process PCI Express memory read and write requests",
        f"Error                            (ERR): {c.get(v, 'err')}",
    ], False


_PMRSZU = {0: "Bytes", 1: "1 KiB", 2: "1 MiB", 3: "1 GiB"}
_PMRSWTU = {0: "Bytes/second", 1: "1 KiB / s", 2: "1 MiB / s", 3: "1 GiB / s"}


def _pmrebs(v: int) -> tuple[list[str], bool]:
    c = r.PMREBS
    how = "SHALL" if c.get(v, "rbb") else "MAY"
    return [
        f"PMR Elasticity Buffer Size Base  (PMRWBZ): {c.get(v, 'pmrwbz'):x}",
        "Read Bypass Behavior                     : memory reads not conflicting with memory "
        f"writes in the PMR Elasticity Buffer {how} bypass those memory writes",
        f"PMR Elasticity Buffer Size Units (PMRSZU): {_pick(_PMRSZU, c.get(v, 'pmrszu'))}",
    ], False


def _pmrswtp(v: int) -> tuple[list[str], bool]:
    c = r.PMRSWTP
    return [
        f"PMR Sustained Write Throughput       (PMRSWTV): {c.get(v, 'pmrswtv'):x}",
        f"PMR Sustained Write Throughput Units (PMRSWTU): {_pick(_PMRSWTU, c.get(v, 'pmrswtu'))}",
    ], False


def _pmrmscl(v: int) -> tuple[list[str], bool]:
    return [
        f"Controller Base Address         (CBA): {r.PMRMSCL.get(v, 'cba') << 12:x}",
        f"Controller Memory Space Enable (CMSE): {r.PMRMSCL.get(v, 'cmse')}",
    ], True


def _pmrmscu(v: int) -> tuple[list[str], bool]:
    return [f"Controller Base Address         (CBA): {r.PMRMSCU.get(v, 'cba'):x}"], False


_DECODERS: dict[str, Callable[[int], tuple[list[str], bool]]] = {
    "cap": _cap,
    "vs": _vs,
    "cc": _cc,
    "csts": _csts,
    "nssr": _nssr,
    "crto": _crto,
    "intms": _intms,
    "intmc": _intmc,
    "aqa": _aqa,
    "asq": _asq,
    "acq": _acq,
    "cmbsz": _cmbsz,
    "bpinfo": _bpinfo,
    "bprsel": _bprsel,
    "bpmbl": _bpmbl,
    "cmbmsc": _cmbmsc,
    "cmbsts": _cmbsts,
    "pmrcap": _pmrcap,
    "pmrctl": _pmrctl,
    "pmrsts": _pmrsts,
    "pmrebs": _pmrebs,
    "pmrswtp": _pmrswtp,
    "pmrmscl": _pmrmscl,
    "pmrmscu": _pmrmscu,
}


def format_show_regs(values: Mapping[str, int | None], human: bool = False) -> str:
    """``nvme show-regs`` (``human`` False) or ``nvme show-regs -H`` of these registers.

    ``values`` maps each name of :data:`SHOW_REGS_ORDER` to its value; a missing
    name or ``None`` prints as ``?``.
    """
    out: list[str] = []
    for name in SHOW_REGS_ORDER:
        value = values.get(name)
        if value is None:
            out.append(_label(name) + "?")
            if human:
                out.append("\t(not known at this point)")
                out.append("")
            continue
        value &= (1 << (8 * register_by_name(name).size)) - 1
        out.append(f"{_label(name)}{value:x}")
        if not human:
            continue
        if name == "cmbloc":
            lines, blank = _cmbloc(value, values.get("cmbsz") or 0)
        else:
            lines, blank = _DECODERS[name](value)
        out.extend("\t" + line for line in lines)
        if blank:
            out.append("")
    return "\n".join(out) + "\n"


#: The 32-bit BAR0 reads nvme-cli 2.3 made for one ``show-regs``, in the order the
#: QEMU trace in reference/ (qemu-trace-pci_nvme-2-iomem-relaxed.log) shows them.
#: Each 64-bit register is read as two halves, low then high.
HOST_READ_ORDER: tuple[int, ...] = (
    0xE18, 0x3C, 0x68, 0x20, 0x1C, 0x14, 0xE14, 0xE10, 0xE0C, 0xE08, 0xE04, 0xE00,
    0x58, 0x44, 0x40, 0x38, 0x24, 0x10, 0x0C, 0x08, 0x00, 0x04, 0x28, 0x2C, 0x30, 0x34,
    0x48, 0x4C, 0x50, 0x54,
)  # fmt: skip


def read_registers(read32: Callable[[int], int]) -> dict[str, int]:
    """Every show-regs register, read with ``read32(offset)`` in :data:`HOST_READ_ORDER`."""
    dwords = {offset: read32(offset) & 0xFFFFFFFF for offset in HOST_READ_ORDER}
    values: dict[str, int] = {}
    for name in SHOW_REGS_ORDER:
        reg = register_by_name(name)
        value = 0
        for i in range(reg.size // 4):
            value |= dwords[reg.offset + 4 * i] << (32 * i)
        values[name] = value
    return values
