"""The Copy and DULBE example of docs/host-api.md runs and prints what the doc says."""

from __future__ import annotations

from hostapidoc import run_doc_example


def test_the_copy_example_prints_what_the_doc_says() -> None:
    text, lines = run_doc_example("Copy (19h)")
    assert lines == [
        "success",
        "success",
        "True",
        "cmd_size_limit_exceeded 1 0x83",
        "success",
        "deallocated_or_unwritten 2 0x87",
    ]
    said = "prints " + ", ".join(f"`{line}`" for line in lines)
    assert said in " ".join(text.split())
