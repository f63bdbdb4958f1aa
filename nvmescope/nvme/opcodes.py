"""Name tables: admin and NVM opcodes, feature identifiers, log page identifiers.

Each table maps a number to ``(name, title)``: ``name`` is a short snake-case
identifier used in events and filter expressions (``opcode == "read"``),
``title`` the specification's words.
"""

from __future__ import annotations

from typing import NamedTuple


class Name(NamedTuple):
    name: str
    title: str


ADMIN_OPCODES: dict[int, Name] = {
    0x00: Name("delete_io_sq", "Delete I/O Submission Queue"),
    0x01: Name("create_io_sq", "Create I/O Submission Queue"),
    0x02: Name("get_log_page", "Get Log Page"),
    0x04: Name("delete_io_cq", "Delete I/O Completion Queue"),
    0x05: Name("create_io_cq", "Create I/O Completion Queue"),
    0x06: Name("identify", "Identify"),
    0x08: Name("abort", "Abort"),
    0x09: Name("set_features", "Set Features"),
    0x0A: Name("get_features", "Get Features"),
    0x0C: Name("async_event_request", "Asynchronous Event Request"),
    0x0D: Name("ns_management", "Namespace Management"),
    0x10: Name("fw_commit", "Firmware Commit"),
    0x11: Name("fw_image_download", "Firmware Image Download"),
    0x14: Name("device_self_test", "Device Self-test"),
    0x15: Name("ns_attachment", "Namespace Attachment"),
    0x18: Name("keep_alive", "Keep Alive"),
    0x19: Name("directive_send", "Directive Send"),
    0x1A: Name("directive_receive", "Directive Receive"),
    0x1C: Name("virtualization_management", "Virtualization Management"),
    0x1D: Name("nvme_mi_send", "NVMe-MI Send"),
    0x1E: Name("nvme_mi_receive", "NVMe-MI Receive"),
    0x24: Name("lockdown", "Command and Feature Lockdown"),
    0x7C: Name("doorbell_buffer_config", "Doorbell Buffer Config"),
    0x7F: Name("fabrics", "Fabrics Commands"),
    0x80: Name("format_nvm", "Format NVM"),
    0x81: Name("security_send", "Security Send"),
    0x82: Name("security_receive", "Security Receive"),
    0x84: Name("sanitize", "Sanitize"),
    0x86: Name("get_lba_status", "Get LBA Status"),
}

NVM_OPCODES: dict[int, Name] = {
    0x00: Name("flush", "Flush"),
    0x01: Name("write", "Write"),
    0x02: Name("read", "Read"),
    0x04: Name("write_uncorrectable", "Write Uncorrectable"),
    0x05: Name("compare", "Compare"),
    0x08: Name("write_zeroes", "Write Zeroes"),
    0x09: Name("dataset_management", "Dataset Management"),
    0x0C: Name("verify", "Verify"),
    0x0D: Name("reservation_register", "Reservation Register"),
    0x0E: Name("reservation_report", "Reservation Report"),
    0x11: Name("reservation_acquire", "Reservation Acquire"),
    0x15: Name("reservation_release", "Reservation Release"),
    0x19: Name("copy", "Copy"),
}

FEATURES: dict[int, Name] = {
    0x01: Name("arbitration", "Arbitration"),
    0x02: Name("power_management", "Power Management"),
    0x03: Name("lba_range_type", "LBA Range Type"),
    0x04: Name("temperature_threshold", "Temperature Threshold"),
    0x05: Name("error_recovery", "Error Recovery"),
    0x06: Name("volatile_write_cache", "Volatile Write Cache"),
    0x07: Name("number_of_queues", "Number of Queues"),
    0x08: Name("interrupt_coalescing", "Interrupt Coalescing"),
    0x09: Name("interrupt_vector_configuration", "Interrupt Vector Configuration"),
    0x0A: Name("write_atomicity_normal", "Write Atomicity Normal"),
    0x0B: Name("async_event_configuration", "Async Event Configuration"),
    0x0C: Name("autonomous_power_state_transition", "Autonomous Power State Transition"),
    0x0D: Name("host_memory_buffer", "Host Memory Buffer"),
    0x0E: Name("timestamp", "Timestamp"),
    0x0F: Name("keep_alive_timer", "Keep Alive Timer"),
    0x10: Name("host_controlled_thermal_management", "Host Controlled Thermal Management"),
    0x11: Name("non_operational_power_state_config", "Non-Operational Power State Config"),
    0x12: Name("read_recovery_level_config", "Read Recovery Level Config"),
    0x13: Name("predictable_latency_mode_config", "Predictable Latency Mode Config"),
    0x14: Name("predictable_latency_mode_window", "Predictable Latency Mode Window"),
    0x15: Name("lba_status_information_report_interval", "LBA Status Information Report Interval"),
    0x16: Name("host_behavior_support", "Host Behavior Support"),
    0x17: Name("sanitize_config", "Sanitize Config"),
    0x18: Name("endurance_group_event_configuration", "Endurance Group Event Configuration"),
    0x80: Name("software_progress_marker", "Software Progress"),
    0x81: Name("host_identifier", "Host Identifier"),
    0x82: Name("reservation_notification_mask", "Reservation Notification Mask"),
    0x83: Name("reservation_persistence", "Reservation Persistence"),
    0x84: Name("namespace_write_protection_config", "Namespace Write Protection Config"),
}

