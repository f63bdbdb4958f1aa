"""The script API example in docs/host-api.md runs, and is the same as examples/identify_by_hand.py."""

from __future__ import annotations

from hostapidoc import DOC, ROOT, fenced_blocks, python_blocks, run_doc_example, run_python

EXAMPLE = ROOT / "examples" / "identify_by_hand.py"

__all__ = ["fenced_blocks"]  # other tests import it from here


def test_the_doc_shows_the_example_verbatim():
    assert EXAMPLE.read_text() in python_blocks(DOC.read_text())


def test_the_example_runs_and_identifies_the_controller():
    out = run_python(str(EXAMPLE), timeout=60)
    assert out.returncode == 0, out.stderr
    from nvmescope.emulator import ControllerConfig

    config = ControllerConfig()
    assert f"serial: {config.serial}" in out.stdout
    assert f"model:  {config.model}" in out.stdout
    assert "CQE: cid 7, status sct 0 sc 0" in out.stdout
    assert "device DMA-writes 4096 B" in out.stdout


def test_the_printed_output_in_the_doc_is_what_the_example_prints():
    out = run_python(str(EXAMPLE), timeout=60)
    plain = [body for lang, body in fenced_blocks(DOC.read_text()) if lang == ""]
    assert out.stdout in plain


def test_the_driver_helpers_shown_in_the_doc_work():
    _, lines = run_doc_example("submit_admin", timeout=60)
    assert lines == ["success nvmescope NVMe Ctrl", "0x3f003f"]


def test_the_doc_says_to_run_the_example_with_the_venv_python():
    doc = DOC.read_text()
    assert ".venv/bin/python examples/identify_by_hand.py" in doc
    assert "python examples/identify_by_hand.py" not in doc.replace(".venv/bin/python ex", "")
    assert ".venv/bin/python examples/identify_by_hand.py" in EXAMPLE.read_text()
