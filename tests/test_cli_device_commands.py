"""The nvme-cli style commands: the host issues the real command, output as nvme-cli 2.3.

With the controller configured like the reference's QEMU controller (serial
deadbeef, its model and firmware strings), the lines we fill must be the
reference's lines, character for character; with another configuration the
output must follow the configuration (nothing is hard-coded).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nvmescope.cli import app
from nvmescope.nvme import identify as idf

REFERENCE = (
    Path(__file__).resolve().parents[1] / "reference/linux-6.1-on-qemu-7.2/guest-console.log"
)
LIKE_QEMU = ["-c", "serial=deadbeef", "-c", "model=QEMU NVMe Ctrl", "-c", "firmware=7.2.22"]

runner = CliRunner()


def reference_block(mark: str) -> list[str]:
    if not REFERENCE.exists():
        pytest.skip("reference console log not available")
    lines = REFERENCE.read_text().splitlines()
    start = lines.index(f"=== MARK {mark}") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("=== MARK"))
    return lines[start:end]


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def lines_by_key(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        m = re.match(r"^(\w+)\s*:", line)
        if m and m.group(1) not in out:
            out[m.group(1)] = line
    return out


def test_id_ctrl_lists_the_same_fields_in_the_same_order_as_nvme_cli():
    code, text, _ = run("id-ctrl", *LIKE_QEMU)
    assert code == 0
    ours = [
        re.match(r"^(\w+)\s*:", ln).group(1)
        for ln in text.splitlines()
        if re.match(r"^\w+\s*:", ln)
    ]
    theirs = [
        re.match(r"^(\w+)\s*:", ln).group(1)
        for ln in reference_block("nvme id-ctrl /dev/nvme0")
        if re.match(r"^\w+\s*:", ln)
    ]
    assert ours == theirs


@pytest.mark.parametrize(
    "field",
    ["sn", "mn", "fr", "rab", "mdts", "cntlid", "ver", "sqes", "cqes", "cntrltype", "subnqn"],
)
def test_id_ctrl_lines_we_fill_like_qemu_are_the_reference_lines(field):
    _, text, _ = run("id-ctrl", *LIKE_QEMU)
    ours = lines_by_key(text.splitlines())
    theirs = lines_by_key(reference_block("nvme id-ctrl /dev/nvme0"))
    if field == "subnqn":
        assert ours[field].startswith("subnqn    : nqn.")
    else:
        assert ours[field] == theirs[field]


def test_id_ctrl_follows_the_configuration_not_a_fixed_text():
    _, a, _ = run("id-ctrl", "-c", "serial=ABC123", "-c", "mdts=5")
    _, b, _ = run("id-ctrl", "-c", "serial=XYZ9", "-c", "mdts=3")
    assert "sn        : ABC123              " in a.splitlines()
    assert "mdts      : 5" in a.splitlines()
    assert "sn        : XYZ9                " in b.splitlines()
    assert "mdts      : 3" in b.splitlines()


def test_id_ctrl_raw_binary_is_the_4096_bytes_the_device_dmad():
    result = runner.invoke(app, ["id-ctrl", "-b", "-c", "serial=RAW1"])
    assert result.exit_code == 0
    data = result.stdout_bytes
    assert len(data) == 4096
    parsed = idf.IDENTIFY_CONTROLLER.parse(data)
    assert idf.ascii_field(parsed.sn).strip() == "RAW1"
    assert parsed.vid == 0x4E53


def test_id_ctrl_json_has_nvme_cli_keys_in_order():
    code, text, _ = run("id-ctrl", "-o", "json", *LIKE_QEMU)
    assert code == 0
    ours = json.loads(text)
    theirs = json.loads("\n".join(reference_block("nvme id-ctrl /dev/nvme0 -o json")))
    assert list(ours) == list(theirs)
    for key in ("sn", "mn", "fr", "mdts", "ver", "sqes", "cqes", "nn"):
        assert ours[key] == theirs[key] or key == "nn"


def test_id_ctrl_human_readable_decodes_bit_fields():
    _, text, _ = run("id-ctrl", "-H")
    assert "  [7:4] : 0x6\tMax SQ Entry Size (64)" in text.splitlines()
    assert (
        " [15:0] : 70°C (343 Kelvin)\tWarning Composite Temperature Threshold (WCTEMP)"
        in text.splitlines()
    )


def test_id_ns_matches_the_reference_namespace_lines():
    code, text, _ = run("id-ns", *LIKE_QEMU)
    assert code == 0
    ours = text.splitlines()
    theirs = reference_block("nvme id-ns /dev/nvme0n1")
    assert ours[0] == theirs[0] == "NVME Identify Namespace 1:"
    for key in ("nsze", "ncap", "nuse", "nlbaf", "flbas"):
        assert lines_by_key(ours)[key] == lines_by_key(theirs)[key]
    assert [ln for ln in ours if ln.startswith("lbaf")] == [
        ln for ln in theirs if ln.startswith("lbaf")
    ]


def test_id_ns_size_follows_the_configuration():
    _, text, _ = run("id-ns", "-c", "namespace_size_bytes=1048576")
    assert "nsze    : 0x800" in text.splitlines()


def test_id_ns_of_an_inactive_namespace_is_an_error_status_not_a_traceback():
    code, _, err = run("id-ns", "-n", "7")
    assert code == 1
    assert err.count("\n") == 1 and "NVMe status" in err


def test_list_line_has_nvme_cli_columns():
    code, text, _ = run("list", *LIKE_QEMU)
    assert code == 0
    assert text.splitlines() == reference_block("nvme list")


def test_get_feature_number_of_queues_is_the_reference_output():
    code, text, _ = run("get-feature", "-f", "7", "-H")
    assert code == 0
    assert text.splitlines() == reference_block("nvme get-feature /dev/nvme0 -f 7 -H")


def test_get_feature_follows_the_queue_count_the_device_allocates():
    _, text, _ = run("get-feature", "-f", "7", "-c", "max_io_queues=8")
    assert "Current value:0x00070007" in text


def test_smart_log_layout_matches_the_reference_labels():
    code, text, _ = run("smart-log")
    assert code == 0
    ours = [ln.split(":")[0] for ln in text.splitlines()]
    theirs = [ln.split(":")[0] for ln in reference_block("nvme smart-log /dev/nvme0")]
    assert ours == theirs


def test_error_log_shows_the_entries_asked_for():
    code, text, _ = run("error-log", "-e", "2")
    assert code == 0
    assert text.splitlines()[0] == "Error Log Entries for device:nvme0 entries:2"
    assert text.count("Entry[") == 2


def test_fw_log_shows_the_firmware_revision_configured():
    _, text, _ = run("fw-log", "-c", "firmware=7.2.22")
    assert text.splitlines()[:2] == ["Firmware Log for device:nvme0", "afi  : 0x1"]
    assert "(7.2.22" in text


def test_lspci_shows_our_function_and_its_capabilities():
    code, text, _ = run("lspci", "-vv")
    assert code == 0
    first = text.splitlines()[0]
    assert first.startswith("00:03.0 Non-Volatile memory controller: Device 4e53:0001")
    assert "prog-if 02 [NVM Express]" in first
    assert "Region 0: Memory at 100000000 (64-bit, non-prefetchable) [size=16K]" in text
    assert "MSI-X: Enable+ Count=65 Masked-" in text


@pytest.mark.parametrize(
    "args",
    [
        ["id-ctrl", "-o", "xml"],
        ["id-ctrl", "-c", "nonsense=1"],
        ["id-ctrl", "-c", "mqes=lots"],
        ["get-feature", "-f", "300"],
        ["trace", "no-such-scenario"],
        ["trace", "--filter", "kind =="],
    ],
)
def test_bad_input_is_one_line_and_exit_2(args):
    code, out, err = run(*args)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("nvmescope: error: ")
    assert "Traceback" not in err + out


def test_a_feature_the_device_does_not_support_is_an_nvme_status():
    code, _, err = run("get-feature", "-f", "0x50")
    assert code == 1
    assert "Invalid Field in Command" in err


def test_error_log_after_the_errors_scenario_shows_real_entries():
    code, text, _ = run("error-log", "--after", "errors", "-e", "2")
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == "Error Log Entries for device:nvme0 entries:2"
    counts = [int(ln.split(":")[1]) for ln in lines if ln.startswith("error_count")]
    assert counts[0] > counts[1] > 0  # newest first, as the spec orders them
    assert "status_field\t: 0(Successful" not in text


def test_error_log_reads_no_more_entries_than_the_controller_keeps():
    code, text, _ = run("error-log", "-e", "9", "-c", "elpe=3")
    assert code == 0
    assert text.splitlines()[0] == "Error Log Entries for device:nvme0 entries:4"


@pytest.mark.parametrize(
    "knob",
    [
        "mqes=0",
        "flbas=99",
        "serial=h\u00e9llo",
        "temperature_k=-5",
        "namespace_size_bytes=1",
        "dstrd=16",
        "msix_vectors=0",
        "rdy_delay_ns=-1",
        "serial=" + "x" * 21,
        "nn=0",
    ],
)
def test_a_configuration_no_controller_could_have_is_refused_in_one_line(knob):
    code, out, err = run("id-ctrl", "-c", knob)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("nvmescope: error: --config: ")
    assert out == ""


def test_namespace_ids_take_hex_and_refuse_out_of_range():
    assert run("id-ns", "-n", "0x1")[0] == 0
    for bad in ("-1", "4294967296", "one"):
        code, _, err = run("id-ns", "-n", bad)
        assert code == 2 and err.startswith("nvmescope: error: -n ")


def test_the_config_listing_explains_each_knob():
    code, text, _ = run("config")
    assert code == 0
    mqes = next(ln for ln in text.splitlines() if ln.startswith("mqes "))
    assert "2047" in mqes and "0's based" in mqes


def test_main_turns_parser_errors_into_one_line(monkeypatch, capsys):
    import sys

    from nvmescope import cli

    monkeypatch.setattr(sys, "argv", ["nvmescope", "get-feature"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nvmescope: error: Missing option")


def test_main_returns_the_command_exit_code(monkeypatch, capsys):
    import sys

    from nvmescope import cli

    monkeypatch.setattr(sys, "argv", ["nvmescope", "id-ns", "-n", "7"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1
    assert "Invalid Namespace or Format" in capsys.readouterr().err


def test_the_default_job_tells_the_identify_story_after_a_bring_up_summary():
    code, text, _ = run()
    assert code == 0
    lines = text.splitlines()
    cut = lines.index("# ---- the story, every event ----")
    summary, story = lines[:cut], lines[cut:]
    # the lesson is not buried under the bring-up: one line a step of it (the PCI
    # configuration, each register access, each command), about 70 of them, not its
    # 250 events
    assert len(summary) < 80
    assert any("CC @0x14 <- 0x00460061" in ln for ln in summary)
    assert any("controller ready" in ln for ln in summary)
    from nvmescope.events import EVENT_TYPES

    kinds = [next(t for t in ln.split() if t in EVENT_TYPES) for ln in story[1:]]
    order = [
        "doorbell_sq",
        "sqe_fetch",
        "dma_write",
        "cqe_post",
        "irq_msix",
        "host_irq",
        "doorbell_cq",
    ]
    positions = [kinds.index(k) for k in order]
    assert positions == sorted(positions)


def test_a_reader_that_stops_early_ends_the_program_quietly():
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "nvmescope", "trace", "io-load"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert err == b""


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["trace", "identify"], ["id-ctrl", "-b"]])
def test_output_that_cannot_be_written_is_one_line_and_exit_1(args):
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "nvmescope", *args], stdout=full, stderr=subprocess.PIPE
        )
    assert proc.returncode == 1
    assert proc.stderr.decode().count("\n") == 1 and "No space left" in proc.stderr.decode()


def test_list_ns_lists_the_active_nsids_from_the_one_asked_for():
    code, text, _ = run("list-ns")
    assert (code, text) == (0, "[   0]:0x1\n")
    # -n 2 asks for the NSIDs above 1 (CNS 02h with NSID 1): namespace 1 is the only one
    assert run("list-ns", "-n", "2")[:2] == (0, "")
    code, _, err = run("list-ns", "-n", "0")
    assert code == 2 and err.count("\n") == 1 and err.startswith("nvmescope: error: -n 0")


def test_get_log_dumps_the_bytes_of_any_log_at_its_offset():
    _, fw, _ = run("fw-log", "-b")
    result = runner.invoke(app, ["get-log", "-i", "3", "-l", "16", "--lpo", "8", "-b"])
    assert result.exit_code == 0
    assert result.stdout_bytes == runner.invoke(app, ["fw-log", "-b"]).stdout_bytes[8:24]
    code, text, _ = run("get-log", "--log-id=3", "--log-len=20", "-n", "1")
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == "Device:nvme0 log-id:3 namespace-id:0x1"
    assert lines[1] == "       0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f"
    assert lines[3] == '0010: 00 00 00 00                                      "...."'
    assert len(lines) == 4


def test_get_log_reads_a_long_log_in_4_kib_pieces_with_rae_on_all_but_the_last(monkeypatch):
    from nvmescope.host.driver import LinuxDriver

    sent: list[tuple[int, int, bool]] = []
    original = LinuxDriver.get_log_page

    def spy(self, lid, length, **kw):
        sent.append((length, kw.get("lpo", 0), kw.get("rae", False)))
        return original(self, lid, length, **kw)

    monkeypatch.setattr(LinuxDriver, "get_log_page", spy)
    # 16 KiB of error log with MDTS 1 (8 KiB): one command could not carry it
    args = ["get-log", "-i", "1", "-l", "16384", "-b", "-c", "elpe=255", "-c", "mdts=1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout_bytes) == 16384
    ours = [s for s in sent if s[0] == 4096 and s[1] % 4096 == 0]
    assert ours[-4:] == [(4096, 0, True), (4096, 4096, True), (4096, 8192, True),
                         (4096, 12288, False)]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["get-log", "-l", "64"], "Missing option '-i'"),
        (["get-log", "-i", "1", "-l", "0"], "expected 1..1048576"),
        (["get-log", "-i", "256", "-l", "4"], "expected 0..255"),
        (["get-log", "-i", "1", "-l", "4", "--lpo", "2"], "a multiple of 4 bytes"),
        (["list", "-o", "xml"], "-o xml: expected normal or json"),
        (["smart-log", "-o", "yaml"], "-o yaml: expected normal or json"),
    ],
)
def test_bad_get_log_list_or_smart_log_input_is_one_line_and_exit_2(
    args, words, monkeypatch, capsys
):
    import sys

    from nvmescope import cli

    monkeypatch.setattr(sys, "argv", ["nvmescope", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and words in captured.err


def test_get_log_of_a_log_the_device_does_not_keep_is_an_nvme_status():
    code, _, err = run("get-log", "-i", "0x7f", "-l", "64")
    assert code == 1 and err.count("\n") == 1 and "Invalid Log Page" in err


def test_smart_log_json_follows_the_device_values():
    code, text, _ = run("smart-log", "-o", "json", "-c", "temperature_k=300", "-c", "avail_spare=5")
    assert code == 0
    doc = json.loads(text)
    assert (doc["temperature"], doc["avail_spare"], doc["critical_warning"]) == (300, 5, 1)
    assert doc["power_cycles"] == "1"  # a 128-bit counter: a decimal string


def test_list_json_gives_sizes_in_bytes_of_the_lba_format_in_use():
    code, text, _ = run("list", "-o", "json", "-c", "flbas=4")
    assert code == 0
    (device,) = json.loads(text)["Devices"]
    assert device["SectorSize"] == 4096 and device["MaximumLBA"] == 64 * 1024 * 1024 // 4096
    assert device["PhysicalSize"] == 64 * 1024 * 1024 and device["DevicePath"] == "/dev/nvme0n1"


def test_get_feature_reads_a_namespace_feature_of_the_namespace_named_with_n():
    """05h and 84h are features of a namespace: without -n (NSID 0) the device refuses,
    with -n 1 it answers, as `nvme get-feature -f 0x84 -n 1` does."""
    code, _, err = run("get-feature", "-f", "0x84", "-c", "nwpc=1")
    assert code != 0 and "Invalid Namespace or Format" in err
    code, text, _ = run("get-feature", "-f", "0x84", "-n", "1", "-c", "nwpc=1")
    assert code == 0 and "0x84 (Namespace Write Protection Config), Current value:" in text
    code, text, _ = run("get-feature", "-f", "5", "-n", "1", "-s", "3")
    assert code == 0 and "Error Recovery" in text
    code, _, err = run("get-feature", "-f", "5", "-n", "x")
    assert code == 2 and "-n x" in err
