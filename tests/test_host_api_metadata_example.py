"""The metadata and protection information example of docs/host-api.md runs and prints
what the doc says (PRACT, PRCHK, a reference tag error, Invalid Protection Information)."""

from __future__ import annotations

from hostapidoc import run_doc_example

from nvmescope.emulator.protection import crc16_t10dif


def test_the_protection_information_example_prints_what_the_doc_says() -> None:
    text, lines = run_doc_example("PRACT")
    guard = f"{crc16_t10dif(b'Z' * 512):04x}"
    assert lines == [
        "success",
        "success",
        f"success {guard}00070000000a{guard}00070000000b",
        "success",
        "e2e_ref_tag_check 2 0x84",
        "invalid_protection_info 1 0x81",
    ]
    said = "prints " + ", ".join(f"`{line}`" for line in lines)
    assert said in " ".join(text.split())
