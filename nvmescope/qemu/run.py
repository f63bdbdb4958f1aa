"""One boot of the Linux guest against a fresh controller (``nvmescope linux run``).

:func:`run_guest` starts ``qemu-system-x86_64`` with the guest (:mod:`.guest`) and
``-device x-pci-proxy-dev`` on one end of a socketpair, serves the other end with a
:class:`~.bridge.ProxyBridge`, echoes the guest's serial console as it comes, records
every event, and stops when the guest powers off, or when something goes wrong (a
timeout, a guest that never probes the controller, QEMU failing), always with the
recording closed and one sentence saying why.

The guest runs under TCG unless ``accel="kvm"``: the proxy's INTx is a KVM irqfd that
nothing reads under TCG, so the kernel is told to poll its interrupt handlers on every
timer tick (``irqpoll nolapic_timer nohz=off``; nvme's handler is shared, so it is
polled). Guest RAM is a shared memfd (512 MiB) so that the device's DMA reaches it.

The recording's header says what it is (``extra``): ``source`` ``linux-guest``,
``time_base`` ``wall_clock`` (timestamps are nanoseconds of real time since the bridge
started, not a model's virtual time), ``guest_memory`` ``device_reads`` (the guest's own
stores are not events: what the device read is in its ``sqe_fetch``, ``dma_read``,
``prp_list_read`` and ``sgl_segment_read`` events, which a replay feeds back), the
kernel, QEMU and the command line. Every line of the console is a ``host_step``
(``console``), the script's markers ``guest`` steps.
"""

from __future__ import annotations

import os
import selectors
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nvmescope.emulator import ControllerConfig
from nvmescope.events import Event
from nvmescope.trace import Recorder
from nvmescope.trace.replay import GUEST_MEMORY_DEVICE_READS, TIME_BASE_WALL_CLOCK

from . import proxy as px
from .bridge import ProxyBridge
from .guest import MARKER, RUN_TOOLS, Guest, check_tools, run_archive
from .options import ACCELS, DEFAULT_PROBE_TIMEOUT_S, DEFAULT_TIMEOUT_S, PROXY_KNOBS

__all__ = ["ACCELS", "PROXY_KNOBS", "RunResult", "Step", "recorder_for", "run_guest"]

#: guest RAM, and where the function sits on the guest's PCI bus
GUEST_RAM = "512M"
PCI_ADDR = "03.0"
#: the kernel command line: the serial console; panic = power off (with -no-reboot)
APPEND = "console=ttyS0 panic=-1 rdinit=/init"
#: what TCG needs: poll interrupt handlers on every tick (see the module docstring)
APPEND_TCG = "irqpoll nolapic_timer nohz=off"
#: how long QEMU may take to stop once asked
STOP_WAIT_S = 5.0

DEFAULT_STEPS = (
    ("list", "nvme list"),
    ("id-ctrl", "nvme id-ctrl /dev/nvme0"),
    ("id-ns", "nvme id-ns /dev/nvme0n1"),
    ("smart-log", "nvme smart-log /dev/nvme0"),
    ("write-read", "write_read"),
)


def default_script() -> str:
    """Probe; nvme list, id-ctrl, id-ns, smart-log; a 4 KiB O_DIRECT write read back;
    the clean removal."""
    lines = ["if probe; then"]
    lines += [f"  step {name} {command}" for name, command in DEFAULT_STEPS]
    lines += ["  step remove remove", "fi", ""]
    return "\n".join(lines)


def command_script(argv: list[str]) -> str:
    """Probe, the one command (as typed, each word quoted), the clean removal."""
    command = " ".join(shlex.quote(word) for word in argv)
    return f"if probe; then\n  step command {command}\n  step remove remove\nfi\n"


def file_script() -> str:
    """Probe, the user's script (``/nvmescope/user.sh``, run by sh), the clean removal."""
    return "if probe; then\n  step script sh /nvmescope/user.sh\n  step remove remove\nfi\n"


@dataclass
class Step:
    """One ``step`` of the guest's script: its name, command, exit status, output."""

    name: str
    command: str
    rc: int | None = None
    output: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    ok: bool
    #: why the run stopped, one sentence
    reason: str
    recording: str
    events: int = 0
    seconds: float = 0.0
    #: seconds from QEMU's start to "probe ok" (None: never)
    probe_s: float | None = None
    steps: list[Step] = field(default_factory=list)
    #: the md5 of the 4 KiB written and read back equal (None: not done or differed)
    readback_md5: str | None = None
    qemu_status: int | None = None
    console: list[str] = field(default_factory=list)

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)


