"""Every knob of the emulated controller, with its default.

The defaults describe one small NVMe 1.4 controller much like the one QEMU 7.2
emulates in the reference trace: one 64 MiB namespace of 512-byte blocks, 64
I/O queue pairs, 65 MSI-X vectors, MDTS 7 (512 KiB with 4 KiB pages).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..nvme.copy import COPY_MAX_BLOCKS

#: PCI IDs of our own. These are NOT assigned by the PCI-SIG: 4E53h ("NS") is
#: used here for emulation only and must never appear on real hardware.
VENDOR_ID = 0x4E53
DEVICE_ID = 0x0001
SUBSYSTEM_VENDOR_ID = 0x4E53
SUBSYSTEM_ID = 0x0001
#: The PCI capability layouts ``ControllerConfig.pci_layout`` may name.
PCI_LAYOUTS = ("nvmescope", "qemu-7.2")

#: the largest BAR0 a configuration may need (doorbells, MSI-X table and PBA)
MAX_BAR0_SIZE = 1 << 31

#: The LBA formats of the reference namespace: metadata size x LBA data size.
DEFAULT_LBA_FORMATS: tuple[tuple[int, int], ...] = (
    (0, 9),
    (8, 9),
    (16, 9),
    (64, 9),
    (0, 12),
    (8, 12),
    (16, 12),
    (64, 12),
)

#: the most namespaces a controller has here (``ControllerConfig.namespaces``)
MAX_NAMESPACES = 32
#: the largest namespace, in bytes (sparse RAM and sparse files cost only what is written)
MAX_NAMESPACE_BYTES = 1 << 48
#: each namespace key's range, declared once: (lowest, highest, why)
NAMESPACE_RANGES: dict[str, tuple[int, int, str]] = {
    "nsid": (1, 1024, "an NSID is 1 to NN, and NN is at most 1024 here"),
    "size": (512, MAX_NAMESPACE_BYTES, "a namespace holds 512 bytes to 256 TiB"),
    "flbas": (0, 63, "FLBAS names one of at most 64 LBA formats"),
    "mset": (0, 1, "MSET is 1 (extended LBA) or 0 (a separate metadata buffer)"),
    "pi": (0, 3, "PI is 0 (none) or a protection information Type 1 to 3"),
    "pil": (0, 1, "PIL is 1 (PI in the first 8 bytes of metadata) or 0 (the last 8)"),
}


@dataclass
class NamespaceConfig:
    """One namespace of ``ControllerConfig.namespaces``; a field left None takes the
    controller's knob of the same meaning (``namespace_size_bytes``, ``flbas``,
    ``lba_formats``), and ``nsid`` the NSID after the previous namespace's."""

    #: the namespace ID (1..NN); None: one more than the previous namespace's (1 first)
    nsid: int | None = None
    #: size in bytes, a multiple of the LBA data size in use; None: namespace_size_bytes
    size: int | None = None
    #: index of the LBA format in use (FLBAS); None: the controller's flbas
    flbas: int | None = None
    #: the LBA formats (ms, lbads) the namespace reports; None: the controller's lba_formats
    lba_formats: tuple[tuple[int, int], ...] | None = None
    #: the backing store: "" is sparse RAM (gone with the process); a path is a sparse file
    #: of exactly ``size`` bytes that keeps the data (created when missing)
    file: str = ""
    #: NCAP in bytes (thin provisioning when less than ``size``: Writes that would allocate
    #: more are Capacity Exceeded); None: namespace_capacity_bytes
    capacity: int | None = None
    #: virtual ns after each CC.EN 0 -> 1 during which I/O to the namespace is Namespace
    #: Not Ready (DNR clear); None: namespace_not_ready_ns
    not_ready_ns: int | None = None
    #: a metadata format's MSET (1: extended LBA, 0: a separate buffer through MPTR), PI
    #: (0 none, 1..3 Type 1..3) and PIL (1: PI in the first 8 bytes of the metadata, 0:
    #: the last), as Format NVM sets them; None: the controller's mset, pi, pil
    mset: int | None = None
    pi: int | None = None
    pil: int | None = None

    @property
    def lba_size(self) -> int:
        """The LBA data size in bytes of a resolved namespace (see ``namespace_configs``)."""
        assert self.flbas is not None and self.lba_formats is not None
        return 1 << self.lba_formats[self.flbas][1]


#: bit-field knobs: (the bits the emulator implements, the bits it always sets, why);
#: a knob may not claim a capability the emulator does not have
BIT_KNOBS: dict[str, tuple[int, int, str]] = {
    "oaes": (0x100, 0, "only bit 8 (Namespace Attribute Notices) is implemented"),
    "ctratt": (0x8000, 0, "only bit 15 (Extended LBA Formats) is implemented"),
    "lpa": (0x07, 0x06, "bits 1 and 2 are always set; bit 0 is the only other one implemented"),
    "nsfeat": (
        0x14,
        0,
        "only bits 2 (the Deallocated or Unwritten Logical Block error, DULBE) and 4 (the "
        "NPWG .. NOWS hints) are implemented",
    ),
    "ocfs": (0x3, 0, "only bits 0 and 1 (Copy descriptor formats 0h and 1h) are implemented"),
    "sgls": (
        0xD0003,
        0,
        "bits 1:0 (01b: SGLs, no alignment; 10b: SGLs, dword alignment), 16 (Bit Bucket "
        "descriptors), 18 (an SGL longer than the data) and 19 (MPTR holding an SGL, PSDT "
        "10b) are the ones implemented",
    ),
    "ams": (0x1, 0, "only bit 0 (Weighted Round Robin with Urgent Priority Class) is implemented"),
    "nwpc": (
        0x7,
        0,
        "bits 0 (No Write Protect and Write Protect), 1 (Write Protect Until Power Cycle) "
        "and 2 (Permanent Write Protect) are the ones implemented",
    ),
    "css": (
        0xC1,
        0x01,
        "bit 0 (NVM) is always set; bits 6 (I/O Command Sets) and 7 (Admin only) are the "
        "only others implemented",
    ),
}


