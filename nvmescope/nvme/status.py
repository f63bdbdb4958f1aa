"""Status codes of every status code type (NVMe 1.4 section 4.6.1.2).

``STATUS[(sct, sc)]`` gives ``(name, meaning)``: ``name`` a short identifier,
``meaning`` the specification's title. Constants below name the codes the
emulator answers with.
"""

from __future__ import annotations

import functools
from typing import NamedTuple


class Status(NamedTuple):
    name: str
    title: str


SCT_GENERIC = 0x0
SCT_COMMAND_SPECIFIC = 0x1
SCT_MEDIA = 0x2
SCT_PATH = 0x3
SCT_VENDOR = 0x7

SCT_NAMES: dict[int, str] = {
    SCT_GENERIC: "Generic Command Status",
    SCT_COMMAND_SPECIFIC: "Command Specific Status",
    SCT_MEDIA: "Media and Data Integrity Errors",
    SCT_PATH: "Path Related Status",
    SCT_VENDOR: "Vendor Specific",
}

GENERIC: dict[int, Status] = {
    0x00: Status("success", "Successful Completion"),
    0x01: Status("invalid_opcode", "Invalid Command Opcode"),
    0x02: Status("invalid_field", "Invalid Field in Command"),
    0x03: Status("cid_conflict", "Command ID Conflict"),
    0x04: Status("data_transfer_error", "Data Transfer Error"),
    0x05: Status("aborted_power_loss", "Commands Aborted due to Power Loss Notification"),
    0x06: Status("internal_error", "Internal Error"),
    0x07: Status("abort_requested", "Command Abort Requested"),
    0x08: Status("aborted_sq_deletion", "Command Aborted due to SQ Deletion"),
    0x09: Status("aborted_failed_fused", "Command Aborted due to Failed Fused Command"),
    0x0A: Status("aborted_missing_fused", "Command Aborted due to Missing Fused Command"),
    0x0B: Status("invalid_ns_or_format", "Invalid Namespace or Format"),
    0x0C: Status("command_sequence_error", "Command Sequence Error"),
    0x0D: Status("invalid_sgl_segment_descriptor", "Invalid SGL Segment Descriptor"),
    0x0E: Status("invalid_num_sgl_descriptors", "Invalid Number of SGL Descriptors"),
    0x0F: Status("data_sgl_length_invalid", "Data SGL Length Invalid"),
    0x10: Status("metadata_sgl_length_invalid", "Metadata SGL Length Invalid"),
    0x11: Status("sgl_descriptor_type_invalid", "SGL Descriptor Type Invalid"),
    0x12: Status("invalid_cmb_use", "Invalid Use of Controller Memory Buffer"),
    0x13: Status("prp_offset_invalid", "PRP Offset Invalid"),
    0x14: Status("atomic_write_unit_exceeded", "Atomic Write Unit Exceeded"),
    0x15: Status("operation_denied", "Operation Denied"),
    0x16: Status("sgl_offset_invalid", "SGL Offset Invalid"),
    0x18: Status("host_id_inconsistent_format", "Host Identifier Inconsistent Format"),
    0x19: Status("keep_alive_expired", "Keep Alive Timer Expired"),
    0x1A: Status("keep_alive_invalid", "Keep Alive Timeout Invalid"),
    0x1B: Status("aborted_preempt", "Command Aborted due to Preempt and Abort"),
    0x1C: Status("sanitize_failed", "Sanitize Failed"),
    0x1D: Status("sanitize_in_progress", "Sanitize In Progress"),
    0x1E: Status("sgl_data_block_granularity_invalid", "SGL Data Block Granularity Invalid"),
    0x1F: Status("cmd_not_supported_in_cmb", "Command Not Supported for Queue in CMB"),
    0x20: Status("ns_write_protected", "Namespace is Write Protected"),
    0x21: Status("command_interrupted", "Command Interrupted"),
    0x22: Status("transient_transport_error", "Transient Transport Error"),
    0x80: Status("lba_out_of_range", "LBA Out of Range"),
    0x81: Status("capacity_exceeded", "Capacity Exceeded"),
    0x82: Status("ns_not_ready", "Namespace Not Ready"),
    0x83: Status("reservation_conflict", "Reservation Conflict"),
    0x84: Status("format_in_progress", "Format In Progress"),
}

