"""The one-way import rule of docs/architecture.md, enforced by reading every import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "nvmescope"

#: the model and the recordings: what the bridges to QEMU, the UI and the CLI build on
MODEL = {"files", "nvme", "sim", "events", "eventlog", "emulator", "host", "machine", "trace"}

# layer -> the nvmescope layers it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "nvme": set(),
    "sim": set(),
    # reading a file the user names, bounded (nvmescope/files.py): stdlib only
    "files": set(),
    "events": {"nvme", "sim"},
    # the compact list of a run's events (Machine.events)
    "eventlog": {"nvme", "sim", "events"},
    "emulator": {"files", "nvme", "sim", "events"},
    "host": {"files", "nvme", "sim", "events", "emulator"},
    "machine": {"files", "nvme", "sim", "events", "emulator", "host", "eventlog"},
    "trace": MODEL - {"trace"},
    # the bridges to QEMU (x-pci-proxy-dev, the Linux guest): above the recorder, below the UI
    "qemu": MODEL,
    "ui": MODEL,
    # `nvmescope serve`: the web server beside the CLI (it runs the CLI in a process per
    # browser, and imports nothing of the model)
    "serve": MODEL | {"ui"},
    "web": set(),
    "cli": MODEL | {"qemu", "ui", "serve"},
    "__init__": set(),
    "__main__": {"cli"},
}

#: third-party packages each layer may import (stdlib is always allowed)
THIRD_PARTY = {
    "construct", "msgspec", "rich", "textual", "typer", "zstandard", "click",
    "textual_serve", "aiohttp",
}  # fmt: skip
ALLOWED_THIRD_PARTY: dict[str, set[str]] = {
    "nvme": {"construct"},
    "sim": set(),
    "files": set(),
    "events": {"msgspec"},
    "eventlog": {"msgspec", "zstandard"},
    # the model itself needs nothing but the standard library and the layers below it
    "emulator": {"construct"},
    "host": {"construct"},
    "machine": set(),
}


#: inside ui/, the one module that may reach the model (to step a live session)
UI_SOURCE = "ui/source.py"
UI_SOURCE_ONLY = {"emulator", "host", "machine"}


def layer_of(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root)
    return rel.parts[0].removesuffix(".py")


def imported_modules(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: list[tuple[int, str]] = []
    package = ".".join(("nvmescope",) + path.relative_to(root).parent.parts)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
                if not node.module:
                    out.extend((node.lineno, f"{module}.{a.name}") for a in node.names)
                    continue
            else:
                module = node.module or ""
                if module == "nvmescope":  # `from nvmescope import host`: the names are modules
                    out.extend((node.lineno, _package_member(root, a.name)) for a in node.names)
                    continue
            out.append((node.lineno, module))
    return out


def _package_member(root: Path, name: str) -> str:
    """``nvmescope.<name>`` for a subpackage or module, ``nvmescope`` for an attribute of
    the package itself (``from nvmescope import __version__``)."""
    if (root / name).is_dir() or (root / f"{name}.py").is_file():
        return f"nvmescope.{name}"
    return "nvmescope"


SOURCES = sorted(ROOT.rglob("*.py"))


def test_there_are_sources_to_check():
    assert len(SOURCES) > 10


def check_file(path: Path, root: Path = ROOT) -> None:
    layer = layer_of(path, root)
    allowed = ALLOWED[layer] | {layer}
    for lineno, module in imported_modules(path, root):
        parts = module.split(".")
        if parts[0] == "nvmescope":
            if len(parts) == 1:
                continue  # `import nvmescope` for __version__
            target = parts[1]
            assert target in allowed or target == "__init__", (
                f"{path.relative_to(root)}:{lineno} ({layer}) imports nvmescope.{target}"
            )
            if layer == "ui" and target in UI_SOURCE_ONLY:
                rel = path.relative_to(root).as_posix()
                assert rel == UI_SOURCE, (
                    f"{rel}:{lineno}: only {UI_SOURCE} may touch nvmescope.{target}; "
                    "panels and screens read events and states through the Source"
                )
            if layer == "host" and target == "emulator":
                assert len(parts) == 2, (
                    f"{path.relative_to(root)}:{lineno}: the host may use only the emulator's "
                    f"public API (`from nvmescope.emulator import ...`), not {module}"
                )
        elif parts[0] in THIRD_PARTY and layer in ALLOWED_THIRD_PARTY:
            assert parts[0] in ALLOWED_THIRD_PARTY[layer], (
                f"{path.relative_to(root)}:{lineno} ({layer}) imports {parts[0]}"
            )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_the_layers(path: Path):
    check_file(path)


@pytest.mark.parametrize(
    ("where", "source"),
    [
        ("emulator/x.py", "from nvmescope.host import memory\n"),
        ("emulator/x.py", "from ..trace import reader\n"),
        ("nvme/x.py", "import rich\n"),
        ("host/x.py", "from nvmescope.emulator.queues import SubmissionQueue\n"),
        ("events.py", "from . import machine\n"),
        ("emulator/x.py", "from nvmescope import host\n"),
        ("nvme/x.py", "def f():\n    from nvmescope import events\n"),
        ("host/x.py", "import nvmescope.trace.reader\n"),
        ("ui/widgets/_x.py", "from nvmescope.machine import Machine\n"),
        ("ui/app.py", "from nvmescope.emulator import ControllerConfig\n"),
        ("ui/screens/x.py", "from nvmescope.host.driver import LinuxDriver\n"),
    ],
)
def test_the_checker_catches_an_upward_import(tmp_path, where, source):
    root = tmp_path / "nvmescope"
    bad = root / where
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text(source)
    for layer in ALLOWED:  # the layers exist, as modules or packages, in the fake tree too
        if layer not in ("__init__", "__main__"):
            (root / layer).mkdir(exist_ok=True)
    with pytest.raises(AssertionError):
        check_file(bad, root)


def test_the_checker_accepts_a_downward_import(tmp_path):
    root = tmp_path / "nvmescope"
    good = root / "host" / "x.py"
    good.parent.mkdir(parents=True)
    good.write_text(
        "from nvmescope.emulator import Controller\nfrom ..nvme import commands\n"
        "from nvmescope import events, __version__\n"
    )
    (root / "events.py").write_text("")
    check_file(good, root)


# -- the emulator's own files: no circle, and the command sets see an interface -------------
EMULATOR = ROOT / "emulator"


def emulator_imports(source: str, own: set[str]) -> set[str]:
    """The emulator modules ``source`` imports, wherever the import stands (at the top,
    in a function, under TYPE_CHECKING): a circle of imports only for types is a circle
    a reader follows too."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            out.update(n for n in names if n in own)
    return out


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle a depth-first walk of ``graph`` finds (empty: none)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}
    path: list[str] = []

    def walk(mod: str) -> None:
        state[mod] = 1
        path.append(mod)
        for dep in sorted(graph.get(mod, ())):
            if state.get(dep) == 1:
                found.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                walk(dep)
        path.pop()
        state[mod] = 2

    for mod in sorted(graph):
        if mod not in state:
            walk(mod)
    return found


