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
    #: Doorbell Buffer Config (admin 7Ch, shadow doorbells and EventIdx; Identify OACS bit 8);
    #: off: 7Ch is an Invalid Command Opcode
    dbbuf: bool = False

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

        for name, limit in (("serial", 20), ("model", 40), ("firmware", 8)):
            value = getattr(self, name)
            need(
                isinstance(value, str) and value.isascii() and value.isprintable(),
                f"{name} must be printable ASCII",
            )
            need(len(value) <= limit, f"{name} is at most {limit} characters (got {len(value)})")
        ranges = {
            "mqes": (1, 0xFFFF, "CAP.MQES is 0's based: 1 (2 entries) to 65535"),
            "dstrd": (0, 15, "CAP.DSTRD is 4 bits"),
            "timeout": (1, 255, "CAP.TO is 1 to 255 units of 500 ms"),
            "msix_vectors": (1, 2048, "an MSI-X table has 1 to 2048 entries"),
            "max_io_queues": (1, 0xFFFF, "1 to 65535 I/O queue pairs"),
            "rdy_delay_ns": (0, 10**12, "a delay is 0 to 1000 s of virtual time"),
            "shutdown_delay_ns": (0, 10**12, "a delay is 0 to 1000 s of virtual time"),
            "cmd_latency_ns": (0, 10**12, "a latency is 0 to 1000 s of virtual time"),
            "io_latency_ns": (0, 10**12, "a latency is 0 to 1000 s of virtual time"),
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
        }
        for name, (low, high, why) in ranges.items():
            value = getattr(self, name)
            need(
                isinstance(value, int) and low <= value <= high,
                f"{name}={value!r} is out of range: {why}",
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
        formats_ok = 1 <= len(self.lba_formats) <= 64 and all(
            0 <= ms <= 0xFFFF and 9 <= lbads <= 16 for ms, lbads in self.lba_formats
        )
        need(formats_ok, "lba_formats: 1 to 64 (ms 0..65535, lbads 9..16) pairs")
        if formats_ok:
            need(
                0 <= self.flbas < len(self.lba_formats),
                f"flbas={self.flbas} names no LBA format (0..{len(self.lba_formats) - 1})",
            )
            if 0 <= self.flbas < len(self.lba_formats):
                size = self.lba_size
                need(
                    size <= self.namespace_size_bytes <= 1 << 48
                    and self.namespace_size_bytes % size == 0,
                    f"namespace_size_bytes={self.namespace_size_bytes} must be a multiple of "
                    f"the {size}-byte LBA, at least one LBA, at most 256 TiB",
                )
        return out