#: the latency model's knobs and their ranges (low, high, why), declared once: problems()
#: checks them, the timing profiles set them, docs/architecture.md explains them
TIMING_KNOBS: dict[str, tuple[int, int, str]] = {
    "cmd_latency_ns": (0, 10**12, "a latency is 0 to 1000 s of virtual time"),
    "io_latency_ns": (0, 10**12, "a latency is 0 to 1000 s of virtual time"),
    "link_mbps": (0, 1_000_000, "a link bandwidth is 0 (no transfer time) to 1,000,000 MB/s"),
    "media_read_ns": (0, 10**9, "a media time is 0 to 1 s of virtual time per 4 KiB"),
    "media_program_ns": (0, 10**9, "a media time is 0 to 1 s of virtual time per 4 KiB"),
    "parallel_units": (1, 65535, "1 to 65535 I/O commands at once"),
}


@dataclass
class ControllerConfig:
    """The controller's configuration. Every field has a documented default."""

    #: Identify Controller SN (ASCII, up to 20 characters)
    serial: str = "NVMESCOPE0001"
    #: Identify Controller MN (ASCII, up to 40 characters)
    model: str = "nvmescope NVMe Ctrl"
    #: Identify Controller FR (ASCII, up to 8 characters)
    firmware: str = "0.1.0"
    #: CAP.MQES: maximum queue entries supported, 0's based (2047 = 2048 entries)
    mqes: int = 2047
    #: CAP.DSTRD: doorbell stride is 4 << dstrd bytes
    dstrd: int = 0
    #: CAP.NSSRS: NVM Subsystem Reset supported (NSSR 4E564D65h resets; off: NSSR writes
    #: are ignored)
    nssrs: bool = True
    #: CAP.CSS: command sets CC.CSS may select: bit 0 NVM (always), bit 6 I/O Command Sets
    #: (CC.CSS 110b), bit 7 no I/O command set (CC.CSS 111b: admin commands only)
    css: int = 0x41
    #: CAP.TO: worst-case time to become ready, in 500 ms units
    timeout: int = 15
    #: number of MSI-X vectors (table entries); vector 0 serves the admin queue
    msix_vectors: int = 65
    #: I/O SQs and CQs the controller allocates (Set Features Number of Queues answers this)
    max_io_queues: int = 64
    #: virtual ns between CC.EN 0->1 and CSTS.RDY (or CSTS.CFS), and between 1->0 and RDY=0
    rdy_delay_ns: int = 10_000
    #: virtual ns CC.SHN takes to reach CSTS.SHST = complete
    shutdown_delay_ns: int = 10_000
    #: latency model: command overhead, virtual ns an admin command takes between cmd_start
    #: and its data transfer
    cmd_latency_ns: int = 1_000
    #: latency model: command overhead, virtual ns an I/O command takes between cmd_start
    #: and its data transfer
    io_latency_ns: int = 5_000
    #: latency model: link bandwidth in MB/s (10^6 bytes per second) that every data DMA
    #: takes time at (4096 bytes at 3500 MB/s: 1171 ns); 0: data moves in no time
    link_mbps: int = 0
    #: latency model: virtual ns the media takes to read each 4 KiB (or part) of a Read's or
    #: Compare's data, before the data moves to the host
    media_read_ns: int = 0
    #: latency model: virtual ns the media (its write cache) takes to program each 4 KiB
    #: (or part) of a Write's data, after the data came from the host
    media_program_ns: int = 0
    #: latency model: I/O commands the controller executes at once, each from its SQE fetch
    #: to its completion (admin commands run one at a time beside them); the fetch engine
    #: fetches only while one is free
    parallel_units: int = 4
    #: Identify Controller MDTS: max transfer is 2^mdts pages of CAP.MPSMIN (0 = no limit)
    mdts: int = 7
    #: size of namespace 1 in bytes (a multiple of the LBA size)
    namespace_size_bytes: int = 64 * 1024 * 1024
    #: index of the LBA format in use (FLBAS); the default is 512-byte LBAs, no metadata
    flbas: int = 0
    #: the LBA formats (ms, lbads) the namespace reports
    lba_formats: tuple[tuple[int, int], ...] = DEFAULT_LBA_FORMATS
    #: NCAP of a namespace in bytes, a multiple of 4 KiB and of the LBA size (0: the
    #: namespace's size, fully provisioned); less than the size is thin provisioning
    #: (NSFEAT bit 0; NUSE counts the allocated blocks; a Write that would allocate more
    #: than NCAP is Capacity Exceeded)
    namespace_capacity_bytes: int = 0
    #: virtual ns after each CC.EN 0 -> 1 during which I/O commands to a namespace are
    #: Namespace Not Ready with DNR clear (the media still loading); 0: ready at once
    namespace_not_ready_ns: int = 0
    #: metadata and end-to-end protection information (Identify Namespace MC 3h: extended
    #: LBA and a separate buffer; DPC 1Fh: PI Type 1, 2, 3, first or last 8 bytes): Format
    #: NVM takes the formats with metadata, and flbas may name one; off: MC 0, DPC 0, and
    #: formats with metadata are refused
    metadata: bool = False
    #: MSET of namespace 1's format when flbas names one with metadata (also the default
    #: of a [[namespace]] table): 1 extended LBA (metadata in the data buffer), 0 a
    #: separate buffer through MPTR
    mset: int = 0
    #: PI of namespace 1's format (a [[namespace]] table's default): 0 none, 1..3
    #: protection information Type 1..3 (needs 8 bytes of metadata)
    pi: int = 0
    #: PIL of namespace 1's format (a [[namespace]] table's default): 1 PI in the first 8
    #: bytes of the metadata, 0 in the last 8
    pil: int = 0
    #: the namespaces ([[namespace]] tables of a --config FILE); empty: one RAM namespace,
    #: NSID 1, of namespace_size_bytes, flbas and lba_formats
    namespaces: tuple[NamespaceConfig, ...] = ()
    #: Identify Controller ACL (0's based): concurrent Abort commands
    acl: int = 3
    #: Identify Controller AERL (0's based): outstanding Asynchronous Event Requests
    aerl: int = 3
    #: Identify Controller ELPE (0's based): Error Information log entries kept
    elpe: int = 63
    #: Identify Controller NN: the highest NSID there may be; NSIDs up to NN without a
    #: namespace are inactive, those above NN invalid
    nn: int = 1
    #: volatile write cache present (Identify VWC bit 0, Feature 06h)
    vwc: bool = True
    #: composite temperature reported in SMART, Kelvin
    temperature_k: int = 313
    #: Identify Controller WCTEMP, Kelvin
    wctemp: int = 343
    #: Identify Controller CCTEMP, Kelvin
    cctemp: int = 373
    #: IEEE OUI of the (imaginary) vendor
    ieee: int = 0x4E5300
    #: PCI revision ID
    revision: int = 0
    #: Doorbell Buffer Config (admin 7Ch, shadow doorbells and EventIdx; Identify OACS bit 8);
    #: off: 7Ch is an Invalid Command Opcode
    dbbuf: bool = False
    #: Verify (NVM 0Ch; Identify ONCS bit 7): the blocks named are checked and no data
    #: moves; off: 0Ch is an Invalid Command Opcode
    verify: bool = True
    #: Copy (NVM 19h; Identify ONCS bit 8): blocks copied inside the namespace from the
    #: source ranges a list in host memory names; off: 19h is an Invalid Command Opcode
    copy: bool = True
    #: Identify Controller OCFS: the Copy descriptor formats taken, bit 0 format 0h (32-byte
    #: entries), bit 1 format 1h (40-byte entries, for 64b Guard protection information)
    ocfs: int = 0x1
    #: Identify Namespace MSSRL: the most blocks one Copy source range may hold (0: none
    #: may, as QEMU 7.2's namespace of -device nvme,drive= says)
    mssrl: int = 128
    #: Identify Namespace MCL: the most blocks one Copy may copy in all (at most 65536 here:
    #: the emulator holds a Copy's blocks in memory)
    mcl: int = 128
    #: Identify Namespace MSRC (0's based): the most source ranges one Copy may have
    msrc: int = 127
    #: Format NVM (admin 80h; Identify OACS bit 1): a namespace takes another LBA format
    #: of its list (with metadata and protection information when ``metadata`` is on);
    #: off: 80h is an Invalid Command Opcode
    format_nvm: bool = False
    #: Namespace Management (admin 0Dh: create, delete) and Namespace Attachment (15h),
    #: Identify CNS 10h..13h, TNVMCAP / UNVMCAP (Identify OACS bit 3; emulator/nsmgmt.py);
    #: off: 0Dh and 15h are Invalid Command Opcode and the namespaces never change
    ns_mgmt: bool = False
    #: with ns_mgmt, Identify Controller TNVMCAP: the bytes namespaces are allocated from
    #: (at least the configured namespaces' total); 0: twice the configured namespaces'
    #: total, so as much again can be created
    tnvmcap: int = 0
    #: PCI Vendor ID (config space 00h; also Identify Controller VID)
    pci_vid: int = VENDOR_ID
    #: PCI Device ID (config space 02h)
    pci_did: int = DEVICE_ID
    #: PCI Subsystem Vendor ID (config space 2Ch; also Identify Controller SSVID)
    pci_ssvid: int = SUBSYSTEM_VENDOR_ID
    #: PCI Subsystem ID (config space 2Eh)
    pci_ssid: int = SUBSYSTEM_ID
    #: Where the PCI capabilities sit and what they say: "nvmescope" (Power Management at
    #: 40h, MSI-X at 50h, PCI Express Endpoint with a Gen3 x4 link at 60h) or "qemu-7.2"
    #: (MSI-X at 40h, PCI Express Root Complex Integrated Endpoint at 80h, Power
    #: Management at 60h, as QEMU 7.2's nvme device)
    pci_layout: str = "nvmescope"
    #: The MSI-X capability is in the capability list, its table and PBA in BAR0; off: no
    #: MSI-X at all, the function interrupts by INTx only (QEMU's x-pci-proxy-dev carries
    #: no MSI)
    msix: bool = True
    #: BAR0 is a 64-bit memory BAR with BAR1 its upper dword; off: a 32-bit memory BAR0
    #: and no BAR1 (hardwired to 0), as QEMU's x-pci-proxy-dev needs
    bar0_64bit: bool = True
    #: Identify Controller SUBNQN (ASCII, up to 223 characters); {serial} is the serial number
    subnqn: str = "nqn.2024-01.org.nvmescope:{serial}"
    #: Identify Controller OAES: bit 8 (Namespace Attribute Notices) or 0; with bit 8 the
    #: Changed Namespace List log (04h) exists, and Feature 0Bh bit 8 enables the notice a
    #: Namespace Attachment (ns_mgmt) sends when the active namespaces change
    oaes: int = 0
    #: Identify Controller SGLS: bits 1:0 SGLs for I/O commands (00b none: PSDT 01b/10b is
    #: Invalid Field; 01b any alignment; 10b Data Blocks dword aligned), bit 16 Bit Bucket
    #: descriptors, bit 18 an SGL may describe more than the data, bit 19 MPTR may hold
    #: the address of an SGL segment of one descriptor for the metadata (PSDT 10b)
    sgls: int = 0
    #: Identify Controller NWPC (Namespace Write Protection Capabilities): bit 0 Feature 84h
    #: with No Write Protect and Write Protect, bit 1 Write Protect Until Power Cycle, bit 2
    #: Permanent Write Protect; 0: Feature 84h is not supported
    nwpc: int = 0
    #: Identify Controller CTRATT: bit 15 (Extended LBA Formats: up to 64 LBA formats) or 0
    ctratt: int = 0
    #: Identify Controller LPA: bits 1 (Commands Supported and Effects) and 2 (extended
    #: data) always; bit 0 (SMART / Health per namespace: NSID 1 gives the one namespace's)
    lpa: int = 0x06
    #: Identify Namespace NSFEAT: bit 2 (DULBE: Feature 05h may enable the Deallocated or
    #: Unwritten Logical Block error) and bit 4 (NPWG, NPWA, NPDG, NPDA, NOWS are valid)
    nsfeat: int = 0
    #: Identify Namespace NPWG: preferred write granularity, logical blocks (0's based)
    npwg: int = 0
    #: Identify Namespace NPWA: preferred write alignment, logical blocks (0's based)
    npwa: int = 0
    #: Identify Namespace NPDG: preferred deallocate granularity, logical blocks (0's based)
    npdg: int = 0
    #: Identify Namespace NPDA: preferred deallocate alignment, logical blocks (0's based)
    npda: int = 0
    #: Identify Namespace NOWS: optimal write size, logical blocks (0's based)
    nows: int = 0
    #: Firmware Slot log FRS1 (ASCII, up to 8 characters); empty: the same as firmware
    frs1: str = ""
    #: SMART / Health Available Spare, percent
    avail_spare: int = 100
    #: SMART / Health Available Spare Threshold, percent
    spare_thresh: int = 10
    #: SMART / Health Power Cycles at power-on
    power_cycles: int = 1
    #: Feature 01h Arbitration after a reset (HPW 31:24, MPW 23:16, LPW 15:8, AB 2:0)
    arbitration: int = 0
    #: CAP.AMS: bit 0 Weighted Round Robin with Urgent Priority Class (CC.AMS 001b may be
    #: selected, QPRIO counts); 0: round robin only, as QEMU 7.2
    ams: int = 0
    #: Get Features 09h reports CD = 1 (no coalescing) for vector 0, the admin queue's
    admin_vector_cd: bool = False

    # -- the platform around the function, not the device: the device never reads these,
    # the Machine hands them to the host model (its firmware step and its kernel)
    #: Platform: the IRQ the firmware routes INTx pin A to and writes into Interrupt Line
    #: (PCI 3Ch) before the host runs (qemu-7.2: 10, as its firmware wrote it); 0: no
    #: firmware step, the register keeps its reset value 0
    interrupt_line: int = 0
    #: Platform: the IRQ the host kernel routes INTx pin A to when the driver enables the
    #: function (Linux's pcibios_enable_irq, by ACPI; lspci's "routed to IRQ N"; qemu-7.2:
    #: 23); 0: no routing, the kernel keeps the Interrupt Line value
    intx_irq: int = 0

    @property
    def subsystem_nqn(self) -> str:
        """SUBNQN with {serial} filled in."""
        return self.subnqn.replace("{serial}", self.serial)

    @property
    def lba_ds(self) -> int:
        """log2 of the LBA data size of the format in use."""
        return self.lba_formats[self.flbas][1]

    @property
    def lba_size(self) -> int:
        return 1 << self.lba_ds

    @property
    def nsze(self) -> int:
        """Namespace size in logical blocks."""
        return self.namespace_size_bytes // self.lba_size

    def namespace_configs(self) -> list[NamespaceConfig]:
        """Every namespace with each field resolved (None taken from the controller's
        knobs, NSIDs counted on), in the order configured."""
        if not self.namespaces:
            return [
                NamespaceConfig(
                    1,
                    self.namespace_size_bytes,
                    self.flbas,
                    tuple(self.lba_formats),
                    capacity=self.namespace_capacity_bytes or None,
                    not_ready_ns=self.namespace_not_ready_ns or None,
                    mset=self.mset,
                    pi=self.pi,
                    pil=self.pil,
                )  # fmt: skip
            ]
        out: list[NamespaceConfig] = []
        nsid = 0
        for ns in self.namespaces:
            nsid = ns.nsid if ns.nsid is not None else nsid + 1
            out.append(
                replace(
                    ns,
                    nsid=nsid,
                    size=self.namespace_size_bytes if ns.size is None else ns.size,
                    flbas=self.flbas if ns.flbas is None else ns.flbas,
                    lba_formats=tuple(
                        self.lba_formats if ns.lba_formats is None else ns.lba_formats
                    ),
                    capacity=_capacity(ns, self),
                    not_ready_ns=(
                        self.namespace_not_ready_ns if ns.not_ready_ns is None else ns.not_ready_ns
                    ),
                    mset=self.mset if ns.mset is None else ns.mset,
                    pi=self.pi if ns.pi is None else ns.pi,
                    pil=self.pil if ns.pil is None else ns.pil,
                )
            )
        return out

    def namespace_problems(self) -> list[tuple[int, str, str]]:
        """What is wrong with the namespaces: (index in ``namespaces``, key, sentence).

        The key is the namespace's own (``nsid``, ``size``, ``flbas``, ``lba_formats``,
        ``file``), or the controller knob a namespace took its value from
        (``namespace_size_bytes``, ``lba_formats``); index -1 when the list itself is
        wrong (too many, or not namespaces)."""
        out: list[tuple[int, str, str]] = []
        spaces = self.namespaces
        if not isinstance(spaces, tuple | list) or len(spaces) > MAX_NAMESPACES:
            count = len(spaces) if isinstance(spaces, tuple | list) else spaces
            return [(-1, "namespaces", f"namespaces: at most {MAX_NAMESPACES} (got {count})")]
        if not all(isinstance(ns, NamespaceConfig) for ns in spaces):
            return [(-1, "namespaces", "namespaces: each one a namespace table")]
        seen: dict[int, int] = {}
        files: dict[str, int] = {}
        nsid = 0
        for index, ns in enumerate(spaces):
            name = f"namespace {index + 1}"

            def bad(key: str, text: str, index: int = index) -> None:
                out.append((index, key, text))

            for key, (low, high, why) in NAMESPACE_RANGES.items():
                value = getattr(ns, key)
                if value is not None and not (
                    isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
                ):
                    bad(key, f"{name}: {key}={value!r} is out of range: {why}")
            if any(i == index for i, _, _ in out):
                continue
            nsid = ns.nsid if ns.nsid is not None else nsid + 1
            if nsid in seen:
                bad("nsid", f"{name}: NSID {nsid} is namespace {seen[nsid] + 1}'s already")
            seen.setdefault(nsid, index)
            if isinstance(self.nn, int) and nsid > self.nn:
                bad("nsid", f"{name}: NSID {nsid} is above NN={self.nn} (raise nn)")
            if not isinstance(ns.file, str) or "\x00" in ns.file:
                bad("file", f"{name}: file must be a path (text)")
            elif ns.file:
                if ns.file in files:
                    bad(
                        "file",
                        f"{name}: file {ns.file} is namespace {files[ns.file] + 1}'s already",
                    )
                files.setdefault(ns.file, index)
            formats = self.lba_formats if ns.lba_formats is None else ns.lba_formats
            key = "lba_formats" if ns.lba_formats is not None else ""
            problem = _formats_problem(formats, self.ctratt)
            if problem:
                bad(key or "lba_formats", f"{name}: {problem}" if key else problem)
                continue
            flbas = self.flbas if ns.flbas is None else ns.flbas
            if not 0 <= flbas < len(formats):
                bad("flbas", f"{name}: flbas={flbas} names no LBA format (0..{len(formats) - 1})")
                continue
            words = self._metadata_problem(
                flbas, formats[flbas][0],
                self.pi if ns.pi is None else ns.pi, ns.file,
            )  # fmt: skip
            if words:
                bad("flbas" if ns.flbas is not None else "lba_formats", f"{name}: {words}")
                continue
            size = self.namespace_size_bytes if ns.size is None else ns.size
            lba = 1 << formats[flbas][1]
            if isinstance(size, int) and (size % lba or size < lba or size > MAX_NAMESPACE_BYTES):
                bad(
                    "size" if ns.size is not None else "namespace_size_bytes",
                    f"{name}: size={size} must be a multiple of the {lba}-byte LBA, at least "
                    "one LBA, at most 256 TiB",
                )
                continue
            problem = capacity_problem(ns.capacity, self.namespace_capacity_bytes, size, lba)
            if problem:
                bad("capacity" if ns.capacity is not None else "namespace_capacity_bytes",
                    f"{name}: {problem}")  # fmt: skip
            wait = self.namespace_not_ready_ns if ns.not_ready_ns is None else ns.not_ready_ns
            if not (isinstance(wait, int) and not isinstance(wait, bool) and 0 <= wait <= 10**12):
                bad("not_ready_ns" if ns.not_ready_ns is not None else "namespace_not_ready_ns",
                    f"{name}: not_ready_ns={wait!r} is out of range: a delay is 0 to 1000 s "
                    "of virtual time")  # fmt: skip
        return out

    def _metadata_problem(self, flbas: int, ms: int, pi: Any, file: str) -> str:
        """Why LBA format ``flbas`` (``ms`` bytes of metadata) with ``pi`` cannot be in use
        ("" if it can)."""
        if isinstance(pi, int) and pi and ms < 8:
            return (
                f"pi={pi}: protection information needs 8 bytes of metadata, and LBA format "
                f"{flbas} has {ms} (pick a format with metadata, or pi=0)"
            )
        if not ms:
            return ""
        if not self.metadata:
            return (
                f"flbas={flbas}: LBA format {flbas} has {ms} bytes of metadata per block, and "
                "metadata is off (MC 0): set metadata=true, or pick a format without metadata"
            )
        if file:
            return (
                f"flbas={flbas}: LBA format {flbas} has {ms} bytes of metadata, and a namespace "
                "backed by a file keeps none (its file holds the data only): pick a format "
                "without metadata, or a RAM namespace"
            )
        return ""

    def problems(self) -> list[str]:
        """Every knob outside the range a real controller could have, one sentence each.

        An empty list means the configuration describes a device the emulator can
        be. The CLI refuses a configuration with problems; the device itself
        clamps what it must so that it never breaks.
        """
        out: list[str] = []

        def need(ok: bool, text: str) -> None:
            if not ok:
                out.append(text)

        need(
            self.pci_layout in PCI_LAYOUTS,
            f"pci_layout must be one of {', '.join(PCI_LAYOUTS)} (got {self.pci_layout!r})",
        )

        for name, limit in (
            ("serial", 20),
            ("model", 40),
            ("firmware", 8),
            ("frs1", 8),
            ("subnqn", 223),
        ):
            value = getattr(self, name)
            need(
                isinstance(value, str) and value.isascii() and value.isprintable(),
                f"{name} must be printable ASCII",
            )
            need(
                isinstance(value, str) and len(value) <= limit,
                f"{name} is at most {limit} characters (got {len(value)})",
            )
        need(
            len(self.subsystem_nqn) <= 223,
            f"subnqn is at most 223 characters with the serial filled in "
            f"(got {len(self.subsystem_nqn)})",
        )
        ranges = {
            "mqes": (1, 0xFFFF, "CAP.MQES is 0's based: 1 (2 entries) to 65535"),
            "dstrd": (0, 15, "CAP.DSTRD is 4 bits"),
            "timeout": (1, 255, "CAP.TO is 1 to 255 units of 500 ms"),
            "msix_vectors": (1, 2048, "an MSI-X table has 1 to 2048 entries"),
            "max_io_queues": (1, 0xFFFF, "1 to 65535 I/O queue pairs"),
            "rdy_delay_ns": (0, 10**12, "a delay is 0 to 1000 s of virtual time"),
            "shutdown_delay_ns": (0, 10**12, "a delay is 0 to 1000 s of virtual time"),
            "mdts": (0, 20, "MDTS is a power of two of pages: 0 (no limit) to 20"),
            "acl": (0, 255, "ACL is one byte"),
            "aerl": (0, 255, "AERL is one byte"),
            "elpe": (0, 255, "ELPE is one byte"),
            "nn": (1, 1024, "NN is 1 to 1024 here (namespace 1 must exist)"),
            "temperature_k": (0, 0xFFFF, "a temperature is 0 to 65535 Kelvin"),
            "wctemp": (0, 0xFFFF, "a temperature is 0 to 65535 Kelvin"),
            "cctemp": (0, 0xFFFF, "a temperature is 0 to 65535 Kelvin"),
            "ieee": (0, 0xFFFFFF, "the IEEE OUI is 24 bits"),
            "revision": (0, 0xFF, "the PCI revision ID is one byte"),
            "pci_vid": (0, 0xFFFF, "a PCI ID is 16 bits"),
            "pci_did": (0, 0xFFFF, "a PCI ID is 16 bits"),
            "pci_ssvid": (0, 0xFFFF, "a PCI ID is 16 bits"),
            "pci_ssid": (0, 0xFFFF, "a PCI ID is 16 bits"),
            "npwg": (0, 0xFFFF, "NPWG is 16 bits"),
            "npwa": (0, 0xFFFF, "NPWA is 16 bits"),
            "npdg": (0, 0xFFFF, "NPDG is 16 bits"),
            "npda": (0, 0xFFFF, "NPDA is 16 bits"),
            "nows": (0, 0xFFFF, "NOWS is 16 bits"),
            "mssrl": (0, 0xFFFF, "MSSRL is 16 bits"),
            "mcl": (
                0,
                COPY_MAX_BLOCKS,
                f"MCL is 0 to {COPY_MAX_BLOCKS} blocks here (the emulator holds one Copy's "
                "blocks in memory)",
            ),
            "msrc": (0, 0xFF, "MSRC is one byte (0's based: 1 to 256 ranges)"),
            "avail_spare": (0, 100, "a percentage is 0 to 100"),
            "spare_thresh": (0, 100, "a percentage is 0 to 100"),
            "power_cycles": (0, 0xFFFFFFFF, "Power Cycles is kept in 32 bits here"),
            "arbitration": (0, 0xFFFFFFFF, "Feature 01h is one dword"),
            "mset": (0, 1, "MSET is 1 (extended LBA) or 0 (a separate metadata buffer)"),
            "pi": (0, 3, "PI is 0 (none) or a protection information Type 1 to 3"),
            "pil": (0, 1, "PIL is 1 (PI in the first 8 bytes of metadata) or 0 (the last 8)"),
            "interrupt_line": (0, 0xFF, "Interrupt Line is one byte (0: no firmware writes it)"),
            "intx_irq": (0, 0xFF, "an INTx IRQ is 0 to 255 here (0: Interrupt Line's value)"),
            "tnvmcap": (0, 1 << 60, "TNVMCAP is 0 (derived) to 1 EiB here"),
            "namespace_not_ready_ns": (0, 10**12, "a delay is 0 to 1000 s of virtual time"),
            "namespace_capacity_bytes": (0, MAX_NAMESPACE_BYTES, "0 (the size) or NCAP in bytes"),
        } | TIMING_KNOBS
        for name, (low, high, why) in ranges.items():
            value = getattr(self, name)
            need(
                isinstance(value, int) and low <= value <= high,
                f"{name}={value!r} is out of range: {why}",
            )
        for name, (allowed, required, why) in BIT_KNOBS.items():
            value = getattr(self, name)
            need(
                isinstance(value, int) and value & ~allowed == 0 and value & required == required,
                f"{name}={value!r} is out of range: {why}",
            )
        need(
            not isinstance(self.nwpc, int) or not self.nwpc & 0x6 or self.nwpc & 0x1,
            f"nwpc={self.nwpc!r}: bits 1 and 2 need bit 0 (No Write Protect and Write Protect)",
        )
        if not self.namespaces and not any(m.startswith("namespace_") for m in out):
            size, formats, flbas = self.namespace_size_bytes, self.lba_formats, self.flbas
            if isinstance(size, int) and isinstance(flbas, int) and 0 <= flbas < len(formats):
                problem = capacity_problem(
                    None, self.namespace_capacity_bytes, size, 1 << formats[flbas][1]
                )
                need(not problem, f"namespace_capacity_bytes: {problem}")
        need(
            not isinstance(self.sgls, int) or self.sgls & 0x3 != 0x3,
            f"sgls={self.sgls!r}: SGLS bits 1:0 = 11b is reserved",
        )
        need(
            not isinstance(self.arbitration, int) or self.arbitration & 0xF8 == 0,
            f"arbitration={self.arbitration!r}: bits 7:3 of Feature 01h are reserved",
        )
        layout = (self.dstrd, self.max_io_queues, self.msix_vectors)
        if all(isinstance(v, int) for v in layout) and not any(
            m.split("=")[0] in ("dstrd", "max_io_queues", "msix_vectors") for m in out
        ):
            from nvmescope.emulator.interrupts import bar_layout

            # the MSI-X Table and PBA Offset registers are 32 bits and BAR0 is sized
            # through its lower dword here: the doorbells, table and PBA fit in 2 GiB
            _, _, bar_size = bar_layout(self.max_io_queues + 1, self.dstrd, self.msix_vectors)
            need(
                bar_size <= MAX_BAR0_SIZE,
                f"dstrd={self.dstrd} with max_io_queues={self.max_io_queues}: the doorbells "
                f"need a BAR0 of {bar_size:#x} bytes, more than the {MAX_BAR0_SIZE:#x} allowed "
                "(lower dstrd or max_io_queues)",
            )
        if self.dbbuf and all(isinstance(v, int) for v in (self.dstrd, self.max_io_queues)):
            # NVMe 1.4 5.8: (4 << CAP.DSTRD) * (max(NSQA, NCQA) + 1) <= one memory page
            slots = (4 << max(0, min(15, self.dstrd))) * (self.max_io_queues + 1)
            need(
                slots <= 4096,
                f"dbbuf: the shadow doorbells of {self.max_io_queues + 1} queues take {slots} "
                "bytes at this dstrd, more than the 4096-byte page they must fit in",
            )
        formats_problem = _formats_problem(self.lba_formats, self.ctratt)
        formats_ok = formats_problem is None or "CTRATT" in formats_problem
        need(formats_problem is None, formats_problem or "")
        if formats_ok:
            need(
                0 <= self.flbas < len(self.lba_formats),
                f"flbas={self.flbas} names no LBA format (0..{len(self.lba_formats) - 1})",
            )
            words = ""
            if 0 <= self.flbas < len(self.lba_formats) and not self.namespaces:
                words = self._metadata_problem(
                    self.flbas, self.lba_formats[self.flbas][0], self.pi, ""
                )
            if words:
                need(False, words)
            elif 0 <= self.flbas < len(self.lba_formats):
                size = self.lba_size
                need(
                    size <= self.namespace_size_bytes <= 1 << 48
                    and self.namespace_size_bytes % size == 0,
                    f"namespace_size_bytes={self.namespace_size_bytes} must be a multiple of "
                    f"the {size}-byte LBA, at least one LBA, at most 256 TiB",
                )
        if self.namespaces and not out:
            out.extend(text for _, _, text in self.namespace_problems())
        if not out and self.tnvmcap:
            total = sum(ns.size or 0 for ns in self.namespace_configs())
            need(
                self.tnvmcap >= total,
                f"tnvmcap={self.tnvmcap} is less than the {total} bytes of the configured "
                "namespaces (0: twice that)",
            )
        return out


