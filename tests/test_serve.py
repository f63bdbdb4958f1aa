"""`nvmescope serve`: the TUI in a real browser (a key steps, the screen changes), a
page that needs nothing from outside this machine, one line for a port that is taken or
out of range, and localhost unless told otherwise."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import urllib.request

import pytest
from browser import CHROMIUM, Chromium, free_port, served

from nvmescope.serve import DEFAULT_HOST, session_command

NVMESCOPE = [sys.executable, "-m", "nvmescope"]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NVMESCOPE, *args], capture_output=True, text=True, timeout=timeout)


def needs_chromium() -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")


async def test_a_key_pressed_in_the_browser_steps_the_tui() -> None:
    needs_chromium()
    with served(["tui"]) as (url, _):
        async with Chromium() as browser:
            await browser.open(url + "/?fontsize=14")
            before = await browser.settled_screenshot()
            await browser.key("s")
            after = await browser.settled_screenshot()
            assert after != before
            # and back: S steps back to event 0, the first screen again
            await browser.key("S")
            again = await browser.settled_screenshot()
            assert again != after


def test_the_page_loads_nothing_from_outside_this_machine() -> None:
    with served(["tui"]) as (url, _):
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        refs = re.findall(r'(?:href|src)="([^"]+)"|url\("([^"]+)"\)|(wss?://[^"]+)', page)
        found = [next(x for x in r if x) for r in refs]
        assert found, page
        for ref in found:
            if ref.startswith("?"):
                continue  # this page again (start a new session)
            assert ref.startswith((url, url.replace("http", "ws", 1))), ref
            if ref.startswith("http"):
                body = urllib.request.urlopen(ref, timeout=10).read()
                if ref.endswith((".js", ".css")):
                    # what the script and the style sheet load comes from here too: their
                    # only addresses are in licence comments
                    text = body.decode("utf-8", "replace")
                    assert "@import" not in text and "googleapis" not in text, ref
                    assert not re.search(r"url\(\s*['\"]?https?://", text), ref
        assert "googleapis" not in page and "cdn" not in page.lower()


def test_a_port_that_is_taken_is_one_line_and_no_server() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        got = run("serve", "--port", str(port))
    assert got.returncode == 2
    assert got.stderr.strip().count("\n") == 0 and "Traceback" not in got.stderr
    assert f"port {port} on 127.0.0.1 is taken" in got.stderr


@pytest.mark.parametrize("port", ["0", "65536", "-1", "abc", "99999999999999999999"])
def test_a_port_out_of_range_is_refused_in_one_line(port: str) -> None:
    got = run("serve", "--port", port)
    assert got.returncode == 2 and "--port" in got.stderr and "Traceback" not in got.stderr
    assert got.stderr.strip().count("\n") == 0


def test_a_host_that_is_not_an_address_is_refused_in_one_line() -> None:
    got = run("serve", "--host", "no-such-host.invalid")
    assert got.returncode == 2 and "--host no-such-host.invalid" in got.stderr
    assert "Traceback" not in got.stderr


@pytest.mark.parametrize("host", ["x" * 5000, "a" * 64 + ".example", "ü" * 70])
def test_a_host_name_no_resolver_takes_is_one_short_line(host: str) -> None:
    # a label longer than 63 characters cannot be encoded for DNS (IDNA): refused, and
    # the line repeats only the start of it
    got = run("serve", "--host", host)
    assert got.returncode == 2 and "Traceback" not in got.stderr
    assert got.stderr.strip().count("\n") == 0 and len(got.stderr) < 200, got.stderr


@pytest.mark.parametrize(
    ("session", "words"),
    [
        (["tui", "--at", "-1"], "'--at': -1: expected 0..1000000000"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["export", "jsonl", "--bogus"], "No such option: --bogus"),
        (["recordings/identify.nvmetrace", "--at", "-3"], "'--at': -3"),
        # what the session builds from its values is checked too, as the session would
        (["tui", "io", "-c", "bogus=1"], "--config bogus: no such knob"),
        (["tui", "io", "-c", "sgls=3"], "SGLS bits 1:0 = 11b is reserved"),
        (["tui", "io", "-p", "count=5"], "io has no such parameter"),
        (["tui", "nosuch"], "unknown scenario 'nosuch'"),
        (["tui", "--config", "/nonexistent.toml"], "no such file"),
        # and what it would open: a lesson, a recording; and serve is not a session
        (["lesson", "nope"], "nope: no such lesson"),
        (["tui", "/nonexistent.nvmetrace"], "/nonexistent.nvmetrace: no such file"),
        (["/nonexistent.nvmetrace"], "/nonexistent.nvmetrace: no such file"),
        (["serve", "--port", "8132"], "serve cannot serve itself"),
    ],
)
def test_a_command_to_serve_that_would_not_parse_is_refused_before_serving(
    session: list[str], words: str
) -> None:
    # else every browser that opens the page would get the same error instead of a TUI
    got = run("serve", "--port", str(free_port()), "--", *session, timeout=20)
    assert got.returncode == 2 and "Traceback" not in got.stderr, got.stderr
    assert got.stderr.strip().count("\n") == 0 and words in got.stderr, got.stderr
    assert "the command to serve" in got.stderr and "listening" not in got.stdout


def test_it_listens_on_localhost_unless_told_and_says_where() -> None:
    assert DEFAULT_HOST == "127.0.0.1"
    port = free_port()
    with served(["tui"], port=port):
        # the address it said; nothing on another interface of this machine answers
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass


def test_each_session_runs_nvmescope_under_this_interpreter() -> None:
    assert session_command([]) == f"{sys.executable} -m nvmescope tui".replace(
        sys.executable, __import__("shlex").quote(sys.executable)
    )
    assert session_command(["lesson", "identify"]).endswith("-m nvmescope lesson identify")


def test_a_lesson_served_opens_as_a_lesson_not_a_printout() -> None:
    # the session runs under Textual's web driver: not a terminal, but the TUI is wanted
    env = dict(os.environ, TEXTUAL_DRIVER="textual.drivers.web_driver:WebDriver")
    from nvmescope import cli

    old = os.environ.get("TEXTUAL_DRIVER")
    os.environ.update(env)
    try:
        assert cli._on_terminal()
    finally:
        if old is None:
            del os.environ["TEXTUAL_DRIVER"]
        else:
            os.environ["TEXTUAL_DRIVER"] = old
    assert not cli._on_terminal() or sys.stdout.isatty()