def recorder_for(output: Path, config: ControllerConfig, **about: str) -> Recorder:
    """The recorder of a guest's run: its header says the time base is the wall clock and
    that the guest's memory is in the device's reads (``about``: kernel, QEMU, ...)."""
    extra = {
        "source": "linux-guest",
        "time_base": TIME_BASE_WALL_CLOCK,
        "guest_memory": GUEST_MEMORY_DEVICE_READS,
        **about,
    }
    return Recorder(output, config=config, extra=extra)


def qemu_version(qemu: str = "qemu-system-x86_64") -> str:
    try:
        out = subprocess.run([qemu, "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return ""
    first = out.stdout.splitlines()[0] if out.stdout else ""
    return first.removeprefix("QEMU emulator version ").strip()


def qemu_command(
    guest: Guest, initrd: Path, fd: int, accel: str, append: str, qemu: str
) -> list[str]:
    cmdline = " ".join(x for x in (APPEND, APPEND_TCG if accel == "tcg" else "", append) if x)
    return [
        qemu, "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none",
        "-serial", "stdio", "-no-reboot",
        "-machine", f"q35,accel={accel},memory-backend=mem",
        "-object", f"memory-backend-memfd,id=mem,size={GUEST_RAM},share=on",
        "-m", GUEST_RAM, "-smp", "1", "-cpu", "max" if accel == "tcg" else "host",
        "-kernel", guest.kernel, "-initrd", str(initrd), "-append", cmdline,
        "-device", f"x-pci-proxy-dev,fd={fd},id=nvmescope,addr={PCI_ADDR}",
    ]  # fmt: skip


class _Console:
    """Splits QEMU's output into lines; reads the guest's markers."""

    def __init__(self, result: RunResult, echo: Callable[[str], None], note: Callable) -> None:
        self.result = result
        self.echo = echo
        self.note = note
        self.partial = b""
        self.current: Step | None = None
        self.started = time.monotonic()
        self.probe_failed = False
        self.done = False

    def feed(self, data: bytes) -> None:
        self.partial += data
        *lines, self.partial = self.partial.split(b"\n")
        for raw in lines:
            self.line(raw.decode("utf-8", "replace").rstrip("\r"))

    def flush(self) -> None:
        if self.partial:
            self.line(self.partial.decode("utf-8", "replace").rstrip("\r"))
            self.partial = b""

    def line(self, text: str) -> None:
        self.echo(text)
        self.result.console.append(text)
        if not text.startswith(MARKER + " "):
            if self.current is not None:
                self.current.output.append(text)
            self.note("console", f"guest console: {text}"[:400])
            return
        words = text[len(MARKER) + 1 :]
        self.note("guest", f"guest: {words}"[:400])
        parts = words.split()
        if parts[:2] == ["probe", "ok"]:
            self.result.probe_s = time.monotonic() - self.started
        elif parts[:2] == ["probe", "failed"]:
            self.probe_failed = True
        elif parts[:1] == ["step"] and len(parts) >= 3 and parts[2] == "begin:":
            self.current = Step(parts[1], " ".join(parts[3:]))
            self.result.steps.append(self.current)
        elif parts[:1] == ["step"] and len(parts) >= 4 and parts[2] == "end":
            rc = parts[3].removeprefix("rc=")
            if self.current is not None and self.current.name == parts[1]:
                self.current.rc = int(rc) if rc.isdigit() else None
            self.current = None
        elif parts[:2] == ["readback", "equal"] and len(parts) >= 3:
            self.result.readback_md5 = parts[2]
        elif parts[:2] == ["guest", "done"]:
            self.done = True


def run_guest(
    guest: Guest,
    config: ControllerConfig,
    output: Path,
    *,
    script: str | None = None,
    user_script: bytes | None = None,
    echo: Callable[[str], None] = print,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    probe_timeout_s: float = DEFAULT_PROBE_TIMEOUT_S,
    accel: str = "tcg",
    append: str = "",
    qemu: str = "qemu-system-x86_64",
    command_line: str = "",
) -> RunResult:
    """Boot ``guest`` against a fresh controller of ``config``, run ``script`` (the
    default one when None) inside it, record every event to ``output``. Never raises for
    what the guest or QEMU do: the result says how the run ended."""
    check_tools(RUN_TOOLS if qemu == "qemu-system-x86_64" else ("cpio",))
    result = RunResult(ok=False, reason="", recording=str(output))
    files = {"/nvmescope/user.sh": user_script} if user_script is not None else None
    if accel not in ACCELS:
        raise ValueError(f"accel {accel!r}: one of {', '.join(ACCELS)}")
    recorder = recorder_for(
        output, config, kernel=guest.kernel_version, qemu=qemu_version(qemu), accel=accel,
        command_line=command_line,
    )  # fmt: skip
    events = 0

    def count(_: Event) -> None:
        nonlocal events
        events += 1

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    started = time.monotonic()
    proc: subprocess.Popen[bytes] | None = None
    bridge: ProxyBridge | None = None
    with tempfile.TemporaryDirectory(prefix="nvmescope-linux-") as tmp:
        initrd = Path(tmp) / "initrd"
        base = Path(guest.initramfs).read_bytes()
        pad = b"\0" * (-len(base) % 4)
        initrd.write_bytes(base + pad + run_archive(script or default_script(), files))
        try:
            bridge = ProxyBridge(config, ours, subscribers=(recorder, count))
            args = qemu_command(guest, initrd, theirs.fileno(), accel, append, qemu)
            proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=(theirs.fileno(),), start_new_session=True,
            )  # fmt: skip
            theirs.close()
            _serve(bridge, proc, result, echo, started, timeout_s, probe_timeout_s)
        except KeyboardInterrupt:
            result.reason = "interrupted"
        except OSError as exc:
            result.reason = f"cannot start {qemu}: {exc.strerror or exc}"
        finally:
            if proc is not None:
                result.qemu_status = _stop(proc)
            if bridge is not None:
                bridge.close()
            else:
                ours.close()
            theirs.close()
            recorder.close()
    result.events = events
    result.seconds = time.monotonic() - started
    return result


def _serve(
    bridge: ProxyBridge,
    proc: subprocess.Popen[bytes],
    result: RunResult,
    echo: Callable[[str], None],
    started: float,
    timeout_s: float,
    probe_timeout_s: float,
) -> None:
    console = _Console(result, echo, bridge.note)
    errors = b""
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sel.register(bridge.sock, selectors.EVENT_READ, "proxy")
    sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
    sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
    resample_registered: int | None = None
    open_pipes = 2
    try:
        while True:
            if bridge.mem.resample_fd is not None and resample_registered is None:
                resample_registered = bridge.mem.resample_fd
                sel.register(resample_registered, selectors.EVENT_READ, "resample")
            elapsed = time.monotonic() - started
            if elapsed > timeout_s:
                result.reason = f"timed out after {timeout_s:g} s"
                return
            if result.probe_s is None and elapsed > probe_timeout_s:
                result.reason = (
                    f"the guest did not probe the controller within {probe_timeout_s:g} s"
                )
                return
            wait = min(timeout_s - elapsed, 0.5)
            due = bridge.timeout()
            if due is not None:
                wait = min(wait, due)
            for key, _ in sel.select(max(0.0, wait)):
                what = key.data
                if what == "proxy":
                    try:
                        bridge.serve_one()
                    except px.ProxyClosed:
                        sel.unregister(bridge.sock)
                        if proc.poll() is None and not console.done:
                            result.reason = "QEMU closed the proxy's socket"
                            return
                    except px.ProxyError as exc:
                        result.reason = f"QEMU broke the proxy protocol: {exc}"
                        return
                elif what == "resample":
                    bridge.mem.resample()
                else:
                    data = os.read(key.fd, 65536)
                    if not data:
                        sel.unregister(key.fileobj)
                        open_pipes -= 1
                    elif what == "stdout":
                        console.feed(data)
                    else:
                        errors += data
            bridge.catch_up()
            if console.probe_failed:
                result.reason = "the guest's nvme driver did not probe the controller"
                return
            if proc.poll() is not None and open_pipes == 0:
                console.flush()
                status = proc.returncode
                lines = [ln for ln in errors.decode("utf-8", "replace").splitlines() if ln]
                if console.done:
                    failed = [s for s in result.steps if s.rc not in (0, None)]
                    result.ok = not failed and result.probe_s is not None
                    result.reason = (
                        "the guest ran its script and powered off"
                        if not failed
                        else f"the guest powered off; step {failed[0].name} failed "
                        f"(exit status {failed[0].rc})"
                    )
                elif lines:
                    result.reason = f"QEMU stopped (status {status}): {lines[-1]}"
                else:
                    result.reason = f"QEMU stopped (status {status}) before the guest finished"
                return
    finally:
        console.flush()
        sel.close()


def _stop(proc: subprocess.Popen[bytes]) -> int | None:
    """Stop QEMU (its process group) if it still runs; its exit status."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except OSError:
            pass
        try:
            proc.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    return proc.returncode