def _capacity(ns: NamespaceConfig, cfg: ControllerConfig) -> int:
    """The resolved NCAP in bytes of namespace ``ns`` (its own, the controller's knob, or
    its size: fully provisioned)."""
    size = cfg.namespace_size_bytes if ns.size is None else ns.size
    if ns.capacity is not None:
        return ns.capacity
    return cfg.namespace_capacity_bytes or size


def capacity_problem(capacity: Any, knob: Any, size: int, lba: int) -> str:
    """What is wrong with a namespace's capacity (``capacity`` its own, else ``knob``; 0 or
    None: its size), or ""."""
    value = capacity if capacity is not None else (knob or size)
    if not isinstance(value, int) or isinstance(value, bool):
        return f"capacity={value!r} must be a number of bytes"
    if value != size and (value < max(lba, 4096) or value > size or value % 4096 or value % lba):
        return (
            f"capacity={value} (NCAP in bytes) must be a multiple of 4 KiB and of the "
            f"{lba}-byte LBA, at least one of each, at most the size ({size})"
        )
    return ""


def _metadata_words(flbas: int, ms: int) -> str:
    return (
        f"flbas={flbas}: LBA format {flbas} has {ms} bytes of metadata per block, and this "
        "device moves no metadata (MC 0): the format in use must have none (Format NVM "
        "refuses such formats too)"
    )


