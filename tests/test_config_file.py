"""``--config FILE`` (issue 10): a TOML file of the controller and its namespaces, taken
wherever ``-c`` is; a bad file is one line that names the file, the line and the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.main import get_command
from typer.testing import CliRunner

from nvmescope.cli import UsageError, app, build_config
from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.config import PROFILES, NamespaceConfig, profile_config
from nvmescope.emulator.configfile import MAX_CONFIG_BYTES
from nvmescope.emulator.namespace import BackingFileError
from nvmescope.machine import Machine

MIB = 1 << 20


def cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "nvmescope", *args], cwd=cwd, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def load(tmp_path: Path, text: str, *more: str) -> ControllerConfig:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return build_config([str(path), *more])


def test_a_file_sets_knobs_and_namespaces_between_the_profile_and_the_knobs(tmp_path):
    text = """
[controller]
serial = "LAB-7"
mdts = 5
model = "from the file"

[[namespace]]
size = "2MiB"
lba_size = 512

[[namespace]]
nsid = 4
size = 1048576
lba_size = 4096
lba_formats = [[0, 9], {lbads = 12}]
"""
    config = load(tmp_path, text, "qemu-7.2", "serial=from-c")
    assert config.serial == "from-c"  # -c wins over the file
    assert config.mdts == 5 and config.model == "from the file"  # the file over the profile
    assert config.pci_vid == PROFILES["qemu-7.2"]["pci_vid"]  # the profile underneath
    assert config.nn == 256  # the profile's NN already holds NSID 4
    spaces = config.namespace_configs()
    assert [(n.nsid, n.size, n.lba_size) for n in spaces] == [(1, 2 * MIB, 512), (4, MIB, 4096)]
    assert spaces[1].lba_formats == ((0, 9), (0, 12)) and spaces[1].flbas == 1


def test_nn_is_raised_to_the_highest_nsid_unless_the_file_sets_it(tmp_path):
    assert load(tmp_path, "[[namespace]]\n[[namespace]]\nnsid = 7\n").nn == 7
    assert load(tmp_path, "[controller]\nnn = 9\n[[namespace]]\nnsid = 7\n").nn == 9


def test_a_relative_file_is_relative_to_the_configuration_file(tmp_path):
    (tmp_path / "conf").mkdir()
    config = build_config(
        [str(_write(tmp_path / "conf" / "c.toml", '[[namespace]]\nfile = "a.img"\n'))]
    )
    assert config.namespaces[0].file == str(tmp_path / "conf" / "a.img")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_without_a_file_the_configuration_is_the_one_of_before():
    assert build_config([]) == ControllerConfig()
    assert ControllerConfig().namespace_configs() == [
        NamespaceConfig(1, 64 * MIB, 0, ControllerConfig().lba_formats, mset=0, pi=0, pil=0)
    ]


#: an argument each command that needs one takes, so that it reaches its configuration
ARGUMENTS = {
    "lesson": ["identify"],
    "record": ["bringup", "-o", "out.nvmetrace"],
    "get-feature": ["-f", "7"],
    "get-log": ["-i", "2", "-l", "512"],
}


def test_every_command_that_takes_c_takes_a_file(tmp_path, monkeypatch):
    """-c, --config and --profile are one option, a value told by what it is: every command
    that takes it reads the file (here one with a bad value: no machine ever runs)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text("[controller]\nmqes = 0\n")
    runner = CliRunner()
    root = get_command(app)
    names = [
        name
        for name, cmd in root.commands.items()  # type: ignore[attr-defined]
        if any("-c" in getattr(p, "opts", []) for p in cmd.params)
    ]
    assert len(names) >= 13 and {"trace", "tui", "record", "id-ns", "lspci"} <= set(names)
    for name in names:
        for flag in ("--config", "-c"):
            result = runner.invoke(app, [name, *ARGUMENTS.get(name, []), flag, "c.toml"])
            assert result.exit_code == 2, (name, result.output)
            assert "c.toml:2: mqes=0 is out of range" in result.stderr, (name, result.stderr)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[controller]\nserial = \"x\"\nmqes = = 3\n", "c.toml:3: Invalid value"),
        ("[controller]\nserial = \"x\"\nmqez = 3\n", "c.toml:3: mqez: no such knob"),
        ("\n[controller]\nmqes = 0\n", "c.toml:3: mqes=0 is out of range"),
        ("[controller]\n\n\nmqes = \"big\"\n", "c.toml:4: mqes: expected an integer, got a text"),
        ("[controller]\nvwc = 1\n", "c.toml:2: vwc: expected true or false"),
        ("[controller]\nnamespaces = []\n", "c.toml:2: namespaces: give [[namespace]] tables"),
        ("mqes = 5\n", "c.toml:1: mqes: no such table or key"),
        ("[controler]\nmqes = 5\n", "c.toml:1: controler: no such table or key"),
        ("[[namespace]]\nsize = 4096\n\n[[namespace]]\nsise = 3\n", "c.toml:5: namespace 2: sise: no such key"),
        ("[[namespace]]\n[[namespace]]\nlba_size = 4096\nsize = 1000\n", "c.toml:4: namespace 2: size=1000 must be a multiple of the 4096-byte LBA"),
        ("[[namespace]]\nsize = \"64 MB\"\n", "c.toml:2: namespace 1: size: expected bytes"),
        ("[[namespace]]\ncapacity = true\n", "c.toml:2: namespace 1: capacity: expected bytes"),
        ("[[namespace]]\ncapacity = 1e6\n", "c.toml:2: namespace 1: capacity: expected bytes"),
        ("[[namespace]]\nsize = \"64MiB\"\nlba_size = 1024\n", "c.toml:3: namespace 1: lba_size=1024: no LBA format"),
        ("[[namespace]]\nlba_size = 512\nflbas = 0\n", "c.toml:2: namespace 1: lba_size and flbas"),
        ("[[namespace]]\nflbas = 9\n", "c.toml:2: namespace 1: flbas=9 names no LBA format"),
        ("[[namespace]]\nlba_formats = [[0, 8]]\n", "c.toml:2: namespace 1: lba_formats: 1 to 64"),
        ("[[namespace]]\nnsid = 0\n", "c.toml:2: namespace 1: nsid=0 is out of range"),
        ("[controller]\nnn = 2\n\n[[namespace]]\n[[namespace]]\nnsid = 5\n", "c.toml:6: namespace 2: NSID 5 is above NN=2"),
        ("[[namespace]]\nnsid = 2\n[[namespace]]\nnsid = 2\n", "c.toml:4: namespace 2: NSID 2 is namespace 1's already"),
        ("[[namespace]]\nfile = 7\n", "c.toml:2: namespace 1: file: expected a path"),
        ("namespace = 3\n", "c.toml:1: namespace: must be [[namespace]] tables"),
        ("[controller]\nserial = \"" + "x" * 30 + "\"\n", "c.toml:2: serial is at most 20 characters"),
    ],
)  # fmt: skip
def test_a_bad_value_is_one_line_naming_the_line_and_the_key(tmp_path, text, words):
    with pytest.raises(UsageError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert words in message and "\n" not in message, message


def test_a_knob_the_command_line_sets_wrong_is_blamed_on_the_command_line(tmp_path):
    with pytest.raises(UsageError, match=r"^--config: mqes=0 is out of range"):
        load(tmp_path, "[controller]\nmqes = 5\n", "mqes=0")


def _lines(n: int) -> str:
    return "".join(f"# comment {i}\n" for i in range(n))


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("syntax.toml", "[controller]\nmqes = = 3\n", "syntax.toml:2: Invalid value"),
        ("key.toml", _lines(4) + "[controller]\nmqez = 3\n", "key.toml:6: mqez: no such knob"),
        ("value.toml", "[[namespace]]\nsize = 1000\n", "value.toml:2: namespace 1: size=1000"),
        ("binary.toml", b'[controller]\nserial = "\xff\xfe"\n', "binary.toml:2: not UTF-8 text"),
        ("big.toml", b"#" * (MAX_CONFIG_BYTES + 1), f"larger than {MAX_CONFIG_BYTES} bytes"),
        ("adir", None, "adir: is a directory"),
        ("missing.toml", "", "missing.toml: no such file"),
        ("deep.toml", "x = " + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("digits.toml", "[controller]\nmqes = " + "9" * 5000 + "\n", "a number of more than"),
        ("many.toml", "[[namespace]]\nsize = 1048576\n" * 2000, "at most 32 [[namespace]] tables"),
    ],
    ids=[
        "syntax",
        "key",
        "value",
        "not-utf8",
        "too-big",
        "directory",
        "missing",
        "deep",
        "digits",
        "many",
    ],  # fmt: skip
)
def test_a_bad_configuration_file_is_one_line_on_stderr_and_exit_2(tmp_path, name, content, words):
    path = tmp_path / name
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content:
        path.write_text(content)
    code, out, err = cli("id-ctrl", "--config", name, cwd=tmp_path)
    assert code == 2 and out == "", err
    assert err.count("\n") == 1 and err.startswith("nvmescope: error: --config "), err
    assert words in err and "Traceback" not in err, err


