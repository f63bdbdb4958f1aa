"""The NVM commands example of docs/host-api.md runs and prints what the doc says."""

from __future__ import annotations

from hostapidoc import run_doc_example


def test_the_nvm_commands_example_prints_what_the_doc_says() -> None:
    text, lines = run_doc_example("Dataset Management (09h)")
    assert lines == [
        "success",
        "success",
        "compare_failure 2 0x85",
        "success",
        "success",
        "success",
        "success",
    ]
    said = "prints " + ", ".join(f"`{line}`" for line in lines)
    assert said in " ".join(text.split())