def _formats_problem(formats: Any, ctratt: Any) -> str | None:
    """Why a list of LBA formats (ms, lbads) cannot be a namespace's, or None."""
    ok = (
        isinstance(formats, tuple | list)
        and 1 <= len(formats) <= 64
        and all(
            isinstance(f, tuple | list)
            and len(f) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in f)
            and 0 <= f[0] <= 0xFFFF
            and 9 <= f[1] <= 16
            for f in formats
        )
    )
    if not ok:
        return "lba_formats: 1 to 64 (ms 0..65535, lbads 9..16) pairs"
    if len(formats) > 16 and not (isinstance(ctratt, int) and ctratt & 0x8000):
        return (
            f"lba_formats: {len(formats)} formats need CTRATT bit 15 (Extended LBA Formats); "
            "without it NLBAF allows 16"
        )
    return None


#: Named configurations: a profile sets these knobs before any ``-c KEY=VALUE``.
#: ``qemu-7.2`` is QEMU 7.2's emulated NVMe controller (``-device nvme,serial=deadbeef``
#: with a 64 MiB namespace) as reference/linux-6.1-on-qemu-7.2/ captured it, but for
#: what the emulator does not implement stays clear, so the device never claims what
#: it cannot do: today every capability QEMU 7.2's controller shows is implemented.
#: (Compare, Dataset Management and Write Zeroes, ONCS bits 0, 2 and 3, are advertised
#: by every configuration, as QEMU's; Copy, ONCS bit 8 with OCFS 3h, and DULBE, NSFEAT
#: bit 2, as QEMU 7.2's; Namespace Management and Attachment, OACS bit 3, with
#: ``ns_mgmt``; metadata and protection information, MC 3h and DPC 1Fh, with
#: ``metadata``.)
PROFILES: dict[str, dict[str, Any]] = {
    "qemu-7.2": {
        "serial": "deadbeef",
        "model": "QEMU NVMe Ctrl",
        "firmware": "7.2.22",
        "pci_vid": 0x1B36,  # Red Hat, Inc.
        "pci_did": 0x0010,  # QEMU NVM Express Controller
        "pci_ssvid": 0x1AF4,  # Red Hat, Inc. (virtio)
        "pci_ssid": 0x1100,
        "revision": 0x02,
        "pci_layout": "qemu-7.2",
        "ieee": 0x525400,
        "subnqn": "nqn.2019-08.org.qemu:{serial}",
        "oaes": 0x100,
        "ctratt": 0x8000,
        "lpa": 0x07,
        "elpe": 0,
        "nn": 256,
        "dbbuf": True,
        "format_nvm": True,
        "ns_mgmt": True,  # OACS bit 3 (QEMU 7.2 reports TNVMCAP 0; ours is the capacity)
        "nsfeat": 0x14,  # bit 2 DULBE, bit 4 NPWG .. NOWS
        "ocfs": 0x3,  # Copy descriptor formats 0h and 1h
        # QEMU 7.2 leaves MSSRL, MCL and MSRC 0 for the namespace of -device nvme,drive=
        # (they are properties of -device nvme-ns only): its every Copy of one block or
        # more is Command Size Limit Exceeded, and so is this profile's
        "mssrl": 0,
        "mcl": 0,
        "msrc": 0,
        "metadata": True,  # MC 3h, DPC 1Fh
        "npdg": 7,
        "npda": 7,
        "frs1": "1.0",  # QEMU 7.2 writes "1.0" into FRS1 whatever FR says
        "temperature_k": 323,
        "avail_spare": 0,
        "spare_thresh": 0,
        "power_cycles": 0,
        "arbitration": 0x07,  # AB 7: no burst limit
        "admin_vector_cd": True,
        "nssrs": False,
        "css": 0xC1,
        "sgls": 0x1,  # SGLs for I/O commands, no alignment; no Bit Bucket
        "verify": False,  # ONCS bit 7 clear in the capture ("Verify Not Supported")
        # the reference machine (q35, qboot, Linux 6.1 with ACPI): the firmware wrote
        # Interrupt Line 0Ah (lspci before the driver binds: IRQ 10), the kernel routed
        # INTx pin A to IRQ 23 when nvme enabled the function (lspci after: IRQ 23)
        "interrupt_line": 10,
        "intx_irq": 23,
    },
}

