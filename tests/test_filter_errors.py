"""A wrong filter expression gets one line that names the column, and a caret under it."""

from __future__ import annotations

import pytest

from nvmescope.trace.filter import MAX_DEPTH, FilterError, compile_filter


@pytest.mark.parametrize(
    ("expr", "column", "words"),
    [
        ('kind == "cqe_post" and status ==', 33, "expected a value after '=='"),
        ("cid ==", 7, "expected a value after '=='"),
        ("kind = 3", 6, "use '==' to compare"),
        ("foo == 1", 1, "unknown field 'foo'"),
        ("sqid == 1 and cidd == 2", 15, "did you mean 'cid'"),
        ("(cid == 1", 10, "missing ')' to close the '(' at column 1"),
        ("cid == 1)", 9, "')' without a matching '('"),
        ("cid == 12ab", 8, "'12ab' is not a number"),
        ("cid == 0x", 8, "not a number"),
        ('kind matches "("', 14, "bad regular expression"),
        ("kind matches err", 14, "regular expression in quotes"),
        ('kind == "open', 9, "string is not closed"),
        ("kind == 'cqe_post", 9, "string is not closed: missing '"),
        ("", 1, "the expression is empty"),
        ("   ", 4, "the expression is empty"),
        ("cid == 1 and", 13, "expected a test after 'and'"),
        ("cid == 1 cid == 2", 10, "expected 'and', 'or' or the end"),
        ("== 3", 1, "expected a field name"),
        ("4 == cid", 1, "expected a field name before the value"),
        ("cid in 1", 8, "expected '{', '(' or '[' to open the set after 'in'"),
        ("cid in {1, }", 12, "expected a value in the set"),
        ("cid in {1 2}", 11, "expected ',' or '}'"),
        ('cid in {"a"..3}', 12, "a range is two numbers"),
        ("cid == 1 & cid == 2", 10, "use '&&' or 'and'"),
        ("cid == 1 | cid == 2", 10, "use '||' or 'or'"),
        ("cid == 1 # x", 10, "unexpected character '#'"),
        ("()", 2, "expected a test inside '()'"),
        ("cqe_post == 1", 1, "'cqe_post' is an event kind, not a field"),
        ('kind == "\\q"', 10, "unknown escape"),
    ],
)
def test_error_names_the_column(expr, column, words):
    with pytest.raises(FilterError) as info:
        compile_filter(expr)
    err = info.value
    assert err.column == column
    assert words in str(err)
    assert str(err).startswith(f"column {column}: ")
    assert "\n" not in str(err)
    first, second = err.caret().split("\n")
    assert first == expr
    assert second == " " * (column - 1) + "^"


def test_nesting_is_limited_with_a_filter_error_not_a_recursion_error():
    ok = "(" * (MAX_DEPTH - 1) + "cid == 1" + ")" * (MAX_DEPTH - 1)
    compile_filter(ok)
    with pytest.raises(FilterError, match="nested"):
        compile_filter("(" * 5000 + "cid" + ")" * 5000)
    with pytest.raises(FilterError, match="nested"):
        compile_filter("not " * 5000 + "cid")


def test_a_very_long_flat_expression_compiles_and_runs():
    pred = compile_filter(" or ".join(f"cid == {i}" for i in range(5000)))
    from nvmescope.events import CqePost

    assert pred(CqePost(cid=4999, cqid=1, slot=0, addr=0, phase=1, status=0))


@pytest.mark.parametrize("at", [5, 2_000, 11_990])
def test_the_caret_of_a_long_expression_shows_the_place_around_its_column(at):
    expr = "cid == 1 and " * 1000  # 13,000 characters
    expr = expr[:at] + "=" + expr[at:]  # a lone '=' (or '==='): wrong at column at+1
    with pytest.raises(FilterError) as info:
        compile_filter(expr)
    err = info.value
    first, second = err.caret().split("\n")
    assert len(first) <= 78 and second.endswith("^") and len(second) <= 78
    column = len(second) - 1  # where the caret is, in the shown line
    shown_at = first[column]
    assert shown_at == expr[err.column - 1]  # the caret is under the same character


def test_a_blank_filter_on_the_command_line_is_no_filter_as_an_empty_one_is():
    from pathlib import Path

    from typer.testing import CliRunner

    from nvmescope.cli import app

    rec = str(Path(__file__).resolve().parents[1] / "recordings" / "identify.nvmetrace")
    runner = CliRunner()
    whole = runner.invoke(app, ["show", rec])
    for blank in ("", "   "):
        result = runner.invoke(app, ["show", rec, "--filter", blank])
        assert result.exit_code == 0 and result.output == whole.output
