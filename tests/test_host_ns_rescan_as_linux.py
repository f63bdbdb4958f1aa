"""The driver model answers a Namespace Attribute Changed notice as Linux 6.1 does:
nvme_handle_aen_notice queues nvme_scan_work, which reads the controller limits, the
Changed Namespace List (RAE clear), the active list and each namespace in it, and drops
the namespaces gone; the AER is sent again."""

from __future__ import annotations

from nvmescope.emulator import ControllerConfig
from nvmescope.host.driver import AER_CID
from nvmescope.machine import Machine
from nvmescope.nvme import status as st


def machine() -> Machine:
    m = Machine(ControllerConfig(ns_mgmt=True, nn=4, oaes=0x100), scenario="bringup")
    m.run()
    assert m.driver is not None and m.driver.up
    return m


def _settle(m: Machine) -> None:
    drv = m.driver
    assert drv is not None

    def wait():
        yield from drv.wait_for_scan()
        yield from drv.quiesce()

    drv.run(wait())


def test_the_rescan_reads_the_changed_list_then_the_active_list_then_the_namespace():
    m = machine()
    drv = m.driver
    c = drv.run(drv.ns_create(2048))
    assert c.ok and c.dw0 == 2
    start = len(drv.history)
    assert drv.run(drv.ns_attach(2)).ok
    _settle(m)
    after = drv.history[start:]
    names = [(c.opc, c.what) for c in after]
    logs = [i for i, (opc, what) in enumerate(names) if opc == 0x02 and "04h" in what]
    lists = [i for i, (opc, what) in enumerate(names) if opc == 0x06 and "CNS 02h" in what]
    ns2 = [i for i, c in enumerate(after) if c.opc == 0x06 and "CNS 00h" in c.what]
    assert logs and lists and ns2, names
    # nvme_scan_work: CNS 06h (limits), log 04h with RAE 0, CNS 02h, then the namespaces
    limits = [i for i, (opc, what) in enumerate(names) if opc == 0x06 and "CNS 06h" in what]
    assert limits[0] < logs[0] < lists[0] < ns2[-1]
    assert drv.changed_ns_list == [2]
    assert 2 in drv.namespaces and drv.namespaces[2].nsze == 2048
    # the AER was sent again: one outstanding
    assert drv.outstanding_aer is not None
    assert [e.dw0 for e in drv.async_events] == [0x040002]
    assert m.ctrl.state.aer_masked == set()  # the log read cleared the mask


def test_a_detach_notice_makes_the_rescan_drop_the_namespace():
    m = machine()
    drv = m.driver
    drv.run(drv.ns_create(2048))
    drv.run(drv.ns_attach(2))
    _settle(m)
    assert 2 in drv.namespaces
    assert drv.run(drv.ns_attach(2, detach=True)).ok
    _settle(m)
    assert 2 not in drv.namespaces and drv.ns_list == [1]
    assert len(drv.async_events) == 2


def test_the_notice_is_described_by_name():
    m = machine()
    drv = m.driver
    drv.run(drv.ns_create(8))
    drv.run(drv.ns_attach(2))
    _settle(m)
    text = drv.async_events[0].describe()
    assert "Notice (type 2)" in text and "Namespace Attribute Changed" in text


def test_the_driver_names_the_refusals():
    m = machine()
    drv = m.driver
    c = drv.run(drv.ns_attach(1))
    assert (c.sct, c.sc) == st.NS_ALREADY_ATTACHED
    assert c.status_name == "ns_already_attached"
    c = drv.run(drv.ns_delete(3))
    assert (c.sct, c.sc) == st.INVALID_FIELD
    # the outstanding AER (Linux's reserved tag) was not touched by either
    assert drv.outstanding_aer is not None and drv.outstanding_aer.cid == AER_CID
