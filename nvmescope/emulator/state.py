"""The controller's bookkeeping beyond the registers: features, the Error
Information log, SMART / Health counters, held Asynchronous Event Requests and
Abort commands, the timestamp.

Controller Level Reset (CC.EN 1 -> 0) restores features to their defaults and
drops held commands; the error log and SMART counters survive it (they belong
to the NVM subsystem, as on a real drive).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..nvme import features as f
from ..nvme import logpages as lp
from .config import ControllerConfig
from .request import Request

if TYPE_CHECKING:
    from .queues import CompletionQueue, SubmissionQueue

NS_PER_MINUTE = 60 * 1_000_000_000
NS_PER_HOUR = 60 * NS_PER_MINUTE


class ControllerState:
    def __init__(self, config: ControllerConfig) -> None:
        self.config = config
        self.error_count = 0
        #: newest first, at most ELPE + 1 entries
        self.error_log: list[dict[str, Any]] = []
        self.data_units_read = 0  # in 512-byte units (reported in thousands, rounded up)
        self.data_units_written = 0
        self.host_read_commands = 0
        self.host_write_commands = 0
        self.busy_ns = 0
        self.power_cycles = config.power_cycles
        self.unsafe_shutdowns = 0
        self.media_errors = 0
        self.enabled_at: int | None = None
        self.reset_controller()

    # -- reset -------------------------------------------------------------------
    def defaults(self) -> dict[int, int]:
        cfg = self.config
        nq = cfg.max_io_queues - 1
        return {
            f.FID_ARBITRATION: cfg.arbitration,
            f.FID_POWER_MANAGEMENT: 0,
            f.FID_VOLATILE_WRITE_CACHE: 1 if cfg.vwc else 0,
            f.FID_NUMBER_OF_QUEUES: (nq << 16) | nq,
            f.FID_INTERRUPT_COALESCING: 0,
            f.FID_ASYNC_EVENT_CONFIG: 0,
        }

    def reset_controller(self) -> None:
        self.features: dict[int, int] = self.defaults()
        #: Temperature Threshold per THSEL (0 over, 1 under) for the composite sensor
        self.temp_thresholds: dict[int, int] = {0: self.config.wctemp, 1: 0}
        #: Interrupt Vector Configuration, vector -> CD bit
        self.irq_vector_cd: dict[int, int] = {}
        #: Set Features Number of Queues was accepted since the last reset
        self.nq_set = False
        #: an I/O queue was created since the last reset (deleting it does not clear this:
        #: Number of Queues is for initialization only, NVMe 1.4 section 5.21.1.7)
        self.io_queues_created = False
        self.aer_reqs: list[Request] = []
        self.aer_queue: list[tuple[int, int, int]] = []
        self.aer_masked: set[int] = set()
        self.pending_aborts: dict[tuple[int, int], Request] = {}
        self.timestamp_ms = 0
        self.timestamp_set_at_ns: int | None = None
        self.timestamp_origin = 0
        #: Feature 05h Error Recovery per NSID (TLER 15:0, DULBE 16); absent: 0, the default
        self.err_rec: dict[int, int] = {}
        #: Feature 16h Host Behavior Support's buffer (ACRE byte 0, LBAFEE byte 2)
        self.host_behavior = bytes(f.HOST_BEHAVIOR_SIZE)

    def on_enable(self, now: int) -> None:
        if self.enabled_at is None:
            self.enabled_at = now

    def on_shutdown(self) -> None:
        pass

    # -- the error log -------------------------------------------------------------
    def log_error(
        self, req: Request, sqs: dict[int, SubmissionQueue], cqs: dict[int, CompletionQueue]
    ) -> None:
        self.error_count += 1
        cmd = req.cmd
        cq = None
        sq = sqs.get(req.sqid)
        if sq is not None:
            cq = cqs.get(sq.cqid)
        entry = {
            "error_count": self.error_count,
            "sqid": req.sqid,
            "cmdid": cmd.cid,
            "status_field": {"status": req.status, "phase_tag": cq.phase if cq else 0},
            "parm_err_loc": req.parm_err_loc,
            "lba": req.lba,
            "nsid": cmd.nsid,
            "vs": 0,
            "trtype": 0,
            "csi": 0,
            "opcode": cmd.opc,
            "cs": 0,
            "trtype_spec_info": 0,
            "rsvd42": bytes(21),
            "log_page_version": 0,
        }
        self.error_log.insert(0, entry)
        del self.error_log[self.config.elpe + 1 :]

    def error_log_bytes(self) -> bytes:
        out = bytearray()
        for entry in self.error_log:
            out += lp.ERROR_INFORMATION_ENTRY.build(entry)
        size = (self.config.elpe + 1) * lp.ERROR_ENTRY_SIZE
        return bytes(out) + bytes(size - len(out))

    # -- SMART -------------------------------------------------------------------------
    def temperature_warning(self) -> bool:
        """Critical Warning bit 1: the composite temperature is at or above the over
        temperature threshold, or at or below the under temperature threshold."""
        temp = self.config.temperature_k
        return temp >= self.temp_thresholds[0] or temp <= self.temp_thresholds[1]

    def smart_counters(self, now: int, ns: Any = None) -> dict[str, int]:
        """The SMART / Health values; with a namespace ``ns``, its own data units and
        command counts (the log page per namespace, LPA bit 0), the rest the controller's."""
        on_ns = now - self.enabled_at if self.enabled_at is not None else 0
        units = ns if ns is not None else self
        cfg = self.config
        # Critical Warning bit 0: available spare below its threshold; bit 1: temperature
        warning = (0x02 if self.temperature_warning() else 0) | (
            0x01 if cfg.avail_spare < cfg.spare_thresh else 0
        )
        return {
            "critical_warning": warning,
            "temperature": cfg.temperature_k,
            "avail_spare": cfg.avail_spare,
            "spare_thresh": cfg.spare_thresh,
            "percent_used": 0,
            "data_units_read": -(-units.data_units_read // 1000),
            "data_units_written": -(-units.data_units_written // 1000),
            "host_read_commands": units.host_read_commands,
            "host_write_commands": units.host_write_commands,
            "ctrl_busy_time": self.busy_ns // NS_PER_MINUTE,
            "power_cycles": self.power_cycles,
            "power_on_hours": max(0, now) // NS_PER_HOUR,
            "unsafe_shutdowns": self.unsafe_shutdowns,
            "media_errors": self.media_errors,
            "num_err_log_entries": self.error_count,
            "on_ns": on_ns,
        }

    def smart_log_bytes(self, now: int, ns: Any = None) -> bytes:
        c = self.smart_counters(now, ns)
        c.pop("on_ns")
        c.update(
            endurance_grp_critical_warning_summary=0,
            rsvd7=bytes(25),
            warning_temp_time=0,
            critical_comp_time=0,
            temperature_sensor=[0] * 8,
            thm_temp1_trans_count=0,
            thm_temp2_trans_count=0,
            thm_temp1_total_time=0,
            thm_temp2_total_time=0,
            rsvd232=bytes(280),
        )
        return lp.SMART_LOG.build(c)

    def fw_slot_log_bytes(self) -> bytes:
        values: dict[str, Any] = {"afi": 0x01, "rsvd1": bytes(7), "rsvd64": bytes(448)}
        for n in range(1, 8):
            values[f"frs{n}"] = (self.config.frs1 or self.config.firmware)[:8] if n == 1 else b""
        return lp.FIRMWARE_SLOT_LOG.build(values)

    # -- the timestamp -----------------------------------------------------------------
    def timestamp_now(self, now: int) -> int:
        if self.timestamp_set_at_ns is None:
            return (now // 1_000_000) & 0xFFFFFFFFFFFF
        elapsed = (now - self.timestamp_set_at_ns) // 1_000_000
        return (self.timestamp_ms + elapsed) & 0xFFFFFFFFFFFF

    def features_snapshot(self) -> dict[str, Any]:
        return {
            "values": {f"{fid:#04x}": self.features[fid] for fid in sorted(self.features)},
            "temp_thresholds": dict(sorted(self.temp_thresholds.items())),
            "irq_vector_cd": dict(sorted(self.irq_vector_cd.items())),
            "timestamp_origin": self.timestamp_origin,
        }
