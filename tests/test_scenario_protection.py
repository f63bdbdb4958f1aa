"""The ``protection`` scenario: every check of its own passes, its metadata moves in DMAs
of their own, each PI failure names its field with expected and got, and the Linux
tracepoint export prints MPTR (``meta=``) and PRINFO / ILBRT (``ctrl=``, ``reftag=``)
as Linux 6.1's nvme_setup_cmd does."""

from __future__ import annotations

from test_export_tracepoint import command

from nvmescope.machine import Machine
from nvmescope.nvme.commands import pack_sqe
from nvmescope.trace.export_tracepoint import to_tracepoint_text


def run() -> Machine:
    m = Machine(scenario="protection")
    m.run()
    return m


def test_the_protection_scenario_passes_every_check_it_makes():
    m = run()
    assert m.scenario.ok, m.scenario.failures()
    cases = [row.case for row in m.scenario.results]
    for case in ("Write with a wrong guard", "Read expecting another reference tag",
                 "Read with ILBRT not the SLBA", "the tuples the device inserted"):  # fmt: skip
        assert case in cases


def test_its_metadata_moves_in_dma_events_of_its_own_and_failures_say_which_field():
    m = run()
    purposes = [e.purpose for e in m.events if e.kind in ("dma_read", "dma_write")]
    assert "read metadata" in purposes and "write metadata" in purposes
    words = {e.kind: e.detail for e in m.events if e.kind.startswith("err_e2e")}
    assert set(words) == {"err_e2e_guard", "err_e2e_ref_tag", "err_e2e_app_tag"}
    assert (
        "reference tag check failed: expected 0x0000001c, got 0x00000005"
        in words["err_e2e_ref_tag"]
    )
    assert "guard check failed: expected 0x" in words["err_e2e_guard"]


def test_tracepoint_export_prints_mptr_as_meta_and_prinfo_in_ctrl():
    # Read, PRCHK 111b (CDW12 bits 28:26), ILBRT 16, MPTR 0x10017000
    sqe = pack_sqe(0x02, 7, nsid=1, cdw10=16, cdw12=3 | 0x7 << 26, cdw14=16, mptr=0x10017000)
    line = next(iter(to_tracepoint_text(command(1, 7, sqe, 2_000_000))))
    assert line.endswith(
        "qid=1, cmdid=7, nsid=1, flags=0x0, meta=0x10017000, cmd=(nvme_cmd_read slba=16, "
        "len=3, ctrl=0x1c00, dsmgmt=0, reftag=16)"
    )
