"""The latency model: event timestamps follow the command overhead, the link's transfer
time and the media's read and program time; the timing profiles set its knobs."""

from __future__ import annotations

import dataclasses

import pytest
from emuhost import Rig

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.config import PROFILES, TIMING_KNOBS, TIMING_PROFILES, profile_config
from nvmescope.emulator.timing import media_ns, transfer_ns
from nvmescope.machine import Machine
from nvmescope.nvme.commands import pack_sqe

READ, WRITE, COMPARE, FLUSH = 0x02, 0x01, 0x05, 0x00
SSD = TIMING_PROFILES["ssd"]


def one_command(config: ControllerConfig, opc: int, size: int) -> list:
    """The device's events of one I/O command of ``size`` bytes at LBA 0 (512-byte LBAs)."""
    rig = Rig(config)
    rig.enable()
    rig.create_io_pair(1)
    buf = rig.host.alloc(max(1, size // 4096))
    prp2 = 0
    if size == 8192:  # a second page apart from the first: two segments, two DMAs
        rig.host.alloc()
        prp2 = rig.host.alloc()
    start = len(rig.events)
    nlb = max(1, size // 512)
    rig.submit(1, pack_sqe(opc, 7, nsid=1, prp1=buf, prp2=prp2, cdw12=nlb - 1))
    rig.run()
    assert rig.reap(1).sc == 0
    return [e for e in rig.events[start:] if e.sqid == 1 and e.cid == 7]


def at(events: list, kind: str) -> int:
    return next(e.ts for e in events if e.kind == kind)


def test_a_4k_read_under_the_ssd_profile_takes_overhead_media_and_transfer_time():
    events = one_command(profile_config("ssd"), READ, 4096)
    start = at(events, "cmd_start")
    xfer = transfer_ns(profile_config("ssd"), 4096)
    assert xfer == 1171  # 4096 bytes at 3500 MB/s, rounded up
    # the overhead first, the media read before the data moves, the DMA its transfer time
    assert at(events, "map_prp") - start == SSD["io_latency_ns"]
    assert at(events, "dma_write") - start == SSD["io_latency_ns"] + SSD["media_read_ns"]
    finish = at(events, "cmd_finish") - start
    assert finish == SSD["io_latency_ns"] + SSD["media_read_ns"] + xfer == 85_171
    assert at(events, "cqe_post") == at(events, "cmd_finish")


def test_a_4k_write_under_the_ssd_profile_programs_after_its_data_came():
    events = one_command(profile_config("ssd"), WRITE, 4096)
    start = at(events, "cmd_start")
    assert at(events, "dma_read") - start == SSD["io_latency_ns"]
    finish = at(events, "cmd_finish") - start
    assert finish == SSD["io_latency_ns"] + 1171 + SSD["media_program_ns"] == 20_171


@pytest.mark.parametrize(("units", "media_times"), [(42, 1), (2, 1), (1, 2)])
def test_media_time_counts_each_4k_spread_over_the_units_and_transfer_time_each_dma(
    units, media_times
):
    config = dataclasses.replace(profile_config("ssd"), parallel_units=units)
    events = one_command(config, READ, 8192)  # two pages, two DMAs (PRP1, PRP2)
    start = at(events, "cmd_start")
    dmas = [e for e in events if e.kind == "dma_write"]
    assert len(dmas) == 2
    assert dmas[1].ts - dmas[0].ts == transfer_ns(config, 4096)
    assert at(events, "cmd_finish") - start == (
        SSD["io_latency_ns"] + media_times * SSD["media_read_ns"] + 2 * transfer_ns(config, 4096)
    )


def test_media_time_of_a_part_of_4k_is_a_whole_one_and_pieces_share_the_units():
    assert media_ns(79_000, 512) == 79_000
    assert media_ns(79_000, 64 * 1024, units=42) == 79_000
    assert media_ns(79_000, 64 * 1024, units=4) == 4 * 79_000
    assert media_ns(0, 64 * 1024) == 0


def test_a_compare_reads_the_media_after_the_host_data():
    config = ControllerConfig(media_read_ns=30_000, link_mbps=1000)
    events = one_command(config, COMPARE, 4096)
    start = at(events, "cmd_start")
    assert at(events, "cmd_finish") - start == 5_000 + 4096 + 30_000


def test_commands_without_data_take_only_their_overhead():
    events = one_command(profile_config("ssd"), FLUSH, 0)
    assert at(events, "cmd_finish") - at(events, "cmd_start") == SSD["io_latency_ns"]


def test_the_instant_profile_is_the_default_configuration():
    assert profile_config("instant") == ControllerConfig()
    assert set(TIMING_PROFILES["instant"]) == set(TIMING_KNOBS) == set(SSD)
    assert all(name in PROFILES for name in TIMING_PROFILES)


def test_the_instant_profile_moves_data_in_no_time():
    events = one_command(profile_config("instant"), READ, 4096)
    start = at(events, "cmd_start")
    assert at(events, "map_prp") - start == 5_000
    assert at(events, "cmd_finish") == at(events, "map_prp")


def test_the_ssd_profile_runs_every_scenario_to_a_pass():
    for scenario in ("io", "io-load"):
        m = Machine(profile_config("ssd"), scenario)
        m.run()
        assert m.scenario is not None and m.scenario.ok, scenario


@pytest.mark.parametrize("name", sorted(TIMING_KNOBS))
def test_every_latency_knob_is_checked_against_its_one_declared_range(name):
    low, high, why = TIMING_KNOBS[name]
    ok = dataclasses.replace(ControllerConfig(), **{name: low})
    assert ok.problems() == []
    for bad in (low - 1, high + 1):
        problems = dataclasses.replace(ControllerConfig(), **{name: bad}).problems()
        assert problems == [f"{name}={bad} is out of range: {why}"]
