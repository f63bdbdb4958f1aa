"""The ``nvmescope`` command: thin glue that parses arguments, calls the layers, prints.

Every command that shows device data runs the emulator, has the host model
issue the real command, and prints what the device DMA'd into host memory.
Bad input gets one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterable
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from nvmescope import __version__
from nvmescope.emulator import ControllerConfig
from nvmescope.events import Event, describe
from nvmescope.host import SCENARIOS
from nvmescope.machine import Machine

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    invoke_without_command=True,
    help="nvmescope: an NVMe controller you can watch.",
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"nvmescope: error: {escape(message)}")
    raise typer.Exit(code)


# -- configuration ---------------------------------------------------------------
ConfigOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--config",
        "-c",
        help="Set a controller knob, KEY=VALUE (repeatable); `nvmescope config` lists them.",
    ),
]


def _convert(name: str, kind: Any, text: str) -> Any:
    try:
        if kind in (int, "int"):
            return int(text, 0)
        if kind in (bool, "bool"):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind in (str, "str"):
            return text
    except ValueError:
        raise UsageError(
            f"--config {name}={text}: not a valid {getattr(kind, '__name__', kind)}"
        ) from None
    raise UsageError(f"--config {name}: this knob cannot be set from the command line")


def build_config(pairs: Iterable[str] | None) -> ControllerConfig:
    config = ControllerConfig()
    fields = {f.name: f for f in dataclasses.fields(ControllerConfig)}
    for pair in pairs or ():
        if "=" not in pair:
            raise UsageError(f"--config {pair!r}: expected KEY=VALUE")
        key, value = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in fields:
            raise UsageError(f"--config {key}: no such knob (see `nvmescope config`)")
        setattr(config, key, _convert(key, fields[key].type, value.strip()))
    problems = config.problems()
    if problems:
        raise UsageError(f"--config: {problems[0]}")
    return config


def parse_number(option: str, text: str) -> int:
    """A number as nvme-cli takes it: decimal, or 0x-prefixed hex."""
    try:
        return int(text, 0)
    except ValueError:
        raise UsageError(f"{option} {text}: not a number") from None


def parse_nsid(option: str, text: str) -> int:
    nsid = parse_number(option, text)
    if not 0 <= nsid <= 0xFFFFFFFF:
        raise UsageError(f"{option} {text}: a namespace ID is 0..0xffffffff")
    return nsid


def _run_guarded(fn: Callable[[], None]) -> None:
    try:
        fn()
    except UsageError as exc:
        fail(str(exc))


# -- commands ----------------------------------------------------------------------
@app.callback()
def main_callback(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """With no command: run the `identify` story and print every event."""
    if version:
        out.print(f"nvmescope {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        _trace("identify", None, None, False)


KIND_WIDTH = 18


def say(line: str) -> None:
    """Print one plain line (no markup): a closed pipe ends the program quietly."""
    sys.stdout.write(line + "\n")


def format_event(event: Event) -> str:
    """One trace line: seq, virtual time, who (H host / D device), queue:cid, kind, words."""
    us = event.ts / 1000
    who = "H" if event.actor == "host" else "D"
    tag = ""
    cqid = getattr(event, "cqid", None)
    if event.kind == "doorbell_cq" and cqid is not None:
        tag = f"cq{cqid}"
    elif event.sqid is not None:
        tag = f"sq{event.sqid}"
        if event.cid is not None:
            tag += f":{event.cid}"
    return (
        f"{event.seq:7d} {us:12.3f}us  {who}  {tag:9s} {event.kind:{KIND_WIDTH}s} {describe(event)}"
    )


def _trace(
    scenario: str, config_pairs: list[str] | None, filter_expr: str | None, raw: bool
) -> None:
    if scenario not in SCENARIOS:
        names = ", ".join(sorted(SCENARIOS))
        raise UsageError(f"unknown scenario {scenario!r} (choose from: {names})")
    config = build_config(config_pairs)
    predicate = _compile_filter(filter_expr)
    machine = Machine(config, scenario=scenario)
    say(f"# nvmescope {__version__}: scenario {scenario}: {SCENARIOS[scenario].summary}")
    say(f"# {'seq':>5s} {'time':>14s} who {'queue:cid':9s} {'kind':{KIND_WIDTH}s} what happened")
    while True:
        event = machine.step()
        if event is None:
            break
        if predicate is None or predicate(event):
            say(format_event(event))
    run = machine.scenario
    if run is not None and not run.ok:
        raise DeviceError(
            f"scenario {scenario}: not every check gave the expected answer "
            "(the host_step lines starting 'Check' say which)"
        )


def _compile_filter(expr: str | None) -> Callable[[Event], bool] | None:
    if not expr:
        return None
    from nvmescope.trace.filter import FilterError, compile_filter

    try:
        return compile_filter(expr)
    except FilterError as exc:
        column = getattr(exc, "column", None)
        if column is not None:
            err.print(f"  {expr}", markup=False)
            err.print("  " + " " * max(0, column - 1) + "^", markup=False)
        raise UsageError(f"--filter: {exc}") from None


def _check_scenario(name: str) -> None:
    if name not in SCENARIOS:
        names = ", ".join(sorted(SCENARIOS))
        raise UsageError(f"unknown scenario {name!r} (choose from: {names})")


@app.command()
def trace(
    scenario: Annotated[
        str, typer.Argument(help="Scenario name (see `nvmescope scenarios`).")
    ] = "identify",
    config: ConfigOpt = None,
    filter: Annotated[
        str | None,
        typer.Option("--filter", "-f", help='Filter expression, e.g. kind == "cqe_post"'),
    ] = None,
) -> None:
    """Run a scenario and print the event stream, one line per event."""
    _device_guarded(lambda: _trace(scenario, config, filter, False))


@app.command()
def scenarios() -> None:
    """List the built-in scenarios."""
    for name in sorted(SCENARIOS):
        say(f"{name:12s} {SCENARIOS[name].summary}")


def config_docs() -> dict[str, str]:
    """Each knob's ``#:`` comment from ControllerConfig's source (its documentation)."""
    import inspect

    docs: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(ControllerConfig).splitlines():
        text = line.strip()
        if text.startswith("#:"):
            pending.append(text[2:].strip())
        elif ":" in text and not text.startswith(("#", "def", "@", "class", '"')):
            name = text.split(":", 1)[0].strip()
            if name.isidentifier() and pending:
                docs[name] = " ".join(pending)
            pending = []
        else:
            pending = []
    return docs


@app.command("config")
def config_cmd() -> None:
    """List the controller knobs settable with --config KEY=VALUE, with defaults and meaning."""
    default = ControllerConfig()
    docs = config_docs()
    for f in dataclasses.fields(ControllerConfig):
        value = getattr(default, f.name)
        shown = hex(value) if f.name == "ieee" else repr(value)
        say(f"{f.name:20s} {shown:24s} {docs.get(f.name, '')}")


# -- nvme-cli style commands: the host issues the real command ----------------------
HumanOpt = Annotated[bool, typer.Option("-H", "--human-readable", help="Decode every field.")]
OutputOpt = Annotated[
    str, typer.Option("-o", "--output-format", help="normal or json (as nvme-cli).")
]
BinaryOpt = Annotated[
    bool, typer.Option("-b", "--raw-binary", help="Write the raw bytes the device returned.")
]
DEVICE = "nvme0"


AfterOpt = Annotated[
    str,
    typer.Option(
        "--after",
        help="Run this scenario first, then the command (e.g. --after errors to see error log entries).",
    ),
]


def _booted(config_pairs: list[str] | None, after: str = "bringup") -> Machine:
    """A machine whose Linux driver model has run ``after`` (bring-up at least)."""
    _check_scenario(after)
    machine = Machine(build_config(config_pairs), scenario=after)
    machine.run()
    driver = machine.driver
    if driver is None or not driver.up:
        words = ["nvmescope", "trace", after] + [f"-c {p}" for p in config_pairs or ()]
        raise DeviceError(f"the controller did not come up (see `{' '.join(words)}`)")
    return machine


def _admin(machine: Machine, task_of: Callable[[Any], Any]) -> Any:
    """Run one driver command task to its completion; fail on an error status."""
    from nvmescope.nvme.status import describe_status

    driver = machine.driver
    assert driver is not None
    comp = driver.run(task_of(driver))
    if comp.timed_out:
        raise DeviceError("the command timed out")
    if not comp.ok:
        status = comp.status or 0
        raise DeviceError(f"NVMe status: {describe_status(status)} ({status:#x})")
    return comp


class DeviceError(Exception):
    """The device answered with an error status: printed as one line, exit code 1."""


def _device_guarded(fn: Callable[[], None]) -> None:
    try:
        fn()
    except UsageError as exc:
        fail(str(exc))
    except DeviceError as exc:
        fail(str(exc), code=1)


def _emit(data: bytes, text: Callable[[], str], binary: bool) -> None:
    if binary:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        sys.stdout.write(text())
        sys.stdout.flush()


def _check_output(fmt: str) -> bool:
    if fmt not in ("normal", "json"):
        raise UsageError(f"-o {fmt}: expected normal or json")
    return fmt == "json"


@app.command("id-ctrl")
def id_ctrl(
    human: HumanOpt = False,
    output_format: OutputOpt = "normal",
    raw_binary: BinaryOpt = False,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """Identify Controller (CNS 01h), printed as nvme-cli 2.3 prints it."""
    from nvmescope.nvme import nvmecli

    def run() -> None:
        as_json = _check_output(output_format)
        m = _booted(config, after)
        data = _admin(m, lambda d: d.identify(0x01, why="nvmescope id-ctrl")).data
        if as_json:
            _emit(data, lambda: nvmecli.id_ctrl_json(data), raw_binary)
        else:
            _emit(data, lambda: nvmecli.format_id_ctrl(data, human=human), raw_binary)

    _device_guarded(run)


@app.command("id-ns")
def id_ns(
    namespace_id: Annotated[str, typer.Option("-n", "--namespace-id", help="NSID, e.g. 1.")] = "1",
    human: HumanOpt = False,
    output_format: OutputOpt = "normal",
    raw_binary: BinaryOpt = False,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """Identify Namespace (CNS 00h), printed as nvme-cli 2.3 prints it."""
    from nvmescope.nvme import nvmecli

    def run() -> None:
        as_json = _check_output(output_format)
        nsid = parse_nsid("-n", namespace_id)
        m = _booted(config, after)
        data = _admin(m, lambda d: d.identify(0x00, nsid=nsid, why="nvmescope id-ns")).data
        if as_json:
            _emit(data, lambda: nvmecli.id_ns_json(data), raw_binary)
        else:
            _emit(data, lambda: nvmecli.format_id_ns(data, nsid, human=human), raw_binary)

    _device_guarded(run)


@app.command("list")
def list_cmd(config: ConfigOpt = None, after: AfterOpt = "bringup") -> None:
    """nvme list: every active namespace of the controller."""
    from nvmescope.nvme import identify as idf
    from nvmescope.nvme import nvmecli

    def run() -> None:
        m = _booted(config, after)
        id_ctrl = _admin(m, lambda d: d.identify(0x01, why="nvme list: the controller")).data
        ns_list = _admin(m, lambda d: d.identify(0x02, why="nvme list: active namespaces")).data
        rows = []
        for nsid in idf.parse_active_ns_list(ns_list):
            id_ns = _admin(
                m, lambda d, nsid=nsid: d.identify(0x00, nsid=nsid, why="nvme list: a namespace")
            ).data
            rows.append(
                nvmecli.list_row(f"/dev/{DEVICE}n{nsid}", f"/dev/ng0n{nsid}", id_ctrl, id_ns, nsid)
            )
        sys.stdout.write(nvmecli.format_list(rows))

    _device_guarded(run)


@app.command("smart-log")
def smart_log(
    namespace_id: Annotated[
        str, typer.Option("-n", "--namespace-id", help="NSID (0xffffffff: the controller).")
    ] = "0xffffffff",
    raw_binary: BinaryOpt = False,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """SMART / Health Information log page (02h)."""
    from nvmescope.nvme import nvmecli

    def run() -> None:
        nsid = parse_nsid("-n", namespace_id)
        m = _booted(config, after)
        data = _admin(
            m, lambda d: d.get_log_page(0x02, 512, nsid=nsid, why="nvmescope smart-log")
        ).data
        _emit(data, lambda: nvmecli.format_smart_log(data, DEVICE, nsid), raw_binary)

    _device_guarded(run)


@app.command("error-log")
def error_log(
    log_entries: Annotated[
        int | None, typer.Option("-e", "--log-entries", help="Entries to read (default ELPE+1).")
    ] = None,
    raw_binary: BinaryOpt = False,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """Error Information log page (01h)."""
    from nvmescope.nvme import identify as idf
    from nvmescope.nvme import nvmecli

    def run() -> None:
        m = _booted(config, after)
        if log_entries is not None and not 1 <= log_entries <= 256:
            raise UsageError(f"-e {log_entries}: expected 1..256 entries")
        ctrl = _admin(m, lambda d: d.identify(0x01, why="error-log: how many entries (ELPE)"))
        supported = idf.IDENTIFY_CONTROLLER.parse(ctrl.data).elpe + 1
        # as nvme-cli: never more entries than the controller keeps (ELPE + 1)
        entries = supported if log_entries is None else min(log_entries, supported)
        data = _admin(
            m, lambda d: d.get_log_page(0x01, 64 * entries, why="nvmescope error-log")
        ).data
        _emit(data, lambda: nvmecli.format_error_log(data, DEVICE, entries), raw_binary)

    _device_guarded(run)


@app.command("fw-log")
def fw_log(
    raw_binary: BinaryOpt = False, config: ConfigOpt = None, after: AfterOpt = "bringup"
) -> None:
    """Firmware Slot Information log page (03h)."""
    from nvmescope.nvme import nvmecli

    def run() -> None:
        m = _booted(config, after)
        data = _admin(m, lambda d: d.get_log_page(0x03, 512, why="nvmescope fw-log")).data
        _emit(data, lambda: nvmecli.format_fw_log(data, DEVICE), raw_binary)

    _device_guarded(run)


#: features whose Get Features returns data in a buffer, and its size
FEATURE_DATA_LEN = {0x0E: 8}


@app.command("get-feature")
def get_feature(
    feature_id: Annotated[str, typer.Option("-f", "--feature-id", help="FID, e.g. 7 or 0x0e.")],
    sel: Annotated[
        int, typer.Option("-s", "--sel", help="0 current, 1 default, 2 saved, 3 capabilities.")
    ] = 0,
    cdw11: Annotated[int, typer.Option("--cdw11", help="Dword 11 (e.g. the vector for 09h).")] = 0,
    human: HumanOpt = False,
    raw_binary: BinaryOpt = False,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """Get Features: the value of one feature, printed as nvme-cli 2.3 prints it."""
    from nvmescope.nvme import nvmecli

    def run() -> None:
        fid = parse_number("-f", feature_id)
        if not 0 <= fid <= 0xFF:
            raise UsageError(f"-f {feature_id}: a feature identifier is 0..255")
        if not 0 <= sel <= 7:
            raise UsageError(f"-s {sel}: select is 0..7")
        m = _booted(config, after)
        length = FEATURE_DATA_LEN.get(fid, 0)
        comp = _admin(
            m,
            lambda d: d.get_features(
                fid, sel=sel, cdw11=cdw11, data_len=length, why="nvmescope get-feature"
            ),
        )
        data = comp.data if length else None
        _emit(
            data or comp.dw0.to_bytes(4, "little"),
            lambda: nvmecli.format_get_feature(fid, comp.dw0, data, human, sel=sel),
            raw_binary,
        )

    _device_guarded(run)


@app.command()
def lspci(
    verbose: Annotated[int, typer.Option("-v", count=True, help="-v, -vv: more detail.")] = 0,
    kernel: Annotated[bool, typer.Option("-k", help="Show the kernel driver in use.")] = False,
    raw_hex: Annotated[
        bool, typer.Option("-x", help="Hex dump of config space (64 B; -xxx 256 B, -xxxx 4 KiB).")
    ] = False,
    config: ConfigOpt = None,
    after: AfterOpt = "bringup",
) -> None:
    """The emulated PCI function as lspci shows it, read through configuration space."""
    from nvmescope.nvme import lspci as lspci_fmt

    def run() -> None:
        m = _booted(config, after)
        driver = m.driver
        assert driver is not None
        space = b"".join(
            m.api.config_read(off, 4).to_bytes(4, "little") for off in range(0, 256, 4)
        )
        text = lspci_fmt.format_lspci(
            space,
            verbose=verbose,
            driver="nvme" if (kernel or verbose) else None,
            bar_sizes={0: driver.bar_size},
        )
        sys.stdout.write(text)
        if raw_hex:
            for off in range(0, 64, 16):
                row = " ".join(f"{b:02x}" for b in space[off : off + 16])
                sys.stdout.write(f"{off:02x}: {row}\n")
            sys.stdout.write("\n")

    _device_guarded(run)


def main() -> None:
    """Console-script entry point: one line on stderr for every failure, never a traceback."""
    try:
        code = app(standalone_mode=False)
        sys.stdout.flush()
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err.print("nvmescope: interrupted")
        sys.exit(130)
    except BrokenPipeError:
        # the reader (e.g. `head`) has gone: not an error of ours
        _silence_stdout()
        sys.exit(0)
    except Exception as exc:
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            # a usage error found by the argument parser (click's exception family)
            err.print(f"nvmescope: error: {escape(exc.format_message())}")
            sys.exit(2)
        if os.environ.get("NVMESCOPE_DEBUG"):
            raise
        err.print(
            f"nvmescope: internal error: {type(exc).__name__}: {escape(str(exc))} "
            "(set NVMESCOPE_DEBUG=1 for the traceback, and please report it)"
        )
        sys.exit(70)


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":  # pragma: no cover
    main()
