"""Namespaces (issue 10): several per controller, each with its size and LBA format, as
Identify says; inactive and invalid NSIDs get the two answers the specification gives;
SMART / Health and Format NVM per namespace."""

from __future__ import annotations

import pytest

from nvmescope.emulator import ControllerConfig
from nvmescope.emulator.config import NamespaceConfig
from nvmescope.host.driver import LinuxDriver
from nvmescope.machine import Machine
from nvmescope.nvme import identify as idf
from nvmescope.nvme import logpages as lp
from nvmescope.nvme import status as st

MIB = 1 << 20
NSID_ALL = 0xFFFFFFFF
#: NSID 1 of 512-byte blocks, NSID 2 of 4 KiB blocks, NSID 5 of 4 KiB blocks; NN 8
SPACES = ControllerConfig(
    nn=8,
    lpa=0x07,
    format_nvm=True,
    namespaces=(
        NamespaceConfig(size=2 * MIB, flbas=0),
        NamespaceConfig(size=4 * MIB, flbas=4),
        NamespaceConfig(nsid=5, size=8 * MIB, flbas=4, lba_formats=((0, 9), (0, 12), (0, 12), (0, 12), (0, 12))),
    ),
)  # fmt: skip


def up(config: ControllerConfig) -> LinuxDriver:
    m = Machine(config, scenario="bringup")
    m.run()
    assert m.driver is not None and m.driver.up
    return m.driver


def status(done: object) -> tuple[int | None, int | None]:
    return done.sct, done.sc  # type: ignore[attr-defined]


def identify_ns(drv: LinuxDriver, nsid: int) -> dict:
    done = drv.run(drv.identify(0x00, nsid=nsid, why="identify namespace"))
    assert done.ok, done.describe()
    return idf.IDENTIFY_NAMESPACE.parse(done.data)


