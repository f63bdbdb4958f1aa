"""The lspci printer shows a configuration space with lspci's words.

No lspci output of the emulated controller exists in the reference capture, so
these tests build a config space by hand (with the project's PCI layouts), set
each field to a known value and check the lines lspci prints for it.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nvmescope.nvme.lspci import class_name, device_name, format_lspci
from nvmescope.nvme.pci import MSIX_CAP, PCIE_CAP, PM_CAP, TYPE0_HEADER


def _zero(layout) -> dict:
    return {k: v for k, v in layout.parse(bytes(layout.sizeof())).items() if not k.startswith("_")}


def nvme_config(**header) -> bytes:
    """A QEMU-like NVMe function: PM at 40h, MSI-X at 50h, PCI Express at 60h."""
    hdr = _zero(TYPE0_HEADER)
    hdr.update(
        vendor_id=0x1B36,
        device_id=0x0010,
        command=0x0507,  # I/O, Mem, BusMaster, SERR, DisINTx
        status=0x0010,  # capability list
        revision_id=0x02,
        prog_if=0x02,
        subclass=0x08,
        class_code=0x01,
        bar=[0xFEBF0004, 0, 0, 0, 0, 0],  # 64-bit memory BAR at febf0000
        subsystem_vendor_id=0x1AF4,
        subsystem_id=0x1100,
        capabilities_ptr=0x40,
        interrupt_line=11,
        interrupt_pin=1,
    )
    hdr.update(header)
    pm = _zero(PM_CAP)
    pm.update(cap_id=0x01, next=0x50, pmc=0x0003, pmcsr=0x0008)
    msix = _zero(MSIX_CAP)
    msix.update(cap_id=0x11, next=0x60, mc=0x8040, table=0x2000, pba=0x3000)
    pcie = _zero(PCIE_CAP)
    pcie.update(
        cap_id=0x10,
        next=0x00,
        pcie_cap=0x0002,  # version 2, endpoint, MSI 00
        dev_cap=0x10008000,  # RBE, FLR, MaxPayload 128
        dev_ctl=0x2810,  # RlxdOrd, NoSnoop, MaxReadReq 512
        link_cap=0x00000411,  # 2.5GT/s x1, ASPM L0s
        link_ctl=0x0000,
        link_sta=0x0011,  # 2.5GT/s x1
    )
    config = bytearray(256)
    config[0:64] = TYPE0_HEADER.build(hdr)
    config[0x40:0x48] = PM_CAP.build(pm)
    config[0x50:0x5C] = MSIX_CAP.build(msix)
    config[0x60:0x9C] = PCIE_CAP.build(pcie)
    return bytes(config)


def test_default_form_is_one_line_with_class_and_revision():
    assert format_lspci(nvme_config()) == (
        "00:03.0 Non-Volatile memory controller: Red Hat, Inc. QEMU NVM Express Controller (rev 02)\n"
    )


def test_unknown_vendor_prints_as_ids():
    text = format_lspci(nvme_config(vendor_id=0x4E53, device_id=0x0001, revision_id=0))
    assert text == "00:03.0 Non-Volatile memory controller: Device 4e53:0001\n"
    assert device_name(0x1B36, 0x9999) == "Red Hat, Inc. Device 9999"
    assert class_name(0x01, 0x80) == "Mass storage controller"
    assert class_name(0x42, 0x01) == "Class 4201"


def test_domain_other_than_zero_is_kept():
    assert format_lspci(nvme_config(), address="0001:02:00.0").startswith("0001:02:00.0 ")


def test_very_verbose_form():
    text = format_lspci(nvme_config(), verbose=2, driver="nvme", bar_sizes={0: 16 * 1024})
    assert text.split("\n") == [
        "00:03.0 Non-Volatile memory controller: Red Hat, Inc. QEMU NVM Express Controller"
        " (rev 02) (prog-if 02 [NVM Express])",
        # pci.ids names 1af4:1100 only under other devices: lspci shows it as "Device 1100"
        # (reference/linux-6.1-on-qemu-7.2/lspci-vvv-after-bind.txt, with -nn: [1af4:1100])
        "\tSubsystem: Red Hat, Inc. Device 1100",
        "\tControl: I/O+ Mem+ BusMaster+ SpecCycle- MemWINV- VGASnoop- ParErr- Stepping- SERR+"
        " FastB2B- DisINTx+",
        "\tStatus: Cap+ 66MHz- UDF- FastB2B- ParErr- DEVSEL=fast >TAbort- <TAbort- <MAbort-"
        " >SERR- <PERR- INTx-",
        "\tLatency: 0",
        "\tInterrupt: pin A routed to IRQ 11",
        "\tRegion 0: Memory at febf0000 (64-bit, non-prefetchable) [size=16K]",
        "\tCapabilities: [40] Power Management version 3",
        "\t\tFlags: PMEClk- DSI- D1- D2- AuxCurrent=0mA PME(D0-,D1-,D2-,D3hot-,D3cold-)",
        "\t\tStatus: D0 NoSoftRst+ PME-Enable- DSel=0 DScale=0 PME-",
        "\tCapabilities: [50] MSI-X: Enable+ Count=65 Masked-",
        "\t\tVector table: BAR=0 offset=00002000",
        "\t\tPBA: BAR=0 offset=00003000",
        "\tCapabilities: [60] Express (v2) Endpoint, MSI 00",
        "\t\tDevCap:\tMaxPayload 128 bytes, PhantFunc 0, Latency L0s <64ns, L1 <1us",
        "\t\t\tExtTag- AttnBtn- AttnInd- PwrInd- RBE+ FLReset+ SlotPowerLimit 0W",
        "\t\tDevCtl:\tCorrErr- NonFatalErr- FatalErr- UnsupReq-",
        "\t\t\tRlxdOrd+ ExtTag- PhantFunc- AuxPwr- NoSnoop+ FLReset-",
        "\t\t\tMaxPayload 128 bytes, MaxReadReq 512 bytes",
        "\t\tDevSta:\tCorrErr- NonFatalErr- FatalErr- UnsupReq- AuxPwr- TransPend-",
        "\t\tLnkCap:\tPort #0, Speed 2.5GT/s, Width x1, ASPM L0s, Exit Latency L0s <64ns",
        "\t\t\tClockPM- Surprise- LLActRep- BwNot- ASPMOptComp-",
        "\t\tLnkCtl:\tASPM Disabled; RCB 64 bytes, Disabled- CommClk-",
        "\t\t\tExtSynch- ClockPM- AutWidDis- BWInt- AutBWInt-",
        "\t\tLnkSta:\tSpeed 2.5GT/s (ok), Width x1 (ok)",
        "\t\t\tTrErr- Train- SlotClk- DLActive- BWMgmt- ABWMgmt-",
        # a version 2 capability: the second set of device and link registers
        "\t\tDevCap2: Completion Timeout: Not Supported, TimeoutDis- NROPrPrP- LTR-",
        "\t\t\t 10BitTagComp- 10BitTagReq- OBFF Not Supported, ExtFmt- EETLPPrefix-",
        "\t\t\t EmergencyPowerReduction Not Supported, EmergencyPowerReductionInit-",
        "\t\t\t FRS-",
        "\t\t\t AtomicOpsCap: 32bit- 64bit- 128bitCAS-",
        "\t\tDevCtl2: Completion Timeout: 50us to 50ms, TimeoutDis- LTR- 10BitTagReq- OBFF Disabled,",
        "\t\t\t AtomicOpsCtl: ReqEn-",
        "\t\tLnkCtl2: Target Link Speed: Unknown, EnterCompliance- SpeedDis-",
        "\t\t\t Transmit Margin: Normal Operating Range, EnterModifiedCompliance- ComplianceSOS-",
        "\t\t\t Compliance Preset/De-emphasis: -6dB de-emphasis, 0dB preshoot",
        "\t\tLnkSta2: Current De-emphasis Level: -6dB, EqualizationComplete- EqualizationPhase1-",
        "\t\t\t EqualizationPhase2- EqualizationPhase3- LinkEqualizationRequest-",
        "\t\t\t Retimer- 2Retimers- CrosslinkRes: unsupported",
        "\tKernel driver in use: nvme",
        "",
        "",
    ]


def test_verbose_form_shows_flags_and_short_capabilities():
    lines = format_lspci(nvme_config(), verbose=1).split("\n")
    assert lines[0].endswith("(rev 02) (prog-if 02 [NVM Express])")
    assert "\tFlags: bus master, fast devsel, latency 0, IRQ 11" in lines
    assert "\tCapabilities: [50] MSI-X: Enable+ Count=65 Masked-" in lines
    assert "\tCapabilities: [60] Express Endpoint, MSI 00" in lines
    assert not any("Vector table" in line or "DevCap" in line for line in lines)


def test_disabled_memory_decode_and_msix_state_follow_the_registers():
    config = bytearray(nvme_config(command=0x0000))
    config[0x52:0x54] = (0x4000 | 0x1F).to_bytes(2, "little")  # masked, disabled, 32 vectors
    text = format_lspci(bytes(config), verbose=2)
    assert "\tRegion 0: Memory at febf0000 (64-bit, non-prefetchable) [disabled]" in text
    assert "MSI-X: Enable- Count=32 Masked+" in text
    assert "\tLatency:" not in text  # only shown for a bus master


def test_unassigned_bar_and_msi_capability():
    config = bytearray(nvme_config(bar=[0x0000000C, 0, 0x00001001, 0, 0, 0], capabilities_ptr=0xA0))
    # MSI at A0h: 64-bit, maskable, enabled, 4 of 8 vectors
    config[0xA0:0xA4] = bytes([0x05, 0x00]) + (0x0100 | 0x0080 | 0x0020 | 0x0006 | 0x1).to_bytes(
        2, "little"
    )
    config[0xA4:0xA8] = (0xFEE00000).to_bytes(4, "little")
    config[0xAC:0xAE] = (0x4021).to_bytes(2, "little")
    text = format_lspci(bytes(config), verbose=2, bar_sizes={0: 1 << 20})
    assert "\tRegion 0: Memory at <unassigned> (64-bit, prefetchable) [size=1M]" in text
    assert "\tRegion 2: I/O ports at 1000" in text
    assert "\tCapabilities: [a0] MSI: Enable+ Count=4/8 Maskable+ 64bit+" in text
    assert "\t\tAddress: 00000000fee00000  Data: 4021" in text
    assert "\t\tMasking: 00000000  Pending: 00000000" in text


def test_capability_chain_loop_and_unknown_ids_stop_cleanly():
    config = bytearray(nvme_config(capabilities_ptr=0x40))
    config[0x40:0x44] = bytes([0x13, 0x48, 0x34, 0x12])  # unknown capability 13h
    config[0x48:0x4C] = bytes([0x09, 0x40, 0x08, 0x00])  # vendor specific, points back
    lines = format_lspci(bytes(config), verbose=2).split("\n")
    assert "\tCapabilities: [40] #13 [1234]" in lines
    assert "\tCapabilities: [48] Vendor Specific Information: Len=08 <?>" in lines
    assert "\tCapabilities: [40] <chain looped>" in lines


def test_no_capability_list_bit_means_no_capabilities():
    text = format_lspci(nvme_config(status=0), verbose=2)
    assert "Capabilities" not in text
    assert "\tStatus: Cap- " in text


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=4096), st.integers(0, 2))
def test_random_config_space_never_crashes(data, verbose):
    text = format_lspci(data, verbose=verbose, driver="nvme", bar_sizes={0: 4096})
    assert text.endswith("\n")


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=256, max_size=256))
def test_random_bytes_behind_a_valid_capability_pointer_never_crash(tail):
    config = bytearray(tail)
    config[0x06] |= 0x10  # capability list present
    assert format_lspci(bytes(config), verbose=2).endswith("\n")