def test_the_file_works_where_the_knobs_do(tmp_path):
    (tmp_path / "c.toml").write_text(
        '[controller]\nserial = "FILE-1"\n[[namespace]]\n[[namespace]]\n'
    )
    code, out, err = cli("list", "--config", "c.toml", cwd=tmp_path)
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["/dev/nvme0n1", "/dev/nvme0n2"]
    assert "FILE-1" in out
    code, out, err = cli(
        "trace", "bringup", "-c", "c.toml", "-f", 'kind == "cmd_start"', cwd=tmp_path
    )
    assert code == 0 and "cns 0x00" in out and "nsid 2" in out, err
    assert build_config(["qemu-7.2"]) == profile_config("qemu-7.2")


# -- any file: it loads, or it is one line --------------------------------------------------------
KNOBS = [
    "serial",
    "mqes",
    "mdts",
    "nn",
    "vwc",
    "flbas",
    "namespace_size_bytes",
    "lba_formats",
    "lpa",
    "bogus",
]
NS_KEYS = ["nsid", "size", "lba_size", "flbas", "lba_formats", "file", "nope"]
values = st.one_of(
    st.integers(-3, 5000).map(str),
    st.sampled_from(["512", "4096", "1048576", "0", "-1", "true", "false", '""', '"x"', '"1MiB"',
                     '"4 KiB"', '"64MiB"', "[[0, 9], [0, 12]]", "[]", "[[0]]", '[{lbads = 12}]',
                     "{}", "1.5", '"a.img"', '"/dev/null"', '"nowhere/x.img"', "= =", '"\\u0000"',
                     str(2**64)]),
)  # fmt: skip
line = st.one_of(
    st.builds(lambda k, v: f"{k} = {v}", st.sampled_from(KNOBS + NS_KEYS), values),
    st.sampled_from(["[controller]", "[[namespace]]", "[[namespace]]", "[other]", "# note", "",
                     "[controller", "namespace = 1", "\u00e9 = 1"]),
)  # fmt: skip