def test_namespaces_of_512_byte_and_4_kib_lbas_report_their_size_and_format():
    drv = up(SPACES)
    for nsid, size, lba, flbas in (
        (1, 2 * MIB, 512, 0),
        (2, 4 * MIB, 4096, 4),
        (5, 8 * MIB, 4096, 4),
    ):
        ns = identify_ns(drv, nsid)
        assert ns.nsze == ns.ncap == ns.nuse == size // lba, nsid
        assert ns.flbas & 0xF == flbas and 1 << ns.lbaf[flbas].ds == lba and ns.lbaf[flbas].ms == 0
        assert ns.nsfeat == 0 and ns.dlfeat == 1  # deallocated blocks read as zeros
    assert identify_ns(drv, 5).nlbaf == 4  # its own list of five formats
    assert identify_ns(drv, 1).nlbaf == 7  # the controller's eight
    # each namespace keeps its own blocks, in its own block size
    api = drv.api
    for nsid, lba in ((1, 512), (2, 4096), (5, 4096)):
        buf = api.alloc(lba)
        api.mem_write(buf, bytes([nsid]) * lba, "data")
        assert drv.run(drv.nvme_write(1, nsid, 3, 1, buf, lba, why="block 3")).ok
    for nsid, lba in ((1, 512), (2, 4096), (5, 4096)):
        buf = api.alloc(lba)
        assert drv.run(drv.nvme_read(1, nsid, 3, 1, buf, lba, why="block 3")).ok
        assert api.peek(buf, lba) == bytes([nsid]) * lba
    # the last LBA exists, the one after it does not
    buf = api.alloc(4096)
    assert drv.run(drv.nvme_read(1, 2, 4 * MIB // 4096 - 1, 1, buf, 4096)).ok
    assert (
        status(drv.run(drv.nvme_read(1, 2, 4 * MIB // 4096, 1, buf, 4096))) == st.LBA_OUT_OF_RANGE
    )


def test_identify_controller_and_the_active_list_describe_every_namespace():
    drv = up(SPACES)
    # the driver's scan found them through the active list, as Linux's
    assert drv.ns_list == [1, 2, 5] and sorted(drv.namespaces) == [1, 2, 5]
    ctrl = idf.IDENTIFY_CONTROLLER.parse(drv.run(drv.identify(0x01, why="controller")).data)
    assert ctrl.nn == 8 and ctrl.mdts == SPACES.mdts and ctrl.vwc & 1 and ctrl.sgls == 0
    assert ctrl.oncs & (idf.ONCS_COMPARE | idf.ONCS_DSM | idf.ONCS_WRITE_ZEROES)

    def active(after: int) -> list[int]:
        done = drv.run(drv.identify(0x02, nsid=after, why="active list"))
        return idf.parse_active_ns_list(done.data)

    assert active(0) == [1, 2, 5] and active(2) == [5] and active(5) == []


@pytest.mark.parametrize(
    ("nsid", "answer"),
    [
        (3, st.INVALID_FIELD),  # inactive: valid (up to NN 8), no namespace attached
        (8, st.INVALID_FIELD),  # NN itself is valid
        (9, st.INVALID_NS_OR_FORMAT),  # above NN: invalid
        (0, st.INVALID_NS_OR_FORMAT),
        (0xFFFFFFFE, st.INVALID_NS_OR_FORMAT),
    ],
)
def test_io_to_an_inactive_nsid_is_invalid_field_and_to_an_invalid_one_invalid_namespace(
    nsid, answer
):
    drv = up(SPACES)
    buf = drv.api.alloc(4096)
    assert status(drv.run(drv.nvme_read(1, nsid, 0, 1, buf, 512, why="read"))) == answer
    assert status(drv.run(drv.nvme_write(1, nsid, 0, 1, buf, 512, why="write"))) == answer
    assert status(drv.run(drv.nvme_flush(1, nsid, why="flush"))) == answer


def test_identify_of_an_inactive_nsid_is_zeros_and_of_an_invalid_one_an_error():
    drv = up(SPACES)
    for nsid in (3, 4, 8):  # inactive: a zero-filled structure, Successful Completion
        done = drv.run(drv.identify(0x00, nsid=nsid, why="inactive"))
        assert done.ok and done.data == bytes(4096), nsid
        # the descriptor list exists for active NSIDs only (base 3.2.1.5: Invalid Field)
        assert status(drv.run(drv.identify(0x03, nsid=nsid, why="descs"))) == st.INVALID_FIELD
    for nsid in (0, 9, NSID_ALL):  # invalid (FFFFFFFFh: no Namespace Management here)
        done = drv.run(drv.identify(0x00, nsid=nsid, why="invalid"))
        assert status(done) == st.INVALID_NS_OR_FORMAT, nsid
        assert status(drv.run(drv.identify(0x03, nsid=nsid))) == st.INVALID_NS_OR_FORMAT
    for nsid in (0xFFFFFFFE, NSID_ALL):  # the active list takes any NSID but these two
        assert status(drv.run(drv.identify(0x02, nsid=nsid))) == st.INVALID_NS_OR_FORMAT


def test_flush_of_every_namespace_is_taken():
    drv = up(SPACES)
    assert drv.run(drv.nvme_flush(1, NSID_ALL, why="all")).ok


def smart(drv: LinuxDriver, nsid: int) -> object:
    done = drv.run(drv.get_log_page(0x02, 512, nsid=nsid, why="smart"))
    assert done.ok, done.describe()
    return lp.SMART_LOG.parse(done.data)


def test_smart_log_per_namespace_counts_that_namespaces_commands():
    drv = up(SPACES)
    api = drv.api
    buf = api.alloc(8192)
    for nsid, times in ((1, 3), (2, 1)):
        for _ in range(times):
            assert drv.run(drv.nvme_write(1, nsid, 0, 2, buf, 1024 if nsid == 1 else 8192)).ok
    assert drv.run(drv.nvme_read(1, 5, 0, 1, buf, 4096)).ok
    one, two, five, everything = smart(drv, 1), smart(drv, 2), smart(drv, 5), smart(drv, NSID_ALL)
    assert (one.host_write_commands, two.host_write_commands, five.host_write_commands) == (3, 1, 0)
    assert (one.host_read_commands, two.host_read_commands, five.host_read_commands) == (0, 0, 1)
    assert everything.host_write_commands == 4 and everything.host_read_commands == 1
    assert one.data_units_written == 1 and two.data_units_written == 1  # thousands, rounded up
    assert everything.temperature == one.temperature == five.temperature  # the controller's
    # an inactive namespace has no log of its own; an invalid NSID is not a namespace
    for nsid, answer in ((3, st.INVALID_FIELD), (9, st.INVALID_NS_OR_FORMAT)):
        done = drv.run(drv.get_log_page(0x02, 512, nsid=nsid, why="smart"))
        assert status(done) == answer, nsid


def test_format_nvm_of_one_namespace_changes_only_that_one():
    drv = up(SPACES)
    api = drv.api
    buf = api.alloc(4096)
    api.mem_write(buf, b"\x5a" * 4096, "data")
    assert drv.run(drv.nvme_write(1, 2, 0, 1, buf, 4096)).ok
    assert drv.run(drv.nvme_write(1, 1, 0, 8, buf, 4096)).ok
    done = drv.run(drv.submit(0, 0x80, nsid=1, cdw10=4, why="format NSID 1 to 4 KiB"))
    assert done.ok, done.describe()
    assert identify_ns(drv, 1).nsze == 2 * MIB // 4096 and identify_ns(drv, 1).flbas == 4
    assert drv.run(drv.nvme_read(1, 1, 0, 1, buf, 4096)).ok and api.peek(buf, 4096) == bytes(4096)
    assert (
        drv.run(drv.nvme_read(1, 2, 0, 1, buf, 4096)).ok and api.peek(buf, 4096) == b"\x5a" * 4096
    )
    # NSID FFFFFFFFh formats every namespace: each must have the format in its own list
    done = drv.run(drv.submit(0, 0x80, nsid=NSID_ALL, cdw10=7, why="LBAF 7: not in NSID 5's"))
    assert status(done) == (st.SCT_COMMAND_SPECIFIC, 0x0A)
    # inactive and invalid NSIDs: the two answers again
    assert status(drv.run(drv.submit(0, 0x80, nsid=3, cdw10=4))) == st.INVALID_FIELD
    assert status(drv.run(drv.submit(0, 0x80, nsid=9, cdw10=4))) == st.INVALID_NS_OR_FORMAT


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (ControllerConfig(namespaces=(NamespaceConfig(nsid=2),)), "NSID 2 is above NN=1"),
        (ControllerConfig(nn=4, namespaces=(NamespaceConfig(nsid=2), NamespaceConfig(nsid=2))), "NSID 2 is namespace 1's"),
        (ControllerConfig(namespaces=(NamespaceConfig(size=1000),)), "size=1000 must be a multiple"),
        (ControllerConfig(namespaces=(NamespaceConfig(flbas=8),)), "flbas=8 names no LBA format"),
        (ControllerConfig(namespaces=(NamespaceConfig(flbas=64),)), "flbas=64 is out of range"),
        (ControllerConfig(namespaces=(NamespaceConfig(lba_formats=()),)), "lba_formats: 1 to 64"),
        (ControllerConfig(nn=2, namespaces=(NamespaceConfig(file="a"), NamespaceConfig(file="a"))), "is namespace 1's already"),
        (ControllerConfig(nn=40, namespaces=tuple(NamespaceConfig() for _ in range(33))), "at most 32"),
    ],
)  # fmt: skip
def test_a_namespace_that_cannot_be_is_one_sentence_of_problems(config, words):
    problems = config.problems()
    assert problems and words in problems[0] and "\n" not in problems[0]


def test_the_errors_scenario_reads_an_inactive_nsid_and_expects_invalid_field():
    m = Machine(ControllerConfig(nn=4), scenario="errors")
    m.run()
    row = next(r for r in m.scenario.results if r.case == "read with inactive NSID 2")
    assert row.ok and row.got == "invalid_field", row
    assert m.scenario.ok, m.scenario.failures()
