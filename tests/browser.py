"""`nvmescope serve` in a real browser: the server in a process of its own, Debian's
Chromium headless, driven over its DevTools protocol (a websocket; aiohttp, which
textual-serve brings, is the client).

    with served(["tui"]) as (url, _):
        async with Chromium() as browser:
            await browser.open(url) ...

Everything started here is stopped when the ``with`` ends, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: flags this machine's Chromium needs headless, as root, with no network beyond localhost
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--window-size=1440,900",
)  # fmt: skip
WAIT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(args: list[str], port: int | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """`nvmescope serve --port PORT -- ARGS` until the block ends; yields (its URL, process).

    The server's output goes to a file, not a pipe: nobody reads a pipe after the first
    line, and a server (or a session it starts) writing into a full pipe blocks forever."""
    port = port or free_port()
    log = tempfile.NamedTemporaryFile(prefix="nvmescope-serve-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nvmescope", "serve", "--port", str(port), "--", *args],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    try:
        # the listening line comes just before the server listens: wait (bounded) for both
        deadline = time.monotonic() + WAIT_S
        while True:
            said = Path(log.name).read_text(errors="replace")
            if "listening on" in said:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"nvmescope serve did not start: {said!r}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        except ProcessLookupError:
            pass
        os.unlink(log.name)


class Chromium:
    """Headless Chromium with its DevTools protocol on a websocket."""

    def __init__(self) -> None:
        assert CHROMIUM is not None, "chromium is not installed"
        self.profile = tempfile.mkdtemp(prefix="nvmescope-chromium-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--remote-debugging-port={self.port}",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self._id = 0
        self.ws: Any = None
        self.session: Any = None

    def _page_ws_url(self) -> str:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/json/list", timeout=2
                ) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError("Chromium's DevTools did not answer")

    async def __aenter__(self) -> Chromium:
        import aiohttp

        url = await asyncio.to_thread(self._page_ws_url)
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(url, max_msg_size=64 << 20)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.ws is not None:
                await self.ws.close()
            if self.session is not None:
                await self.session.close()
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
            shutil.rmtree(self.profile, ignore_errors=True)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        me = self._id
        await self.ws.send_json({"id": me, "method": method, "params": params})
        while True:
            msg = await asyncio.wait_for(self.ws.receive_json(), WAIT_S)
            if msg.get("id") == me:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))

    async def evaluate(self, expression: str) -> Any:
        got = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return got.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.evaluate(expression):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"never true in the page: {expression}")

    async def open(self, url: str) -> None:
        await self.call("Page.enable")
        await self.call("Page.navigate", url=url)
        # textual.js marks the body when the session's first bytes arrive
        await self.wait_for("document.body && document.body.classList.contains('-first-byte')")

    async def key(self, char: str) -> None:
        await self.call(
            "Runtime.evaluate",
            expression="document.querySelector('.xterm-helper-textarea')?.focus()",
        )
        for kind in ("keyDown", "char", "keyUp"):
            params: dict[str, Any] = {"type": kind, "key": char, "text": char}
            if kind != "char":
                params["code"] = f"Key{char.upper()}" if char.isalpha() else ""
                params.pop("text")
            await self.call("Input.dispatchKeyEvent", **params)

    async def screenshot(self) -> bytes:
        got = await self.call("Page.captureScreenshot", format="png")
        return base64.b64decode(got["data"])

    async def settled_screenshot(self, quiet_s: float = 1.0, timeout: float = WAIT_S) -> bytes:
        """A screenshot once the page has stopped changing for ``quiet_s``."""
        deadline = time.monotonic() + timeout
        last = await self.screenshot()
        still = time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            now = await self.screenshot()
            if now != last:
                last, still = now, time.monotonic()
            elif time.monotonic() - still >= quiet_s:
                return now
        return last


def save(png: bytes, path: str | Path) -> None:
    Path(path).write_bytes(png)