COMMAND_SPECIFIC: dict[int, Status] = {
    0x00: Status("invalid_cq", "Completion Queue Invalid"),
    0x01: Status("invalid_qid", "Invalid Queue Identifier"),
    0x02: Status("invalid_qsize", "Invalid Queue Size"),
    0x03: Status("abort_limit", "Abort Command Limit Exceeded"),
    0x05: Status("aer_limit", "Asynchronous Event Request Limit Exceeded"),
    0x06: Status("invalid_fw_slot", "Invalid Firmware Slot"),
    0x07: Status("invalid_fw_image", "Invalid Firmware Image"),
    0x08: Status("invalid_vector", "Invalid Interrupt Vector"),
    0x09: Status("invalid_log_page", "Invalid Log Page"),
    0x0A: Status("invalid_format", "Invalid Format"),
    0x0B: Status("fw_needs_conventional_reset", "Firmware Activation Requires Conventional Reset"),
    0x0C: Status("invalid_queue_deletion", "Invalid Queue Deletion"),
    0x0D: Status("feature_not_saveable", "Feature Identifier Not Saveable"),
    0x0E: Status("feature_not_changeable", "Feature Not Changeable"),
    0x0F: Status("feature_not_ns_specific", "Feature Not Namespace Specific"),
    0x10: Status("fw_needs_subsystem_reset", "Firmware Activation Requires NVM Subsystem Reset"),
    0x11: Status("fw_needs_reset", "Firmware Activation Requires Controller Level Reset"),
    0x12: Status(
        "fw_needs_max_time_violation", "Firmware Activation Requires Maximum Time Violation"
    ),
    0x13: Status("fw_activation_prohibited", "Firmware Activation Prohibited"),
    0x14: Status("overlapping_range", "Overlapping Range"),
    0x15: Status("ns_insufficient_capacity", "Namespace Insufficient Capacity"),
    0x16: Status("ns_id_unavailable", "Namespace Identifier Unavailable"),
    0x18: Status("ns_already_attached", "Namespace Already Attached"),
    0x19: Status("ns_is_private", "Namespace Is Private"),
    0x1A: Status("ns_not_attached", "Namespace Not Attached"),
    0x1B: Status("thin_provisioning_not_supported", "Thin Provisioning Not Supported"),
    0x1C: Status("controller_list_invalid", "Controller List Invalid"),
    0x1D: Status("self_test_in_progress", "Device Self-test In Progress"),
    0x1E: Status("boot_partition_write_prohibited", "Boot Partition Write Prohibited"),
    0x1F: Status("invalid_ctrl_id", "Invalid Controller Identifier"),
    0x20: Status("invalid_secondary_ctrl_state", "Invalid Secondary Controller State"),
    0x21: Status("invalid_num_ctrl_resources", "Invalid Number of Controller Resources"),
    0x22: Status("invalid_resource_id", "Invalid Resource Identifier"),
    0x23: Status(
        "sanitize_prohibited_pmr", "Sanitize Prohibited While Persistent Memory Region is Enabled"
    ),
    0x24: Status("ana_group_id_invalid", "ANA Group Identifier Invalid"),
    0x25: Status("ana_attach_failed", "ANA Attach Failed"),
    0x80: Status("conflicting_attributes", "Conflicting Attributes"),
    0x81: Status("invalid_protection_info", "Invalid Protection Information"),
    0x82: Status("write_to_ro_range", "Attempted Write to Read Only Range"),
    0x83: Status("cmd_size_limit_exceeded", "Command Size Limit Exceeded"),
}

MEDIA: dict[int, Status] = {
    0x80: Status("write_fault", "Write Fault"),
    0x81: Status("unrecovered_read_error", "Unrecovered Read Error"),
    0x82: Status("e2e_guard_check", "End-to-end Guard Check Error"),
    0x83: Status("e2e_app_tag_check", "End-to-end Application Tag Check Error"),
    0x84: Status("e2e_ref_tag_check", "End-to-end Reference Tag Check Error"),
    0x85: Status("compare_failure", "Compare Failure"),
    0x86: Status("access_denied", "Access Denied"),
    0x87: Status("deallocated_or_unwritten", "Deallocated or Unwritten Logical Block"),
}

PATH: dict[int, Status] = {
    0x00: Status("internal_path_error", "Internal Path Error"),
    0x01: Status("ana_persistent_loss", "Asymmetric Access Persistent Loss"),
    0x02: Status("ana_inaccessible", "Asymmetric Access Inaccessible"),
    0x03: Status("ana_transition", "Asymmetric Access Transition"),
    0x60: Status("controller_pathing_error", "Controller Pathing Error"),
    0x70: Status("host_pathing_error", "Host Pathing Error"),
    0x71: Status("aborted_by_host", "Command Aborted By Host"),
}

STATUS: dict[tuple[int, int], Status] = {}
for _sct, _table in (
    (SCT_GENERIC, GENERIC),
    (SCT_COMMAND_SPECIFIC, COMMAND_SPECIFIC),
    (SCT_MEDIA, MEDIA),
    (SCT_PATH, PATH),
):
    for _sc, _st in _table.items():
        STATUS[(_sct, _sc)] = _st