LOG_PAGES: dict[int, Name] = {
    0x01: Name("error", "Error Information"),
    0x02: Name("smart", "SMART / Health Information"),
    0x03: Name("fw_slot", "Firmware Slot Information"),
    0x04: Name("changed_ns_list", "Changed Namespace List"),
    0x05: Name("cmd_effects", "Commands Supported and Effects"),
    0x06: Name("device_self_test", "Device Self-test"),
    0x07: Name("telemetry_host", "Telemetry Host-Initiated"),
    0x08: Name("telemetry_ctrl", "Telemetry Controller-Initiated"),
    0x09: Name("endurance_group", "Endurance Group Information"),
    0x0A: Name("pred_lat_nvmset", "Predictable Latency Per NVM Set"),
    0x0B: Name("pred_lat_event_agg", "Predictable Latency Event Aggregate"),
    0x0C: Name("ana", "Asymmetric Namespace Access"),
    0x0D: Name("persistent_event", "Persistent Event Log"),
    0x0E: Name("lba_status", "LBA Status Information"),
    0x0F: Name("endurance_group_event_agg", "Endurance Group Event Aggregate"),
    0x80: Name("reservation_notification", "Reservation Notification"),
    0x81: Name("sanitize_status", "Sanitize Status"),
}

#: Identify CNS values.
IDENTIFY_CNS: dict[int, Name] = {
    0x00: Name("ns", "Identify Namespace"),
    0x01: Name("ctrl", "Identify Controller"),
    0x02: Name("active_ns_list", "Active Namespace ID list"),
    0x03: Name("ns_desc_list", "Namespace Identification Descriptor list"),
    0x04: Name("nvmset_list", "NVM Set list"),
    0x05: Name("csi_ns", "I/O Command Set specific Identify Namespace"),
    0x06: Name("csi_ctrl", "I/O Command Set specific Identify Controller"),
    0x07: Name("csi_active_ns_list", "I/O Command Set specific Active Namespace ID list"),
    0x08: Name("csi_indep_ns", "I/O Command Set Independent Identify Namespace"),
    0x10: Name("allocated_ns_list", "Allocated Namespace ID list"),
    0x11: Name("allocated_ns", "Identify Namespace for an allocated NSID"),
    0x12: Name("ns_ctrl_list", "Controller list of controllers attached to the NSID"),
    0x13: Name("ctrl_list", "Controller list of controllers in the NVM subsystem"),
    0x1C: Name("io_command_set_list", "Identify I/O Command Set data structure"),
}


#: Namespace Management's (0Dh) and Namespace Attachment's (15h) CDW10 SEL (bits 3:0)
NS_MGMT_SEL: dict[int, Name] = {0x0: Name("create", "Create"), 0x1: Name("delete", "Delete")}
NS_ATTACH_SEL: dict[int, Name] = {
    0x0: Name("attach", "Controller Attach"),
    0x1: Name("detach", "Controller Detach"),
}


def opcode_name(opcode: int, admin: bool) -> str:
    """``identify``, ``read``, or ``admin_0xNN`` / ``io_0xNN`` for an opcode we do not know."""
    table = ADMIN_OPCODES if admin else NVM_OPCODES
    hit = table.get(opcode)
    if hit is not None:
        return hit.name
    return f"{'admin' if admin else 'io'}_{opcode:#04x}"


def opcode_title(opcode: int, admin: bool) -> str:
    table = ADMIN_OPCODES if admin else NVM_OPCODES
    hit = table.get(opcode)
    return hit.title if hit else f"Unknown {'admin' if admin else 'I/O'} opcode {opcode:#04x}"


def feature_title(fid: int) -> str:
    hit = FEATURES.get(fid)
    return hit.title if hit else "Unknown"


def log_title(lid: int) -> str:
    hit = LOG_PAGES.get(lid)
    return hit.title if hit else "Unknown"
