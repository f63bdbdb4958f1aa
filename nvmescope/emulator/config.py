"""Every knob of the emulated controller, with its default.

The defaults describe one small NVMe 1.4 controller much like the one QEMU 7.2
emulates in the reference trace: one 64 MiB namespace of 512-byte blocks, 64
I/O queue pairs, 65 MSI-X vectors, MDTS 7 (512 KiB with 4 KiB pages).
"""

from __future__ import annotations

from dataclasses import dataclass

#: PCI IDs of our own. These are NOT assigned by the PCI-SIG: 4E53h ("NS") is
#: used here for emulation only and must never appear on real hardware.
VENDOR_ID = 0x4E53
DEVICE_ID = 0x0001
SUBSYSTEM_VENDOR_ID = 0x4E53
SUBSYSTEM_ID = 0x0001

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
    #: virtual ns an admin command takes between cmd_start and its data transfer
    cmd_latency_ns: int = 1_000
    #: virtual ns an I/O command takes between cmd_start and its data transfer
    io_latency_ns: int = 5_000
    #: Identify Controller MDTS: max transfer is 2^mdts pages of CAP.MPSMIN (0 = no limit)
    mdts: int = 7
    #: size of namespace 1 in bytes (a multiple of the LBA size)
    namespace_size_bytes: int = 64 * 1024 * 1024
    #: index of the LBA format in use (FLBAS); the default is 512-byte LBAs, no metadata
    flbas: int = 0
    #: the LBA formats (ms, lbads) the namespace reports
    lba_formats: tuple[tuple[int, int], ...] = DEFAULT_LBA_FORMATS
    #: Identify Controller ACL (0's based): concurrent Abort commands
    acl: int = 3
    #: Identify Controller AERL (0's based): outstanding Asynchronous Event Requests
    aerl: int = 3
    #: Identify Controller ELPE (0's based): Error Information log entries kept
    elpe: int = 63
    #: Identify Controller NN: number of namespaces (only NSID 1 is active)
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