def emulator_graph() -> dict[str, set[str]]:
    own = {p.stem for p in EMULATOR.glob("*.py")}
    return {p.stem: emulator_imports(p.read_text(), own) for p in EMULATOR.glob("*.py")}


def test_the_emulators_files_import_each_other_in_no_circle():
    graph = emulator_graph()
    assert {"controller", "admin", "nvm", "context"} <= set(graph)
    assert import_circles(graph) == []


def test_the_circle_finder_finds_a_circle():
    assert import_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    own = {"controller", "admin"}
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .controller import X\n"
    assert emulator_imports(source, own) == {"controller"}


def private_uses_of_ctrl(source: str) -> list[str]:
    """``ctrl._x`` in ``source``: a command set reaching past its interface."""
    return sorted(
        f"{node.lineno}: ctrl.{node.attr}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "ctrl"
        and node.attr.startswith("_")
    )


@pytest.mark.parametrize(
    "path", sorted(p for p in EMULATOR.glob("*.py") if p.stem not in ("controller", "__init__")),
    ids=lambda p: p.stem,
)  # fmt: skip
def test_the_command_sets_reach_the_controller_only_through_their_interface(path: Path):
    # only controller.py (and the package's __init__) knows the Controller class; every
    # other file sees a CommandContext (emulator/context.py) and uses its public names
    source = path.read_text()
    assert "controller" not in emulator_imports(source, {"controller"}), path.name
    assert private_uses_of_ctrl(source) == [], path.name


def test_the_private_use_finder_finds_one():
    assert private_uses_of_ctrl("def f(ctrl):\n    ctrl._out(1)\n") == ["2: ctrl._out"]


def test_the_controller_provides_every_name_of_the_interface():
    import inspect

    from nvmescope.emulator.context import CommandContext
    from nvmescope.machine import Machine

    ctrl = Machine().ctrl
    names = set(CommandContext.__annotations__) | {
        n for n, v in vars(CommandContext).items() if not n.startswith("_") and callable(v)
    } | {"page_size"}  # fmt: skip
    missing = sorted(n for n in names if not hasattr(ctrl, n))
    assert missing == []
    for name in names:
        ours = getattr(CommandContext, name, None)
        theirs = getattr(type(ctrl), name, None)
        if inspect.isfunction(ours):
            assert inspect.signature(ours).parameters.keys() == (
                inspect.signature(theirs).parameters.keys()
            ), name