# -- the codes the emulator answers with (sct, sc) ------------------------------
SUCCESS = (SCT_GENERIC, 0x00)
INVALID_OPCODE = (SCT_GENERIC, 0x01)
INVALID_FIELD = (SCT_GENERIC, 0x02)
CID_CONFLICT = (SCT_GENERIC, 0x03)
DATA_TRANSFER_ERROR = (SCT_GENERIC, 0x04)
INTERNAL_ERROR = (SCT_GENERIC, 0x06)
ABORT_REQUESTED = (SCT_GENERIC, 0x07)
ABORTED_SQ_DELETION = (SCT_GENERIC, 0x08)
ABORTED_MISSING_FUSED = (SCT_GENERIC, 0x0A)
INVALID_NS_OR_FORMAT = (SCT_GENERIC, 0x0B)
COMMAND_SEQUENCE_ERROR = (SCT_GENERIC, 0x0C)
INVALID_SGL_SEGMENT_DESCRIPTOR = (SCT_GENERIC, 0x0D)
INVALID_NUM_SGL_DESCRIPTORS = (SCT_GENERIC, 0x0E)
DATA_SGL_LENGTH_INVALID = (SCT_GENERIC, 0x0F)
METADATA_SGL_LENGTH_INVALID = (SCT_GENERIC, 0x10)
SGL_DESCRIPTOR_TYPE_INVALID = (SCT_GENERIC, 0x11)
PRP_OFFSET_INVALID = (SCT_GENERIC, 0x13)
SGL_DATA_BLOCK_GRANULARITY_INVALID = (SCT_GENERIC, 0x1E)
LBA_OUT_OF_RANGE = (SCT_GENERIC, 0x80)
WRITE_FAULT = (SCT_MEDIA, 0x80)
UNRECOVERED_READ_ERROR = (SCT_MEDIA, 0x81)
COMPARE_FAILURE = (SCT_MEDIA, 0x85)
DEALLOCATED_OR_UNWRITTEN = (SCT_MEDIA, 0x87)
E2E_GUARD_CHECK = (SCT_MEDIA, 0x82)
E2E_APP_TAG_CHECK = (SCT_MEDIA, 0x83)
E2E_REF_TAG_CHECK = (SCT_MEDIA, 0x84)
INVALID_PROTECTION_INFO = (SCT_COMMAND_SPECIFIC, 0x81)
INVALID_CQ = (SCT_COMMAND_SPECIFIC, 0x00)
INVALID_QID = (SCT_COMMAND_SPECIFIC, 0x01)
INVALID_QSIZE = (SCT_COMMAND_SPECIFIC, 0x02)
ABORT_LIMIT = (SCT_COMMAND_SPECIFIC, 0x03)
AER_LIMIT = (SCT_COMMAND_SPECIFIC, 0x05)
INVALID_VECTOR = (SCT_COMMAND_SPECIFIC, 0x08)
INVALID_LOG_PAGE = (SCT_COMMAND_SPECIFIC, 0x09)
INVALID_QUEUE_DELETION = (SCT_COMMAND_SPECIFIC, 0x0C)
FEATURE_NOT_SAVEABLE = (SCT_COMMAND_SPECIFIC, 0x0D)
FEATURE_NOT_CHANGEABLE = (SCT_COMMAND_SPECIFIC, 0x0E)
FEATURE_NOT_NS_SPECIFIC = (SCT_COMMAND_SPECIFIC, 0x0F)
# Namespace Management (0Dh) and Namespace Attachment (15h), NVMe 2.0 base 5.22 / 5.23
INVALID_FORMAT = (SCT_COMMAND_SPECIFIC, 0x0A)
NS_INSUFFICIENT_CAPACITY = (SCT_COMMAND_SPECIFIC, 0x15)
NS_ID_UNAVAILABLE = (SCT_COMMAND_SPECIFIC, 0x16)
NS_ALREADY_ATTACHED = (SCT_COMMAND_SPECIFIC, 0x18)
NS_IS_PRIVATE = (SCT_COMMAND_SPECIFIC, 0x19)
NS_NOT_ATTACHED = (SCT_COMMAND_SPECIFIC, 0x1A)
THIN_PROVISIONING_NOT_SUPPORTED = (SCT_COMMAND_SPECIFIC, 0x1B)
CONTROLLER_LIST_INVALID = (SCT_COMMAND_SPECIFIC, 0x1C)
#: Copy (NVM Command Set): NR, an NLB or their sum above MSRC, MSSRL or MCL
CMD_SIZE_LIMIT_EXCEEDED = (SCT_COMMAND_SPECIFIC, 0x83)