@settings(
    max_examples=150, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(lines=st.lists(line, max_size=14))
def test_any_file_loads_or_is_one_line(tmp_path, lines):
    path = tmp_path / "any.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        config = build_config([str(path)])
    except UsageError as exc:
        text = str(exc)
        assert text.startswith("--config") and "\n" not in text and len(text) < 600, text
        return
    assert config.problems() == []
    assert all(ns.nsid and ns.size for ns in config.namespace_configs())
    try:  # a configuration that loads makes a device, or its file is one line
        Machine(config, scenario=None).close()
    except BackingFileError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("namespace "), exc


@pytest.mark.parametrize("name", ["a=b/c.toml", "serial=x"])
def test_a_file_whose_path_holds_an_equals_sign_is_a_file_not_a_knob(tmp_path, name):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[controller]\nmodel = "FROM FILE"\n')
    # relative, as a user types it: "serial=x" names a file here, and "serial" is a knob
    config = build_config([str(path)])
    assert config.model == "FROM FILE"
    code, out, err = cli("id-ctrl", "--config", name, cwd=tmp_path)
    if name == "serial=x":  # KEY is a knob: the knob wins, as it always did
        assert code == 0 and "sn        : x " in out, err
    else:
        assert code == 0 and "FROM FILE" in out, err


def test_a_knob_pair_still_needs_a_knob_name(tmp_path):
    with pytest.raises(UsageError, match="no such knob"):
        build_config(["mqez=3"])


def test_profiles_that_set_different_knobs_combine_in_the_order_given():
    both = build_config(["qemu-7.2", "ssd"])
    assert both.model == PROFILES["qemu-7.2"]["model"]
    assert both.parallel_units == PROFILES["ssd"]["parallel_units"]
    assert build_config(["ssd", "qemu-7.2"]) == both


def test_profiles_that_set_the_same_knob_are_refused_by_name():
    with pytest.raises(
        UsageError, match="--profile instant and --profile ssd both set .*parallel_units"
    ):
        build_config(["instant", "ssd"])


def test_a_metadata_format_on_a_file_namespace_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "c.toml").write_text(
        '[controller]\nmetadata = true\n[[namespace]]\nflbas = 1\nfile = "ns.img"\nsize = 4096\n'
    )
    result = CliRunner().invoke(app, ["id-ns", "--config", str(tmp_path / "c.toml")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "backed by a file keeps none" in lines[0], result.stderr
    assert not (tmp_path / "ns.img").exists()
