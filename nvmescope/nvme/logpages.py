"""Log pages (NVMe 1.4 section 5.14.1), declared once as construct layouts.

Field names are the ones nvme-cli 2.3 prints (``nvme error-log``, ``nvme
smart-log``, ``nvme fw-log``); each field carries the specification's title as
construct docs. 128-bit counters are little-endian integers.
"""

from __future__ import annotations

import construct as cs

from nvmescope.nvme.identify import AsciiField, Int128ul

ERROR_ENTRY_SIZE = 64
SMART_LOG_SIZE = 512
FW_SLOT_LOG_SIZE = 512

#: Status Field of an error entry: bit 0 the Phase Tag, bits 15:1 the status field
#: of the completion queue entry that reported the error.
ERROR_STATUS_FIELD = cs.ByteSwapped(
    cs.BitStruct(
        "status" / cs.BitsInteger(15) * "Status Field (DNR 14, M 13, CRD 12:11, SCT 10:8, SC 7:0)",
        "phase_tag" / cs.BitsInteger(1) * "Phase Tag (P)",
    )
)

#: Error Information Log Entry (Log Identifier 01h), 64 bytes.
ERROR_INFORMATION_ENTRY = cs.Struct(
    "error_count" / cs.Int64ul * "Error Count",
    "sqid" / cs.Int16ul * "Submission Queue ID",
    "cmdid" / cs.Int16ul * "Command ID",
    "status_field" / ERROR_STATUS_FIELD * "Status Field",
    "parm_err_loc" / cs.Int16ul * "Parameter Error Location (byte 7:0, bit 10:8)",
    "lba" / cs.Int64ul * "LBA",
    "nsid" / cs.Int32ul * "Namespace",
    "vs" / cs.Int8ul * "Vendor Specific Information Available",
    "trtype" / cs.Int8ul * "Transport Type (TRTYPE)",
    "csi" / cs.Int8ul * "Command Set Indicator (CSI)",
    "opcode" / cs.Int8ul * "Opcode",
    "cs" / cs.Int64ul * "Command Specific Information",
    "trtype_spec_info" / cs.Int16ul * "Transport Type Specific Information",
    "rsvd42" / cs.Bytes(21) * "Reserved",
    "log_page_version" / cs.Int8ul * "Log Page Version",
)

#: SMART / Health Information (Log Identifier 02h), 512 bytes.
SMART_LOG = cs.Struct(
    "critical_warning" / cs.Int8ul * "Critical Warning",
    "temperature" / cs.Int16ul * "Composite Temperature, Kelvin",
    "avail_spare" / cs.Int8ul * "Available Spare, percent",
    "spare_thresh" / cs.Int8ul * "Available Spare Threshold, percent",
    "percent_used" / cs.Int8ul * "Percentage Used",
    "endurance_grp_critical_warning_summary"
    / cs.Int8ul
    * "Endurance Group Critical Warning Summary",
    "rsvd7" / cs.Bytes(25) * "Reserved",
    "data_units_read" / Int128ul * "Data Units Read, thousands of 512-byte units",
    "data_units_written" / Int128ul * "Data Units Written, thousands of 512-byte units",
    "host_read_commands" / Int128ul * "Host Read Commands",
    "host_write_commands" / Int128ul * "Host Write Commands",
    "ctrl_busy_time" / Int128ul * "Controller Busy Time, minutes",
    "power_cycles" / Int128ul * "Power Cycles",
    "power_on_hours" / Int128ul * "Power On Hours",
    "unsafe_shutdowns" / Int128ul * "Unsafe Shutdowns",
    "media_errors" / Int128ul * "Media and Data Integrity Errors",
    "num_err_log_entries" / Int128ul * "Number of Error Information Log Entries",
    "warning_temp_time" / cs.Int32ul * "Warning Composite Temperature Time, minutes",
    "critical_comp_time" / cs.Int32ul * "Critical Composite Temperature Time, minutes",
    "temperature_sensor" / cs.Array(8, cs.Int16ul) * "Temperature Sensor 1..8, Kelvin",
    "thm_temp1_trans_count" / cs.Int32ul * "Thermal Management Temperature 1 Transition Count",
    "thm_temp2_trans_count" / cs.Int32ul * "Thermal Management Temperature 2 Transition Count",
    "thm_temp1_total_time" / cs.Int32ul * "Total Time For Thermal Management Temperature 1, s",
    "thm_temp2_total_time" / cs.Int32ul * "Total Time For Thermal Management Temperature 2, s",
    "rsvd232" / cs.Bytes(280) * "Reserved",
)

#: Critical Warning bits of the SMART log (and of the Asynchronous Event Configuration).
CRITICAL_WARNING_BITS: dict[int, str] = {
    0: "Available spare below threshold",
    1: "Temperature above an over temperature threshold or below an under temperature threshold",
    2: "NVM subsystem reliability degraded",
    3: "Media placed in read only mode",
    4: "Volatile memory backup device failed",
    5: "Persistent Memory Region read only or unreliable",
}

#: Firmware Slot Information (Log Identifier 03h), 512 bytes.
FIRMWARE_SLOT_LOG = cs.Struct(
    "afi" / cs.Int8ul * "Active Firmware Info (AFI): active slot 2:0, next slot 6:4",
    "rsvd1" / cs.Bytes(7) * "Reserved",
    *[f"frs{n}" / AsciiField(8) * f"Firmware Revision for Slot {n} (FRS{n})" for n in range(1, 8)],
    "rsvd64" / cs.Bytes(448) * "Reserved",
)

CMD_EFFECTS_LOG_SIZE = 4096

#: Changed Namespace List (Log Identifier 04h): up to 1024 NSIDs that changed since the
#: list was last read, zero filled; FFFFFFFFh in entry 0 (the rest zero) when more changed
CHANGED_NS_LIST_SIZE = 4096
CHANGED_NS_LIST_ENTRIES = 1024
CHANGED_NS_LIST = cs.Array(CHANGED_NS_LIST_ENTRIES, cs.Int32ul)
CHANGED_NS_OVERFLOW = 0xFFFFFFFF

#: Commands Supported and Effects data structure bits (one dword per opcode).
CMD_EFFECTS_CSUPP = 1 << 0  # Command Supported
CMD_EFFECTS_LBCC = 1 << 1  # Logical Block Content Change
CMD_EFFECTS_NCC = 1 << 2  # Namespace Capability Change
CMD_EFFECTS_NIC = 1 << 3  # Namespace Inventory Change
CMD_EFFECTS_CCC = 1 << 4  # Controller Capability Change

#: Commands Supported and Effects (Log Identifier 05h), 4096 bytes.
COMMANDS_SUPPORTED_EFFECTS_LOG = cs.Struct(
    "acs" / cs.Array(256, cs.Int32ul) * "Admin Command Supported, one entry per opcode",
    "iocs" / cs.Array(256, cs.Int32ul) * "I/O Command Supported, one entry per opcode",
    "rsvd2048" / cs.Bytes(2048) * "Reserved",
)