#: the statuses a driver meets most, to pick by name (the faults form's list for
#: ``force_status``), (SCT, SC) in the order offered: generic errors first, then media and
#: data integrity errors, then command specific ones, success last
COMMON_STATUSES: tuple[tuple[int, int], ...] = (
    INTERNAL_ERROR,
    DATA_TRANSFER_ERROR,
    (SCT_GENERIC, 0x82),  # Namespace Not Ready
    INVALID_FIELD,
    INVALID_NS_OR_FORMAT,
    LBA_OUT_OF_RANGE,
    INVALID_OPCODE,
    ABORT_REQUESTED,
    ABORTED_SQ_DELETION,
    (SCT_GENERIC, 0x81),  # Capacity Exceeded
    (SCT_GENERIC, 0x20),  # Namespace is Write Protected
    (SCT_MEDIA, 0x80),  # Write Fault
    (SCT_MEDIA, 0x81),  # Unrecovered Read Error
    COMPARE_FAILURE,
    (SCT_MEDIA, 0x86),  # Access Denied
    INVALID_QID,
    INVALID_LOG_PAGE,
    SUCCESS,
)


def status_title(sct: int, sc: int) -> str:
    """The specification's words for a status, e.g. ``Invalid Queue Identifier``."""
    hit = STATUS.get((sct, sc))
    if hit is not None:
        return hit.title
    if sct == SCT_VENDOR:
        return f"Vendor Specific status {sc:#04x}"
    return f"Reserved status (SCT {sct:#x}, SC {sc:#04x})"


def status_name(sct: int, sc: int) -> str:
    hit = STATUS.get((sct, sc))
    return hit.name if hit else f"sct{sct:x}_sc{sc:02x}"


@functools.lru_cache(maxsize=4096)
def describe_status(status: int) -> str:
    """A 15-bit status field as words: ``Invalid Queue Identifier (SCT 1h SC 01h, DNR)``.

    Kept per value (the host model words every completion it reaps with this)."""
    sct, sc, dnr = (status >> 8) & 7, status & 0xFF, bool(status >> 14 & 1)
    more = ", DNR" if dnr else ""
    return f"{status_title(sct, sc)} (SCT {sct:x}h SC {sc:02x}h{more})"


# -- Asynchronous Event Request completions (dword 0: type, information, log page) ---------
AER_TYPE_ERROR = 0
AER_TYPE_SMART = 1
AER_TYPE_NOTICE = 2
AER_INFO_INVALID_DB = 0x00
AER_INFO_INVALID_DB_VALUE = 0x01
AER_INFO_TEMPERATURE = 0x01
#: Notice information 00h: Namespace Attribute Changed (log page 04h, Changed Namespace List)
AER_INFO_NS_ATTR_CHANGED = 0x00

#: asynchronous event types, and the Error status information values, in words
AER_TYPES: dict[int, str] = {
    AER_TYPE_ERROR: "Error status",
    AER_TYPE_SMART: "SMART / Health status",
    AER_TYPE_NOTICE: "Notice",
    6: "I/O command set",
}
AER_ERROR_INFO: dict[int, str] = {
    AER_INFO_INVALID_DB: "Write to Invalid Doorbell Register",
    AER_INFO_INVALID_DB_VALUE: "Invalid Doorbell Write Value",
    0x02: "Diagnostic Failure",
    0x03: "Persistent Internal Error",
    0x04: "Transient Internal Error",
    0x05: "Firmware Image Load Error",
}
AER_NOTICE_INFO: dict[int, str] = {
    AER_INFO_NS_ATTR_CHANGED: "Namespace Attribute Changed",
    0x01: "Firmware Activation Starting",
    0x02: "Telemetry Log Changed",
    0x03: "Asymmetric Namespace Access Change",
}


def describe_aer(dw0: int) -> str:
    """An Asynchronous Event Request completion's Dword 0 in words: the event type (bits
    2:0), its information (bits 15:8) and the log page that tells more (bits 23:16)."""
    etype, info, log_page = dw0 & 0x7, (dw0 >> 8) & 0xFF, (dw0 >> 16) & 0xFF
    kind = AER_TYPES.get(etype, f"type {etype}")
    names = {AER_TYPE_ERROR: AER_ERROR_INFO, AER_TYPE_NOTICE: AER_NOTICE_INFO}
    words = names.get(etype, {}).get(info, "")
    what = f"{words} (info {info:02X}h)" if words else f"info {info:02X}h"
    return (
        f"{kind} (type {etype}), {what}; read log page {log_page:02X}h to learn more "
        "and to unmask this event type"
    )
