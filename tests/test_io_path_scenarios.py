"""The I/O path's scenarios (issue 10): prp-list, sgl and dsm each check every answer
against the specification, walk what they say they walk, and sgl runs on a controller
with SGLs unless the user's own knobs say otherwise."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nvmescope.cli import app, scenario_config
from nvmescope.emulator import ControllerConfig
from nvmescope.machine import Machine


def run(name: str, config: ControllerConfig | None = None) -> Machine:
    m = Machine(config, scenario=name)
    m.run()
    assert m.scenario.ok, m.scenario.failures()
    return m


def test_prp_list_walks_both_list_pages_of_the_chained_write():
    m = run("prp-list")
    reads = [e for e in m.events if e.kind == "prp_list_read"]
    # the chained write (2 list pages), the read back (1), the bad chain pointer (the walk
    # reads the first page and stops at the offset)
    assert [len(e.entries) for e in reads[:2]] == [4, 12]
    assert reads[0].entries[-1] == reads[1].addr
    cases = [row.case for row in m.scenario.results]
    assert "chain pointer with an offset" in cases and "list in unmapped memory" in cases


def test_sgl_gathers_three_pieces_through_a_segment_and_throws_a_bucket_away():
    m = run("sgl")
    assert m.config.sgls == 0x10001
    segs = [e for e in m.events if e.kind == "sgl_segment_read"]
    assert len(segs[0].descriptors) == 3
    maps = [e for e in m.events if e.kind == "map_sgl"]
    assert any(any(a is None for a, _ in e.segments) for e in maps)
    assert len(m.scenario.results) == 7


def test_sgl_on_a_controller_without_sgls_is_the_refusal():
    m = run("sgl", ControllerConfig())
    assert [row.case for row in m.scenario.results] == ["SGL to a controller without SGLs"]
    assert not any(e.kind == "map_sgl" for e in m.events)


def test_dsm_reads_deallocated_blocks_as_zeros():
    m = run("dsm")
    assert any(e.kind == "cmd_start" and e.opcode == 0x09 for e in m.events)
    assert all(row.ok for row in m.scenario.results)


@pytest.mark.parametrize(
    ("pairs", "sgls"),
    [
        ((), 0x10001),  # the scenario's own knob
        (("sgls=0",), 0),  # the user's -c wins
        (("qemu-7.2",), 0x1),  # so does a profile that sets it
        (("qemu-7.2", "sgls=0x2"), 0x2),
    ],
)
def test_a_scenarios_knobs_give_way_to_the_users(pairs, sgls):
    assert scenario_config("sgl", pairs).sgls == sgls
    assert scenario_config("io", pairs).sgls == (0 if not pairs else sgls)


def test_scenarios_lists_the_knobs_a_scenario_runs_with():
    out = CliRunner().invoke(app, ["scenarios"]).stdout
    sgl = out[out.index("\nsgl ") :]
    assert "runs with -c sgls=0x10001 unless you set them" in sgl.split("\n")[2]


@pytest.mark.parametrize("sgls", [0x1, 0x2, 0x10001, 0x10002])
def test_sgl_runs_on_every_kind_of_sgl_support(sgls):
    # with SGLS bits 1:0 = 10b the Data Blocks must be dword aligned: the story says so
    m = run("sgl", ControllerConfig(sgls=sgls))
    assert len(m.scenario.results) == (7 if sgls & 0x10000 else 5)


def test_io_persist_says_when_count_asks_for_more_than_the_namespace_holds():
    from nvmescope.emulator.config import NamespaceConfig

    config = ControllerConfig(namespaces=(NamespaceConfig(1, 1 << 20, 0, None),))
    m = Machine(config, scenario="io-persist", params={"count": 1000})
    m.run()
    assert m.scenario.ok
    (note,) = [e.text for e in m.events if e.kind == "host_step" and e.step == "io_persist_fits"]
    assert "count=1000 asks for more than namespace 1 holds" in note and "use its 256" in note
