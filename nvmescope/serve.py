"""``nvmescope serve``: the TUI in web browsers, through textual-serve.

Each browser that opens the page gets its own session: textual-serve starts one
``python -m nvmescope ARGS`` per connection (the same interpreter, so a virtual
environment's install is the one served) and carries its screen and keys over a
websocket. The page is nvmescope's own template (``web/templates``): it loads
nothing but textual-serve's own script, style sheet and fonts from this server,
so a classroom with no internet access works. The websocket URL the page is given
is the address the browser used (the request's Host), so a server listening on
every interface (``--host 0.0.0.0``) works from other machines too.

The port is tried before anything is served: one taken is a :class:`ServeError`
(one line), not a traceback from the web server.
"""

from __future__ import annotations

import errno
import shlex
import socket
import sys
from pathlib import Path
from typing import Any

#: the page's template directory
TEMPLATES = Path(__file__).resolve().parent / "web" / "templates"
#: the lowest and highest port ``--port`` takes (0, "any free port", would leave the
#: user not knowing where to point a browser)
PORT_RANGE = (1, 65535)
DEFAULT_PORT = 8000
DEFAULT_HOST = "127.0.0.1"
#: how much of a host name an error repeats
MAX_HOST_SHOWN = 60


class ServeError(Exception):
    """The server cannot start (the port is taken, the address is not this machine's)."""


def session_command(args: list[str]) -> str:
    """The shell command each browser's session runs: nvmescope with ``args`` (``tui``
    when none are given), under this interpreter."""
    return shlex.join([sys.executable, "-m", "nvmescope", *(args or ["tui"])])


def check_port(host: str, port: int) -> None:
    """Bind ``host``:``port`` once and let go: ServeError, one line, if it cannot be."""
    shown = host if len(host) <= MAX_HOST_SHOWN else host[:MAX_HOST_SHOWN] + "..."
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ServeError(
            f"--host {shown}: not an address of this machine ({exc.strerror})"
        ) from None
    except (UnicodeError, ValueError):  # a label too long for IDNA, a NUL in the name
        raise ServeError(f"--host {shown}: not a host name or an address") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServeError(
                    f"port {port} on {host} is taken by another program: choose another with --port"
                ) from None
            if exc.errno == errno.EACCES:
                raise ServeError(
                    f"port {port} on {host} needs more privileges: choose one above 1023"
                ) from None
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def make_server(args: list[str], host: str, port: int) -> Any:
    """The textual-serve Server for nvmescope ``args`` on ``host``:``port``."""
    from aiohttp import web
    from textual_serve.server import Server

    class NvmeScopeServer(Server):  # type: ignore[misc]
        """textual-serve's server with nvmescope's page and one line on start."""

        async def handle_index(self, request: web.Request) -> Any:
            # the websocket is where the browser came from, whatever the listening address
            self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def on_startup(self, app: web.Application) -> None:
            """Nothing to say: :func:`serve` said where it listens."""

    return NvmeScopeServer(
        session_command(args),
        host=host,
        port=port,
        title="nvmescope",
        public_url=url_of(host, port),
        templates_path=TEMPLATES,
    )


def serve(args: list[str], host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve until Ctrl+C (or SIGTERM). ServeError when it cannot start."""
    check_port(host, port)
    server = make_server(args, host, port)
    print(
        f"nvmescope serve: listening on {url_of(host, port)} (each browser gets its own "
        f"`nvmescope {' '.join(args or ['tui'])}`; Ctrl+C stops)",
        flush=True,
    )
    try:
        server.serve()
    except OSError as exc:  # taken between the check and the listen
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "PORT_RANGE", "ServeError", "serve", "session_command"]