#: Timing profiles: named values of the latency model's knobs (TIMING_KNOBS), also
#: selectable with ``--profile``. ``instant`` is the default configuration's timing (a
#: fixed overhead per command, data and media in no time: for teaching, the shipped
#: demos' pace). ``ssd`` is a PCIe 3.0 x4 TLC data-centre SSD of the Intel P4500 class:
#: docs/architecture.md (Timing) says where each number comes from.
TIMING_PROFILES: dict[str, dict[str, int]] = {
    "instant": {
        "cmd_latency_ns": 1_000,
        "io_latency_ns": 5_000,
        "link_mbps": 0,
        "media_read_ns": 0,
        "media_program_ns": 0,
        "parallel_units": 4,
    },
    "ssd": {
        "cmd_latency_ns": 10_000,  # an assumption: datasheets give no admin latency
        "io_latency_ns": 5_000,  # an assumption: the firmware's share of a command
        "link_mbps": 3_500,  # PCIe 3.0 x4: 8 GT/s x 4 lanes x 128/130 = 3.94 GB/s, less TLPs
        "media_read_ns": 79_000,  # 4 KiB random read: 5 + 1.17 + 79 = 85 us (datasheet: 85 us)
        "media_program_ns": 14_000,  # 4 KiB random write: 5 + 1.17 + 14 = 20 us (20 us)
        "parallel_units": 42,  # Little's law: 490,000 IOPS x 85 us = 41.7 reads at once
    },
}
PROFILES |= TIMING_PROFILES


def profile_config(name: str) -> ControllerConfig:
    """The configuration of profile ``name`` (a KeyError names no profile)."""
    return ControllerConfig(**PROFILES[name])
